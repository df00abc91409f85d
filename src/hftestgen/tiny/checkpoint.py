"""Tiny checkpoints as files: ``hftestgen tiny MODEL_TYPE [--class C] --save DIR``.

Writes the tiny model the generated suite builds (the same config, records, seed 0) with
``save_pretrained`` in safetensors form, so plain ``AutoModel*.from_pretrained(DIR)`` loads it
offline. The folder is written next to its destination and renamed into place: an existing,
non-empty folder is never touched (a usage error), a failed build leaves nothing behind.

Preprocessing files (tokenizer, image processor, feature extractor, processor) are not written
yet: synthesizing them offline is the open part of the "end to end from raw input" issue.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError


@dataclass(frozen=True)
class Saved:
    path: Path
    model_type: str
    class_name: str
    files: tuple[str, ...]
    parameters: int


def save_tiny(model_type: str, class_name: str, out: Path, tiny: dict | None = None) -> Saved:
    """Build ``class_name`` of ``model_type`` tiny and save it into the new folder ``out``."""
    from .engine import build

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(
            f"{str(out)!r} exists and is not an empty folder; choose a new folder for the "
            "checkpoint (nothing was written)"
        )
    built = build(model_type, class_name, tiny=tiny)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=parent))
    try:
        built.model.save_pretrained(tmp, safe_serialization=True)
        if not any(p.suffix == ".safetensors" for p in tmp.iterdir()):
            raise UsageError(f"{class_name}: save_pretrained wrote no .safetensors file")
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = tuple(sorted(p.name for p in out.iterdir()))
    n = sum(p.numel() for p in built.model.parameters())
    return Saved(out, model_type, class_name, files, n)
