"""Golden outputs across releases: snapshots of tiny weights, reference inputs and outputs.

The generated checks are self-consistency checks: a regression that keeps every model consistent
with itself (an attention scale applied twice, rotary embeddings applied to the whole head instead
of a fraction) passes all of them and only shows as *different numbers for the same weights*.
``hftestgen snapshot`` records, per model type, the tiny weights, the reference inputs and the
outputs under one Transformers release; the ``golden`` check (``checks.golden_outputs``) loads
those weights under another release, runs the recorded inputs and compares.

What is recorded: the type's **primary class** (``Case.primary_class``: the base model where the
type has one, else its first head), built exactly as the generated suite builds it
(``checks._support.get_built``: the same tiny config, seed 0, the same batch-of-2 inputs as
``forward``), run in float64 where it can (``checks._support.float64_copy``; see ``PRECISIONS``).
One class per type keeps a whole-suite snapshot small; the base model holds the attention,
position and normalisation code where such regressions live.

Layout (format ``hftestgen-snapshot``, version ``FORMAT_VERSION``)::

    SNAPSHOT_DIR/
      manifest.json                 the index below (sorted keys, no timestamps)
      <model_type>/<ClassName>/
        config.json                 save_pretrained (safetensors only)
        model.safetensors           the tiny weights (absent for an outputs-only entry)
        inputs.safetensors          the reference inputs' tensors, by path
        inputs.json                 the inputs' structure (non-tensor values, tensor references)
        outputs.safetensors         every tensor of the output (``_support.tensors`` paths) at
                                    real positions (``record.real_positions``); strided where
                                    over ``OUTPUTS_CAP_BYTES`` (``outputs_stride``)

``manifest.json``::

    {"format": "hftestgen-snapshot", "format_version": 1,
     "versions": {"hftestgen": ..., "transformers": ..., "torch": ...},
     "weights_cap_bytes": 917504,
     "types": {"bert": {"config_class": "BertConfig", "family": "encoder-only",
                        "classes": {"BertModel": {"path": "bert/BertModel",
                                                  "precision": "float64-promoted",
                                                  "weights": true, "bytes": 123456,
                                                  "outputs": ["last_hidden_state", ...],
                                                  "outputs_stride": 1, ...}}},
               "foo": {"config_class": ..., "error": "why nothing was recorded"}}}

``precision`` is the mode the outputs were computed in (``PRECISIONS``) and the mode the check
runs them in again. An entry whose weights and outputs together exceed the per-type cap
(``weights_cap_bytes``) stores outputs only (``"weights": false``, ``"weights_note"`` says so):
the check then rebuilds the tiny model from seed 0 under the running release, so a changed
initialisation shows as drift too.

Files are written atomically (temp file + rename); a snapshot recorded twice with the same
releases is byte-identical.

Which snapshot the ``golden`` check uses: ``$HFTESTGEN_SNAPSHOT`` (set by
``hftestgen run --against DIR``), else ``[tool.hftestgen] snapshots = "DIR"`` of the nearest
pyproject. With neither, the pytest plugin deselects ``test_golden`` (no golden column in the
reports; a run without a reference is not incomplete for lack of one).

Importable without torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HftestgenError, UsageError

FORMAT = "hftestgen-snapshot"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: the environment variable naming the snapshot the ``golden`` check compares with
ENV = "HFTESTGEN_SNAPSHOT"
#: the per-type cap: weights that would take an entry (weights + outputs) above it are not
#: stored (outputs only). 896 KiB: a whole-suite snapshot of 184 MB (734 types, 123 outputs only)
WEIGHTS_CAP_BYTES = 896 * 1024
#: outputs above this many bytes (per type) are stored strided to fit (``outputs_stride``)
OUTPUTS_CAP_BYTES = 128 * 1024

#: the modes outputs are computed in, tried in this order when recording:
#: ``float64-promoted``: a float64 copy run under ``_support.Float64Mode`` (float32 islands of the
#: model's own code promoted too, so the whole forward is float64: the smallest cross-release
#: noise); ``float64``: the float64 copy as it runs (where promotion raises); ``float32``: the
#: model itself (where neither float64 run works, or either computes NaNs).
PRECISIONS = ("float64-promoted", "float64", "float32")


class SnapshotError(UsageError):
    """A snapshot that cannot be read or used (a usage error: one line)."""


@dataclass(frozen=True)
class Snapshot:
    root: Path
    manifest: dict[str, Any]

    @property
    def versions(self) -> dict[str, Any]:
        return dict(self.manifest.get("versions") or {})

    def entry(self, model_type: str) -> dict[str, Any] | None:
        return (self.manifest.get("types") or {}).get(model_type)

    def describe(self) -> str:
        v = self.versions
        return (
            f"snapshot {self.root} (transformers {v.get('transformers')}, torch "
            f"{v.get('torch')}, hftestgen {v.get('hftestgen')})"
        )


def read_manifest(root: Path | str) -> Snapshot:
    """The snapshot in ``root``; ``SnapshotError`` for a missing / unreadable manifest, another
    format, or a format version newer than this hftestgen reads."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise SnapshotError(f"{root}: no {MANIFEST}: not an hftestgen snapshot")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SnapshotError(f"{path}: unreadable: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotError(f"{path}: not an {FORMAT} manifest (format {data.get('format')!r})")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SnapshotError(f"{path}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise SnapshotError(
            f"{path}: snapshot format version {version} is newer than this hftestgen reads "
            f"({FORMAT_VERSION}); record it again with this hftestgen or upgrade hftestgen"
        )
    if not isinstance(data.get("types"), dict):
        raise SnapshotError(f"{path}: 'types' must be a table of model types")
    return Snapshot(root=root, manifest=data)


def configured(start: Path | None = None) -> Path | None:
    """The snapshot folder the ``golden`` check compares with: ``$HFTESTGEN_SNAPSHOT``, else
    ``[tool.hftestgen] snapshots`` of the nearest pyproject from ``start`` (default: cwd)."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).resolve()
    from ..settings import load_settings

    try:
        settings = load_settings(start)
    except HftestgenError:
        return None
    return settings.snapshots


__all__ = [
    "ENV",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "OUTPUTS_CAP_BYTES",
    "PRECISIONS",
    "WEIGHTS_CAP_BYTES",
    "Snapshot",
    "SnapshotError",
    "configured",
    "read_manifest",
]
