"""Composite processors assembled from synthesized parts, consistent with the tiny config.

``synthesize_processor(class_name, config, parts)`` hands the processor class its sub-processors
(``get_attributes()``: tokenizer, image processor, feature extractor, video processor) and the
``__init__`` values the tiny model depends on, found by field name in the tiny config
(``CONFIG_PARAMS``: patch size, vision feature select strategy, tokens per image, ...), plus the
per-class oddities of ``CLASS_VALUES`` (data, each with its reason). Placeholder tokens: a
processor's ``image_token`` string must encode to ``config.image_token_id``;
``processor_special_tokens`` tells the tokenizer synthesizer which strings to put at which config
ids. Processors that take a chat template get ``chat_template_for`` (minimal Jinja inserting the
processor's placeholder tokens).
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..configs import find_attr, is_config, is_int, token_ids
from . import KINDS, PreprocessError, PreprocessSkip
from .vision_audio import ClassValues, package_of, resolve_class

# ---------------------------------------------------------------------------------------------
# which part goes to which processor attribute


PART_FOR_ATTRIBUTE: tuple[tuple[str, str], ...] = (
    ("video_processor", "video_processor"),
    ("image_processor", "image_processor"),
    ("feature_extractor", "feature_extractor"),
    ("audio_processor", "feature_extractor"),
    ("tokenizer", "tokenizer"),
)
"""Processor attribute (suffix) -> the part kind that fills it (``qformer_tokenizer``,
``protein_tokenizer`` -> the tokenizer; ``audio_processor`` -> the feature extractor), first match
wins."""


def part_kind(attribute: str) -> str | None:
    """The part kind (``KINDS``) that fills a processor attribute."""
    for suffix, kind in PART_FOR_ATTRIBUTE:
        if attribute.endswith(suffix):
            return kind
    return None


def processor_attributes(cls: type) -> list[str]:
    """The sub-processor attributes of a processor class (5.x ``get_attributes()``, 4.x
    ``attributes``)."""
    get = getattr(cls, "get_attributes", None)
    if callable(get):
        return list(get())
    return list(getattr(cls, "attributes", ()) or ())


# ---------------------------------------------------------------------------------------------
# __init__ values from the config


@dataclass(frozen=True)
class ConfigParam:
    """A processor ``__init__`` parameter read from the tiny config."""

    param: str
    fields: tuple[str, ...]
    """Config fields, first set wins (the vision sub-config searched first)."""
    reason: str


CONFIG_PARAMS: tuple[ConfigParam, ...] = (
    ConfigParam(
        "patch_size",
        ("patch_size",),
        "tokens per image = (image side / patch size)^2: the tower's patch size",
    ),
    ConfigParam(
        "vision_feature_select_strategy",
        ("vision_feature_select_strategy",),
        "'default' drops the CLS feature: one token fewer per image",
    ),
    ConfigParam(
        "image_seq_length",
        ("image_seq_length", "num_image_tokens", "mm_tokens_per_image", "image_seq_len"),
        "placeholder tokens per image must equal the image features the model scatters",
    ),
    ConfigParam(
        "num_image_tokens",
        ("num_image_tokens", "image_seq_length", "mm_tokens_per_image"),
        "placeholder tokens per image must equal the image features the model scatters",
    ),
    ConfigParam(
        "image_seq_len",
        ("image_seq_len", "image_seq_length", "num_image_tokens"),
        "placeholder tokens per image must equal the image features the model scatters",
    ),
    ConfigParam(
        "num_query_tokens",
        ("num_query_tokens",),
        "Q-Former models put one placeholder per query token",
    ),
    ConfigParam(
        "spatial_merge_size",
        ("spatial_merge_size",),
        "tokens per image = patches / merge_size^2",
    ),
    ConfigParam("downsample_ratio", ("downsample_ratio",), "pixel shuffle shrinks the tokens"),
    ConfigParam(
        "downsample_factor",
        ("downsample_factor",),
        "pixel shuffle shrinks the tokens (Aya Vision: tokens per tile = (image side / (patch "
        "size * downsample factor))^2, processing_aya_vision.py)",
    ),
    ConfigParam(
        "pixel_shuffle_ratio", ("pixel_shuffle_ratio",), "pixel shuffle shrinks the tokens"
    ),
    ConfigParam(
        "downsample_rate",
        ("downsample_rate",),
        "the projector's fractional downsampling shrinks each tile's patch grid (Granite 4 "
        "Vision: patches per side * Fraction(downsample_rate), processing_granite4_vision.py "
        "_get_number_of_features and modeling_granite4_vision.py pack_image_features)",
    ),
    ConfigParam("image_size", ("image_size",), "tokens per image follow the tower's image size"),
    ConfigParam("img_size", ("image_size", "img_size"), "tokens per image follow the image size"),
    ConfigParam(
        "subsampling_factor",
        ("subsampling_factor",),
        "audio tokens per frame follow the encoder's subsampling",
    ),
    ConfigParam("conv_kernel", ("conv_kernel",), "audio frames per token follow the conv stack"),
    ConfigParam("conv_stride", ("conv_stride",), "audio frames per token follow the conv stack"),
)
"""Processor ``__init__`` parameter <- config field(s), with why."""

VISION_PREFER = ("vision_config", "vision_encoder_config", "image_config")


def config_values(cls: type, config: Any) -> dict[str, Any]:
    """``__init__`` values of ``cls`` read from the tiny config by ``CONFIG_PARAMS`` (only params
    the class takes, only values of the default's type, ints for ints)."""
    params = inspect.signature(cls.__init__).parameters
    out: dict[str, Any] = {}
    for cp in CONFIG_PARAMS:
        p = params.get(cp.param)
        if p is None:
            continue
        v = find_attr(config, cp.fields, prefer=VISION_PREFER)
        if v is None or is_config(v) or callable(v):
            continue
        d = p.default
        if d is not inspect.Parameter.empty and d is not None and type(d) is not type(v):
            if not (is_int(d) and isinstance(v, (list, tuple)) is False and _intlike(v)):
                continue
            v = int(v)
        out[cp.param] = list(v) if isinstance(v, tuple) and isinstance(d, list) else v
    for param in TOKEN_COUNT_PARAMS:
        if param in params and param not in out and grid_tokens(config) is not None:
            out[param] = grid_tokens(config)
    return out


TOKEN_COUNT_PARAMS = ("image_seq_length", "num_image_tokens", "image_seq_len")
"""Processor parameters holding the placeholder tokens per image."""


def grid_tokens(config: Any) -> int | None:
    """Rule ``GRID_TOKENS``: where the config names no tokens per image, a ViT tower gives one
    feature per patch, ``(image_size // patch_size)^2`` of its vision config (DeepSeek-VL: the
    processor's default 576 is the checkpoint's 384 px / 16 px tower; the tiny 32 px / 4 px tower
    gives 64). ``None`` without an int image and patch size."""
    from ..configs import vision_config

    v = vision_config(config)
    size, patch = getattr(v, "image_size", None), getattr(v, "patch_size", None)
    if v is config or not (is_int(size) and is_int(patch)) or patch <= 0:
        return None
    return (size // patch) ** 2 // shuffle_factor(config) ** 2


SHUFFLE_FIELDS = ("scale_factor", "pixel_shuffle_factor")
"""Config fields holding a connector's int pixel-shuffle factor: ``scale_factor`` (Idefics3,
SmolVLM, GraniteDocling), ``pixel_shuffle_factor`` (ModernVBert, UltraVBert:
modeling_modernvbert.py ``image_seq_len = (image_size // patch_size)^2 /
pixel_shuffle_factor^2``)."""


def shuffle_factor(config: Any) -> int:
    """Rule ``PIXEL_SHUFFLE_TOKENS``: the connector's pixel-shuffle factor, the int
    ``SHUFFLE_FIELDS`` value of the composite config (Idefics3, SmolVLM, ModernVBert) or else of
    its vision config (GraniteDocling): the connector folds ``factor^2`` patch features into one,
    so ``image_seq_len = (image_size // patch_size)^2 / factor^2``
    (processing_granite_docling.py); 1 where neither has one."""
    from ..configs import vision_config

    for c in (config, vision_config(config)):
        for field in SHUFFLE_FIELDS:
            f = getattr(c, field, None)
            if is_int(f) and f > 1:
                return f
    return 1


def token_count(config: Any) -> int | None:
    """Placeholder tokens per image: the config's field (``CONFIG_PARAMS`` for
    ``image_seq_length``), else ``grid_tokens``."""
    fields = next(cp.fields for cp in CONFIG_PARAMS if cp.param == "image_seq_length")
    v = find_attr(config, fields, prefer=VISION_PREFER)
    return int(v) if _intlike(v) else grid_tokens(config)


IMAGE_PROCESSOR_READ = re.compile(r"\bimage_processor\.(?P<attr>[a-z_]+)\b(?!\s*\()")
"""A processor reading a value off its image processor (``image_processor.image_seq_length``)."""


def _side(image_processor: Any) -> int | None:
    """The square side the image processor outputs (``crop_size`` where it crops, else
    ``size``), ``None`` where it is not one int."""
    for name in (
        ("crop_size", "size") if getattr(image_processor, "do_center_crop", False) else ("size",)
    ):
        v = getattr(image_processor, name, None)
        if v is not None and not isinstance(v, int):
            sides = {
                getattr(v, k, None) or (v.get(k) if isinstance(v, dict) else None)
                for k in ("height", "width", "shortest_edge")
            } - {None}
            if len(sides) == 1 and is_int(next(iter(sides))):
                return int(next(iter(sides)))
    return None


def _davit_tokens(config: Any, image_processor: Any) -> int | None:
    from ..configs import vision_config

    strides = getattr(vision_config(config), "patch_stride", None)
    side = _side(image_processor)
    if not strides or side is None:
        return None
    stride = 1
    for s in strides:
        stride *= int(s)
    return (side // stride) ** 2 + 1


def _vq_tokens(config: Any, image_processor: Any) -> int | None:
    """Codes of a VQ-VAE image tokenizer per image: its encoder halves the image once per
    ``vq_config.channel_multiplier`` level but the last, one code per latent position."""
    vq = getattr(config, "vq_config", None)
    mult = getattr(vq, "channel_multiplier", None)
    side = _side(image_processor)
    if not mult or side is None:
        return None
    return (side // 2 ** (len(mult) - 1)) ** 2


@dataclass(frozen=True)
class MeasuredTokens:
    """Tokens per image of a processor class whose tower the config gives no field for (data):
    a function of (config, image processor)."""

    class_name: str
    tokens: Callable[[Any, Any], int | None]
    reason: str


MEASURED_TOKENS: tuple[MeasuredTokens, ...] = (
    MeasuredTokens(
        "Florence2Processor",
        _davit_tokens,
        "Florence-2's DaViT tower downsamples by the product of vision_config.patch_stride "
        "(4*2*2*2 = 32) and its projector appends one temporal-mean feature to the spatial ones "
        "(modeling_florence2.py: Florence2MultiModalProjector.forward, torch.cat([spatial, "
        "temporal])): (side / 32)^2 + 1 features, 577 for the checkpoints' 768 px",
    ),
    MeasuredTokens(
        "ChameleonProcessor",
        _vq_tokens,
        "Chameleon's image tokens are VQ-VAE codes, one per latent position: the encoder "
        "downsamples by 2 at every vq_config.channel_multiplier level but the last "
        "(modeling_chameleon.py: ChameleonVQVAEEncoder), (512 / 16)^2 = 1024, the class default "
        "image_seq_length, for the checkpoints' 512 px; the config names no count",
    ),
)


def measured_values(cls: type, config: Any, image_processor: Any) -> dict[str, Any]:
    """Rule ``MEASURED_TOKEN_COUNT``: the tokens-per-image ``__init__`` parameters
    (``TOKEN_COUNT_PARAMS``) of a ``MEASURED_TOKENS`` class, from its measure of the tiny
    config and image processor (Chameleon: the class default 1024 against the 4 codes of a
    32 px image through the tiny VQ encoder); ``{}`` for other classes or no measure."""
    entry = next((e for e in MEASURED_TOKENS if e.class_name == cls.__name__), None)
    if entry is None or image_processor is None:
        return {}
    n = entry.tokens(config, image_processor)
    if n is None:
        return {}
    params = inspect.signature(cls.__init__).parameters
    return {p: n for p in TOKEN_COUNT_PARAMS if p in params}


def image_processor_values(cls: type, config: Any, image_processor: Any) -> dict[str, Any]:
    """Rule ``READ_OFF_IMAGE_PROCESSOR``: the tokens-per-image values a processor reads off its
    image processor (PaliGemma, Florence2: ``image_processor.image_seq_length``, which the
    checkpoints' ``preprocessor_config.json`` set and the class does not) that the image
    processor lacks, from the tiny config (``token_count``)."""
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out: dict[str, Any] = {}
    for m in IMAGE_PROCESSOR_READ.finditer(src):
        attr = m.group("attr")
        if attr in TOKEN_COUNT_PARAMS and getattr(image_processor, attr, None) is None:
            measured = [e for e in MEASURED_TOKENS if e.class_name == cls.__name__]
            n = measured[0].tokens(config, image_processor) if measured else token_count(config)
            if n is not None:
                out[attr] = n
    return out


def _intlike(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer()


CLASS_VALUES: tuple[ClassValues, ...] = (
    ClassValues(
        "LlavaProcessor",
        {"num_additional_image_tokens": 1},
        "Llava's vision tower (CLIP) prepends a CLS feature; the llava-hf processor configs "
        "set 1 (the class default 0 gives one placeholder fewer than the image features)",
    ),
    ClassValues(
        "LlavaNextProcessor",
        {"num_additional_image_tokens": 1},
        "CLIP tower with a CLS feature, as LlavaProcessor",
    ),
    ClassValues(
        "LlavaOnevisionProcessor",
        {"num_additional_image_tokens": 1},
        "SigLIP tower counted with one extra feature, as the llava-hf processor configs",
    ),
    ClassValues(
        "LlavaNextVideoProcessor",
        {"num_additional_image_tokens": 1},
        "CLIP tower with a CLS feature, as LlavaProcessor",
    ),
    ClassValues(
        "VideoLlavaProcessor",
        {"num_additional_image_tokens": 1},
        "CLIP tower with a CLS feature, as LlavaProcessor",
    ),
    ClassValues(
        "Granite4VisionProcessor",
        {"num_additional_image_tokens": 1},
        "Granite4VisionConfig's default vision tower is CLIP (configuration_granite4_vision.py: "
        "vision_config model_type clip_vision_model), which prepends a CLS feature; the model "
        "strips it for the 'default' strategy (modeling_granite4_vision.py get_image_features: "
        "selected_feature[:, 1:]) and the processor subtracts one for it "
        "(processing_granite4_vision.py replace_image_token), so the class default 0 gives one "
        "placeholder fewer than the image features, as LlavaNextProcessor",
    ),
)
"""Per-class oddities of composite processors."""


@dataclass(frozen=True)
class TemplateOnTokenizer:
    """A processor class that formats its text with its tokenizer's own chat template, not the
    processor's (data): the synthesized template goes on the tokenizer part."""

    class_name: str
    reason: str


TEMPLATE_ON_TOKENIZER: tuple[TemplateOnTokenizer, ...] = (
    TemplateOnTokenizer(
        "EvollaProcessor",
        "EvollaProcessor.process_text turns each messages list into the prompt with "
        "self.tokenizer.apply_chat_template (processing_evolla.py); its __call__ takes no text",
    ),
)


@dataclass(frozen=True)
class HubBound:
    """A processor class whose ``__init__`` loads parts from the Hub by a fixed checkpoint id
    (data): it cannot be built offline from synthesized parts, so it is a named skip, with no
    Hub lookup attempted."""

    class_name: str
    reason: str


HUB_BOUND: tuple[HubBound, ...] = (
    HubBound(
        "MgpstrProcessor",
        "MgpstrProcessor.__init__ loads its BPE and WordPiece tokenizers from the Hub by fixed ids "
        "(mgp_str/processing_mgp_str.py: AutoTokenizer.from_pretrained('openai-community/gpt2') and "
        "('google-bert/bert-base-uncased')); no run here reaches the network",
    ),
    HubBound(
        "DiaProcessor",
        "DiaProcessor.__init__ takes an audio_tokenizer, a DacModel whose encode turns the audio "
        "prompt into codes (dia/processing_dia.py: audio_tokenizer_class = 'DacModel'); it is a "
        "pretrained codec model (the checkpoints name descript/dac_44khz), not preprocessing that "
        "can be synthesized from the tiny config",
    ),
)


@dataclass(frozen=True)
class NeedsPackage:
    """A processor class that works only with a package's backend (data): without the package
    it is a named missing-package skip."""

    class_name: str
    package: str
    reason: str


NEEDS_PACKAGE: tuple[NeedsPackage, ...] = (
    NeedsPackage(
        "VoxtralProcessor",
        "mistral_common",
        "VoxtralProcessor.__call__ rejects text holding the audio token ('Please use the "
        "apply_chat_template method instead'); audio reaches the model only through "
        "apply_chat_template, which hands the chat to tokenizer.apply_chat_template of a "
        "MistralCommonBackend (processing_voxtral.py); without mistral_common the Auto mapping "
        "falls back to TokenizersBackend (auto/tokenization_auto.py), which cannot encode audio",
    ),
)


def _needs_package(class_name: str) -> None:
    """Raise the named ``PreprocessSkip`` of a ``NEEDS_PACKAGE`` class whose package is missing."""
    import importlib.util

    for e in NEEDS_PACKAGE:
        if e.class_name == class_name and importlib.util.find_spec(e.package) is None:
            raise PreprocessSkip(f"needs {e.package} ({class_name}): {e.reason}", package=e.package)


# ---------------------------------------------------------------------------------------------
# placeholder tokens


TOKEN_PARAM = re.compile(r"^(?P<stem>\w+?)_token$")
"""A processor ``__init__`` parameter holding a special token string (``image_token``)."""


def _id_fields(stem: str) -> tuple[str, ...]:
    """Config fields that may hold the id of a ``<stem>_token`` (``image_token`` ->
    ``image_token_id``, ``image_token_index``)."""
    return (f"{stem}_token_id", f"{stem}_token_index", f"{stem}_id")


TOKENIZER_ATTR = re.compile(
    r"\btokenizer\.(?!add_)(?P<stem>[a-z][a-z0-9_]*?)_token(?:_id)?\b(?!\s*=[^=])"
)
"""A processor reading a special token off its tokenizer (``tokenizer.image_token``,
``tokenizer.boi_token_id``): the tokenizer must carry it (``extra_special_tokens``). Assignments
(``tokenizer.add_bos_token = False``) and ``add_*`` flags are no tokens."""

VOCAB_LOOKUP = re.compile(r"\bvocab\[\s*[\"'](?P<token>[^\"']+)[\"']\s*\]")
"""A processor looking a token up in its tokenizer's vocabulary (Fuyu: ``vocab["|SPEAKER|"]``)."""


def tokenizer_vocab_tokens(class_name: str) -> list[str]:
    """Tokens a processor looks up in its tokenizer's vocabulary by string: the tokenizer
    synthesizer must put them in the vocabulary."""
    try:
        src = inspect.getsource(resolve_class(class_name))
    except (PreprocessSkip, PreprocessError, OSError, TypeError):
        return []
    return sorted({m.group("token") for m in VOCAB_LOOKUP.finditer(src)})


def _token_strings(cls: type) -> dict[str, str]:
    """``<stem>_token`` -> token string a processor class uses: its ``__init__`` defaults
    (``image_token="<image>"``), and ``<stem>`` -> ``"<stem>"`` for the tokens its source reads
    off the tokenizer without a default."""
    out: dict[str, str] = {}
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if TOKEN_PARAM.match(name) and isinstance(p.default, str) and p.default:
            out[name] = p.default
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        src = ""
    for m in TOKENIZER_ATTR.finditer(src):
        out.setdefault(f"{m.group('stem')}_token", f"<{m.group('stem')}>")
    return out


def tokenizer_special_tokens(class_name: str) -> dict[str, str]:
    """Tokenizer attribute -> token string a processor reads off its tokenizer
    (``{"image_token": "<image>", "boi_token": "<boi>"}``): the ``extra_special_tokens`` the
    tokenizer synthesizer gives the tokenizer; ``{}`` for a class that does not import."""
    try:
        cls = resolve_class(class_name)
        src = inspect.getsource(cls)
        strings = _token_strings(cls)
    except (PreprocessSkip, PreprocessError, OSError, TypeError, ValueError):
        return {}
    wanted = {f"{m.group('stem')}_token" for m in TOKENIZER_ATTR.finditer(src)}
    return {k: v for k, v in strings.items() if k in wanted}


REPEATED = re.compile(
    r"""(?:f?["']\{?(?:self\.(?P<fattr>[a-z_]+)|(?P<lit><[^"'{}]+>))\}?["']|self\.(?P<attr>[a-z_]+))"""
    r"\s*\*\s*[\w(]"
)
"""A placeholder string repeated per feature in a processor's expansion (``'<IMG_ATOM>' *
self.image_seq_length``, ``f"{self.img_patch_token}" * n``, ``self.image_token * n``)."""

SELF_STRING = r"self\.{attr}\s*=[^\n]*?[\"'](?P<lit>[^\"'\n]+)[\"']\s*(?:#[^\n]*)?$"
"""``self.<attr> = "<lit>"`` (or ``... else "<lit>"``) in a processor's source: the last string
on the line."""


SELF_FROM_TOKENIZER = r"self\.{attr}\s*=\s*tokenizer\.(?P<stem>[a-z][a-z0-9_]*?)_token\s*$"
"""``self.<attr> = tokenizer.<stem>_token`` in a processor's source: the token is the one the
tokenizer carries as ``<stem>_token``, which ``tokenizer_special_tokens`` names ``"<stem>"``."""


SELF_FALLBACK = r"self\.{attr}\s*=\s*[\"'](?P<lit>[^\"'\n]+)[\"']\s+if\b"
"""``self.<attr> = "<lit>" if not hasattr(tokenizer, ...) else tokenizer.<attr>`` in a
processor's source: the string the processor uses where the tokenizer names none."""


def repeated_placeholder(cls: type, kind: str = "image") -> str | None:
    """Rule ``REPEATED_PLACEHOLDER``: the token string a processor's ``replace_<kind>_token``
    repeats once per feature, which is the string the model counts at its ``<kind>_token_id``
    (Ovis2 expands ``<image>`` to ``<IMG_ATOM>`` x image_seq_length, processing_ovis2.py; Aya
    Vision to ``<|IMG_PATCH|>``, processing_aya_vision.py; GOT-OCR2 to ``self.image_token``, which
    its ``__init__`` sets to ``"<imgpad>"`` over no parameter, processing_got_ocr2.py). Attributes
    resolve through ``self.<attr> = "..."`` in the class source, then the ``__init__`` default of
    the parameter of that name, then the literal of ``self.<attr> = "<lit>" if ... else
    tokenizer.<attr>`` (``SELF_FALLBACK``: ColQwen2's ``<|image_pad|>``, which its
    ``visual_prompt_prefix`` writes, processing_colqwen2.py), then
    ``self.<attr> = tokenizer.<stem>_token`` as ``"<stem>"``
    (``SELF_FROM_TOKENIZER``: QianfanOCR repeats ``self.image_token``, read off the tokenizer's
    ``context_image_token``, processing_qianfan_ocr.py; the tokenizer carries it under that name,
    ``tokenizer_special_tokens``). ``None`` where the class expands nothing by repetition."""
    fn = getattr(cls, f"replace_{kind}_token", None)
    try:
        body = inspect.getsource(fn) if fn is not None else ""
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return None
    if not body or "NotImplementedError" in body:
        return None
    params = inspect.signature(cls.__init__).parameters
    for m in REPEATED.finditer(body):
        if m.group("lit"):
            return m.group("lit")
        attr = m.group("fattr") or m.group("attr")
        if not attr.endswith("_token"):
            continue
        assigned = re.findall(SELF_STRING.format(attr=re.escape(attr)), src, re.M)
        if assigned:
            return assigned[-1]
        fallback = re.findall(SELF_FALLBACK.format(attr=re.escape(attr)), src, re.M)
        if fallback:
            return fallback[-1]
        read = re.findall(SELF_FROM_TOKENIZER.format(attr=re.escape(attr)), src, re.M)
        if read:
            return f"<{read[-1]}>"
        p = params.get(attr)
        if p is not None and isinstance(p.default, str) and p.default:
            return p.default
    return None


def processor_special_tokens(class_name: str, config: Any) -> dict[str, str]:
    """Config id field -> token string a processor inserts, for the tokenizer synthesizer to put
    at the config's ids (``{"image_token_index": "<image>"}`` for Llava). Only tokens whose id
    field the config sets; ``{}`` for a class that does not import."""
    try:
        cls = resolve_class(class_name)
        strings = _token_strings(cls)
    except (PreprocessSkip, PreprocessError, TypeError, ValueError):
        return {}
    ids = token_ids(config)
    out: dict[str, str] = {}
    for kind in ("image", "video", "audio"):  # rule REPEATED_PLACEHOLDER first
        tok = repeated_placeholder(cls, kind)
        field = next((f for f in _id_fields(kind) if f in ids and ids[f] >= 0), None)
        if tok and field:
            out[field] = tok
    for name, tok in strings.items():
        stem = TOKEN_PARAM.match(name).group("stem")
        for f in _id_fields(stem):
            if f in ids and ids[f] >= 0:
                out.setdefault(f, tok)
                break
    return out


# ---------------------------------------------------------------------------------------------
# chat template


CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ message['role'] }}: "
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ IMAGE }}"
    "{%- elif part['type'] == 'video' -%}{{ VIDEO }}"
    "{%- elif part['type'] == 'audio' -%}{{ AUDIO }}"
    "{%- else -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}assistant: {%- endif -%}"
)
"""Minimal chat template: "role: content" lines, each image / video / audio part written as the
processor's placeholder token, and "assistant: " for a generation prompt."""


@dataclass(frozen=True)
class SelfPlaced:
    """A processor class that writes its own placeholder tokens into the text (data)."""

    class_name: str
    kinds: tuple[str, ...]
    reason: str


SELF_PLACED: tuple[SelfPlaced, ...] = (
    SelfPlaced(
        "Florence2Processor",
        ("image",),
        "Florence2Processor.__call__ prepends image_token + bos to every text itself "
        "(processing_florence2.py); a placeholder in the prompt makes two per image",
    ),
    SelfPlaced(
        "FuyuProcessor",
        ("image",),
        "FuyuProcessor.__call__ prepends its |SPEAKER| image token to every text itself "
        "(processing_fuyu.py); a placeholder in the prompt makes two per image",
    ),
)
"""Processors whose chat template writes no placeholder for the kinds they place themselves."""


@dataclass(frozen=True)
class WrappedPlaceholder:
    """A processor class whose placeholder must stand between two more of its tokens (data)."""

    class_name: str
    kind: str
    before: str
    after: str
    reason: str


WRAPPED: tuple[WrappedPlaceholder, ...] = (
    WrappedPlaceholder(
        "HunYuanVLProcessor",
        "image",
        "image_start_token",
        "image_end_token",
        "HunYuanVLProcessor.validate_inputs raises unless every image token stands as "
        "<image_start><image><image_end> (processing_hunyuan_vl.py: _has_wrappers); the "
        "checkpoints' chat template writes the three",
    ),
)
"""Placeholders written with the processor's own start / end tokens around them."""


@dataclass(frozen=True)
class Chatless:
    """A processor class that gets no chat template (data): its checkpoints ship none and it
    cannot take the chat path."""

    class_name: str
    reason: str


CHATLESS: tuple[Chatless, ...] = (
    Chatless(
        "GotOcr2Processor",
        "the GOT-OCR2 checkpoints ship no chat template (processing_got_ocr2.py "
        "prepare_inputs_layout: 'ckpt has not chat template', it writes its own conversation when "
        "called without text), and the chat path cannot reach it: ProcessorMixin."
        "apply_chat_template hands the images nested per conversation (processing_utils.py: "
        "batch_images), which GotOcr2Processor._make_list_of_inputs rejects unless multi_page "
        "('Nested images are only supported with `multi_page` set to `True`')",
    ),
)
"""Processors left without a synthesized chat template: callers use the plain form
(``processor(images=..., text=...)``, the text holding ``placeholder_for``)."""


def chatless(class_name: str) -> bool:
    """Whether ``class_name`` is a ``CHATLESS`` processor (no synthesized chat template)."""
    return any(e.class_name == class_name for e in CHATLESS)


def placeholder_for(processor: Any, kind: str) -> str | None:
    """The text a caller writes for one input of ``kind`` (``"image"``, ...): the processor's
    marker (``marker_token``: ``<kind>_placeholder_token``, else ``<kind>_token``), wrapped by its ``WRAPPED`` start / end tokens; ``None`` where it has no such
    token or places it itself (``SELF_PLACED``)."""
    if kind in self_placed_kinds(processor):
        return None
    tok = marker_token(processor, kind)
    if not (isinstance(tok, str) and tok):
        return None
    for w in WRAPPED:
        if w.class_name == type(processor).__name__ and w.kind == kind:
            tok = f"{getattr(processor, w.before)}{tok}{getattr(processor, w.after)}"
    return tok


def marker_token(processor: Any, kind: str) -> str | None:
    """Rule ``PLACEHOLDER_MARKER``: the string a prompt carries for one input of ``kind``. A
    processor with a ``<kind>_placeholder_token`` counts and expands that marker, not its
    ``<kind>_token`` (QianfanOCR: the prompt's ``<image>`` is validated and replaced by
    ``<img>`` + ``<IMG_CONTEXT>`` x image_seq_length + ``</img>``, its ``image_token`` being
    ``<IMG_CONTEXT>``; processing_qianfan_ocr.py: validate_inputs, get_text_with_replacements);
    else the ``<kind>_token``. ``None`` where it has neither string."""
    for attr in (f"{kind}_placeholder_token", f"{kind}_token"):
        tok = getattr(processor, attr, None)
        if isinstance(tok, str) and tok:
            return tok
    return None


def self_placed_kinds(processor: Any) -> set[str]:
    """The input kinds (``"image"``, ...) whose placeholder ``processor`` writes itself
    (``SELF_PLACED``): a caller must not write one into the text."""
    return {k for e in SELF_PLACED if e.class_name == type(processor).__name__ for k in e.kinds}


def chat_template_for(processor: Any) -> str:
    """``CHAT_TEMPLATE`` with the processor's placeholder strings filled in (``placeholder_for``:
    none for the kinds a ``SELF_PLACED`` class writes itself, ``WRAPPED`` ones wrapped)."""
    out = CHAT_TEMPLATE
    for kind in ("image", "video", "audio"):
        tok = placeholder_for(processor, kind)
        lit = _jinja_literal(tok) if tok else "''"
        out = out.replace("{{ " + kind.upper() + " }}", "{{ " + lit + " }}")
    return out


def _jinja_literal(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---------------------------------------------------------------------------------------------
# building


def synthesize_processor(class_name: str, config: Any, parts: Mapping[str, Any]) -> Any:
    """The composite processor ``class_name`` built from ``parts`` (kind -> instance; a kind that
    was skipped may be given as its ``PreprocessSkip``), consistent with the tiny config."""
    for bound in HUB_BOUND:
        if bound.class_name == class_name:
            raise PreprocessSkip(bound.reason)
    _needs_package(class_name)
    cls = resolve_class(class_name)
    try:
        attrs = processor_attributes(cls)
    except Exception as e:
        pkg = package_of(e)
        if pkg:
            raise PreprocessSkip(f"needs {pkg} ({class_name})", package=pkg) from e
        raise PreprocessError(f"{class_name}: {type(e).__name__}: {e}") from e
    kwargs: dict[str, Any] = {}
    for attr in attrs:
        kind = part_kind(attr)
        part = parts.get(kind) if kind else None
        if isinstance(part, PreprocessSkip):
            raise PreprocessSkip(f"its {kind} is skipped: {part.reason}", package=part.package)
        if part is None:
            raise PreprocessSkip(f"{class_name} needs a {attr} and none was built")
        kwargs[attr] = part
    kwargs.update(config_values(cls, config))
    if kwargs.get("image_processor") is not None:
        for attr, v in image_processor_values(cls, config, kwargs["image_processor"]).items():
            setattr(kwargs["image_processor"], attr, v)
        kwargs.update(measured_values(cls, config, kwargs["image_processor"]))
    for entry in CLASS_VALUES:
        if entry.class_name == class_name:
            kwargs.update(entry.values)
    takes_template = "chat_template" in inspect.signature(cls.__init__).parameters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            proc = cls(**kwargs)
        except PreprocessSkip:
            raise
        except Exception as e:
            pkg = package_of(e)
            if pkg:
                raise PreprocessSkip(f"needs {pkg} ({class_name})", package=pkg) from e
            raise PreprocessError(f"{class_name}: {type(e).__name__}: {str(e)[:300]}") from e
    wants = takes_template or any(getattr(proc, f"{k}_token", None) for k in ("image", "video"))
    if wants and not chatless(class_name):
        proc.chat_template = chat_template_for(proc)
    if any(e.class_name == class_name for e in TEMPLATE_ON_TOKENIZER):
        proc.tokenizer.chat_template = chat_template_for(proc)
    return proc


# ---------------------------------------------------------------------------------------------
# a stand-in tokenizer (development and the survey, until tokenizers.synthesize_tokenizer)


TOY_WORDS = ("user", "assistant", ":", "a", "photo", "of", "cat", "describe", "the", "image")


def toy_tokenizer(
    config: Any,
    special: Mapping[str, str] | None = None,
    extra_special_tokens: Mapping[str, str] | None = None,
    vocab_tokens: list[str] | None = None,
) -> Any:
    """A WordLevel ``tokenizers`` tokenizer over the config's text vocabulary: ``TOY_WORDS``, then
    ``tok<i>``; the config's special token ids (bos/eos/pad/unk) and ``special`` (config id field
    -> string, ``processor_special_tokens``) at their ids; ``extra_special_tokens`` (tokenizer
    attribute -> string, ``tokenizer_special_tokens``) set as attributes, strings without a
    config id at the top of the vocabulary, as ``vocab_tokens`` (``tokenizer_vocab_tokens``).
    A stand-in for development and the survey: the real
    tokenizers come from ``tokenizers.synthesize_tokenizer``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    vocab_size = find_attr(text, ("vocab_size",)) or find_attr(config, ("vocab_size",)) or 100
    ids = token_ids(config)
    names: dict[int, str] = {}
    roles = {}
    for role in ("pad", "bos", "eos", "unk"):
        i = ids.get(f"{role}_token_id")
        if is_int(i) and 0 <= i < vocab_size and i not in names:
            names[i] = f"<{role}>"
            roles[f"{role}_token"] = names[i]
    extra = []
    for f, s in (special or {}).items():
        i = ids.get(f)
        if is_int(i) and 0 <= i < vocab_size:
            names[i] = s
            extra.append(s)
    free = [i for i in reversed(range(vocab_size)) if i not in names]
    for text in (extra_special_tokens or {}).values():
        if text not in names.values() and free:
            names[free.pop(0)] = text
            extra.append(text)
    for text in vocab_tokens or ():
        if text not in names.values() and free:
            names[free.pop(0)] = text
    words = iter(TOY_WORDS)
    vocab = {}
    for i in range(vocab_size):
        if i in names:
            vocab[names[i]] = i
        else:
            w = next(words, None)
            vocab[w if w is not None and w not in vocab else f"tok{i}"] = i
    unk = roles.get("unk_token") or next(iter(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    out = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=unk,
        extra_special_tokens=dict(extra_special_tokens or {}),
        **roles,
    )
    if extra:
        out.add_special_tokens({"additional_special_tokens": extra})
    return out


# ---------------------------------------------------------------------------------------------
# the survey


def survey(model_types: list[str] | None = None, echo: bool = True) -> dict[str, Any]:
    """Build every mapped image processor / feature extractor / video processor / processor of
    ``model_types`` (all registry types by default) against each type's tiny config (processors
    with ``toy_tokenizer``). Returns {"built", "skipped", "failed"} counts by kind and reason."""
    from ..registry import load_registry
    from ..tiny.engine import build
    from .mapping import spec_for
    from .vision_audio import (
        synthesize_feature_extractor,
        synthesize_image_processor,
        synthesize_video_processor,
    )

    makers = {
        "image_processor": synthesize_image_processor,
        "feature_extractor": synthesize_feature_extractor,
        "video_processor": synthesize_video_processor,
    }
    reg = load_registry()
    types = model_types or list(reg)
    built: Counter = Counter()
    skipped: Counter = Counter()
    failed: Counter = Counter()
    details: dict[str, list] = defaultdict(list)
    for mt in types:
        spec = spec_for(mt)
        wanted = [(k, n) for k, n in spec.classes().items() if k != "tokenizer"]
        wanted += [
            ("video_processor" if "Video" in n else "image_processor", n)
            for n in spec.torchvision_only
        ]
        if not wanted:
            continue
        config = None
        for cn in reg[mt].all_classes()[:3]:
            try:
                config = build(mt, cn).config
                break
            except Exception:
                continue
        if config is None:
            for k, n in wanted:
                skipped[(k, "no tiny model")] += 1
                details["no tiny model"].append(f"{mt}:{n}")
            continue
        parts: dict[str, Any] = {}
        for kind, name in wanted:
            if kind == "processor":
                continue
            try:
                parts[kind] = makers[kind](name, config)
                built[kind] += 1
            except PreprocessSkip as e:
                parts[kind] = e
                skipped[(kind, _reason(e))] += 1
            except Exception as e:
                failed[(kind, _error(e))] += 1
                details[_error(e)].append(f"{mt}:{name}")
        if spec.processor:
            try:
                special = processor_special_tokens(spec.processor, config)
                attrs = tokenizer_special_tokens(spec.processor)
                words = tokenizer_vocab_tokens(spec.processor)
                parts["tokenizer"] = toy_tokenizer(config, special, attrs, words)
                synthesize_processor(spec.processor, config, parts)
                built["processor"] += 1
            except PreprocessSkip as e:
                skipped[("processor", _reason(e))] += 1
                details[_reason(e)].append(f"{mt}:{spec.processor}")
            except Exception as e:
                failed[("processor", _error(e))] += 1
                details[_error(e)].append(f"{mt}:{spec.processor}")
    result = {"built": built, "skipped": skipped, "failed": failed, "details": details}
    if echo:
        _print(result)
    return result


def _reason(e: PreprocessSkip) -> str:
    if e.package == "torchvision":
        return "torchvision"
    return f"needs {e.package}" if e.package else e.reason[:80]


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e)[:120]}"


def _print(result: dict[str, Any]) -> None:
    for kind in KINDS[1:]:
        b = result["built"][kind]
        s = {r: n for (k, r), n in result["skipped"].items() if k == kind}
        f = {r: n for (k, r), n in result["failed"].items() if k == kind}
        tv = s.pop("torchvision", 0)
        print(
            f"{kind}: built {b}, skipped torchvision {tv}, skipped other {sum(s.values())}, failed {sum(f.values())}"
        )
        for r, n in sorted(s.items(), key=lambda x: -x[1]):
            print(f"    skip {n:3d}  {r}")
        for r, n in sorted(f.items(), key=lambda x: -x[1]):
            print(f"    FAIL {n:3d}  {r}  e.g. {result['details'][r][:3]}")


# ---------------------------------------------------------------------------------------------
# parts a processor needs that the type's mapping does not list


def _home_model_type(cls: type) -> str | None:
    """The model folder a class is defined in (``transformers.models.wav2vec2.processing_...``
    -> ``wav2vec2``)."""
    parts = (getattr(cls, "__module__", "") or "").split(".")
    if len(parts) >= 3 and parts[0] == "transformers" and parts[1] == "models":
        return parts[2]
    return None


def _mapped_name(kind: str, model_type: str | None) -> str | None:
    """The class the installed Transformers maps ``model_type`` (or its dashed spelling) to for
    ``kind``; ``None`` where unmapped."""
    from .mapping import auto_mapping, pick

    if not model_type:
        return None
    mapping = auto_mapping(kind)
    for mt in (model_type, model_type.replace("_", "-")):
        if mt in mapping:
            name, tv = pick(kind, mapping[mt])
            return name or tv
    return None


def _config_model_types(config: Any) -> list[str]:
    """Model types of the config's text sub-config first, then the config's own and its other
    sub-configs' (one level)."""
    from ..configs import text_config

    out: list[str] = []
    for c in (text_config(config), config):
        mt = getattr(c, "model_type", None)
        if isinstance(mt, str) and mt and mt not in out:
            out.append(mt)
    for v in vars(config).values() if hasattr(config, "__dict__") else ():
        mt = getattr(v, "model_type", None) if is_config(v) else None
        if isinstance(mt, str) and mt and mt not in out:
            out.append(mt)
    return out


def declared_part_names(processor_name: str, config: Any, names: Mapping[str, str]) -> dict:
    """Rule ``PROCESSOR_PARTS``: a processor's sub-processor attributes (``get_attributes()``)
    that the type's mapping leaves empty (PaliGemma, Deepseek-VL, Mllama map no tokenizer; WavLM,
    SEW map ``Wav2Vec2Processor`` but no tokenizer: their checkpoints name the class in
    ``tokenizer_config.json``) are filled by what Transformers maps for the same kind to the
    config's text sub-config's model type (``gemma`` -> ``GemmaTokenizer``), the config's own and
    other sub-configs' types, then the processor's home model type (``Wav2Vec2Processor`` ->
    ``wav2vec2`` -> ``Wav2Vec2CTCTokenizer``). Returns kind -> class name of the parts to add;
    ``{}`` for a processor that does not import."""
    try:
        cls = resolve_class(processor_name)
        attrs = processor_attributes(cls)
    except Exception:
        return {}
    candidates = [*_config_model_types(config), _home_model_type(cls)]
    out: dict[str, str] = {}
    for attr in attrs:
        kind = part_kind(attr)
        if kind is None or names.get(kind) or kind in out:
            continue
        for mt in candidates:
            name = _mapped_name(kind, mt)
            if name:
                out[kind] = name
                break
        else:
            if kind == "tokenizer":
                out[kind] = _named_tokenizer(config) or DEFAULT_TOKENIZER
    return out


DEFAULT_TOKENIZER = "TokenizersBackend"
"""What ``AutoTokenizer`` builds for a checkpoint whose model type maps no tokenizer class and
whose ``tokenizer_config.json`` names none (a ``tokenizer.json`` alone)."""


def _named_tokenizer(config: Any) -> str | None:
    """``<Prefix>Tokenizer`` of the text sub-config's class ``<Prefix>Config`` where
    Transformers defines it (``LlamaConfig`` -> ``LlamaTokenizer``: Transformers 5 maps no
    tokenizer to ``llama``, the checkpoints name the class)."""
    import transformers

    from ..configs import text_config

    for c in (text_config(config), config):
        name = type(c).__name__
        if name.endswith("Config") and len(name) > len("Config"):
            cand = name[: -len("Config")] + "Tokenizer"
            try:
                if inspect.isclass(getattr(transformers, cand, None)):
                    return cand
            except Exception:
                continue
    return None


def equip_tokenizer(tok: Any, processor_name: str, vocab_size: int | None) -> dict[str, Any]:
    """Rule ``PROCESSOR_TOKENS``: the special tokens a processor reads off its tokenizer
    (``tokenizer_special_tokens``: ``tokenizer.boi_token``, ``tokenizer.image_boundary_token``)
    and the tokens it looks up in the vocabulary (``tokenizer_vocab_tokens``: Fuyu's
    ``vocab["|SPEAKER|"]``) that the tokenizer does not have (no config id names them, so the
    tokenizer synthesizer did not place them) are added to it, as the checkpoints'
    ``tokenizer_config.json`` ``extra_special_tokens`` / added tokens do. Added tokens take ids
    after the vocabulary: the returned config overrides (``{"vocab_size": N}``, as
    ``VOCAB_OVERRIDE_RULE``) make the model's embedding hold them; ``{}`` where nothing was
    added or the ids fit."""
    named = {
        attr: text
        for attr, text in tokenizer_special_tokens(processor_name).items()
        if not isinstance(getattr(tok, attr, None), str)
    }
    vocab = tok.get_vocab()
    words = [t for t in tokenizer_vocab_tokens(processor_name) if t not in vocab]
    if named:
        setter = getattr(tok, "_set_model_specific_special_tokens", None)
        if callable(setter):
            setter(dict(named))
        else:  # no named extra special tokens: attributes (4.x)
            for attr, text in named.items():
                setattr(tok, attr, text)
        new = [t for t in dict.fromkeys(named.values()) if t not in vocab]
        if new:
            tok.add_special_tokens(
                {"extra_special_tokens": new}, replace_extra_special_tokens=False
            )
    if words:
        tok.add_tokens(words)
    if not (named or words):
        return {}
    top = max(tok.get_vocab().values()) + 1
    return {"vocab_size": top} if vocab_size is not None and top > vocab_size else {}


def nested_vocab_override(config: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` with a ``vocab_size`` also pinned on the sub-config that holds the text
    vocabulary (``text_config``): a composite model embeds tokens with its text sub-config's
    ``vocab_size``, which a top-level pin leaves as it was."""
    from ..configs import text_config

    out = dict(overrides)
    n = out.get("vocab_size")
    if n is None:
        return out
    out = {**token_id_pins(config), **out}
    text = text_config(config)
    if text is config:
        from .tokenizers import text_vocab_field

        field = text_vocab_field(config)  # rule TEXT_VOCAB_FIELD
        if field != "vocab_size":
            out[field] = out.pop("vocab_size")
        return out
    for key, value in vars(config).items():
        if value is text and isinstance(getattr(value, "vocab_size", None), int):
            out[key] = {**token_id_pins(value), **dict(out.get(key) or {}), "vocab_size": n}
    shared_vocab_pins(config, text, n, out)
    return out


def shared_vocab_pins(config: Any, text: Any, n: int, out: dict[str, Any], depth: int = 0) -> None:
    """Rule ``SHARED_VOCAB``: every other sub-config (nested up to three levels) that embeds the
    same vocabulary as the text config (its ``vocab_size`` is the text config's) gets the grown
    ``vocab_size`` too, in ``out`` as nested dicts, its token ids pinned: an encoder-decoder
    whose encoder embeds text through its own sub-config (T5Gemma2's ``encoder.text_config``
    beside ``decoder``) validates that both agree ("Imbalanced encoder-decoder vocabulary size",
    configuration_t5gemma2.py: T5Gemma2Config.validate_architecture)."""
    old = getattr(text, "vocab_size", None)
    if not isinstance(old, int) or depth > 2:
        return
    for key, value in vars(config).items():
        if value is text or not hasattr(value, "to_dict"):
            continue
        entry = dict(out.get(key) or {})
        if getattr(value, "vocab_size", None) == old:
            entry = {**token_id_pins(value), **entry, "vocab_size": n}
        shared_vocab_pins(value, text, n, entry, depth + 1)
        if entry:
            out[key] = entry


def token_id_pins(config: Any) -> dict[str, Any]:
    """Rule ``VOCAB_GROWTH_KEEPS_IDS``: the config's own token-id fields (``*_token_id``,
    ``*_token_index``: ints or lists of ints) with the values the tiny model was built with. A
    vocabulary grown for a processor's added tokens is a config override the model is rebuilt
    with; the tiny engine places unpinned special ids at the top of the vocabulary
    (``tiny.config.fix_token_ids``), so the rebuild moved them (Idefics2's ``image_token_id`` 98
    -> 99, onto the processor's added ``<image_boundary>``), and a text sub-config pinned by
    a dict got its checkpoint ids back (Mllama's pad id 128004 in a vocabulary of 100:
    "Padding_idx must be within num_embeddings"). The tokenizer holds the tokens at the built
    ids, so the rebuild keeps them."""
    out: dict[str, Any] = {}
    for k, v in vars(config).items():
        if not (k.endswith("_token_id") or k.endswith("_token_index")):
            continue
        if is_int(v) or (isinstance(v, list) and v and all(is_int(x) for x in v)):
            out[k] = list(v) if isinstance(v, list) else v
    return out
