"""Vision inputs: images and video frames, patchified (NaFlex), grid-flattened (Qwen2-VL) and
NaViT-packed pixels, image sizes, target sizes and masked-patch positions."""

from __future__ import annotations

import math

import torch

from ._cfg import _hw, _int, find_attr, vision_cfg
from .context import Ctx, _has_vision, _required


def _pixels(c: Ctx, key: str) -> torch.Tensor:
    cfg = c.cfg
    vc = vision_cfg(cfg)
    h, w = _hw(
        c.k.get("image_size")
        or find_attr(vc, ["image_size", "img_size", "input_size"], prefer=())
        or find_attr(cfg, ["image_size"]),
        32,
    )
    ch = int(
        c.k.get("num_channels")
        or _int(
            find_attr(vc, ["num_channels", "in_channels", "in_chans", "input_channels"], prefer=()),
            3,
        )
    )
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


def _grid_pixels(c: Ctx) -> dict:
    """Qwen2-VL style: flattened patches (N, C*T*P*P) plus image_grid_thw (images, 3)."""
    vc = vision_cfg(c.cfg)
    p = _int(find_attr(vc, ["patch_size"], prefer=()), 14)
    t = _int(find_attr(vc, ["temporal_patch_size", "patch_temporal"], prefer=()), 1)
    m = _int(find_attr(vc, ["spatial_merge_size", "merge_size"], prefer=()), 1)
    ch = _int(find_attr(vc, ["in_channels", "num_channels", "in_chans"], prefer=()), 3)
    g = int(c.k.get("grid", 2 * m))
    grid = torch.tensor([[1, g, g]] * c.B)
    n = c.B * g * g
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
    """``target_sizes`` (patch rows, patch columns per image); with ``packed_pixels`` the images
    are re-drawn NaViT-packed: every image's patches side by side in one (1, C, ph, n*pw) strip."""
    if not ("target_sizes" in c.sig and "pixel_values" in out and out["pixel_values"].dim() >= 4):
        return
    vc = vision_cfg(c.cfg)
    ph, pw = _hw(find_attr(vc, ["patch_size"], prefer=()), 16)
    px = out["pixel_values"]
    out["target_sizes"] = torch.tensor(
        [[px.shape[-2] // ph, px.shape[-1] // pw]] * px.shape[0], dtype=torch.int32
    )
    if c.k.get("packed_pixels") and px.dim() == 4:
        n = px.shape[0] * (px.shape[-2] // ph) * (px.shape[-1] // pw)
        out["pixel_values"] = c.randn([1, px.shape[1], ph, n * pw])


def add_pixel_inputs(c: Ctx, main: str, out: dict) -> None:
    """Pixels in the layout the forward signature asks for (grid-flattened with ``image_grid_thw``
    or ``grid_thw``, patchified with ``spatial_shapes``, else images/video), then image and
    target sizes."""
    sig, cfg = c.sig, c.cfg
    pixel_key = c.k.get("pixel_key") or ("pixel_values" if "pixel_values" in sig else None)
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
