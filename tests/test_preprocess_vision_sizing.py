"""Vision sizing rules (``preprocess.vision_audio``) and the vision parts of the pipeline /
preprocessing checks (``checks.pipelines``): each test fails without its rule."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from transformers import PretrainedConfig

from hftestgen.checks import pipelines as P
from hftestgen.checks._support import Comparison
from hftestgen.preprocess import vision_audio as va


def _cfg(**kw):
    return PretrainedConfig(**kw)


def _synth(name: str, config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return va.synthesize(name, config)


def test_pad_size_follows_image_size():
    """SAM pads to pad_size (1024 by default): the tiny processor pads to image_size."""
    ip = _synth("SamImageProcessorPil", _cfg(image_size=32, num_channels=3))
    assert ip.pad_size == {"height": 32, "width": 32}
    out = ip(images=[P.image(0, (40, 48))], return_tensors="pt")
    assert tuple(out["pixel_values"].shape[-2:]) == (32, 32)


def test_max_image_size_follows_image_size():
    """Aria resizes the longest side to max_image_size (default 980) and pads square."""
    ip = _synth("AriaImageProcessorPil", _cfg(image_size=490, num_channels=3))
    assert ip.max_image_size == 490


def test_any_size_tower_gets_the_tiny_image():
    """A config without any image size (DETR's ResNet backbone) no longer keeps 800-1333 px."""
    ip = _synth("DetrImageProcessorPil", _cfg(num_channels=3))
    assert ip.size == {"shortest_edge": 32, "longest_edge": 32}
    pv = ip(images=[P.image(0, (40, 48))], return_tensors="pt")["pixel_values"]
    assert max(pv.shape[-2:]) <= 32


def test_color_quantizing_processor_gets_clusters():
    """ImageGPT ships no clusters ("Clusters must be provided"): seeded vocab_size - 1 clusters,
    and a size whose pixels fit the positions."""
    ip = _synth("ImageGPTImageProcessorPil", _cfg(vocab_size=17, n_positions=64))
    assert np.asarray(ip.clusters).shape == (16, 3)
    ids = ip(images=[P.image(0, (40, 48))], return_tensors="pt")["input_ids"]
    assert ids.shape == (1, 64) and int(ids.max()) < 16


class _EffNet:
    """A processor stand-in with EfficientNet's declared extra steps."""

    image_mean = (0.5, 0.5, 0.5)
    image_std = (0.25, 0.25, 0.25)
    do_rescale = True
    rescale_factor = 1 / 127.5
    rescale_offset = True
    do_normalize = True
    include_top = True
    do_flip_channel_order = False

    def __init__(self, skip_top: bool = False):
        self.skip_top = skip_top

    def __call__(self, images, return_tensors):
        x = torch.tensor(np.asarray(images[0]), dtype=torch.float64).permute(2, 0, 1)[None]
        x = x / 127.5 - 1
        m, s = torch.tensor(self.image_mean)[:, None, None], torch.tensor(self.image_std)
        x = (x - m) / s[:, None, None]
        if not self.skip_top:
            x = x / s[:, None, None]
        return {"pixel_values": x.float()}


def test_image_facts_count_rescale_offset_and_include_top():
    cmp = Comparison("t")
    P._image_facts(cmp, _EffNet())
    assert not cmp.bad, cmp.bad
    # still catches a skipped declared step
    cmp = Comparison("t")
    P._image_facts(cmp, _EffNet(skip_top=True))
    assert cmp.bad


def test_unstackable_image_batch_uses_one_size():
    """DETR-style aspect-keeping sizes give the two inputs different pixel shapes: the pipeline
    cannot stack them, so the batch holds images of the first input's size."""
    ip = _synth("DetrImageProcessorPil", _cfg(num_channels=3))

    class Prep:
        image_processor = ip

    xs = P._images(Prep)
    assert len({P._pixel_shape(Prep, x) for x in xs}) == 2
    calls = []
    batch, singles = P._stackable_batch(Prep, xs, ["a", "b"], lambda x: calls.append(x) or "c")
    assert batch[0] is xs[0] and batch[1].size == xs[0].size and batch[1] is not xs[1]
    assert singles == ["a", "c"] and len(calls) == 1
    # stackable inputs stay as they are
    fixed = _synth("ViTImageProcessorPil", _cfg(image_size=32, num_channels=3))

    class Prep2:
        image_processor = fixed

    assert P._stackable_batch(Prep2, xs, ["a", "b"], lambda x: "c") == (xs, ["a", "b"])


@pytest.mark.parametrize(
    ("box", "ok"),
    [
        ({"xmin": -3, "ymin": 13, "xmax": 4, "ymax": 16}, True),  # a centre box near the edge
        ({"xmin": 18, "ymin": 19, "xmax": 40, "ymax": 46}, True),
        ({"xmin": -30, "ymin": 0, "xmax": 4, "ymax": 16}, False),  # beyond half the image
        ({"xmin": 10, "ymin": 0, "xmax": 4, "ymax": 16}, False),  # unordered
    ],
)
def test_box_structure_allows_unclipped_centre_boxes(box, ok):
    class Cfg:
        id2label = {0: "a"}

    result = [{"score": 0.5, "label": "a", "box": box}]
    bad = P._box_structure(result, Cfg, None, P.image(0, (40, 48)))
    assert (not bad) == ok, bad


def test_detections_compare_boxes():
    got = [{"score": 0.5, "label": "a", "box": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}}]
    want = [{"score": 0.5, "label": "a", "box": [1.2, 2.0, 3.0, 9.0]}]
    cmp = Comparison("t")
    P._compare_detections(cmp, "x", got, want, P.tol.PIPELINE, None)
    assert cmp.bad
