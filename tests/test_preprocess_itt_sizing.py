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
