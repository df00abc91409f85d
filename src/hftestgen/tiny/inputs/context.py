"""The synthesis context (``Ctx``: model, config, knobs, seeded generator, forward signature),
the layout variants the probe may choose, and the predicates every modality shares."""

from __future__ import annotations

import inspect

import torch

from ._cfg import find_attr, sub

SEQ = 7
"""Text length (before placeholder tokens) unless ``seq_len`` says otherwise."""
DEC = 5
"""Decoder length unless ``decoder_len`` says otherwise."""

VARIANTS = (
    {"no_frames": True},
    {"pixel_5d": 1},
    {"pixel_5d": 2},
    {"features_layout": "flip"},
    {"audio_3d": 1},
    {"image_sizes": True},
    {"decoder": True},
    {"embeds": True},
    {"image_size": 64},
    {"image_size": 224},
    {"no_padding": True},
    {"seq_len": 16},
)
"""Knob sets the probe tries, in order, when the general layout does not run."""
MAX_PROBES = 6

PIXEL_NAMES = ("pixel_values", "image_patches")
"""Names a forward takes its images under, the current one first (rule 'pixels under the
installed name'): Transformers 4.x Fuyu's forward takes its pre-cut patches as
``image_patches`` and has no ``pixel_values`` (5.x renamed it), so pixels passed as
``pixel_values`` would vanish into its ``**kwargs``."""


def _sig(model) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return {}


class Ctx:
    def __init__(self, built, batch_size, seed):
        self.b = built
        self.cfg = built.config
        self.B = batch_size
        self.g = torch.Generator().manual_seed(seed)
        self.k = {**built.input_knobs, **built._calib.get("variant", {})}
        self.sig = _sig(built.model)

    def randint(self, low, high, shape):
        high = max(high, low + 1)
        return torch.randint(low, high, tuple(shape), generator=self.g)

    def randn(self, shape):
        return torch.randn(tuple(shape), generator=self.g)

    def rand(self, shape):
        return torch.rand(tuple(shape), generator=self.g)

    def pixel_key(self) -> str | None:
        """The name the pixels go under: the ``pixel_key`` knob, else the first of
        ``PIXEL_NAMES`` forward takes (None: it takes none)."""
        return self.k.get("pixel_key") or next((n for n in PIXEL_NAMES if n in self.sig), None)

    def from_knobs(self, name: str) -> bool:
        """``name`` comes from the type's knobs: ``extra``, or ``pixel_layout`` for the pixels."""
        if name in (self.k.get("extra") or {}):
            return True
        return bool(self.k.get("pixel_layout")) and name == (self.pixel_key() or "pixel_values")

    def dropped(self, name: str) -> bool:
        """The ``drop`` knob names ``name``: never pass it."""
        return name in self.k.get("drop", [])


def main_input(model, sig: dict) -> str:
    """The input that carries the modality: ``main_input_name`` when forward takes it, else the
    first required parameter (``input_ids`` when forward takes it and nothing is required)."""
    main = getattr(model, "main_input_name", "input_ids") or "input_ids"
    if isinstance(
        main, (list, tuple)
    ):  # several main inputs (OneFormer): the first is the modality
        main = main[0] if main else "input_ids"
    if main not in sig:
        req = [
            n
            for n, p in sig.items()
            if p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        main = "input_ids" if "input_ids" in sig and not req else (req[0] if req else main)
    return main


def _required(sig, name) -> bool:
    p = sig.get(name)
    return p is not None and p.default is inspect.Parameter.empty


def _has_vision(cfg, main) -> bool:
    return main == "input_ids" and (
        sub(cfg, "vision_config", "vision_encoder_config", "image_config", "visual_config")
        is not None
        or find_attr(cfg, ["image_size"], prefer=("vision_config",)) is not None
    )


def _has_audio(cfg) -> bool:
    return (
        sub(cfg, "audio_config", "audio_encoder_config", "speech_config", "encoder_config")
        is not None
    )
