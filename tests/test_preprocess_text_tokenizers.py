"""Tokenizer recipes of the text area (hftestgen.preprocess.tokenizers): Pegasus' empty
constructor, subword-nmt BPE files (CTRL, BlenderbotSmall), RoCBert's side tables, and table
package skips named as missing packages."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from hftestgen.preprocess import PreprocessSkip  # noqa: E402
from hftestgen.preprocess import tokenizers as toks  # noqa: E402

TEXTS = ("hello world, the quick brown fox", "a small model reads this")


def _config(name: str, **kw):
    import transformers

    return getattr(transformers, name)(vocab_size=99, **kw)


@pytest.mark.parametrize(
    ("cls", "config", "kw"),
    [
        ("PegasusTokenizer", "PegasusConfig", {"pad_token_id": 0, "eos_token_id": 1}),
        ("CTRLTokenizer", "CTRLConfig", {}),
        ("BlenderbotSmallTokenizer", "BlenderbotSmallConfig", {}),
        ("RoCBertTokenizer", "RoCBertConfig", {}),
        ("Speech2TextTokenizer", "Speech2TextConfig", {}),
        ("MarianTokenizer", "MarianConfig", {"pad_token_id": 98, "decoder_start_token_id": 98}),
    ],
)
def test_text_tokenizer_round_trips(cls, config, kw):
    tok, overrides = toks.synthesize_tokenizer(cls, _config(config, **kw))
    assert type(tok).__name__ == cls
    assert overrides == {}
    for text in TEXTS:
        ids = tok(text)["input_ids"]
        assert max(ids) < 99
        assert tok.unk_token_id not in ids, tok.convert_ids_to_tokens(ids)
        want, back = toks.roundtrip(tok, text)
        assert back == want


def test_roc_bert_side_tables_hold_the_unknown_token():
    tok, _ = toks.synthesize_tokenizer("RoCBertTokenizer", _config("RoCBertConfig"))
    assert tok.word_shape == {tok.unk_token: 0}
    assert tok.word_pronunciation == {tok.unk_token: 0}
    enc = tok(TEXTS[0])
    assert set(enc["input_shape_ids"]) == {0}


def test_bpe_at_pieces_mark_continuation():
    tok, _ = toks.synthesize_tokenizer("CTRLTokenizer", _config("CTRLConfig"))
    for word in ("hello", "world"):
        pieces = tok.tokenize(word)
        assert "".join(p.removesuffix("@@") for p in pieces) == word
        assert not pieces[-1].endswith("@@")
        assert all(p.endswith("@@") for p in pieces[:-1])


@pytest.mark.parametrize(
    ("cls", "package"), [("FlaubertTokenizer", "sacremoses"), ("CpmAntTokenizer", "jieba")]
)
def test_table_package_skip_names_the_package(cls, package):
    with pytest.raises(PreprocessSkip) as e:
        toks.synthesize_tokenizer(cls, _config("BertConfig"))
    assert e.value.package == package
    # the checks' missing-package skip names it, from the synthesis's data
    from hftestgen.checks.pipelines import _require
    from hftestgen.preprocess.build import synthesize

    prep = synthesize("x", _config("BertConfig"), {"tokenizer": cls})
    assert prep.packages == {"tokenizer": package}
    with pytest.raises(pytest.skip.Exception) as skip:
        _require(prep, "tokenizer")
    assert str(skip.value) == f"missing package: {package}"


def test_a_data_file_is_not_taken_for_a_package():
    entry = toks.entry_for("GPTNeoXJapaneseTokenizer")
    assert "needs" not in toks._skip_reason("GPTNeoXJapaneseTokenizer", entry)


def test_generic_tokenizer_of_an_encoder_decoder_config_ends_with_eos():
    """ENCODER_DECODER_PIPELINE_RULE: UMT5's sequence-classification head pools at </s>."""
    import transformers

    config = transformers.UMT5Config(vocab_size=99, pad_token_id=0, eos_token_id=1)
    tok, _ = toks.synthesize_tokenizer("TokenizersBackend", config)
    for text in TEXTS:
        assert tok(text)["input_ids"][-1] == 1
        want, back = toks.roundtrip(tok, text)
        assert back == want
    decoder_only = transformers.LlamaConfig(vocab_size=99, eos_token_id=2)
    tok, _ = toks.synthesize_tokenizer("TokenizersBackend", decoder_only)
    assert type(tok.backend_tokenizer.pre_tokenizer).__name__ == "ByteLevel"


def test_siglip_round_trip_expects_the_punctuation_dropped():
    import transformers

    config = transformers.SiglipTextConfig(vocab_size=99, pad_token_id=1, eos_token_id=1)
    tok, _ = toks.synthesize_tokenizer("SiglipTokenizer", config)
    want, back = toks.roundtrip(tok, "hello world, the quick brown fox")
    assert "," not in want
    assert back == want


def test_wordpiece_synthesis_is_the_same_in_every_process():
    """Rule CANONICAL_ORDER: the WordPiece trainer numbers tokens in hash-map order; without the
    rule the same text got different ids in each new process (git's text-generation check then
    depended on which tests ran first)."""
    import subprocess
    import sys

    code = (
        "import transformers\n"
        "from hftestgen.preprocess import tokenizers as toks\n"
        "t, _ = toks.synthesize_tokenizer('BertTokenizer', transformers.BertConfig(vocab_size=99))\n"
        "print(sorted(t.get_vocab().items()))\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(3)
    }
    assert len(outs) == 1


def test_an_installed_table_package_is_no_missing_package(monkeypatch):
    """With the package installed, the class still has no recipe: an unsupported skip that says
    so, never "missing package" for a package that is there."""
    monkeypatch.setattr(toks, "_importable", lambda name: True)
    with pytest.raises(PreprocessSkip) as e:
        toks.synthesize_tokenizer("FlaubertTokenizer", _config("BertConfig"))
    assert e.value.package is None
    assert "sacremoses is installed" in str(e.value)
