"""Vision inputs: images and video frames, patchified (NaFlex), grid-flattened (Qwen2-VL) and
NaViT-packed pixels, image sizes, target sizes and masked-patch positions."""

from __future__ import annotations

import math

import torch

from ..errors import TinyError
from ._cfg import _hw, _int, find_attr, sub, vision_cfg
from .context import Ctx, _has_vision, _required


def _image_dims(c: Ctx) -> tuple[int, int, int]:
    """(height, width, channels) of one image: the knobs, else the vision config, else 32x32x3."""
    vc = vision_cfg(c.cfg)
    h, w = _hw(
        c.k.get("image_size")
        or find_attr(vc, ["image_size", "img_size", "input_size"], prefer=())
        or find_attr(c.cfg, ["image_size"]),
        32,
    )
    ch = int(
        c.k.get("num_channels")
        or _int(
            find_attr(vc, ["num_channels", "in_channels", "in_chans", "input_channels"], prefer=()),
            3,
        )
    )
    return h, w, ch


def _pixels(c: Ctx, key: str) -> torch.Tensor:
    vc = vision_cfg(c.cfg)
    h, w, ch = _image_dims(c)
    frames = c.k.get("num_frames") or find_attr(vc, ["num_frames"], prefer=())
    if not (
        frames
        and (
            "video" in key
            or c.k.get("video")
            or _int(getattr(vc, "num_frames", None), 0)
            or c.b.task == "video_classification"
        )
    ) or c.k.get("no_frames"):
        frames = None
    if frames is None and key == "pixel_values" and c.b.task == "video_classification":
        frames = find_attr(vc, ["num_frames"], prefer=()) or 4
    shape = [c.B, ch, h, w]
    if frames:
        shape = [c.B, int(frames), ch, h, w]
    elif c.k.get("pixel_5d"):
        shape = [c.B, int(c.k["pixel_5d"]), ch, h, w]
    return c.randn(shape)


def _num_patches(c: Ctx) -> int:
    vc = vision_cfg(c.cfg)
    h, w = _hw(find_attr(vc, ["image_size"], prefer=()), 32)
    ph, pw = _hw(find_attr(vc, ["patch_size"], prefer=()), 16)
    n = (h // ph) * (w // pw)
    frames = _int(getattr(vc, "num_frames", None), 0)
    if frames:
        n *= frames // _int(getattr(vc, "tubelet_size", None), 1)
    return n


def _patchified(c: Ctx) -> dict:
    """NaFlex style (Siglip2): (B, N, C*P*P) patches + spatial_shapes (B, 2) + pixel_attention_mask."""
    vc = vision_cfg(c.cfg)
    p = _int(find_attr(vc, ["patch_size"], prefer=()), 16)
    ch = _int(find_attr(vc, ["num_channels", "in_channels"], prefer=()), 3)
    g = int(c.k.get("grid", 4))
    n = _int(find_attr(vc, ["num_patches"], prefer=()), g * g)
    g = int(math.isqrt(n)) or g
    out = {
        "pixel_values": c.randn([c.B, g * g, ch * p * p]),
        "spatial_shapes": torch.tensor([[g, g]] * c.B),
    }
    if "pixel_attention_mask" in c.sig:
        out["pixel_attention_mask"] = torch.ones(c.B, g * g, dtype=torch.long)
    return out


def _patch_dims(vc) -> tuple[int, int, int, int]:
    """(channels, temporal patch, patch, spatial merge) of a vision config that cuts images into
    patches; 3, 1, 14 and 1 when it does not say."""
    p = _int(find_attr(vc, ["patch_size"], prefer=()), 14)
    t = _int(find_attr(vc, ["temporal_patch_size", "patch_temporal"], prefer=()), 1)
    m = _int(find_attr(vc, ["spatial_merge_size", "merge_size"], prefer=()), 1)
    ch = _int(find_attr(vc, ["in_channels", "num_channels", "in_chans"], prefer=()), 3)
    return ch, t, p, m


def _grid_hw(c: Ctx, default: tuple[int, int]) -> tuple[int, int]:
    """Patches per image (rows, columns): the ``grid`` knob (``g`` for g x g, or ``[h, w]``)."""
    g = c.k.get("grid")
    if g is None:
        return default
    if isinstance(g, (list, tuple)):
        return int(g[0]), int(g[1])
    return int(g), int(g)


def _grid_pixels(c: Ctx) -> dict:
    """Qwen2-VL style: flattened patches (N, C*T*P*P) plus image_grid_thw (images, 3); the grid
    is 2*merge x 2*merge patches per image unless the ``grid`` knob says otherwise."""
    ch, t, p, m = _patch_dims(vision_cfg(c.cfg))
    gh, gw = _grid_hw(c, (2 * m, 2 * m))
    grid = torch.tensor([[1, gh, gw]] * c.B)
    n = c.B * gh * gw
    return {"pixel_values": c.randn([n, ch * t * p * p]), "image_grid_thw": grid}


def _tower_grid_pixels(c: Ctx, main: str) -> dict:
    """A vision tower's own inputs: grid-flattened patches as ``main`` with ``grid_thw``, and the
    merge size per image when forward takes ``merge_sizes``."""
    g = _grid_pixels(c)
    out = {main: g["pixel_values"], "grid_thw": g["image_grid_thw"]}
    if "merge_sizes" in c.sig:
        m = _int(find_attr(vision_cfg(c.cfg), ["spatial_merge_size", "merge_size"], prefer=()), 1)
        out["merge_sizes"] = torch.tensor([m] * c.B)
    return out


def _add_image_sizes(c: Ctx, out: dict) -> None:
    """``image_sizes`` (H, W per image) when forward requires them, the knob asks, or the config
    tiles images by grid pinpoints (LLaVA-NeXT)."""
    if (
        "image_sizes" in c.sig
        and "pixel_values" in out
        and not c.dropped("image_sizes")
        and (
            _required(c.sig, "image_sizes")
            or c.k.get("image_sizes")
            or find_attr(c.cfg, ["image_grid_pinpoints"]) is not None
        )
    ):
        px = out["pixel_values"]
        out["image_sizes"] = torch.tensor([[px.shape[-2], px.shape[-1]]] * c.B)


def _add_target_sizes(c: Ctx, out: dict) -> None:
    """``target_sizes`` (patch rows, patch columns per image), and the NaViT packing rule: a
    forward that takes the patch grid of every image reads the images' patches packed (its
    attention runs over the cumulative lengths of those grids), so images (B, C, H, W) are
    re-drawn as one (1, C, ph, n*pw) strip, every image's patches side by side. The
    ``packed_pixels = false`` knob keeps them unpacked."""
    if not ("target_sizes" in c.sig and "pixel_values" in out and out["pixel_values"].dim() >= 4):
        return
    vc = vision_cfg(c.cfg)
    ph, pw = _hw(find_attr(vc, ["patch_size"], prefer=()), 16)
    px = out["pixel_values"]
    out["target_sizes"] = torch.tensor(
        [[px.shape[-2] // ph, px.shape[-1] // pw]] * px.shape[0], dtype=torch.int32
    )
    if c.k.get("packed_pixels", True) and px.dim() == 4:
        n = px.shape[0] * (px.shape[-2] // ph) * (px.shape[-1] // pw)
        out["pixel_values"] = c.randn([1, px.shape[1], ph, n * pw])


def add_pixel_inputs(c: Ctx, main: str, out: dict) -> None:
    """Pixels in the layout the forward signature asks for (grid-flattened with ``image_grid_thw``
    or ``grid_thw``, patchified with ``spatial_shapes``, else images/video), then image and
    target sizes."""
    sig, cfg = c.sig, c.cfg
    pixel_key = c.pixel_key()
    if "image_grid_thw" in sig and (main == "pixel_values" or _has_vision(cfg, main)):
        out.update(_grid_pixels(c))
    elif "grid_thw" in sig and main in ("pixel_values", "hidden_states"):
        out.update(_tower_grid_pixels(c, main))
    elif "spatial_shapes" in sig and (main == "pixel_values" or _has_vision(cfg, main)):
        out.update(_patchified(c))
    elif main in ("pixel_values", "pixel_values_videos") or (pixel_key and _has_vision(cfg, main)):
        out[pixel_key or main] = _pixels(c, pixel_key or main)
    _add_image_sizes(c, out)
    _add_target_sizes(c, out)


def add_masked_patches(c: Ctx, out: dict) -> None:
    """``bool_masked_pos`` (half the patches, from a fixed seed) when forward requires it."""
    if "bool_masked_pos" in c.sig and _required(c.sig, "bool_masked_pos"):
        n = _num_patches(c)
        g = torch.Generator().manual_seed(1)
        m = torch.zeros(c.B, n, dtype=torch.bool)
        m[:, torch.randperm(n, generator=g)[: max(1, n // 2)]] = True
        out["bool_masked_pos"] = m


# --------------------------------------------------------------------------------------
# pixel layouts: pre-cut patches in the layout a vision tower's patch embedding reads

PIXEL_LAYOUTS = {
    "patch-rows": "(N, C*T*P*P): every image's patches flattened, one row per patch (Qwen2-VL)",
    "patches": "(N, C, [T,] P, P): the same patches unflattened, channels first",
    "patches-last": "(N, [T,] P, P, C): the same patches unflattened, channels last",
    "patch-sequence": "(1, N, C, [T,] P, P): every image's patches as one sequence",
    "merge-windows-last": "(N, P*M, P*M, C): one merge window of M x M patches per row, channels last",
    "image-patches": "(B, L, C*T*P*P): each image's L patches flattened, one sequence per image",
}
"""The ``pixel_layout`` knob's values. C channels, T temporal patch (an axis only when the
config has one above 1), P patch, M spatial merge. N = B * patches per image of the grid the
grid rule synthesizes (``grid`` knob, else 2*M x 2*M), so rows and ``image_grid_thw`` agree; L
= patches per image (``grid`` knob, else image_size / P per side, else 4 x 4)."""


def _image_patch_grid(c: Ctx, p: int) -> tuple[int, int]:
    size = find_attr(vision_cfg(c.cfg), ["image_size"], prefer=())
    if size is None:
        return _grid_hw(c, (4, 4))
    h, w = _hw(size)
    return _grid_hw(c, (h // p, w // p))


def _layout_shape(c: Ctx, layout: str) -> tuple[list[int], tuple[int, int]]:
    """The pixel tensor's shape in ``layout`` and the per-image patch grid it covers."""
    if layout not in PIXEL_LAYOUTS:
        raise TinyError(
            "input-synthesis", f"unknown pixel_layout {layout!r}; known: {', '.join(PIXEL_LAYOUTS)}"
        )
    ch, t, p, m = _patch_dims(vision_cfg(c.cfg))
    if layout == "image-patches":
        gh, gw = _image_patch_grid(c, p)
        return [c.B, gh * gw, ch * t * p * p], (gh, gw)
    gh, gw = _grid_hw(c, (2 * m, 2 * m))
    return _patch_shape(layout, c.B * gh * gw, ch, t, p, m), (gh, gw)


def _patch_shape(layout: str, n: int, ch: int, t: int, p: int, m: int) -> list[int]:
    """The shape of ``n`` patches in a grid ``layout`` (``PIXEL_LAYOUTS``)."""
    T = [t] if t > 1 else []
    shapes = {
        "patch-rows": [n, ch * t * p * p],
        "patches": [n, ch, *T, p, p],
        "patches-last": [n, *T, p, p, ch],
        "patch-sequence": [1, n, ch, *T, p, p],
        "merge-windows-last": [n, p * m, p * m, ch],
    }
    if layout not in shapes:
        raise TinyError("input-synthesis", f"pixel_layout {layout!r} has no video form")
    return shapes[layout]


def _patch_positions(B: int, gh: int, gw: int) -> torch.Tensor:
    """(B, gh*gw, 2): the (x, y) grid coordinates of each patch, row-major."""
    ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1).unsqueeze(0).repeat(B, 1, 1)


def add_pixel_layout(c: Ctx, out: dict) -> None:
    """The ``pixel_layout`` knob: pixels drawn as pre-cut patches (``PIXEL_LAYOUTS``), with what
    forward takes to place them and nothing gave yet: ``image_grid_hw`` (patch rows, columns per
    image) for the grid layouts, ``pixel_position_ids`` ((x, y) per patch) for image-patches.
    The pixels are drawn after the text, over whatever pixels the general rules drew, where
    record ``extra`` tensors are drawn (the hand-written shapes they replace were drawn there)."""
    layout = c.k.get("pixel_layout")
    if not layout:
        return
    shape, (gh, gw) = _layout_shape(c, layout)
    out[c.pixel_key() or "pixel_values"] = c.randn(shape)
    place = "pixel_position_ids" if layout == "image-patches" else "image_grid_hw"
    if place in c.sig and place not in out:
        if place == "image_grid_hw":
            out[place] = torch.tensor([[gh, gw]] * c.B)
        else:
            out[place] = _patch_positions(c.B, gh, gw)


# --------------------------------------------------------------------------------------
# video next to images: the multimodal LMs whose forward takes ``pixel_values_videos``

VIDEO_KEY = "pixel_values_videos"
VIDEO_FRAMES = 2
"""Frames per video (B, F, C, H, W) when neither the ``num_frames`` knob nor the vision (or
video) config says."""
VIDEO_TEMPORAL_PATCHES = 1
"""Temporal patches per video for a forward that reads videos as patches with
``video_grid_thw`` (``temporal_patch_size`` frames each) unless the ``num_frames`` knob says:
one, because Qwen3-VL-style models read every temporal patch as a frame of its own, separated
by timestamp tokens in the text, while one run of placeholders holds one temporal patch in
every such model."""


def takes_video(c: Ctx, main: str) -> bool:
    """The video rule: a forward whose main input is token ids, with a vision tower and a video
    placeholder token in the config, gets one video per sample in ``pixel_values_videos`` (next
    to its image, when it also takes ``pixel_values``). The ``video_inputs = false`` knob (with
    the reason in the type's data) leaves video out."""
    return (
        VIDEO_KEY in c.sig
        and main == "input_ids"
        and _has_vision(c.cfg, main)
        and c.k.get("video_inputs", True) is not False
        and not c.dropped(VIDEO_KEY)
        and isinstance(find_attr(c.cfg, ["video_token_id", "video_token_index"], prefer=()), int)
    )


def video_frames(c: Ctx, temporal_patch: int, default: int) -> int:
    """Frames per video: the ``num_frames`` knob, else the vision (or video) config's
    ``num_frames``, else ``default``; rounded up to whole temporal patches."""
    f = (
        _int(c.k.get("num_frames"), 0)
        or _int(find_attr(vision_cfg(c.cfg), ["num_frames"], prefer=()), 0)
        or _int(getattr(sub(c.cfg, "video_config"), "num_frames", None), 0)
        or default
    )
    return -(-f // temporal_patch) * temporal_patch


def _grid_video(c: Ctx) -> dict:
    """Qwen2-VL style video: every video's patches flattened (N, C*T*P*P), with
    ``video_grid_thw`` (videos, 3) = (temporal patches, rows, columns); the spatial grid is the
    one the image rule draws (``grid`` knob, else 2*merge x 2*merge); the temporal patches
    are a whole number of the vision config's ``temporal_merge_size`` (Ernie 4.5-VL merges
    that many into one token). Where the type draws its
    images as pre-cut patches (``pixel_layout``), its videos are cut the same way."""
    ch, t, p, m = _patch_dims(vision_cfg(c.cfg))
    gh, gw = _grid_hw(c, (2 * m, 2 * m))
    tm = _int(find_attr(vision_cfg(c.cfg), ["temporal_merge_size"], prefer=()), 1)
    gt = video_frames(c, t * tm, VIDEO_TEMPORAL_PATCHES * t) // t
    n = c.B * gt * gh * gw
    layout = c.k.get("pixel_layout")
    shape = _patch_shape(layout, n, ch, t, p, m) if layout else [n, ch * t * p * p]
    return {VIDEO_KEY: c.randn(shape), "video_grid_thw": torch.tensor([[gt, gh, gw]] * c.B)}


def _frame_video(c: Ctx) -> dict:
    """Video as frames (B, F, C, H, W), each frame drawn like the image rule's images."""
    h, w, ch = _image_dims(c)
    out = {VIDEO_KEY: c.randn([c.B, video_frames(c, 1, VIDEO_FRAMES), ch, h, w])}
    if "image_sizes_videos" in c.sig and not c.dropped("image_sizes_videos"):
        out["image_sizes_videos"] = torch.tensor([[h, w]] * c.B)
    return out


def video_inputs(c: Ctx) -> dict:
    """One video per sample, in the layout the forward reads: grid-flattened patches when it
    takes ``video_grid_thw``, else frames."""
    return _grid_video(c) if "video_grid_thw" in c.sig else _frame_video(c)
