"""Which preprocessing classes the installed Transformers maps a model type to.

Feature detection over version strings: Transformers 4.x maps tokenizers to (slow, fast) name
pairs and image processors to (slow, fast); 5.x maps tokenizers to one name and image / video
processors to {backend: name} dicts ("pil", "torchvision")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PreprocessingSpec:
    """The preprocessing class names of one model type (None: not mapped)."""

    model_type: str
    tokenizer: str | None = None
    image_processor: str | None = None
    feature_extractor: str | None = None
    video_processor: str | None = None
    processor: str | None = None
    torchvision_only: tuple[str, ...] = ()
    """Mapped classes that exist only with a torchvision backend (skipped here)."""

    def as_dict(self) -> dict[str, str]:
        from . import KINDS

        return {k: getattr(self, k) for k in KINDS if getattr(self, k)}


def _pick(value: Any, prefer: tuple[str, ...]) -> tuple[str | None, bool]:
    """One class name from a mapping value: a name, a (slow, fast) pair or a {backend: name}
    dict. Returns (name, torchvision_only)."""
    if value is None:
        return None, False
    if isinstance(value, str):
        return value, False
    if isinstance(value, dict):
        for k in prefer:
            if value.get(k):
                return value[k], False
        tv = value.get("torchvision")
        return (tv, True) if tv else (None, False)
    names = [v for v in value if v]
    return (names[-1] if names else None), False  # 4.x (slow, fast): the fast class


def _mappings() -> dict[str, dict]:
    out: dict[str, dict] = {}
    from importlib import import_module

    for kind, (module, attr) in {
        "tokenizer": ("tokenization_auto", "TOKENIZER_MAPPING_NAMES"),
        "image_processor": ("image_processing_auto", "IMAGE_PROCESSOR_MAPPING_NAMES"),
        "feature_extractor": ("feature_extraction_auto", "FEATURE_EXTRACTOR_MAPPING_NAMES"),
        "video_processor": ("video_processing_auto", "VIDEO_PROCESSOR_MAPPING_NAMES"),
        "processor": ("processing_auto", "PROCESSOR_MAPPING_NAMES"),
    }.items():
        try:
            out[kind] = dict(getattr(import_module(f"transformers.models.auto.{module}"), attr))
        except (ImportError, AttributeError):  # a release without that kind of class
            out[kind] = {}
    return out


_CACHE: list[dict[str, dict]] = []


def spec_for(model_type: str) -> PreprocessingSpec:
    if not _CACHE:
        _CACHE.append(_mappings())
    maps = _CACHE[0]
    names: dict[str, str | None] = {}
    tv_only: list[str] = []
    for kind, mapping in maps.items():
        name, tv = _pick(mapping.get(model_type), ("pil", "slow"))
        names[kind] = name
        if tv and name:
            tv_only.append(name)
    return PreprocessingSpec(model_type, torchvision_only=tuple(tv_only), **names)
