"""Backends of the matrix: where a model type's classes run besides plain eager float32 on CPU.

Each backend is a *differential* check (``hftestgen.checks.matrix.backend``): the tiny model of a
class runs forward on the same tiny inputs through the backend and is compared with the plain
model (eager attention, float32, CPU, not compiled) at real positions, with the backend's
tolerance. A type's "passed" status never depends on backend cells: the matrix is reported beside
it (``coverage.json`` ``backends``).

Importable without torch: the built-in backends import torch inside ``prepare``.

The protocol (built-ins and users' plugins alike)
-------------------------------------------------
A backend is any object with

``name``: str
    its column in the matrix (lower case, ``[a-z0-9_]+``);
``prepare(model, inputs) -> callable``
    takes a private copy of the plain model (eval mode, float32, CPU) and one example of its
    inputs (keyword arguments of ``forward``); returns a callable run as ``fn(**inputs)`` whose
    result is compared with ``model(**inputs)`` (a ``ModelOutput``, dict, tuple or tensor; tensors
    are compared by path). It may raise ``NotApplicable(reason)`` (the model's design rules the
    backend out), ``MissingPackage(name)`` (an optional package is absent), or anything else (the
    cell *fails to run*, categorized by ``categories``);
``tolerance``: float
    the largest accepted ``max|backend - plain| / max(max|plain|, 1)`` per output tensor;

and optionally ``aliases`` (other names), ``scope`` (``"classes"``: every model class of the type,
the default; ``"primary"``: the type's primary class unless ``--backend-classes all``) and
``categories`` (``(category, regex)`` pairs matched against a failure's ``Type: message``).

Plugins are registered through the entry-point group ``hftestgen.backends`` (each entry point
loads a backend object, a class, or a list of them) or named on the command line with
``hftestgen run --backend-plugin MODULE`` (the module's ``BACKENDS`` list), which the generated
suite reads from ``$HFTESTGEN_BACKEND_PLUGINS``.

Which backends run: ``$HFTESTGEN_BACKENDS`` (comma-separated names or aliases; set by ``hftestgen
run --backends``), else ``[tool.hftestgen] backends``; none by default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from .tolerances import BACKEND as _TOL

BACKENDS_ENV = "HFTESTGEN_BACKENDS"
PLUGINS_ENV = "HFTESTGEN_BACKEND_PLUGINS"
CLASSES_ENV = "HFTESTGEN_BACKEND_CLASSES"  # "all": every class for primary-scoped backends
MATRIX_ONLY_ENV = "HFTESTGEN_MATRIX_ONLY"  # "1": run the backend cells only (run --matrix-only)
ENTRY_POINT_GROUP = "hftestgen.backends"
_NAME = re.compile(r"^[a-z0-9_]+$")


class NotApplicable(Exception):
    """Raised by a backend: its design rules the model out (the message says why)."""


class MissingPackage(Exception):
    """Raised by a backend: an optional package it needs is not installed (the message names it)."""


# Categories of a cell that fails to run, shared by every backend; a backend's own come first.
COMMON_CATEGORIES: tuple[tuple[str, str], ...] = (
    (
        "dtype-unsupported-op",
        r"not implemented for '(?:Half|BFloat16)'|Unsupported dtype (?:Half|BFloat16)",
    ),
    (
        "dtype-mismatch",
        r"expected (?:scalar type|m1 and m2 to have the same dtype|both|mat1 and mat2)|"
        r"must have the same dtype|dtype mismatch|Input type \(.*\) and (?:weight|bias) type|"
        r"expected .* to have the same dtype|found dtype|mixed dtype",
    ),
    (
        "data-dependent",
        r"data.dependent|GuardOnDataDependentSymNode|Could not guard on|"
        r"Could not extract specialized integer|unbacked|data is not allocated yet",
    ),
    ("unsupported-op", r"Unsupported|not supported|NotImplementedError|has no attribute"),
    ("shape-error", r"size of tensor|shape|dimension|reshape|view size|should be of size"),
    ("compiler-error", r"CppCompileError|InductorError|BackendCompilerFailed"),
    ("out-of-memory", r"out of memory|OutOfMemory"),
)


@dataclass(frozen=True)
class Backend:
    """A built-in backend (users' plugins need only the protocol in the module docstring)."""

    name: str
    kind: str
    """attention | dtype | export | compile | onnx | device | plugin"""
    tolerance: float
    """Accepted ``max|backend - plain| / max(max|plain|, 1)`` per output tensor, from measured
    noise (``hftestgen.checks.tolerances``, "backends")."""
    prepare: Callable[[Any, dict], Callable[..., Any]]
    aliases: tuple[str, ...] = ()
    scope: str = "classes"
    categories: tuple[tuple[str, str], ...] = ()
    doc: str = ""
    requires: tuple[str, ...] = field(default_factory=tuple)
    """Optional packages (import names) the backend needs; absent ones skip its cells."""


# ---------------------------------------------------------------------------------------------
# built-in backends (prepare functions import torch)


def _map_tensors(v: Any, fn: Callable[[Any], Any]) -> Any:
    """``v`` with ``fn`` applied to every tensor inside it (lists, tuples, dicts walked)."""
    import torch

    if isinstance(v, torch.Tensor):
        return fn(v)
    if isinstance(v, (list, tuple)):
        return type(v)(_map_tensors(x, fn) for x in v)
    if isinstance(v, dict):
        return {k: _map_tensors(x, fn) for k, x in v.items()}
    return v


def _float_cast(inputs: dict, dtype: Any) -> dict:
    """Floating tensors of ``inputs`` in ``dtype``; ids and masks untouched."""
    return _map_tensors(inputs, lambda t: t.to(dtype) if t.is_floating_point() else t)


def _attention(impl: str, op: str | None) -> Callable[[Any, dict], Callable[..., Any]]:
    """Backend ``impl`` of ``attn_implementation``: the library's own switch
    (``set_attn_implementation``, which refuses a class that does not declare support), and the
    model's weights. With ``op``, a run that never called ``torch.nn.functional.<op>`` is not
    applicable (the class accepts the switch but its attention does not use it), so a pass
    always means the implementation ran."""

    def prepare(model: Any, inputs: dict) -> Callable[..., Any]:
        setter = getattr(model, "set_attn_implementation", None)
        try:
            if setter is not None:
                setter(impl)
            if getattr(model.config, "_attn_implementation", None) != impl:
                # the class cannot switch a built model (its attention modules are chosen when
                # it is built): build it again with the implementation, with the same weights
                model = _rebuilt(model, impl)
        except (ValueError, ImportError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            if "does not support" in first or "not supported" in first:
                raise NotApplicable(
                    f"{type(model).__name__} does not declare {impl} support "
                    f"(_supports_{'sdpa' if impl == 'sdpa' else 'flex_attn'} = False): "
                    f"{first[:160]}"
                ) from None
            raise
        got = getattr(model.config, "_attn_implementation", None)
        if got != impl:
            raise NotApplicable(
                f"{type(model).__name__} keeps attn_implementation={got!r} when asked for {impl!r}"
            )
        if op is None:
            return model

        import torch
        from torch.overrides import TorchFunctionMode

        target = getattr(torch.nn.functional, op)

        class Count(TorchFunctionMode):
            calls = 0

            def __torch_function__(self, func, types, args=(), kwargs=None):
                if func is target:
                    Count.calls += 1
                return func(*args, **(kwargs or {}))

        def fn(**kw: Any) -> Any:
            Count.calls = 0
            with Count():
                out = model(**kw)
            if Count.calls == 0:
                raise NotApplicable(
                    f"{type(model).__name__} accepts attn_implementation={impl!r} but its "
                    f"forward never calls torch.nn.functional.{op} (its attention modules do "
                    "not dispatch through the attention interface)"
                )
            return out

        return fn

    return prepare


def _rebuilt(model: Any, impl: str) -> Any:
    """``type(model)`` built again from its config with ``attn_implementation=impl``, holding
    ``model``'s weights (every key: a key missing or left over is an error, not a pass)."""
    import copy

    config = copy.deepcopy(model.config)
    fresh = type(model)._from_config(config, attn_implementation=impl)
    result = fresh.load_state_dict(model.state_dict(), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(
            f"rebuilding {type(model).__name__} with attn_implementation={impl!r} changed its "
            f"parameters: missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]}"
        )
    return fresh.eval()


def _dtype(name: str) -> Callable[[Any, dict], Callable[..., Any]]:
    def prepare(model: Any, inputs: dict) -> Callable[..., Any]:
        import torch

        dtype = getattr(torch, name)
        model = model.to(dtype)

        def fn(**kw: Any) -> Any:
            return model(**_float_cast(kw, dtype))

        return fn

    return prepare


def _no_cache(model: Any, kw: dict) -> dict:
    """``use_cache=False`` where ``forward`` takes it (the matrix also turns it off in the
    model's configs): a cache object is state for the next call, not an output an exported
    graph can return."""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return kw
    return dict(kw, use_cache=False) if "use_cache" in params and "use_cache" not in kw else kw


def _export(model: Any, inputs: dict) -> Callable[..., Any]:
    import torch

    kw = _no_cache(model, inputs)
    program = torch.export.export(model, args=(), kwargs=kw, strict=False)
    module = program.module()

    def fn(**call: Any) -> Any:
        return module(**_no_cache(model, call))

    return fn


def _compile(model: Any, inputs: dict) -> Callable[..., Any]:
    """``torch.compile`` (inductor) from a clean dynamo state, so the graphs and graph breaks
    counted are this model's; a forward from which dynamo captured no graph at all (a
    ``torch._dynamo.disable``-d forward, every frame skipped) ran eagerly: not applicable, never
    a pass."""
    import torch

    torch._dynamo.reset()
    compiled = torch.compile(model, backend="inductor")

    def fn(**kw: Any) -> Any:
        from torch._dynamo.utils import counters

        counters.clear()
        out = compiled(**kw)
        fn.graph_breaks = sum(counters["graph_break"].values())  # type: ignore[attr-defined]
        if not counters["stats"]["unique_graphs"]:
            raise NotApplicable(
                f"torch.compile captured no graph of {type(model).__name__}'s forward (it ran "
                "eagerly: every frame skipped or disabled)"
            )
        return out

    return fn


def _onnx(model: Any, inputs: dict) -> Callable[..., Any]:
    for pkg in ("onnxscript", "onnxruntime", "onnx"):
        try:
            __import__(pkg)
        except ImportError:
            raise MissingPackage(pkg) from None
    import torch

    kw = _no_cache(model, inputs)
    program = torch.onnx.export(model, args=(), kwargs=kw, dynamo=True, verbose=False)

    def fn(**call: Any) -> Any:
        # the program's outputs are the flattened tensor leaves of forward's output, in order
        return tuple(program(**_no_cache(model, call)))

    fn.flat = True  # type: ignore[attr-defined]
    return fn


def _device(name: str) -> Callable[[Any, dict], Callable[..., Any]]:
    def prepare(model: Any, inputs: dict) -> Callable[..., Any]:
        import torch

        if name == "cuda":
            ok = torch.cuda.is_available()
        else:
            ok = bool(getattr(torch.backends, name, None)) and torch.backends.mps.is_available()
        if not ok:
            raise NotApplicable(f"no-device: {name} not available")
        model = model.to(name)

        def fn(**kw: Any) -> Any:
            tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
            try:  # float32 matmuls, not TF32: the comparison is with float32 on the CPU
                return model(**_map_tensors(kw, lambda t: t.to(name)))
            finally:
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32

        return fn

    return prepare


_EXPORT_CATEGORIES = (
    ("unsupported-output", r"pytree|not a supported output|unsupported output|Cache"),
    ("dynamic-control-flow", r"control flow|cond\b|Dynamic control"),
)

_ONNX_CATEGORIES = (
    ("onnx-conversion", r"ConversionError|Failed to convert the exported program"),
    ("onnxruntime", r"onnxruntime|ONNXRuntimeError|InferenceSession"),
    *_EXPORT_CATEGORIES,
)

BUILTIN: tuple[Backend, ...] = (
    Backend(
        "sdpa",
        "attention",
        _TOL["sdpa"],
        _attention("sdpa", "scaled_dot_product_attention"),
        doc="attn_implementation='sdpa' (torch.nn.functional.scaled_dot_product_attention)",
    ),
    Backend(
        "flex_attention",
        "attention",
        _TOL["flex_attention"],
        _attention("flex_attention", None),
        aliases=("flex",),
        doc="attn_implementation='flex_attention' (compiles on first use; no backward on CPU)",
    ),
    Backend(
        "bfloat16",
        "dtype",
        _TOL["bfloat16"],
        _dtype("bfloat16"),
        aliases=("bf16",),
        doc="weights and floating inputs in bfloat16",
    ),
    Backend(
        "float16",
        "dtype",
        _TOL["float16"],
        _dtype("float16"),
        aliases=("fp16",),
        doc="weights and floating inputs in float16",
    ),
    Backend(
        "export",
        "export",
        _TOL["export"],
        _export,
        scope="primary",
        categories=_EXPORT_CATEGORIES,
        doc="torch.export.export (non-strict, use_cache=False), the exported program's module",
    ),
    Backend(
        "compile",
        "compile",
        _TOL["compile"],
        _compile,
        scope="primary",
        doc="torch.compile (inductor); graph breaks counted",
    ),
    Backend(
        "onnx",
        "onnx",
        _TOL["onnx"],
        _onnx,
        scope="primary",
        categories=_ONNX_CATEGORIES,
        requires=("onnxscript", "onnxruntime"),
        doc="torch.onnx.export (dynamo) run by onnxruntime (extra: hftestgen[onnx])",
    ),
    Backend("cuda", "device", _TOL["cuda"], _device("cuda"), doc="forward on CUDA (TF32 off)"),
    Backend("mps", "device", _TOL["mps"], _device("mps"), doc="forward on Apple MPS"),
)


# ---------------------------------------------------------------------------------------------
# the registry: built-ins, entry points, plugin modules


def _as_backends(obj: Any, where: str) -> list[Any]:
    if isinstance(obj, (list, tuple)):
        return [b for o in obj for b in _as_backends(o, where)]
    if isinstance(obj, type):
        obj = obj()
    missing = [a for a in ("name", "prepare", "tolerance") if not hasattr(obj, a)]
    if missing:
        raise UsageError(
            f"backend plugin {where}: {obj!r} lacks {', '.join(missing)} (a backend needs name, "
            "prepare(model, inputs) and tolerance; see hftestgen.checks.backends)"
        )
    if not isinstance(obj.name, str) or not _NAME.match(obj.name):
        raise UsageError(f"backend plugin {where}: name {obj.name!r} is not [a-z0-9_]+")
    return [obj]


def _plugin_modules() -> list[str]:
    return [m for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]


_cache: dict[tuple[str, ...], dict[str, Any]] = {}


def registry() -> dict[str, Any]:
    """Every known backend by canonical name: built-ins, then entry points of
    ``hftestgen.backends``, then the modules of ``$HFTESTGEN_BACKEND_PLUGINS``."""
    key = tuple(_plugin_modules())
    if key in _cache:
        return _cache[key]
    found: dict[str, Any] = {b.name: b for b in BUILTIN}
    from importlib import import_module
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        for b in _as_backends(ep.load(), f"entry point {ep.name!r}"):
            found.setdefault(b.name, b)
    for mod_name in key:
        mod_name = mod_name.strip()
        try:
            mod = import_module(mod_name)
        except ImportError as e:
            raise UsageError(f"backend plugin module {mod_name!r} cannot be imported: {e}") from e
        objs = getattr(mod, "BACKENDS", None)
        if objs is None:
            raise UsageError(
                f"backend plugin module {mod_name!r} defines no BACKENDS list (see "
                "hftestgen.checks.backends)"
            )
        for b in _as_backends(objs, f"module {mod_name!r}"):
            found[b.name] = b
    _cache[key] = found
    return found


def resolve(names: str | list[str] | tuple[str, ...]) -> list[str]:
    """Canonical names for a comma-separated list (or list) of names and aliases, in order,
    without repeats; an unknown name is a ``UsageError`` listing the known ones."""
    items = names.split(",") if isinstance(names, str) else list(names)
    reg = registry()
    alias = {a: b.name for b in reg.values() for a in getattr(b, "aliases", ())}
    out: list[str] = []
    for raw in items:
        n = raw.strip().lower()
        if not n:
            continue
        canon = n if n in reg else alias.get(n)
        if canon is None:
            known = ", ".join(sorted(reg))
            raise UsageError(f"unknown backend {raw.strip()!r}; known backends: {known}")
        if canon not in out:
            out.append(canon)
    return out


def selected() -> list[str]:
    """The backends this run selects (``$HFTESTGEN_BACKENDS``), canonical names."""
    raw = os.environ.get(BACKENDS_ENV, "")
    return resolve(raw) if raw.strip() else []


def get(name: str) -> Any:
    return registry()[name]


def params(case: Any) -> list[tuple[str, str]]:
    """(backend, model class) pairs of ``case`` for the selected backends: every class, or the
    primary class for a primary-scoped backend (unless ``$HFTESTGEN_BACKEND_CLASSES=all``)."""
    pairs: list[tuple[str, str]] = []
    all_classes = os.environ.get(CLASSES_ENV, "").strip().lower() == "all"
    for name in selected():
        b = get(name)
        primary = getattr(b, "scope", "classes") == "primary" and not all_classes
        for cls in [case.primary_class] if primary else case.class_names:
            pairs.append((name, cls))
    return pairs


def categorize(backend: Any, exc_name: str, message: str) -> str:
    """The failure category of a cell that fails to run."""
    text = f"{exc_name}: {message}"
    for cat, rx in (*getattr(backend, "categories", ()), *COMMON_CATEGORIES):
        if re.search(rx, text):
            return cat
    return "other"
