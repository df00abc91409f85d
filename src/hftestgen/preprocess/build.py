"""``preprocessing_for(model_type, config)``: all of a type's tiny preprocessing, cached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Preprocessing:
    """One type's synthesized preprocessing. ``None`` where not mapped; ``skipped`` names why a
    mapped kind was not built; ``config_overrides`` are config values the preprocessing needs
    the model built with (a fixed-vocabulary tokenizer larger than the tiny vocab)."""

    model_type: str
    tokenizer: Any = None
    image_processor: Any = None
    feature_extractor: Any = None
    video_processor: Any = None
    processor: Any = None
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    config_overrides: dict[str, Any] = field(default_factory=dict)
