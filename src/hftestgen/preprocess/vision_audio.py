"""Image processors, feature extractors and video processors sized to a tiny config.

A preprocessing class is built with its defaults, then every rule of ``RULES`` that applies
(the class has the attribute, the config has the field) sets one attribute from the tiny config:
a raw PIL image / numpy waveform processed by it gives tensors the tiny model accepts (pixel
values of ``config.image_size``, input features with the config's mel bins). Rules are keyed by
field names, never by model type; what a single class needs beyond them is data
(``CLASS_VALUES``, each entry with its reason).

Classes that exist only with a torchvision backend, and classes that need a package not installed
here (librosa, av, ...), raise ``PreprocessSkip`` naming the package; anything else that fails
raises ``PreprocessError``.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..configs import find_attr, is_config, is_int, vision_config
from . import PreprocessError, PreprocessSkip

# ---------------------------------------------------------------------------------------------
# reading the tiny config


def _vision(config: Any) -> Any:
    """The config's vision tower config (``configs.vision_config``: the config itself for a
    vision-only model)."""
    return vision_config(config)


def _vfield(config: Any, *names: str) -> Any:
    """The first of ``names`` set on the vision config, else anywhere in the config (vision
    sub-configs preferred)."""
    v = _vision(config)
    for n in names:
        x = getattr(v, n, None)
        if x is not None and not callable(x) and not is_config(x):
            return x
    return find_attr(config, names, prefer=("vision_config", "vision_encoder_config"))


def _afield(config: Any, *names: str) -> Any:
    """The first of ``names`` set on the config or its sub-configs (audio fields)."""
    return find_attr(config, names, prefer=("audio_config", "encoder", "speech_config"))


def _hw(value: Any) -> tuple[int, int] | None:
    """(height, width) of an ``image_size`` / ``patch_size`` field: an int, a [h, w] pair or a
    {"height", "width"} dict."""
    if is_int(value):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(is_int(x) for x in value):
        return value[0], value[1]
    if isinstance(value, Mapping) and is_int(value.get("height")) and is_int(value.get("width")):
        return value["height"], value["width"]
    return None


def _like(default: Any, hw: tuple[int, int]) -> Any:
    """``hw`` in the shape of a processor's default size value: {"height", "width"},
    {"shortest_edge"} (the resize keeps aspect, then a crop or a square image gives ``hw``),
    {"longest_edge"}, an int or a pair; ``None`` for a shape not understood (left as is)."""
    h, w = hw
    if isinstance(default, Mapping):
        keys = set(default)
        if {"height", "width"} <= keys:
            return {**default, "height": h, "width": w}
        if keys == {"shortest_edge"}:
            return {"shortest_edge": min(h, w)}
        if keys == {"longest_edge"}:
            return {"longest_edge": max(h, w)}
        if keys == {"shortest_edge", "longest_edge"} and all(is_int(v) for v in default.values()):
            return {"shortest_edge": min(h, w), "longest_edge": max(h, w)}
        return None
    if is_int(default):
        return h if h == w else None
    if isinstance(default, (list, tuple)) and len(default) == 2:
        return type(default)((h, w))
    if default is None:
        return {"height": h, "width": w}
    return None


def _channels(default: Any, n: Any) -> Any:
    """A per-channel list (``image_mean`` / ``image_std``) with ``n`` entries: cut, or the last
    value repeated."""
    if not is_int(n) or n < 1 or not isinstance(default, (list, tuple)) or not default:
        return None
    if len(default) == n:
        return None
    vals = list(default)[:n] + [default[-1]] * max(0, n - len(default))
    return type(default)(vals)


# ---------------------------------------------------------------------------------------------
# the field-name rules


@dataclass(frozen=True)
class Rule:
    """One processor attribute derived from the tiny config."""

    attr: str
    """The processor attribute set (only where the default instance has it)."""
    derive: Callable[[Any, Any], Any]
    """(tiny config, the attribute's default) -> the value, or ``None``: leave the default."""
    reason: str


ANY_SIZE_IMAGE = (32, 32)
"""Rule "any-size towers get the tiny image": a vision config without an image size (a
convolutional backbone such as DETR's ResNet takes any size) is fed the tiny inputs' default
image (``tiny.inputs.vision._image_dims``: 32x32), not the processor's checkpoint size (DETR's
800-1333 px made one pipeline call take seconds)."""


IMAGE_SIZE_FIELDS = ("image_size", "input_size", "img_size", "max_img_size")
"""The config fields that give the tower's input image size, first found wins. Rule
"max_img_size is the frame size": TVP has no image_size; its frames are max_img_size squares
(modeling_tvp.py: TvpFramePadPrompter's visual_prompt_mask and pads are max_img_size wide, and
TvpImageProcessor's checkpoint size, crop and pad are max_img_size's default 448); Radio names
both and keeps image_size."""


def _has_image_size(config: Any) -> bool:
    return _vfield(config, *IMAGE_SIZE_FIELDS) is not None


def _image_size(config: Any, default: Any) -> Any:
    hw = _hw(_vfield(config, *IMAGE_SIZE_FIELDS))
    if hw is None and not _has_image_size(config):
        hw = ANY_SIZE_IMAGE
    return _like(default, hw) if hw else None


def _pad_size(config: Any, default: Any) -> Any:
    """``image_size`` for a {"height", "width"} ``pad_size`` (a ``None`` default: no fixed pad)."""
    return _image_size(config, default) if isinstance(default, Mapping) else None


def _high_res_size(config: Any, default: Any) -> Any:
    """The image size of a second, high-resolution tower (``high_res_vision_config``)."""
    hr = getattr(config, "high_res_vision_config", None)
    hw = _hw(getattr(hr, "image_size", None)) if is_config(hr) else None
    return _like(default, hw) if hw else None


def _max_image_size(config: Any, default: Any) -> Any:
    """A square ``image_size`` for an int ``max_image_size`` (the longest side, padded square),
    or in the default's ``{"longest_edge"}`` form (Idefics3 / SmolVLM: the side of the tiles the
    image is split into, each a full image for the tower: image_processing_idefics3.py)."""
    hw = _hw(_vfield(config, *IMAGE_SIZE_FIELDS))
    if not hw or hw[0] != hw[1]:
        return None
    if isinstance(default, Mapping) and set(default) == {"longest_edge"}:
        return _like(default, hw)
    return hw[0] if is_int(default) else None


def _patch_size(config: Any, default: Any) -> Any:
    hw = _hw(_vfield(config, "patch_size"))
    if not hw:
        return None
    if isinstance(default, Mapping) or is_int(default):
        return _like(default, hw)
    return None


def _merge_size(config: Any, default: Any) -> Any:
    v = _vfield(config, "spatial_merge_size", "merge_size")
    return v if is_int(v) and is_int(default) else None


def _temporal_patch(config: Any, default: Any) -> Any:
    v = _vfield(config, "temporal_patch_size")
    return v if is_int(v) and is_int(default) else None


def _pixels_bound(factor: int) -> Callable[[Any, Any], Any]:
    """Dynamic-resolution processors (``min_pixels`` / ``max_pixels``) resize to a multiple of
    patch * merge: bound the pixels to ``factor`` merged patches (each side) so the tiny model
    sees a few tokens. A tower without patches takes the unit of ``_vq_pixel_unit``."""

    def derive(config: Any, default: Any) -> Any:
        p = _hw(_vfield(config, "patch_size"))
        m = _vfield(config, "spatial_merge_size", "merge_size")
        if not is_int(default):
            return None
        if p:
            unit = p[0] * (m if is_int(m) else 1)
        else:
            unit = _vq_pixel_unit(config)
            if unit is None:
                return None
        return (unit * factor) ** 2

    return derive


def _vq_pixel_unit(config: Any) -> int | None:
    """Rule VQ_PIXEL_UNIT: the pixels per token side of a VQ-VAE image tokenizer (a config with a
    ``channel_multiplier`` list and no patch size): one stride-2 downsample per resolution level
    but the last, so ``2 ** (levels - 1)`` (modeling_emu3.py: Emu3VQVAEDownBlock,
    ``vision_spatial_factor``). Without it a dynamic-resolution processor of a VQ model keeps
    its checkpoint bounds (Emu3ImageProcessor: at least 512 * 512 px, thousands of tokens)."""
    mult = _vfield(config, "channel_multiplier")
    if not isinstance(mult, (list, tuple)) or not mult or not all(is_int(x) for x in mult):
        return None
    return 2 ** (len(mult) - 1)


def _mean_std(config: Any, default: Any) -> Any:
    return _channels(default, _vfield(config, "num_channels", "in_channels", "in_chans"))


def _mel_bins(config: Any, default: Any) -> Any:
    v = _afield(config, "num_mel_bins", "n_mels", "num_mel_filters", "input_feat_per_channel")
    # a feature_size of 1 is a raw waveform (wav2vec2): not mel bins
    if is_int(v) and is_int(default) and default > 1 and v != default:
        return v
    return None


def _sampling_rate(config: Any, default: Any) -> Any:
    v = _afield(config, "sampling_rate", "sample_rate")
    return v if is_int(v) and is_int(default) and v != default else None


def _frames(config: Any, default: Any) -> Any:
    v = _afield(config, "max_source_positions")
    return 2 * v if is_int(v) and is_int(default) else None


def _same_name(attr: str) -> Callable[[Any, Any], Any]:
    def derive(config: Any, default: Any) -> Any:
        v = _vfield(config, attr)
        if v is None or is_config(v) or callable(v):
            return None
        if type(v) is not type(default) and not (default is None or _num(v) and _num(default)):
            return None
        return v

    return derive


def _fusion_truncation(config: Any, default: Any) -> Any:
    """``"rand_trunc"`` for a ``"fusion"`` truncation when the model's ``enable_fusion`` is off:
    fusion stacks four mel crops as channels, which only the fusion encoder takes
    (feature_extraction_clap.py: _get_input_mel; modeling_clap.py: ClapAudioPatchEmbed)."""
    fusion = _afield(config, "enable_fusion")
    return "rand_trunc" if default == "fusion" and fusion is False else None


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


RULES: tuple[Rule, ...] = (
    Rule("size", _image_size, "the vision tower's position embeddings are sized to image_size"),
    Rule("crop_size", _image_size, "a center crop must give the model's image_size too"),
    Rule(
        "pad_size",
        _pad_size,
        "processors that pad to a fixed pad_size (SAM: 1024x1024) must pad to the tower's "
        "image_size",
    ),
    Rule(
        "high_res_size",
        _high_res_size,
        "hybrid processors (DeepSeek-VL hybrid) resize a second copy of the image for the "
        "high-resolution tower (SAM-like, position embeddings at its image_size)",
    ),
    Rule(
        "max_image_size",
        _max_image_size,
        "processors that resize the longest side to max_image_size and pad to a square (Aria) "
        "or split the image into tiles of max_image_size (Idefics3) must give the tower's "
        "image_size",
    ),
    Rule(
        "patch_size",
        _patch_size,
        "patch-based processors (dynamic resolution) cut the image in the tower's patches",
    ),
    Rule("merge_size", _merge_size, "patches merged per token must match spatial_merge_size"),
    Rule(
        "temporal_patch_size",
        _temporal_patch,
        "frames per temporal patch must match the tower's temporal_patch_size",
    ),
    Rule("min_pixels", _pixels_bound(1), "dynamic resolution: at least one merged patch"),
    Rule("max_pixels", _pixels_bound(4), "dynamic resolution: a few merged patches at most"),
    Rule("image_mean", _mean_std, "one mean per input channel (num_channels)"),
    Rule("image_std", _mean_std, "one std per input channel (num_channels)"),
    Rule("feature_size", _mel_bins, "input features carry the encoder's mel bins"),
    Rule("num_mel_bins", _mel_bins, "input features carry the encoder's mel bins"),
    Rule("n_mels", _mel_bins, "input features carry the encoder's mel bins"),
    Rule("sampling_rate", _sampling_rate, "the model's sampling rate, where its config has one"),
    Rule(
        "nb_max_frames",
        _frames,
        "encoders with max_source_positions behind a stride-2 conv expect exactly twice that "
        "many frames (Whisper: 3000 = 2 * 1500)",
    ),
    Rule(
        "image_grid_pinpoints",
        _same_name("image_grid_pinpoints"),
        "any-resolution tiling must use the config's grid",
    ),
    Rule("max_length", _same_name("max_length"), "spectrogram length the model is sized to"),
    Rule(
        "model_in_channels",
        _same_name("model_in_channels"),
        "a vocoder's noise_sequence carries the model's input channels (UnivNet)",
    ),
    Rule("num_frames", _same_name("num_frames"), "video models are sized to num_frames"),
    Rule(
        "truncation",
        _fusion_truncation,
        "fusion truncation makes four mel channels; an unfused audio encoder (enable_fusion "
        "False: CLAP's HTSAT) takes one (rand_trunc, as the unfused checkpoints)",
    ),
    Rule(
        "image_seq_length",
        _same_name("num_image_tokens"),
        "placeholders per image (PaliGemma / ColPali processors read image_seq_length off the "
        "image processor) must be the config's num_image_tokens, the tower's patch count",
    ),
)
"""The field-name rules: processor attribute <- tiny config field, with why."""


@dataclass(frozen=True)
class ClassValues:
    """``__init__`` values one preprocessing class needs beyond the rules (a per-class oddity,
    as data): here for image processors and feature extractors, in ``processors`` for composite
    processors (beyond its ``CONFIG_PARAMS``)."""

    class_name: str
    values: Mapping[str, Any]
    reason: str


CLASS_VALUES: tuple[ClassValues, ...] = (
    ClassValues(
        "EomtImageProcessorPil",
        {"do_pad": True},
        "EoMT's ViT has position embeddings for the square image_size, and its processor keeps "
        "the aspect (shortest / longest edge), then makes the square only by padding (do_pad) "
        "or by cutting square crops (do_split_image), both False in the class defaults "
        "(image_processing_eomt.py); neither, a 40x48 image came out 32x27. The tiny "
        "processor pads (one square per image, as the pipelines expect)",
    ),
    ClassValues(
        "DeepseekOcr2ImageProcessorPil",
        {"tile_size": 192},
        "the local tiles (image_processing_pil_deepseek_ocr2.py: tile_size, 768 for the "
        "checkpoints' 16 px patches) must give the tower a 12x12 grid after its two stride-2 "
        "convs, the 144 learned queries it answers a tile with (modeling_deepseek_ocr2.py: "
        "query_768_resolution); at the tiny 4 px patches that is 192 px, the tiny SAM image "
        "size (deepseek_ocr2.toml); the 768 default gave 2304 placeholders per tile",
    ),
    ClassValues(
        "DeepseekOcr2ImageProcessor",
        {"tile_size": 192},
        "as DeepseekOcr2ImageProcessorPil (the torchvision backend)",
    ),
    ClassValues(
        "GlmImageImageProcessorPil",
        {"temporal_patch_size": 1},
        "GLM-Image's vision tower embeds 2-D patches (modeling_glm_image.py: "
        "GlmImageVisionPatchEmbed, a Conv2d over view(-1, in_channels, patch_size, patch_size)) "
        "and its config has no temporal_patch_size; the class default 2, copied from Qwen2-VL "
        "(image_processing_pil_glm_image.py), doubles every patch's features, so the tower reads "
        "twice the patches of image_grid_thw (IndexError in GlmImageVisionEmbeddings). One frame "
        "per patch, what the tower takes",
    ),
    ClassValues(
        "GlmImageImageProcessor",
        {"temporal_patch_size": 1},
        "the torchvision twin of GlmImageImageProcessorPil: one frame per patch",
    ),
)
"""Per-class oddities, each with its reason (composite processors keep theirs in
``processors.CLASS_VALUES``)."""


# ---------------------------------------------------------------------------------------------
# building


PACKAGE_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"torchvision", re.I), "torchvision"),
    (re.compile(r"requires the (\w+) library", re.I), ""),
    (re.compile(r"No module named '([\w]+)", re.I), ""),
)
"""How an ImportError names its package (an empty name: the first group)."""


def package_of(exc: BaseException) -> str | None:
    """The package an import-ish exception says is missing, or ``None``."""
    msg = f"{exc}"
    if not (isinstance(exc, ImportError) or "requires the" in msg or "pip install" in msg):
        return None
    for pat, name in PACKAGE_PATTERNS:
        m = pat.search(msg)
        if m:
            return (name or m.group(1)).lower()
    return getattr(exc, "name", None) or "unknown"


def resolve_class(class_name: str) -> type:
    """The Transformers class named ``class_name``; PreprocessSkip where it needs a package that
    is not installed, PreprocessError where it does not exist."""
    import transformers

    if ":" in class_name:  # mapping's stand-in for a blanked torchvision-only name
        raise PreprocessSkip(f"needs torchvision ({class_name})", package="torchvision")
    try:
        cls = getattr(transformers, class_name)
    except Exception as e:
        pkg = package_of(e)
        if pkg:
            raise PreprocessSkip(f"needs {pkg} ({class_name})", package=pkg) from e
        raise PreprocessError(f"{class_name} does not import: {type(e).__name__}: {e}") from e
    if type(cls).__name__ == "DummyObject" or not inspect.isclass(cls):
        pkgs = [b for b in getattr(cls, "_backends", ()) if not _installed(b)]
        pkg = pkgs[0] if pkgs else "unknown"
        raise PreprocessSkip(f"needs {pkg} ({class_name})", package=pkg)
    return cls


def _installed(backend: str) -> bool:
    from transformers.utils import import_utils

    check = getattr(import_utils, f"is_{backend}_available", None)
    if check is not None:
        try:
            return bool(check())
        except Exception:
            return False
    return importlib.util.find_spec(backend) is not None


def _construct(cls: type, kwargs: Mapping[str, Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return cls(**kwargs)
        except Exception as e:
            pkg = package_of(e)
            if pkg:
                raise PreprocessSkip(f"needs {pkg} ({cls.__name__})", package=pkg) from e
            raise


def _state(obj: Any) -> dict[str, Any]:
    """The attributes a processor instance holds (``to_dict`` where it has one)."""
    out = dict(vars(obj))
    try:
        out.update(obj.to_dict())
    except Exception:
        pass
    return out


def _init_params(cls: type) -> set[str] | None:
    """Named ``__init__`` parameters, or ``None`` when it takes ``**kwargs`` only."""
    params = inspect.signature(cls.__init__).parameters
    named = {
        n
        for n, p in params.items()
        if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    return named or None


def sized_values(cls: type, default: Any, config: Any) -> dict[str, Any]:
    """Attribute -> value from ``RULES`` and ``CLASS_VALUES`` for one class (only the values that
    differ from the class defaults)."""
    state = _state(default)
    out: dict[str, Any] = {}
    for rule in RULES:
        if rule.attr not in state:
            continue
        v = rule.derive(config, state[rule.attr])
        if v is not None and v != state[rule.attr]:
            out[rule.attr] = v
    for entry in CLASS_VALUES:
        if entry.class_name == cls.__name__:
            out.update(entry.values)
    return out


def synthesize(class_name: str, config: Any) -> Any:
    """A preprocessing instance of ``class_name`` (image processor / feature extractor / video
    processor) sized to the tiny ``config`` by ``RULES``."""
    cls = resolve_class(class_name)
    try:
        default = _construct(cls, {})
        params = _init_params(cls)
        values = frames_by_constructor(default, sized_values(cls, default, config), params)
        state = _state(default)
        init = {
            k: v
            for k, v in values.items()
            if (params is None and k in state) or (params and k in params)
        }
        obj = _construct(cls, init) if init else default
        for k, v in values.items():
            if k not in init or getattr(obj, k, None) != v:
                setattr(obj, k, v)
        _sync_frames(obj, values)
        _pixel_tokens(obj, config)
        _spec_frames(obj, config)
        return obj
    except (PreprocessSkip, PreprocessError):
        raise
    except Exception as e:
        raise PreprocessError(f"{class_name}: {type(e).__name__}: {str(e)[:300]}") from e


def _sync_frames(obj: Any, values: Mapping[str, Any]) -> None:
    """Keep a feature extractor's sample count in step with a ``nb_max_frames`` set by a rule
    (Whisper pads / cuts waveforms to ``n_samples``, then takes ``n_samples // hop_length``
    frames)."""
    frames = values.get("nb_max_frames")
    hop = getattr(obj, "hop_length", None)
    if is_int(frames) and is_int(hop) and hasattr(obj, "n_samples"):
        obj.n_samples = frames * hop


FRAME_PARAMS = ("chunk_length", "hop_length")
"""Constructor parameters a Whisper-style feature extractor derives its frame count from
(``n_samples = chunk_length * sampling_rate``, ``nb_max_frames = n_samples // hop_length``)."""


def frames_by_constructor(
    default: Any, values: Mapping[str, Any], params: set[str] | None
) -> dict[str, Any]:
    """Rule (frames survive the round trip): a feature extractor that derives ``nb_max_frames``
    in ``__init__`` from ``chunk_length``, ``sampling_rate`` and ``hop_length`` (Whisper and its
    kin) and does not save ``nb_max_frames`` as a constructor argument gets the frame count of
    the ``nb_max_frames`` rule through those parameters: the smallest whole ``chunk_length`` (in
    seconds, at the sampling rate kept) whose samples split into exactly that many hops, with
    ``n_fft`` at least one hop (every sample reaches a frame). Set after construction only, the
    count is lost by ``save_pretrained`` -> ``from_pretrained`` (3000 frames again)."""
    out = dict(values)
    frames = out.get("nb_max_frames")
    if not is_int(frames) or frames < 1 or not params or not set(FRAME_PARAMS) <= params:
        return out
    if "nb_max_frames" in params:
        return out
    rate = out.get("sampling_rate", getattr(default, "sampling_rate", None))
    if not is_int(rate) or rate < 1:
        return out
    chunk = next(c for c in range(1, frames + 1) if (c * rate) % frames == 0)
    hop = chunk * rate // frames
    out["chunk_length"], out["hop_length"] = chunk, hop
    n_fft = getattr(default, "n_fft", None)
    if "n_fft" in params and is_int(n_fft) and n_fft < hop:
        out["n_fft"] = hop
    return out


def _spec_frames(obj: Any, config: Any) -> None:
    """Rule SPEC_FRAMES: an audio Swin (CLAP's HTSAT) folds the spectrogram into a square of
    ``spec_size``: it takes at most ``spec_size * freq_ratio`` time frames, ``freq_ratio =
    spec_size // num_mel_bins`` (modeling_clap.py: ClapAudioEncoder.reshape_mel2img, "the wav
    size should be less than or equal to the swin input size"). A feature extractor that pads /
    cuts waveforms to ``max_length_s`` seconds (``nb_max_samples = max_length_s *
    sampling_rate``, ``nb_max_samples // hop_length + 1`` frames: ClapFeatureExtractor's 10 s
    are 1001 frames) gets the most whole seconds that fit; where not even one second fits, the
    hop is widened so one second does (both are constructor arguments, so they survive
    ``save_pretrained``)."""
    spec = _afield(config, "spec_size")
    mel = _afield(config, "num_mel_bins")
    secs, rate, hop = (
        getattr(obj, k, None) for k in ("max_length_s", "sampling_rate", "hop_length")
    )
    if not (is_int(spec) and is_int(mel) and 0 < mel <= spec):
        return
    if not (is_int(secs) and is_int(rate) and is_int(hop) and hasattr(obj, "nb_max_samples")):
        return
    width = spec * (spec // mel)
    if secs * rate // hop + 1 <= width:
        return
    fit = (width - 1) * hop // rate
    if fit >= 1:
        obj.max_length_s = fit
    else:
        obj.max_length_s = 1
        obj.hop_length = -(-rate // (width - 1))
    obj.nb_max_samples = obj.max_length_s * rate


CLUSTER_SEED = 0


def _pixel_tokens(obj: Any, config: Any) -> None:
    """Rule "one token per pixel": a colour-quantizing processor (``do_color_quantize``,
    ImageGPT) maps every pixel to the id of its nearest colour cluster, so the model reads
    ``height * width`` tokens over a vocabulary of the clusters plus a start token. Transformers
    ships no default clusters ("Clusters must be provided for color quantization"); the tiny
    processor gets ``vocab_size - 1`` seeded clusters in [-1, 1] (the normalized pixel range) and
    a square size whose pixels fit the positions (``isqrt(n_positions)``, at most the tiny
    image)."""
    if not getattr(obj, "do_color_quantize", False) or getattr(obj, "clusters", 0) is not None:
        return
    vocab = find_attr(config, ("vocab_size",))
    positions = find_attr(config, ("n_positions", "max_position_embeddings"))
    if not (is_int(vocab) and vocab > 1 and is_int(positions)):
        return
    import numpy as np

    rng = np.random.default_rng(CLUSTER_SEED)
    obj.clusters = rng.uniform(-1.0, 1.0, (vocab - 1, 3)).astype(np.float32)
    side = min(math.isqrt(positions), ANY_SIZE_IMAGE[0])
    obj.size = {"height": side, "width": side}


def synthesize_image_processor(class_name: str, config: Any) -> Any:
    """An image processor of ``class_name`` sized to the tiny config (image / crop / patch size,
    per-channel mean and std)."""
    return synthesize(class_name, config)


def synthesize_feature_extractor(class_name: str, config: Any) -> Any:
    """A feature extractor of ``class_name`` sized to the tiny config (mel bins, sampling rate,
    frames)."""
    return synthesize(class_name, config)


def synthesize_video_processor(class_name: str, config: Any) -> Any:
    """A video processor of ``class_name`` sized to the tiny config. Transformers' video
    processors all subclass ``BaseVideoProcessor``, which needs torchvision."""
    from transformers.utils import is_torchvision_available

    if not is_torchvision_available():
        raise PreprocessSkip(f"needs torchvision ({class_name})", package="torchvision")
    return synthesize(class_name, config)
