"""Plugins: modules that register custom architectures with Transformers' Auto classes.

A plugin is any importable module that calls ``AutoConfig.register`` and
``AutoModel*.register`` at import time. After import, the registry sees the new types exactly as
it sees built-in ones. Plugins are imported, never downloaded: ``trust_remote_code`` stays off.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from ..errors import UsageError

_imported: dict[str, set[str]] = {}


def import_plugins(modules: Iterable[str]) -> set[str]:
    """Import each plugin module; return the model types registered beyond the built-in ones."""
    modules = list(modules)
    if not modules:
        return set()
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    before = set(CONFIG_MAPPING._extra_content)
    for name in modules:
        if name in _imported:
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            raise UsageError(
                f"plugin module {name!r} could not be imported ({e}). Check the name given to "
                "--plugin or [tool.hftestgen] plugins, and that it is on PYTHONPATH."
            ) from None
        except Exception as e:
            raise UsageError(
                f"plugin module {name!r} raised {type(e).__name__} while importing: {e}"
            ) from None
        _imported[name] = set(CONFIG_MAPPING._extra_content) - before
    return set(CONFIG_MAPPING._extra_content)
