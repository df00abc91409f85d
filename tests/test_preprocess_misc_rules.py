"""Rules MAX_LENGTH_FROM_POSITIONS (preprocess/build.py) and SHARED_VOCAB (preprocess/processors.py)."""

from types import SimpleNamespace

from hftestgen.preprocess.build import max_length_from_positions
from hftestgen.preprocess.processors import nested_vocab_override


class _Cfg(SimpleNamespace):
    def to_dict(self):
        return dict(vars(self))


def test_max_length_from_positions_sets_unset_limit():
    tok = SimpleNamespace(model_max_length=int(1e30))
    cfg = _Cfg(max_position_embeddings=32)
    cfg.get_text_config = lambda: cfg
    max_length_from_positions(tok, cfg)
    assert tok.model_max_length == 32


def test_max_length_from_positions_keeps_class_limit():
    tok = SimpleNamespace(model_max_length=512)
    cfg = _Cfg(n_positions=16)
    cfg.get_text_config = lambda: cfg
    max_length_from_positions(tok, cfg)
    assert tok.model_max_length == 512


def test_shared_vocab_reaches_encoder_text_config():
    # T5Gemma2-like: decoder is the text config, encoder embeds text through encoder.text_config
    decoder = _Cfg(vocab_size=99, pad_token_id=0)
    enc_text = _Cfg(vocab_size=99, pad_token_id=0)
    vision = _Cfg(hidden_size=8)
    encoder = _Cfg(text_config=enc_text, vision_config=vision)
    cfg = _Cfg(vocab_size=99, decoder=decoder, encoder=encoder)
    cfg.get_text_config = lambda decoder=False, **_: cfg.decoder
    out = nested_vocab_override(cfg, {"vocab_size": 100})
    assert out["decoder"]["vocab_size"] == 100
    assert out["encoder"] == {"text_config": {"pad_token_id": 0, "vocab_size": 100}}


def test_shared_vocab_leaves_other_vocabularies():
    text = _Cfg(vocab_size=99)
    codec = _Cfg(vocab_size=64)
    cfg = _Cfg(vocab_size=99, text_config=text, codec_config=codec)
    cfg.get_text_config = lambda decoder=False, **_: cfg.text_config
    out = nested_vocab_override(cfg, {"vocab_size": 100})
    assert out["text_config"]["vocab_size"] == 100
    assert "codec_config" not in out
