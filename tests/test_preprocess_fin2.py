"""Rules SPEC_FRAMES and the fusion truncation (preprocess/vision_audio.py): a CLAP feature
extractor sized to the tiny audio Swin."""

from types import SimpleNamespace

import pytest

transformers = pytest.importorskip("transformers")

from hftestgen.preprocess import vision_audio  # noqa: E402


def _tiny_clap(**audio):
    from transformers import ClapConfig

    kw = dict(spec_size=64, num_mel_bins=16, patch_size=4, patch_stride=[4, 4])
    kw.update(audio)
    return ClapConfig(audio_config=kw)


def test_clap_frames_fit_the_swin_input():
    fe = vision_audio.synthesize_feature_extractor("ClapFeatureExtractor", _tiny_clap())
    width = 64 * (64 // 16)  # spec_size * freq_ratio: what reshape_mel2img accepts
    frames = fe.nb_max_samples // fe.hop_length + 1
    assert frames <= width  # the class default: 10 s = 1001 frames
    assert fe.max_length_s == 2 and fe.nb_max_samples == 2 * fe.sampling_rate


def test_clap_features_run_through_the_tiny_encoder():
    import numpy as np
    import torch
    from transformers import ClapAudioModel

    config = _tiny_clap(
        hidden_size=32,
        patch_embeds_hidden_size=16,
        depths=[1, 1],
        num_attention_heads=[2, 2],
        window_size=4,
    )
    fe = vision_audio.synthesize_feature_extractor("ClapFeatureExtractor", config)
    wav = np.random.default_rng(0).standard_normal(fe.sampling_rate // 2).astype(np.float32)
    feats = fe(wav, sampling_rate=fe.sampling_rate, return_tensors="pt")
    assert feats["input_features"].shape[1] == 1  # one channel: no fusion crops
    torch.manual_seed(0)
    model = ClapAudioModel(config.audio_config).eval()
    with torch.no_grad():
        model(input_features=feats["input_features"])


def test_unfused_model_gets_rand_trunc_fused_keeps_fusion():
    assert vision_audio._fusion_truncation(_tiny_clap(), "fusion") == "rand_trunc"
    assert vision_audio._fusion_truncation(_tiny_clap(enable_fusion=True), "fusion") is None


def test_spec_frames_widens_the_hop_when_one_second_is_too_long():
    obj = SimpleNamespace(max_length_s=10, sampling_rate=48000, hop_length=480, nb_max_samples=0)
    vision_audio._spec_frames(obj, _tiny_clap(spec_size=16, num_mel_bins=16))  # width 16
    assert obj.max_length_s == 1
    assert obj.nb_max_samples // obj.hop_length + 1 <= 16
