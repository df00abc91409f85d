"""Rules of the raw-input processor pass for audio / protein processors (checks.pipelines:
ONE_MODALITY_SHORT before the unfed rule, MAIN_INPUT_LIST, CODEBOOK_STREAMS; processor_calls:
text_input, EvollaProcessor's proteins; preprocess.processors: TEMPLATE_ON_TOKENIZER)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from _pytest.outcomes import Failed, Skipped  # noqa: E402

from hftestgen.checks import pipelines as P  # noqa: E402
from hftestgen.checks.case import Case  # noqa: E402
from hftestgen.checks.processor_calls import call_kwargs, reads_text  # noqa: E402

# ONE_MODALITY_SHORT before the unfed rule ------------------------------------------------------


class _AudioOnly(torch.nn.Module):
    main_input_name = "input_values"

    def forward(self, input_values=None, attention_mask=None):  # pragma: no cover
        return input_values


def _through(monkeypatch, preprocessing: dict, required: bool = True) -> None:
    case = Case("x", "x", "XConfig", {"base": ("_AudioOnly",)}, preprocessing=preprocessing)
    built = SimpleNamespace(model=_AudioOnly(), tasks=[], config=SimpleNamespace())
    monkeypatch.setattr(P, "_built_for", lambda case, cls, overrides: built)
    prep = SimpleNamespace(config_overrides={})
    ids = {"input_ids": torch.ones(1, 3, dtype=torch.long), "attention_mask": torch.ones(1, 3)}
    P._through_models(case, prep, ids, "tokenizer", required=required)


def test_a_tokenizer_beside_a_feature_extractor_is_short_not_a_mismatch(monkeypatch):
    # Data2VecAudio: CTC tokenizer + feature extractor, no processor; its classes read input_values
    with pytest.raises(Skipped, match="ONE_MODALITY_SHORT"):
        _through(monkeypatch, {"tokenizer": "T", "feature_extractor": "F"})


def test_a_processor_or_only_kind_that_feeds_no_class_still_fails(monkeypatch):
    with pytest.raises(Failed, match="takes none of"):
        _through(monkeypatch, {"tokenizer": "T", "feature_extractor": "F", "processor": "P"})
    with pytest.raises(Failed, match="takes none of"):
        _through(monkeypatch, {"tokenizer": "T"})


def test_a_second_kind_that_feeds_no_class_leaves_the_test_to_its_facts(monkeypatch):
    """MODEL_PASS_KINDS: beside the main kind, a kind's pass runs where it feeds a class; one
    that feeds none neither skips nor fails the kind's test (its facts were checked)."""
    assert (
        _through(monkeypatch, {"feature_extractor": "F", "tokenizer": "T"}, required=False) is None
    )
    case = Case("x", "x", "XConfig", {}, preprocessing={"feature_extractor": "F", "tokenizer": "T"})
    assert P._main_kind(case) == "feature_extractor"
    assert P._feeds_models(case, "tokenizer")
    with_proc = Case("x", "x", "XConfig", {}, preprocessing={"tokenizer": "T", "processor": "P"})
    assert not P._feeds_models(with_proc, "tokenizer") and P._main_kind(with_proc) == "processor"


# MAIN_INPUT_LIST -----------------------------------------------------------------------------


class _OneFormerish(torch.nn.Module):
    main_input_name = ["pixel_values", "task_inputs"]

    def forward(self, pixel_values=None, task_inputs=None, pixel_mask=None):  # pragma: no cover
        return pixel_values


def test_a_list_main_input_needs_every_name():
    model = _OneFormerish()
    names = {"pixel_values", "task_inputs", "pixel_mask"}
    assert P._kind_feeds(model, {"pixel_values": 1, "task_inputs": 1}, names)
    assert not P._kind_feeds(model, {"pixel_values": 1}, names)


# CODEBOOK_STREAMS ----------------------------------------------------------------------------


def test_decoder_start_one_token_per_codebook_stream():
    config = SimpleNamespace(
        is_encoder_decoder=True,  # fed text, yet codes: not shifted text ids
        decoder_start_token_id=None,
        pad_token_id=None,
        decoder=SimpleNamespace(num_codebooks=4, decoder_start_token_id=7),
    )
    feed = {"input_ids": torch.ones(2, 5, dtype=torch.long)}
    got = P._decoder_inputs(config, {"input_ids", "decoder_input_ids"}, feed)["decoder_input_ids"]
    assert got.shape == (8, 1) and bool((got == 7).all())
    plain = SimpleNamespace(decoder_start_token_id=3, pad_token_id=0)
    got = P._decoder_inputs(plain, {"input_ids", "decoder_input_ids"}, feed)["decoder_input_ids"]
    assert got.tolist() == [[3], [3]]


# text_input, EvollaProcessor -----------------------------------------------------------------


class MusicgenProcessor:
    audio_token = None

    def __call__(self, **kwargs):
        return kwargs


def test_a_text_prompt_processor_gets_the_text_with_its_audio():
    prep = SimpleNamespace(
        image_processor=None,
        feature_extractor=SimpleNamespace(sampling_rate=16000),
        tokenizer=object(),
        processor=None,
    )
    got = P._processor_call(MusicgenProcessor(), prep)
    assert got["text"] == [P.TEXTS[0]] and "audio" in got
    assert reads_text(MusicgenProcessor()) and not reads_text(object())


class EvollaProcessor:
    pass


def test_evolla_gets_a_protein_and_a_chat_not_text():
    got = call_kwargs(EvollaProcessor(), {"text": ["x"], "return_tensors": "pt"})
    assert "text" not in got
    (protein,) = got["proteins"]
    assert len(protein["aa_seq"]) == len(protein["foldseek"])
    assert got["messages_list"][0][0]["role"] == "user"


def test_evolla_tokenizer_gets_the_chat_template():
    from transformers import EvollaConfig

    from hftestgen.preprocess.processors import synthesize_processor, toy_tokenizer

    config = EvollaConfig()
    proc = synthesize_processor("EvollaProcessor", config, {"tokenizer": toy_tokenizer(config)})
    assert proc.tokenizer.chat_template
    out = proc(**call_kwargs(proc, {"text": ["x"], "return_tensors": "pt"}))
    assert {"protein_input_ids", "input_ids"} <= set(out)
