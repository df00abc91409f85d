"""Audio rules: frame count through the constructor, seeded extractor noise, ASR decoding."""

import tempfile

import numpy as np
import pytest

from hftestgen.checks import pipelines
from hftestgen.preprocess import vision_audio


def _wave(seconds=0.5, rate=16000):
    return (0.1 * np.random.default_rng(0).standard_normal(int(seconds * rate))).astype(np.float32)


class _Cfg:
    max_source_positions = 30
    num_mel_bins = 80


def test_frames_survive_save_and_load():
    from transformers import AutoFeatureExtractor

    fe = vision_audio.synthesize_feature_extractor("WhisperFeatureExtractor", _Cfg())
    with tempfile.TemporaryDirectory() as d:
        fe.save_pretrained(d)
        loaded = AutoFeatureExtractor.from_pretrained(d, local_files_only=True)
    for obj in (fe, loaded):
        feats = obj(_wave(), sampling_rate=16000, return_tensors="np")["input_features"]
        assert feats.shape[-1] == 60 == obj.nb_max_frames


def test_without_the_constructor_rule_the_frames_are_lost(monkeypatch):
    from transformers import AutoFeatureExtractor

    monkeypatch.setattr(vision_audio, "frames_by_constructor", lambda d, v, p: dict(v))
    fe = vision_audio.synthesize_feature_extractor("WhisperFeatureExtractor", _Cfg())
    assert fe.nb_max_frames == 60
    with tempfile.TemporaryDirectory() as d:
        fe.save_pretrained(d)
        loaded = AutoFeatureExtractor.from_pretrained(d, local_files_only=True)
    assert loaded.nb_max_frames == 3000  # the old behaviour this rule fixes


@pytest.mark.parametrize("frames,rate", [(60, 16000), (50, 16000), (7, 22050)])
def test_frames_by_constructor_values(frames, rate):
    from transformers import WhisperFeatureExtractor

    default = WhisperFeatureExtractor(sampling_rate=rate)
    params = vision_audio._init_params(WhisperFeatureExtractor)
    v = vision_audio.frames_by_constructor(default, {"nb_max_frames": frames}, params)
    assert (
        WhisperFeatureExtractor(
            sampling_rate=rate, **{k: v[k] for k in ("chunk_length", "hop_length")}
        ).nb_max_frames
        == frames
    )
    assert v["n_fft"] >= v["hop_length"] if "n_fft" in v else default.n_fft >= v["hop_length"]


def test_univnet_noise_is_seeded_per_call():
    from transformers import UnivNetFeatureExtractor

    fe = UnivNetFeatureExtractor()
    a = fe(
        _wave(0.2, fe.sampling_rate),
        sampling_rate=fe.sampling_rate,
        **pipelines._seeded_generator(fe),
    )
    b = fe(
        _wave(0.2, fe.sampling_rate),
        sampling_rate=fe.sampling_rate,
        **pipelines._seeded_generator(fe),
    )
    assert np.array_equal(a["noise_sequence"][0], b["noise_sequence"][0])
    c = fe(_wave(0.2, fe.sampling_rate), sampling_rate=fe.sampling_rate)  # old: unseeded
    d = fe(_wave(0.2, fe.sampling_rate), sampling_rate=fe.sampling_rate)
    assert not np.array_equal(c["noise_sequence"][0], d["noise_sequence"][0])


def test_generated_tokens_decode_as_emitted():
    from transformers import Wav2Vec2CTCTokenizer

    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, "a": 3, "l": 4}
    with tempfile.TemporaryDirectory() as d:
        import json
        import os

        path = os.path.join(d, "vocab.json")
        with open(path, "w") as f:
            json.dump(vocab, f)
        tok = Wav2Vec2CTCTokenizer(path)
    ids = [3, 4, 4]
    assert tok.decode(ids) == "al"  # CTC grouping: the old by-hand decode
    assert tok.decode(ids, **pipelines._as_emitted(tok)) == "all"


def test_asr_generation_is_greedy_on_both_sides():
    assert pipelines.ASR_GENERATION["num_beams"] == 1
    opts = pipelines.TASKS["automatic-speech-recognition"].options(None, None)
    assert opts["generate_kwargs"] == pipelines.ASR_GENERATION
