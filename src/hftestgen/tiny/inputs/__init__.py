"""Input synthesis from ``main_input_name``, the forward signature and the config.

``make_inputs`` assembles them in steps, one module per concern: ``vision`` (pixels), ``audio``,
``time_series``, ``text`` (ids, masks, embeddings, decoder ids), ``labels`` (per task head) and
``knobs`` (tensors the record names); ``context`` holds the seeded ``Ctx``, and the probe and
placeholder calibration below run the model to settle what the config cannot say. The order of
the steps is the order of the random draws: keep it.

Knobs (``inputs`` table of the TOML data) adjust the general rules for one type:

    seq_len = 7              text length (before placeholder tokens)
    image_size = 32          | [h, w]
    num_channels = 3
    num_frames = 4           video frames (of pixel_values_videos too: vision.video_frames)
    audio_len = 1024         raw audio samples
    feature_frames = 60      frames of input_features
    features_layout = "BFT"  | "BTF"  (mel bins first or last)
    decoder_len = 5
    image_tokens = 4         placeholder tokens per sample (else calibrated; video_tokens too)
    video_inputs = false     no pixel_values_videos (else one video per sample, next to the
                             image, where forward takes one: vision.takes_video)
    image_prefix_tokens = ["vision_start_token_id"]   config tokens before the image tokens
                             (video_prefix_tokens, video_suffix_tokens: around the video tokens)
    video_placeholder = "image_token_id"   the config field whose id marks video placeholders
                             (else video_token_id / video_token_index)
    drop = ["name", ...]     never pass these
    extra = { name = {shape = ["B", 3], dtype = "long", high = 4, fill = 1} }   extra tensors
                             (dtype also: bool, rand, box, fbox, arange = 0..n-1 row-major)
    extra = { name = {fields = { f = {...}, ... }} }   nested: a dict of such tensors, built as the
                             dataclass that forward() annotates ``name`` with when it is one
    label_extra = { name = {...} }   like extra, only in labelled inputs, after (and over) the
                             synthesized labels: adds label tensors or replaces ``labels``
    pixel_key = "pixel_values"  (default: the first of context.PIXEL_NAMES forward takes)
    no_padding = true        attention mask all ones
    packed_pixels = false    keep images unpacked where forward takes target_sizes (else NaViT-packed
                             as (1, C, patch, n_patches*patch))
    grid = 4                 patches per image side | [h, w], for grid-flattened pixels and layouts
    pixel_layout = "patches" pixel_values as pre-cut patches, derived from the vision config:
                             patch-rows, patches, patches-last, patch-sequence, merge-windows-last,
                             image-patches (vision.PIXEL_LAYOUTS)
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import torch

from ..errors import TinyError, short
from ._cfg import _int, find_attr, special_ids, sub, text_cfg, vision_cfg
from .audio import _features, _raw_audio, add_audio_inputs, audio_time_axis
from .context import MAX_PROBES, SEQ, VARIANTS, Ctx, _has_vision, _required, _sig, main_input
from .knobs import add_extras, safe_eval
from .labels import PER_FRAME_LABEL_TASKS, labels_for
from .text import _placeholder_id, add_decoder_inputs, add_embeds, text_inputs
from .time_series import time_series_inputs
from .vision import (
    _pixels,
    add_masked_patches,
    add_pixel_inputs,
    add_pixel_layout,
    takes_video,
    video_inputs,
)

__all__ = [
    "PER_FRAME_LABEL_TASKS",
    "make_inputs",
    "audio_time_axis",
    "safe_eval",
    "special_ids",
    "find_attr",
    "sub",
    "text_cfg",
    "vision_cfg",
]

_PLACEHOLDER_ID_ERR = re.compile(
    r"Got (\d+) feature vectors for (\d+) placeholder tokens \(id (\d+)\)"
)
_PLACEHOLDER_ERR = re.compile(
    r"(Image|Video|Audio)?s? ?features and (image|video|audio)? ?tokens do not match[,:]? tokens: (\d+),? features:? (\d+)",
    re.I,
)


def make_inputs(built, batch_size=2, seed=0, labels=False) -> dict:
    try:
        if "variant" not in built._calib:
            _probe(built, batch_size)
        return _make(built, batch_size, seed, labels)
    except TinyError:
        raise
    except Exception as e:
        raise TinyError("input-synthesis", f"{built.class_name}: {short(e)}") from e


# --------------------------------------------------------------------------------------
# assembly


def _wants_text(c: Ctx, main: str) -> bool:
    """Token ids go in: the main input, required, or the model has a text tower (or the knob)."""
    sig = c.sig
    return main == "input_ids" or (
        "input_ids" in sig
        and (
            _required(sig, "input_ids")
            or sub(c.cfg, "text_config", "qformer_config", "text_encoder") is not None
            or c.k.get("text", False)
        )
    )


def _add_text(c: Ctx, main: str, out: dict, wants_text: bool, mc: bool) -> None:
    """Token ids with as many placeholder tokens as the image/audio features fill."""
    if wants_text:
        n_img = _placeholder_count(c, "image")
        n_aud = (
            _placeholder_count(c, "audio")
            if ("input_features" in out or "input_values" in out)
            else 0
        )
        n_vid = _placeholder_count(c, "video")
        out.update(text_inputs(c, mc, n_img, n_aud, n_vid))
    elif "input_ids" in c.sig and main in ("pixel_values",) and c.k.get("text", False):
        out.update(text_inputs(c, mc, 0))


def _fill_required(c: Ctx, out: dict, mc: bool) -> None:
    """Required forward arguments still missing, by well-known name."""
    for name, p in c.sig.items():
        if (
            name in out
            or p.default is not inspect.Parameter.empty
            or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ):
            continue
        if c.dropped(name) or c.from_knobs(name):
            continue
        if name == "input_features":
            out[name] = _features(c)
        elif name in ("input_values", "audio_values"):
            out[name] = _raw_audio(c)
        elif name == "pixel_values":
            out[name] = _pixels(c, name)
        elif name == "input_ids" and "input_ids" not in out:
            out.update(text_inputs(c, mc, 0))
        elif name in ("hidden_states", "inputs_embeds", "inputs"):
            hid = _int(find_attr(text_cfg(c.cfg), ["hidden_size", "d_model"]), 32)
            out[name] = c.randn([c.B, int(c.k.get("seq_len", SEQ)), hid])
        elif name.endswith("mask") and out:
            ref = next(iter(out.values()))
            if isinstance(ref, torch.Tensor) and ref.dim() >= 2:
                out[name] = torch.ones(ref.shape[0], ref.shape[1], dtype=torch.bool)


def _make(built, B, seed, labels) -> dict:
    """One set of inputs. Each step draws from the one seeded generator, in this order."""
    c = Ctx(built, B, seed)
    main = main_input(built.model, c.sig)
    mc = "multiple_choice" in built.tasks
    out: dict[str, Any] = {}
    wants_text = _wants_text(c, main)
    add_pixel_inputs(c, main, out)
    add_audio_inputs(c, main, out)
    if main == "past_values":
        out.update(time_series_inputs(c, labels))
    if add_embeds(c, main, out):
        wants_text = False
    _add_text(c, main, out, wants_text, mc)
    _fill_required(c, out, mc)
    if _video_on(c, main) and "input_ids" in out:  # the video's placeholders are in the text
        out.update(video_inputs(c))
    add_decoder_inputs(c, out)
    add_masked_patches(c, out)
    add_pixel_layout(c, out)
    add_extras(c, out)
    if labels:
        out.update(labels_for(c, out))
        add_extras(c, out, "label_extra")
    for d in c.k.get("drop", []):
        out.pop(d, None)
    return out


# --------------------------------------------------------------------------------------
# probe: the input layout, chosen once per model


def _forward_ok(built, inp) -> bool:
    try:
        with torch.no_grad():
            built.model(**inp)
        return True
    except Exception:
        return False


def _variant_fits(built, var: dict, base: dict) -> bool:
    """A variant worth trying: it changes something the base inputs have, and no knob of the
    type's data already fixes what it would change."""
    sig = _sig(built.model)
    px = base.get("pixel_values")
    fits = {
        "pixel_5d": lambda: px is not None and px.dim() == 4,
        "features_layout": lambda: "input_features" in base,
        "image_sizes": lambda: (
            px is not None and "image_sizes" not in base and "image_sizes" in sig
        ),
        "no_frames": lambda: px is not None and px.dim() == 5,
        "embeds": lambda: "input_ids" in base and "inputs_embeds" in sig,
        "decoder": lambda: "decoder_input_ids" not in base and "decoder_input_ids" in sig,
        "audio_3d": lambda: "input_values" in base and base["input_values"].dim() == 2,
        "image_size": lambda: px is not None,
        "seq_len": lambda: "input_ids" in base,
    }
    if not all(fits[k]() for k in var if k in fits):
        return False
    return not any(k in built.input_knobs for k in var)


def _clear_counts(built) -> None:
    """Forget the calibrated placeholder counts (they depend on the layout)."""
    for k in [k for k in built._calib if isinstance(k, tuple)]:
        built._calib.pop(k)


def _probe(built, B) -> None:
    """Choose the input layout once: the general default, else the first variant that runs."""
    built._calib["variant"] = {}
    if built.input_knobs.get("no_probe"):
        return
    base = _make(built, B, 0, False)
    if _forward_ok(built, base):
        return
    tried = 0
    for var in VARIANTS:
        if not _variant_fits(built, var, base):
            continue
        built._calib["variant"] = var
        _clear_counts(built)
        tried += 1
        try:
            ok = _forward_ok(built, _make(built, B, 0, False))
        except Exception:
            ok = False
        if ok:
            return
        if tried >= MAX_PROBES:
            break
    built._calib["variant"] = {}
    _clear_counts(built)


# --------------------------------------------------------------------------------------
# placeholder calibration: how many image/audio tokens the features fill


def _video_on(c: Ctx, main: str) -> bool:
    """Video goes in (``vision.takes_video``), except while the image or audio placeholder count
    is being calibrated: each kind is calibrated alone, video after the others."""
    return takes_video(c, main) and c.b._calib.get("calibrating", "video") == "video"


def _placeholder_count(c: Ctx, kind: str) -> int:
    if kind == "video" and not _video_on(c, main_input(c.b.model, c.sig)):
        return 0
    if kind == "image" and not (c.pixel_key() in c.sig and _has_vision(c.cfg, "input_ids")):
        return 0
    if kind == "audio" and not ("input_features" in c.sig or "input_values" in c.sig):
        return 0
    if _placeholder_id(c, kind) is None:
        return 0
    if f"{kind}_tokens" in c.k:
        return int(c.k[f"{kind}_tokens"])
    key = (kind, c.B)
    if key in c.b._calib:
        return c.b._calib[key]
    n = _calibrate(c, kind)
    c.b._calib[key] = n
    return n


def _count_features(obj) -> int | None:
    """Placeholder positions a get_*_features output fills (last dim is the hidden size)."""
    if obj is None:
        return None
    if isinstance(obj, torch.Tensor):
        if obj.dim() >= 2:
            return int(obj.numel() // obj.shape[-1])
        return None
    if isinstance(obj, (list, tuple)):
        if isinstance(obj, tuple) and obj and not all(isinstance(o, torch.Tensor) for o in obj):
            # (features, extra): the features come first, the rest describes them (4.57
            # VideoLlavaModel.get_video_features returns (video_features, num_frames))
            return _count_features(obj[0])
        counts = [_count_features(o) for o in obj]
        if counts and all(x is not None for x in counts):
            return sum(counts)
        return None
    for attr in ("pooler_output", "image_embeds", "audio_embeds", "last_hidden_state"):
        v = getattr(obj, attr, None)
        if v is not None:
            return _count_features(v)
    return None


def _spy_features(model, kind: str, seen: list) -> list:
    """Record every ``get_<kind>_features`` result in ``seen``; the patched modules."""
    patched = []
    for mod in model.modules():
        fn = getattr(mod, f"get_{kind}_features", None)
        if fn is None or not callable(fn):
            continue

        def wrapper(*a, __fn=fn, **kw):
            r = __fn(*a, **kw)
            seen.append(r)
            return r

        mod.__dict__[f"get_{kind}_features"] = wrapper
        patched.append(mod)
    return patched


def _error_total(c: Ctx, kind: str, msg: str) -> int | None:
    """The feature count a placeholder-mismatch error reports for ``kind`` (None when the error
    is another one, or about another kind of placeholder)."""
    m = _PLACEHOLDER_ERR.search(msg)
    if m and (m.group(1) or m.group(2) or kind).lower() == kind:
        return int(m.group(4))
    m = _PLACEHOLDER_ID_ERR.search(msg)
    if m and int(m.group(3)) == _placeholder_id(c, kind):
        return int(m.group(1))
    return None


def _calibrate(c: Ctx, kind: str) -> int:
    """Run the model once with 1 placeholder per sample; count what get_<kind>_features returns.

    Rule 'placeholders fill the features': the count follows the features the model computed,
    also when the forward ran: a forward that scatters features into the placeholders without
    checking their number (4.x ``masked_scatter`` merges: Idefics2, GraniteSpeech) runs with too
    few placeholders, each sample then reading the first sample's features. A count the features
    suggest but the model refuses falls back to the last one that ran. When the features already
    match and the forward still refuses, the count its placeholder-mismatch error reports wins
    (4.x LlavaOnevision appends a newline feature per video after get_video_features)."""
    seen: list = []
    patched = _spy_features(c.b.model, kind, seen)
    n = 1
    ran: int | None = None
    outer = c.b._calib.get("calibrating")
    c.b._calib["calibrating"] = kind
    try:
        for _ in range(4):
            c.b._calib[(kind, c.B)] = n
            seen.clear()
            inp = _make(c.b, c.B, 0, False)
            try:
                with torch.no_grad():
                    c.b.model(**inp)
            except Exception as e:
                total = _count_features(seen[0]) if seen else None
                if total is None or (total % c.B == 0 and total // c.B == n):
                    total = _error_total(c, kind, str(e))
                if total is None or total % c.B or total // c.B == n:
                    return n if ran is None else ran
                n = total // c.B
                continue
            ran = n
            total = _count_features(seen[0]) if seen else None
            if total is None or total % c.B or total // c.B == n:
                return n
            n = total // c.B
        return n if ran is None else ran
    finally:
        if outer is None:
            c.b._calib.pop("calibrating", None)
        else:
            c.b._calib["calibrating"] = outer
        for mod in patched:
            mod.__dict__.pop(f"get_{kind}_features", None)
