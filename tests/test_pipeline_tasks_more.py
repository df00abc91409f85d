"""Rules of the further pipeline task specifications (checks.pipeline_tasks_more)."""

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from hftestgen.checks import pipelines
from hftestgen.checks import tolerances as tol
from hftestgen.checks._support import Comparison

# pipelines loads its task modules at its end (importing the task module first is circular)
more = sys.modules[pipelines.__name__.replace("pipelines", "pipeline_tasks_more")]


def test_depth_compared_in_units_of_the_largest_depth():
    # float32 rounding of a batched conv at depth values ~2.5e6 (measured on Depth Anything)
    want = torch.full((4, 4), 2.5e6)
    want[0, 0] = 1.0  # a pixel of small depth: rounding follows the map's scale, not its value
    got = want.clone()
    got[0, 0] += 9.0
    cmp = Comparison("pipeline")
    more._compare_depth(
        cmp, "x", {"predicted_depth": got}, {"predicted_depth": want}, tol.PADDING, None
    )
    assert not cmp.bad
    # a real difference still fails
    got[1, 1] *= 1.01
    cmp = Comparison("pipeline")
    more._compare_depth(
        cmp, "x", {"predicted_depth": got}, {"predicted_depth": want}, tol.PADDING, None
    )
    assert cmp.bad


def test_zero_shot_boxes_held_to_a_centre_inside_the_image():
    x = {"image": Image.new("RGB", (40, 48))}
    wide = {"score": 0.5, "label": "fox", "box": {"xmin": -5, "ymin": 0, "xmax": 50, "ymax": 48}}
    assert more._zs_od_structure([wide], None, None, x) == []
    away = {"score": 0.5, "label": "fox", "box": {"xmin": 47, "ymin": 24, "xmax": 47, "ymax": 72}}
    assert more._zs_od_structure([away], None, None, x)
    flipped = {"score": 0.5, "label": "fox", "box": {"xmin": 30, "ymin": 0, "xmax": 10, "ymax": 4}}
    assert more._zs_od_structure([flipped], None, None, x)


class _Config:
    id2label = {0: "a", 1: "b"}


class _Prep:
    class image_processor:  # noqa: N801 - a stand-in with only semantic post-processing
        post_process_semantic_segmentation = None


def _mask(a):
    return Image.fromarray((np.asarray(a) * 255).astype(np.uint8), mode="L")


def test_semantic_segments_cover_the_image_once():
    x = Image.new("RGB", (3, 2))
    top = np.array([[1, 1, 1], [0, 0, 0]])
    ok = [
        {"label": "a", "score": None, "mask": _mask(top)},
        {"label": "b", "score": None, "mask": _mask(1 - top)},
    ]
    assert more._seg_structure(ok, _Config, _Prep, x) == []
    gap = [ok[0]]
    assert any("cover" in p for p in more._seg_structure(gap, _Config, _Prep, x))
    overlap = [ok[0], {"label": "b", "score": None, "mask": _mask(np.ones((2, 3)))}]
    assert any("overlap" in p for p in more._seg_structure(overlap, _Config, _Prep, x))


def test_gated_task_is_a_missing_package_skip(monkeypatch):
    monkeypatch.setattr(more, "find_spec", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="missing package: pandas"):
        more.TASKS["table-question-answering"].inputs(object())


def test_dqa_answer_must_be_the_words_of_its_span():
    good = [{"score": 0.1, "answer": " ".join(more.WORDS[1:3]), "start": 1, "end": 2}]
    assert more._dqa_structure(good, None, None, None) == []
    bad = [{"score": 0.1, "answer": "total", "start": 1, "end": 2}]
    assert more._dqa_structure(bad, None, None, None)


class _SquarePadded:
    """An Owlv2-like image processor: relative boxes span the image padded to a square at its
    bottom and right, so its post-processing scales both axes by the longer side."""

    @staticmethod
    def post_process_object_detection(outputs, threshold, target_sizes):
        h, w = (int(v) for v in target_sizes[0])
        side = max(h, w)
        cx, cy, bw, bh = outputs.pred_boxes[0, 0].tolist()
        box = [
            (cx - bw / 2) * side,
            (cy - bh / 2) * side,
            (cx + bw / 2) * side,
            (cy + bh / 2) * side,
        ]
        return [{"scores": torch.ones(1), "boxes": torch.tensor([box])}]


class _Plain(_SquarePadded):
    @staticmethod
    def post_process_object_detection(outputs, threshold, target_sizes):
        h, w = (int(v) for v in target_sizes[0])
        cx, cy, bw, bh = outputs.pred_boxes[0, 0].tolist()
        box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
        return [{"scores": torch.ones(1), "boxes": torch.tensor([box])}]


def test_box_frame_is_the_square_a_processor_pads_to():
    # rule BOX_FRAME: the 40x48 image's boxes span Owlv2's 48x48 padded square (the failure
    # of owlv2's pipeline[zero-shot-object-detection] before the rule)
    from types import SimpleNamespace

    x = {"image": Image.new("RGB", (40, 48))}
    in_padding = {
        "score": 0.5,
        "label": "fox",
        "box": {"xmin": 47, "ymin": -24, "xmax": 47, "ymax": 24},
    }
    square = SimpleNamespace(image_processor=_SquarePadded())
    plain = SimpleNamespace(image_processor=_Plain())
    assert more._box_frame(square, 40, 48) == (48.0, 48.0)
    assert more._box_frame(plain, 40, 48) == (40.0, 48.0)
    assert more._zs_od_structure([in_padding], None, square, x) == []
    assert more._zs_od_structure([in_padding], None, plain, x)
    assert more._zs_od_structure([in_padding], None, None, x)
    far = {"score": 0.5, "label": "fox", "box": {"xmin": 60, "ymin": 0, "xmax": 60, "ymax": 4}}
    assert more._zs_od_structure([far], None, square, x)
