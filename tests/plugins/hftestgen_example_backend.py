"""An example backend plugin (the protocol of ``hftestgen.checks.backends``): a "TorchScript"
backend that traces the model with ``torch.jit.trace`` and runs the traced module, the way an
accelerator's compiler plugin would wrap its own compile step.

Use: ``hftestgen run bert --backend-plugin hftestgen_example_backend --backends sdpa,jit_trace``.
"""

from __future__ import annotations

from typing import Any


class JitTrace:
    name = "jit_trace"
    tolerance = 1e-4
    scope = "primary"
    categories = (("tracer-input", r"Type '.*' cannot be traced|not supported as input"),)

    def prepare(self, model: Any, inputs: dict) -> Any:
        import torch

        from hftestgen.checks.backends import NotApplicable

        names = [k for k, v in inputs.items() if isinstance(v, torch.Tensor)]
        if len(names) != len(inputs):
            raise NotApplicable("inputs other than tensors cannot be traced positionally")
        model.config.return_dict = False
        wrapped = _Positional(model, names)
        traced = torch.jit.trace(wrapped, tuple(inputs[k] for k in names), strict=False)

        def run(**kw: Any) -> Any:
            return traced(*(kw[k] for k in names))

        run.flat = True
        return run


class _Positional:
    """``model(**dict(zip(names, args)))`` as a module ``torch.jit.trace`` can take."""

    def __new__(cls, model: Any, names: list[str]) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *args: Any) -> Any:
                return self.model(**dict(zip(names, args, strict=True)))

        return Wrapper()


BACKENDS = [JitTrace()]
