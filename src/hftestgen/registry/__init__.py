"""The registry: every model type of the installed Transformers (see ``derive``), with its family
(``families``), the per-type records (``records``), users' overrides (``overrides``) and plugin
architectures (``plugins``)."""

from .derive import (
    BASE_TASK,
    COMPONENT,
    NOT_TESTABLE,
    SKIPPED,
    TESTABLE,
    ModelSpec,
    Registry,
    base_specs,
    cache_dir,
    cache_path,
    derive_base,
    identifiers_for,
    load_registry,
)

__all__ = [
    "BASE_TASK",
    "COMPONENT",
    "NOT_TESTABLE",
    "SKIPPED",
    "TESTABLE",
    "ModelSpec",
    "Registry",
    "base_specs",
    "cache_dir",
    "cache_path",
    "derive_base",
    "identifiers_for",
    "load_registry",
]
