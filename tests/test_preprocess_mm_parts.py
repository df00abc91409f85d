"""Rules PROCESSOR_PARTS and PROCESSOR_TOKENS (preprocess/processors.py) and the package a
skip names (``Preprocessing.packages``, read by checks/pipelines.py ``_require``)."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")

from hftestgen.checks.pipelines import _require  # noqa: E402
from hftestgen.preprocess.build import Preprocessing  # noqa: E402
from hftestgen.preprocess.processors import (  # noqa: E402
    declared_part_names,
    equip_tokenizer,
    tokenizer_special_tokens,
    toy_tokenizer,
)


def test_processor_parts_tokenizer_from_text_config():
    # PaliGemma maps no tokenizer; its text config is Gemma's
    cfg = transformers.PaliGemmaConfig()
    got = declared_part_names("PaliGemmaProcessor", cfg, {"image_processor": "X"})
    assert got == {"tokenizer": "GemmaTokenizer"}


def test_processor_parts_tokenizer_from_processor_home():
    # WavLM maps Wav2Vec2Processor but no tokenizer: the processor's home type (wav2vec2)
    cfg = transformers.WavLMConfig()
    got = declared_part_names("Wav2Vec2Processor", cfg, {"feature_extractor": "X"})
    assert got == {"tokenizer": "Wav2Vec2CTCTokenizer"}


def test_processor_parts_keeps_mapped_parts():
    cfg = transformers.PaliGemmaConfig()
    names = {"image_processor": "X", "tokenizer": "Y"}
    assert declared_part_names("PaliGemmaProcessor", cfg, names) == {}


def test_processor_tokens_added_with_vocab_override():
    cfg = transformers.LlamaConfig(vocab_size=40)
    tok = toy_tokenizer(cfg)
    wanted = tokenizer_special_tokens("JanusProcessor")
    assert "boi_token" in wanted
    assert getattr(tok, "boi_token", None) is None
    over = equip_tokenizer(tok, "JanusProcessor", 40)
    assert tok.boi_token == wanted["boi_token"]
    ids = [tok.convert_tokens_to_ids(t) for t in wanted.values()]
    assert min(ids) >= 40  # after the tiny vocabulary
    assert over == {"vocab_size": max(ids) + 1}
    # a second pass adds nothing
    assert equip_tokenizer(tok, "JanusProcessor", max(ids) + 1) == {}


def test_processor_tokens_vocab_lookups():
    cfg = transformers.LlamaConfig(vocab_size=40)
    tok = toy_tokenizer(cfg)
    over = equip_tokenizer(tok, "FuyuProcessor", 40)
    assert "|SPEAKER|" in tok.get_vocab()
    assert over.get("vocab_size", 0) > 40


@pytest.mark.parametrize(
    ("reason", "pkg", "skip"),
    [
        (
            "Wav2Vec2Processor needs a tokenizer and none was built",
            None,
            "unsupported: Wav2Vec2Processor needs a tokenizer and none was built",
        ),
        (
            "needs feature_extractor, skipped (feature_extractor: needs torchaudio (GraniteX))",
            "torchaudio",
            "missing package: torchaudio",
        ),
        ("needs librosa (X)", "librosa", "missing package: librosa"),
    ],
)
def test_a_skip_names_the_package_the_synthesis_recorded(reason, pkg, skip):
    prep = Preprocessing(
        "x",
        names={"processor": "P"},
        skipped={"processor": reason},
        packages={"processor": pkg} if pkg else {},
    )
    with pytest.raises(pytest.skip.Exception) as info:
        _require(prep, "processor")
    assert str(info.value) == skip


def test_a_processor_skipped_for_a_part_carries_the_parts_package(monkeypatch):
    from hftestgen.preprocess import PreprocessSkip, build, processors, vision_audio

    def no_audio(name, config):
        raise PreprocessSkip(f"needs torchaudio ({name})", package="torchaudio")

    monkeypatch.setattr(vision_audio, "synthesize_feature_extractor", no_audio)
    monkeypatch.setattr(processors, "processor_special_tokens", lambda name, config: {})
    monkeypatch.setattr(processors, "declared_part_names", lambda name, config, names: {})
    names = {"feature_extractor": "GraniteX", "processor": "GraniteP"}
    prep = build.synthesize("x", None, names)
    assert prep.packages == {"feature_extractor": "torchaudio", "processor": "torchaudio"}
    with pytest.raises(pytest.skip.Exception) as info:
        _require(prep, "processor")
    assert str(info.value) == "missing package: torchaudio"


def test_vocab_override_reaches_text_sub_config():
    from hftestgen.preprocess.processors import nested_vocab_override

    cfg = transformers.PaliGemmaConfig()
    got = nested_vocab_override(cfg, {"vocab_size": 7})
    assert got["vocab_size"] == 7 and got["text_config"]["vocab_size"] == 7
    assert nested_vocab_override(transformers.LlamaConfig(), {"vocab_size": 7})["vocab_size"] == 7
