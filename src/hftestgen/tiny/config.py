"""Tiny config synthesis: class defaults -> shrunk sizes -> nested sub-configs -> repaired invariants.

Everything here is a *general* rule keyed by config field names (and the config's
``attribute_map`` aliases). Knowledge about one model type lives in its record
(``hftestgen/registry/types/<type>.toml``) and is merged on top, never in
``if model_type == ...`` code.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import warnings
from typing import Any

from .errors import TinyError, missing_package, short

HIDDEN = 32
HEADS = 4
KV_HEADS = 2
LAYERS = 2
INTER = 48  # multiple of 16 bytes / 4 floats: MoE grouped matmuls need aligned strides
VOCAB = 99
MAX_POS = 512
IMAGE = 32
PATCH = 4

# Standard names (after attribute_map) -> rule. A rule is (target, kind):
#   "min": new = min(default, target)   "set": new = target (when the default is an int)
SIZE_RULES: dict[str, int] = {}


def _rule(names: str, value: int) -> None:
    for n in names.split():
        SIZE_RULES[n] = value


_rule("vocab_size", VOCAB)
_rule(
    "hidden_size d_model embed_dim n_embd dim model_dim d_embed emb_dim hidden_dim word_embed_proj_dim "
    "embedding_size embedding_dim text_embed_dim vision_embed_dim audio_embed_dim mm_hidden_size "
    "projector_hidden_size encoder_hidden_size decoder_hidden_size d_latent latent_dim "
    "cross_attention_hidden_size hidden_channels text_hidden_size vision_hidden_size "
    "projection_hidden_size encoder_embed_dim decoder_embed_dim output_hidden_size adapter_hidden_size "
    "hidden_size_per_layer_input",
    HIDDEN,
)
_rule("projection_dim proj_dim text_projection_dim vision_projection_dim", HIDDEN)
_rule(
    "num_hidden_layers num_layers n_layer n_layers encoder_layers decoder_layers num_encoder_layers "
    "num_decoder_layers num_text_layers num_vision_layers depth encoder_depth decoder_depth "
    "num_hidden_layers_text text_num_hidden_layers vision_num_hidden_layers num_audio_layers "
    "num_cross_layers num_self_layers num_single_layers num_blocks",
    LAYERS,
)
_rule(
    "num_attention_heads num_heads n_head n_heads encoder_attention_heads decoder_attention_heads "
    "num_decoder_attention_heads text_num_attention_heads encoder_num_attention_heads "
    "decoder_num_attention_heads num_self_attention_heads num_cross_attention_heads",
    HEADS,
)
_rule("num_key_value_heads n_kv_heads num_kv_heads multi_query_group_num num_query_groups", KV_HEADS)
_rule(
    "intermediate_size d_ff encoder_ffn_dim decoder_ffn_dim ffn_dim n_inner dim_feedforward mlp_dim "
    "moe_intermediate_size shared_expert_intermediate_size expert_intermediate_size ffn_hidden_size "
    "encoder_intermediate_size decoder_intermediate_size intermediate_size_mlp text_intermediate_size "
    "vision_intermediate_size feed_forward_proj_dim block_intermediate_size dense_intermediate_size "
    "intermediate_size_per_layer_input",
    INTER,
)
_rule("num_experts num_local_experts n_routed_experts moe_num_experts num_experts_total", 4)
_rule("num_experts_per_tok num_experts_per_token moe_top_k top_k experts_per_token moe_k", 2)
_rule("n_shared_experts num_shared_experts moe_num_shared_experts", 1)
_rule(
    "max_position_embeddings n_positions max_seq_len max_sequence_length max_text_positions "
    "max_length_of_sequence",
    MAX_POS,
)
_rule("kv_lora_rank q_lora_rank", 16)
_rule("qk_rope_head_dim qk_nope_head_dim v_head_dim", 8)
_rule("image_size img_size", IMAGE)
_rule("patch_size", PATCH)
_rule("num_mel_bins", 80)
_rule("max_source_positions", 30)
_rule("max_target_positions", 40)
_rule("num_conv_pos_embeddings", 16)
_rule("num_conv_pos_embedding_groups", 2)
_rule(
    "xvector_output_dim proj_codevector_dim codevector_dim classifier_proj_size tdnn_dim "
    "output_hidden_dim adapter_dim",
    32,
)
_rule("num_codevectors_per_group", 10)
_rule("codebook_size codebook_dim", 64)
_rule("num_labels", 3)
_rule("conv_dim", 32)
_rule("rotary_dim rotary_emb_dim", 4)
_rule("mm_tokens_per_image", 4)
_rule("num_frames", 4)
_rule("upsample_groups", HIDDEN)
_rule("index_head_dim", 8)
_rule("num_embeddings", 64)
_rule("image_token_embed_dim", HIDDEN)
_rule("n_group num_expert_group", 2)
_rule("topk_group", 1)
_rule("index_n_heads", 4)
_rule("max_img_size max_image_size", 64)
_rule("img_max_token_num max_vit_seq_len", 256)
_rule("num_filters", 8)

# Fields whose class default is None but which a model cannot run without.
FILL_NONE: dict[str, Any] = {
    "vocab_size": VOCAB,
    "prediction_length": 4,
    "num_experts_per_tok": 2,
    "n_routed_experts": 4,
    "topk_group": 1,
    "n_group": 1,
    "n_shared_experts": 1,
}

# Per-stage list fields (lists keep their length, values are shrunk element-wise).
LIST_RULES: dict[str, int] = {
    "hidden_sizes": 32,
    "embed_dims": 32,
    "dims": 32,
    "embed_dim": 32,
    "hidden_size": 32,
    "neck_hidden_sizes": 32,
    "conv_dim": 32,
    "tdnn_dim": 32,
    "depths": 1,
    "num_layers": 1,
    "num_heads": 2,
    "num_attention_heads": 2,
    "intermediate_sizes": 37,
    "encoder_hidden_sizes": 32,
    "decoder_hidden_sizes": 32,
}

# Fields that look like sizes but must keep their default (shape contracts, ids, ratios).
GENERIC_EXCLUDE = re.compile(
    r"(^head_dim$|vocab|image|img|patch|position|window|kernel|stride|batch|chunk|label|token|num_channels|"
    r"sampling_rate|rate|ratio|length|frames|bins|mel|freq|hop|n_fft|win|bucket|prediction|context|"
    r"lags|seq|id$|_idx|eps|theta|scale|factor|period|max_|min_|in_channels|input_dim|feature_size|"
    r"pad|sequence|fps|resolution|shape|grid|num_queries|anchor|query|points|boxes|buckets)",
    re.I,
)
GENERIC_SIZE = re.compile(
    r"(hidden|_dim$|_dims$|^dim$|_size$|_channels$|_channel$|_features$|width|latent|filter|dim_per|"
    r"channel_list|channels_list|_sizes$)",
    re.I,
)
GENERIC_VOCAB = re.compile(r"vocab", re.I)
LIST_EXCLUDE = re.compile(
    r"(kernel|stride|patch|image|img|dilation|ratio|scale|window|pool|in_channels|out_channels|"
    r"out_indices|index|indices|pad|position|label|token|group|expan|stem)",
    re.I,
)


def _fields(cls) -> dict[str, Any]:
    """Field name -> class default (MISSING -> inspect._empty)."""
    out: dict[str, Any] = {}
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                try:
                    out[f.name] = f.default_factory()
                except Exception:
                    out[f.name] = None
            else:
                out[f.name] = inspect.Parameter.empty
    else:
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            out[name] = p.default
    return out


def _std_names(cls) -> dict[str, str]:
    """field name -> standard name through attribute_map (hidden_size -> n_embd reversed)."""
    amap = getattr(cls, "attribute_map", {}) or {}
    return {v: k for k, v in amap.items() if isinstance(v, str)}


def _safe_get(obj, name: str, default=None):
    """getattr that tolerates configs raising on per-layer attributes."""
    try:
        return getattr(obj, name, default)
    except Exception:
        return default


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _shrink_value(name: str, std: str, default: Any) -> Any:
    target = SIZE_RULES.get(name, SIZE_RULES.get(std))
    if isinstance(default, (list, tuple)) and default and all(_is_int(x) for x in default):
        lt = LIST_RULES.get(name, LIST_RULES.get(std))
        if lt is not None:
            return [min(x, lt) if x > 0 else x for x in default]
        if name in ("image_size", "img_size", "patch_size") and len(default) == 2:
            t = IMAGE if "image" in name or "img" in name else PATCH
            return [min(x, t) for x in default]
        return default
    if name == "image_grid_pinpoints" and isinstance(default, (list, tuple)) and default:
        return [[IMAGE, IMAGE], [IMAGE, 2 * IMAGE]]
    if target is None or not _is_int(default):
        return default
    if name in ("num_labels",):
        return default
    return min(default, target) if default > 0 else default


def _generic_shrink(name: str, default: Any) -> Any:
    if isinstance(default, (list, tuple)) and default and all(_is_int(x) for x in default):
        if max(default) > 64 and GENERIC_SIZE.search(name) and not LIST_EXCLUDE.search(name):
            return [min(x, HIDDEN) if x > 0 else x for x in default]
        return default
    if not _is_int(default):
        return default
    if GENERIC_VOCAB.search(name) and default > VOCAB and "token" not in name:
        return VOCAB
    if default <= 64:
        return default
    if GENERIC_EXCLUDE.search(name) or not GENERIC_SIZE.search(name):
        return default
    return HIDDEN


# --------------------------------------------------------------------------------------


def _sub_config_keys(cls, default_inst) -> dict[str, Any]:
    """Sub-config key -> (default sub-config instance or None, spec or None)."""
    from transformers import PretrainedConfig

    out: dict[str, Any] = {}
    specs = getattr(cls, "sub_configs_defaults", None) or {}
    for key, spec in specs.items():
        inst = _safe_get(default_inst, key) if default_inst is not None else None
        out[key] = (inst if isinstance(inst, PretrainedConfig) else None, spec)
    if default_inst is not None:
        for key, v in vars(default_inst).items():
            if key not in out and isinstance(v, PretrainedConfig):
                out[key] = (v, None)
    return out


def _default_instance(cls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return cls()
        except Exception:
            return None




def tiny_config(cls, pinned: dict | None = None, default_inst=None, depth: int = 0, vocab_hint: int | None = None):
    """A tiny instance of config class ``cls``; ``pinned`` (nested dict) wins over every rule."""
    from transformers import PretrainedConfig

    pinned = dict(pinned or {})
    inherit = default_inst is not None and depth > 0
    if default_inst is None:
        default_inst = _default_instance(cls)
    fields = _fields(cls)
    std = _std_names(cls)
    # attribute_map aliases in pinned -> real field names
    amap = getattr(cls, "attribute_map", {}) or {}
    for k in list(pinned):
        if k in amap and k not in fields and isinstance(amap[k], str):
            pinned[amap[k]] = pinned.pop(k)

    kwargs: dict[str, Any] = {}
    subkeys = _sub_config_keys(cls, default_inst)
    for name, default in fields.items():
        if name in subkeys or name in pinned:
            continue
        if inherit and name not in INHERIT_SKIP:
            # a sub-config of the parent's default: start from the parent's values, not the class's
            iv = _safe_get(default_inst, name, default)
            # only flags, names and small counts (num_register_tokens): sizes, per-layer lists and
            # rope tables are re-derived from the tiny sizes below, as for a top-level config
            small = isinstance(iv, (bool, str)) or (_is_int(iv) and 0 <= iv <= 8)
            if small and iv is not default and iv != default:
                new = _shrink_value(name, std.get(name, name), iv)
                if new is iv or new == iv:
                    new = _generic_shrink(name, iv)
                kwargs[name] = new
                continue
        if default is inspect.Parameter.empty:
            continue
        if default is None and name in FILL_NONE and _safe_get(default_inst, name) is None:
            kwargs[name] = FILL_NONE[name]
            continue
        if default is None and default_inst is not None:
            iv = _safe_get(default_inst, name)
            if name == "image_grid_pinpoints" and iv:
                kwargs[name] = _shrink_value(name, name, iv)
                continue
            if isinstance(iv, (list, tuple)) and iv and all(_is_int(x) for x in iv):
                new = _shrink_value(name, std.get(name, name), list(iv))
                if list(new) == list(iv):
                    new = _generic_shrink(name, list(iv))
                if list(new) != list(iv):
                    kwargs[name] = list(new)
            continue
        new = _shrink_value(name, std.get(name, name), default)
        if new is default or new == default:
            new = _generic_shrink(name, default)
        if new is not default and new != default:
            kwargs[name] = new

    if inherit and isinstance(_safe_get(default_inst, "out_indices"), (list, tuple)) and "out_features" not in pinned:
        # the parent's choice of backbone feature maps (re-aligned to the layer count by _backbone_features)
        kwargs.setdefault("out_indices", list(default_inst.out_indices))
    if inherit:
        # plain attributes the parent set on its default sub-config (e.g. return_class_token)
        fresh = _default_instance(cls)
        fresh_vars = vars(fresh) if fresh is not None else {}
        for name, v in vars(default_inst).items():
            if (name.startswith("_") or name in fields or name in fresh_vars or name in pinned or name in INHERIT_SKIP
                    or isinstance(v, PretrainedConfig) or name in subkeys):
                continue
            if isinstance(v, (bool, str)) or (_is_int(v) and 0 <= v <= 8):  # flags, not sizes
                kwargs[name] = v

    # ----- nested sub-configs, recursively
    subs: dict[str, Any] = {}
    for key, (inst, spec) in subkeys.items():
        sub_pin = pinned.pop(key, None)
        if sub_pin is None and inst is None and spec is not None and getattr(spec, "optional", False):
            continue
        if isinstance(sub_pin, PretrainedConfig):
            subs[key] = sub_pin
            continue
        sub_cls = None
        if inst is not None and getattr(inst, "model_type", "") in TIMM_TYPES and not sub_pin and key == "backbone_config":
            # prefer a Transformers-native backbone over timm (which cannot be installed here)
            alt = getattr(spec, "model_type", None) if spec is not None else None
            alt = alt if alt and alt not in TIMM_TYPES else "resnet"
            from transformers.models.auto.configuration_auto import CONFIG_MAPPING

            inst = None
            sub_cls = CONFIG_MAPPING[alt]
            if "use_timm_backbone" in fields:
                # configs that only read the kwarg when backbone_config is None (all as of 5.x) would keep
                # it as a stray attribute, which a nested config loses on save/load
                kwargs["use_timm_backbone"] = False
            if "backbone" in fields:
                kwargs["backbone"] = None
        elif inst is not None:
            sub_cls = type(inst)
        elif spec is not None:
            mt = (sub_pin or {}).get("model_type") if isinstance(sub_pin, dict) else None
            try:
                if isinstance(spec.config_class, type) and issubclass(spec.config_class, PretrainedConfig):
                    sub_cls = spec.config_class
                else:
                    sub_cls = spec.get_config_class(mt or spec.model_type)
            except Exception:
                sub_cls = None
        if isinstance(sub_pin, dict) and sub_pin.get("model_type") and (
            sub_cls is None or getattr(sub_cls, "model_type", None) != sub_pin["model_type"]
        ):
            from transformers.models.auto.configuration_auto import CONFIG_MAPPING

            sub_cls = CONFIG_MAPPING[sub_pin["model_type"]]
            inst = None
        if sub_cls is None:
            continue
        sp = {k: v for k, v in (sub_pin or {}).items() if k != "model_type"}
        if depth > 5:
            continue
        # a neck that fuses k backbone feature maps (DPT-like) needs k selectable layers
        neck = _safe_get(default_inst, "neck_hidden_sizes")
        if key == "backbone_config" and isinstance(neck, (list, tuple)) and len(neck) > 1:
            sub_fields = _fields(sub_cls)
            if "num_hidden_layers" in sub_fields and ("out_indices" in sub_fields or "_out_indices" in sub_fields):
                sp.setdefault("num_hidden_layers", len(neck))
                sp.setdefault("out_indices", list(range(1, len(neck) + 1)))
                sp.setdefault("out_features", None)
                if "reshape_hidden_states" in sub_fields:
                    sp.setdefault("reshape_hidden_states", False)
        subs[key] = tiny_config(
            sub_cls,
            sp,
            inst if inst is not None and type(inst) is sub_cls else None,
            depth + 1,
        )

    # chained per-stage channel lists (out[i] == in[i+1]): scale together, keep the stem width in[0]
    for name in fields:
        if not name.endswith("in_channels") or name in pinned:
            continue
        oname = name[: -len("in_channels")] + "out_channels"
        ins, outs = _safe_get(default_inst, name), _safe_get(default_inst, oname)
        if (
            oname in fields and oname not in pinned and isinstance(ins, (list, tuple))
            and isinstance(outs, (list, tuple)) and len(ins) == len(outs) > 1
            and all(_is_int(x) for x in [*ins, *outs]) and max(outs) > 64
            and all(outs[i] == ins[i + 1] for i in range(len(ins) - 1))
        ):
            k = -(-max(outs) // HIDDEN)
            new_out = [max(8, -(-x // k // 8) * 8) for x in outs]
            kwargs[name] = [ins[0], *new_out[:-1]]
            kwargs[oname] = new_out
    for name in ("width_coefficient", "depth_coefficient", "width_multiplier", "width_mult"):
        v = _safe_get(default_inst, name)
        if isinstance(v, float) and v > 1.0 and name in fields and name not in pinned:
            kwargs[name] = 1.0

    neck = _safe_get(default_inst, "neck_hidden_sizes")
    if isinstance(neck, (list, tuple)) and len(neck) > 1 and "backbone_out_indices" in fields and "backbone_out_indices" not in pinned:
        kwargs["backbone_out_indices"] = list(range(len(neck)))
        for lname in LAYER_COUNT_NAMES:
            if lname in fields and lname not in pinned:
                kwargs[lname] = max(len(neck), _eff(kwargs, fields, lname) or 0)
                break

    kwargs.update(subs)
    repair_kwargs(cls, fields, kwargs, pinned, default_inst)
    _backbone_features(fields, kwargs, pinned, default_inst)
    kwargs.update(pinned)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cfg = cls(**kwargs)
        except Exception as e:
            pkg = missing_package(e)
            if pkg:
                raise TinyError("missing-package", f"needs {pkg}") from e
            raise TinyError("config-invariant", f"{cls.__name__}: {short(e)}") from e
    post_repair(cfg, default_inst, pinned)
    return cfg


# derived from the layer count by the backbone config itself: never copied from a parent's default
INHERIT_SKIP = {"stage_names", "out_features", "_out_features", "out_indices", "_out_indices"}


def _backbone_features(fields: dict, kwargs: dict, pinned: dict, default_inst) -> None:
    """A ViT backbone feeding a k-level neck (DPT, ZoeDepth, ...) must still return k feature maps."""
    bo = _safe_get(default_inst, "backbone_out_indices")
    n = _eff(kwargs, fields, "num_hidden_layers")
    if (isinstance(bo, (list, tuple)) and bo and all(_is_int(x) for x in bo) and _is_int(n) and max(bo) >= n
            and "backbone_out_indices" not in pinned):
        k = len(bo)  # 0-based indices into the encoder's hidden states (DPT)
        if "num_hidden_layers" not in pinned:
            n = max(n, k)
            kwargs["num_hidden_layers"] = n
        kwargs["backbone_out_indices"] = list(range(n - k, n))
    outi = _safe_get(default_inst, "out_indices")
    if not (("out_indices" in fields or "_out_indices" in fields or "out_indices" in kwargs) and "num_hidden_layers" in fields):
        return
    if "out_indices" in pinned or "out_features" in pinned or not isinstance(outi, (list, tuple)) or not outi:
        return
    k = len(outi)
    n = _eff(kwargs, fields, "num_hidden_layers")
    if not _is_int(n) or n >= max(outi):
        return
    if "num_hidden_layers" not in pinned:
        n = max(n, k)
        kwargs["num_hidden_layers"] = n
    kwargs["out_indices"] = list(range(n - k + 1, n + 1))
    for name in ("out_features", "_out_features", "_out_indices"):
        kwargs.pop(name, None)


def post_repair(cfg, default_inst, pinned: dict) -> None:
    """Fields left None by the tiny build although the default config derives an int."""
    if default_inst is None:
        return
    heads = _safe_get(cfg, "num_attention_heads")
    hidden = _safe_get(cfg, "hidden_size")
    lt = _safe_get(cfg, "layer_types")
    if "sliding_window" not in pinned and _safe_get(cfg, "sliding_window", 0) is None and isinstance(lt, (list, tuple)) and any(
        isinstance(x, str) and "sliding" in x for x in lt
    ):
        try:
            cfg.sliding_window = 16
        except Exception:
            pass
    for name in ("head_dim", "num_key_value_heads"):
        if name in pinned or _safe_get(cfg, name, 0) is not None or name not in _fields(type(cfg)):
            continue
        if not (_is_int(heads) and heads and _is_int(hidden)):
            continue
        val = hidden // heads if name == "head_dim" else heads
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                setattr(cfg, name, val)
        except Exception:
            pass


# --------------------------------------------------------------------------------------
# invariant repair (on kwargs, before instantiation)


def _eff(kwargs: dict, fields: dict, name: str, default_inst=None):
    if name in kwargs:
        return kwargs[name]
    v = fields.get(name, None)
    if v is inspect.Parameter.empty:
        return None
    return v


TIMM_TYPES = ("timm_backbone", "timm_wrapper")

HEAD_PAIRS = [
    ("hidden_size", "num_attention_heads"),
    ("d_model", "num_attention_heads"),
    ("d_model", "encoder_attention_heads"),
    ("d_model", "decoder_attention_heads"),
    ("d_model", "num_heads"),
    ("embed_dim", "num_heads"),
    ("embed_dim", "num_attention_heads"),
    ("hidden_size", "num_heads"),
    ("n_embd", "n_head"),
    ("dim", "n_heads"),
    ("dim", "num_heads"),
    ("hidden_dim", "num_heads"),
    ("hidden_dim", "num_attention_heads"),
]

LAYER_COUNT_NAMES = ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers", "decoder_layers")


def repair_kwargs(cls, fields: dict, kwargs: dict, pinned: dict, default_inst) -> None:
    # --- heads divide hidden size
    for hid, heads in HEAD_PAIRS:
        if hid in fields and heads in fields and heads not in pinned:
            h, n = _eff(kwargs, fields, hid), _eff(kwargs, fields, heads)
            if _is_int(h) and _is_int(n) and n > 0 and h % n:
                for cand in (4, 2, 1):
                    if h % cand == 0:
                        kwargs[heads] = cand
                        break
    # --- kv heads divide heads
    for kv, heads in (("num_key_value_heads", "num_attention_heads"), ("n_kv_heads", "n_heads"),
                      ("num_kv_heads", "num_attention_heads"), ("num_key_value_heads", "num_heads")):
        if kv in fields and heads in fields and kv not in pinned:
            k, n = _eff(kwargs, fields, kv), _eff(kwargs, fields, heads)
            dk, dn = _safe_get(default_inst, kv), _safe_get(default_inst, heads)
            if _is_int(dk) and _is_int(dn) and dk == dn and _is_int(n):
                kwargs[kv] = n  # multi-head by default: keep kv heads == heads
            elif _is_int(k) and _is_int(n) and n > 0 and (k > n or n % k):
                kwargs[kv] = 1 if n % 2 else min(2, n)
    # --- Mamba-2 style SSM heads: num_heads * head_dim == expand * hidden
    for heads_f, hd_f, exp_f in (("num_heads", "head_dim", "expand"), ("mamba_n_heads", "mamba_d_head", "mamba_expand")):
        if heads_f in fields and exp_f in fields and heads_f not in pinned:
            h = _eff(kwargs, fields, "hidden_size")
            e = _eff(kwargs, fields, exp_f)
            if _is_int(h) and _is_int(e):
                inner = h * e
                kwargs[heads_f] = 4 if inner % 4 == 0 else 1
                if hd_f in fields:
                    kwargs[hd_f] = inner // kwargs[heads_f]
                for dssm in ("mamba_d_ssm", "d_ssm"):
                    if dssm in fields and dssm not in pinned:
                        kwargs[dssm] = inner
                if "n_groups" in fields or "mamba_n_groups" in fields:
                    g = "n_groups" if "n_groups" in fields else "mamba_n_groups"
                    kwargs[g] = 1
    # --- conv codecs double their width per down-sampling stage: start narrow
    if any(isinstance(_eff(kwargs, fields, r), (list, tuple)) for r in ("downsampling_ratios", "upsampling_ratios", "ratios")):
        for name in ("encoder_hidden_size", "num_filters", "n_filters"):
            if name in fields and name not in pinned and _is_int(_eff(kwargs, fields, name)):
                kwargs[name] = 4
    # --- explicit head_dim follows hidden / heads
    if "head_dim" in fields and "head_dim" not in pinned and "head_dim" not in kwargs:
        hd = _eff(kwargs, fields, "head_dim")
        if _is_int(hd):
            for hid, heads in HEAD_PAIRS:
                h, n = _eff(kwargs, fields, hid), _eff(kwargs, fields, heads)
                if hid in fields and heads in fields and _is_int(h) and _is_int(n) and n:
                    kwargs["head_dim"] = max(h // n, 2)
                    break
            else:
                kwargs["head_dim"] = min(hd, 8)
    # --- a stage count that mirrors the per-stage lists stays with them (also one reached through
    # attribute_map, e.g. ConvNext's num_stages aliased as num_hidden_layers)
    depths = _eff(kwargs, fields, "depths")
    if isinstance(depths, (list, tuple)):
        std = _std_names(cls)
        for name in [n for n in kwargs if n == "num_layers" or std.get(n) in LAYER_COUNT_NAMES]:
            if name not in pinned and _is_int(fields.get(name)) and fields[name] == len(depths):
                kwargs.pop(name)
    # --- hierarchical windowed vision (Swin-like): every stage's resolution >= window
    if "window_size" in fields and isinstance(_eff(kwargs, fields, "depths"), (list, tuple)):
        for name, val in (("patch_size", 2), ("window_size", 2)):
            if name in fields and name not in pinned and _is_int(_eff(kwargs, fields, name)):
                kwargs[name] = val
    # --- multimodal rope sections sum to half the head dim
    rp = kwargs.get("rope_parameters", _safe_get(default_inst, "rope_parameters") if default_inst is not None else None)
    if "mrope_section" in (getattr(cls, "ignore_keys_at_rope_validation", None) or ()) and (
        isinstance(rp, dict) and "mrope_section" not in rp and not any(isinstance(v, dict) for v in rp.values())
        or rp is None
    ) and "rope_parameters" in fields:
        rp = dict(rp or {"rope_type": "default", "rope_theta": float(getattr(cls, "default_theta", 10000.0))})
        rp["mrope_section"] = [16, 24, 24]
    if isinstance(rp, dict) and "rope_parameters" not in pinned:
        hd = _eff(kwargs, fields, "head_dim")
        if not _is_int(hd):
            h, n = _eff(kwargs, fields, "hidden_size"), _eff(kwargs, fields, "num_attention_heads")
            hd = h // n if _is_int(h) and _is_int(n) and n else None
        nested = rp and all(isinstance(v, dict) for v in rp.values())
        parts = rp if nested else {"": rp}
        changed = {}
        for key, sub_rp in parts.items():
            if not isinstance(sub_rp.get("mrope_section"), (list, tuple)) or not _is_int(hd):
                changed[key] = sub_rp
                continue
            prf = sub_rp.get("partial_rotary_factor", _eff(kwargs, fields, "partial_rotary_factor"))
            rot = int(hd * prf) if isinstance(prf, (int, float)) and 0 < prf < 1 else hd
            sec = list(sub_rp["mrope_section"])
            if rot // 2 < len(sec):
                frac = prf if isinstance(prf, (int, float)) and 0 < prf < 1 else 1
                want = 16 if frac == 1 else max(16, int(2 * len(sec) / frac))
                h = _eff(kwargs, fields, "hidden_size")
                if "head_dim" in fields and "head_dim" not in pinned:
                    hd = want
                    kwargs["head_dim"] = hd
                elif "num_attention_heads" in fields and _is_int(h) and "num_attention_heads" not in pinned:
                    n = max(1, h // want)
                    kwargs["num_attention_heads"] = n
                    for kv in ("num_key_value_heads",):
                        if kv in fields and kv not in pinned:
                            kwargs[kv] = min(n, _eff(kwargs, fields, kv) or n)
                    hd = h // n
                rot = int(hd * frac)
            half = max(rot // 2, len(sec))
            new = [max(1, round(x * half / sum(sec))) for x in sec]
            new[0] += half - sum(new)
            if new[0] < 1:
                new = [half - len(sec) + 1] + [1] * (len(sec) - 1)
            sub_rp = dict(sub_rp)
            sub_rp["mrope_section"] = new
            changed[key] = sub_rp
        new_rp = changed if nested else changed[""]
        if new_rp != rp:
            kwargs["rope_parameters"] = new_rp
    # --- T5-style per-head key/value width follows hidden / heads
    if "d_kv" in fields and "d_kv" not in pinned and _is_int(_eff(kwargs, fields, "d_kv")):
        for hid, heads in (("d_model", "num_heads"), ("hidden_size", "num_heads"), ("hidden_size", "num_attention_heads")):
            h, n = _eff(kwargs, fields, hid), _eff(kwargs, fields, heads)
            if hid in fields and heads in fields and _is_int(h) and _is_int(n) and n:
                kwargs["d_kv"] = max(h // n, 2)
                break
    # --- per-layer lists follow the layer count
    n_layers = None
    default_layers = None
    for name in LAYER_COUNT_NAMES:
        if name in fields and _is_int(_eff(kwargs, fields, name)):
            n_layers = _eff(kwargs, fields, name)
            d = fields.get(name)
            default_layers = _safe_get(default_inst, name, d) if default_inst is not None else d
            break
    # hybrid patterns: enough layers for one of each kind (attention, mamba/conv, ...), at most 4
    if n_layers is not None and _is_int(default_layers) and default_layers > n_layers:
        for name, default in fields.items():
            cur = _safe_get(default_inst, name, default) if default_inst is not None else default
            if (
                name not in pinned and isinstance(cur, (list, tuple)) and len(cur) == default_layers
                and all(isinstance(x, str) for x in cur)
            ):
                kinds = len(set(cur))
                if n_layers < kinds <= 4:
                    n_layers = kinds
                    for lname in LAYER_COUNT_NAMES:
                        if lname in fields and lname not in pinned and _is_int(_eff(kwargs, fields, lname)):
                            kwargs[lname] = kinds
    if n_layers is not None and _is_int(default_layers) and default_layers != n_layers:
        for name, default in fields.items():
            if name in pinned or name in kwargs and name not in LIST_RULES:
                pass
            cur = kwargs.get(name, _safe_get(default_inst, name, default) if default_inst is not None else default)
            if not isinstance(cur, list) or name in pinned:
                continue
            if len(cur) == default_layers and default_layers > 1:
                kwargs[name] = _shrink_per_layer(cur, n_layers)
            elif "layer" in name and cur and all(_is_int(x) for x in cur) and all(0 <= x < default_layers for x in cur):
                kept = [x for x in cur if x < n_layers]
                kwargs[name] = kept or [n_layers - 1]
    # --- special token ids inside the vocab
    vocab = _eff(kwargs, fields, "vocab_size")
    if not _is_int(vocab):
        for key in ("text_config", "decoder_config", "language_config", "llm_config", "decoder"):
            sub = kwargs.get(key)
            if sub is not None and _is_int(_safe_get(sub, "vocab_size")):
                vocab = sub.vocab_size
                break
    if _is_int(vocab) and vocab > 0:
        fix_token_ids(fields, kwargs, pinned, vocab, default_inst)


def _shrink_per_layer(cur: list, n: int) -> list:
    """First n entries, but keep one of each distinct kind (hybrid patterns)."""
    if n >= len(cur):
        return cur
    out = list(cur[:n])
    try:
        kinds = list(dict.fromkeys(cur))
    except TypeError:
        return out
    missing = [k for k in kinds if k not in out]
    if missing and len(kinds) <= n:
        out = list(dict.fromkeys(cur))
        out = (out + list(cur))[:n] if len(out) < n else out[:n]
    return out


TOKEN_FIELD = re.compile(r"(_token_id|_token_index|_token_ids|_id)$")
NOT_TOKEN = re.compile(r"(layer|head|expert|label|type_id|block|group|stage|codebook|speaker|lang|position|segment|task)", re.I)


def fix_token_ids(fields: dict, kwargs: dict, pinned: dict, vocab: int, default_inst) -> None:
    used: set[int] = set()
    names = [n for n in fields if TOKEN_FIELD.search(n) and not NOT_TOKEN.search(n)]
    # extra token ids set as plain attributes on the default instance
    if default_inst is not None:
        for n in vars(default_inst):
            if TOKEN_FIELD.search(n) and not NOT_TOKEN.search(n) and n not in names and not n.startswith("_"):
                names.append(n)
    vals = {}
    for n in names:
        if n in pinned:
            continue
        v = kwargs.get(n, fields.get(n) if fields.get(n) is not inspect.Parameter.empty else None)
        if v is None and default_inst is not None:
            v = _safe_get(default_inst, n)
        vals[n] = v
        for x in v if isinstance(v, list) else [v]:
            if _is_int(x) and 0 <= x < vocab:
                used.add(x)
    nxt = vocab - 1
    remap: dict[int, int] = {}

    def fresh(x: int) -> int:
        nonlocal nxt
        if x in remap:
            return remap[x]
        while nxt in used and nxt > 3:
            nxt -= 1
        remap[x] = nxt
        used.add(nxt)
        nxt -= 1
        return remap[x]

    for n, v in vals.items():
        if v is None and n in fields and re.match(r"(image|video|audio)_token_(id|index)$", n):
            kwargs[n] = fresh(-1 - len(remap))  # placeholder left unset by the default config
        elif _is_int(v) and v >= vocab:
            kwargs[n] = fresh(v)
        elif isinstance(v, list) and v and all(_is_int(x) for x in v) and any(x >= vocab for x in v):
            kwargs[n] = [fresh(x) if x >= vocab else x for x in v]
