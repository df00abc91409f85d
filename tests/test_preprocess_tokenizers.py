"""Tiny tokenizers synthesized offline (hftestgen.preprocess.tokenizers)."""

from __future__ import annotations

import functools
import time
import warnings

import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from hftestgen.preprocess import PreprocessError  # noqa: E402
from hftestgen.preprocess import tokenizers as T  # noqa: E402

TEXTS = ("hello world", "Hello world, the test.", "a cat sat on the mat 42!")


@functools.cache
def _config(model_type: str):
    from hftestgen.registry import load_registry
    from hftestgen.tiny import engine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return engine.build(model_type, load_registry()[model_type].all_classes()[0]).config


CASES = {
    "bert": "BertTokenizer",
    "gpt2": "GPT2Tokenizer",
    "t5": "T5Tokenizer",
    "wav2vec2": "Wav2Vec2CTCTokenizer",
    "llava": "TokenizersBackend",
}


@pytest.mark.parametrize("model_type", sorted(CASES))
def test_tokenizer_fits_config_and_round_trips(model_type, tmp_path):
    from transformers import AutoTokenizer

    config = _config(model_type)
    tok, overrides = T.synthesize_tokenizer(CASES[model_type], config)
    assert type(tok).__name__ == CASES[model_type]
    assert overrides == {}
    vocab = T.layout_for(config).vocab_size
    assert T.max_id(tok) < vocab
    T.check_special_ids(tok, config)
    layout = T.layout_for(config)
    for role, i in layout.roles.items():
        assert tok.convert_tokens_to_ids(getattr(tok, f"{role}_token")) == i
    for text in TEXTS:
        ids = tok.encode(text)
        assert ids and max(ids) < vocab
        want, got = T.roundtrip(tok, text)
        assert want == got, (text, want, got)
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    for text in TEXTS:
        assert again.encode(text) == tok.encode(text)


def test_image_token_at_config_id():
    config = _config("llava")
    field = next(n for n in ("image_token_id", "image_token_index") if hasattr(config, n))
    i = getattr(config, field)
    tok, _ = T.synthesize_tokenizer("TokenizersBackend", config)
    assert tok.image_token == "<image>"
    assert tok.convert_tokens_to_ids("<image>") == i
    assert i in tok.encode("hello <image> world")
    named, _ = T.synthesize_tokenizer(
        "TokenizersBackend", config, extra_special_tokens={field: "<img>"}
    )
    assert named.convert_tokens_to_ids("<img>") == i


def test_special_id_check_fails_on_an_unpermuted_tokenizer():
    """A tokenizer whose special tokens sit where the class put them, not at the config's ids,
    fails the check: BERT's empty-then-trained layout puts [PAD] at 0 -> move it."""
    config = _config("bert")
    tok, _ = T.synthesize_tokenizer("BertTokenizer", config)
    config = type(config).from_dict({**config.to_dict(), "pad_token_id": 7})
    with pytest.raises(PreprocessError, match="pad_token"):
        T.check_special_ids(tok, config)
    ok, _ = T.synthesize_tokenizer("BertTokenizer", config)
    assert ok.pad_token_id == 7
    T.check_special_ids(ok, config)


def test_roles_sharing_an_id_share_a_token():
    config = _config("gpt2")
    config = type(config).from_dict({**config.to_dict(), "bos_token_id": 5, "eos_token_id": 5})
    tok, _ = T.synthesize_tokenizer("GPT2Tokenizer", config)
    assert tok.bos_token == tok.eos_token and tok.bos_token_id == 5


def test_fixed_vocabulary_returns_vocab_override():
    config = _config("bert")
    tok, overrides = T.synthesize_tokenizer("ByT5Tokenizer", config)
    assert overrides == {"vocab_size": T.max_id(tok) + 1}
    assert overrides["vocab_size"] > 99


def test_missing_package_skips():
    from hftestgen.preprocess import PreprocessSkip

    with pytest.raises(PreprocessSkip) as e:
        T.synthesize_tokenizer("RoFormerTokenizer", _config("bert"))
    assert e.value.package == "rjieba"


def test_fast_and_deterministic():
    config = _config("gpt2")
    a, _ = T.synthesize_tokenizer("GPT2Tokenizer", config)
    t = time.perf_counter()
    b, _ = T.synthesize_tokenizer("GPT2Tokenizer", config)
    assert time.perf_counter() - t < 0.1
    assert a.encode(TEXTS[1]) == b.encode(TEXTS[1])
    assert a.get_vocab() == b.get_vocab()


def test_class_table_entries_have_reasons():
    table = T.class_table()
    assert table and all(e.reason for e in table.values())


def test_normalize_follows_backend_normalizer():
    bert, _ = T.synthesize_tokenizer("BertTokenizer", _config("bert"))
    gpt2, _ = T.synthesize_tokenizer("GPT2Tokenizer", _config("gpt2"))
    assert T.normalize_for_roundtrip(bert, "Hello  World .") == "hello world."
    assert T.normalize_for_roundtrip(gpt2, "Hello  World .") == "Hello World."


DETERMINISM_SCRIPT = """
import hashlib, json, sys, warnings
warnings.filterwarnings("ignore")
from hftestgen.tiny.engine import build, _registry
from hftestgen.preprocess.build import synthesize
out = {}
for t in sys.argv[1:]:
    spec = _registry().get(t)
    cls = [c for names in spec.classes.values() for c in names][0]
    p = synthesize(t, build(t, cls).config)
    tok = p.tokenizer
    v = json.dumps(sorted(tok.get_vocab().items()))
    ids = tok("hello world, the quick brown fox")["input_ids"]
    out[t] = hashlib.sha256((v + json.dumps(ids)).encode()).hexdigest()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_synthesized_tokenizers_are_the_same_in_every_process():
    """WordPiece ids and Unigram pieces came from Rust hash maps (a new order per process) until
    WordPiece tokens were ordered by name and Unigram pieces trained by SentencePiece: the same
    type then got a different tokenizer in each pytest worker."""
    import os
    import subprocess
    import sys

    types = ["bert", "t5", "xlnet", "gpt2", "parakeet_tdt", "git", "clip", "openai-gpt"]
    runs = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT, *types],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(proc.stdout.strip().splitlines()[-1])
    assert runs[0] == runs[1] == runs[2]


def test_bpe_training_breaks_ties_by_the_pairs_text():
    """DETERMINISTIC_BPE: "ab" and "cd" are equally frequent; the first merge is (a, b) whatever
    order the words come in, and later symbols carry the continuing prefix / end suffix."""
    words = {"cd": 2, "ab": 2}
    assert T._bpe_train(words, 5)[1] == (("a", "b"),)
    assert T._bpe_train(dict(reversed(list(words.items()))), 5)[1] == (("a", "b"),)
    tokens, merges = T._bpe_train({"abc": 3}, 6, prefix="##")
    assert tokens[:3] == ("##b", "##c", "a") and merges[0] == ("##b", "##c")
    assert "##bc" in tokens
    tokens, _ = T._bpe_train({"ab": 1}, 3, suffix="</w>")
    assert tokens == ("a", "b</w>", "ab</w>")
