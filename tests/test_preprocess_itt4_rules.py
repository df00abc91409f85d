"""Rules REPEATED_PLACEHOLDER, PIXEL_SHUFFLE_TOKENS, the Idefics3 max_image_size form,
downsample_factor and PROCESSOR_ADDS_TOKENS (issue 11, helper itt4)."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")

from hftestgen.preprocess import processors, vision_audio  # noqa: E402


def _cls(name):
    return vision_audio.resolve_class(name)


def test_repeated_placeholder_literal_attr_and_init_assignment():
    # Ovis2 repeats a literal, Aya an f-string attribute, GOT-OCR2 an attribute set in __init__
    assert processors.repeated_placeholder(_cls("Ovis2Processor")) == "<IMG_ATOM>"
    assert processors.repeated_placeholder(_cls("AyaVisionProcessor")) == "<|IMG_PATCH|>"
    assert processors.repeated_placeholder(_cls("GotOcr2Processor")) == "<imgpad>"
    assert processors.repeated_placeholder(_cls("PPChart2TableProcessor")) is None


def test_processor_special_tokens_puts_the_repeated_string_at_the_image_id():
    cfg = transformers.Ovis2Config()
    cfg.image_token_id = 98
    got = processors.processor_special_tokens("Ovis2Processor", cfg)
    # before the rule: the __init__ default "<image>", which the processor replaces by <IMG_ATOM>
    assert got["image_token_id"] == "<IMG_ATOM>"


def test_grid_tokens_divide_by_the_pixel_shuffle_factor():
    cfg = transformers.Idefics3Config(vision_config={"image_size": 32, "patch_size": 4})
    assert cfg.scale_factor == 2
    assert processors.grid_tokens(cfg) == 16  # (32 // 4)^2 / 2^2; 64 without the rule
    gd = transformers.GraniteDoclingConfig(
        vision_config={"image_size": 32, "patch_size": 4, "scale_factor": 4}
    )
    assert processors.grid_tokens(gd) == 4  # scale factor on the vision config


def test_downsample_factor_is_read_from_the_config():
    cfg = transformers.AyaVisionConfig(vision_config={"image_size": 32, "patch_size": 4})
    got = processors.config_values(_cls("AyaVisionProcessor"), cfg)
    assert got["downsample_factor"] == cfg.downsample_factor == 2


def test_max_image_size_longest_edge_form():
    cfg = transformers.Idefics3Config(vision_config={"image_size": 32, "patch_size": 4})
    assert vision_audio._max_image_size(cfg, {"longest_edge": 364}) == {"longest_edge": 32}
    assert vision_audio._max_image_size(cfg, 980) == 32


def test_processor_added_tokens_grow_the_vocabulary():
    from hftestgen.preprocess.build import Preprocessing, grow_for_processor_tokens

    class Tok:
        def get_vocab(self):
            return {"a": 0, "<x>": 99, "<y>": 100}

    cfg = transformers.LlamaConfig(vocab_size=99)
    out = Preprocessing("x", names={})
    out.tokenizer = Tok()
    grow_for_processor_tokens(out, cfg)
    assert out.config_overrides["vocab_size"] == 101
