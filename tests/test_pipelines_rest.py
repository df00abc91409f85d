"""Rules of the preprocessing / pipeline checks for the remaining families
(hftestgen.checks.pipelines; tokenizer and image-processor synthesis data they rely on)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from hftestgen.checks import pipelines as P  # noqa: E402
from hftestgen.checks.case import Case  # noqa: E402
from hftestgen.registry.records import Known  # noqa: E402


def _case(known=()) -> Case:
    return Case("x", "x", "XConfig", {"base": ("_Text",)}, known=tuple(known))


class _Text(torch.nn.Module):
    main_input_name = "pixel_values"

    def forward(self, pixel_values=None, input_ids=None, attention_mask=None):  # pragma: no cover
        return pixel_values


class _Perceiverish(torch.nn.Module):
    main_input_name = "inputs"

    def forward(self, inputs=None, attention_mask=None, input_ids=None):  # pragma: no cover
        return inputs


# ONE_MODALITY_SHORT ---------------------------------------------------------------------------


def test_a_kind_that_does_not_make_the_main_input_does_not_feed():
    model = _Text()
    names = {"pixel_values", "input_ids", "attention_mask"}
    assert not P._kind_feeds(model, {"input_ids": 1, "attention_mask": 1}, names)
    assert P._kind_feeds(model, {"pixel_values": 1}, names)


def test_a_modality_free_main_input_does_not_count():
    names = {"inputs", "input_ids", "attention_mask"}
    assert P._kind_feeds(_Perceiverish(), {"input_ids": 1}, names)


def test_record_exempts_named_classes_only():
    entry = Known(("preprocessing",), "not-applicable", "needs question tokens", ("_Text",))
    assert P._not_fed_by_record(_case([entry]), "_Text")
    assert not P._not_fed_by_record(_case([entry]), "Other")
    # an entry for every class is a test-level entry, not this rule's
    every = Known(("preprocessing",), "not-applicable", "whole check")
    assert not P._not_fed_by_record(_case([every]), "_Text")
    # an entry for one kind exempts the class from that kind's pass only
    one = Known(
        ("preprocessing:image_processor",), "not-applicable", "reads it with text", ("_Text",)
    )
    assert P._not_fed_by_record(_case([one]), "_Text", "image_processor") is one
    assert P._not_fed_by_record(_case([one]), "_Text", "tokenizer") is None


# PAIRED_IMAGES, VIDEO_FRAMES, BARE_PIXELS -----------------------------------------------------


class _Matcher:
    def post_process_keypoint_matching(self):  # pragma: no cover - marker only
        return None


class _VideoIP:
    def preprocess(self, videos, **kwargs):  # pragma: no cover - signature only
        return videos


def test_keypoint_matcher_gets_a_pair():
    img = P.image(0, (40, 48))
    one = P._one_input(_Matcher(), img)
    assert len(one) == 1 and len(one[0]) == 2
    assert P._one_input(object(), img) == [img]


def test_video_image_processor_gets_num_frames():
    img = P.image(0, (40, 48))
    one = P._one_input(_VideoIP(), img, SimpleNamespace(num_frames=4))
    assert len(one) == 1 and len(one[0]) == 4


def test_bare_pixel_tensor_becomes_pixel_values():
    t = torch.zeros(1, 3, 4, 4)
    assert P._tensors(P._as_features(t)) == {"pixel_values": t}


# BATCH_DEPENDENT ------------------------------------------------------------------------------


def test_batch_dependent_from_the_batch_independence_record():
    built = SimpleNamespace(model=_Text())
    assert P._batch_dependent(_case(), built) is None
    entry = Known(("batch_independence",), "not-applicable", "random mask per batch")
    assert "random mask per batch" in P._batch_dependent(_case([entry]), built)
    bug = Known(("batch_independence",), "upstream-bug", "a bug", match=None)
    assert P._batch_dependent(_case([bug]), built) is None


# SIGLIP_BRANCH --------------------------------------------------------------------------------


def _zs(scores):
    return [{"label": lab, "score": s} for lab, s in zip(["fox", "world"], scores, strict=True)]


def test_sigmoid_scores_need_not_sum_to_one():
    result = _zs([0.6, 0.3])
    assert P._zs_image_structure(result, SimpleNamespace(model_type="siglip"), None, None) == []
    assert P._zs_image_structure(result, SimpleNamespace(model_type="clip"), None, None)


def test_siglip_by_hand_pads_to_max_length_and_uses_sigmoid():
    seen = {}

    def tok(texts, **kw):
        seen.update(kw)
        return {"input_ids": torch.ones(len(texts), 3, dtype=torch.long)}

    def ip(images, **kw):
        return {"pixel_values": torch.zeros(1, 3, 4, 4)}

    class Model(torch.nn.Module):
        def forward(self, input_ids=None, pixel_values=None):
            return SimpleNamespace(logits_per_image=torch.tensor([[0.0, 1.0]]))

    prep = SimpleNamespace(tokenizer=tok, image_processor=ip, processor=None)
    got = P._zs_image_manual(Model(), prep, None, SimpleNamespace(model_type="siglip2"))
    assert seen["padding"] == "max_length" and seen["max_length"] == 64
    assert {r["label"]: round(r["score"], 4) for r in got} == {"fox": 0.5, "world": 0.7311}


# CALIBRATED_IMAGE -----------------------------------------------------------------------------


def test_preprocessing_is_sized_to_the_probed_image():
    config = transformers.ViTConfig(image_size=32)
    built = SimpleNamespace(config=config, _calib={"variant": {"image_size": 64}})
    probed = P._config_as_probed(built)
    assert probed.image_size == 64 and config.image_size == 32
    built = SimpleNamespace(config=config, _calib={"variant": {}})
    assert P._config_as_probed(built) is config


# missing package at call time -----------------------------------------------------------------


def test_missing_package_at_call_time_is_a_named_skip(monkeypatch):
    class OcrIP:
        def __call__(self, *a, **kw):
            raise ImportError(
                "XImageProcessor requires the PyTesseract library but it was not found in your "
                "environment. You can install it with pip: `pip install pytesseract`."
            )

    prep = SimpleNamespace(image_processor=OcrIP(), skipped={}, errors={})
    monkeypatch.setattr(P, "_prep", lambda case: (prep, SimpleNamespace()))
    case = Case("x", "x", "XConfig", {"base": ("M",)}, preprocessing={"image_processor": "OcrIP"})
    with pytest.raises(pytest.skip.Exception, match="missing package"):
        P.preprocessing(case, "image_processor")


# synthesis data -------------------------------------------------------------------------------


def test_m2m100_language_codes_are_special_and_counted():
    from hftestgen.preprocess.tokenizers import synthesize_tokenizer

    config = transformers.M2M100Config(
        vocab_size=99, bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2
    )
    tok, overrides = synthesize_tokenizer("M2M100Tokenizer", config)
    ids = tok.encode("hello world")
    assert tok.decode(ids, skip_special_tokens=True) == "hello world"
    assert overrides.get("vocab_size", 0) > max(ids)


def test_clvp_tokenizer_is_written_from_files():
    from hftestgen.preprocess.tokenizers import synthesize_tokenizer

    config = transformers.ClvpConfig()
    config.text_config.vocab_size = 99
    config.text_config.bos_token_id, config.text_config.eos_token_id = 98, 0
    tok, _ = synthesize_tokenizer("ClvpTokenizer", config)
    assert type(tok).__name__ == "ClvpTokenizer"
    text = "hello world, the quick brown fox"
    assert tok.decode(tok.encode(text), skip_special_tokens=True) == text


def test_eomt_processor_pads_to_the_square_image():
    from hftestgen.preprocess.vision_audio import synthesize

    config = transformers.EomtConfig(image_size=32, patch_size=4)
    ip = synthesize("EomtImageProcessorPil", config)
    out = ip(images=[P.image(0, (40, 48))], return_tensors="pt")
    assert tuple(out["pixel_values"].shape[-2:]) == (32, 32)


# DETECTION_PAIRING ----------------------------------------------------------------------------


def _det(score, box):
    return {
        "label": "LABEL_0",
        "score": score,
        "box": dict(zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True)),
    }


def test_near_tied_detections_are_paired_by_box():
    # the same two detections; A's score moves by 2e-8 across a 4-decimal rounding boundary
    want = [_det(0.51235001, (0, 0, 10, 10)), _det(0.51234, (20, 20, 30, 30))]
    got = [_det(0.51234999, (0, 0, 10, 10)), _det(0.51234, (20, 20, 30, 30))]
    cmp = P.Comparison("pipeline")
    P._compare_detections(cmp, "input 0", got, want, P.tol.PIPELINE_BATCH, None)
    assert not cmp.bad, cmp.bad


def test_a_moved_box_is_still_caught():
    want = [_det(0.9, (0, 0, 10, 10)), _det(0.5, (20, 20, 30, 30))]
    got = [_det(0.9, (0, 0, 10, 10)), _det(0.5, (24, 20, 30, 30))]
    cmp = P.Comparison("pipeline")
    P._compare_detections(cmp, "input 0", got, want, P.tol.PIPELINE_BATCH, None)
    assert cmp.bad
