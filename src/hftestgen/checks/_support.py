"""Shared machinery of the checks: the per-process model cache, seeding, running, comparing.

Imports torch; only imported when a check actually runs.
"""

from __future__ import annotations

import copy
import json
import os
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


def get_built(case: Case, class_name: str | None) -> Any:
    """The tiny model of ``class_name``, built on first use and cached (LRU) in this process."""
    if case.skip:
        unsupported(str(case.skip))
    if class_name is None:  # only reachable through an empty parametrization
        not_applicable(f"{case.model_type}: no model class to check")
    data = case.data_for(class_name)
    key = (
        case.model_type,
        class_name,
        json.dumps([case.tiny, data], sort_keys=True, default=str),
    )
    if _CACHE and next(iter(_CACHE))[0] != case.model_type:
        # Generated files run one model type after another: models of the previous type will
        # not be asked for again, so free them now instead of letting a worker's memory grow.
        # (Reference counting frees them; a gc.collect() here would cost ~0.2 s per type.)
        _CACHE.clear()
    if key in _CACHE:
        _CACHE.move_to_end(key)
    else:
        from hftestgen import tiny

        try:
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
# float64 copies


def cast_floats(v: Any, dtype: torch.dtype) -> Any:
    """Floating tensors of an input (also inside plain dicts, lists, tuples) cast to ``dtype``."""
    if isinstance(v, torch.Tensor):
        return v.to(dtype) if v.is_floating_point() else v
    if type(v) is dict:
        return {k: cast_floats(x, dtype) for k, x in v.items()}
    if type(v) in (list, tuple):
        return type(v)(cast_floats(x, dtype) for x in v)
    return v


def precise(model: Any, body: Callable[[Any, Callable[[dict], dict], str], Any]) -> Any:
    """Run ``body(model, cast_inputs, precision)`` on a float64 copy of ``model``; where the model
    cannot run in float64 (an exception from its code, not a check verdict), on ``model`` itself
    in float32."""
    try:
        m64 = copy.deepcopy(model).double()
    except Exception:
        m64 = None
    experts = getattr(getattr(m64, "config", None), "_experts_implementation", "eager")
    if m64 is not None and experts != "eager":
        # torch's grouped_mm (the default MoE experts kernel) has no float64 version; the eager
        # experts loop computes the same routing and sums
        try:
            m64.set_experts_implementation("eager")
        except Exception:
            pass
    if m64 is not None:
        try:
            return body(m64, lambda x: cast_floats(x, torch.float64), "float64")
        except Exception:
            pass  # a float64-only failure: the float32 run below decides
    return body(model, lambda x: x, "float32")
