"""The user's overrides file (TOML), validated with messages that name file, line, key and fix.

Format::

    [types.gpt2]
    family = "decoder-only"            # correct the derived family
    checkpoint = "openai-community/gpt2"  # the checkpoint run --pretrained loads (local cache only)
    skip = "needs a custom CUDA kernel"   # skip the type, with the reason reports will show

    [types.gpt2.tiny]                   # tiny config values, applied over the engine's defaults
    n_layer = 1
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .families import FAMILIES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TYPE_KEYS = {
    "family": str,
    "checkpoint": str,
    "skip": str,
    "tiny": dict,
}
TINY_VALUE_TYPES = (bool, int, float, str, list, dict)


@dataclass(frozen=True)
class TypeOverride:
    family: str | None = None
    checkpoint: str | None = None
    skip: str | None = None
    tiny: dict[str, Any] = field(default_factory=dict)


@dataclass
class Overrides:
    path: Path | None
    types: dict[str, TypeOverride]
    text: str = ""

    def check_types(self, known: Mapping[str, Any]) -> None:
        """Every overridden type must exist in the registry."""
        for mt in self.types:
            if mt not in known:
                close = difflib.get_close_matches(mt, list(known), n=3, cutoff=0.6)
                hint = (
                    f"did you mean {', '.join(repr(c) for c in close)}?"
                    if close
                    else ("run 'hftestgen list' for the known types")
                )
                raise ConfigError(
                    f"{self._where(f'[types.{_key(mt)}]', mt)}: unknown model type {mt!r}; {hint} "
                    "(remove the section or fix its name)"
                )

    def _where(self, header: str, model_type: str, key: str | None = None) -> str:
        return _locate(self.path, self.text, model_type, key)


def _key(mt: str) -> str:
    return mt if re.fullmatch(r"[A-Za-z0-9_-]+", mt) else f'"{mt}"'


def _locate(path: Path | None, text: str, model_type: str | None, key: str | None) -> str:
    """'file:line' of a model type's section (and key within it), best effort."""
    name = str(path) if path else "<overrides>"
    if not text or model_type is None:
        return name
    lines = text.splitlines()
    sec = None
    pat = re.compile(r"^\s*\[\s*types\s*\.\s*(\"?)" + re.escape(model_type) + r"\1\s*(\]|\.)")
    for i, line in enumerate(lines):
        if pat.match(line):
            sec = i
            break
    if sec is None:
        return name
    if key is None:
        return f"{name}:{sec + 1}"
    kpat = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=")
    for j in range(sec + 1, len(lines)):
        if lines[j].lstrip().startswith("[") and not lines[j].lstrip().startswith(
            f"[types.{model_type}.tiny"
        ):
            break
        if kpat.match(lines[j]):
            return f"{name}:{j + 1}"
    return f"{name}:{sec + 1}"


def load_overrides(path: Path | None) -> Overrides:
    if path is None or not path.exists():
        return Overrides(path=path, types={})
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read overrides file: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            f"{path}: not valid TOML: {e}. Fix the syntax at that position."
        ) from None
    return parse_overrides(data, path=path, text=text)


def parse_overrides(data: Mapping[str, Any], path: Path | None = None, text: str = "") -> Overrides:
    name = str(path) if path else "<overrides>"
    for top in data:
        if top != "types":
            raise ConfigError(
                f"{name}: unknown top-level key {top!r}; overrides go under [types.<model_type>] "
                "(e.g. [types.gpt2])"
            )
    types_tbl = data.get("types", {})
    if not isinstance(types_tbl, dict):
        raise ConfigError(f"{name}: 'types' must be a table of [types.<model_type>] sections")
    out: dict[str, TypeOverride] = {}
    for mt, tbl in types_tbl.items():
        where = _locate(path, text, mt, None)
        if not isinstance(tbl, dict):
            raise ConfigError(
                f"{where}: types.{mt} must be a table ([types.{_key(mt)}]), got {type(tbl).__name__}"
            )
        for k, v in tbl.items():
            kwhere = _locate(path, text, mt, k)
            if k not in TYPE_KEYS:
                close = difflib.get_close_matches(k, list(TYPE_KEYS), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"{kwhere}: [types.{_key(mt)}] unknown key {k!r} (allowed: "
                    f"{', '.join(sorted(TYPE_KEYS))}){hint}"
                )
            want = TYPE_KEYS[k]
            if not isinstance(v, want):
                raise ConfigError(
                    f"{kwhere}: [types.{_key(mt)}] {k} must be a "
                    f"{'string' if want is str else 'table'}, got {type(v).__name__} {v!r}"
                )
        fam = tbl.get("family")
        if fam is not None and fam not in FAMILIES:
            close = difflib.get_close_matches(fam, FAMILIES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{_locate(path, text, mt, 'family')}: [types.{_key(mt)}] family {fam!r} is not one "
                f"of {', '.join(FAMILIES)}{hint}"
            )
        skip = tbl.get("skip")
        if skip is not None and not skip.strip():
            raise ConfigError(
                f"{_locate(path, text, mt, 'skip')}: [types.{_key(mt)}] skip needs a non-empty "
                "reason (it is shown in every report)"
            )
        tiny = tbl.get("tiny", {})
        for tk, tv in tiny.items():
            if not isinstance(tv, TINY_VALUE_TYPES) or hasattr(tv, "isoformat"):
                raise ConfigError(
                    f"{_locate(path, text, mt, tk)}: [types.{_key(mt)}.tiny] {tk} must be a "
                    f"number, string, boolean, array or table, got {type(tv).__name__}"
                )
        out[mt] = TypeOverride(
            family=fam, checkpoint=tbl.get("checkpoint"), skip=skip, tiny=dict(tiny)
        )
    return Overrides(path=path, types=out, text=text)
