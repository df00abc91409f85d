"""Config reading for input synthesis: sub-configs, attributes found in them, special token ids.

Kept as they were in ``tiny/inputs.py``; ``hftestgen/configs.py`` is to take them over.
"""

from __future__ import annotations

import re


def _subcfgs(cfg) -> list:
    from transformers import PretrainedConfig

    return [v for k, v in vars(cfg).items() if isinstance(v, PretrainedConfig)]


def find_attr(cfg, names, prefer=("text_config", "decoder", "language_config", "llm_config", "text_encoder"), default=None, depth=0):
    """First attribute among ``names`` on cfg, else in preferred then other sub-configs."""
    for n in names:
        v = getattr(cfg, n, None)
        if v is not None and not callable(v):
            return v
    if depth > 3:
        return default
    from transformers import PretrainedConfig

    subs = []
    for k in prefer:
        v = getattr(cfg, k, None)
        if isinstance(v, PretrainedConfig):
            subs.append(v)
    subs += [s for s in _subcfgs(cfg) if s not in subs]
    for s in subs:
        v = find_attr(s, names, prefer, None, depth + 1)
        if v is not None:
            return v
    return default


def sub(cfg, *keys):
    for k in keys:
        v = getattr(cfg, k, None)
        if v is not None and not isinstance(v, (int, float, str, list, dict, bool)):
            return v
    return None


def text_cfg(cfg):
    try:
        t = cfg.get_text_config(decoder=True)
        if t is not None:
            return t
    except Exception:
        pass
    return sub(cfg, "text_config") or cfg


def vision_cfg(cfg):
    return sub(cfg, "vision_config", "vision_encoder_config", "image_config", "backbone_config", "encoder") or cfg


def special_ids(cfg, depth=0) -> set[int]:
    out: set[int] = set()
    for k, v in vars(cfg).items():
        if re.search(r"(_token_id|_token_index|_token_ids|_token)$", k) and "type" not in k:
            for x in v if isinstance(v, (list, tuple)) else [v]:
                if isinstance(x, int) and not isinstance(x, bool):
                    out.add(x)
    if depth < 3:
        for s in _subcfgs(cfg):
            out |= special_ids(s, depth + 1)
    return out


def _int(v, default):
    if isinstance(v, (list, tuple)) and v:
        v = v[0]
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else default


def _hw(v, default=32):
    if isinstance(v, (list, tuple)) and len(v) >= 2:
        return int(v[-2]), int(v[-1])
    if isinstance(v, dict):
        return int(v.get("height", default)), int(v.get("width", default))
    v = _int(v, default)
    return v, v
