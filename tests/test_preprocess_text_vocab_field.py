"""Rule TEXT_VOCAB_FIELD (preprocess.tokenizers / processors.nested_vocab_override): a config
that declares ``text_vocab_size`` (CSM, whose ``vocab_size`` is its audio codebook) has its
tokenizer sized by it and a grown vocabulary pinned on it."""

from types import SimpleNamespace

from hftestgen.preprocess import processors, tokenizers


class _Csm(SimpleNamespace):
    """A config that is its own text config, with a codebook ``vocab_size``."""


def test_text_vocab_field_sizes_the_tokenizer():
    cfg = _Csm(vocab_size=99, text_vocab_size=120, pad_token_id=3)
    assert tokenizers.text_vocab_field(cfg) == "text_vocab_size"
    assert tokenizers._vocab_size(cfg) == 120
    plain = SimpleNamespace(vocab_size=99, pad_token_id=3)
    assert tokenizers.text_vocab_field(plain) == "vocab_size"
    assert tokenizers._vocab_size(plain) == 99


def test_grown_vocabulary_is_pinned_on_the_text_vocab_field(monkeypatch):
    # before the rule the pin went to vocab_size: CSM's codebook grew past the depth
    # decoder's tied codebook embedding (IndexError in CsmBackboneModelEmbeddings)
    cfg = _Csm(vocab_size=99, text_vocab_size=99, pad_token_id=3)
    monkeypatch.setattr(processors, "token_id_pins", lambda c: {})
    import hftestgen.configs as configs

    monkeypatch.setattr(configs, "text_config", lambda c: c)
    out = processors.nested_vocab_override(cfg, {"vocab_size": 100})
    assert out == {"text_vocab_size": 100}
    plain = SimpleNamespace(vocab_size=99, pad_token_id=3)
    assert processors.nested_vocab_override(plain, {"vocab_size": 100}) == {"vocab_size": 100}
