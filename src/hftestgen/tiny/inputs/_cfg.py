"""Config reading for input synthesis: ``hftestgen.configs`` (the one module that reads configs),
plus two value helpers for sizes that configs spell as ints, lists or dicts."""

from __future__ import annotations

from ...configs import find_attr, special_ids, sub, text_cfg, vision_cfg
from ...configs import nested_configs as _subcfgs

__all__ = ["_hw", "_int", "_subcfgs", "find_attr", "special_ids", "sub", "text_cfg", "vision_cfg"]


def _int(v, default):
    """``v`` (or its first item) when it is a positive int, else ``default``."""
    if isinstance(v, (list, tuple)) and v:
        v = v[0]
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else default


def _hw(v, default=32):
    """(height, width) from an int, a [.., h, w] list or a {height, width} dict."""
    if isinstance(v, (list, tuple)) and len(v) >= 2:
        return int(v[-2]), int(v[-1])
    if isinstance(v, dict):
        return int(v.get("height", default)), int(v.get("width", default))
    v = _int(v, default)
    return v, v
