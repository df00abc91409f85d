"""pytest plugin: the ``hf_tiny`` fixture, tiny Transformers checkpoints for your own tests.

Registered as a ``pytest11`` entry point named like the module (``hftestgen.pytest_tiny``), so
installing hftestgen makes the fixture available in every pytest run, and an explicit
``-p hftestgen.pytest_tiny`` or ``pytest_plugins = ["hftestgen.pytest_tiny"]`` does not register
it twice (``-p no:hftestgen.pytest_tiny`` turns it off)::

    def test_my_engine(hf_tiny):
        path = hf_tiny("llama")                    # the type's primary class
        path = hf_tiny("bert", cls="BertForMaskedLM")
        model = AutoModelForMaskedLM.from_pretrained(path)

``hf_tiny(model_type, cls=None)`` returns the ``Path`` of a checkpoint folder
(``hftestgen.tiny.checkpoint.save_tiny``: config, safetensors weights and the synthesized
preprocessing files), built once and cached on disk under ``$HFTESTGEN_TINY_CACHE``, else the
``hftestgen_tiny_cache`` ini option, else ``$XDG_CACHE_HOME/hftestgen/tiny`` (default
``~/.cache/hftestgen/tiny``). The cache key is the model type, the class and the installed
hftestgen, Transformers, torch and tokenizers versions, so upgrading any of them builds anew.

Safe under pytest-xdist and across concurrent runs: a file lock per key (``filelock``, which
huggingface_hub already depends on) makes one process build while the others wait, and the
finished folder appears atomically (built in a temporary folder, then renamed).

An unknown model type or class fails the test with one message (no traceback) naming close
matches and ``hftestgen list``; without torch or transformers the test is skipped.

This module is imported by pytest at start-up for every run in the environment: it imports
only the standard library and pytest here; hftestgen's builder, torch and Transformers are
imported when the fixture is first called.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

CACHE_ENV = "HFTESTGEN_TINY_CACHE"
CACHE_INI = "hftestgen_tiny_cache"
LOCK_TIMEOUT_ENV = "HFTESTGEN_TINY_LOCK_TIMEOUT"  # seconds a process waits for another's build
LOCK_TIMEOUT = 900.0
META = "hftestgen-tiny.json"  # in each cached folder: what it was built from
KEY_FORMAT = 1  # bump when the folder layout changes, so old caches are not reused
VERSIONED = ("hftestgen", "transformers", "torch", "tokenizers")
REQUIRED = ("torch", "transformers")


class TinyUsageError(Exception):
    """A model type or class ``hf_tiny`` cannot build (unknown, not testable)."""


def default_cache_root(ini_value: str | None = None) -> Path:
    """Where the checkpoints live: ``$HFTESTGEN_TINY_CACHE``, the ini option, else the user
    cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    if ini_value:
        return Path(ini_value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hftestgen" / "tiny"


def versions() -> dict[str, str]:
    """The installed versions the checkpoints depend on (read from package metadata: nothing
    is imported)."""
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "none"
    return out


def cache_key(model_type: str, cls: str | None, vers: dict[str, str] | None = None) -> str:
    """The folder name of one checkpoint: readable type/class, then a hash of everything the
    checkpoint depends on."""
    vers = versions() if vers is None else vers
    blob = json.dumps(
        {"format": KEY_FORMAT, "model_type": model_type, "class": cls, "versions": vers},
        sort_keys=True,
    )
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model_type}-{cls or 'primary'}")[:80]
    return f"{readable}-{digest}"


def _build(model_type: str, cls: str | None, out: Path) -> dict[str, Any]:
    """Build the checkpoint into the new folder ``out`` (the default registry: no overrides
    file, no plugins); what was built, for the folder's metadata."""
    from .errors import UsageError
    from .tiny.checkpoint import save_tiny, tiny_target
    from .tiny.engine import _registry

    try:
        spec, name = tiny_target(_registry(), model_type, cls)
    except UsageError as e:
        raise TinyUsageError(str(e)) from None
    saved = save_tiny(spec.model_type, name, out, tiny=dict(spec.tiny or {}))
    return {
        "class": saved.class_name,
        "files": list(saved.files),
        "preprocessing": list(saved.preprocessing),
        "skipped": saved.skipped,
        "errors": saved.errors,
    }


def _lock(path: Path, timeout: float):
    from filelock import FileLock  # a dependency of huggingface_hub, hence of Transformers

    return FileLock(str(path), timeout=timeout)


def tiny_checkpoint(
    model_type: str,
    cls: str | None = None,
    root: Path | None = None,
    builder: Callable[[str, str | None, Path], dict] | None = None,
) -> Path:
    """The cached checkpoint folder for ``model_type`` / ``cls``, built on first use.

    Several processes asking for the same key: one builds (under the key's file lock), the
    others wait and reuse its folder. ``builder`` (tests) replaces ``_build``."""
    root = Path(root) if root is not None else default_cache_root()
    key = cache_key(model_type, cls)
    final = root / key
    if (final / META).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    timeout = float(os.environ.get(LOCK_TIMEOUT_ENV, LOCK_TIMEOUT))
    with _lock(root / f".{key}.lock", timeout):
        if (final / META).is_file():  # built by another process while we waited
            return final
        if final.exists():  # a folder without metadata: not ours, never half-written
            shutil.rmtree(final)
        for stale in root.glob(f".{key}.*.tmp"):  # builds run under the lock: a crashed one
            shutil.rmtree(stale, ignore_errors=True)
        work = root / f".{key}.{os.getpid()}.tmp"
        work.mkdir()
        try:
            info = (builder or _build)(model_type, cls, work / "ckpt")
            meta = {
                "model_type": model_type,
                "requested_class": cls,
                **info,
                "versions": versions(),
                "built_by_pid": os.getpid(),
                "built_at": time.time(),
            }
            (work / "ckpt" / META).write_text(json.dumps(meta, indent=1, sort_keys=True))
            os.replace(work / "ckpt", final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


# ---------------------------------------------------------------------------------------------
# pytest hooks and the fixture


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        CACHE_INI,
        "hf_tiny: folder for cached tiny checkpoints (default: $HFTESTGEN_TINY_CACHE, else "
        "~/.cache/hftestgen/tiny)",
        default="",
    )


def _missing_stack() -> str | None:
    from importlib.util import find_spec

    for name in REQUIRED:
        try:
            if find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


@pytest.fixture(scope="session")
def hf_tiny(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``hf_tiny(model_type, cls=None) -> Path``: a tiny random checkpoint folder of the
    model type (its primary class, or ``cls``) that ``from_pretrained`` and ``pipeline`` load
    offline; built once, cached on disk across sessions and pytest-xdist workers."""
    root = default_cache_root(request.config.getini(CACHE_INI) or None)
    seen: dict[tuple[str, str | None], Path] = {}
    failed: dict[tuple[str, str | None], str] = {}

    def get(model_type: str, cls: str | None = None) -> Path:
        key = (model_type, cls)
        if key in seen:
            return seen[key]
        if key in failed:
            pytest.fail(failed[key], pytrace=False)
        missing = _missing_stack()
        if missing:
            pytest.skip(f"missing package: {missing} (hf_tiny needs torch and transformers)")
        try:
            seen[key] = tiny_checkpoint(model_type, cls, root)
        except TinyUsageError as e:
            failed[key] = f"hf_tiny({model_type!r}, cls={cls!r}): {e}"
        if key in failed:  # outside the except: no chained exception in the report
            pytest.fail(failed[key], pytrace=False)
        return seen[key]

    return get
