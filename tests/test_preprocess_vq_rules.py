"""Rules of the shapes round (VQ image tokenizers, frame size fields, image-text-to-text inputs
that hold their image, decoder prompts): each test fails without its rule."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("transformers")

from hftestgen.checks import pipelines  # noqa: E402
from hftestgen.preprocess import vision_audio  # noqa: E402


def test_vq_pixel_unit_bounds_dynamic_resolution():
    """VQ_PIXEL_UNIT: a VQ-VAE config (channel_multiplier, no patch size) bounds min / max pixels
    by its downsample factor 2 ** (levels - 1); before, the checkpoint bounds stayed."""
    from transformers import Emu3Config

    config = Emu3Config(vq_config={"channel_multiplier": [1, 2, 2, 4]})
    assert vision_audio._vq_pixel_unit(config) == 8
    assert vision_audio._pixels_bound(1)(config, 512 * 512) == 8**2
    assert vision_audio._pixels_bound(4)(config, 1024 * 1024) == 32**2


def test_emu3_image_processor_gives_few_tokens():
    """Emu3ImageProcessor sized by the rule: a 40x48 image is at most 32x32 px (16 VQ tokens),
    a multiple of the VQ factor; before, it was resized up to 512x512 px or more."""
    from transformers import Emu3Config

    config = Emu3Config(vq_config={"channel_multiplier": [1, 2, 2, 4]})
    ip = vision_audio.synthesize_image_processor("Emu3ImageProcessor", config)
    img = Image.new("RGB", (40, 48))
    pv = ip(images=[img], return_tensors="pt")["pixel_values"]
    h, w = pv.shape[-2:]
    assert h * w <= 32 * 32 and h % 8 == 0 and w % 8 == 0


def test_no_vq_unit_without_channel_multiplier():
    assert vision_audio._vq_pixel_unit(SimpleNamespace(hidden_size=32)) is None


def test_max_img_size_sizes_the_frames():
    """Rule "max_img_size is the frame size" (TVP): the size / crop / pad rules read
    max_img_size where the config has no image_size; before, the 32 px any-size default."""
    from transformers import TvpConfig

    config = TvpConfig(max_img_size=64)
    assert vision_audio._image_size(config, {"longest_edge": 448}) == {"longest_edge": 64}
    assert vision_audio._pad_size(config, {"height": 448, "width": 448}) == {
        "height": 64,
        "width": 64,
    }


def test_image_size_wins_over_max_img_size():
    config = SimpleNamespace(image_size=24, max_img_size=64)
    assert vision_audio._image_size(config, {"height": 1, "width": 1}) == {
        "height": 24,
        "width": 24,
    }


def test_glm_image_processor_one_frame_per_patch():
    """GLM-Image's tower embeds 2-D patches: the tiny processor's patches carry C * p * p
    features (temporal_patch_size 1, CLASS_VALUES); the class default doubled them."""
    from transformers import GlmImageConfig

    config = GlmImageConfig(vision_config={"patch_size": 4, "image_size": 32})
    ip = vision_audio.synthesize_image_processor("GlmImageImageProcessorPil", config)
    out = ip(images=[Image.new("RGB", (40, 48))], return_tensors="pt")
    assert out["pixel_values"].shape[-1] == 3 * 4 * 4


def _chat(img, text):
    return [
        {
            "role": "user",
            "content": [{"type": "image", "image": img}, {"type": "text", "text": text}],
        }
    ]


class _SizeIP:
    """An image processor whose pixel_values keep the image's size (aspect-keeping)."""

    def __call__(self, images, return_tensors=None):
        w, h = images.size
        return {"pixel_values": torch.zeros(1, 3, h, w)}


def test_stackable_batch_for_chats():
    """Unstackable image batches, chats: two chats whose images give different pixel shapes are
    batched as the first chat and the second chat's text with an image of the first's size;
    before, chats were never checked (the batch failed in the pipeline's collate)."""
    prep = SimpleNamespace(image_processor=_SizeIP())
    xs = [_chat(Image.new("RGB", (40, 48)), "a"), _chat(Image.new("RGB", (56, 44)), "b")]
    calls = []
    same, singles = pipelines._stackable_batch(
        prep, xs, ["one", "two"], lambda x: calls.append(x) or "again"
    )
    assert same[0] is xs[0]
    assert pipelines._input_image(same[1]).size == (40, 48)
    assert same[1][0]["content"][1] == {"type": "text", "text": "b"}
    assert pipelines._input_image(xs[1]).size == (56, 44)  # the original is not changed
    assert singles == ["one", "again"] and calls == [same[1]]


def test_stackable_batch_for_plain_dicts():
    prep = SimpleNamespace(image_processor=_SizeIP())
    xs = [{"text": "a", "images": Image.new("RGB", (40, 48))}]
    xs.append({"text": "b", "images": Image.new("RGB", (56, 44))})
    same, _ = pipelines._stackable_batch(prep, xs, ["one", "two"], lambda x: "again")
    assert same[1]["text"] == "b" and same[1]["images"].size == (40, 48)


def test_stackable_batch_leaves_equal_shapes():
    prep = SimpleNamespace(image_processor=_SizeIP())
    xs = [_chat(Image.new("RGB", (40, 48)), "a"), _chat(Image.new("RGB", (40, 48)), "b")]
    same, singles = pipelines._stackable_batch(prep, xs, ["one", "two"], lambda x: "again")
    assert same is xs and singles == ["one", "two"]


def test_prompt_ids_of_a_decoder_prompt():
    """DECODER_PROMPT: the prompt is input_ids, else decoder_input_ids (Pix2Struct); before, a
    KeyError on 'input_ids'."""
    dec = torch.tensor([[5, 6]])
    assert pipelines._generation_prompt({"flattened_patches": 0, "decoder_input_ids": dec}) is dec
    ids = torch.tensor([[1]])
    assert pipelines._generation_prompt({"input_ids": ids, "decoder_input_ids": dec}) is ids


class _PackedIP:
    """Packed patches (Qwen2-VL): (patches, features), the count follows the image."""

    def __call__(self, images, return_tensors=None):
        w, h = images.size
        return {"pixel_values": torch.zeros(w * h // 16, 12)}


def test_stackable_batch_keeps_packed_patches():
    prep = SimpleNamespace(image_processor=_PackedIP())
    xs = [_chat(Image.new("RGB", (40, 48)), "a"), _chat(Image.new("RGB", (56, 44)), "b")]
    same, singles = pipelines._stackable_batch(prep, xs, ["one", "two"], lambda x: "again")
    assert same is xs and singles == ["one", "two"]
