"""Recording a snapshot (``hftestgen snapshot``) and the pieces the ``golden`` check shares with
it: encoding the reference inputs, computing the outputs in a recorded precision. Imports torch.
The format is described in ``hftestgen.snapshot``."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from .._io import atomic_write_bytes, atomic_write_text
from . import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    OUTPUTS_CAP_BYTES,
    PRECISIONS,
    WEIGHTS_CAP_BYTES,
)

_TENSOR = "$tensor"
_TUPLE = "$tuple"


class Unrecordable(Exception):
    """A value of the reference inputs that the snapshot format cannot hold."""


# ----------------------------------------------------------------------------------------
# inputs: a JSON structure whose tensors live in a safetensors file, by path


def encode_inputs(inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(JSON structure, tensors by path) of the reference inputs."""
    tensors: dict[str, torch.Tensor] = {}

    def enc(v: Any, path: str) -> Any:
        if isinstance(v, torch.Tensor):
            tensors[path] = v.detach().contiguous().clone()
            return {_TENSOR: path}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if type(v) is dict:
            if any(not isinstance(k, str) for k in v):
                raise Unrecordable(f"{path}: a dict with non-string keys")
            return {"$dict": {k: enc(x, f"{path}.{k}") for k, x in v.items()}}
        if type(v) in (list, tuple):
            items = [enc(x, f"{path}.{i}") for i, x in enumerate(v)]
            return {_TUPLE: items} if type(v) is tuple else items
        raise Unrecordable(f"{path}: a {type(v).__name__} (not a tensor, number, string, list)")

    return {k: enc(v, k) for k, v in inputs.items()}, tensors


def decode_inputs(structure: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    def dec(v: Any) -> Any:
        if isinstance(v, list):
            return [dec(x) for x in v]
        if isinstance(v, dict):
            if _TENSOR in v:
                return tensors[v[_TENSOR]]
            if _TUPLE in v:
                return tuple(dec(x) for x in v[_TUPLE])
            return {k: dec(x) for k, x in v["$dict"].items()}
        return v

    return {k: dec(v) for k, v in structure.items()}


# ----------------------------------------------------------------------------------------
# outputs in a precision


def outputs_in(model: Any, inputs: dict[str, Any], precision: str) -> dict[str, torch.Tensor]:
    """The tensors of one seeded eval forward of ``model`` in ``precision`` (``PRECISIONS``):
    float64 modes run on ``_support.float64_copy(model)``. Raises what the run raises;
    ``_support.Float64Unusable`` where a float64 run computes NaNs."""
    from ..checks import _support as S

    if precision == "float32":
        out = S.run(model, inputs)
        return S.finite(S.tensors(out), "float32")
    m64 = S.float64_copy(model)
    if isinstance(m64, BaseException):
        raise m64
    cast = S.cast_floats(inputs, torch.float64)
    if precision == "float64-promoted":
        with S.float64_mode():
            out = S.run(m64, cast)
    else:
        out = S.run(m64, cast)
    return S.finite(S.tensors(out), "float64")


def first_precision(model: Any, inputs: dict[str, Any]) -> tuple[str, dict[str, torch.Tensor]]:
    """The first of ``PRECISIONS`` that runs, and its outputs (the last one's error raises)."""
    for i, p in enumerate(PRECISIONS):
        try:
            return p, outputs_in(model, inputs, p)
        except Exception:
            if i == len(PRECISIONS) - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def real_positions(
    outputs: dict[str, torch.Tensor], inputs: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """The outputs a golden comparison holds to: where the inputs pad (a 2-d 0/1
    ``attention_mask`` with zeros), every output whose leading (batch, sequence) dims are the
    mask's keeps its real positions only (flattened). What a model computes at a padded query
    position is the attention kernel's choice (a fully masked softmax row: SDPA and eager differ
    by O(1) there in left-padded decoders), not a result a release owes."""
    mask = inputs.get("attention_mask")
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2 or bool(mask.bool().all()):
        return outputs
    keep = mask.bool()
    out = {}
    for k, v in outputs.items():
        out[k] = v[keep] if v.dim() >= 2 and tuple(v.shape[:2]) == tuple(mask.shape) else v
    return out


# ----------------------------------------------------------------------------------------
# writing


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """A safetensors file written atomically."""
    from safetensors.torch import save

    atomic_write_bytes(path, save({k: v.detach().contiguous().clone() for k, v in tensors.items()}))


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _weights(model: Any, folder: Path, cap: int) -> tuple[bool, int, str | None]:
    """``save_pretrained`` into ``folder`` (safetensors only); over ``cap`` bytes only the config
    is kept. Returns (weights kept, bytes of the weights, note)."""
    with tempfile.TemporaryDirectory(prefix="hftestgen-snap-") as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        names = sorted(os.listdir(tmp))
        if any(n.endswith((".bin", ".pt", ".pth")) for n in names):
            raise Unrecordable(f"save_pretrained wrote a pickle file ({names})")
        weights = [n for n in names if n.endswith(".safetensors")]
        size = sum(os.path.getsize(os.path.join(tmp, n)) for n in weights)
        keep = size <= cap
        for n in names:
            if n.endswith(".safetensors") and not keep:
                continue
            src = os.path.join(tmp, n)
            if not os.path.isfile(src):
                continue
            atomic_write_bytes(folder / n, Path(src).read_bytes())
    note = None if keep else f"weights {size:,} bytes over the cap ({cap:,} left): outputs only"
    return keep, size, note


def nbytes(tensors: dict[str, torch.Tensor]) -> int:
    return sum(v.numel() * v.element_size() for v in tensors.values())


def stride_for(outputs: dict[str, torch.Tensor], cap: int | None = None) -> int:
    """1 when ``outputs`` fit in ``cap`` bytes (``OUTPUTS_CAP_BYTES``), else the stride that
    brings them under it."""
    cap = OUTPUTS_CAP_BYTES if cap is None else cap
    size = nbytes(outputs)
    return 1 if size <= cap else -(-size // max(cap, 1))


def strided(outputs: dict[str, torch.Tensor], stride: int) -> dict[str, torch.Tensor]:
    """Every ``stride``-th value of each output, flattened (``stride`` 1: the outputs as they
    are): what a snapshot stores of outputs over ``OUTPUTS_CAP_BYTES``. A numerical change that
    matters moves most values of an output, so a regular sample of it moves too."""
    if stride <= 1:
        return outputs
    return {k: v.reshape(-1)[::stride].clone() for k, v in outputs.items()}


def recorded_view(
    outputs: dict[str, torch.Tensor], inputs: dict[str, Any], stride: int
) -> dict[str, torch.Tensor]:
    """What a snapshot records of (and the golden check compares of) a forward's outputs: the
    real positions (``real_positions``), strided to ``stride``."""
    return strided(real_positions(outputs, inputs), stride)


def record_class(case: Any, class_name: str, folder: Path, cap: int) -> dict[str, Any]:
    """Record one class of ``case`` into ``folder``: its manifest entry."""
    from ..checks import _support as S

    built = S.get_built(case, class_name)
    inputs = S.make_inputs(case, built)
    precision, outs = first_precision(built.model, inputs)
    if not outs:
        raise Unrecordable("the forward returned no finite floating output")
    real = real_positions(outs, inputs)
    stride = stride_for(real)
    outs = strided(real, stride)
    structure, in_tensors = encode_inputs(inputs)
    folder.mkdir(parents=True, exist_ok=True)
    kept, size, note = _weights(built.model, folder, cap - nbytes(outs))
    _save_tensors(folder / "inputs.safetensors", in_tensors)
    atomic_write_text(folder / "inputs.json", _dump(structure))
    _save_tensors(folder / "outputs.safetensors", outs)
    entry: dict[str, Any] = {
        "precision": precision,
        "weights": kept,
        "weights_bytes": size,
        "outputs": sorted(outs),
        "outputs_stride": stride,
        "params": int(built.n_params),
    }
    if note:
        entry["weights_note"] = note
    entry["bytes"] = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return entry


def _skip_text(e: BaseException) -> str:
    return " ".join(str(e).split())[:300] or type(e).__name__


def record_type(case: Any, root: Path, cap: int = WEIGHTS_CAP_BYTES) -> dict[str, Any]:
    """Record the primary class of ``case`` under ``root/<type>/<Class>``: the type's entry (an
    ``error`` entry where it cannot be recorded, saying why)."""
    import pytest

    entry: dict[str, Any] = {"config_class": case.config_class, "family": case.family}
    cls = case.primary_class if case.class_names else None
    if cls is None:
        entry["error"] = "no model class"
        return entry
    rel = f"{case.model_type}/{cls}"
    folder = root / rel
    if folder.exists():
        shutil.rmtree(folder)
    try:
        got = record_class(case, cls, folder, cap)
    except (pytest.skip.Exception, pytest.fail.Exception) as e:  # get_built's verdicts
        entry["error"] = f"{cls}: {_skip_text(e)}"
    except Exception as e:
        entry["error"] = f"{cls}: {type(e).__name__}: {_skip_text(e)}"
    else:
        entry["classes"] = {cls: {"path": rel, **got}}
        return entry
    if folder.exists():
        shutil.rmtree(folder)
    return entry


def versions() -> dict[str, Any]:
    from ..report.coverage import package_version

    return {
        "hftestgen": __version__,
        "transformers": package_version("transformers"),
        "torch": package_version("torch"),
        "safetensors": package_version("safetensors"),
    }


def record_snapshot(
    cases: Iterable[Any],
    root: Path | str,
    *,
    cap: int = WEIGHTS_CAP_BYTES,
    progress: Callable[[str, dict[str, Any], float], None] | None = None,
) -> dict[str, Any]:
    """Record ``cases`` into ``root`` and write its manifest (types already in an existing
    manifest of the same format version and releases are kept). Returns the manifest."""
    from ..checks import clear_cache

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": versions(),
        "weights_cap_bytes": cap,
        "types": {},
    }
    old = _existing(root)
    if old is not None:
        if old.get("versions") != manifest["versions"] or old.get("weights_cap_bytes") != cap:
            from . import SnapshotError

            raise SnapshotError(
                f"{root} holds a snapshot of other releases or another cap "
                f"({old.get('versions')}, cap {old.get('weights_cap_bytes')}): record into a new "
                "folder"
            )
        manifest["types"] = dict(old.get("types") or {})
    for case in cases:
        t0 = time.perf_counter()
        entry = record_type(case, root, cap)
        clear_cache()
        manifest["types"][case.model_type] = entry
        if progress is not None:
            progress(case.model_type, entry, time.perf_counter() - t0)
    manifest["types"] = dict(sorted(manifest["types"].items()))
    atomic_write_text(root / MANIFEST, _dump(manifest))
    return manifest


def _existing(root: Path) -> dict[str, Any] | None:
    """The manifest already in ``root`` (None: none); one of another format version is refused
    (``SnapshotError``), never mixed with this one."""
    from . import SnapshotError, read_manifest

    if not (root / MANIFEST).is_file():
        return None
    snap = read_manifest(root)
    if snap.manifest.get("format_version") != FORMAT_VERSION:
        raise SnapshotError(
            f"{root} holds a snapshot of format version {snap.manifest.get('format_version')}: "
            "record into a new folder"
        )
    return snap.manifest


def total_bytes(root: Path | str) -> int:
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
