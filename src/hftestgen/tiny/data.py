"""Per-type knowledge as data: TOML files under ``overrides/``.

Each file holds tables keyed by model type::

    ["donut-swin"]
    reason = "one line: why the general rules are not enough"
    config = { embed_dim = 32 }            # tiny config values (nested tables for sub-configs)
    inputs = { seq_len = 16 }              # input-synthesis knobs (see inputs.py)
    classes = { FooForBar = { config = {...}, inputs = {...} } }   # per model class

    ["class:FooForBar"]                    # a model class, in whichever types list it
    unsupported = "why"                    # known not buildable offline (category unsupported)
    upstream_bug = "why"                   # known bug in Transformers (category upstream-bug)

Several files so that several people can edit different families at once; a type may appear
in one file only (checked at load).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import tomllib

DIR = Path(__file__).parent / "overrides"
ALLOWED = {"reason", "config", "inputs", "classes", "unsupported", "upstream_bug", "missing_package", "max_params"}


DUPLICATES: list[str] = []  # problems: "type: file1, file2", missing reason, unknown keys (tests assert empty)


@lru_cache(maxsize=1)
def load_data() -> dict[str, dict[str, Any]]:
    """All entries; a type defined in two files keeps the later file's entry and is recorded
    in DUPLICATES (files are edited concurrently: a collision must not stop every build)."""
    out: dict[str, dict[str, Any]] = {}
    where: dict[str, str] = {}
    DUPLICATES.clear()
    for path in sorted(DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        for mt, entry in data.items():
            if mt in out:
                DUPLICATES.append(f"{mt}: {where[mt]}, {path.name}")
            if not isinstance(entry, dict) or not entry.get("reason"):
                DUPLICATES.append(f"{mt}: {path.name}: needs a one-line `reason`")
                if not isinstance(entry, dict):
                    continue
            unknown = set(entry) - ALLOWED
            if unknown:
                DUPLICATES.append(f"{mt}: {path.name}: unknown keys {sorted(unknown)}")
            out[mt] = entry
            where[mt] = path.name
    return out


def entry_for(model_type: str, class_name: str | None = None) -> dict[str, Any]:
    """Merged entry: type-level, then class-level ``classes.<ClassName>`` on top."""
    from .config import _merge

    data = load_data()
    e = _merge(dict(data.get(f"class:{class_name}", {})), dict(data.get(model_type, {})))
    cls = (e.pop("classes", {}) or {}).get(class_name or "", {})
    if cls:
        from .config import _merge

        e = _merge(e, cls)
    return e
