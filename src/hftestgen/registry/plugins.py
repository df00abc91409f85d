"""Plugins: modules that register custom architectures with Transformers' Auto classes.

A plugin is any importable module that calls ``AutoConfig.register`` and
``AutoModel*.register`` at import time. After import, the registry sees the new types exactly as
it sees built-in ones. Plugins are imported, never downloaded: ``trust_remote_code`` stays off.

A generated file of a plugin type names its plugin module (``use_plugins``), so the generated
suite runs under plain ``pytest`` without ``--plugin`` or settings.
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


def plugin_module(model_type: str) -> str | None:
    """The module that registered plugin type ``model_type``: the imported plugin during whose
    import it appeared, else the module defining its config class (a plugin imported before
    ``import_plugins`` saw it); ``None`` for a type Transformers does not know."""
    for name, types in _imported.items():
        if model_type in types:
            return name
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    cls = CONFIG_MAPPING._extra_content.get(model_type)
    return getattr(cls, "__module__", None)


def plugin_class(class_name: str) -> type | None:
    """A model class registered through ``AutoModel*.register`` (a plugin's: not an attribute
    of ``transformers``) by its name, or ``None``."""
    from .derive import _lazy_model_mappings

    for mapping in _lazy_model_mappings().values():
        for model_cls in mapping._extra_content.values():
            for c in model_cls if isinstance(model_cls, (list, tuple)) else (model_cls,):
                if isinstance(c, type) and c.__name__ == class_name:
                    return c
    return None


_suite_plugins: list[str] = []


def use_plugins(*modules: str) -> None:
    """Called by a generated file of a plugin type at import: import its plugin module(s) and
    make the tiny engine resolve model types through a registry that has their types."""
    new = [m for m in modules if m not in _suite_plugins]
    if not new:
        return
    _suite_plugins.extend(new)
    from ..tiny.engine import use_registry
    from .derive import load_registry

    use_registry(load_registry(plugins=list(_suite_plugins)))
