"""Text-to-audio pipeline rules (checks.pipeline_tasks_more): TTA_GENERATION, TTA_SPEAKER,
TTA_VOCODER, TTA_PROCESSOR, and the TaskSpec hooks they use."""

from types import SimpleNamespace

import torch

import hftestgen.checks.pipelines  # noqa: F401  (loads pipeline_tasks_more without a cycle)
from hftestgen.checks import pipeline_tasks_more as M
from hftestgen.checks import tolerances as tol
from hftestgen.checks.pipelines import TASKS


class _Gen:
    config = SimpleNamespace(speaker_embedding_dim=4)

    def can_generate(self):
        return True

    def generate(self, input_ids, speaker_embeddings=None, **kwargs):
        return input_ids

    def forward(self, input_ids):
        return input_ids


class _Fwd(_Gen):
    config = SimpleNamespace()

    def can_generate(self):
        return False


def test_tta_spec_has_model_hooks():
    spec = TASKS["text-to-audio"]
    assert spec.model_options is not None and spec.pipeline_kwargs is not None


def test_generating_model_gets_greedy_new_tokens():
    m = _Gen()
    opts = M._tta_model_options(None, m, m.config)
    assert opts["generate_kwargs"] == {"max_new_tokens": tol.NEW_TOKENS, "do_sample": False}


def test_forward_only_model_gets_no_generate_kwargs():
    m = _Fwd()
    assert M._tta_model_options(None, m, m.config) == {}


def test_speaker_embedding_seeded_and_sized():
    m = _Gen()
    a = M._tta_forward_params(m, m.config)["speaker_embeddings"]
    b = M._tta_forward_params(m, m.config)["speaker_embeddings"]
    assert a.shape == (1, 4) and torch.equal(a, b)


def test_no_vocoder_for_waveform_model_and_processor_passed():
    m = _Gen()
    prep = SimpleNamespace(processor=object())
    kw = M._tta_pipeline_kwargs(prep, m, m.config)
    assert "vocoder" not in kw and kw["processor"] is prep.processor


def test_vocoder_reads_num_mel_bins():
    from transformers import SpeechT5Config, SpeechT5ForTextToSpeech

    cfg = SpeechT5Config(
        vocab_size=20,
        hidden_size=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        num_mel_bins=8,
        speech_decoder_prenet_units=16,
        speech_decoder_postnet_units=16,
        speech_decoder_postnet_layers=1,
        speaker_embedding_dim=4,
    )
    voc = M._tta_vocoder(SpeechT5ForTextToSpeech(cfg))
    assert voc.config.model_in_dim == 8
    out = voc(torch.zeros(3, 8))
    assert out.ndim == 1 and out.numel() > 0


def test_output_audio_asked_of_a_generate_that_decodes_itself():
    # rule TTA_OUTPUT_AUDIO: CSM's generate returns codes unless output_audio=True
    class _Codec(_Gen):
        def generate(self, input_ids, output_audio=False, **kwargs):
            return input_ids

    assert M._tta_output_audio(_Codec()) == {"output_audio": True}
    assert M._tta_output_audio(_Gen()) == {}
    assert M._tta_output_audio(_Fwd()) == {}


def test_texts_open_with_a_speaker_tag():
    # rule TTA_SPEAKER_TAG: the pipeline leaves a text that opens with "[" as it is
    assert all(t.startswith(M.TTA_SPEAKER_TAG) for t in M._tta_inputs(None))
    assert TASKS["text-to-audio"].inputs is M._tta_inputs
