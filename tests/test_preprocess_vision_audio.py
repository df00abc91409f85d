"""Tiny preprocessing offline: the auto-mapping reader, image processors / feature extractors
sized to the tiny config by field-name rules, composite processors consistent with the tiny
config (placeholder tokens, tokens per image, chat template); raw inputs run through the tiny
model."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("transformers")

from hftestgen.preprocess import PreprocessSkip, mapping, processors, vision_audio  # noqa: E402
from hftestgen.preprocess.mapping import PreprocessingSpec, all_specs, pick, spec_for  # noqa: E402
from hftestgen.preprocess.processors import (  # noqa: E402
    chat_template_for,
    processor_special_tokens,
    synthesize_processor,
    toy_tokenizer,
)
from hftestgen.preprocess.vision_audio import (  # noqa: E402
    synthesize_feature_extractor,
    synthesize_image_processor,
    synthesize_video_processor,
)
from hftestgen.tiny import build  # noqa: E402

_BUILT: dict = {}


def tiny(model_type: str, class_name: str):
    if (model_type, class_name) not in _BUILT:
        _BUILT[model_type, class_name] = build(model_type, class_name)
    return _BUILT[model_type, class_name]


def image():
    """A raw RGB image, not square and not the model's size."""
    rng = np.random.RandomState(0)
    return Image.fromarray(rng.randint(0, 255, (50, 70, 3), dtype=np.uint8))


def waveform(seconds: float = 1.0):
    return np.random.RandomState(0).randn(int(16000 * seconds)).astype(np.float32)


def forward(model, inputs):
    with torch.no_grad():
        return model(**inputs)


# ---------------------------------------------------------------------------------------------
# mapping


def test_pick_reads_every_mapping_shape():
    # 5.x: plain names, {backend: name} dicts (PIL preferred, torchvision-only reported)
    assert pick("tokenizer", "BertTokenizer") == ("BertTokenizer", None)
    assert pick("processor", None) == (None, None)
    assert pick("image_processor", {"pil": "AP", "torchvision": "A"}) == ("AP", None)
    assert pick("image_processor", {"torchvision": "A"}) == (None, "A")
    assert pick("image_processor", {"pil": None, "torchvision": "A"}) == (None, "A")
    # 4.x: (slow, fast) pairs: the slow (PIL) image processor, the fast tokenizer
    assert pick("image_processor", ("ViTImageProcessor", "ViTImageProcessorFast")) == (
        "ViTImageProcessor",
        None,
    )
    assert pick("image_processor", (None, "OnlyFast")) == (None, "OnlyFast")
    assert pick("tokenizer", ("BertTokenizer", "BertTokenizerFast")) == ("BertTokenizerFast", None)
    assert pick("tokenizer", ("T5Tokenizer", None)) == ("T5Tokenizer", None)


def test_spec_for_installed_mappings():
    vit = spec_for("vit")
    assert vit.image_processor and vit.image_processor.endswith("Pil")
    assert vit.tokenizer is None and vit.processor is None and vit.torchvision_only == ()
    whisper = spec_for("whisper")
    assert whisper.feature_extractor == "WhisperFeatureExtractor"
    assert whisper.processor == "WhisperProcessor" and whisper.tokenizer
    llava = spec_for("llava")
    assert llava.processor == "LlavaProcessor" and llava.image_processor
    assert spec_for("no-such-type") == PreprocessingSpec("no-such-type")


def test_torchvision_only_classes_are_listed_not_picked():
    # a type whose only image processor is torchvision-backed (5.x {"torchvision": name})
    tv_types = [
        mt
        for mt, v in mapping.auto_mapping("image_processor").items()
        if isinstance(v, dict) and not v.get("pil") and v.get("torchvision")
    ]
    assert tv_types
    spec = spec_for(tv_types[0])
    assert spec.image_processor in spec.torchvision_only  # listed, a named skip
    with pytest.raises(PreprocessSkip) as e:
        synthesize_image_processor(spec.torchvision_only[0], tiny("vit", "ViTModel").config)
    assert e.value.package == "torchvision"


def test_video_processor_names_survive_blanking_without_torchvision():
    # video_processing_auto blanks its torchvision names when torchvision is missing; the spec
    # still names a torchvision-only class for a type with a video processor
    spec = spec_for("videomae")
    assert spec.video_processor in spec.torchvision_only
    assert any("video" in n.lower() for n in spec.torchvision_only)
    with pytest.raises(PreprocessSkip) as e:
        synthesize_video_processor(spec.torchvision_only[-1], tiny("vit", "ViTModel").config)
    assert e.value.package == "torchvision"


def test_all_specs_over_registry_types():
    specs = all_specs({"vit": None, "whisper": None})
    assert set(specs) == {"vit", "whisper"}
    assert specs["whisper"].classes()["feature_extractor"] == "WhisperFeatureExtractor"


# ---------------------------------------------------------------------------------------------
# image processors and feature extractors, raw input -> tiny model


def test_vit_image_processor_sized_to_tiny_config():
    b = tiny("vit", "ViTForImageClassification")
    proc = synthesize_image_processor(spec_for("vit").image_processor, b.config)
    inputs = dict(proc(images=image(), return_tensors="pt"))
    side = b.config.image_size
    assert tuple(inputs["pixel_values"].shape) == (1, b.config.num_channels, side, side)
    assert forward(b.model, inputs).logits.shape[0] == 1


def test_without_the_sizing_rules_the_default_size_does_not_fit(monkeypatch):
    """The rules are what makes it fit: the class default (224) is not the tiny image size."""
    b = tiny("vit", "ViTForImageClassification")
    monkeypatch.setattr(vision_audio, "RULES", ())
    proc = synthesize_image_processor(spec_for("vit").image_processor, b.config)
    inputs = dict(proc(images=image(), return_tensors="pt"))
    assert inputs["pixel_values"].shape[-1] != b.config.image_size
    with pytest.raises(ValueError, match="doesn't match model"):
        forward(b.model, inputs)


def test_mean_std_follow_num_channels():
    b = tiny("vit", "ViTModel")
    cfg = b.config.__class__(**{**b.config.to_dict(), "num_channels": 1})
    proc = synthesize_image_processor(spec_for("vit").image_processor, cfg)
    assert len(proc.image_mean) == 1 and len(proc.image_std) == 1


def test_whisper_feature_extractor_mel_bins_and_frames():
    b = tiny("whisper", "WhisperForConditionalGeneration")
    fe = synthesize_feature_extractor("WhisperFeatureExtractor", b.config)
    inputs = dict(fe(waveform(), sampling_rate=fe.sampling_rate, return_tensors="pt"))
    feats = inputs["input_features"]
    assert feats.shape[1] == b.config.num_mel_bins
    assert feats.shape[2] == 2 * b.config.max_source_positions
    inputs["decoder_input_ids"] = torch.tensor([[1, 2]])
    assert forward(b.model, inputs).logits.shape[:2] == (1, 2)


def test_whisper_without_the_frames_rule_gives_3000_frames(monkeypatch):
    b = tiny("whisper", "WhisperForConditionalGeneration")
    rules = tuple(r for r in vision_audio.RULES if r.attr != "nb_max_frames")
    monkeypatch.setattr(vision_audio, "RULES", rules)
    fe = synthesize_feature_extractor("WhisperFeatureExtractor", b.config)
    feats = fe(waveform(), sampling_rate=fe.sampling_rate, return_tensors="pt")["input_features"]
    assert feats.shape[2] == 3000 != 2 * b.config.max_source_positions


def test_mel_bins_rule_follows_the_config():
    b = tiny("whisper", "WhisperForConditionalGeneration")
    cfg = b.config.__class__(**{**b.config.to_dict(), "num_mel_bins": 16})
    fe = synthesize_feature_extractor("WhisperFeatureExtractor", cfg)
    assert fe.feature_size == 16
    feats = fe(waveform(0.2), sampling_rate=fe.sampling_rate, return_tensors="np")["input_features"]
    assert feats.shape[1] == 16


def test_wav2vec2_feature_extractor_raw_waveform():
    b = tiny("wav2vec2", "Wav2Vec2ForCTC")
    fe = synthesize_feature_extractor(spec_for("wav2vec2").feature_extractor, b.config)
    assert fe.feature_size == 1  # a raw waveform: the mel-bin rule leaves it alone
    inputs = dict(fe(waveform(0.5), sampling_rate=16000, return_tensors="pt"))
    assert forward(b.model, inputs).logits.shape[0] == 1


# ---------------------------------------------------------------------------------------------
# composite processors


def _processor(model_type: str, class_name: str):
    b = tiny(model_type, class_name)
    spec = spec_for(model_type)
    special = processor_special_tokens(spec.processor, b.config)
    tok = toy_tokenizer(b.config, special)
    ip = synthesize_image_processor(spec.image_processor, b.config)
    return b, synthesize_processor(
        spec.processor, b.config, {"tokenizer": tok, "image_processor": ip}
    )


def test_clip_processor_image_and_text():
    b, proc = _processor("clip", "CLIPModel")
    inputs = dict(proc(images=image(), text=["a photo of a cat"], return_tensors="pt"))
    out = forward(b.model, inputs)
    assert out.logits_per_image.shape == (1, 1)


def test_llava_special_tokens_at_config_ids():
    b = tiny("llava", "LlavaForConditionalGeneration")
    special = processor_special_tokens("LlavaProcessor", b.config)
    assert special == {"image_token_index": "<image>"}
    tok = toy_tokenizer(b.config, special)
    assert tok.convert_tokens_to_ids("<image>") == b.config.image_token_index


def test_llava_chat_template_end_to_end():
    b, proc = _processor("llava", "LlavaForConditionalGeneration")
    msgs = [
        {
            "role": "user",
            "content": [{"type": "image", "image": image()}, {"type": "text", "text": "describe"}],
        }
    ]
    inputs = proc.apply_chat_template(
        msgs, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    n_image_tokens = int((inputs["input_ids"] == b.config.image_token_index).sum())
    side = b.config.vision_config.image_size // b.config.vision_config.patch_size
    assert n_image_tokens == side * side
    out = forward(b.model, dict(inputs))
    assert out.logits.shape[1] == inputs["input_ids"].shape[1]


def test_llava_without_class_values_miscounts_image_tokens(monkeypatch):
    """The CLS-token entry is what makes placeholders match the image features."""
    monkeypatch.setattr(processors, "CLASS_VALUES", ())
    b, proc = _processor("llava", "LlavaForConditionalGeneration")
    inputs = dict(proc(images=image(), text=["user: <image> describe"], return_tensors="pt"))
    with pytest.raises(ValueError, match="(?i)image features and image tokens do not match"):
        forward(b.model, inputs)


def test_processor_with_a_skipped_part_is_skipped_with_its_package():
    b = tiny("llava", "LlavaForConditionalGeneration")
    parts = {
        "tokenizer": toy_tokenizer(b.config),
        "image_processor": PreprocessSkip("needs torchvision (X)", package="torchvision"),
    }
    with pytest.raises(PreprocessSkip) as e:
        synthesize_processor("LlavaProcessor", b.config, parts)
    assert e.value.package == "torchvision"


def test_chat_template_writes_placeholders():
    class P:
        image_token = "<im>"
        video_token = None

    t = chat_template_for(P())
    assert "'<im>'" in t and "add_generation_prompt" in t


def test_tokenizer_special_tokens_read_off_processor_sources():
    from hftestgen.preprocess.processors import tokenizer_special_tokens, tokenizer_vocab_tokens

    gemma3 = tokenizer_special_tokens("Gemma3Processor")
    assert {"boi_token", "image_token", "eoi_token"} <= set(gemma3)
    # ``tokenizer.add_bos_token = False`` is a flag being set, not a token the tokenizer carries
    assert "add_bos_token" not in tokenizer_special_tokens("PaliGemmaProcessor")
    assert tokenizer_vocab_tokens("FuyuProcessor") == ["|NEWLINE|", "|SPEAKER|"]
