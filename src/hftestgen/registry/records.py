"""Per-type records: everything hftestgen knows about one model type (or one model class shared
by several types) that no general rule derives. Data, never ``if model_type == ...`` code.

One TOML file per subject, named by what it holds:

* ``registry/types/<model_type>.toml``: one model type;
* ``registry/classes/<ClassName>.toml``: one model class, wherever a type lists it (e.g. a head
  that several types register).

Format (every key optional; see ``TinyData`` and ``Known`` for what each one means)::

    reason = "why the tiny data below is needed: the model, the constraint, where"
    extends = "musicgen"         # start from another type's [tiny] (a sibling model's copy)

    [tiny]                       # for every class of the type
    config = { embed_dim = 32 }  # tiny-config values (nested tables for sub-configs)
    inputs = { seq_len = 16 }    # input-synthesis knobs (see hftestgen.tiny.inputs)
    max_params = 6_000_000       # a higher parameter cap
    unsupported = "why"          # cannot be built/run offline: the tests skip with this reason
    missing_package = "timm"     # needs a package that cannot be installed here
    upstream_bug = "why"         # the build itself hits a Transformers bug
    transformers = ">=5.0"       # only for these Transformers versions (PEP 440)

    [classes.FooForBar]          # the same keys, for one model class, over [tiny]
    like = "BarForBar"           # start from another class's table (this record or the one
                                 # it extends) instead of repeating it

    [[known]]                    # an explained exception to the generated checks
    checks = ["generate"]
    kind = "upstream-bug"        # or "not-applicable"
    reason = "the model, the symptom, and where (file: function)"
    classes = ["FooForBar"]      # default: every class
    match = { exception = "AttributeError", message = "has no attribute 'x'" }
    transformers = "<5.25"

One loader (``load_records``) and one validator: every problem is a ``RecordError`` naming
``file:line``, the key and the fix. Records for model types the installed Transformers does not
have are kept (other versions use them) and simply never looked up.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parent
TYPES_DIR = ROOT / "types"
CLASSES_DIR = ROOT / "classes"

KINDS = ("upstream-bug", "not-applicable")
PIPELINE_COLUMN = re.compile(r"pipeline:[a-z][a-z-]*")
CHECK_FAILURE = "CheckFailure"
"""``match.exception`` for a check's own verdict (the check ran and found a violated property),
as opposed to an exception the model code raised."""


class RecordError(ConfigError):
    """A record file that does not validate; the message starts with ``file:line``."""


@dataclass(frozen=True)
class Matcher:
    """What a known failure looks like; a failure that does not match is not excused."""

    exception: str | None = None
    """Class name of the raised exception (``AttributeError``), or ``CheckFailure`` when the
    check's own assertion failed."""
    message: str | None = None
    """Regular expression searched (``re.search``) in the failure message."""

    def matches(self, exception: str, message: str) -> bool:
        if self.exception is not None and self.exception != exception:
            return False
        return self.message is None or re.search(self.message, message) is not None

    def describe(self) -> str:
        parts = [self.exception or "any exception"]
        if self.message is not None:
            parts.append(f"message ~ /{self.message}/")
        return ", ".join(parts)


@dataclass(frozen=True)
class Known:
    """An explained exception to one or more generated checks."""

    checks: tuple[str, ...]
    """The checks it applies to (names from ``hftestgen.checks.table``)."""
    kind: str
    """``not-applicable``: the model's documented design makes the property false, so the check
    is skipped with the reason. ``upstream-bug``: a Transformers bug; the check still runs, a
    failure that ``match`` matches is an xfail, a pass fails ("fixed upstream: remove the
    entry")."""
    reason: str
    """One line shown in every report: the model, the symptom, and where (file: function)."""
    classes: tuple[str, ...] = ()
    """Model classes it applies to; empty means every class of the type."""
    match: Matcher | None = None
    """How the failure looks (required for ``upstream-bug``)."""
    transformers: str | None = None
    """PEP 440 version range of Transformers where the entry holds; ``None``: every version."""

    def applies(self, check: str, model_class: str | None) -> bool:
        return check in self.checks and (not self.classes or model_class in self.classes)


@dataclass(frozen=True)
class TinyData:
    """Tiny-model knowledge for a type (``[tiny]``) or one of its classes (``[classes.X]``)."""

    config: Mapping[str, Any] = field(default_factory=dict)
    """Tiny-config values over the engine's shrunk defaults (nested tables for sub-configs)."""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    """Input-synthesis knobs (``hftestgen.tiny.inputs``)."""
    max_params: int | None = None
    """A parameter cap above the engine's default, for models that cannot be made smaller."""
    unsupported: str | None = None
    """Why this cannot be built or run offline (tests skip, category ``unsupported``)."""
    missing_package: str | None = None
    """A package it needs that cannot be installed here (tests skip naming it)."""
    upstream_bug: str | None = None
    """A Transformers bug that stops the build itself (category ``upstream-bug``)."""
    transformers: str | None = None
    """PEP 440 version range of Transformers where this data holds."""
    like: str | None = None
    """(class tables only) the class whose table this one starts from: in the same record, or
    in the record it ``extends``."""

    def as_dict(self) -> dict[str, Any]:
        """The non-empty fields, as rendered into a generated file's ``CASE``."""
        out: dict[str, Any] = {}
        for name in TINY_KEYS:
            v = getattr(self, name)
            if v not in (None, {}, ()):
                out[name] = dict(v) if isinstance(v, Mapping) else v
        return out


TINY_KEYS = (
    "config",
    "inputs",
    "max_params",
    "unsupported",
    "missing_package",
    "upstream_bug",
    "transformers",
)


@dataclass(frozen=True)
class Record:
    """Everything known about one model type (or one shared model class)."""

    subject: str
    """The model type (``types/``) or model class (``classes/``) the file is named after."""
    source: str
    """The file, relative to the package (for messages)."""
    reason: str | None = None
    """Why the tiny data is needed (required when there is own data)."""
    tiny: TinyData = field(default_factory=TinyData)
    classes: Mapping[str, TinyData] = field(default_factory=dict)
    known: tuple[Known, ...] = ()
    extends: str | None = None
    """A model type whose ``[tiny]`` data (and class tables, through ``like``) this record
    starts from: a sibling model with the same constraints, stated once."""


# ---------------------------------------------------------------------------------------------
# validation


def _line(text: str, pattern: str, nth: int = 0) -> int:
    """1-based line of the ``nth`` line matching ``pattern`` (regex), else 1."""
    hits = [i for i, ln in enumerate(text.splitlines()) if re.match(pattern, ln.strip())]
    return hits[nth] + 1 if len(hits) > nth else 1


class _Validator:
    def __init__(self, rel: str, text: str):
        self.rel, self.text = rel, text

    def fail(self, line: int, msg: str) -> RecordError:
        return RecordError(f"{self.rel}:{line}: {msg}")

    def keys(self, table: Mapping[str, Any], allowed: Iterable[str], where: str, line: int):
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise self.fail(
                line, f"{where}: unknown key(s) {unknown}; allowed: {', '.join(allowed)}"
            )

    def typed(self, value: Any, types: type | tuple, key: str, line: int) -> Any:
        if value is not None and not isinstance(value, types):
            want = (
                types.__name__ if isinstance(types, type) else "/".join(t.__name__ for t in types)
            )
            raise self.fail(line, f"{key} must be a {want}, not {type(value).__name__}")
        return value

    def version_range(self, spec: Any, key: str, line: int) -> str | None:
        if spec is None:
            return None
        self.typed(spec, str, key, line)
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(spec)
        except InvalidSpecifier:
            msg = f"{key} = {spec!r} is not a PEP 440 range (e.g. '>=5.0,<5.25')"
            raise self.fail(line, msg) from None
        return spec

    def tiny(self, table: Any, where: str, line: int, like: bool = False) -> TinyData:
        self.typed(table, dict, where, line)
        self.keys(table, TINY_KEYS + (("like",) if like else ()), f"[{where}]", line)
        self.typed(table.get("like"), str, f"{where}.like", line)
        for key in ("config", "inputs"):
            self.typed(table.get(key), dict, f"{where}.{key}", line)
        for key in ("unsupported", "missing_package", "upstream_bug"):
            self.typed(table.get(key), str, f"{where}.{key}", line)
        self.typed(table.get("max_params"), int, f"{where}.max_params", line)
        return TinyData(
            config=table.get("config") or {},
            inputs=table.get("inputs") or {},
            max_params=table.get("max_params"),
            unsupported=table.get("unsupported"),
            missing_package=table.get("missing_package"),
            upstream_bug=table.get("upstream_bug"),
            transformers=self.version_range(table.get("transformers"), "transformers", line),
            like=table.get("like"),
        )

    def matcher(self, table: Any, line: int) -> Matcher | None:
        if table is None:
            return None
        self.typed(table, dict, "match", line)
        self.keys(table, ("exception", "message"), "match", line)
        exc = self.typed(table.get("exception"), str, "match.exception", line)
        msg = self.typed(table.get("message"), str, "match.message", line)
        if exc is None and msg is None:
            raise self.fail(line, "match needs exception and/or message")
        if exc is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", exc):
            raise self.fail(line, f"match.exception {exc!r} is not an exception class name")
        if msg is not None:
            try:
                re.compile(msg)
            except re.error as e:
                msg = f"match.message is not a valid regular expression: {e}"
                raise self.fail(line, msg) from None
        return Matcher(exception=exc, message=msg)

    def known(self, table: Any, nth: int) -> Known:
        line = _line(self.text, r"\[\[\s*known\s*\]\]", nth)
        self.typed(table, dict, "[[known]]", line)
        allowed = ("checks", "kind", "reason", "classes", "match", "transformers")
        self.keys(table, allowed, "[[known]]", line)
        checks = table.get("checks")
        if not isinstance(checks, list) or not checks:
            raise self.fail(line, "[[known]] needs checks = [...] (one or more check names)")
        from ..checks.backends import BUILTIN
        from ..checks.table import CHECKS, MATRIX_CHECKS

        cells = {f"{m}:{b.name}" for m in MATRIX_CHECKS for b in BUILTIN}
        from ..preprocess import KINDS as PREPROCESSING_KINDS  # a light module (no transformers)

        cells |= {f"preprocessing:{k}" for k in PREPROCESSING_KINDS}
        for c in checks:
            if c not in CHECKS and c not in cells and not PIPELINE_COLUMN.fullmatch(c):
                raise self.fail(
                    line,
                    f"{c!r} is not a check; one of: {', '.join(CHECKS)} (or one column: "
                    f"'backend:sdpa', 'pipeline:fill-mask', 'preprocessing:tokenizer')",
                )
        kind = table.get("kind")
        if kind not in KINDS:
            raise self.fail(line, f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        reason = table.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise self.fail(line, "[[known]] needs a one-line reason (model, symptom, where)")
        classes = table.get("classes") or []
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise self.fail(line, "classes must be a list of model class names")
        match = self.matcher(table.get("match"), line)
        if kind == "upstream-bug" and match is None:
            raise self.fail(line, "an upstream-bug entry needs match = { exception, message }")
        return Known(
            checks=tuple(checks),
            kind=kind,
            reason=reason,
            classes=tuple(classes),
            match=match,
            transformers=self.version_range(table.get("transformers"), "transformers", line),
        )


def parse_record(subject: str, rel: str, text: str) -> Record:
    """Validate one record file's text (``rel`` names it in errors)."""
    v = _Validator(rel, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RecordError(f"{rel}: not valid TOML: {e}") from None
    v.keys(data, ("reason", "extends", "tiny", "classes", "known"), "top level", 1)
    extends = v.typed(data.get("extends"), str, "extends", _line(text, r"extends\s*="))
    tiny = v.tiny(data.get("tiny", {}), "tiny", _line(text, r"\[\s*tiny\s*\]"))
    classes = {}
    v.typed(data.get("classes", {}), dict, "classes", 1)
    for name, table in (data.get("classes") or {}).items():
        line = _line(text, r"\[\s*classes\s*\.\s*\"?" + re.escape(name))
        classes[name] = v.tiny(table, f"classes.{name}", line, like=True)
    reason = v.typed(data.get("reason"), str, "reason", 1)
    if (tiny.as_dict() or classes) and not (reason or "").strip() and not extends:
        raise v.fail(1, "tiny data needs a top-level reason = '...' saying why it is needed")
    known = data.get("known") or []
    if not isinstance(known, list):
        raise v.fail(_line(text, r"known\s*="), "known must be an array of tables ([[known]])")
    entries = tuple(v.known(t, i) for i, t in enumerate(known))
    _check_clashes(v, entries)
    return Record(subject, rel, reason, tiny, classes, entries, extends)


def _check_clashes(v: _Validator, entries: tuple[Known, ...]) -> None:
    """Two entries of one file that could both apply to one (check, class) under one
    Transformers version are an error (disjoint ``transformers`` ranges may share it)."""
    for i, e in enumerate(entries):
        for j, other in enumerate(entries[:i]):
            if not ranges_overlap(e.transformers, other.transformers):
                continue
            for check in e.checks:
                if check not in other.checks:
                    continue
                for cls in e.classes or ("*",):
                    if "*" in (cls, *(other.classes or ("*",))) or cls in other.classes:
                        raise v.fail(
                            _line(v.text, r"\[\[\s*known\s*\]\]", i),
                            f"[[known]] #{i + 1} and #{j + 1} both apply to {check} of "
                            f"{'every class' if cls == '*' else cls}; keep one entry per "
                            "(check, class), or give them disjoint transformers ranges",
                        )


def ranges_overlap(a: str | None, b: str | None) -> bool:
    """Whether two PEP 440 ranges (``None``: every version) share a version. Probes each
    range's boundary versions, the versions just below and above them, and both ends: where
    two intervals meet, one of those lies in both."""
    if a is None or b is None:
        return True
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    sa, sb = SpecifierSet(a), SpecifierSet(b)
    probes = {Version("0"), Version("99999")}
    for spec in (*sa, *sb):
        try:
            rel = Version(spec.version.rstrip(".*")).release
        except ValueError:
            continue
        probes.add(Version(".".join(map(str, rel))))
        probes.add(Version(".".join(map(str, (*rel, 0, 0, 1)))))  # just above
        r = list(rel)
        while r and r[-1] == 0:
            r.pop()
        if r:  # just below: the last non-zero part less one, then a large part
            r[-1] -= 1
            probes.add(Version(".".join(map(str, (*r, 999999)))))
    return any(
        sa.contains(p, prereleases=True) and sb.contains(p, prereleases=True) for p in probes
    )


# ---------------------------------------------------------------------------------------------
# loading


@dataclass(frozen=True)
class Records:
    types: Mapping[str, Record]
    classes: Mapping[str, Record]

    def type_data(self, model_type: str) -> dict[str, Any]:
        """The type's ``[tiny]`` data for the installed Transformers, over the data of the
        type it ``extends``."""
        rec = self.types.get(model_type)
        if rec is None:
            return {}
        base = self.type_data(rec.extends) if rec.extends else {}
        return merge(base, _active(rec.tiny))

    def class_data(self, model_type: str, class_name: str) -> dict[str, Any]:
        """Data for one class over the type's: the shared class record, then the type's
        ``[classes.<class_name>]`` (later layers win per key; nested tables merge)."""
        shared, rec = self.classes.get(class_name), self.types.get(model_type)
        out = _active(shared.tiny) if shared is not None else {}
        if rec is not None and class_name in rec.classes:
            out = merge(out, self._class_table(rec, class_name))
        return out

    def _class_table(self, rec: Record, class_name: str) -> dict[str, Any]:
        """``[classes.<class_name>]`` of ``rec`` (or of the records it extends), resolving
        ``like``."""
        while class_name not in rec.classes and rec.extends:
            rec = self.types[rec.extends]
        table = rec.classes[class_name]
        base = self._class_table(rec, table.like) if table.like else {}
        return merge(base, _active(table))

    def tiny_for(self, model_type: str, class_name: str | None = None) -> dict[str, Any]:
        """Effective data for one class of a type: ``type_data`` then ``class_data``."""
        out = self.type_data(model_type)
        return merge(out, self.class_data(model_type, class_name)) if class_name else out

    def known_for(self, model_type: str, class_names: Iterable[str]) -> tuple[Known, ...]:
        """The type's entries, then the entries of shared class records for its classes
        (narrowed to that class), for the installed Transformers."""
        out = list(_active_known(self.types.get(model_type)))
        for cls in class_names:
            for e in _active_known(self.classes.get(cls)):
                out.append(Known(e.checks, e.kind, e.reason, (cls,), e.match, e.transformers))
        return tuple(out)


def _active(t: TinyData) -> dict[str, Any]:
    if t.transformers is not None and not version_in(t.transformers):
        return {}
    return {k: v for k, v in t.as_dict().items() if k != "transformers"}


def _active_known(rec: Record | None) -> Iterable[Known]:
    if rec is None:
        return ()
    return [e for e in rec.known if e.transformers is None or version_in(e.transformers)]


def merge(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any]:
    """``b`` over ``a``; nested dicts merge key by key, except label maps (``id2label``,
    ``label2id``, ...), which ``b`` replaces whole (a merged label map would keep stale ids)."""
    out = dict(a or {})
    for k, v in (b or {}).items():
        label_map = k.endswith("2label") or k.endswith("2id")
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) and not label_map:
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


@lru_cache(maxsize=1)
def _installed_transformers() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError:
        return None


def version_in(spec: str) -> bool:
    """Whether the installed Transformers is inside the PEP 440 range ``spec``."""
    from packaging.specifiers import SpecifierSet

    v = _installed_transformers()
    return v is not None and SpecifierSet(spec).contains(v, prereleases=True)


def _read_dir(path: Path, kind: str) -> dict[str, Record]:
    out = {}
    for f in sorted(path.glob("*.toml")):
        rel = f"hftestgen/registry/{kind}/{f.name}"
        out[f.stem] = parse_record(f.stem, rel, f.read_text(encoding="utf-8"))
    return out


def check_references(records: Records) -> None:
    """``extends`` names a type record and forms no cycle; ``like`` names a class table of the
    record or of one it extends."""
    for name, rec in records.types.items():
        seen, cur = {name}, rec
        while cur.extends:
            if cur.extends not in records.types:
                raise RecordError(
                    f"{cur.source}: extends = {cur.extends!r}, but there is no record "
                    f"registry/types/{cur.extends}.toml"
                )
            if cur.extends in seen:
                raise RecordError(f"{cur.source}: extends forms a cycle through {cur.extends!r}")
            seen.add(cur.extends)
            cur = records.types[cur.extends]
        for cls, table in rec.classes.items():
            if table.like is None:
                continue
            chain, r = [], rec
            while r is not None:
                chain.append(r)
                r = records.types.get(r.extends) if r.extends else None
            if table.like == cls or not any(table.like in r.classes for r in chain):
                raise RecordError(
                    f"{rec.source}: [classes.{cls}] like = {table.like!r} names no other class "
                    "table of this record or of the record it extends"
                )
            try:
                records._class_table(rec, cls)
            except RecursionError:
                raise RecordError(f"{rec.source}: [classes.{cls}] like forms a cycle") from None


@lru_cache(maxsize=1)
def load_records() -> Records:
    """Every record file, validated (raises ``RecordError`` naming file:line)."""
    records = Records(
        types=_read_dir(TYPES_DIR, "types"), classes=_read_dir(CLASSES_DIR, "classes")
    )
    check_references(records)
    return records
