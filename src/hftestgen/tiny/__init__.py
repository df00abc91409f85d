"""Tiny models, offline: ``build(model_type, class_name)`` -> ``Built`` (model, config, task, inputs()).

See docs/ARCHITECTURE.md. General rules live in ``config.py`` (sizes, then invariant repairs
named in its ``REPAIRS`` table) and ``inputs/`` (inputs per modality); reading configs is
``hftestgen.configs``; per-type knowledge is data in the type's record
(``hftestgen/registry/types/<type>.toml``).
"""

from .engine import MAX_PARAMS, TARGET_PARAMS, Built, build
from .errors import CATEGORIES, TinyError

__all__ = ["build", "Built", "TinyError", "CATEGORIES", "MAX_PARAMS", "TARGET_PARAMS"]
