"""Synthesized processors and tiny models agree on image tokens per image (placeholders the
processor writes = image features the model scatters), for processors whose count comes from a
fixed architecture fact: Granite 4 Vision's fractional downsampling and CLS feature, DeepSeek-OCR2's
learned queries (144 per 12x12 grid), GOT-OCR2's fixed 256 placeholders; T5Gemma2's image and
boi ids kept apart; GOT-OCR2 chatless (plain-form pipeline inputs carry the placeholder)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")
transformers = pytest.importorskip("transformers")

from hftestgen.checks import pipelines as P  # noqa: E402
from hftestgen.preprocess.build import synthesize  # noqa: E402
from hftestgen.preprocess.processors import config_values, placeholder_for  # noqa: E402
from hftestgen.tiny import build  # noqa: E402


def _image(h: int, w: int):
    rng = np.random.RandomState(0)
    return Image.fromarray(rng.randint(0, 255, (h, w, 3), dtype=np.uint8))


def _forward_on_raw(model_type: str, class_name: str, img) -> int:
    """The tiny model of ``class_name`` on its synthesized processor's output for ``img`` and a
    text holding the image placeholder; the model's own check raises where the placeholder count
    and the image features differ. Returns the placeholder count."""
    b = build(model_type, class_name)
    prep = synthesize(model_type, b.config)
    proc = prep.processor
    assert proc is not None, prep.problem("processor")
    text = f"{placeholder_for(proc, 'image')} hello world"
    inputs = proc(images=[img], text=[text], return_tensors="pt")
    with torch.no_grad():
        b.model(**inputs)
    return int((inputs["input_ids"] == b.config.image_token_id).sum())


def test_downsample_rate_read_from_config():
    """CONFIG_PARAMS downsample_rate: Granite4VisionProcessor counts each tile's patch grid
    times Fraction(downsample_rate); the class default None counts the undownsampled grid."""
    cfg = transformers.Granite4VisionConfig(downsample_rate="2/4")
    assert config_values(transformers.Granite4VisionProcessor, cfg)["downsample_rate"] == "2/4"


def test_granite4_vision_placeholders_match_features():
    assert _forward_on_raw("granite4_vision", "Granite4VisionModel", _image(48, 40)) > 0


def test_deepseek_ocr2_tiles_match_learned_queries():
    """A 300x500 image is cut into local tiles (tile_size) besides the global view: every view
    must be a 12x12 grid, the 144 queries the tower answers with."""
    n = _forward_on_raw("deepseek_ocr2", "DeepseekOcr2Model", _image(300, 500))
    assert n > 2 * 144  # the global view and at least one tile


def test_got_ocr2_placeholders_match_features():
    assert _forward_on_raw("got_ocr2", "GotOcr2Model", _image(48, 40)) > 0


def test_t5gemma2_image_and_boi_ids_differ():
    enc = build("t5gemma2", "T5Gemma2Model").config.encoder
    ids = (enc.image_token_index, enc.boi_token_index, enc.eoi_token_index)
    assert len(set(ids)) == 3, ids


def test_chatless_processor_gets_no_chat_template():
    """CHATLESS: GOT-OCR2's processor takes a chat_template parameter but its checkpoints ship
    none and apply_chat_template's nested images fail it: no synthesized template."""
    b = build("got_ocr2", "GotOcr2Model")
    assert synthesize("got_ocr2", b.config).processor.chat_template is None


def test_plain_form_text_carries_the_placeholder():
    """PLAIN_PLACEHOLDER: plain-form inputs of a processor with an image placeholder start with
    it; one without keeps the bare text."""
    with_token = SimpleNamespace(chat_template=None, image_processor=object(), image_token="<x>")
    prep = SimpleNamespace(processor=with_token, feature_extractor=None)
    assert [x["text"] for x in P._itt_plain(prep)] == [f"<x> {t}" for t in P.TEXTS]
    bare = SimpleNamespace(chat_template=None, image_processor=object())
    prep = SimpleNamespace(processor=bare, feature_extractor=None)
    assert [x["text"] for x in P._itt_plain(prep)] == list(P.TEXTS)
