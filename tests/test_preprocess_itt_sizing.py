"""Rules that keep a synthesized processor and the tiny model agreeing on image tokens."""

import transformers

from hftestgen.preprocess.processors import nested_vocab_override, token_id_pins


def test_vocab_growth_keeps_token_ids():
    """VOCAB_GROWTH_KEEPS_IDS: a vocab override pins the built config's token ids (top level and
    the text sub-config), so the rebuilt model keeps them where the tokenizer put them."""
    cfg = transformers.MllamaConfig(
        image_token_index=98,
        text_config={"vocab_size": 99, "bos_token_id": 97, "eos_token_id": 96, "pad_token_id": 95},
    )
    got = nested_vocab_override(cfg, {"vocab_size": 100})
    assert got["image_token_index"] == 98
    assert got["text_config"]["vocab_size"] == 100
    assert {k: got["text_config"][k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")} == {
        "bos_token_id": 97,
        "eos_token_id": 96,
        "pad_token_id": 95,
    }


def test_token_id_pins_lists_and_nothing_else():
    cfg = transformers.LlamaConfig(eos_token_id=[2, 3], bos_token_id=1, pad_token_id=None)
    pins = token_id_pins(cfg)
    assert pins["eos_token_id"] == [2, 3] and pins["bos_token_id"] == 1
    assert "pad_token_id" not in pins and "vocab_size" not in pins


def test_no_vocab_override_pins_nothing():
    assert nested_vocab_override(transformers.LlamaConfig(), {}) == {}


def test_grid_tokens_size_a_processor_without_a_config_field():
    """GRID_TOKENS: DeepSeek-VL's processor takes num_image_tokens (default 576), its config names
    none: the tiny tower's (image_size // patch_size)^2."""
    from hftestgen.preprocess.processors import config_values, grid_tokens

    cfg = transformers.DeepseekVLConfig(vision_config={"image_size": 32, "patch_size": 4})
    assert grid_tokens(cfg) == 64
    assert config_values(transformers.DeepseekVLProcessor, cfg)["num_image_tokens"] == 64


def test_read_off_image_processor():
    """READ_OFF_IMAGE_PROCESSOR: PaliGemmaProcessor reads image_processor.image_seq_length."""
    from types import SimpleNamespace

    from hftestgen.preprocess.processors import image_processor_values

    cfg = transformers.PaliGemmaConfig(vision_config={"image_size": 32, "patch_size": 4})
    ip = SimpleNamespace()
    got = image_processor_values(transformers.PaliGemmaProcessor, cfg, ip)
    assert got == {"image_seq_length": 64}
    assert image_processor_values(transformers.LlavaProcessor, cfg, ip) == {}


def test_high_res_size_follows_the_high_res_tower():
    from hftestgen.preprocess.vision_audio import sized_values

    cfg = transformers.DeepseekVLHybridConfig(
        vision_config={"image_size": 32, "patch_size": 4},
        high_res_vision_config={"image_size": 64, "patch_size": 4},
    )
    cls = transformers.DeepseekVLHybridImageProcessorPil
    got = sized_values(cls, cls(), cfg)
    assert got["high_res_size"] == {"height": 64, "width": 64}
