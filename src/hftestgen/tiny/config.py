"""Tiny config synthesis, as a pipeline of named steps (``tiny_config``):

1. **shrink**: every field from its class default, sizes by name (``SIZE_RULES``,
   ``LIST_RULES``, generic size-looking names), ``None`` defaults a model needs filled;
2. **inherit** (nested configs only): the flags and small counts the parent's default set;
3. **sub-configs**: each nested config, tiny in turn (recursively);
4. **repairs**: invariants between fields, each a short named rule in ``REPAIRS`` (in order);
5. **regime**: values that make bugs show (``REGIME``: label counts, dropout, init scale);
6. **pins**: the record's / user's values (``pinned``) win over every rule;
7. **built repairs**: fields the built config left ``None`` (``BUILT_REPAIRS``).

Everything here is a *general* rule keyed by config field names (and the config's
``attribute_map`` aliases). Knowledge about one model type lives in its record
(``hftestgen/registry/types/<type>.toml``) and is merged on top, never in
``if model_type == ...`` code. Reading configs (fields, sub-configs, aliases, token fields)
is ``hftestgen.configs``.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..configs import (
    declared_sub_configs,
    default_instance,
    field_defaults,
    is_config,
    is_int,
    is_token_field,
    resolve_aliases,
    safe_get,
    std_names,
    sub_config_slots,
)
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
EXPERTS = 12
"""MoE experts: distinct from heads (4) and the other counts; 6 per group with 2 groups."""
TOP_K = 5
"""Experts per token: distinct from layers / kv heads (2), labels (3) and heads (4); at most
the experts of one group (``n_group`` 2, ``topk_group`` 1: 6)."""
LABELS = 3
"""Label / target counts (``LABEL_COUNTS``): never 2, ``PretrainedConfig``'s default, which a
head sized from a constant would match."""
DROPOUT = 0.1
"""Dropout probabilities a default leaves at 0 (``DROPOUT_FIELD``): dropout that ignores eval
mode changes eval outputs only when its probability is nonzero."""
INIT_STD = 0.2
"""Weight init standard deviation (``INIT_FIELDS``): at the library default 0.02 a tiny random
model's attention is nearly uniform and its activations nearly linear, so bugs in attention
scaling, masking or normalization barely move the outputs."""

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
_rule(
    "num_key_value_heads n_kv_heads num_kv_heads multi_query_group_num num_query_groups", KV_HEADS
)
_rule(
    "intermediate_size d_ff encoder_ffn_dim decoder_ffn_dim ffn_dim n_inner dim_feedforward mlp_dim "
    "moe_intermediate_size shared_expert_intermediate_size expert_intermediate_size ffn_hidden_size "
    "encoder_intermediate_size decoder_intermediate_size intermediate_size_mlp text_intermediate_size "
    "vision_intermediate_size feed_forward_proj_dim block_intermediate_size dense_intermediate_size "
    "intermediate_size_per_layer_input",
    INTER,
)
_rule("num_experts num_local_experts n_routed_experts moe_num_experts num_experts_total", EXPERTS)
_rule("num_experts_per_tok num_experts_per_token moe_top_k top_k experts_per_token moe_k", TOP_K)
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
# DETR-style group training (LW-DETR, RF-DETR) multiplies the queries by this in train mode only:
# 13 groups x 300 queries made one tiny train step take 16-26 s
_rule("group_detr", 2)
# DETR-style object queries (100-900 by default): the decoder, the matcher and the two-stage
# top-k selection all scale with them. 12 as in Transformers' own DETR testers; fewer queries
# than encoder proposals also lets two-stage models (LW-DETR, RF-DETR) run on 32 px images,
# where 300 queries needed 224 px (3,136 backbone tokens; a train step took 14-16 s).
_rule("num_queries", 12)

# Fields whose class default is None but which a model cannot run without.
FILL_NONE: dict[str, Any] = {
    "vocab_size": VOCAB,
    "prediction_length": 4,
    "num_experts_per_tok": TOP_K,
    "n_routed_experts": EXPERTS,
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

# Fields that look like sizes but must keep their default (shape contracts, ids, ratios;
# keypoint_decoder_dim: a keypoint head scores 8*8 pixel cells + 1 dustbin = 65, SuperPoint).
GENERIC_EXCLUDE = re.compile(
    r"(^head_dim$|^keypoint_decoder_dim$|vocab|image|img|patch|position|window|kernel|stride|batch|chunk|label|token|num_channels|"
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


TIMM_TYPES = ("timm_backbone", "timm_wrapper")

# derived from the layer count by the backbone config itself: never copied from a parent's default
INHERIT_SKIP = {"stage_names", "out_features", "_out_features", "out_indices", "_out_indices"}

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
KV_PAIRS = (
    ("num_key_value_heads", "num_attention_heads"),
    ("n_kv_heads", "n_heads"),
    ("num_kv_heads", "num_attention_heads"),
    ("num_key_value_heads", "num_heads"),
)
SSM_FIELDS = (
    ("num_heads", "head_dim", "expand"),
    ("mamba_n_heads", "mamba_d_head", "mamba_expand"),
)
D_KV_PAIRS = (
    ("d_model", "num_heads"),
    ("hidden_size", "num_heads"),
    ("hidden_size", "num_attention_heads"),
)
LAYER_COUNT_NAMES = (
    "num_hidden_layers",
    "num_layers",
    "n_layer",
    "n_layers",
    "encoder_layers",
    "decoder_layers",
)
TEXT_SUB_KEYS = ("text_config", "decoder_config", "language_config", "llm_config", "decoder")


# --------------------------------------------------------------------------------------
# the state the steps share


@dataclass
class Tiny:
    """One tiny config being built: the steps read the class, its field defaults and the
    default instance, and write ``kwargs`` (the values the config is built with)."""

    cls: Any
    fields: dict[str, Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    pinned: dict[str, Any] = field(default_factory=dict)
    default: Any = None
    """The default instance: the class's, or the parent default's sub-config when nested."""
    depth: int = 0
    inherit: bool = False
    """Nested under a parent whose default instance is ``default``."""
    slots: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    layers: tuple[Any, Any] | None = None
    """(tiny, default) layer count once the layer repairs settled it."""
    slot: str = ""
    """Nested: the parent's attribute that holds this config (``backbone_config``)."""
    parent: Tiny | None = None
    """Nested: the parent's state (its fields; its kwargs as far as built)."""

    def eff(self, name: str) -> Any:
        """The value a field will get so far: kwargs, else its class default (``None`` if none)."""
        if name in self.kwargs:
            return self.kwargs[name]
        v = self.fields.get(name, None)
        return None if v is inspect.Parameter.empty else v

    def free(self, name: str) -> bool:
        """A field of the class that no pin sets: rules may choose its value."""
        return name in self.fields and name not in self.pinned

    def dflt(self, name: str, default: Any = None) -> Any:
        """The default instance's value (``default`` without one, or when reading raises)."""
        return safe_get(self.default, name, default)

    def final(self, name: str) -> Any:
        """The value a field will be built with: its pin, else ``eff``."""
        return self.pinned[name] if name in self.pinned else self.eff(name)


def _int_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(is_int(x) for x in v)


# --------------------------------------------------------------------------------------
# step 1: shrink


def _shrink_value(name: str, std: str, default: Any) -> Any:
    target = SIZE_RULES.get(name, SIZE_RULES.get(std))
    if _int_list(default):
        lt = LIST_RULES.get(name, LIST_RULES.get(std))
        if lt is not None:
            return [min(x, lt) if x > 0 else x for x in default]
        if name in ("image_size", "img_size", "patch_size") and len(default) == 2:
            t = IMAGE if "image" in name or "img" in name else PATCH
            return [min(x, t) for x in default]
        return default
    if name == "image_grid_pinpoints" and isinstance(default, (list, tuple)) and default:
        return [[IMAGE, IMAGE], [IMAGE, 2 * IMAGE]]
    if target is None or not is_int(default):
        return default
    return min(default, target) if default > 0 else default


def _generic_shrink(name: str, default: Any) -> Any:
    if _int_list(default):
        if max(default) > 64 and GENERIC_SIZE.search(name) and not LIST_EXCLUDE.search(name):
            return [min(x, HIDDEN) if x > 0 else x for x in default]
        return default
    if not is_int(default):
        return default
    if GENERIC_VOCAB.search(name) and default > VOCAB and "token" not in name:
        return VOCAB
    if default <= 64:
        return default
    if GENERIC_EXCLUDE.search(name) or not GENERIC_SIZE.search(name):
        return default
    return HIDDEN


def _shrunk(name: str, std: str, value: Any) -> Any:
    """The value a size rule for ``name`` (or its standard name ``std``) gives, else the
    generic rule's."""
    new = _shrink_value(name, std, value)
    if new is value or new == value:
        new = _generic_shrink(name, value)
    return new


_KEEP = object()


def _inherited(t: Tiny, name: str, default: Any) -> Any:
    """Nested: a flag, name or small count (num_register_tokens) the parent's default set
    differently from the class default, shrunk as a top-level value would be. Sizes,
    per-layer lists and rope tables are re-derived from the tiny sizes instead."""
    if not t.inherit or name in INHERIT_SKIP:
        return _KEEP
    iv = t.dflt(name, default)
    small = isinstance(iv, (bool, str)) or (is_int(iv) and 0 <= iv <= 8)
    if small and iv is not default and iv != default:
        return _shrunk(name, std_names(t.cls).get(name, name), iv)
    return _KEEP


def _from_none_default(t: Tiny, name: str) -> Any:
    """A field whose class default is ``None``: filled when a model needs it (``FILL_NONE``),
    else the default instance's derived list, shrunk."""
    if name in FILL_NONE and t.dflt(name) is None:
        return FILL_NONE[name]
    if t.default is None:
        return _KEEP
    iv = t.dflt(name)
    if name == "image_grid_pinpoints" and iv:
        return _shrink_value(name, name, iv)
    if _int_list(iv):
        new = _shrunk(name, std_names(t.cls).get(name, name), list(iv))
        if list(new) != list(iv):
            return list(new)
    return _KEEP


def _shrink_field(t: Tiny, name: str, default: Any) -> Any:
    """The tiny value of one field, or ``_KEEP`` for its class default."""
    new = _inherited(t, name, default)
    if new is not _KEEP or default is inspect.Parameter.empty:
        return new
    if default is None:
        return _from_none_default(t, name)
    new = _shrunk(name, std_names(t.cls).get(name, name), default)
    return _KEEP if new is default or new == default else new


def shrink_fields(t: Tiny) -> None:
    """Step 1: every field that no pin sets and that is no sub-config, shrunk by name."""
    for name, default in t.fields.items():
        if name in t.slots or name in t.pinned:
            continue
        new = _shrink_field(t, name, default)
        if new is not _KEEP:
            t.kwargs[name] = new


# --------------------------------------------------------------------------------------
# step 2: inherit (nested configs)


def inherit_parent_values(t: Tiny) -> None:
    """Step 2, nested configs only: the parent's choice of backbone feature maps
    (``out_indices``, re-aligned to the layer count later) and plain attributes the parent set
    on its default sub-config that the class default lacks (flags, small counts:
    ``return_class_token``)."""
    if not t.inherit:
        return
    outi = t.dflt("out_indices")
    if isinstance(outi, (list, tuple)) and "out_features" not in t.pinned:
        t.kwargs.setdefault("out_indices", list(t.default.out_indices))
    fresh = default_instance(t.cls)
    fresh_vars = vars(fresh) if fresh is not None else {}
    for name, v in vars(t.default).items():
        if (
            name.startswith("_")
            or name in t.fields
            or name in fresh_vars
            or name in t.pinned
            or name in INHERIT_SKIP
            or is_config(v)
            or name in t.slots
        ):
            continue
        if isinstance(v, (bool, str)) or (is_int(v) and 0 <= v <= 8):  # flags, not sizes
            t.kwargs[name] = v


# --------------------------------------------------------------------------------------
# step 3: sub-configs


def _native_backbone(t: Tiny, key: str, inst: Any, spec: Any, sub_pin: Any) -> Any:
    """A timm backbone (timm cannot be installed here) is replaced by the spec's native
    backbone class, else ResNet; the parent is told not to load timm. Returns the class or
    ``None`` when the slot holds no timm backbone."""
    if inst is None or getattr(inst, "model_type", "") not in TIMM_TYPES or sub_pin:
        return None
    if key != "backbone_config":
        return None
    alt = getattr(spec, "model_type", None) if spec is not None else None
    alt = alt if alt and alt not in TIMM_TYPES else "resnet"
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if "use_timm_backbone" in t.fields:
        # configs that only read the kwarg when backbone_config is None (all as of 5.x) would
        # keep it as a stray attribute, which a nested config loses on save/load
        t.kwargs["use_timm_backbone"] = False
    if "backbone" in t.fields:
        t.kwargs["backbone"] = None
    return CONFIG_MAPPING[alt]


def _spec_class(spec: Any, sub_pin: Any) -> Any:
    """The config class a ``sub_configs_defaults`` spec names (a pinned ``model_type`` picks
    among an AutoConfig spec's classes), or ``None``."""
    from transformers import PretrainedConfig

    mt = sub_pin.get("model_type") if isinstance(sub_pin, dict) else None
    if isinstance(spec, type):  # 4.x: a declared ``sub_configs`` class (AutoConfig: pin a type)
        return spec if issubclass(spec, PretrainedConfig) else None
    try:
        if isinstance(spec.config_class, type) and issubclass(spec.config_class, PretrainedConfig):
            return spec.config_class
        return spec.get_config_class(mt or spec.model_type)
    except Exception:
        return None


def _sub_class(t: Tiny, key: str, inst: Any, spec: Any, sub_pin: Any) -> tuple[Any, Any]:
    """(config class, default instance or ``None``) of the sub-config in slot ``key``."""
    sub_cls = _native_backbone(t, key, inst, spec, sub_pin)
    if sub_cls is not None:
        inst = None
    elif inst is not None:
        sub_cls = type(inst)
    elif spec is not None:
        sub_cls = _spec_class(spec, sub_pin)
    mt = sub_pin.get("model_type") if isinstance(sub_pin, dict) else None
    if mt and (sub_cls is None or getattr(sub_cls, "model_type", None) != mt):
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING

        sub_cls, inst = CONFIG_MAPPING[mt], None
    return sub_cls, inst


def _neck_backbone_pins(t: Tiny, key: str, sub_cls: Any, sp: dict) -> None:
    """A neck that fuses k backbone feature maps (DPT-like ``neck_hidden_sizes``) needs a
    backbone with k selectable layers: k layers, maps 1..k, plain (unreshaped) states."""
    neck = t.dflt("neck_hidden_sizes")
    if key != "backbone_config" or not isinstance(neck, (list, tuple)) or len(neck) <= 1:
        return
    sub_fields = field_defaults(sub_cls)
    if "num_hidden_layers" in sub_fields and (
        "out_indices" in sub_fields or "_out_indices" in sub_fields
    ):
        sp.setdefault("num_hidden_layers", len(neck))
        sp.setdefault("out_indices", list(range(1, len(neck) + 1)))
        sp.setdefault("out_features", None)
        if "reshape_hidden_states" in sub_fields:
            sp.setdefault("reshape_hidden_states", False)


def _sub_config(t: Tiny, key: str, inst: Any, spec: Any) -> Any:
    """The tiny sub-config for slot ``key`` (its pins taken out of ``t.pinned``), or ``None``
    when the slot stays unset."""
    sub_pin = t.pinned.pop(key, None)
    if sub_pin is None and inst is None and spec is not None and getattr(spec, "optional", False):
        return None
    if is_config(sub_pin):
        return sub_pin
    sub_cls, inst = _sub_class(t, key, inst, spec, sub_pin)
    if sub_cls is None or t.depth > 5:
        return None
    sp = {k: v for k, v in (sub_pin or {}).items() if k != "model_type"}
    _neck_backbone_pins(t, key, sub_cls, sp)
    nested_default = inst if inst is not None and type(inst) is sub_cls else None
    return tiny_config(sub_cls, sp, nested_default, t.depth + 1, parent=t, slot=key)


def nest_sub_configs(t: Tiny) -> None:
    """Step 3: every sub-config slot, tiny in turn (its pins are the nested table)."""
    subs = {}
    for key, (inst, spec) in t.slots.items():
        cfg = _sub_config(t, key, inst, spec)
        if cfg is not None:
            subs[key] = cfg
    t.kwargs.update(subs)


# --------------------------------------------------------------------------------------
# step 4: repairs, by name, in order

REPAIRS: dict[str, Callable[[Tiny], None]] = {}
"""Invariants between fields, applied in order to the kwargs (before the config is built)."""
BUILT_REPAIRS: dict[str, Callable[[Tiny, Any], None]] = {}
"""Fields the built config derived as ``None`` although the model needs a value."""


def repair(name: str, built: bool = False) -> Callable:
    """Register a repair under ``name`` (run in registration order)."""

    def register(fn: Callable) -> Callable:
        table: dict = BUILT_REPAIRS if built else REPAIRS
        assert name not in table, f"repair {name!r} registered twice"
        table[name] = fn
        return fn

    return register


def run_repairs(t: Tiny, names: tuple[str, ...] | None = None) -> None:
    """Apply the repairs (``names``: only those) to ``t.kwargs``, in table order."""
    for name, fn in REPAIRS.items():
        if names is None or name in names:
            fn(t)


def repair_kwargs(cls, fields: dict, kwargs: dict, pinned: dict, default_inst) -> None:
    """Every repair, on plain dicts: ``kwargs`` (changed in place) over the class ``fields``."""
    run_repairs(Tiny(cls, fields, kwargs, pinned, default_inst))


@repair("chained-channels")
def _chained_channels(t: Tiny) -> None:
    """Per-stage channel lists chained stage to stage (``out[i] == in[i + 1]``, widths over 64)
    scale down together by one factor (multiples of 8, at least 8), keeping the stem width
    ``in[0]``: ``*in_channels`` / ``*out_channels`` pairs."""
    for name in t.fields:
        if not name.endswith("in_channels") or name in t.pinned:
            continue
        oname = name[: -len("in_channels")] + "out_channels"
        ins, outs = t.dflt(name), t.dflt(oname)
        if not (t.free(oname) and _int_list(ins) and _int_list(outs) and len(ins) == len(outs) > 1):
            continue
        if max(outs) <= 64 or any(outs[i] != ins[i + 1] for i in range(len(ins) - 1)):
            continue
        k = -(-max(outs) // HIDDEN)
        new_out = [max(8, -(-x // k // 8) * 8) for x in outs]
        t.kwargs[name] = [ins[0], *new_out[:-1]]
        t.kwargs[oname] = new_out


BACKBONE_LOADING = (
    ("backbone", None),
    ("use_timm_backbone", False),
    ("backbone_kwargs", None),
    ("use_pretrained_backbone", False),
)
"""Fields that load a backbone by name (a checkpoint, timm) and their off values."""


@repair("backbone-config-excludes-named-backbone")
def _backbone_config_excludes_named_backbone(t: Tiny) -> None:
    """A backbone given as a config (``backbone_config``: pinned, or nested from the default)
    is the backbone: the checkpoint name (``backbone``), timm loading (``use_timm_backbone``),
    timm kwargs (``backbone_kwargs``) and pretrained loading go (``BACKBONE_LOADING``), as
    ``verify_backbone_config_arguments`` and ``load_backbone`` demand (4.57's DETR-likes default
    ``backbone="resnet50"`` from timm, pretrained; 5.x defaults leave them unset)."""
    given = t.final("backbone_config")
    if not (is_config(given) or isinstance(given, dict)):
        return
    for name, off in BACKBONE_LOADING:
        if t.free(name) and t.eff(name) not in (None, False, {}):
            t.kwargs[name] = off


@repair("width-multiplier-one")
def _width_multiplier_one(t: Tiny) -> None:
    """A width / depth multiplier above 1 (EfficientNet's ``width_coefficient``, MobileNet's
    ``width_multiplier``) is set to 1.0: the tiny widths are the widths."""
    for name in ("width_coefficient", "depth_coefficient", "width_multiplier", "width_mult"):
        v = t.dflt(name)
        if isinstance(v, float) and v > 1.0 and t.free(name):
            t.kwargs[name] = 1.0


@repair("neck-levels")
def _neck_levels(t: Tiny) -> None:
    """A neck fusing k backbone levels (``neck_hidden_sizes`` of length k) reads levels
    ``backbone_out_indices = 0..k-1`` and needs at least k layers."""
    neck = t.dflt("neck_hidden_sizes")
    if not (isinstance(neck, (list, tuple)) and len(neck) > 1 and t.free("backbone_out_indices")):
        return
    t.kwargs["backbone_out_indices"] = list(range(len(neck)))
    for lname in LAYER_COUNT_NAMES:
        if t.free(lname):
            t.kwargs[lname] = max(len(neck), t.eff(lname) or 0)
            break


@repair("heads-divide-hidden")
def _heads_divide_hidden(t: Tiny) -> None:
    """The attention head count divides the hidden size (``HEAD_PAIRS``): else 4, 2 or 1."""
    for hid, heads in HEAD_PAIRS:
        if hid in t.fields and t.free(heads):
            h, n = t.eff(hid), t.eff(heads)
            if is_int(h) and is_int(n) and n > 0 and h % n:
                t.kwargs[heads] = next(c for c in (4, 2, 1) if h % c == 0)


@repair("kv-heads-divide-heads")
def _kv_heads_divide_heads(t: Tiny) -> None:
    """Key/value heads divide the heads: a config that is multi-head by default (kv heads ==
    heads) stays so; otherwise too many or non-dividing kv heads become 1 (odd heads) or 2."""
    for kv, heads in KV_PAIRS:
        if not (t.free(kv) and heads in t.fields):
            continue
        k, n = t.eff(kv), t.eff(heads)
        dk, dn = t.dflt(kv), t.dflt(heads)
        if is_int(dk) and is_int(dn) and dk == dn and is_int(n):
            t.kwargs[kv] = n
        elif is_int(k) and is_int(n) and n > 0 and (k > n or n % k):
            t.kwargs[kv] = 1 if n % 2 else min(2, n)


@repair("ssm-heads-fill-inner")
def _ssm_heads_fill_inner(t: Tiny) -> None:
    """Mamba-2 style SSM heads: ``heads * head_dim == expand * hidden_size`` (4 heads when
    they divide it, else 1), the SSM width (``d_ssm``) is that inner size, one group."""
    for heads_f, hd_f, exp_f in SSM_FIELDS:
        if not (t.free(heads_f) and exp_f in t.fields):
            continue
        h, e = t.eff("hidden_size"), t.eff(exp_f)
        if not (is_int(h) and is_int(e)):
            continue
        inner = h * e
        t.kwargs[heads_f] = 4 if inner % 4 == 0 else 1
        if hd_f in t.fields:
            t.kwargs[hd_f] = inner // t.kwargs[heads_f]
        for dssm in ("mamba_d_ssm", "d_ssm"):
            if t.free(dssm):
                t.kwargs[dssm] = inner
        if "n_groups" in t.fields or "mamba_n_groups" in t.fields:
            t.kwargs["n_groups" if "n_groups" in t.fields else "mamba_n_groups"] = 1


@repair("codec-starts-narrow")
def _codec_starts_narrow(t: Tiny) -> None:
    """Conv codecs double their width per down-sampling stage (``downsampling_ratios`` /
    ``upsampling_ratios`` / ``ratios``): the first width starts at 4."""
    if not any(
        isinstance(t.eff(r), (list, tuple))
        for r in ("downsampling_ratios", "upsampling_ratios", "ratios")
    ):
        return
    for name in ("encoder_hidden_size", "num_filters", "n_filters"):
        if t.free(name) and is_int(t.eff(name)):
            t.kwargs[name] = 4


@repair("head-dim-follows-heads")
def _head_dim_follows_heads(t: Tiny) -> None:
    """An explicit ``head_dim`` is hidden size / heads (at least 2); without a head pair, at
    most 8."""
    if not t.free("head_dim") or "head_dim" in t.kwargs or not is_int(t.eff("head_dim")):
        return
    width = _hidden_per_head(t, HEAD_PAIRS)
    t.kwargs["head_dim"] = width if width is not None else min(t.eff("head_dim"), 8)


def _hidden_per_head(t: Tiny, pairs) -> int | None:
    """Hidden size / heads (at least 2) for the first (hidden, heads) field pair of ``pairs``
    the config has, else ``None``."""
    for hid, heads in pairs:
        h, n = t.eff(hid), t.eff(heads)
        if hid in t.fields and heads in t.fields and is_int(h) and is_int(n) and n:
            return max(h // n, 2)
    return None


@repair("stage-count-follows-depths")
def _stage_count_follows_depths(t: Tiny) -> None:
    """A stage count that mirrors the per-stage lists (``depths``) keeps its default, which
    the lists keep too: shrinking it as a layer count (also one reached through
    ``attribute_map``, e.g. ConvNext's ``num_stages`` as ``num_hidden_layers``) is undone."""
    depths = t.eff("depths")
    if not isinstance(depths, (list, tuple)):
        return
    std = std_names(t.cls)
    for name in [n for n in t.kwargs if n == "num_layers" or std.get(n) in LAYER_COUNT_NAMES]:
        if name not in t.pinned and is_int(t.fields.get(name)) and t.fields[name] == len(depths):
            t.kwargs.pop(name)


@repair("windows-fit-stages")
def _windows_fit_stages(t: Tiny) -> None:
    """Hierarchical windowed vision (Swin-like: ``window_size`` and per-stage ``depths``):
    patch 2 and window 2, so every stage's resolution of a tiny image holds a window."""
    if "window_size" not in t.fields or not isinstance(t.eff("depths"), (list, tuple)):
        return
    for name, val in (("patch_size", 2), ("window_size", 2)):
        if t.free(name) and is_int(t.eff(name)):
            t.kwargs[name] = val


ROPE_TABLES = ("rope_parameters", "rope_scaling")
"""The rope table field: ``rope_parameters`` (5.x, holds ``rope_theta``), ``rope_scaling``
(4.x, ``rope_theta`` a field of its own)."""


def _rope_field(t: Tiny) -> str | None:
    """The rope table field the config has (``ROPE_TABLES``, first found), else ``None``."""
    return next((name for name in ROPE_TABLES if name in t.fields), None)


def _validates_mrope(cls: Any) -> bool:
    """Whether the config class validates a multimodal rope table (``mrope_section``): 5.x
    declares it in ``ignore_keys_at_rope_validation``; a 4.x ``__init__`` passes it to
    ``rope_config_validation(self, ignore_keys={"mrope_section"})`` (read from its source)."""
    if "mrope_section" in (getattr(cls, "ignore_keys_at_rope_validation", None) or ()):
        return True
    if hasattr(cls, "ignore_keys_at_rope_validation"):
        return False
    try:
        return "mrope_section" in inspect.getsource(cls.__init__)
    except (OSError, TypeError):
        return False


def _rope_with_section(t: Tiny) -> Any:
    """The rope parameters to fit: kwargs', else the default's; a class that validates
    ``mrope_section`` but whose default has none (flat rope table or ``None``: every 4.57
    M-RoPE text config defaults ``rope_scaling=None`` while its attention reads
    ``rope_scaling["mrope_section"]``) gets the usual [16, 24, 24]."""
    key = _rope_field(t)
    if key is None:
        return None
    rp = t.kwargs.get(key, t.dflt(key) if t.default is not None else None)
    flat = (
        isinstance(rp, dict)
        and "mrope_section" not in rp
        and not any(isinstance(v, dict) for v in rp.values())
    )
    if (flat or rp is None) and _validates_mrope(t.cls):
        rp = dict(rp or {"rope_type": "default"})
        if key == "rope_parameters":
            rp.setdefault("rope_theta", float(getattr(t.cls, "default_theta", 10000.0)))
        rp["mrope_section"] = [16, 24, 24]
    return rp


def _rope_head_dim(t: Tiny) -> Any:
    hd = t.eff("head_dim")
    if not is_int(hd):
        h, n = t.eff("hidden_size"), t.eff("num_attention_heads")
        hd = h // n if is_int(h) and is_int(n) and n else None
    return hd


def _widen_heads_for_sections(t: Tiny, n_sec: int, frac: float, hd: int) -> int:
    """A head dim whose rotary half holds one slot per section: head_dim 16 (more when only a
    fraction rotates), or fewer heads over the hidden size. Returns the new head dim."""
    want = 16 if frac == 1 else max(16, int(2 * n_sec / frac))
    h = t.eff("hidden_size")
    if t.free("head_dim"):
        t.kwargs["head_dim"] = want
        return want
    if t.free("num_attention_heads") and is_int(h):
        n = max(1, h // want)
        t.kwargs["num_attention_heads"] = n
        if t.free("num_key_value_heads"):
            t.kwargs["num_key_value_heads"] = min(n, t.eff("num_key_value_heads") or n)
        return h // n
    return hd


def _fit_sections(t: Tiny, rp: dict, hd: Any) -> tuple[dict, Any]:
    """One rope table with its ``mrope_section`` scaled to sum to half the rotary dims."""
    if not isinstance(rp.get("mrope_section"), (list, tuple)) or not is_int(hd):
        return rp, hd
    prf = rp.get("partial_rotary_factor", t.eff("partial_rotary_factor"))
    frac = prf if isinstance(prf, (int, float)) and 0 < prf < 1 else 1
    rot = int(hd * prf) if frac != 1 else hd
    sec = list(rp["mrope_section"])
    if rot // 2 < len(sec):
        hd = _widen_heads_for_sections(t, len(sec), frac, hd)
        rot = int(hd * frac)
    half = max(rot // 2, len(sec))
    new = [max(1, round(x * half / sum(sec))) for x in sec]
    new[0] += half - sum(new)
    if new[0] < 1:
        new = [half - len(sec) + 1] + [1] * (len(sec) - 1)
    return {**rp, "mrope_section": new}, hd


@repair("mrope-sections-fit-head-dim")
def _mrope_sections_fit_head_dim(t: Tiny) -> None:
    """Multimodal rope sections (``mrope_section``, per rope table when nested) sum to half
    the rotary dims of the tiny head, at least 1 each; a head too narrow for one slot per
    section is widened first."""
    rp, field_name = _rope_with_section(t), _rope_field(t)
    if not isinstance(rp, dict) or field_name in t.pinned:
        return
    hd = _rope_head_dim(t)
    nested = bool(rp) and all(isinstance(v, dict) for v in rp.values())
    changed = {}
    for name, part in (rp if nested else {"": rp}).items():
        changed[name], hd = _fit_sections(t, part, hd)
    new_rp = changed if nested else changed[""]
    if new_rp != rp or (field_name not in t.kwargs and new_rp != t.dflt(field_name)):
        t.kwargs[field_name] = new_rp


@repair("d-kv-follows-heads")
def _d_kv_follows_heads(t: Tiny) -> None:
    """T5-style per-head key/value width ``d_kv`` is hidden size / heads (at least 2)."""
    if not t.free("d_kv") or not is_int(t.eff("d_kv")):
        return
    width = _hidden_per_head(t, D_KV_PAIRS)
    if width is not None:
        t.kwargs["d_kv"] = width


def _layer_count(t: Tiny) -> tuple[Any, Any]:
    """(tiny, default) count of the first layer-count field the config has."""
    for name in LAYER_COUNT_NAMES:
        if name in t.fields and is_int(t.eff(name)):
            return t.eff(name), t.dflt(name, t.fields.get(name))
    return None, None


@repair("hybrid-keeps-each-kind")
def _hybrid_keeps_each_kind(t: Tiny) -> None:
    """A hybrid layer pattern (a per-layer list of kinds: attention, mamba, conv, ...) keeps
    one layer of each kind: the layer count grows to the number of kinds (at most 4)."""
    n, d = _layer_count(t)
    if n is not None and is_int(d) and d > n:
        for name, default in t.fields.items():
            cur = t.dflt(name, default)
            if name in t.pinned or not isinstance(cur, (list, tuple)) or len(cur) != d:
                continue
            kinds = len(set(cur)) if all(isinstance(x, str) for x in cur) else 0
            if n < kinds <= 4:
                n = kinds
                for lname in LAYER_COUNT_NAMES:
                    if t.free(lname) and is_int(t.eff(lname)):
                        t.kwargs[lname] = kinds
    t.layers = (n, d)


@repair("per-layer-lists")
def _per_layer_lists(t: Tiny) -> None:
    """Lists with one entry per layer follow the tiny layer count (first entries, one of each
    kind kept); lists of layer indices keep the indices that still exist (else the last)."""
    n, d = t.layers if t.layers is not None else _layer_count(t)
    if n is None or not is_int(d) or d == n:
        return
    for name, default in t.fields.items():
        cur = t.kwargs.get(name, t.dflt(name, default))
        if not isinstance(cur, list) or name in t.pinned:
            continue
        if len(cur) == d and d > 1:
            t.kwargs[name] = _shrink_per_layer(cur, n)
        elif (
            "layer" in name and cur and all(is_int(x) for x in cur) and all(0 <= x < d for x in cur)
        ):
            t.kwargs[name] = [x for x in cur if x < n] or [n - 1]


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


def _vocab(t: Tiny) -> Any:
    """The tiny vocabulary size: the config's, else its text sub-config's."""
    vocab = t.eff("vocab_size")
    if is_int(vocab):
        return vocab
    for key in TEXT_SUB_KEYS:
        sub = t.kwargs.get(key)
        if sub is not None and is_int(safe_get(sub, "vocab_size")):
            return sub.vocab_size
    return vocab


def _token_values(t: Tiny) -> dict[str, Any]:
    """Token-id fields no pin sets (also plain attributes of the default instance) -> value."""
    names = [n for n in t.fields if is_token_field(n)]
    if t.default is not None:
        names += [
            n
            for n in vars(t.default)
            if is_token_field(n) and n not in names and not n.startswith("_")
        ]
    vals = {}
    for n in names:
        if n in t.pinned:
            continue
        v = t.kwargs.get(
            n, t.fields.get(n) if t.fields.get(n) is not inspect.Parameter.empty else None
        )
        vals[n] = t.dflt(n) if v is None and t.default is not None else v
    return vals


@repair("token-ids-in-vocab")
def _token_ids_in_vocab(t: Tiny) -> None:
    """Special token ids lie inside the tiny vocab: ids past it move to the top free ids
    (distinct, one new id per old id), and unset image/video/audio placeholder ids get one."""
    vocab = _vocab(t)
    if is_int(vocab) and vocab > 0:
        fix_token_ids(t.fields, t.kwargs, t.pinned, vocab, t.default, _sub_config_ids(t))


def _sub_config_ids(t: Tiny) -> tuple[dict[int, int], set[int]]:
    """Rule SHARED_ID_SPACE: the token ids the sub-configs already settled (they are built
    first, ``nest_sub_configs``): (old id -> tiny id where one moved, every tiny id). A
    composite's own ids share the text vocabulary with its sub-configs, so an id of the
    composite that moves takes no id a sub-config holds for another token (LLaVA-style image
    ids landed on the text config's pad or eos, one level at a time: the processor then wrote
    its placeholders under another id), and an id both levels had moves to the same tiny id."""
    remap: dict[int, int] = {}
    used: set[int] = set()
    for key, (default_sub, _) in t.slots.items():
        sub = t.kwargs.get(key)
        if sub is None or isinstance(sub, dict):
            continue
        for n, new in vars(sub).items():
            if n.startswith("_") or not is_token_field(n):
                continue
            old = getattr(default_sub, n, None) if default_sub is not None else None
            for o, v in zip(*(x if isinstance(x, list) else [x] for x in (old, new)), strict=False):
                if is_int(v):
                    used.add(v)
                    if is_int(o) and o != v:
                        remap.setdefault(o, v)
    return remap, used


def fix_token_ids(
    fields: dict,
    kwargs: dict,
    pinned: dict,
    vocab: int,
    default_inst,
    shared: tuple[dict[int, int], set[int]] | None = None,
) -> None:
    """``token-ids-in-vocab`` on plain dicts; ``shared``: the sub-configs' ids
    (``_sub_config_ids``)."""
    vals = _token_values(Tiny(None, fields, kwargs, pinned, default_inst))
    used = {
        x
        for v in vals.values()
        for x in (v if isinstance(v, list) else [v])
        if is_int(x) and 0 <= x < vocab
    }
    sub_remap, sub_used = shared or ({}, set())
    used |= {x for x in sub_used if 0 <= x < vocab}
    top, remap = [vocab - 1], {o: v for o, v in sub_remap.items() if 0 <= v < vocab}

    def fresh(x: int) -> int:
        if x not in remap:
            while top[0] in used and top[0] > 3:
                top[0] -= 1
            remap[x] = top[0]
            used.add(top[0])
            top[0] -= 1
        return remap[x]

    for n, v in vals.items():
        if v is None and n in fields and re.match(r"(image|video|audio)_token_(id|index)$", n):
            kwargs[n] = fresh(-1 - len(remap))  # placeholder left unset by the default config
        elif is_int(v) and v >= vocab:
            kwargs[n] = fresh(v)
        elif _int_list(v) and isinstance(v, list) and any(x >= vocab for x in v):
            kwargs[n] = [fresh(x) if x >= vocab else x for x in v]


CODEBOOK_CODE = re.compile(r"codebook_\w+_(token_)?id")
"""A special code of an audio codebook (``fullmatch``): CSM's ``codebook_pad_token_id``."""


@repair("codebook-codes-in-codebook")
def _codebook_codes_in_codebook(t: Tiny) -> None:
    """Special codes of a codebook (``CODEBOOK_CODE``: CSM's ``codebook_pad_token_id`` 2050 and
    ``codebook_eos_token_id`` 0) lie inside the tiny codebook as in the default config: a code
    at or past the tiny codebook size keeps its distance from the codebook's end (CSM's pad is
    the last of its 2051 codes, so it stays the last code). They are codes, not text tokens
    (``configs.NOT_TOKEN``), so ``token-ids-in-vocab`` leaves them. The size is the config's
    ``codebook_size`` or the field it aliases (``attribute_map``: CSM's ``vocab_size``). A code
    past the codebook is embedded out of range (CSM's generate pads finished sequences with it:
    ``generation_csm.py`` ``_sample``, ``CsmBackboneModelEmbeddings``)."""
    amap = getattr(t.cls, "attribute_map", None) or {}
    size_name = amap.get("codebook_size", "codebook_size")
    size, default_size = t.final(size_name), t.dflt(size_name)
    if not is_int(size) or size <= 0:
        return
    names = [n for n in t.fields if CODEBOOK_CODE.fullmatch(n)]
    for n in names:
        v = t.final(n)
        if n in t.pinned or not is_int(v) or v < size:
            continue
        gap = default_size - v if is_int(default_size) else 0
        t.kwargs[n] = size - gap if 0 < gap <= size else size - 1


@repair("backbone-out-indices-in-range")
def _backbone_out_indices_in_range(t: Tiny) -> None:
    """A ViT backbone feeding a k-level neck (DPT, ZoeDepth: ``backbone_out_indices``,
    0-based) still returns k maps: the last k layers, with at least k layers."""
    bo, n = t.dflt("backbone_out_indices"), t.eff("num_hidden_layers")
    if not (
        _int_list(bo) and is_int(n) and max(bo) >= n and "backbone_out_indices" not in t.pinned
    ):
        return
    k = len(bo)
    if "num_hidden_layers" not in t.pinned:
        n = max(n, k)
        t.kwargs["num_hidden_layers"] = n
    t.kwargs["backbone_out_indices"] = list(range(n - k, n))


@repair("out-indices-in-range")
def _out_indices_in_range(t: Tiny) -> None:
    """A backbone's default feature maps (``out_indices``, 1-based over ``num_hidden_layers``)
    past the tiny layer count become the last k layers (at least k layers); the derived
    ``out_features`` are dropped so the config re-derives them."""
    outi = t.dflt("out_indices")
    has = "out_indices" in t.fields or "_out_indices" in t.fields or "out_indices" in t.kwargs
    if not (has and "num_hidden_layers" in t.fields):
        return
    if (
        "out_indices" in t.pinned
        or "out_features" in t.pinned
        or not isinstance(outi, (list, tuple))
        or not outi
    ):
        return
    k, n = len(outi), t.eff("num_hidden_layers")
    if not is_int(n) or n >= max(outi):
        return
    if "num_hidden_layers" not in t.pinned:
        n = max(n, k)
        t.kwargs["num_hidden_layers"] = n
    t.kwargs["out_indices"] = list(range(n - k + 1, n + 1))
    for name in ("out_features", "_out_features", "_out_indices"):
        t.kwargs.pop(name, None)


@repair("backbone-reports-stage-widths")
def _backbone_reports_stage_widths(t: Tiny) -> None:
    """A backbone whose parent projects its maps by the widths it reports (``backbone.channels``,
    from ``hidden_sizes``; parents with ``encoder_in_channels``: RT-DETR-like hybrid encoders)
    reports the widths its stages output: ``hidden_sizes`` = ``stage_out_channels``."""
    if t.slot != "backbone_config" or t.parent is None:
        return
    if "encoder_in_channels" not in t.parent.fields or not t.free("hidden_sizes"):
        return
    widths, reported = t.final("stage_out_channels"), t.final("hidden_sizes")
    if _int_list(widths) and _int_list(reported) and len(widths) == len(reported):
        t.kwargs["hidden_sizes"] = list(widths)


@repair("encoder-in-channels-follow-backbone")
def _encoder_in_channels_follow_backbone(t: Tiny) -> None:
    """An encoder reading the backbone's last k maps (``encoder_in_channels``, k its default
    length) takes the widths the backbone reports for them: ``hidden_sizes`` at the backbone's
    ``out_indices`` (stage i is ``hidden_sizes[i - 1]``; not when the stem is selected)."""
    backbone, enc = t.kwargs.get("backbone_config"), t.final("encoder_in_channels")
    if not (t.free("encoder_in_channels") and _int_list(enc) and is_config(backbone)):
        return
    widths, outi = safe_get(backbone, "hidden_sizes"), safe_get(backbone, "out_indices")
    if not (_int_list(widths) and _int_list(outi) and len(outi) >= len(enc)):
        return
    if all(1 <= i <= len(widths) for i in outi):
        t.kwargs["encoder_in_channels"] = [widths[i - 1] for i in outi][-len(enc) :]


@repair("decoder-in-channels-follow-encoder")
def _decoder_in_channels_follow_encoder(t: Tiny) -> None:
    """Decoder inputs that are the encoder width at every level by default (each
    ``decoder_in_channels`` entry == ``encoder_hidden_dim``) stay so at the tiny width."""
    levels, width = t.fields.get("decoder_in_channels"), t.fields.get("encoder_hidden_dim")
    tiny = t.final("encoder_hidden_dim")
    if not (t.free("decoder_in_channels") and _int_list(levels) and is_int(tiny)):
        return
    if all(x == width for x in levels):
        t.kwargs["decoder_in_channels"] = [tiny] * len(levels)


@repair("time-features-at-least-one")
def _time_features_at_least_one(t: Tiny) -> None:
    """Time-series encoders concatenate ``num_time_features`` time features to every input
    step (and input synthesis passes them); a default that declares none gets one."""
    if t.free("num_time_features") and t.final("num_time_features") == 0:
        t.kwargs["num_time_features"] = 1


@repair("codebook-dim-follows-hidden")
def _codebook_dim_follows_hidden(t: Tiny) -> None:
    """A quantizer without projections around it (class defaults ``codebook_dim ==
    hidden_size``) keeps its codebook vectors as wide as the tiny hidden size."""
    dim, hidden = t.fields.get("codebook_dim"), t.final("hidden_size")
    if t.free("codebook_dim") and is_int(dim) and dim == t.fields.get("hidden_size"):
        if is_int(hidden):
            t.kwargs["codebook_dim"] = hidden


def _output_channels(t: Tiny) -> tuple[Any, Any]:
    """(default, tiny) ``output_channels`` of the config, else of its vision sub-config."""
    if "output_channels" in t.fields:
        return t.fields["output_channels"], t.final("output_channels")
    vision = t.kwargs.get("vision_config")
    if is_config(vision):
        return safe_get(t.dflt("vision_config"), "output_channels"), safe_get(
            vision, "output_channels"
        )
    return None, None


@repair("post-conv-follows-encoder-output")
def _post_conv_follows_encoder_output(t: Tiny) -> None:
    """A conv after the vision encoder takes its output: ``post_conv_in_channels`` follows the
    encoder's ``output_channels`` (the config's own, else its vision sub-config's) where the
    defaults are equal (an ``*in_channels`` field is never shrunk by name)."""
    if not t.free("post_conv_in_channels"):
        return
    default, tiny = _output_channels(t)
    if is_int(tiny) and default == t.fields["post_conv_in_channels"]:
        t.kwargs["post_conv_in_channels"] = tiny


@repair("stage-widths-double-from-hidden")
def _stage_widths_double_from_hidden(t: Tiny) -> None:
    """Per-stage widths that double from the hidden size by default (``embed_dim_per_stage
    == [hidden * 2**i]``: Hiera) double from the tiny hidden size."""
    widths, hidden = t.dflt("embed_dim_per_stage"), t.dflt("hidden_size")
    tiny = t.final("hidden_size")
    if not (t.free("embed_dim_per_stage") and _int_list(widths) and is_int(tiny)):
        return
    if list(widths) == [hidden * 2**i for i in range(len(widths))]:
        t.kwargs["embed_dim_per_stage"] = [tiny * 2**i for i in range(len(widths))]


@repair("neck-channels-follow-backbone-stages")
def _neck_channels_follow_backbone_stages(t: Tiny) -> None:
    """A neck listing the backbone's stage widths deepest first (``backbone_channel_list``
    == reversed backbone ``embed_dim_per_stage`` by default) lists the tiny backbone's."""
    backbone, default_bb = t.kwargs.get("backbone_config"), t.dflt("backbone_config")
    channels = t.dflt("backbone_channel_list")
    if not (t.free("backbone_channel_list") and _int_list(channels) and is_config(backbone)):
        return
    stages, default_stages = (safe_get(c, "embed_dim_per_stage") for c in (backbone, default_bb))
    if _int_list(stages) and _int_list(default_stages) and list(channels) == default_stages[::-1]:
        t.kwargs["backbone_channel_list"] = list(stages)[::-1]


CUDA_KERNEL_FLAGS = ("use_mamba_kernels",)
"""Config flags that select CUDA-only fused kernels over the PyTorch implementation."""


@repair("pytorch-kernels-on-cpu")
def _pytorch_kernels_on_cpu(t: Tiny) -> None:
    """A flag that selects CUDA-only fused kernels (``CUDA_KERNEL_FLAGS``), True by default,
    becomes False: the tiny models run the PyTorch reference implementation on any device.
    Transformers 4.x Jamba / Zamba mixers raise on CPU when it is True ("Fast Mamba kernels
    are not available", modeling_zamba.py: ZambaMambaMixer.forward); 5.x ignores the flag
    (it picks the implementation itself) and only logs that it is deprecated."""
    for name in CUDA_KERNEL_FLAGS:
        if t.free(name) and t.eff(name) is True:
            t.kwargs[name] = False


# --------------------------------------------------------------------------------------
# step 5: the regime where bugs show

REGIME: dict[str, Callable[[Tiny], None]] = {}
"""Values no size rule picks but a bug could hide behind: a library default that a constant in
the model code could equal (``num_labels`` 2), a probability of 0 that makes a mode bug
invisible (dropout), an init scale that makes attention uniform."""

LABEL_COUNTS = ("num_labels", "num_targets")
"""Fields that size a classification / regression head. ``num_labels`` is no dataclass field of
most configs (``PretrainedConfig`` derives it from ``id2label``) but every config takes it."""
DROPOUT_FIELD = re.compile(r"(dropout|pdrop|attn_drop_rate|^drop_rate$)", re.I)
NOT_DROPOUT = re.compile(
    r"(layerdrop|drop_path|droppath|drop_connect|token_dropout|quantizer)", re.I
)
"""Stochastic depth / LayerDrop / quantizer dropout skip whole branches (a parameter may get no
gradient in a training pass) and ``token_dropout`` is a flag: not per-element dropout."""
INIT_FIELDS = ("initializer_range", "init_std")
"""Standard deviations of the weight init (``_init_weights`` reads them)."""
INIT_RAISE_RANGE = (0.005, 0.05)
"""Only defaults in this range are raised: far smaller ones (1e-10) are deliberate near-zero
inits, larger ones are already informative."""


def regime(name: str) -> Callable:
    """Register a regime rule under ``name`` (run in registration order)."""

    def register(fn: Callable) -> Callable:
        assert name not in REGIME, f"regime rule {name!r} registered twice"
        REGIME[name] = fn
        return fn

    return register


def set_regime(t: Tiny) -> None:
    """Step 5: every regime rule on ``t.kwargs`` (pins still win: they are applied after)."""
    for fn in REGIME.values():
        fn(t)


@regime("label-counts-three")
def _label_counts_three(t: Tiny) -> None:
    """Head sizes (``LABEL_COUNTS``) are ``LABELS`` (3) on every config (sub-configs too: a
    tower's head may read its own), so a head sized from the binary default or any other
    constant disagrees with the config. Heads that need exactly two outputs (question-answering
    span heads) pin it: ``engine.SPAN_HEAD_TASKS``."""
    for name in LABEL_COUNTS:
        if name in t.pinned:
            continue
        if name == "num_labels" or is_int(t.eff(name)):
            t.kwargs[name] = LABELS


EXPERT_COUNTS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
TOP_K_COUNTS = (
    "num_experts_per_tok",
    "num_experts_per_token",
    "moe_top_k",
    "moe_k",
    "top_k_experts",
)


@regime("moe-counts-distinct")
def _moe_counts_distinct(t: Tiny) -> None:
    """Routed experts are ``EXPERTS`` (12) and experts per token ``TOP_K`` (5) whatever the
    default (the size rules only lower them: Mixtral's 8 / 2 would stay, top-2 == layers), so
    no routing count equals the heads, the layers or the label count. A dense config (one
    expert or none: HunYuan's ``num_experts`` 1) keeps its counts."""
    std = std_names(t.cls)
    experts = [n for n in t.fields if std.get(n, n) in EXPERT_COUNTS and t.free(n)]
    top_k = [n for n in t.fields if std.get(n, n) in TOP_K_COUNTS and t.free(n)]
    counts = [t.final(n) for n in experts]
    if not experts or not all(is_int(v) and v > 1 for v in counts):
        return
    for name in experts:
        t.kwargs[name] = EXPERTS
    for name in top_k:
        if is_int(t.eff(name)) and t.eff(name) >= 1:
            t.kwargs[name] = TOP_K


@regime("vocab-distinct-from-hidden")
def _vocab_distinct_from_hidden(t: Tiny) -> None:
    """A vocabulary as small as the tiny hidden size (wav2vec2's 32 CTC characters) becomes
    ``VOCAB``: an output head sized by the hidden size instead would otherwise fit."""
    if t.free("vocab_size") and t.eff("vocab_size") == HIDDEN == t.eff("hidden_size"):
        t.kwargs["vocab_size"] = VOCAB


def _is_dropout(name: str) -> bool:
    """A per-element dropout probability field (``DROPOUT_FIELD``, not ``NOT_DROPOUT``)."""
    return bool(DROPOUT_FIELD.search(name)) and not NOT_DROPOUT.search(name)


def _dropout_fields(t: Tiny) -> list[str]:
    return [n for n in t.fields if _is_dropout(n) and t.free(n)]


@regime("dropout-nonzero")
def _dropout_nonzero(t: Tiny) -> None:
    """Dropout probabilities whose default is 0.0 become ``DROPOUT`` (0.1): eval outputs then
    change if dropout ignores eval mode; training (seeded) still runs. A default of int 0 is
    left alone: strict dataclass configs type such a field ``int`` and reject 0.1 (MPT's
    ``attn_pdrop``)."""
    for name in _dropout_fields(t):
        v = t.eff(name)
        if isinstance(t.fields.get(name), float) and isinstance(v, float) and v == 0:
            t.kwargs[name] = DROPOUT


@regime("init-scale-informative")
def _init_scale_informative(t: Tiny) -> None:
    """Weight-init standard deviations at the usual 0.01-0.02 (``INIT_RAISE_RANGE``) become
    ``INIT_STD``, so attention is far from uniform and activations leave their linear range."""
    lo, hi = INIT_RAISE_RANGE
    for name in INIT_FIELDS:
        v = t.eff(name)
        if t.free(name) and isinstance(v, float) and lo <= v <= hi:
            t.kwargs[name] = INIT_STD


# the audit: which independent axes a tiny config leaves equal

AXES: dict[str, tuple[str, ...]] = {
    "hidden": ("hidden_size", "d_model"),
    "heads": ("num_attention_heads", "encoder_attention_heads"),
    "kv_heads": ("num_key_value_heads",),
    "layers": ("num_hidden_layers", "encoder_layers"),
    "intermediate": ("intermediate_size", "d_ff", "encoder_ffn_dim", "ffn_dim", "n_inner"),
    "vocab": ("vocab_size",),
    "experts": EXPERT_COUNTS,
    "top_k": TOP_K_COUNTS,
    "num_labels": ("num_labels",),
    "num_targets": ("num_targets",),
    "image_size": ("image_size",),
    "patch_size": ("patch_size",),
}
"""Axis -> the config attributes (read through ``attribute_map``) that give it."""
SEQ_AXIS = "seq_len"
"""The tiny inputs' sequence length (``tiny.inputs.context.SEQ``), an axis of every text model."""
EQUAL_AXES: dict[frozenset, str] = {
    frozenset({"kv_heads", "layers"}): "2 each: LAYERS is fixed by the suite's time budget and "
    "grouped-query attention with 4 heads has one proper kv-head count above 1 (2); 1 would "
    "be multi-query attention, where a head-repeat bug broadcasts silently",
    frozenset({"kv_heads", "heads"}): "a model that is multi-head by default (kv heads == "
    "heads) stays so (repair kv-heads-divide-heads): its kv heads are its heads",
    frozenset({"image_size", "hidden"}): "32 each: a different tiny image changes every vision "
    "input and the stage arithmetic of hierarchical models (windows, strides: powers of 2); "
    "not measured free",
    frozenset({"patch_size", "heads"}): "4 each: patch 8 would leave a 4x4 grid on the 32-pixel "
    "image (== heads again) and patch 2 quadruples vision sequence lengths",
    frozenset({"num_labels", "num_targets"}): "one head-size rule (LABELS) for both names; no "
    "model has both heads",
}
"""Axes a tiny config may leave equal, each with the reason. Any other equality between two
axes of one config is a regime bug: a size mix-up between them would go unseen."""
AXIS_BELOW_TWO = 2
"""Axis values below 2 (a single layer, head or expert: no distinct axis) are not compared."""


def axis_values(cfg: Any, seq_len: int | None = None) -> dict[str, int]:
    """Axis -> value of one config (not its sub-configs); ``seq_len`` added when given."""
    out: dict[str, int] = {}
    for axis, names in AXES.items():
        for name in names:
            v = safe_get(cfg, name)
            if is_int(v):
                out[axis] = v
                break
    if seq_len is not None and "vocab" in out:
        out[SEQ_AXIS] = seq_len
    return out


def equal_axes(values: dict[str, int]) -> list[tuple[str, str, int]]:
    """Pairs of axes with the same value (both >= ``AXIS_BELOW_TWO``) and no reason in
    ``EQUAL_AXES``."""
    items = sorted((a, v) for a, v in values.items() if v >= AXIS_BELOW_TWO)
    return [
        (a, b, v)
        for i, (a, v) in enumerate(items)
        for b, w in items[i + 1 :]
        if v == w and frozenset({a, b}) not in EQUAL_AXES
    ]


def dropout_values(cfg: Any) -> dict[str, float]:
    """Dropout-probability fields of one config (``DROPOUT_FIELD``) and their values."""
    return {
        n: v
        for n in field_defaults(type(cfg))
        if _is_dropout(n)
        and isinstance(v := safe_get(cfg, n), (int, float))
        and not isinstance(v, bool)
    }


# --------------------------------------------------------------------------------------
# step 7: repairs on the built config


@repair("sliding-window-set", built=True)
def _sliding_window_set(t: Tiny, cfg: Any) -> None:
    """A config with sliding-attention layers whose tiny build left ``sliding_window`` unset
    gets a 16-token window."""
    if (
        t.default is None
        or "sliding_window" in t.pinned
        or safe_get(cfg, "sliding_window", 0) is not None
    ):
        return
    lt = safe_get(cfg, "layer_types")
    if isinstance(lt, (list, tuple)) and any(isinstance(x, str) and "sliding" in x for x in lt):
        try:
            cfg.sliding_window = 16
        except Exception:
            pass


@repair("derived-head-fields-set", built=True)
def _derived_head_fields_set(t: Tiny, cfg: Any) -> None:
    """``head_dim`` / ``num_key_value_heads`` fields the built config left ``None`` (the
    default derives them) get hidden / heads and heads."""
    heads, hidden = safe_get(cfg, "num_attention_heads"), safe_get(cfg, "hidden_size")
    if t.default is None or not (is_int(heads) and heads and is_int(hidden)):
        return
    for name in ("head_dim", "num_key_value_heads"):
        if (
            name in t.pinned
            or safe_get(cfg, name, 0) is not None
            or name not in field_defaults(type(cfg))
        ):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                setattr(cfg, name, hidden // heads if name == "head_dim" else heads)
        except Exception:
            pass


def post_repair(cfg, default_inst, pinned: dict) -> None:
    """The built repairs, on a built config."""
    t = Tiny(type(cfg), field_defaults(type(cfg)), {}, pinned, default_inst)
    for fn in BUILT_REPAIRS.values():
        fn(t, cfg)


# --------------------------------------------------------------------------------------
# the pipeline


def _instantiate(cls, kwargs: dict) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            try:
                cfg = cls(**kwargs)
            except Exception as first:
                as_dicts = _sub_configs_as_dicts(kwargs)
                if as_dicts is None:
                    raise
                try:
                    return cls(**as_dicts)
                except Exception:
                    raise first from None
            return _keep_sub_configs(cls, cfg, kwargs)
        except Exception as e:
            pkg = missing_package(e)
            if pkg:
                raise TinyError.missing(pkg) from e
            raise TinyError("config-invariant", f"{cls.__name__}: {short(e)}") from e


def _instantiate_label_count_optional(t: Tiny) -> Any:
    """``_instantiate``, once more without the regime's ``num_labels`` where the config
    rejects it (rule ``label-count-where-accepted``): ``num_labels`` is no field of most
    configs, ``PretrainedConfig`` takes it, but a 4.x sub-config may refuse every kwarg it does
    not declare (4.57's ``DbrxAttentionConfig`` / ``DbrxFFNConfig``: ``Found unknown
    kwargs``)."""
    try:
        return _instantiate(t.cls, t.kwargs)
    except TinyError:
        if "num_labels" not in t.kwargs or "num_labels" in t.fields or "num_labels" in t.pinned:
            raise
        kwargs = {k: v for k, v in t.kwargs.items() if k != "num_labels"}
        try:
            return _instantiate(t.cls, kwargs)
        except TinyError:
            pass
        raise


def _keep_sub_configs(cls, cfg: Any, kwargs: dict) -> Any:
    """``cfg``, or ``cls`` rebuilt from the sub-configs' dicts when ``cfg`` dropped a
    sub-config instance it was given and the rebuilt config holds it (rule
    ``sub-config-instances-kept``)."""
    dropped = _dropped_sub_configs(cfg, kwargs)
    if not dropped:
        return cfg
    try:
        rebuilt = cls(**_sub_configs_as_dicts(kwargs))
    except Exception:
        return cfg
    return cfg if set(dropped) & set(_dropped_sub_configs(rebuilt, kwargs)) else rebuilt


def _dropped_sub_configs(cfg: Any, kwargs: dict) -> list[str]:
    """Sub-config instances in ``kwargs`` that the built config does not hold (rule
    ``sub-config-instances-kept``): some 4.x composites only set a sub-config from a dict or
    ``None`` and silently drop an instance (4.57: ``Qwen2VLConfig`` builds without
    ``vision_config`` / ``text_config``, and the model then reads a missing attribute)."""
    return [k for k, v in kwargs.items() if is_config(v) and not is_config(safe_get(cfg, k))]


def _sub_configs_as_dicts(kwargs: dict) -> dict | None:
    """``kwargs`` with each sub-config instance as its ``to_dict()``, or ``None`` when it holds
    none: some 4.x composite configs only take sub-configs as dicts, which building with
    instances shows (4.57: ``AlignConfig`` calls ``AlignTextConfig(**text_config)``, a
    ``TypeError``; ``ParakeetCTCConfig`` only sets ``encoder_config`` from a dict or ``None``,
    an ``AttributeError``)."""
    if not any(is_config(v) for v in kwargs.values()):
        return None
    return {k: v.to_dict() if is_config(v) else v for k, v in kwargs.items()}


def start(
    cls, pinned: dict | None = None, default_inst=None, depth: int = 0, **nested: Any
) -> Tiny:
    """The state for a tiny ``cls``: pins with ``attribute_map`` aliases resolved, the
    default instance (the parent default's sub-config when nested), the sub-config slots;
    ``nested``: ``parent`` and ``slot`` of a sub-config."""
    fields = field_defaults(cls)
    inherit = default_inst is not None and depth > 0
    if default_inst is None:
        default_inst = default_instance(cls)
    pinned = resolve_aliases(cls, pinned or {}, fields)
    t = Tiny(cls, fields, {}, pinned, default_inst, depth, inherit, **nested)
    t.slots = sub_config_slots(cls, default_inst)
    declared = declared_sub_configs(cls)
    for key, pin in pinned.items():
        # rule pinned-typed-table-is-a-sub-config: a pinned table that names its config type
        # (``model_type``) for a field no slot lists is a sub-config too, shrunk like one
        # (4.57's DETR-likes list backbone_config only once set: their default loads timm;
        # 4.57's Phi4MultimodalConfig declares vision_config but its default drops it)
        if key not in t.slots and key in fields and isinstance(pin, dict) and "model_type" in pin:
            t.slots[key] = (None, declared.get(key))
    return t


def tiny_config(
    cls,
    pinned: dict | None = None,
    default_inst=None,
    depth: int = 0,
    vocab_hint: int | None = None,
    *,
    parent: Tiny | None = None,
    slot: str = "",
):
    """A tiny instance of config class ``cls``; ``pinned`` (nested dict) wins over every rule.
    A sub-config is built with its ``parent``'s state and the ``slot`` that holds it."""
    t = start(cls, pinned, default_inst, depth, parent=parent, slot=slot)
    shrink_fields(t)
    inherit_parent_values(t)
    nest_sub_configs(t)
    run_repairs(t)
    set_regime(t)
    t.kwargs.update(t.pinned)
    cfg = _instantiate_label_count_optional(t)
    for fn in BUILT_REPAIRS.values():
        fn(t, cfg)
    return cfg
