"""The ``golden`` check: the same weights and inputs give the outputs a snapshot recorded (under
another Transformers release, typically). Format and recording: ``hftestgen.snapshot``.

Where no snapshot is configured (``$HFTESTGEN_SNAPSHOT``, ``[tool.hftestgen] snapshots``) the
pytest plugin deselects ``test_golden``; called anyway, the check skips as not covered.

Refusals, each with its reason:

* a manifest that is missing, of another format or of a **newer format version**: *fails* (the
  user asked for a comparison that cannot be made; a skip would read as nothing to compare);
* the type's entry records **another config class** (the type now means another configuration):
  *fails*: the weights no longer describe this type, which is itself a cross-release break;
* the type (or its primary class) is **not in the snapshot**, or was not recordable: skips as
  *not covered* (a gap of the reference, not drift: the type is incomplete, never passed).

The comparison: the class is loaded with ``from_pretrained`` from the snapshot's folder (its
``config.json`` and weights; an outputs-only entry rebuilds the tiny model from seed 0 instead),
runs the recorded inputs in the recorded precision and compares every recorded output with
``tolerances.GOLDEN`` (per precision), at real (unpadded) positions only
(``snapshot.record.real_positions``); a failure names each differing output and its max abs
diff.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import tolerances as tol
from .case import Case
from .skips import not_applicable, not_covered


@lru_cache(maxsize=4)
def _snapshot(root: str) -> Any:
    from ..snapshot import read_manifest

    return read_manifest(root)


def _load_tensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _load_model(case: Case, class_name: str, folder: Path, entry: dict[str, Any]) -> Any:
    """The snapshot's weights in a model built from the snapshot's config."""
    from . import _support as S

    if not entry.get("weights"):
        return S.get_built(case, class_name).model
    from ..tiny.engine import model_class

    cls = model_class(class_name)
    try:
        model, info = cls.from_pretrained(str(folder), output_loading_info=True)
    except Exception as e:
        S.fail(f"golden: cannot load {class_name} from the snapshot {folder}: {S._short(e, 400)}")
    missing = list(info.get("missing_keys") or ()) + list(info.get("mismatched_keys") or ())
    if missing:
        S.fail(
            f"golden: {class_name} from the snapshot {folder}: weights the model expects are "
            f"missing or reshaped ({', '.join(map(str, missing[:5]))}): the class's parameters "
            "changed since the snapshot"
        )
    return model.eval()


def _not_recorded(case: Case, class_name: str | None, snap: Any, entry: dict[str, Any]) -> None:
    """A class the snapshot holds no outputs of: skipped as every other check of it skips where
    it cannot be built here (unsupported, missing package; a build failure fails); as its
    ``forward``'s known entry says where that one is known (an upstream bug that breaks every
    forward also kept the snapshot from recording it: xfail); else not covered."""
    import pytest

    from . import _support as S

    S.get_built(case, class_name)
    why = (
        entry.get("error") or f"recorded classes: {', '.join(entry.get('classes') or {}) or 'none'}"
    )
    known = case.known_for("forward", class_name)
    if known is not None and known.kind == "not-applicable":
        not_applicable(known.reason)
    if known is not None:
        pytest.xfail(f"{known.kind}: {known.reason} [forward's known entry; not recorded: {why}]")
    not_covered(f"{case.model_type}/{class_name} not recorded in the {snap.describe()}: {why}")


def golden(case: Case, class_name: str | None) -> None:
    from ..snapshot import SnapshotError, configured
    from ..snapshot.record import decode_inputs, outputs_in, recorded_view
    from . import _support as S

    root = configured()
    if root is None:
        not_covered(
            "no snapshot configured (hftestgen run --against DIR, or [tool.hftestgen] snapshots)"
        )
    try:
        snap = _snapshot(str(root))
    except SnapshotError as e:
        S.fail(f"golden: {e}")
    entry = snap.entry(case.model_type)
    if entry is None:
        not_covered(f"{case.model_type} is not in the {snap.describe()}")
    recorded_cfg = entry.get("config_class")
    if recorded_cfg != case.config_class:
        S.fail(
            f"golden: {snap.describe()} recorded {case.model_type} with config class "
            f"{recorded_cfg!r}, this release has {case.config_class!r}: the snapshot does not "
            "describe this type any more"
        )
    classes = entry.get("classes") or {}
    if class_name not in classes:
        _not_recorded(case, class_name, snap, entry)
    rec = classes[class_name]
    folder = snap.root / rec["path"]
    model = _load_model(case, class_name, folder, rec)
    structure = json.loads((folder / "inputs.json").read_text(encoding="utf-8"))
    inputs = decode_inputs(structure, _load_tensors(folder / "inputs.safetensors"))
    expected = _load_tensors(folder / "outputs.safetensors")
    from ..snapshot import PRECISIONS

    recorded = rec.get("precision", "float32")
    # The snapshot's precision first; where this release cannot run it (a float64-promoted
    # run that overflows a float32 constant in 4.x CLIP), the next one, at its own tolerance.
    tried: list[str] = []
    for precision in PRECISIONS[PRECISIONS.index(recorded) :]:
        try:
            got = outputs_in(model, inputs, precision)
            break
        except Exception as e:
            tried.append(f"{precision}: {S._short(e, 200)}")
    else:
        S.fail(
            f"golden: {case.model_type}/{class_name} runs in none of the precisions from the "
            f"snapshot's {recorded} on: {'; '.join(tried)}"
        )
    if tried:  # a less precise run than recorded: compared in the recorded dtype
        got = {
            k: v.to(expected[k].dtype)
            if k in expected and v.is_floating_point() and expected[k].is_floating_point()
            else v
            for k, v in got.items()
        }
    t = tol.GOLDEN[precision]
    cmp = S.Comparison("golden", "float32" if precision == "float32" else "float64")
    cmp.outputs(expected, recorded_view(got, inputs, int(rec.get("outputs_stride", 1))), t)
    where = "" if rec.get("weights") else " (weights rebuilt from seed 0: outputs-only entry)"
    ran = f"{precision}, recorded {recorded}: {tried[0]}" if tried else precision
    cmp.verdict(
        f"golden: outputs of {class_name} drifted from the {snap.describe()}{where} "
        f"[{ran}, atol={t.atol:g}, rtol={t.rtol:g}]"
    )
