"""Audio inputs: raw waveforms (``input_values`` and kin) and spectrogram features
(``input_features`` with their masks)."""

from __future__ import annotations

import math

import torch

from ._cfg import _int, find_attr, sub
from .context import Ctx, _has_audio

RAW_AUDIO_MAINS = ("input_values", "audio_values", "input_audio", "raw_audio")


def _raw_audio(c: Ctx) -> torch.Tensor:
    cfg = c.cfg
    n = c.k.get("audio_len")
    if n is None:
        strides = find_attr(
            cfg,
            ["conv_stride", "downsampling_ratios", "upsampling_ratios"],
            prefer=("audio_config", "encoder_config"),
        )
        prod = math.prod(strides) if isinstance(strides, (list, tuple)) and strides else 320
        n = max(1024, prod * 20)
    ch = (
        c.k.get("audio_channels")
        or c.k.get("audio_3d")
        or find_attr(cfg, ["audio_channels"], prefer=("audio_config",))
    )
    if ch:
        return c.randn([c.B, int(ch), int(n)])
    return c.randn([c.B, int(n)])


def _feature_bins(c: Ctx, ac) -> int:
    bins = c.k.get("feature_bins")
    if bins is None:
        per = find_attr(ac, ["input_feat_per_channel"], prefer=())
        if per:
            bins = per * _int(find_attr(ac, ["input_channels"], prefer=()), 1)
        else:
            bins = _int(
                find_attr(
                    ac,
                    [
                        "feature_projection_input_dim",
                        "num_mel_bins",
                        "feature_size",
                        "n_mels",
                        "input_dim",
                        "mel_bins",
                    ],
                    prefer=(),
                ),
                80,
            )
    return bins


def _features_layout(c: Ctx, ac) -> str:
    """``BFT`` (mel bins first: Whisper-like encoders with max_source_positions and num_mel_bins)
    or ``BTF``; the knob fixes it, ``flip`` (a probe variant) swaps the derived one."""
    layout = c.k.get("features_layout")
    flip = layout == "flip"
    if layout is None or flip:
        msp = find_attr(ac, ["max_source_positions"], prefer=())
        layout = "BFT" if msp and find_attr(ac, ["num_mel_bins"], prefer=()) else "BTF"
        if flip:
            layout = "BTF" if layout == "BFT" else "BFT"
    return layout


def _features(c: Ctx) -> torch.Tensor:
    ac = sub(c.cfg, "audio_config", "encoder_config", "speech_config") or c.cfg
    bins = _feature_bins(c, ac)
    layout = _features_layout(c, ac)
    msp = find_attr(ac, ["max_source_positions"], prefer=())
    frames = c.k.get("feature_frames")
    if frames is None:
        frames = 2 * msp if (layout == "BFT" and msp) else 64
    shape = [c.B, int(bins), int(frames)] if layout == "BFT" else [c.B, int(frames), int(bins)]
    c.b._calib["feature_bins"] = int(bins)
    return c.randn(shape)


def _feature_len(c, feats) -> int:
    """Frames of an input_features tensor (B, bins, frames) or (B, frames, bins)."""
    bins = c.b._calib.get("feature_bins")
    if bins is not None:
        return feats.shape[1] if feats.shape[2] == bins else feats.shape[2]
    return (
        feats.shape[-1]
        if feats.shape[1] != feats.shape[-1] and feats.shape[1] in (80, 128)
        else feats.shape[1]
    )


def add_audio_inputs(c: Ctx, main: str, out: dict) -> None:
    """A waveform when it is the main input (or an audio LLM takes ``input_values``), features
    with their frame masks when they are (or an audio LLM takes ``input_features``)."""
    sig = c.sig
    from_text = main == "input_ids" and _has_audio(c.cfg)
    if main in RAW_AUDIO_MAINS or (from_text and "input_values" in sig):
        key = main if main != "input_ids" else "input_values"
        out[key] = _raw_audio(c)
    if main == "input_features" or (from_text and "input_features" in sig):
        feats = out["input_features"] = _features(c)
        for mask in ("feature_attention_mask", "input_features_mask"):
            if mask in sig and not c.dropped(mask):
                out[mask] = torch.ones(feats.shape[0], _feature_len(c, feats), dtype=torch.long)


AUDIO_MAINS = (*RAW_AUDIO_MAINS, "input_features")


def audio_time_axis(built, inputs: dict) -> tuple[str, int] | None:
    """(input name, time axis) of the audio time series a model's inputs lead with: its main
    input (``main_input_name``) when that is a floating waveform (time last: ``(B, T)`` or
    ``(B, C, T)``) or spectrogram features (time is the axis that is not the feature bins the
    synthesis chose: ``(B, bins, T)`` or ``(B, T, bins)``); None for any other main input."""
    main = getattr(built.model, "main_input_name", None)
    if isinstance(main, (list, tuple)):
        main = main[0] if main else None
    x = inputs.get(main) if main in AUDIO_MAINS else None
    if main in ((getattr(built, "input_knobs", None) or {}).get("extra") or {}):
        return None  # a shape the type's record fixes (hidden states, a spectrogram): no rule
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2:
        return None
    if main in RAW_AUDIO_MAINS:
        return main, x.ndim - 1
    if x.ndim != 3:
        return None
    bins = built._calib.get("feature_bins")
    if bins is None:
        return None
    return main, 1 if x.shape[2] == bins else 2
