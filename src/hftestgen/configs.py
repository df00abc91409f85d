"""Reading Transformers configs: fields, sub-configs, text / vision parts, aliases, token ids.

The one place that walks a config. A leaf module: it imports nothing from hftestgen, and
Transformers only lazily (``is_config``), so the registry, the tiny engine, input synthesis and
the checks all read configs the same way.

Names kept from ``hftestgen.tiny.inputs`` (same behaviour, so it can switch over): ``find_attr``,
``sub``, ``text_cfg`` (= ``text_config``), ``vision_cfg`` (= ``vision_config``), ``special_ids``,
and ``nested_configs`` for its ``_subcfgs``.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

TEXT_KEYS = ("text_config", "decoder", "language_config", "llm_config", "text_encoder")
"""Sub-config attributes that hold a text model, most preferred first (``find_attr``)."""
VISION_KEYS = (
    "vision_config",
    "vision_encoder_config",
    "image_config",
    "backbone_config",
    "encoder",
)
"""Sub-config attributes that hold the vision tower, most preferred first (``vision_config``)."""

TOKEN_FIELD = re.compile(r"(_token_id|_token_index|_token_ids|_id)$")
"""A field that may hold a token id (or a list of them) ..."""
NOT_TOKEN = re.compile(
    r"(layer|head|expert|label|type_id|block|group|stage|codebook|speaker|lang|position|segment|task)",
    re.I,
)
"""... unless it names one of these (layer ids, label ids, token type ids, ...)."""
SPECIAL_TOKEN = re.compile(r"(_token_id|_token_index|_token_ids|_token)$")
"""Attributes ``special_ids`` collects (``type`` ones excepted: token type ids)."""
PLACEHOLDER = re.compile(r"(image|video|audio|speech)_token_(id|index)")
"""Multimodal placeholder token fields (``fullmatch``): ids a processor inserts, never text."""


# ---------------------------------------------------------------------------------------------
# values


def is_int(v: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_config(v: Any) -> bool:
    """Whether ``v`` is a Transformers config instance."""
    from transformers import PretrainedConfig

    return isinstance(v, PretrainedConfig)


def safe_get(obj: Any, name: str, default: Any = None) -> Any:
    """``getattr`` that tolerates configs raising on derived attributes (per-layer properties)."""
    try:
        return getattr(obj, name, default)
    except Exception:
        return default


def cfg_int(config: Any, *names: str) -> int | None:
    """The first of ``names`` that ``config`` holds as an int, else ``None``."""
    for n in names:
        try:
            v = getattr(config, n)
        except Exception:
            continue
        if is_int(v):
            return v
    return None


# ---------------------------------------------------------------------------------------------
# a config class: fields, aliases, default instance


def field_defaults(cls: type) -> dict[str, Any]:
    """Field name -> class default of a config class (``inspect.Parameter.empty`` when it has
    none): dataclass fields (Transformers 5) or ``__init__`` parameters (4.x)."""
    out: dict[str, Any] = {}
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                try:
                    out[f.name] = f.default_factory()
                except Exception:
                    out[f.name] = None
            else:
                out[f.name] = inspect.Parameter.empty
        return out
    # 4.x: ``__init__`` parameters, and those of the parent config classes an ``__init__`` hands
    # its ``**kwargs`` to (4.57's BarkFineConfig takes three and passes hidden_size, num_layers,
    # ... on to BarkSubModelConfig); PretrainedConfig's own are no model fields
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass.__name__ == "PretrainedConfig" or not hasattr(klass, "model_type"):
            break
        params = inspect.signature(init).parameters
        for name, p in params.items():
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                out.setdefault(name, p.default)
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    return out


def std_names(cls: Any) -> dict[str, str]:
    """Field name -> standard name through ``attribute_map`` (GPT-2: ``n_embd`` ->
    ``hidden_size``)."""
    amap = getattr(cls, "attribute_map", {}) or {}
    return {v: k for k, v in amap.items() if isinstance(v, str)}


def resolve_aliases(cls: Any, values: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """``values`` with ``attribute_map`` aliases that are no field renamed to the field they
    stand for (``hidden_size = 8`` for GPT-2 -> ``n_embd = 8``); order: plain keys first."""
    amap = getattr(cls, "attribute_map", {}) or {}
    fields = set(fields)
    out = dict(values)
    for k in list(out):
        if k in amap and k not in fields and isinstance(amap[k], str):
            out[amap[k]] = out.pop(k)
    return out


def default_instance(cls: type) -> Any:
    """``cls()`` with warnings silenced, or ``None`` when the defaults do not build."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return cls()
        except Exception:
            return None


# ---------------------------------------------------------------------------------------------
# sub-configs


def declared_sub_configs(obj: Any) -> dict[str, Any]:
    """Sub-config key -> config class that a config (class or instance) declares in
    ``sub_configs``. Transformers 5 makes it a class property that reads as a dict on the class
    too; on 4.5x it is a plain ``property`` of the class, readable only on an instance (from a
    class, a static class-level dict is used, else nothing)."""
    try:
        v = obj.sub_configs
    except Exception:
        v = None
    if not isinstance(v, Mapping):
        v = inspect.getattr_static(obj, "sub_configs", None)
    return dict(v) if isinstance(v, Mapping) else {}


def nested_configs(cfg: Any) -> list:
    """Every config instance held as an attribute of ``cfg`` (``inputs._subcfgs``)."""
    return [v for v in vars(cfg).values() if is_config(v)]


def sub_configs(cfg: Any) -> dict[str, Any]:
    """Nested config instances of a config, by attribute name: declared sub-configs (``None``
    when unset) and any other ``*_config`` attribute holding a config."""
    out: dict[str, Any] = {}
    names = list(declared_sub_configs(cfg))
    for name in names + [k for k in vars(cfg) if k.endswith("_config") and k not in names]:
        v = getattr(cfg, name, None)
        if is_config(v):
            out[name] = v
        elif v is None and name in names:
            out[name] = None
    return out


def walk_subtypes(cfg: Any, depth: int = 0) -> set[tuple[str, str]]:
    """(model_type, attribute name) of every config nested in ``cfg``, recursively."""
    out: set[tuple[str, str]] = set()
    if depth > 4:
        return out
    for name, v in sub_configs(cfg).items():
        if v is None:
            continue
        mt = getattr(v, "model_type", "")
        if mt:
            out.add((mt, name))
        out |= walk_subtypes(v, depth + 1)
    return out


def sub_config_slots(cls: type, default_inst: Any) -> dict[str, tuple[Any, Any]]:
    """Sub-config key -> (the default instance's sub-config or ``None``, its
    ``sub_configs_defaults`` spec or ``None``; on 4.x, for a class without a default instance,
    its declared ``sub_configs`` class): declared slots first, then any other attribute of the
    default instance that holds a config."""
    out: dict[str, tuple[Any, Any]] = {}
    specs = getattr(cls, "sub_configs_defaults", None)
    if not specs and default_inst is None:
        # 4.x has no ``sub_configs_defaults``; a class whose defaults do not build (4.52's
        # MusicgenConfig() demands its three sub-configs) still declares its slots in
        # ``sub_configs`` (key -> config class, ``AutoConfig`` for any type)
        specs = declared_sub_configs(cls)
    specs = specs or {}
    for key, spec in specs.items():
        inst = safe_get(default_inst, key) if default_inst is not None else None
        out[key] = (inst if is_config(inst) else None, spec)
    if default_inst is not None:
        for key, v in vars(default_inst).items():
            if key not in out and is_config(v):
                out[key] = (v, None)
    return out


def sub(cfg: Any, *keys: str) -> Any:
    """The first of ``keys`` that ``cfg`` holds as an object (a sub-config), else ``None``."""
    for k in keys:
        v = getattr(cfg, k, None)
        if v is not None and not isinstance(v, (int, float, str, list, dict, bool)):
            return v
    return None


def text_part(cfg: Any) -> Any:
    """``cfg.get_text_config(decoder=True)``, or ``None`` where that is missing or raises."""
    try:
        return cfg.get_text_config(decoder=True)
    except Exception:
        return None


def text_config(cfg: Any) -> Any:
    """The text (decoder) part of a config: ``get_text_config(decoder=True)``, else its
    ``text_config`` sub-config, else the config itself."""
    t = text_part(cfg)
    return t if t is not None else sub(cfg, "text_config") or cfg


def vision_config(cfg: Any) -> Any:
    """The vision tower's config (first of ``VISION_KEYS``), else the config itself."""
    return sub(cfg, *VISION_KEYS) or cfg


text_cfg = text_config
vision_cfg = vision_config


def find_attr(
    cfg: Any,
    names: Iterable[str],
    prefer: Iterable[str] = TEXT_KEYS,
    default: Any = None,
    depth: int = 0,
) -> Any:
    """The first of ``names`` that ``cfg`` sets (not ``None``, not callable), else the first
    found in its sub-configs: those named in ``prefer`` first, then the others, depth first."""
    for n in names:
        v = getattr(cfg, n, None)
        if v is not None and not callable(v):
            return v
    if depth > 3:
        return default
    subs = [v for v in (getattr(cfg, k, None) for k in prefer) if is_config(v)]
    subs += [s for s in nested_configs(cfg) if s not in subs]
    for s in subs:
        v = find_attr(s, names, prefer, None, depth + 1)
        if v is not None:
            return v
    return default


# ---------------------------------------------------------------------------------------------
# token ids


def is_token_field(name: str) -> bool:
    """Whether a config field may hold token ids (``pad_token_id``, ``image_token_index``,
    ``eos_token_ids``, ``decoder_start_token_id``) rather than another kind of id."""
    return bool(TOKEN_FIELD.search(name)) and not NOT_TOKEN.search(name)


def token_ids(config: Any, depth: int = 0) -> dict[str, int]:
    """Every int ``*_token_id`` / ``*_token_index`` of a config and its sub-configs (the outer
    config's value wins for a name both set)."""
    out: dict[str, int] = {}
    if config is None or depth > 3:
        return out
    for k, v in vars(config).items():
        if (k.endswith("_token_id") or k.endswith("_token_index")) and isinstance(v, int):
            out.setdefault(k, v)
        elif is_config(v):
            for kk, vv in token_ids(v, depth + 1).items():
                out.setdefault(kk, vv)
    return out


def placeholder_ids(config: Any) -> list[int]:
    """Sorted ids of multimodal placeholder tokens (image/video/audio/speech) set anywhere in a
    config."""
    ids = token_ids(config)
    return sorted({v for n, v in ids.items() if PLACEHOLDER.fullmatch(n) and v >= 0})


def special_ids(cfg: Any, depth: int = 0) -> set[int]:
    """Every id a config and its sub-configs name as a special token (bos/eos/pad, placeholders,
    ``*_token`` ids; lists included; token type ids excluded)."""
    out: set[int] = set()
    for k, v in vars(cfg).items():
        if SPECIAL_TOKEN.search(k) and "type" not in k:
            for x in v if isinstance(v, (list, tuple)) else [v]:
                if is_int(x):
                    out.add(x)
    if depth < 3:
        for s in nested_configs(cfg):
            out |= special_ids(s, depth + 1)
    return out


def special_ids_with_aliases(config: Any, depth: int = 0) -> set[int]:
    """``special_ids`` plus the token ids behind ``attribute_map`` aliases and properties
    (``image_token_id`` -> ``image_patch_id``), which hold placeholder ids too."""
    out = special_ids(config) if depth == 0 else set()
    cls = type(config)
    names = set(getattr(cls, "attribute_map", None) or {})
    names |= {n for n in dir(cls) if isinstance(getattr(cls, n, None), property)}
    for n in sorted(names):
        if not SPECIAL_TOKEN.search(n) or "type" in n:
            continue
        try:
            v = getattr(config, n)
        except Exception:
            continue
        for x in v if isinstance(v, (list, tuple)) else [v]:
            if is_int(x):
                out.add(x)
    if depth < 3:
        for v in vars(config).values():
            if is_config(v):
                out |= special_ids_with_aliases(v, depth + 1)
    return out
