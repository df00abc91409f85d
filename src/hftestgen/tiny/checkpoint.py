"""Tiny checkpoints as files: ``hftestgen tiny MODEL_TYPE [--class C] --save DIR``.

Writes the tiny model the generated suite builds (the same config, records, seed 0) with
``save_pretrained`` in safetensors form, so plain ``AutoModel*.from_pretrained(DIR)`` loads it
offline, together with the type's synthesized preprocessing
(``hftestgen.preprocess.build.preprocessing_for``): the composite processor when there is one,
else each built part (tokenizer, image processor, feature extractor, video processor), so
``pipeline(task, model=DIR)`` works from raw input. Config values the preprocessing needs
(``Preprocessing.config_overrides``, e.g. a vocabulary larger than the tiny one) are applied to
the model build.

The folder is written next to its destination and renamed into place: an existing, non-empty
folder is never touched (a usage error), a failed build leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

PARTS = ("tokenizer", "image_processor", "feature_extractor", "video_processor")
"""The preprocessing parts saved one by one when the type has no composite processor."""


@dataclass(frozen=True)
class Saved:
    path: Path
    model_type: str
    class_name: str
    files: tuple[str, ...]
    parameters: int
    preprocessing: tuple[str, ...] = ()  # the kinds written ("processor" or the parts)
    skipped: dict[str, str] = field(default_factory=dict)  # kind -> why it was not built
    errors: dict[str, str] = field(default_factory=dict)  # kind -> what failed


def tiny_target(registry: Any, model_type: str, class_name: str | None) -> tuple[Any, str]:
    """The spec and model class ``hftestgen tiny`` / ``hf_tiny`` build for ``model_type``
    (default: its primary class). Unknown or untestable type, unknown class: ``UsageError``."""
    spec = registry.resolve(model_type)  # unknown: names close matches and 'hftestgen list'
    if spec.status not in ("testable", "skipped"):
        raise UsageError(f"{spec.model_type!r} is {spec.status}: {spec.reason}")
    classes = spec.all_classes()
    name = class_name or (classes[0] if classes else None)
    if name is None or name not in classes:
        raise UsageError(
            f"{spec.model_type!r} has no model class {class_name!r}; its classes: "
            f"{', '.join(classes) or 'none'}"
        )
    return spec, name


def _preprocessing(model_type: str, config: Any) -> Any:
    """The type's synthesized preprocessing, or None where this hftestgen has none yet."""
    try:
        from ..preprocess.build import preprocessing_for
    except ImportError:  # the synthesis is not part of this hftestgen yet
        return None
    return preprocessing_for(model_type, config)


def save_preprocessing(pre: Any, out: Path) -> tuple[str, ...]:
    """``save_pretrained`` the processor if there is one, else each built part; the kinds
    written."""
    if pre is None:
        return ()
    if pre.processor is not None:
        pre.processor.save_pretrained(out)
        return ("processor",)
    written = []
    for kind in PARTS:
        part = getattr(pre, kind, None)
        if part is not None:
            part.save_pretrained(out)
            written.append(kind)
    return tuple(written)


def save_tiny(
    model_type: str,
    class_name: str,
    out: Path,
    tiny: dict | None = None,
    preprocessing: bool = True,
) -> Saved:
    """Build ``class_name`` of ``model_type`` tiny and save it, with its preprocessing unless
    ``preprocessing`` is false, into the new folder ``out``."""
    from .engine import build

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(
            f"{str(out)!r} exists and is not an empty folder; choose a new folder for the "
            "checkpoint (nothing was written)"
        )
    built = build(model_type, class_name, tiny=tiny)
    pre = _preprocessing(model_type, built.config) if preprocessing else None
    if pre is not None and pre.config_overrides:
        built = build(model_type, class_name, tiny={**(tiny or {}), **pre.config_overrides})
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=parent))
    try:
        built.model.save_pretrained(tmp, safe_serialization=True)
        if not any(p.suffix == ".safetensors" for p in tmp.iterdir()):
            raise UsageError(f"{class_name}: save_pretrained wrote no .safetensors file")
        kinds = save_preprocessing(pre, tmp)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = tuple(sorted(p.name for p in out.iterdir()))
    n = sum(p.numel() for p in built.model.parameters())
    return Saved(
        out,
        model_type,
        class_name,
        files,
        n,
        preprocessing=kinds,
        skipped=dict(pre.skipped) if pre is not None else {},
        errors=dict(pre.errors) if pre is not None else {},
    )
