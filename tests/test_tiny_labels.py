"""Label rules per task head (``hftestgen.tiny.inputs.labels``): depth maps, per-frame audio
classes, DETR-style instance targets with masks, universal-segmentation mask/class lists,
document-QA spans, question spans, named pretraining targets, pose heatmaps and labels over an
integer main input. Each rule is checked on a real tiny model: the labels have the shape the
head's loss reads, and one training forward/backward gives a finite scalar loss. Before these
rules the heads got no labels at all (``train_step`` skipped as not-covered)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers import PretrainedConfig  # noqa: E402

from hftestgen.registry.records import load_records  # noqa: E402
from hftestgen.tiny import build  # noqa: E402
from hftestgen.tiny.engine import Built  # noqa: E402
from hftestgen.tiny.inputs import make_inputs  # noqa: E402

B = 2


def _train(b: Built, inputs: dict):
    """One seeded training forward/backward: the loss, checked finite and scalar."""
    torch.manual_seed(0)
    b.model.train()
    try:
        loss = b.model(**inputs).loss
    finally:
        b.model.eval()
    assert isinstance(loss, torch.Tensor) and loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None for p in b.model.parameters())
    return loss


def _label_keys(b: Built) -> tuple[dict, list[str]]:
    lab = b.inputs(labels=True)
    return lab, sorted(set(lab) - set(b.inputs()))


def test_depth_estimation_gets_a_positive_depth_per_pixel():
    b = build("glpn", "GLPNForDepthEstimation")
    lab, keys = _label_keys(b)
    assert keys == ["labels"]
    h, w = lab["pixel_values"].shape[-2:]
    assert lab["labels"].shape == (B, h, w) and lab["labels"].is_floating_point()
    assert bool((lab["labels"] > 0).all())  # SiLog loss ignores non-positive depth
    _train(b, lab)


@pytest.mark.parametrize(
    "model_type, cls",
    [
        ("wav2vec2", "Wav2Vec2ForAudioFrameClassification"),  # raw audio through the conv encoder
        ("wav2vec2-bert", "Wav2Vec2BertForAudioFrameClassification"),  # features, no conv
    ],
)
def test_audio_frame_classification_gets_one_class_row_per_output_frame(model_type, cls):
    b = build(model_type, cls)
    lab, keys = _label_keys(b)
    assert keys == ["labels"]
    with torch.no_grad():
        logits = b.model(**b.inputs()).logits
    assert lab["labels"].shape == logits.shape  # (B, frames, num_labels)
    assert lab["labels"].sum(-1).eq(1).all()  # one-hot: the loss takes its argmax
    _train(b, lab)


def test_detr_segmentation_targets_carry_one_mask_per_box():
    b = build("detr", "DetrForSegmentation")
    lab, keys = _label_keys(b)
    assert keys == ["labels"]
    h, w = lab["pixel_values"].shape[-2:]
    assert len(lab["labels"]) == B
    for t in lab["labels"]:
        n = len(t["class_labels"])
        assert t["boxes"].shape == (n, 4) and t["masks"].shape == (n, h, w)
        assert set(t["masks"].unique().tolist()) <= {0.0, 1.0}
    _train(b, lab)


@pytest.mark.parametrize(
    "model_type, cls",
    [
        ("mask2former", "Mask2FormerForUniversalSegmentation"),
        ("maskformer", "MaskFormerForInstanceSegmentation"),
        ("eomt", "EomtForUniversalSegmentation"),
    ],
)
def test_universal_segmentation_gets_mask_and_class_lists(model_type, cls):
    b = build(model_type, cls)
    lab, keys = _label_keys(b)
    assert keys == ["class_labels", "mask_labels"]
    h, w = lab["pixel_values"].shape[-2:]
    assert len(lab["mask_labels"]) == len(lab["class_labels"]) == B
    for masks, classes in zip(lab["mask_labels"], lab["class_labels"], strict=True):
        assert masks.shape == (len(classes), h, w) and masks.is_floating_point()
        assert classes.dtype == torch.long and int(classes.max()) < b.config.num_labels
    _train(b, lab)


def test_document_question_answering_gets_answer_spans():
    b = build("layoutlm", "LayoutLMForQuestionAnswering")
    lab, keys = _label_keys(b)
    assert keys == ["end_positions", "start_positions"]
    assert lab["start_positions"].shape == lab["end_positions"].shape == (B,)
    _train(b, lab)


def test_question_spans_point_at_the_question_token_and_kept_positions():
    b = build("splinter", "SplinterForPreTraining")
    lab, keys = _label_keys(b)
    assert keys == ["end_positions", "question_positions", "start_positions"]
    ids, am = lab["input_ids"], lab["attention_mask"]
    q = lab["question_positions"]
    assert q.shape == lab["start_positions"].shape == lab["end_positions"].shape == (B, 1)
    assert (ids.gather(1, q) == b.config.question_token_id).all()
    for key in ("start_positions", "end_positions"):
        pos = lab[key]
        # never the ignored index 0 (pad_token_id), never a padded position
        assert bool((pos >= 1).all()) and bool(am.gather(1, pos).eq(1).all())
    _train(b, lab)


def test_attended_positions_skip_padding_and_position_zero():
    from hftestgen.tiny.inputs.context import Ctx
    from hftestgen.tiny.inputs.labels import _attended

    class _Toy(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None):
            return input_ids

    built = Built(
        model=_Toy(),
        config=PretrainedConfig(),
        task="feature_extraction",
        model_type="toy",
        class_name="_Toy",
        _calib={"variant": {}},
    )
    c = Ctx(built, 2, 0)
    am = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    rows = _attended(c, {"attention_mask": am}, 5)
    assert [r.tolist() for r in rows] == [[1, 2, 3, 4], [1, 2]]


def test_named_pretraining_targets_follow_the_forward_signature():
    flava = build("flava", "FlavaForPreTraining")
    lab, keys = _label_keys(flava)
    assert keys == ["itm_labels", "mlm_labels"]
    assert lab["mlm_labels"].shape == lab["input_ids"].shape
    assert lab["itm_labels"].shape == (B,)
    _train(flava, lab)
    roc = build("roc_bert", "RoCBertForPreTraining")
    lab, keys = _label_keys(roc)
    assert keys == ["labels_attention_mask", "labels_input_ids", "labels_token_type_ids"]
    pad = lab["attention_mask"] == 0
    assert bool(lab["labels_input_ids"][pad].eq(-100).all())
    assert torch.equal(lab["labels_input_ids"][~pad], lab["input_ids"][~pad])
    _train(roc, lab)


def test_masked_lm_labels_follow_an_integer_main_input():
    # Perceiver's modality-agnostic forward takes token ids as ``inputs``, not ``input_ids``
    b = build("perceiver", "PerceiverForMaskedLM")
    lab, keys = _label_keys(b)
    assert keys == ["labels"]
    assert torch.equal(lab["labels"], lab["inputs"])
    _train(b, lab)


def test_pose_heatmaps_match_the_predicted_heatmaps():
    b = build("sapiens2", "Sapiens2ForPoseEstimation")
    lab, keys = _label_keys(b)
    assert keys == ["labels"]
    with torch.no_grad():
        hm = b.model(**b.inputs()).heatmaps
    assert lab["labels"].shape == hm.shape
    _train(b, lab)


def test_labelled_inputs_stay_seeded():
    b = build("mask2former", "Mask2FormerForUniversalSegmentation")
    one, two = make_inputs(b, labels=True), make_inputs(b, labels=True)
    assert all(
        torch.equal(x, y) for x, y in zip(one["mask_labels"], two["mask_labels"], strict=True)
    )


_CANNOT_TRAIN = re.compile(r"\((modeling_\w+\.py):(\d+), transformers ([\d.]+)\)")


def _cannot_train_entries():
    out = []
    for t, rec in sorted(load_records().types.items()):
        for k in rec.known:
            if "train_step" in k.checks and k.kind == "not-applicable":
                m = _CANNOT_TRAIN.search(k.reason)
                if m and "cannot train" in k.reason:
                    out.append((t, m.group(1), int(m.group(2)), m.group(3)))
    return out


def test_cannot_train_records_cite_a_raise_in_the_installed_source():
    """Each not-applicable "cannot train" entry names file:line for a Transformers version; for
    the installed version that line raises right under an ``if labels is not None``."""
    entries = _cannot_train_entries()
    assert len(entries) >= 18
    here = [e for e in entries if e[3] == transformers.__version__]
    if not here:
        pytest.skip(
            f"the records cite lines of another Transformers than {transformers.__version__}"
        )
    root = Path(transformers.__file__).parent / "models"
    for t, fname, line, _ in here:
        path = next(root.glob(f"*/{fname}"), None)
        assert path is not None, f"{t}: {fname} not in transformers"
        src = path.read_text().splitlines()
        assert src[line - 1].strip().startswith("raise "), (t, fname, line, src[line - 1])
        assert "labels is not None" in "".join(src[line - 4 : line - 1]), (t, fname, line)
