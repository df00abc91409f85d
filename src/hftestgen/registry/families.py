"""Architecture families and the rule that classifies a model type into one.

The rule reads *structure*: which auto-model mappings (task heads) a type belongs to, which
sub-configs its config nests, and which input-shaped attributes its config declares. It never
looks at substrings of the type's name (the user's earlier tool filed ``hubert`` under
encoder-only because it contains "bert").
"""

from __future__ import annotations

from dataclasses import dataclass

ENCODER_ONLY = "encoder-only"
DECODER_ONLY = "decoder-only"
ENCODER_DECODER = "encoder-decoder"
VISION = "vision"
MULTIMODAL = "multimodal"
AUDIO = "audio"
TIME_SERIES = "time-series"
OTHER = "other"

FAMILIES: tuple[str, ...] = (
    ENCODER_ONLY,
    DECODER_ONLY,
    ENCODER_DECODER,
    VISION,
    MULTIMODAL,
    AUDIO,
    TIME_SERIES,
    OTHER,
)

FAMILY_DESCRIPTIONS = {
    ENCODER_ONLY: "text encoders (masked LM, classification, QA, token classification heads)",
    DECODER_ONLY: "causal language models",
    ENCODER_DECODER: "sequence-to-sequence text models",
    VISION: "image and video models (classification, detection, segmentation, backbones)",
    MULTIMODAL: "vision-text / audio-text models (CLIP-like, VLMs, document models)",
    AUDIO: "speech and audio models (CTC, audio classification, speech seq2seq, TTS)",
    TIME_SERIES: "time-series forecasting, classification and regression",
    OTHER: "catch-all: models none of the rules above describe (e.g. decision transformers)",
}

# Which template renders each family.
# Task names come from Transformers' auto mappings: MODEL_FOR_<TASK>_MAPPING -> "<task>".
TIME_SERIES_TASKS = frozenset(
    {"time_series_prediction", "time_series_classification", "time_series_regression"}
)
AUDIO_TASKS = frozenset(
    {
        "audio_classification",
        "audio_frame_classification",
        "audio_xvector",
        "audio_tokenization",
        "ctc",
        "speech_seq_2_seq",
        "text_to_spectrogram",
        "text_to_waveform",
        "rnnt",
        "tdt",
    }
)
MULTIMODAL_TASKS = frozenset(
    {
        "image_text_to_text",
        "visual_question_answering",
        "multimodal_lm",
        "zero_shot_image_classification",
        "zero_shot_object_detection",
        "document_question_answering",
        "table_question_answering",
        "text_recognition",
        "retrieval",
    }
)
VISION_TASKS = frozenset(
    {
        "image_classification",
        "image",
        "object_detection",
        "semantic_segmentation",
        "instance_segmentation",
        "universal_segmentation",
        "image_segmentation",
        "depth_estimation",
        "backbone",
        "masked_image_modeling",
        "causal_image_modeling",
        "video_classification",
        "keypoint_detection",
        "keypoint_matching",
        "image_to_image",
        "image_matting",
        "mask_generation",
        "pose_estimation",
        "normal_estimation",
        "pointmap_estimation",
        "table_recognition",
    }
)
SEQ2SEQ_TASKS = frozenset({"seq_to_seq_causal_lm"})
CAUSAL_TASKS = frozenset({"causal_lm"})
ENCODER_TASKS = frozenset(
    {
        "masked_lm",
        "sequence_classification",
        "token_classification",
        "question_answering",
        "multiple_choice",
        "next_sentence_prediction",
        "text_encoding",
        "pretraining",
    }
)

# Sub-config attribute names that carry a modality.
VISION_SUBCONFIGS = frozenset({"vision_config", "image_config", "backbone_config", "visual"})
AUDIO_SUBCONFIGS = frozenset({"audio_config", "speech_config", "audio_encoder_config"})
TEXT_SUBCONFIGS = frozenset({"text_config", "language_config", "llm_config", "decoder_config"})

# Config attributes that betray the input a model takes, when mappings say nothing.
VISION_ATTRS = frozenset({"image_size", "patch_size", "num_channels", "backbone"})
AUDIO_ATTRS = frozenset({"num_mel_bins", "sampling_rate", "conv_dim", "feature_size"})
TIME_SERIES_ATTRS = frozenset({"prediction_length", "context_length"})


@dataclass(frozen=True)
class Structure:
    """What the classifier is allowed to look at."""

    tasks: frozenset[str]
    sub_configs: frozenset[str]  # attribute names of nested configs
    config_attrs: frozenset[str]  # attribute names of the default config
    is_encoder_decoder: bool
    nested_as: frozenset[str] = frozenset()  # attribute names under which parents nest it


def classify(s: Structure) -> tuple[str, str]:
    """Return (family, why). ``why`` names the evidence, for ``hftestgen explain``."""
    tasks = s.tasks
    has_vision_sub = bool(s.sub_configs & VISION_SUBCONFIGS)
    has_audio_sub = bool(s.sub_configs & AUDIO_SUBCONFIGS)
    has_text_sub = bool(s.sub_configs & TEXT_SUBCONFIGS)

    if tasks & TIME_SERIES_TASKS:
        return TIME_SERIES, f"time-series task mapping ({_first(tasks & TIME_SERIES_TASKS)})"
    if s.config_attrs & TIME_SERIES_ATTRS and "vocab_size" not in s.config_attrs:
        return TIME_SERIES, "config declares prediction/context length"
    if tasks & MULTIMODAL_TASKS:
        return MULTIMODAL, f"multimodal task mapping ({_first(tasks & MULTIMODAL_TASKS)})"
    if (has_vision_sub or has_audio_sub) and has_text_sub and not tasks & AUDIO_TASKS:
        return MULTIMODAL, "config nests a text config beside a vision/audio config"
    if tasks & AUDIO_TASKS:
        return AUDIO, f"audio task mapping ({_first(tasks & AUDIO_TASKS)})"
    if tasks & VISION_TASKS:
        return VISION, f"vision task mapping ({_first(tasks & VISION_TASKS)})"
    if tasks & SEQ2SEQ_TASKS:
        return ENCODER_DECODER, "seq2seq LM mapping"
    if "masked_lm" in tasks and not s.is_encoder_decoder:
        return ENCODER_ONLY, "masked LM mapping (a causal LM head, if any, is an extra head)"
    if tasks & CAUSAL_TASKS and not s.is_encoder_decoder:
        return DECODER_ONLY, "causal LM mapping"
    if tasks & ENCODER_TASKS and not s.is_encoder_decoder:
        return ENCODER_ONLY, f"text encoder task mapping ({_first(tasks & ENCODER_TASKS)})"
    if s.is_encoder_decoder:
        return ENCODER_DECODER, "config.is_encoder_decoder"
    # Only a base model (or a head no rule knows): fall back to the config's shape, then to
    # the slot a parent config nests it in (``audio_config``, ``vision_config``, ...).
    if has_audio_sub or s.config_attrs & AUDIO_ATTRS:
        return AUDIO, "config declares audio input attributes"
    if has_vision_sub or (s.config_attrs & VISION_ATTRS and "vocab_size" not in s.config_attrs):
        return VISION, "config declares image input attributes"
    slots = " ".join(sorted(s.nested_as))
    if any(w in slots for w in ("audio", "speech", "acoustic", "codec")):
        return AUDIO, f"nested by its parent as an audio component ({slots})"
    if any(w in slots for w in ("vision", "image", "visual", "video", "vq")):
        return VISION, f"nested by its parent as a vision component ({slots})"
    if tasks & CAUSAL_TASKS:
        return DECODER_ONLY, "causal LM mapping"
    if "vocab_size" in s.config_attrs and tasks:
        return ENCODER_ONLY, "text model with only a base class (vocab_size, no LM head)"
    return OTHER, "no family rule matched"


def _first(xs: frozenset[str]) -> str:
    return sorted(xs)[0]
