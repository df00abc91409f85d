"""Default pretrained checkpoint ids per model type, derived from Transformers' own docs.

Nothing here is a hand-written list. For each model type of the registry, in this order:

1. ``config-docstring``: the hub link in its config class's docstring whose text is its id
   (``[google-bert/bert-base-uncased](https://huggingface.co/google-bert/bert-base-uncased)``).
   5.x builds that sentence with ``auto_docstring``; 4.5x config docstrings are written by hand
   with the same links. (Transformers' own ``get_checkpoint_from_config_class`` reads it the
   same way; a docstring built without a checkpoint says ``[None](...)``, which is no id.)
2. ``auto_docstring``: the ``checkpoint="..."`` argument of the ``@auto_docstring`` decorating
   the config class in its module's source (5.x classes with their own intro text).
3. ``config-module``: such a link in another docstring of the config module (a composite or
   component config beside the one that names it: 4.57's ``musicgen``), else the module's first
   ``@auto_docstring(checkpoint="...")`` (5.x ``mimi_decoder``).
4. ``_CHECKPOINT_FOR_DOC``: the constant of the type's modeling module source (4.5x, a few
   5.x modules), else the first ``@auto_docstring(checkpoint="...")`` in that source.

Sources are read as text (no modeling module is imported); the config classes are imported.
The result is cached as JSON beside the registry cache (same Transformers installation key).
A user's overrides file sets a type's checkpoint (``[types.X] checkpoint = "org/name"``): it
wins over the derived one (``ModelSpec.checkpoint`` / ``Case.checkpoint``).

``pretrained_path`` resolves a checkpoint's snapshot folder in the local Hugging Face cache,
never over the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

CONFIG_DOCSTRING = "config-docstring"
AUTO_DOCSTRING = "auto_docstring"
CONFIG_MODULE = "config-module"
CHECKPOINT_FOR_DOC = "_CHECKPOINT_FOR_DOC"
OVERRIDES = "overrides"
SOURCES = (CONFIG_DOCSTRING, AUTO_DOCSTRING, CONFIG_MODULE, CHECKPOINT_FOR_DOC)
SOURCE_TEXT = {
    CONFIG_DOCSTRING: "its config class's docstring",
    AUTO_DOCSTRING: "@auto_docstring(checkpoint=...) in Transformers' source",
    CONFIG_MODULE: "a sibling config's docstring in its config module",
    CHECKPOINT_FOR_DOC: "_CHECKPOINT_FOR_DOC of its modeling module",
    OVERRIDES: "the overrides file",
}

_LINK = re.compile(r"\[([^\]\s]+?)\]\((https://huggingface\.co/[^)\s]+?)\)")
_DECORATOR_CHECKPOINT = re.compile(
    r"@auto_docstring\((?:[^()]|\([^()]*\))*?checkpoint=\"([^\"]+)\""
)
_CHECKPOINT_FOR_DOC = re.compile(r"^_CHECKPOINT_FOR_DOC\s*=\s*[\"']([^\"']+)[\"']", re.M)
_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def fetch_hint(checkpoint: str) -> str:
    """How to put ``checkpoint`` into the local cache (the only step that needs the network)."""
    return (
        f"hf download {checkpoint} (huggingface-cli download {checkpoint} with "
        "huggingface_hub < 1.0)"
    )


# ----------------------------------------------------------------------------------------
# deriving


def from_docstring(doc: str | None) -> str | None:
    """The first hub link of ``doc`` whose text is its id (``[org/name](https://huggingface.co/
    org/name)``); ``None`` when there is none."""
    for name, link in _LINK.findall(doc or ""):
        # 4.5x typos quote the id inside the link (`"[org/name"](https://huggingface.co/org/name")`)
        name, link = name.strip('"'), link.replace('"', "")
        if link.removesuffix("/") == f"https://huggingface.co/{name}" and _valid(name):
            return name
    return None


def _valid(name: str) -> bool:
    return name != "None" and bool(_ID.match(name))


def _class_decorator_checkpoint(source: str, class_name: str) -> str | None:
    """``checkpoint=`` of the ``@auto_docstring`` decorating ``class class_name(``."""
    at = re.search(rf"^class {re.escape(class_name)}\b", source, re.M)
    if at is None:
        return None
    head = "\n" + source[: at.start()]
    start = head.rfind("\n@auto_docstring(")
    if start < 0 or re.search(r"^(class|def) ", head[start:], re.M):
        return None  # not decorated by it: the nearest one belongs to another definition
    return _first_decorator_checkpoint(head[start:])


def _first_decorator_checkpoint(source: str) -> str | None:
    for m in _DECORATOR_CHECKPOINT.finditer(source):
        if _valid(m.group(1)):
            return m.group(1)
    return None


def _source(module: str) -> str:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return ""
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return ""
    try:
        return Path(spec.origin).read_text(encoding="utf-8")
    except OSError:
        return ""


def _config_class(model_type: str, config_class: str) -> Any:
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING, CONFIG_MAPPING_NAMES

    if model_type in CONFIG_MAPPING_NAMES:
        try:
            return CONFIG_MAPPING[model_type]
        except Exception:  # a config module that does not import here
            return None
    try:
        return getattr(transformers, config_class, None)
    except Exception:
        return None


def derive_one(model_type: str, config_class: str) -> tuple[str, str] | None:
    """(checkpoint id, source) of one type, or ``None``; sources in ``SOURCES`` order."""
    cls = _config_class(model_type, config_class)
    if cls is None:
        return None
    found = from_docstring(getattr(cls, "__doc__", None))
    if found:
        return found, CONFIG_DOCSTRING
    module = getattr(cls, "__module__", "") or ""
    config_source = _source(module)
    found = _class_decorator_checkpoint(config_source, cls.__name__)
    if found:
        return found, AUTO_DOCSTRING
    # a composite or component config beside the one that names it (4.57's MusicgenConfig
    # beside MusicgenDecoderConfig, 5.x's MimiDecoderConfig beside MimiConfig)
    found = from_docstring(config_source)
    if found:
        return found, CONFIG_MODULE
    found = _first_decorator_checkpoint(config_source)
    if found:
        return found, AUTO_DOCSTRING
    if ".configuration_" in module:
        modeling = _source(module.replace(".configuration_", ".modeling_"))
        m = _CHECKPOINT_FOR_DOC.search(modeling)
        if m and _valid(m.group(1)):
            return m.group(1), CHECKPOINT_FOR_DOC
        found = _first_decorator_checkpoint(modeling)
        if found:
            return found, AUTO_DOCSTRING
    return None


def derive_checkpoints(specs: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """{model type: (checkpoint id, source)} for the types of ``specs`` (registry spec dicts)
    that name one."""
    out: dict[str, tuple[str, str]] = {}
    for s in specs:
        got = derive_one(s["model_type"], s["config_class"])
        if got:
            out[s["model_type"]] = got
    return out


def _cache_file() -> Path:
    from .derive import cache_dir, cache_path

    h = hashlib.sha256(cache_path().name.encode())
    h.update(Path(__file__).read_bytes())
    return cache_dir() / f"checkpoints-{h.hexdigest()[:16]}.json"


@lru_cache(maxsize=1)
def _derived(use_cache: bool = True) -> dict[str, tuple[str, str]]:
    from .._io import atomic_write_text
    from .derive import base_specs

    path = _cache_file()
    if use_cache and path.is_file():
        try:
            return {k: (v[0], v[1]) for k, v in json.loads(path.read_text()).items()}
        except (OSError, ValueError, IndexError, TypeError, AttributeError):
            pass  # corrupt cache: derive again
    _, specs = base_specs(use_cache=use_cache)
    out = derive_checkpoints(specs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({k: list(v) for k, v in sorted(out.items())}))
    except OSError:
        pass  # a read-only home must not stop anyone
    return out


def checkpoints(use_cache: bool = True) -> dict[str, str]:
    """{model type: default checkpoint id} for every built-in type whose docs name one."""
    return {k: v[0] for k, v in _derived(use_cache).items()}


def checkpoint_for(model_type: str) -> str | None:
    """The default checkpoint id of ``model_type`` derived from Transformers' docs, or None."""
    got = _derived().get(model_type)
    return got[0] if got else None


def checkpoint_source(model_type: str) -> str | None:
    """Where ``checkpoint_for`` found the id (one of ``SOURCES``), or None."""
    got = _derived().get(model_type)
    return got[1] if got else None


def resolve(model_type: str, override: str | None = None) -> tuple[str | None, str | None]:
    """(checkpoint id, source): the user's override (``[types.X] checkpoint``) first, then the
    derived one."""
    if override:
        return override, OVERRIDES
    got = _derived().get(model_type)
    return got if got else (None, None)


# ----------------------------------------------------------------------------------------
# the local cache


def snapshot_dir(checkpoint: str, cache_dir: str | Path | None = None) -> Path | None:
    """The snapshot folder of ``checkpoint`` in the local Hugging Face cache (``$HF_HUB_CACHE``,
    else ``$HF_HOME/hub``, else the default), or None when it is not there. Never downloads."""
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(checkpoint, cache_dir=_hub_cache(cache_dir), local_files_only=True)
        )
    except Exception:  # LocalEntryNotFoundError, an invalid id, a broken cache entry
        return None


def _hub_cache(cache_dir: str | Path | None) -> str | None:
    """The cache folder from the environment as it is now (huggingface_hub reads it once, at
    import), so a process that sets ``HF_HUB_CACHE`` / ``HF_HOME`` later is still honoured."""
    import os

    if cache_dir is not None:
        return str(cache_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def pretrained_path(
    model_type: str, checkpoint: str | None = None, cache_dir: str | Path | None = None
) -> Path | None:
    """The local snapshot folder of ``model_type``'s checkpoint (``checkpoint``, an override,
    else the derived one), for ``from_pretrained`` of models, tokenizers and processors with
    ``local_files_only=True``; None when the type has no checkpoint or it is not cached."""
    ckpt, _ = resolve(model_type, checkpoint)
    return snapshot_dir(ckpt, cache_dir) if ckpt else None
