"""The backend matrix's check: one cell = (model class, backend), compared with the plain model.

``backend(case, model_class, name)`` builds the class's tiny model (the same cached build and
inputs every other check uses), runs it plainly (eager attention, float32, CPU, not compiled) and
through the backend (``hftestgen.checks.backends``), and compares every floating output at real
positions: where the inputs hold a 2-D token sequence and ``forward`` takes ``attention_mask``,
both sides get the same inputs grown by ``PAD_LEN`` positions (left with ``position_ids`` for
causal stacks that take them, right otherwise): masked padding in every sample but the first,
real tokens in the first (``_padded_inputs``; the attention implementations' mask handling is
what differs most between backends). Padded positions are left out of the comparison, and so is
every output element that depends on the content under the mask (``_masked_dependence``).

A cell's verdict, recorded for the report in ``LAST_CELL`` (the pytest plugin attaches it to the
test's record as ``cell``):

* ``pass``: every output within the backend's tolerance, measured as
  ``max|backend - plain| / max(max|plain|, 1)`` per output tensor;
* ``mismatch``: some output beyond it (category ``beyond-tolerance``), or not finite where the
  plain output is (``non-finite``); the test fails naming the worst output and the size of the
  move;
* ``fails-to-run``: preparing or running raised (the test fails; ``category`` from
  ``backends.categorize``);
* ``not-applicable``: the backend rules the class out by design (a skip with its reason);
* ``missing-package`` / ``no-device``: skips naming the package / device.
"""

from __future__ import annotations

import copy
import re
import time
import warnings
from typing import Any

import torch

from ..configs import is_config, sub_configs
from . import _support as S
from . import backends as B
from . import tolerances as tol
from ._support import floating, get_forward_model, make_inputs, run, tensors
from .case import Case
from .skips import missing_package, no_device, not_applicable

#: the cell of the last ``backend`` call in this process (read by the pytest plugin)
LAST_CELL: dict[str, Any] | None = None


def _padded_inputs(case: Case, built: Any, inputs: dict) -> tuple[dict, Any]:
    """(inputs, the real-position mask over the token axis or None).

    Every sample gets ``PAD_LEN`` more positions; the first sample's are real tokens (plain ids,
    unmasked), the others' are masked padding. So the batch holds a padded sample (the
    attention implementations' mask handling differs most there) and, where the built inputs
    left the first sample unpadded, a sample without padding, on which outputs without a token
    axis (pooled) can be compared (``_real``)."""
    from ._checks import _causal, _padded, _random_plain_ids

    ids = inputs.get("input_ids")
    params = S.forward_params(built.model)
    if not isinstance(ids, torch.Tensor) or ids.ndim != 2 or "attention_mask" not in params:
        return inputs, None
    causal = _causal(case, built)
    left = causal and "position_ids" in params
    try:
        _, padded, _ = _padded(built, inputs, left, left)
    except Exception:  # pragma: no cover - inputs the padding helper cannot handle
        return inputs, None
    mask = padded["attention_mask"]
    rows = ids.shape[0]
    if mask.shape[0] != rows:
        # several token rows per sample (a codebook per row): one mask row per sample
        if mask.ndim != 2 or rows % mask.shape[0]:
            return inputs, None
        return padded, mask.bool().repeat_interleave(rows // mask.shape[0], dim=0)
    L, P = ids.shape[1], tol.PAD_LEN
    added = slice(0, P) if left else slice(L, L + P)
    new_ids = padded["input_ids"].clone()
    gen = torch.Generator().manual_seed(0)
    new_ids[0, added] = _random_plain_ids(built.config, ids, (P,), gen).to(new_ids.dtype)
    mask = mask.clone()
    mask[0, added] = 1
    padded = dict(padded, input_ids=new_ids, attention_mask=mask)
    if left:
        padded["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)
    return padded, mask.bool()


def _real(x: torch.Tensor, mask: Any) -> torch.Tensor:
    """``x`` at real positions: the first axis after the batch whose length is the padded
    sequence's (a hidden state, logits, a key cache's position axis)."""
    if mask is None or x.ndim < 2 or x.shape[0] != mask.shape[0]:
        return x
    L = mask.shape[1]
    for d in range(1, x.ndim):
        if x.shape[d] == L:
            return x.movedim(d, 1)[mask]
    return x


def _masked_dependence(
    built: Any, plain: Any, inputs: dict, mask: Any, ref: dict[str, torch.Tensor], flat: bool
) -> dict[str, torch.Tensor]:
    """Per output, the elements that change when the token ids under the mask change (the plain
    model run again with other plain ids there). What a kernel leaves at masked positions, and
    any output read from one (a pooler taking position 0 of a left-padded sample where no EOS
    is present, CLIP's), is its own choice: those elements are not compared. Elements at real
    positions do not depend on masked content in a model that honours its mask (the
    ``attention_mask_padding`` check holds the plain model to that), so a backend whose mask
    handling leaks is still compared, and caught, there."""
    from ._checks import _random_plain_ids

    if mask is None:
        return {}
    ids = inputs["input_ids"]
    hidden = ~mask
    if hidden.shape != ids.shape or not bool(hidden.any()):
        return {}
    alt_ids = ids.clone()
    gen = torch.Generator().manual_seed(1)
    alt_ids[hidden] = _random_plain_ids(built.config, ids, (int(hidden.sum()),), gen).to(ids.dtype)
    other = _outputs(run(plain, dict(inputs, input_ids=alt_ids)), ref, flat)
    dep = {}
    for k, a in ref.items():
        b = other.get(k)
        if b is not None and b.shape == a.shape:
            dep[k] = (a.double() - b.double()).abs() > 0
    return dep


def _plain(model: Any) -> Any:
    """The plain side: a private copy with eager attention where the class can switch to it (the
    tiny builds keep the library's default, ``sdpa`` where supported) and ``use_cache`` off in
    every config (a forward's cache is state for the next call, not an output: an exported graph
    cannot return it). Every backend starts from a copy of this model."""
    plain = copy.deepcopy(model).eval()
    impl = getattr(getattr(plain, "config", None), "_attn_implementation", None)
    setter = getattr(plain, "set_attn_implementation", None)
    if impl not in (None, "eager") and setter is not None:
        try:
            setter("eager")
        except Exception:
            pass
    seen: set[int] = set()
    stack = [getattr(m, "config", None) for m in plain.modules()]
    while stack:
        c = stack.pop()
        if not is_config(c) or id(c) in seen:
            continue
        seen.add(id(c))
        if getattr(c, "use_cache", None):
            c.use_cache = False
        stack.extend(sub_configs(c).values())
    return plain


def _flat(out: Any) -> dict[str, torch.Tensor]:
    """The tensor leaves of an output in pytree order, keyed ``output.<i>``: how a backend that
    returns flat outputs (ONNX) and the plain model's output are matched."""
    import torch.utils._pytree as pytree

    leaves = [x for x in pytree.tree_leaves(out) if isinstance(x, torch.Tensor)]
    return {f"output.{i}": x for i, x in enumerate(leaves)}


def _compare(
    ref: dict[str, torch.Tensor],
    got: dict[str, torch.Tensor],
    mask: Any,
    tolerance: float,
    dependent: dict[str, torch.Tensor] | None = None,
) -> tuple[list[str], float, float, str, int]:
    """(differences, worst relative move, its absolute size, worst path, outputs compared);
    ``dependent``: per output, elements left out (``_masked_dependence``)."""
    bad: list[str] = []
    worst, worst_abs, worst_key, n = 0.0, 0.0, "", 0
    for k, a in ref.items():
        b = got.get(k)
        if b is None:
            bad.append(f"{k} missing from the backend's output")
            continue
        if tuple(a.shape) != tuple(b.shape):
            bad.append(f"{k}: shape {tuple(a.shape)} vs {tuple(b.shape)}")
            continue
        a = a.detach().to("cpu", torch.float64)
        b = b.detach().to("cpu", torch.float64)
        dep = (dependent or {}).get(k)
        if dep is not None and dep.shape == a.shape:
            a, b = a.masked_fill(dep, 0.0), b.masked_fill(dep, 0.0)
        a, b = _real(a, mask), _real(b, mask)
        fin = torch.isfinite(a)
        if not bool(fin.any()):
            continue  # nothing finite to compare (the forward check reports non-finite outputs)
        n += 1
        if not bool(torch.isfinite(b[fin]).all()):
            bad.append(f"{k}: not finite where the plain output is")
            worst, worst_abs, worst_key = float("inf"), float("inf"), k
            continue
        d = float((a[fin] - b[fin]).abs().max())
        scale = max(float(a[fin].abs().max()), 1.0)
        rel = d / scale
        if rel > worst:
            worst, worst_abs, worst_key = rel, d, k
        if rel > tolerance:
            bad.append(f"{k}: max abs diff {d:.3g} ({rel:.3g} of max|plain| {scale:.3g})")
    return bad, worst, worst_abs, worst_key, n


def _outputs(out: Any, ref: dict[str, torch.Tensor], flat: bool) -> dict[str, torch.Tensor]:
    if not flat:
        return floating(tensors(out))
    return {k: x for k, x in _flat(out).items() if k in ref}


def backend(case: Case, model_class: str | None, name: str) -> None:
    """One cell of the matrix: ``model_class`` through backend ``name`` vs. the plain model."""
    global LAST_CELL
    be = B.get(name)
    cell: dict[str, Any] = {"backend": name, "class": model_class, "status": None}
    LAST_CELL = cell
    for pkg in getattr(be, "requires", ()):
        try:
            __import__(pkg)
        except ImportError:
            cell.update(status="missing-package", reason=pkg)
            missing_package(pkg)
    cell.update(status="fails-to-run", category="plain-model-fails")  # until the plain run ends
    built = get_forward_model(case, model_class)
    base = make_inputs(case, built)
    inputs, mask = _padded_inputs(case, built, base)
    plain = _plain(built.model)
    try:
        ref_out = run(plain, inputs)
    except Exception as e:
        if inputs is base:
            raise
        # the model cannot take the grown sequence (a fixed position table, an axial
        # position shape): the cell compares on the inputs as built, unpadded
        cell["inputs"] = f"as built: the padded inputs do not run ({type(e).__name__})"
        inputs, mask = base, None
        own = base.get("attention_mask")
        ids = base.get("input_ids")
        if isinstance(own, torch.Tensor) and isinstance(ids, torch.Tensor):
            mask = own.bool() if own.shape == ids.shape else None  # their own padding, if any
        ref_out = run(plain, inputs)
    ref = floating(tensors(ref_out))
    cell.update(status=None, category=None)
    if not ref:
        cell.update(status="not-applicable", reason="no floating output to compare")
        not_applicable(f"{name}: {model_class} returns no floating output to compare")
    flat = False
    model = copy.deepcopy(plain).eval()
    t0 = time.perf_counter()
    stage = "prepare"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn = be.prepare(model, inputs)
            flat = bool(getattr(fn, "flat", False))
            if flat:
                ref = {k: v for k, v in _flat(ref_out).items() if v.is_floating_point()}
            cell["prepare_s"] = round(time.perf_counter() - t0, 4)
            stage = "run"
            t1 = time.perf_counter()
            S.seed_all(0)
            with torch.no_grad():
                out = fn(**inputs)
            cell["run_s"] = round(time.perf_counter() - t1, 4)
    except B.NotApplicable as e:
        reason = str(e)
        if reason.startswith("no-device: "):
            cell.update(status="no-device", reason=reason[len("no-device: ") :])
            no_device(cell["reason"])
        cell.update(status="not-applicable", reason=reason)
        not_applicable(f"{name}: {reason}")
    except B.MissingPackage as e:
        cell.update(status="missing-package", reason=str(e))
        missing_package(str(e))
    except Exception as e:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # exporters colour their messages
        msg = (text.strip().splitlines() or [type(e).__name__])[0][:300]
        cat = B.categorize(be, type(e).__name__, text[:2000])
        cell.update(status="fails-to-run", category=cat, stage=stage, reason=msg)
        cell["duration_s"] = round(time.perf_counter() - t0, 4)
        S.fail(f"{model_class} fails to run on {name} ({stage}; {cat}): {type(e).__name__}: {msg}")
    breaks = getattr(fn, "graph_breaks", None)
    if breaks is not None:
        cell["graph_breaks"] = int(breaks)
    got = _outputs(out, ref, flat)
    t = float(be.tolerance)
    dependent = _masked_dependence(built, plain, inputs, mask, ref, flat)
    bad, worst, worst_abs, worst_key, n = _compare(ref, got, mask, t, dependent)
    cell.update(
        max_rel_diff=worst, max_abs_diff=worst_abs, worst=worst_key, compared=n, tolerance=t
    )
    if n == 0 and not bad:
        cell.update(status="fails-to-run", category="nothing-compared")
        S.fail(
            f"{model_class} on {name}: no finite floating output to compare (empty or not finite on the plain model)"
        )
    if bad:
        nonfinite = worst == float("inf")
        cell.update(status="mismatch", category="non-finite" if nonfinite else "beyond-tolerance")
        S.fail(
            f"{model_class} on {name} differs from the plain model (eager, float32, CPU) at real "
            f"positions beyond {t:g} of max|plain|: {'; '.join(bad[:5])}"
        )
    cell["status"] = "pass"


__all__ = ["LAST_CELL", "backend"]
