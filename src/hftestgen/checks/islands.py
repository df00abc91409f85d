"""Float32 islands of a float64 copy: ``promote_float32``.

A float64 copy of a model (``_support.precise``) still computes in float32 wherever its code
casts explicitly: ``x.to(torch.float32)`` / ``x.float()`` (RMSNorm, the chunked scans of
gated-delta-net / linear-attention layers: Qwen3-Next, Qwen3.5, Lara-Mini), ``dtype=torch.float32``
(softmax, factory functions) and factory functions of the default dtype. Those islands round to
float32 (~6e-8 relative per op), and a comparison whose two sides change the shapes an island
sees (padding lengthens and shifts a chunked scan's within-chunk matrices) differs by that rounding:
measured 1.2e-6 .. 3.7e-6 abs (<= 7e-7 relative) on the logits of Qwen3-Next / Qwen3.5 /
MiniCPM-V 4.6 with left padding, 4e-16 once the casts are promoted (``PADDING64`` is 1e-6).

Rule ``float32-islands``: a float64 comparison that fails is re-run with every float32 cast
promoted to float64 (this module's ``promote_float32``); its verdict is the re-run's. A leak is
a leak in any precision, so what remains is the model's own; a difference that vanishes was
rounding in the model's float32 islands. No tolerance is loosened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

#: the note added to a comparison's name when it ran with float32 islands promoted
NOTE = "float32 casts promoted to float64"


def _promote(x: Any) -> Any:
    return torch.float64 if x is torch.float32 else x


class _PromoteFloat32(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.Tensor.float:
            func = torch.Tensor.double
        args = tuple(_promote(a) for a in args)
        if kwargs.get("dtype") is torch.float32:
            kwargs = dict(kwargs, dtype=torch.float64)
        return func(*args, **kwargs)


@contextlib.contextmanager
def promote_float32() -> Iterator[None]:
    """Within: float32 casts (``.to(torch.float32)``, ``.float()``, ``dtype=torch.float32``)
    and default-dtype factory functions give float64."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with _PromoteFloat32():
            yield
    finally:
        torch.set_default_dtype(default)
