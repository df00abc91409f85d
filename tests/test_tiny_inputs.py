"""Input synthesis rules (``hftestgen.tiny.inputs``): pixel layouts derived from the vision
config, the NaViT packing rule, the grid knob; and the layouts reproduce, draw for draw, the
hand-written shapes they replaced in the records."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import PretrainedConfig  # noqa: E402

from hftestgen.tiny import TinyError, build  # noqa: E402
from hftestgen.tiny.engine import Built  # noqa: E402
from hftestgen.tiny.inputs import make_inputs  # noqa: E402

B = 2


class _GridTower(torch.nn.Module):
    main_input_name = "pixel_values"

    def forward(self, pixel_values, image_grid_hw=None):
        return pixel_values


class _QwenTower(torch.nn.Module):
    main_input_name = "pixel_values"

    def forward(self, pixel_values, image_grid_thw=None):
        return pixel_values


class _PatchTower(torch.nn.Module):
    main_input_name = "pixel_values"

    def forward(self, pixel_values, pixel_position_ids=None):
        return pixel_values


class _PackedTower(torch.nn.Module):
    main_input_name = "pixel_values"

    def forward(self, pixel_values, target_sizes=None):
        return pixel_values


class _TextAndPixels(torch.nn.Module):
    main_input_name = "input_ids"

    def forward(self, input_ids, pixel_values):
        return pixel_values


def _inputs(model, knobs, **cfg):
    """Inputs for a toy tower (no probe: the general layout is taken as is)."""
    built = Built(
        model=model,
        config=PretrainedConfig(**cfg),
        task="feature_extraction",
        model_type="toy",
        class_name=type(model).__name__,
        input_knobs=dict(knobs),
        _calib={"variant": {}},
    )
    return make_inputs(built, batch_size=B)


PATCHES = {"patch_size": 4, "num_channels": 3, "spatial_merge_size": 2}


@pytest.mark.parametrize(
    "layout, cfg, knobs, shape",
    [
        ("patch-rows", PATCHES, {}, (32, 48)),  # N = B * (2*merge)^2 rows of C*P*P
        ("patches", PATCHES, {}, (32, 3, 4, 4)),
        ("patches-last", PATCHES, {}, (32, 4, 4, 3)),
        ("patch-sequence", PATCHES, {}, (1, 32, 3, 4, 4)),
        ("merge-windows-last", PATCHES, {}, (32, 8, 8, 3)),
        ("patch-rows", {**PATCHES, "temporal_patch_size": 2}, {}, (32, 96)),
        ("patches", {**PATCHES, "temporal_patch_size": 2}, {}, (32, 3, 2, 4, 4)),
        ("patches-last", {**PATCHES, "temporal_patch_size": 2}, {"grid": [1, 2]}, (4, 2, 4, 4, 3)),
        ("merge-windows-last", PATCHES, {"grid": 1}, (2, 8, 8, 3)),
        ("image-patches", {**PATCHES, "image_size": 32}, {}, (2, 64, 48)),  # (32 / 4)^2 per image
        ("image-patches", PATCHES, {}, (2, 16, 48)),  # no image size: 4 x 4
        ("image-patches", {**PATCHES, "image_size": 32}, {"grid": 2}, (2, 4, 48)),
    ],
)
def test_pixel_layout_shape_follows_the_vision_config(layout, cfg, knobs, shape):
    x = _inputs(_GridTower(), {"pixel_layout": layout, **knobs}, **cfg)
    assert tuple(x["pixel_values"].shape) == shape


def test_pixel_layout_gives_the_grid_forward_takes():
    x = _inputs(
        _GridTower(), {"pixel_layout": "patch-rows", "grid": 4}, patch_size=4, num_channels=3
    )
    assert tuple(x["pixel_values"].shape) == (B * 16, 48)
    assert x["image_grid_hw"].tolist() == [[4, 4]] * B


def test_image_patches_layout_gives_patch_positions():
    x = _inputs(_PatchTower(), {"pixel_layout": "image-patches", "grid": [2, 3]}, patch_size=4)
    pos = x["pixel_position_ids"]
    assert tuple(pos.shape) == (B, 6, 2) and pos.dtype == torch.long
    assert pos[0].tolist() == [[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]]  # (x, y), row-major


def test_layout_pixels_are_not_also_drawn_as_a_missing_required_input():
    # forward requires pixel_values that no general rule gives: the layout supplies them, as an
    # extra would, instead of the required-input rule drawing images first
    cfg = {"patch_size": 4, "num_channels": 3, "vocab_size": 50}
    new = _inputs(_TextAndPixels(), {"pixel_layout": "patch-rows"}, **cfg)
    old = _inputs(_TextAndPixels(), {"extra": {"pixel_values": {"shape": ["B*4", 48]}}}, **cfg)
    assert list(new) == list(old) == ["input_ids", "pixel_values"]
    assert all(torch.equal(new[k], old[k]) for k in new)


def test_unknown_pixel_layout_is_an_input_synthesis_error():
    with pytest.raises(TinyError, match="unknown pixel_layout 'nope'"):
        _inputs(_GridTower(), {"pixel_layout": "nope"}, patch_size=4)


def test_grid_knob_takes_rows_and_columns():
    x = _inputs(_QwenTower(), {"grid": [1, 3]}, patch_size=4, num_channels=3)
    assert x["image_grid_thw"].tolist() == [[1, 1, 3]] * B
    assert tuple(x["pixel_values"].shape) == (B * 3, 48)


def test_forward_taking_target_sizes_gets_navit_packed_pixels():
    x = _inputs(_PackedTower(), {}, patch_size=4, num_channels=3, image_size=8)
    assert tuple(x["pixel_values"].shape) == (1, 3, 4, B * 2 * 2 * 4)  # every image's 2x2 patches
    assert x["target_sizes"].tolist() == [[2, 2]] * B
    x = _inputs(
        _PackedTower(), {"packed_pixels": False}, patch_size=4, num_channels=3, image_size=8
    )
    assert tuple(x["pixel_values"].shape) == (B, 3, 8, 8)


# The hand-written shapes the layouts replaced (records at dd56b18), with the layout knobs now in
# the records: the layouts must draw the very same tensors (same shapes, same random stream).
POSITIONS_4X4 = [[x, y] for y in range(4) for x in range(4)]
REPLACED = [
    (
        "kimi_k25_vision",
        "Kimi_K25VisionModel",
        {"pixel_layout": "patches"},
        {"extra": {"pixel_values": {"shape": ["B*4", 3, "cfg.patch_size", "cfg.patch_size"]}}},
    ),
    (
        "paddleocr_vl_vision",
        "PaddleOCRVisionModel",
        {"pixel_layout": "patch-sequence"},
        {"extra": {"pixel_values": {"shape": [1, "B*16", 3, "cfg.patch_size", "cfg.patch_size"]}}},
    ),
    (
        "inkling2_vision",
        "Inkling2VisionModel",
        {"pixel_layout": "merge-windows-last"},
        {
            "extra": {
                "pixel_values": {
                    "shape": [
                        "B*16",
                        "cfg.patch_size*cfg.spatial_merge_size",
                        "cfg.patch_size*cfg.spatial_merge_size",
                        "cfg.num_channels",
                    ]
                }
            }
        },
    ),
    (
        "inkling_vision",
        "InklingVisionModel",
        {"pixel_layout": "patches-last", "grid": [1, 2]},
        {
            "extra": {
                "pixel_values": {
                    "shape": [
                        "2*B",
                        "cfg.temporal_patch_size",
                        "cfg.patch_size",
                        "cfg.patch_size",
                        "cfg.num_channels",
                    ]
                }
            }
        },
    ),
    (
        "gemma4_vision",
        "Gemma4VisionModel",
        {"pixel_layout": "image-patches"},
        {
            "extra": {
                "pixel_values": {"shape": ["B", 16, "3*cfg.patch_size*cfg.patch_size"]},
                "pixel_position_ids": {"value": POSITIONS_4X4, "repeat_batch": True},
            }
        },
    ),
    (
        "molmo2_vision",
        "Molmo2VisionModel",
        {"pixel_layout": "image-patches"},
        {"extra": {"pixel_values": {"shape": ["B", 64, "3*cfg.patch_size*cfg.patch_size"]}}},
    ),
    (
        "fuyu",
        "FuyuForCausalLM",
        {"pixel_layout": "image-patches", "grid": 2},
        {
            "extra": {
                "pixel_values": {
                    "shape": ["B", 4, "cfg.patch_size*cfg.patch_size*cfg.num_channels"]
                }
            }
        },
    ),
    (
        "nemotron_h_omni",
        "NemotronH_Omni_Reasoning_V3",
        {"video_inputs": False, "image_tokens": 4, "pixel_layout": "patch-rows", "grid": 4},
        {
            "video_inputs": False,
            "image_tokens": 4,
            "extra": {
                "pixel_values": {"shape": ["B*16", "vision.num_channels*vision.patch_size**2"]},
                "image_grid_hw": {"value": [4, 4], "repeat_batch": True},
            },
        },
    ),
]


def _under_installed_name(formula, model):
    """The replaced formulas drew ``pixel_values``; a forward that takes its pixels under another
    name (4.x Fuyu: ``image_patches``, ``context.PIXEL_NAMES``) gets the same draw there."""
    from hftestgen.tiny.inputs.context import PIXEL_NAMES

    sig = inspect.signature(model.forward).parameters
    name = next((n for n in PIXEL_NAMES if n in sig), "pixel_values")
    extra = formula.get("extra", {})
    if name == "pixel_values" or "pixel_values" not in extra:
        return formula
    extra = {(name if k == "pixel_values" else k): v for k, v in extra.items()}
    return dict(formula, extra=extra)


def _draw(b, knobs, labels):
    b.input_knobs = dict(knobs)
    b._calib.clear()
    return b.inputs(labels=labels)


@pytest.mark.parametrize("model_type, cls, layout, formula", REPLACED, ids=[r[0] for r in REPLACED])
def test_layout_draws_what_the_replaced_formula_drew(model_type, cls, layout, formula):
    b = build(model_type, cls)
    assert b.input_knobs == layout  # the record states the layout, not the shape
    formula = _under_installed_name(formula, b.model)
    for labels in (False, True):
        new, old = _draw(b, layout, labels), _draw(b, formula, labels)
        assert list(new) == list(old)
        for k in new:
            assert torch.equal(new[k], old[k]), k
    with torch.no_grad():
        b.model(**_draw(b, layout, False))


def test_per_type_knowledge_is_data_not_code_in_every_input_module():
    import hftestgen.tiny.inputs as pkg

    mods = [pkg] + [
        importlib.import_module(f"{pkg.__name__}.{m.name}")
        for m in pkgutil.iter_modules(pkg.__path__)
    ]
    assert len(mods) >= 8
    for m in mods:
        assert not re.search(r"model_type\s*==\s*['\"]", inspect.getsource(m)), m.__name__


def test_public_names_stay_importable():
    from hftestgen.tiny.inputs import make_inputs, safe_eval, special_ids  # noqa: F401


# ---------------------------------------------------------------- placeholder calibration

IMG = 9  # the toy image token id


class _UncheckedMerge(torch.nn.Module):
    """A 4.x-style merge (Idefics2 inputs_merger): features scattered into the placeholder
    positions with no count check, so 1 placeholder per sample runs too."""

    main_input_name = "input_ids"
    per_image = 6

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(16, 4)

    def get_image_features(self, pixel_values):
        return pixel_values.new_ones(pixel_values.shape[0], self.per_image, 4)

    def forward(self, input_ids, pixel_values=None):
        e = self.emb(input_ids)
        m = (input_ids == IMG).unsqueeze(-1).expand_as(e)
        return e.masked_scatter(m, self.get_image_features(pixel_values))


class _AppendsAfterFeatures(_UncheckedMerge):
    """get_image_features returns 3 per image, forward appends one more (4.x LlavaOnevision's
    video newline) and checks the count."""

    per_image = 3

    def forward(self, input_ids, pixel_values=None):
        f = self.get_image_features(pixel_values)
        f = torch.cat([f, f[:, :1]], dim=1).flatten(0, 1)
        n = int((input_ids == IMG).sum())
        if n != f.shape[0]:
            raise ValueError(
                f"Image features and image tokens do not match: tokens: {n}, features {f.shape[0]}"
            )
        return f


class _OldPatchNames(torch.nn.Module):
    """A forward that takes its images as ``image_patches`` (4.x Fuyu), no ``pixel_values``."""

    main_input_name = "input_ids"

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(16, 4)

    def get_image_features(self, image_patches):
        return image_patches.new_ones(image_patches.shape[0], 4, 4)

    def forward(self, input_ids, image_patches=None, **kwargs):
        e = self.emb(input_ids)
        if image_patches is not None:
            f = self.get_image_features(image_patches).flatten(0, 1)
            if int((input_ids == IMG).sum()) != f.shape[0]:
                raise ValueError("Image features and image tokens do not match")
        return e


def _toy_inputs(model, knobs=None):
    return _inputs(
        model, knobs or {}, vocab_size=16, image_token_id=IMG, image_size=8, num_channels=3
    )


@pytest.mark.parametrize("model, per_image", [(_UncheckedMerge(), 6), (_AppendsAfterFeatures(), 4)])
def test_placeholders_fill_the_features_the_model_merges(model, per_image):
    # the old calibration kept 1 placeholder where the unchecked merge ran with it (each sample
    # then reads the first sample's features), and the features count (3) where the forward
    # still refused and its error said 4
    ids = _toy_inputs(model)["input_ids"]
    assert [int((row == IMG).sum()) for row in ids] == [per_image] * B
    model(**_toy_inputs(model))


def test_placeholder_error_names_its_kind_in_the_plural():
    from hftestgen.tiny.inputs import _PLACEHOLDER_ERR

    m = _PLACEHOLDER_ERR.search(
        "Videos features and image tokens do not match: tokens: 64, features 66"
    )
    assert m and m.group(1) == "Video" and m.group(4) == "66"


def test_pixels_go_under_the_name_forward_takes():
    inp = _toy_inputs(_OldPatchNames())
    assert "image_patches" in inp and "pixel_values" not in inp
    assert [int((row == IMG).sum()) for row in inp["input_ids"]] == [4] * B
