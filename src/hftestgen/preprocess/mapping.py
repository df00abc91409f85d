"""Which preprocessing classes the installed Transformers maps a model type to.

Feature detection over version strings: Transformers 4.x maps tokenizers to (slow, fast) name
pairs and image processors to (slow, fast); 5.x maps tokenizers to one name and image / video
processors to {backend: name} dicts ("pil", "torchvision")."""

from __future__ import annotations

from dataclasses import dataclass


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


def spec_for(model_type: str) -> PreprocessingSpec:  # implemented in the preprocessing branch
    raise NotImplementedError
