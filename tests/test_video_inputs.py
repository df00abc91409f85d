"""Video inputs for the multimodal LMs whose forward takes ``pixel_values_videos``
(``hftestgen.tiny.inputs.vision.takes_video``): one video per sample next to the image, as
grid-flattened patches with ``video_grid_thw`` or as frames (B, F, C, H, W), behind as many
``video_token_id`` placeholders as the video's features fill; and the video reaches the
outputs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hftestgen.configs import find_attr  # noqa: E402
from hftestgen.tiny import build  # noqa: E402
from hftestgen.tiny.inputs import make_inputs  # noqa: E402

B = 2
VIDEO_KEY = "pixel_values_videos"

# (model type, class): grid-flattened video (Qwen2-VL; Qwen3-VL, which reads every temporal
# patch as a frame of its own; GLM-4V) and frame video (LLaVA-NeXT-Video, Video-LLaVA).
SAMPLE = [
    ("qwen2_vl", "Qwen2VLForConditionalGeneration"),
    ("qwen3_vl", "Qwen3VLModel"),
    ("glm4v", "Glm4vModel"),
    ("llava_next_video", "LlavaNextVideoForConditionalGeneration"),
    ("video_llava", "VideoLlavaModel"),
]


def _video_id(config) -> int:
    return find_attr(config, ["video_token_id", "video_token_index"], prefer=())


def _features_per_video(model, inputs) -> int:
    """Placeholder positions one video fills: what ``get_video_features`` returns for the
    synthesized videos (rows of the hidden size), per video, counted here independently of the
    calibration in ``make_inputs``."""
    args = {k: v for k, v in inputs.items() if k == VIDEO_KEY or k.startswith("video_")}
    with torch.no_grad():
        out = model.get_video_features(**args)
    feats = getattr(out, "pooler_output", None)
    if feats is None:
        feats = out if not hasattr(out, "last_hidden_state") else out.last_hidden_state
    if isinstance(feats, (list, tuple)):
        total = sum(f.numel() // f.shape[-1] for f in feats)
    else:
        total = feats.numel() // feats.shape[-1]
    assert total % B == 0
    return total // B


def _output(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        out = model(**inputs)
    t = getattr(out, "logits", None)
    return t if t is not None else out.last_hidden_state


@pytest.mark.parametrize("model_type, cls", SAMPLE)
def test_video_inputs_reach_the_model(model_type, cls):
    b = build(model_type, cls)
    inputs = make_inputs(b, batch_size=B, seed=0)
    assert VIDEO_KEY in inputs, f"{model_type}: no video input ({sorted(inputs)})"
    assert "pixel_values" in inputs  # the image stays: the forward takes both
    video = inputs[VIDEO_KEY]
    if "video_grid_thw" in inputs:
        grid = inputs["video_grid_thw"]
        assert grid.shape == (B, 3) and int(grid.prod(-1).sum()) == video.shape[0]
    else:
        assert video.dim() == 5 and video.shape[0] == B

    # as many placeholders per sample as one video's features fill
    per_sample = (inputs["input_ids"] == _video_id(b.config)).sum(-1)
    expected = _features_per_video(b.model, inputs)
    assert expected > 0
    assert per_sample.tolist() == [expected] * B
    if "mm_token_type_ids" in inputs:  # 2 marks video tokens (Qwen2-VL's mrope reads it)
        is_video = inputs["input_ids"] == _video_id(b.config)
        assert (inputs["mm_token_type_ids"][is_video] == 2).all()
        assert not (inputs["mm_token_type_ids"][~is_video] == 2).any()

    # the forward runs, and its outputs depend on the video
    first = _output(b.model, inputs)
    assert torch.isfinite(first).all()
    other = dict(inputs)
    other[VIDEO_KEY] = video + torch.randn(video.shape, generator=torch.Generator().manual_seed(1))
    second = _output(b.model, other)
    assert (first - second).abs().max() > 1e-4, f"{model_type}: outputs ignore the video"
    assert torch.equal(_output(b.model, inputs), first)  # and only on it (seeded, eval mode)


def test_video_inputs_knob_leaves_video_out():
    """``video_inputs = false`` (a type whose forward cannot take the general video): no video
    tensor, no video placeholders, images and text as before."""
    b = build("qwen2_vl", "Qwen2VLModel", data={"inputs": {"video_inputs": False}})
    inputs = make_inputs(b, batch_size=B, seed=0)
    assert VIDEO_KEY not in inputs and "video_grid_thw" not in inputs
    assert not (inputs["input_ids"] == _video_id(b.config)).any()
    assert "pixel_values" in inputs
    with torch.no_grad():
        b.model(**inputs)


def test_placeholder_errors_are_read_per_kind():
    """Calibration reads a placeholder-mismatch error only for the kind it calibrates: an image
    mismatch met while counting video tokens says nothing about the video count."""
    from hftestgen.tiny.inputs import _error_total
    from hftestgen.tiny.inputs.context import Ctx

    b = build("qwen2_vl", "Qwen2VLModel")
    c = Ctx(b, B, 0)
    img = "Image features and image tokens do not match, tokens: 2, features: 16"
    vid = "Video features and video tokens do not match, tokens: 2, features: 8"
    assert _error_total(c, "image", img) == 16
    assert _error_total(c, "video", img) is None
    assert _error_total(c, "video", vid) == 8
    # 4.57's Qwen3-VL: "match: tokens: 2, features 8"
    assert _error_total(c, "image", img.replace("match,", "match:").replace(": 16", " 16")) == 16
    vid_id = _video_id(b.config)
    msg = f"Got 12 feature vectors for 2 placeholder tokens (id {vid_id})"
    assert _error_total(c, "video", msg) == 12
    assert _error_total(c, "image", msg) is None


def _case(model_type: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "generated" / f"test_hf_{model_type}.py"
    spec = importlib.util.spec_from_file_location(f"_video_case_{model_type}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.CASE


@pytest.mark.parametrize(
    "model_type, cls",
    [
        ("qwen2_vl", "Qwen2VLForConditionalGeneration"),
        ("llava_next_video", "LlavaNextVideoForConditionalGeneration"),
    ],
)
def test_generate_check_sees_a_video_lost_in_generate(model_type, cls, monkeypatch):
    """With video in the inputs, the generate check catches generate() losing the video (its
    pre-encoding blanks ``pixel_values_videos``): step 0 no longer matches the forward. Without
    video inputs it had nothing to lose, and passed."""
    from transformers.generation import utils as gen

    from hftestgen import checks

    case = _case(model_type)
    checks.generate(case, cls)  # sound: passes
    orig = gen.GenerationMixin._prepare_multimodal_encoder_kwargs_for_generation

    def blank_video(self, model_kwargs):
        if VIDEO_KEY in model_kwargs:
            model_kwargs[VIDEO_KEY] = torch.zeros_like(model_kwargs[VIDEO_KEY])
        return orig(self, model_kwargs)

    monkeypatch.setattr(
        gen.GenerationMixin, "_prepare_multimodal_encoder_kwargs_for_generation", blank_video
    )
    with pytest.raises(pytest.fail.Exception, match="differ from a plain forward"):
        checks.generate(case, cls)


def test_video_placeholder_shared_with_images_is_marked_by_position():
    """Glm5Next marks video with the image token inside video start/end tokens (record knobs
    ``video_placeholder``, ``video_prefix_tokens``, ``video_suffix_tokens``): one span per
    sample holding as many image-token ids as the video's features, and ``mm_token_type_ids`` 2
    on that run, 1 on the image run, though both hold the same id."""
    b = build("glm5_next", "Glm5NextForConditionalGeneration")
    inputs = make_inputs(b, batch_size=B, seed=0)
    assert VIDEO_KEY in inputs
    cfg, ids, types = b.config, inputs["input_ids"], inputs["mm_token_type_ids"]
    shared = ids == cfg.image_token_id
    starts = (ids == cfg.video_start_token_id).cumsum(-1)
    in_span = starts > (ids == cfg.video_end_token_id).cumsum(-1)
    assert (starts[:, -1] == 1).all()
    is_video = shared & in_span
    assert is_video.sum(-1).tolist() == [_features_per_video(b.model.model, inputs)] * B
    assert ((types == 2) == is_video).all()
    assert ((types == 1) == (shared & ~in_span)).all()
    first = _output(b.model, inputs)
    other = dict(inputs, **{VIDEO_KEY: torch.zeros_like(inputs[VIDEO_KEY])})
    assert (first - _output(b.model, other)).abs().max() > 1e-4
