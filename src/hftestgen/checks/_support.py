"""Shared machinery of the checks: the per-process model cache, seeding, running, comparing.

Imports torch; only imported when a check actually runs.
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from . import tolerances as tol
from .case import Case
from .skips import not_applicable, unsupported

# ----------------------------------------------------------------------------------------
# building, once per (model_type, class, tiny overrides) per process

CACHE_SIZE = 16
_CACHE: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

MISSING_PREFIX = "missing package: "

# Tiny models gain nothing from intra-op parallelism, and on a busy machine thread hand-offs cost
# 100x the arithmetic (a tiny GPT-2 forward: ~1 ms on one thread, 150-500 ms on two contended
# ones). Override with HFTESTGEN_TORCH_THREADS.
torch.set_num_threads(int(os.environ.get("HFTESTGEN_TORCH_THREADS", "1")))

# Nothing is downloaded, so Transformers' download/loading progress bars are only noise (and
# cost time per save/load round trip).
try:
    from transformers.utils import logging as _hf_logging

    _hf_logging.disable_progress_bar()
except ImportError:  # pragma: no cover - transformers absent: checks skip before this matters
    pass

# Save/load round trips go to memory-backed storage when the system has it.
SCRATCH_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def clear_cache() -> None:
    """Forget every built model (tests that monkeypatch model code call this)."""
    _CACHE.clear()
    _COPIES.clear()


def seed_all(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (the tiny engine's seeding, shared)."""
    from hftestgen.tiny.engine import seed_all as _seed

    _seed(seed)


def _raise_for(exc: BaseException, case: Case, class_name: str) -> None:
    from hftestgen.tiny import TinyError

    where = f"{case.model_type}/{class_name}"
    if isinstance(exc, TinyError):
        if exc.category == "missing-package":
            pytest.skip(MISSING_PREFIX + (exc.package or exc.message))
        if exc.category == "unsupported":
            # Known not exercisable by these checks offline (no forward(), a tracking session
            # object, a retrieval index, ...): a named skip, never a pass.
            pytest.skip(f"unsupported: {where}: {exc.message}")
        pytest.fail(f"cannot build tiny {where} [{exc.category}]: {exc.message}", pytrace=False)
    skip_if_missing_package(exc)
    msg = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
    pytest.fail(f"cannot build tiny {where} [unexpected]: {msg}", pytrace=False)


def skip_if_missing_package(exc: BaseException) -> None:
    """Skip naming the package when ``exc`` says an optional package is absent; else return."""
    try:
        from hftestgen.tiny.errors import missing_package

        pkg = missing_package(exc) if isinstance(exc, ImportError) else None
    except ImportError:  # pragma: no cover
        pkg = None
    if pkg:  # "X requires the torchaudio library but it was not found" and the like
        pytest.skip(MISSING_PREFIX + pkg)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        from importlib.util import find_spec

        top = exc.name.split(".")[0]
        try:
            missing = find_spec(top) is None
        except (ImportError, ValueError):
            missing = True
        if missing:
            pytest.skip(MISSING_PREFIX + top)


def settle_heap() -> None:
    """Rule *one heap walk per model type*: collect the cyclic garbage of the model type just
    left, then freeze what survives (``gc.freeze``) out of later collections.

    A worker accumulates millions of long-lived objects (torch, Transformers and each type's
    modeling module as it is first imported), and every automatic full collection walks them
    all: ~0.15 s each, ~20 of them in 1,000 tests, ~12% of a run's CPU time, spent finding
    nothing. Frozen, they are left alone; each collection walks only the objects made since the
    last model type. Called before the first model of a type is built, where the previous
    type's models were just released (the cache cleared), so a model in a reference cycle is
    collected here, not frozen: the frozen objects are the imported code and the run's own
    bookkeeping, which live to the end anyway.
    """
    gc.collect()
    gc.freeze()


def get_built(case: Case, class_name: str | None) -> Any:
    """The tiny model of ``class_name``, built on first use and cached (LRU) in this process."""
    if case.skip:
        unsupported(str(case.skip))
    if class_name is None:  # only reachable through an empty parametrization
        not_applicable(f"{case.model_type}: no model class to check")
    data = case.data_for(class_name)
    from .pretrained import enabled as _pretrained

    pretrained = _pretrained()  # run --pretrained: the real checkpoint (checks/pretrained.py)
    key = (
        case.model_type,
        class_name,
        json.dumps([case.tiny, data, pretrained], sort_keys=True, default=str),
    )
    if _CACHE and next(iter(_CACHE))[0] != case.model_type:
        # Generated files run one model type after another: models of the previous type will
        # not be asked for again, so free them now instead of letting a worker's memory grow.
        _CACHE.clear()
    if not _CACHE:  # the first model of a type (or of the process): the heap has just settled
        settle_heap()
    if key in _CACHE:
        _CACHE.move_to_end(key)
    else:
        from hftestgen import tiny

        try:
            if pretrained:
                from .pretrained import load

                _CACHE[key] = load(case, class_name)
            else:
                _CACHE[key] = tiny.build(
                    case.model_type, class_name, tiny=dict(case.tiny) or None, seed=0, data=data
                )
        except Exception as e:  # cached too: a failing build fails every check the same way
            _CACHE[key] = e
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    built = _CACHE[key]
    if isinstance(built, BaseException):
        _raise_for(built, case, class_name)
    return built


def get_forward_model(case: Case, class_name: str | None) -> Any:
    """``get_built`` for checks that call ``forward``: skips classes that define none."""
    built = get_built(case, class_name)
    if getattr(type(built.model), "forward", None) is torch.nn.Module.forward:
        not_applicable(f"{class_name} defines no forward() (nn.Module's placeholder)")
    return built


def make_inputs(case: Case, built: Any, *, batch_size: int = tol.BATCH_SIZE, labels: bool = False):
    from hftestgen.tiny import TinyError

    try:
        return built.inputs(batch_size=batch_size, seed=0, labels=labels)
    except Exception as e:
        _raise_for(
            e if isinstance(e, TinyError) else TinyError("input-synthesis", _short(e)),
            case,
            built_class(built),
        )


def built_class(built: Any) -> str:
    return getattr(built, "class_name", None) or type(built.model).__name__


def _short(e: BaseException, limit: int = 400) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:limit]


# ----------------------------------------------------------------------------------------
# running


def forward_params(model: Any) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):  # pragma: no cover
        return set()


def accepts(model: Any, name: str) -> bool:
    return name in forward_params(model)


def run(model: Any, inputs: dict[str, Any], *, grad: bool = False, seed: int | None = 0) -> Any:
    """One forward pass. ``seed=None`` keeps the RNG state (determinism check)."""
    if seed is not None:
        seed_all(seed)
    with torch.set_grad_enabled(grad):
        return model(**inputs)


# ----------------------------------------------------------------------------------------
# outputs


def tensors(out: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a model output, by path (``logits``, ``hidden_states.0``, ...).

    ModelOutput / dict fields, tuples and lists are walked; ``None`` and other objects (caches)
    are left out.
    """
    found: dict[str, torch.Tensor] = {}
    for path, t in _walk(out, prefix):
        found[path] = t
    return found


def _walk(obj: Any, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix or "output", obj
    elif isinstance(obj, dict):  # ModelOutput is an OrderedDict of its non-None fields
        for k, v in obj.items():
            yield from _walk(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (tuple, list)):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{prefix}.{i}" if prefix else str(i))


def floating(ts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in ts.items() if v.is_floating_point() or v.is_complex()}


def nonfinite(ts: dict[str, torch.Tensor]) -> list[str]:
    bad = []
    for k, v in floating(ts).items():
        if not torch.isfinite(v).all():
            n = int((~torch.isfinite(v)).sum())
            bad.append(f"{k} ({n} of {v.numel()} values not finite)")
    return bad


def describe(ts: dict[str, torch.Tensor], limit: int = 12) -> str:
    items = [f"{k}{tuple(v.shape)}" for k, v in ts.items()]
    more = f", ... {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def diff(a: torch.Tensor, b: torch.Tensor) -> str:
    if a.shape != b.shape:
        return f"shape {tuple(a.shape)} vs {tuple(b.shape)}"
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} vs {b.dtype}"
    if not (a.is_floating_point() or a.is_complex()):
        n = int((a != b).sum())
        return f"{n} of {a.numel()} values differ"
    d = (a.double() - b.double()).abs()
    d = torch.nan_to_num(d, nan=float("inf"))
    return f"max abs diff {float(d.max()):.3g}"


def close(a: torch.Tensor, b: torch.Tensor, t: tol.Tol) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if t.atol == 0 and t.rtol == 0 or not (a.is_floating_point() or a.is_complex()):
        return torch.equal(a, b) or (
            (a.is_floating_point() or a.is_complex())
            and bool(torch.equal(a.isnan(), b.isnan()))
            and torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))
        )
    return torch.allclose(a, b, atol=t.atol, rtol=t.rtol, equal_nan=True)


def compare_all(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], t: tol.Tol) -> list[str]:
    """Paths whose tensors differ (beyond ``t``) or exist in one output only."""
    bad = []
    for k in a.keys() | b.keys():
        if k not in a or k not in b:
            bad.append(f"{k} present in one output only")
        elif not close(a[k], b[k], t):
            bad.append(f"{k}: {diff(a[k], b[k])}")
    return sorted(bad)


def fail(msg: str) -> None:
    pytest.fail(msg, pytrace=False)


# --------------------------------------------------------------------------------------
# comparisons


#: where ``Comparison`` objects report themselves (``scripts/measure_noise.py``); None: nowhere
RECORDER: list[Any] | None = None
#: differences any ``Comparison`` has recorded in this process (``precise`` reads it to see
#: whether a float64 run found one)
DIFFERENCES = 0


def _magnitude(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(max |a - b|, that relative to the largest finite magnitude of a and b)."""
    x, y = a.detach().double(), b.detach().double()
    d = torch.nan_to_num((x - y).abs(), nan=float("inf"))
    worst = float(d.max()) if d.numel() else 0.0
    scale = torch.cat([x.abs().flatten(), y.abs().flatten()])
    scale = scale[torch.isfinite(scale)]
    top = float(scale.max()) if scale.numel() else 0.0
    return worst, (worst / top if top > 0 else (0.0 if worst == 0 else float("inf")))


class Comparison:
    """What one check compared and what differed, and its verdict.

    Every comparison check routes its comparisons through one: ``close`` (floating tensors
    within a tolerance; integer and boolean tensors always exactly), ``equal`` (exactly), or
    ``outputs`` (two dicts of tensors, a path present on one side only counts as a difference).
    ``verdict`` fails listing the differences, and fails when nothing was compared at all: a
    check cannot pass without having compared a value. A check that decides "nothing to
    compare" is a skip (not covered) says so itself before asking for the verdict.
    ``precision`` (``"float64"`` / ``"float32"``, with the float64 failure in its ``reason``
    where ``precise`` fell back) is quoted in the failure message.
    """

    def __init__(self, check: str, precision: str = "float32") -> None:
        self.check = check
        self.precision = precision
        self.compared: list[str] = []
        self.bad: list[str] = []
        #: (name, max abs diff, max abs diff relative to the largest magnitude, tolerance)
        self.stats: list[tuple[str, float, float, tol.Tol]] = []
        if RECORDER is not None:
            RECORDER.append(self)

    def __bool__(self) -> bool:  # "anything compared?"
        return bool(self.compared)

    def close(self, name: str, a: torch.Tensor, b: torch.Tensor, t: tol.Tol) -> bool:
        """``a`` and ``b`` within ``t`` (exactly for non-floating tensors); records both."""
        self.compared.append(name)
        ok = close(a, b, t)
        if (RECORDER is not None or not ok) and a.shape == b.shape:
            if a.is_floating_point() or a.is_complex():
                worst, rel = _magnitude(a, b)
                self.stats.append((name, worst, rel, t))
        if not ok:
            self._bad(f"{name}: {diff(a, b)}")
        return ok

    def equal(self, name: str, a: torch.Tensor, b: torch.Tensor) -> bool:
        """``a`` and ``b`` identical (shape, dtype, every value; NaN where NaN)."""
        return self.close(name, a, b, tol.EXACT)

    def differs(self, name: str, a: torch.Tensor, b: torch.Tensor, t: tol.Tol) -> bool:
        """An effect that must be *larger* than ``t`` (position sensitivity): records the
        comparison, never a difference; returns whether ``a`` and ``b`` differ beyond ``t``."""
        self.compared.append(name)
        if RECORDER is not None and a.shape == b.shape and a.is_floating_point():
            worst, rel = _magnitude(a, b)
            self.stats.append((name, worst, rel, t))
        return not close(a, b, t)

    def outputs(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], t: tol.Tol) -> bool:
        """Every path of two flattened outputs (``tensors``): within ``t``, present in both.
        True when none differed."""
        bad = len(self.bad)
        for k in sorted(a.keys() | b.keys()):
            if k not in a or k not in b:
                self.compared.append(k)
                self._bad(f"{k} present in one output only")
            else:
                self.close(k, a[k], b[k], t)
        return len(self.bad) == bad

    def flag(self, problem: str) -> None:
        """A difference the check found by its own rule."""
        self._bad(problem)

    def _bad(self, problem: str) -> None:
        global DIFFERENCES
        DIFFERENCES += 1
        self.bad.append(problem)

    def verdict(self, failure: str, limit: int = 6) -> None:
        """Fail with ``failure`` and the differences; fail when nothing was compared."""
        if not self.compared:
            fail(
                f"{failure}: nothing was compared ({self.check}, {precision_note(self.precision)})"
                ": a check that compares no value cannot pass"
            )
        if self.bad:
            fail(f"{failure}: {'; '.join(self.bad[:limit])}")


# --------------------------------------------------------------------------------------
# float64 copies


class Precision(str):
    """``"float64"`` or ``"float32"``; ``reason`` says why a check fell back to float32."""

    reason: str = ""

    def __new__(cls, name: str, reason: str = "") -> Precision:
        self = super().__new__(cls, name)
        self.reason = reason
        return self


def precision_note(precision: str) -> str:
    """``float64``, or ``float32 (float64 copy unusable: <why>)``."""
    why = getattr(precision, "reason", "")
    return f"{precision} (float64 copy unusable: {why})" if why else str(precision)


class Float64Unusable(Exception):
    """The float64 copy computes NaNs its float32 original does not (a constant such as
    ``finfo(float32).min`` that overflows once mixed with float64): use float32."""


def finite(ts: dict[str, torch.Tensor], precision: str) -> dict[str, torch.Tensor]:
    """The outputs without NaNs (infinities, e.g. logits masked to -inf, compare exactly). A NaN
    in float64 means the float64 copy is unusable (``Float64Unusable``); in float32 the output is
    left out (the forward check reports it), never compared as equal."""
    nan = [
        k for k, v in ts.items() if (v.is_floating_point() or v.is_complex()) and v.isnan().any()
    ]
    if nan and precision == "float64":
        raise Float64Unusable("NaN in " + ", ".join(nan[:4]))
    return {k: v for k, v in ts.items() if k not in nan}


#: ``precise`` runs only in this precision when set ("float32": the measurement of the fallback)
FORCE_PRECISION: str | None = None

_LOG = logging.getLogger("hftestgen.checks")
_COPIES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def cast_floats(v: Any, dtype: torch.dtype) -> Any:
    """Floating tensors of an input (also inside plain dicts, lists, tuples) cast to ``dtype``."""
    if isinstance(v, torch.Tensor):
        return v.to(dtype) if v.is_floating_point() else v
    if type(v) is dict:
        return {k: cast_floats(x, dtype) for k, x in v.items()}
    if type(v) in (list, tuple):
        return type(v)(cast_floats(x, dtype) for x in v)
    return v


def _experts_not_eager(model: Any) -> bool:
    """Whether ``model`` or any sub-model (a composite model's text model) runs its MoE experts
    on a kernel other than the eager loop."""
    for m in model.modules() if isinstance(model, torch.nn.Module) else (model,):
        impl = getattr(getattr(m, "config", None), "_experts_implementation", None)
        if impl not in (None, "eager"):
            return True
    return False


def to_float64(model: Any) -> Any:
    """``model`` itself converted to float64 in place (MoE experts on their eager loop, also in
    sub-models: torch's grouped_mm has no float64 kernel; the eager loop computes the same
    routing and sums)."""
    model.double()
    if _experts_not_eager(model):
        try:
            model.set_experts_implementation("eager")
        except Exception:
            pass
    return model


def _to64(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.double() if v.dtype == torch.float32 else v
    if v is torch.float32:
        return torch.float64
    if type(v) in (list, tuple):
        return type(v)(_to64(x) for x in v)
    if type(v) is dict:
        return {k: _to64(x) for k, x in v.items()}
    return v


class Float64Mode(torch.overrides.TorchFunctionMode):
    """Rule *float32 inside a float64 run*: while active, every float32 tensor a torch function
    meets or makes becomes float64 and a ``dtype=torch.float32`` argument means float64. Models
    that create float32 tensors themselves (``torch.arange(..., dtype=torch.float32)``,
    ``x.float()``, a softmax in float32) then run in float64 throughout instead of failing on
    mixed dtypes (``mat1 and mat2 must have the same dtype``) or mixing float32 rounding into
    the float64 result."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = {k: v if k == "out" else _to64(v) for k, v in (kwargs or {}).items()}
        if args and _writes_first_argument(func):
            # an in-place op (x.add_(), x[i] = v) writes into its first argument: keep that
            # tensor itself (a float64 copy would take the write and drop it), and its result
            return func(args[0], *_to64(args[1:]), **kwargs)
        out = func(*_to64(args), **kwargs)
        if isinstance(out, torch.Tensor) and out.dtype == torch.float32:
            return out.double()
        return out


def _writes_first_argument(func: Any) -> bool:
    name = getattr(func, "__name__", "")
    if name in ("__setitem__",) or (name.startswith("__i") and name.endswith("__")):
        return True
    return name.endswith("_") and not name.endswith("__")


def float64_mode() -> Float64Mode:
    """The context manager of the *float32 inside a float64 run* rule (``Float64Mode``)."""
    return Float64Mode()


def float64_copy(model: Any) -> Any:
    """A float64 copy of ``model``, made once per model object (kept while the model lives:
    the checks of one class share it, as they share the float32 model), or the exception that
    made it impossible."""
    try:
        return _COPIES[model]
    except (KeyError, TypeError):
        pass
    try:
        m64 = to_float64(copy.deepcopy(model))
    except Exception as e:
        m64 = e
    try:
        _COPIES[model] = m64
    except TypeError:  # pragma: no cover - not weak-referenceable
        pass
    return m64


def _float64_run(m64: Any, body: Callable[[Any, Callable[[dict], dict], str], Any]) -> Any:
    """``body`` on the float64 copy: first as the model runs; where that raises or finds a
    difference (a comparison's, or the check's own failure), again under ``Float64Mode`` (rule
    *float32 inside a float64 run*), whose result decides. The promoted run costs ~12% more
    time per forward (Python per torch call), so it is paid only where it can change the
    verdict: a run that passes as it is would pass promoted too (promotion only removes float32
    rounding and dtype mismatches)."""
    import pytest

    cast, precision = (lambda x: cast_floats(x, torch.float64)), Precision("float64")
    before = DIFFERENCES
    try:
        result = body(m64, cast, precision)
    except (Exception, pytest.fail.Exception):
        pass
    else:
        if DIFFERENCES == before:
            return result
    with float64_mode():
        return body(m64, cast, precision)


def precise(model: Any, body: Callable[[Any, Callable[[dict], dict], str], Any]) -> Any:
    """Run ``body(model, cast_inputs, precision)`` on a float64 copy of ``model``; where the model
    cannot run in float64 (an exception from its code, not a check verdict), on ``model`` itself
    in float32, with ``precision.reason`` saying why (also logged to ``hftestgen.checks``)."""
    reason = "forced" if FORCE_PRECISION == "float32" else ""
    if not reason:
        m64 = float64_copy(model)
        if isinstance(m64, BaseException):
            reason = f"model.double(): {_short(m64, 200)}"
        else:
            try:
                return _float64_run(m64, body)
            except Exception as e:  # a float64-only failure: the float32 run below decides
                reason = _short(e, 200)
    _LOG.info("%s: float32 fallback: %s", type(model).__name__, reason)
    return body(model, lambda x: x, Precision("float32", reason))
