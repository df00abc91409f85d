"""Input synthesis from ``main_input_name``, the forward signature and the config.

Knobs (``inputs`` table of the TOML data) adjust the general rules for one type:

    seq_len = 7              text length (before placeholder tokens)
    image_size = 32          | [h, w]
    num_channels = 3
    num_frames = 4           video frames
    audio_len = 1024         raw audio samples
    feature_frames = 60      frames of input_features
    features_layout = "BFT"  | "BTF"  (mel bins first or last)
    decoder_len = 5
    image_tokens = 4         placeholder tokens per sample (else calibrated)
    drop = ["name", ...]     never pass these
    extra = { name = {shape = ["B", 3], dtype = "long", high = 4, fill = 1} }   extra tensors
                             (dtype also: bool, rand, box, fbox, arange = 0..n-1 row-major)
    extra = { name = {fields = { f = {...}, ... }} }   nested: a dict of such tensors, built as the
                             dataclass that forward() annotates ``name`` with when it is one
    label_extra = { name = {...} }   like extra, only in labelled inputs, after (and over) the
                             synthesized labels: adds label tensors or replaces ``labels``
    pixel_key = "pixel_values"
    no_padding = true        attention mask all ones
    packed_pixels = true     pixel_values packed NaViT-style as (1, C, patch, n_patches*patch) with target_sizes
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import re
import typing
from typing import Any

import torch

from .errors import TinyError, short

SEQ = 7
DEC = 5

_PLACEHOLDER_ERR = re.compile(
    r"(Image|Video|Audio)? ?features and (image|video|audio)? ?tokens do not match,? tokens: (\d+),? features:? (\d+)",
    re.I,
)


def _sig(model) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return {}


def _subcfgs(cfg) -> list:
    from transformers import PretrainedConfig

    return [v for k, v in vars(cfg).items() if isinstance(v, PretrainedConfig)]


def find_attr(cfg, names, prefer=("text_config", "decoder", "language_config", "llm_config", "text_encoder"), default=None, depth=0):
    """First attribute among ``names`` on cfg, else in preferred then other sub-configs."""
    for n in names:
        v = getattr(cfg, n, None)
        if v is not None and not callable(v):
            return v
    if depth > 3:
        return default
    from transformers import PretrainedConfig

    subs = []
    for k in prefer:
        v = getattr(cfg, k, None)
        if isinstance(v, PretrainedConfig):
            subs.append(v)
    subs += [s for s in _subcfgs(cfg) if s not in subs]
    for s in subs:
        v = find_attr(s, names, prefer, None, depth + 1)
        if v is not None:
            return v
    return default


def sub(cfg, *keys):
    for k in keys:
        v = getattr(cfg, k, None)
        if v is not None and not isinstance(v, (int, float, str, list, dict, bool)):
            return v
    return None


def text_cfg(cfg):
    try:
        t = cfg.get_text_config(decoder=True)
        if t is not None:
            return t
    except Exception:
        pass
    return sub(cfg, "text_config") or cfg


def vision_cfg(cfg):
    return sub(cfg, "vision_config", "vision_encoder_config", "image_config", "backbone_config", "encoder") or cfg


def special_ids(cfg, depth=0) -> set[int]:
    out: set[int] = set()
    for k, v in vars(cfg).items():
        if re.search(r"(_token_id|_token_index|_token_ids|_token)$", k) and "type" not in k:
            for x in v if isinstance(v, (list, tuple)) else [v]:
                if isinstance(x, int) and not isinstance(x, bool):
                    out.add(x)
    if depth < 3:
        for s in _subcfgs(cfg):
            out |= special_ids(s, depth + 1)
    return out


def _int(v, default):
    if isinstance(v, (list, tuple)) and v:
        v = v[0]
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else default


def _hw(v, default=32):
    if isinstance(v, (list, tuple)) and len(v) >= 2:
        return int(v[-2]), int(v[-1])
    if isinstance(v, dict):
        return int(v.get("height", default)), int(v.get("width", default))
    v = _int(v, default)
    return v, v


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


# --------------------------------------------------------------------------------------


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
MAX_PROBES = 6


def make_inputs(built, batch_size=2, seed=0, labels=False) -> dict:
    try:
        if "variant" not in built._calib:
            _probe(built, batch_size)
        return _make(built, batch_size, seed, labels)
    except TinyError:
        raise
    except Exception as e:
        raise TinyError("input-synthesis", f"{built.class_name}: {short(e)}") from e


def _forward_ok(built, inp) -> bool:
    try:
        with torch.no_grad():
            built.model(**inp)
        return True
    except Exception:
        return False


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
        if "pixel_5d" in var and ("pixel_values" not in base or base["pixel_values"].dim() != 4):
            continue
        if "features_layout" in var and "input_features" not in base:
            continue
        if "image_sizes" in var and ("pixel_values" not in base or "image_sizes" in base or "image_sizes" not in _sig(built.model)):
            continue
        if "no_frames" in var and ("pixel_values" not in base or base["pixel_values"].dim() != 5):
            continue
        if "embeds" in var and ("input_ids" not in base or "inputs_embeds" not in _sig(built.model)):
            continue
        if "decoder" in var and ("decoder_input_ids" in base or "decoder_input_ids" not in _sig(built.model)):
            continue
        if "audio_3d" in var and ("input_values" not in base or base["input_values"].dim() != 2):
            continue
        if "image_size" in var and "pixel_values" not in base:
            continue
        if "seq_len" in var and "input_ids" not in base:
            continue
        if any(k in built.input_knobs for k in var):
            continue
        built._calib["variant"] = var
        for k in [k for k in built._calib if isinstance(k, tuple)]:
            built._calib.pop(k)
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
    for k in [k for k in built._calib if isinstance(k, tuple)]:
        built._calib.pop(k)


def _make(built, B, seed, labels) -> dict:
    c = Ctx(built, B, seed)
    sig = c.sig
    cfg = c.cfg
    main = getattr(built.model, "main_input_name", "input_ids") or "input_ids"
    if isinstance(main, (list, tuple)):  # several main inputs (OneFormer): the first is the modality
        main = main[0] if main else "input_ids"
    if main not in sig:
        req = [n for n, p in sig.items() if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        main = "input_ids" if "input_ids" in sig and not req else (req[0] if req else main)
    out: dict[str, Any] = {}
    mc = "multiple_choice" in built.tasks

    # --- modality tensors ------------------------------------------------------------
    wants_text = main == "input_ids" or ("input_ids" in sig and (
        _required(sig, "input_ids") or sub(cfg, "text_config", "qformer_config", "text_encoder") is not None
        or c.k.get("text", False)))
    pixel_key = c.k.get("pixel_key") or ("pixel_values" if "pixel_values" in sig else None)
    if "image_grid_thw" in sig and (main == "pixel_values" or _has_vision(cfg, main)):
        out.update(_grid_pixels(c))
    elif "grid_thw" in sig and main in ("pixel_values", "hidden_states"):
        g = _grid_pixels(c)
        out[main] = g["pixel_values"]
        out["grid_thw"] = g["image_grid_thw"]
        if "merge_sizes" in sig:
            m = _int(find_attr(vision_cfg(cfg), ["spatial_merge_size", "merge_size"], prefer=()), 1)
            out["merge_sizes"] = torch.tensor([m] * c.B)
    elif "spatial_shapes" in sig and (main == "pixel_values" or _has_vision(cfg, main)):
        out.update(_patchified(c))
    elif main in ("pixel_values", "pixel_values_videos") or (pixel_key and _has_vision(cfg, main)):
        out[pixel_key or main] = _pixels(c, pixel_key or main)
    if "image_sizes" in sig and "pixel_values" in out and "image_sizes" not in c.k.get("drop", []) and (
        _required(sig, "image_sizes") or c.k.get("image_sizes") or find_attr(cfg, ["image_grid_pinpoints"]) is not None
    ):
        px = out["pixel_values"]
        out["image_sizes"] = torch.tensor([[px.shape[-2], px.shape[-1]]] * c.B)
    if "target_sizes" in sig and "pixel_values" in out and out["pixel_values"].dim() >= 4:
        vc = vision_cfg(cfg)
        ph, pw = _hw(find_attr(vc, ["patch_size"], prefer=()), 16)
        px = out["pixel_values"]
        out["target_sizes"] = torch.tensor([[px.shape[-2] // ph, px.shape[-1] // pw]] * px.shape[0], dtype=torch.int32)
        if c.k.get("packed_pixels") and px.dim() == 4:
            # NaViT-style packing: every image's patches side by side in one (1, C, ph, n*pw) strip
            n = px.shape[0] * (px.shape[-2] // ph) * (px.shape[-1] // pw)
            out["pixel_values"] = c.randn([1, px.shape[1], ph, n * pw])
    if main in ("input_values", "audio_values", "input_audio", "raw_audio") or (
        main == "input_ids" and "input_values" in sig and _has_audio(cfg)
    ):
        key = main if main != "input_ids" else "input_values"
        out[key] = _raw_audio(c)
    if main == "input_features" or (main == "input_ids" and "input_features" in sig and _has_audio(cfg)):
        out["input_features"] = _features(c)
        if "feature_attention_mask" in sig:
            out["feature_attention_mask"] = torch.ones(out["input_features"].shape[0], _feature_len(c, out["input_features"]), dtype=torch.long)
        if "input_features_mask" in sig and "input_features_mask" not in c.k.get("drop", []):
            out["input_features_mask"] = torch.ones(out["input_features"].shape[0], _feature_len(c, out["input_features"]), dtype=torch.long)
    if main == "past_values":
        out.update(_time_series(c, labels))
    if (main in ("inputs_embeds", "hidden_states") and main not in out) or c.k.get("embeds"):
        hid = _int(find_attr(text_cfg(cfg), ["hidden_size", "d_model", "n_embd"]), 32)
        S = int(c.k.get("seq_len", SEQ))
        key = "inputs_embeds" if c.k.get("embeds") else main
        out[key] = c.randn([c.B, S, hid])
        if "attention_mask" in sig and key == "inputs_embeds":
            out["attention_mask"] = torch.ones(c.B, S, dtype=torch.long)
        wants_text = False

    if wants_text:
        n_img = _placeholder_count(c, "image")
        n_aud = _placeholder_count(c, "audio") if ("input_features" in out or "input_values" in out) else 0
        out.update(_text(c, mc, n_img, n_aud))
    elif "input_ids" in sig and main in ("pixel_values",) and c.k.get("text", False):
        out.update(_text(c, mc, 0))

    # required forward arguments still missing, by well-known name
    for name, p in sig.items():
        if name in out or p.default is not inspect.Parameter.empty or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if name in c.k.get("drop", []) or name in (c.k.get("extra") or {}):
            continue
        if name == "input_features":
            out[name] = _features(c)
        elif name in ("input_values", "audio_values"):
            out[name] = _raw_audio(c)
        elif name == "pixel_values":
            out[name] = _pixels(c, name)
        elif name == "input_ids" and "input_ids" not in out:
            out.update(_text(c, mc, 0))
        elif name in ("hidden_states", "inputs_embeds", "inputs"):
            hid = _int(find_attr(text_cfg(cfg), ["hidden_size", "d_model"]), 32)
            out[name] = c.randn([c.B, int(c.k.get("seq_len", SEQ)), hid])
        elif name.endswith("mask") and out:
            ref = next(iter(out.values()))
            if isinstance(ref, torch.Tensor) and ref.dim() >= 2:
                out[name] = torch.ones(ref.shape[0], ref.shape[1], dtype=torch.bool)

    seq_cls = built.label_task == "sequence_classification"
    if "decoder_input_ids" in sig and (getattr(cfg, "is_encoder_decoder", False) or c.k.get("decoder")) and "decoder_input_ids" not in c.k.get("drop", []):
        if not seq_cls:
            out["decoder_input_ids"] = _decoder_ids(c)
    if seq_cls and getattr(cfg, "is_encoder_decoder", False) and "input_ids" in out:
        # encoder-decoder classification heads pool at the <eos> token: one per row, no padding
        eos = getattr(text_cfg(cfg), "eos_token_id", None)
        if isinstance(eos, list):
            eos = eos[0] if eos else None
        if isinstance(eos, int):
            out["input_ids"][..., -1] = eos
            if "attention_mask" in out:
                out["attention_mask"].fill_(1)

    if "bool_masked_pos" in sig and _required(sig, "bool_masked_pos"):
        n = _num_patches(c)
        g = torch.Generator().manual_seed(1)
        m = torch.zeros(c.B, n, dtype=torch.bool)
        m[:, torch.randperm(n, generator=g)[: max(1, n // 2)]] = True
        out["bool_masked_pos"] = m

    for name, spec in (c.k.get("extra") or {}).items():
        out[name] = _extra(c, spec, out, name)

    if labels:
        out.update(_labels(c, out))
        for name, spec in (c.k.get("label_extra") or {}).items():
            out[name] = _extra(c, spec, out, name)

    for d in c.k.get("drop", []):
        out.pop(d, None)
    return out


def _required(sig, name) -> bool:
    p = sig.get(name)
    return p is not None and p.default is inspect.Parameter.empty


def _has_vision(cfg, main) -> bool:
    return main == "input_ids" and (
        sub(cfg, "vision_config", "vision_encoder_config", "image_config", "visual_config") is not None
        or find_attr(cfg, ["image_size"], prefer=("vision_config",)) is not None
    )


def _has_audio(cfg) -> bool:
    return sub(cfg, "audio_config", "audio_encoder_config", "speech_config", "encoder_config") is not None


# --------------------------------------------------------------------------------------
# text


def _vocab(c: Ctx) -> int:
    v = c.k.get("vocab_size") or _int(getattr(text_cfg(c.cfg), "vocab_size", None), 0) or _int(
        find_attr(c.cfg, ["vocab_size"]), 99
    )
    return v


def _text(c: Ctx, mc: bool, n_img: int, n_aud: int = 0) -> dict:
    cfg = c.cfg
    tcfg = text_cfg(cfg)
    vocab = _vocab(c)
    S = int(c.k.get("seq_len", SEQ))
    maxpos = _int(find_attr(tcfg, ["max_position_embeddings", "n_positions", "max_seq_len"]), 512)
    if "seq_len" not in c.b.input_knobs:  # a length the type's data pins is taken as is
        S = max(2, min(S, maxpos - 2)) if maxpos > 4 else S
    specials = special_ids(cfg)
    low = 3 if vocab > 10 else 0
    allowed = torch.tensor([i for i in range(low, vocab) if i not in specials] or list(range(vocab)))
    shape = (c.B, int(c.k.get("num_choices", 2)), S) if mc else (c.B, S)
    ids = allowed[c.randint(0, len(allowed), shape)]
    img_id = _placeholder_id(c, "image")
    if n_img and img_id is not None:
        prefix = torch.full(shape[:-1] + (n_img,), img_id, dtype=torch.long)
        boi = c.k.get("image_prefix_tokens", [])
        parts = [torch.full(shape[:-1] + (1,), int(find_attr(cfg, [t]) or 0)) for t in boi]
        ids = torch.cat(parts + [prefix, ids], dim=-1)
    aud_id = _placeholder_id(c, "audio")
    if n_aud and aud_id is not None:
        ids = torch.cat([torch.full(shape[:-1] + (n_aud,), aud_id, dtype=torch.long), ids], dim=-1)
    out = {"input_ids": ids}
    sig = c.sig
    if "attention_mask" in sig:
        mask = torch.ones_like(ids)
        if c.B > 1 and not c.k.get("no_padding"):
            npad = min(2, S - 1)
            pad = getattr(tcfg, "pad_token_id", None)
            left = c.b.family in ("decoder-only", "multimodal") or c.k.get("padding_side") == "left"
            sl = (1, slice(0, npad)) if left else (1, slice(ids.shape[-1] - npad, None))
            if mc:
                sl = (1, slice(None)) + (sl[1],)
            if not ((n_img or n_aud) and left):
                mask[sl] = 0
                if isinstance(pad, int) and 0 <= pad < vocab:
                    ids[sl] = pad
        out["attention_mask"] = mask
    if "token_type_ids" in sig and "token_type_ids" not in c.k.get("drop", []):
        tvs = _int(find_attr(tcfg, ["type_vocab_size"]), 0)
        if tvs:
            out["token_type_ids"] = c.randint(0, tvs, ids.shape)
    if "qformer_input_ids" in sig:
        qv = _int(find_attr(c.cfg, ["vocab_size"], prefer=("qformer_config",)), vocab)
        out["qformer_input_ids"] = c.randint(3 if qv > 10 else 0, qv, [ids.reshape(-1, ids.shape[-1]).shape[0], 5])
        if "qformer_attention_mask" in sig:
            out["qformer_attention_mask"] = torch.ones_like(out["qformer_input_ids"])
    if "global_attention_mask" in sig:
        gm = torch.zeros_like(ids)
        gm[..., 0] = 1
        out["global_attention_mask"] = gm
    if "lang_ids" in sig:
        out["lang_ids"] = torch.zeros(ids.reshape(-1, ids.shape[-1]).shape[0], dtype=torch.long)
    for name in c.k.get("place_tokens", []):
        tid = find_attr(c.cfg, [name])
        if isinstance(tid, int):
            ids[..., 1] = tid
    if "bbox" in sig and "bbox" not in c.k.get("drop", []):
        t = c.rand(tuple(ids.shape) + (4,))
        lo = (t[..., :2] * 500).long()
        out["bbox"] = torch.cat([lo, lo + (t[..., 2:] * 400).long() + 1], dim=-1)
    if "mm_token_type_ids" in sig and img_id is not None:
        out["mm_token_type_ids"] = (ids == img_id).long()
    return out


def _placeholder_id(c: Ctx, kind: str):
    names = [f"{kind}_token_id", f"{kind}_token_index", f"{kind}_token"]
    v = find_attr(c.cfg, names, prefer=())
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _placeholder_count(c: Ctx, kind: str) -> int:
    if kind == "image" and not ("pixel_values" in c.sig and _has_vision(c.cfg, "input_ids")):
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
        counts = [_count_features(o) for o in obj]
        if counts and all(x is not None for x in counts):
            if isinstance(obj, tuple) and len(obj) and not all(isinstance(o, torch.Tensor) for o in obj):
                return counts[0]
            return sum(counts)
        return None
    for attr in ("pooler_output", "image_embeds", "audio_embeds", "last_hidden_state"):
        v = getattr(obj, attr, None)
        if v is not None:
            return _count_features(v)
    return None


def _calibrate(c: Ctx, kind: str) -> int:
    """Run the model once with 1 placeholder per sample; count what get_<kind>_features returns."""
    seen: list = []
    patched = []
    for mod in c.b.model.modules():
        fn = getattr(mod, f"get_{kind}_features", None)
        if fn is None or not callable(fn):
            continue

        def wrapper(*a, __fn=fn, **kw):
            r = __fn(*a, **kw)
            seen.append(r)
            return r

        mod.__dict__[f"get_{kind}_features"] = wrapper
        patched.append(mod)
    n = 1
    try:
        for _ in range(3):
            c.b._calib[(kind, c.B)] = n
            seen.clear()
            inp = _make(c.b, c.B, 0, False)
            try:
                with torch.no_grad():
                    c.b.model(**inp)
                return n
            except Exception as e:
                total = _count_features(seen[0]) if seen else None
                if total is None:
                    m = _PLACEHOLDER_ERR.search(str(e))
                    if not m:
                        return n
                    total = int(m.group(4))
                if total % c.B:
                    return n
                new = total // c.B
                if new == n:
                    return n
                n = new
        return n
    finally:
        for mod in patched:
            mod.__dict__.pop(f"get_{kind}_features", None)


# --------------------------------------------------------------------------------------
# vision


def _pixels(c: Ctx, key: str) -> torch.Tensor:
    cfg = c.cfg
    vc = vision_cfg(cfg)
    h, w = _hw(c.k.get("image_size") or find_attr(vc, ["image_size", "img_size", "input_size"], prefer=()) or find_attr(cfg, ["image_size"]), 32)
    ch = int(c.k.get("num_channels") or _int(find_attr(vc, ["num_channels", "in_channels", "in_chans", "input_channels"], prefer=()), 3))
    frames = c.k.get("num_frames") or find_attr(vc, ["num_frames"], prefer=())
    if not (frames and ("video" in key or c.k.get("video") or _int(getattr(vc, "num_frames", None), 0)
                        or c.b.task == "video_classification")) or c.k.get("no_frames"):
        frames = None
    if frames is None and key == "pixel_values" and c.b.task == "video_classification":
        frames = find_attr(vc, ["num_frames"], prefer=()) or 4
    shape = [c.B, ch, h, w]
    if frames:
        shape = [c.B, int(frames), ch, h, w]
    elif c.k.get("pixel_5d"):
        shape = [c.B, int(c.k["pixel_5d"]), ch, h, w]
    return c.randn(shape)


def _num_patches(c: Ctx) -> int:
    vc = vision_cfg(c.cfg)
    h, w = _hw(find_attr(vc, ["image_size"], prefer=()), 32)
    ph, pw = _hw(find_attr(vc, ["patch_size"], prefer=()), 16)
    n = (h // ph) * (w // pw)
    frames = _int(getattr(vc, "num_frames", None), 0)
    if frames:
        n *= frames // _int(getattr(vc, "tubelet_size", None), 1)
    return n


def _patchified(c: Ctx) -> dict:
    """NaFlex style (Siglip2): (B, N, C*P*P) patches + spatial_shapes (B, 2) + pixel_attention_mask."""
    vc = vision_cfg(c.cfg)
    p = _int(find_attr(vc, ["patch_size"], prefer=()), 16)
    ch = _int(find_attr(vc, ["num_channels", "in_channels"], prefer=()), 3)
    g = int(c.k.get("grid", 4))
    n = _int(find_attr(vc, ["num_patches"], prefer=()), g * g)
    g = int(math.isqrt(n)) or g
    out = {"pixel_values": c.randn([c.B, g * g, ch * p * p]), "spatial_shapes": torch.tensor([[g, g]] * c.B)}
    if "pixel_attention_mask" in c.sig:
        out["pixel_attention_mask"] = torch.ones(c.B, g * g, dtype=torch.long)
    return out


def _grid_pixels(c: Ctx) -> dict:
    """Qwen2-VL style: flattened patches (N, C*T*P*P) plus image_grid_thw (images, 3)."""
    vc = vision_cfg(c.cfg)
    p = _int(find_attr(vc, ["patch_size"], prefer=()), 14)
    t = _int(find_attr(vc, ["temporal_patch_size", "patch_temporal"], prefer=()), 1)
    m = _int(find_attr(vc, ["spatial_merge_size", "merge_size"], prefer=()), 1)
    ch = _int(find_attr(vc, ["in_channels", "num_channels", "in_chans"], prefer=()), 3)
    g = int(c.k.get("grid", 2 * m))
    grid = torch.tensor([[1, g, g]] * c.B)
    n = c.B * g * g
    return {"pixel_values": c.randn([n, ch * t * p * p]), "image_grid_thw": grid}


# --------------------------------------------------------------------------------------
# audio


def _raw_audio(c: Ctx) -> torch.Tensor:
    cfg = c.cfg
    n = c.k.get("audio_len")
    if n is None:
        strides = find_attr(cfg, ["conv_stride", "downsampling_ratios", "upsampling_ratios"], prefer=("audio_config", "encoder_config"))
        prod = math.prod(strides) if isinstance(strides, (list, tuple)) and strides else 320
        n = max(1024, prod * 20)
    ch = c.k.get("audio_channels") or c.k.get("audio_3d") or find_attr(cfg, ["audio_channels"], prefer=("audio_config",))
    if ch:
        return c.randn([c.B, int(ch), int(n)])
    return c.randn([c.B, int(n)])


def _features(c: Ctx) -> torch.Tensor:
    cfg = c.cfg
    ac = sub(cfg, "audio_config", "encoder_config", "speech_config") or cfg
    bins = c.k.get("feature_bins")
    if bins is None:
        per = find_attr(ac, ["input_feat_per_channel"], prefer=())
        if per:
            bins = per * _int(find_attr(ac, ["input_channels"], prefer=()), 1)
        else:
            bins = _int(find_attr(ac, ["feature_projection_input_dim", "num_mel_bins", "feature_size", "n_mels", "input_dim", "mel_bins"], prefer=()), 80)
    layout = c.k.get("features_layout")
    msp = find_attr(ac, ["max_source_positions"], prefer=())
    frames = c.k.get("feature_frames")
    flip = layout == "flip"
    if layout is None or flip:
        layout = "BFT" if msp and find_attr(ac, ["num_mel_bins"], prefer=()) else "BTF"
        if flip:
            layout = "BTF" if layout == "BFT" else "BFT"
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
    return feats.shape[-1] if feats.shape[1] != feats.shape[-1] and feats.shape[1] in (80, 128) else feats.shape[1]


# --------------------------------------------------------------------------------------
# time series


def _time_series(c: Ctx, labels: bool) -> dict:
    cfg = c.cfg
    sig = c.sig
    ctx = _int(find_attr(cfg, ["context_length", "context_len"]), 16)
    lags = getattr(cfg, "lags_sequence", None)
    L = ctx + (max(lags) if isinstance(lags, (list, tuple)) and lags else 0)
    L = int(c.k.get("past_len", L))
    chans = _int(find_attr(cfg, ["num_input_channels", "input_size"]), 1)
    pred = _int(find_attr(cfg, ["prediction_length", "horizon_length"]), 4)
    multi = "num_input_channels" in vars(cfg) or chans > 1
    shp = [c.B, L, chans] if multi else [c.B, L]
    out = {"past_values": c.randn(shp)}
    ntf = _int(getattr(cfg, "num_time_features", None), 0)
    if "past_time_features" in sig:
        out["past_time_features"] = c.randn([c.B, L, max(ntf, 1)])
    if "past_observed_mask" in sig:
        out["past_observed_mask"] = torch.ones(shp)
    nsc = _int(getattr(cfg, "num_static_categorical_features", None), 0)
    if "static_categorical_features" in sig and nsc:
        card = getattr(cfg, "cardinality", None) or [2] * nsc
        out["static_categorical_features"] = torch.stack(
            [c.randint(0, card[i], [c.B]) for i in range(nsc)], dim=1
        )
    nsr = _int(getattr(cfg, "num_static_real_features", None), 0)
    if "static_real_features" in sig and nsr:
        out["static_real_features"] = c.randn([c.B, nsr])
    if "future_values" in sig and (c.b.family == "time-series" and getattr(cfg, "is_encoder_decoder", False) or labels):
        fshp = [c.B, pred, chans] if multi else [c.B, pred]
        out["future_values"] = c.randn(fshp)
    if "future_time_features" in sig and "past_time_features" in out:
        out["future_time_features"] = c.randn([c.B, pred, max(ntf, 1)])
    for name in sig:
        if name.startswith("past_") and name not in out and _required(sig, name):
            out[name] = torch.zeros_like(out["past_values"])
    if "freq" in sig and _required(sig, "freq"):
        out["freq"] = torch.zeros(c.B, 1, dtype=torch.long)
    return out


# --------------------------------------------------------------------------------------
# decoder inputs & labels


def _dec_vocab(c: Ctx) -> int:
    dc = sub(c.cfg, "decoder", "decoder_config", "text_config")
    v = _int(getattr(dc, "vocab_size", None), 0) if dc is not None else 0
    return v or _vocab(c)


def _decoder_ids(c: Ctx) -> torch.Tensor:
    T = int(c.k.get("decoder_len", DEC))
    v = _dec_vocab(c)
    specials = special_ids(c.cfg)
    low = 3 if v > 10 else 0
    allowed = torch.tensor([i for i in range(low, v) if i not in specials] or list(range(v)))
    return allowed[c.randint(0, len(allowed), [c.B, T])]


def _num_labels(c: Ctx) -> int:
    return _int(getattr(c.cfg, "num_labels", None), 2)


def _classifier_out(model) -> int | None:
    """out_features of the last Linear of a ``classifier`` head (None when there is none)."""
    head = getattr(model, "classifier", None)
    if not isinstance(head, torch.nn.Module):
        return None
    lins = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    return lins[-1].out_features if lins else None


def _labels(c: Ctx, out: dict) -> dict:
    sig = c.sig
    b = c.b
    task = b.label_task
    B = c.B
    res: dict[str, Any] = {}
    if "start_positions" in sig and task == "question_answering":
        S = out["input_ids"].shape[-1] if "input_ids" in out else SEQ
        res["start_positions"] = c.randint(0, S, [B])
        res["end_positions"] = c.randint(0, S, [B])
        return res
    if "next_sentence_label" in sig:
        res["next_sentence_label"] = c.randint(0, 2, [B])
    if "labels" not in sig:
        return res
    ids = out.get("input_ids")
    if task in ("sequence_classification", "image_classification", "audio_classification", "video_classification",
                "audio_xvector", "time_series_classification", "next_sentence_prediction"):
        res["labels"] = c.randint(0, _num_labels(c), [B])
    elif task == "visual_question_answering" and _classifier_out(c.b.model) == _num_labels(c):
        # answer classification over num_labels candidates, scored by BCE: soft multi-hot targets
        res["labels"] = c.rand([B, _num_labels(c)])
    elif task == "multiple_choice":
        res["labels"] = c.randint(0, ids.shape[1] if ids is not None else 2, [B])
    elif task == "token_classification":
        # an encoder-decoder token classifier labels the positions its decoder reads
        ref = out.get("decoder_input_ids") if getattr(c.cfg, "is_encoder_decoder", False) else None
        ref = ref if ref is not None else ids
        res["labels"] = c.randint(0, _num_labels(c), ref.shape if ref is not None else [B, SEQ])
    elif task == "audio_frame_classification":
        pass
    elif task == "time_series_regression":
        res["target_values"] = c.randn([B, _int(getattr(c.cfg, "num_targets", None), 1)])
        res.pop("labels", None)
    elif task == "time_series_prediction":
        pass
    elif task == "ctc":
        v = _vocab(c)
        res["labels"] = c.randint(1, v, [B, 3])
    elif task in ("object_detection", "zero_shot_object_detection"):
        n = _num_labels(c)
        res["labels"] = [
            {"class_labels": c.randint(0, n, [2]), "boxes": c.rand([2, 4]) * 0.5 + 0.25} for _ in range(B)
        ]
    elif task == "semantic_segmentation":
        px = out.get("pixel_values")
        h, w = (px.shape[-2], px.shape[-1]) if px is not None else (32, 32)
        res["labels"] = c.randint(0, _num_labels(c), [B, h, w])
    elif "decoder_input_ids" in out or (getattr(c.cfg, "is_encoder_decoder", False) and "decoder_input_ids" in sig) or (
        task in ("seq_to_seq_causal_lm", "speech_seq_2_seq", "vision_2_seq", "text_recognition")
        and ids is None and "inputs_embeds" not in out
    ):
        # a real decoder: labels are decoder targets (the model shifts them into decoder inputs).
        # Decoder-only "seq2seq" heads (audio/vision LLMs) fall through: labels follow input_ids.
        T = out["decoder_input_ids"].shape[-1] if "decoder_input_ids" in out else DEC
        res["labels"] = c.randint(3 if _dec_vocab(c) > 10 else 0, _dec_vocab(c), [B, T])
    elif ids is not None:
        lab = ids.clone()
        if "attention_mask" in out and out["attention_mask"].shape == lab.shape:
            lab[out["attention_mask"] == 0] = -100
        for kind in ("image", "audio", "video"):
            tok = _placeholder_id(c, kind)
            if tok is not None:
                lab[lab == tok] = -100
        res["labels"] = lab
    elif "inputs_embeds" in out:
        # causal LM fed embeddings: one target per embedded position
        S = out["inputs_embeds"].shape[1]
        lab = c.randint(3 if _vocab(c) > 10 else 0, _vocab(c), [B, S])
        am = out.get("attention_mask")
        if am is not None and am.shape == lab.shape:
            lab[am == 0] = -100
        res["labels"] = lab
    return res


_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


def safe_eval(expr: str, ns: dict) -> Any:
    """Arithmetic over the knob namespace, without ``eval``: ints, names from ``ns``, public
    attributes (``cfg.hidden_size``), constant subscripts (``out['input_ids'].shape[-1]``) and
    ``+ - * // / **`` (small exponents). Anything else is a TinyError, so data cannot run code."""

    def bad(why: str):
        return TinyError("input-synthesis", f"shape expression {expr!r}: {why}")

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, str)) and not isinstance(n.value, bool):
            return n.value
        if isinstance(n, ast.Name):
            if n.id not in ns:
                raise bad(f"unknown name {n.id!r}")
            return ns[n.id]
        if isinstance(n, ast.Attribute):
            if n.attr.startswith("_"):
                raise bad(f"private attribute {n.attr!r}")
            v = ev(n.value)
            if not (hasattr(v, "to_dict") or isinstance(v, torch.Tensor) or isinstance(v, torch.Size)):
                raise bad(f"attribute {n.attr!r} of a {type(v).__name__}")
            r = getattr(v, n.attr)
            if callable(r):
                raise bad(f"{n.attr!r} is callable")
            return r
        if isinstance(n, ast.Subscript):
            v = ev(n.value)
            k = ev(n.slice)
            if not isinstance(v, (dict, list, tuple, torch.Size)) or not isinstance(k, (int, str)):
                raise bad("subscript")
            return v[k]
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            v = ev(n.operand)
            return -v if isinstance(n.op, ast.USub) else v
        if isinstance(n, ast.BinOp) and type(n.op) in _BINOPS:
            a, b = ev(n.left), ev(n.right)
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
                raise bad("arithmetic on a non-number")
            if isinstance(n.op, ast.Pow) and (not isinstance(b, int) or abs(b) > 8):
                raise bad("exponent must be a small int")
            return _BINOPS[type(n.op)](a, b)
        raise bad(f"{type(n).__name__} is not allowed")

    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise bad("syntax error") from e
    try:
        return ev(tree)
    except TinyError:
        raise
    except (AttributeError, KeyError, IndexError, TypeError, ZeroDivisionError) as e:
        raise bad(f"{type(e).__name__}: {e}") from e


def _values(v: Any, ns: dict) -> Any:
    """A literal ``value`` list; strings in it are expressions (``"cfg.audio_bos_token_id"``)."""
    if isinstance(v, list):
        return [_values(x, ns) for x in v]
    return safe_eval(v, ns) if isinstance(v, str) else v


def _annotated_dataclass(param: inspect.Parameter | None) -> type | None:
    """The dataclass a forward parameter is annotated with (``X`` or ``X | None``), else None."""
    if param is None:
        return None
    ann = param.annotation
    for t in (ann, *typing.get_args(ann)):
        if isinstance(t, type) and dataclasses.is_dataclass(t):
            return t
    return None


def _extra(c: Ctx, spec: Any, out: dict, name: str | None = None) -> Any:
    """Extra tensor from a knob spec: {shape=[...], dtype=..., high=..., fill=..., value=[...]};
    {fields={...}} nests specs: a dict, or the dataclass forward() annotates ``name`` with."""
    if not isinstance(spec, dict):
        return torch.tensor(spec)
    if "fields" in spec:
        val = {k: _extra(c, s, out) for k, s in spec["fields"].items()}
        cls = _annotated_dataclass(c.sig.get(name)) if name else None
        return cls(**val) if cls is not None else val
    ns = {"B": c.B, "cfg": c.cfg, "text": text_cfg(c.cfg), "vision": vision_cfg(c.cfg), "out": out}
    if "value" in spec:
        v = _values(spec["value"], ns)
        t = torch.tensor(v)
        if spec.get("repeat_batch"):
            t = t.unsqueeze(0).repeat(c.B, *([1] * t.dim()))
        return t
    shape = [int(safe_eval(s, ns)) if isinstance(s, str) else int(s) for s in spec["shape"]]
    dtype = spec.get("dtype", "float")
    if "fill" in spec:
        return torch.full(shape, spec["fill"], dtype=getattr(torch, dtype) if dtype != "float" else torch.float)
    if dtype in ("long", "int"):
        high = spec.get("high", 2)
        high = int(safe_eval(high, ns)) if isinstance(high, str) else int(high)
        return c.randint(int(spec.get("low", 0)), high, shape)
    if dtype == "arange":  # 0, 1, 2, ... laid out row-major: index tensors (e.g. patch pooling)
        return torch.arange(math.prod(shape), dtype=torch.long).reshape(shape)
    if dtype == "bool":
        return c.rand(shape) > 0.5
    if dtype == "rand":
        return c.rand(shape)
    if dtype == "fbox":
        t = c.rand(shape)
        return torch.cat([t[..., :2] * 0.5, t[..., :2] * 0.5 + t[..., 2:4] * 0.5], -1) if shape[-1] == 4 else t
    if dtype == "box":
        t = c.rand(shape)
        if shape[-1] == 4:
            x0 = (t[..., 0:2] * 400).long()
            return torch.cat([x0, x0 + (t[..., 2:4] * 400).long() + 1], -1)
        return t
    return c.randn(shape)
