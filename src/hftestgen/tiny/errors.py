"""TinyError and the classification of failures into categories."""

from __future__ import annotations

import re

CATEGORIES: tuple[str, ...] = (
    "missing-package",
    "config-invariant",
    "input-synthesis",
    "upstream-bug",
    "too-big",
    "timeout",
    "unsupported",
    "registry-mismatch",
)
"""``unsupported`` means known not exercisable offline (data entry, or no forward()): generated
checks skip it with the reason. ``registry-mismatch`` (unknown type, class not of the type, class
that does not import) is a failure: the suite was generated for another Transformers."""

TIMM_REASON = "timm (needs torchvision, not installable with torch 2.13.0 CPU)"
TORCHVISION_REASON = "torchvision (its PyPI wheel cannot load its ops with torch 2.13.0 CPU)"


class TinyError(Exception):
    """A tiny model could not be built or fed; ``category`` is one of CATEGORIES. A missing
    optional package is carried as data (``package``), never re-parsed from the message."""

    def __init__(self, category: str, message: str, package: str | None = None):
        if category not in CATEGORIES:
            raise ValueError(f"unknown TinyError category {category!r}")
        if (category == "missing-package") != (package is not None):
            raise ValueError("a missing-package TinyError names its package (TinyError.missing)")
        super().__init__(f"{category}: {message}")
        self.category = category
        self.message = message
        self.package = package

    @classmethod
    def missing(cls, package: str) -> TinyError:
        """The build needs ``package`` (with why it cannot be had here, where known)."""
        return cls("missing-package", f"needs {package}", package=package)

    def __reduce__(self):
        return (TinyError, (self.category, self.message, self.package))


_MISSING_PKG = [
    (re.compile(r"\btimm\b", re.I), TIMM_REASON),
    (re.compile(r"torchvision", re.I), TORCHVISION_REASON),
    (re.compile(r"\bnatten\b", re.I), "natten (not installable here)"),
    (re.compile(r"detectron2", re.I), "detectron2 (not installable here)"),
    (re.compile(r"torchaudio", re.I), "torchaudio (must match torch 2.13.0; not installed)"),
]


def missing_package(exc: BaseException) -> str | None:
    """The package an ImportError-ish exception is about, or None."""
    msg = f"{type(exc).__name__}: {exc}"
    name = getattr(exc, "name", None)
    if (
        isinstance(exc, ImportError)
        or "requires the" in msg
        or "pip install" in msg
        or "not installed" in msg
    ):
        for pat, reason in _MISSING_PKG:
            if pat.search(msg):
                return reason
        if name:
            return name
        m = re.search(r"requires the (\S+) library", msg)
        if m:
            return m.group(1)
        m = re.search(r"No module named '([^']+)'", msg)
        if m:
            return m.group(1).split(".")[0]
        m = re.search(r"pip install ([A-Za-z0-9_.\-]+)", msg)
        if m:
            return m.group(1)
        if isinstance(exc, ImportError):
            return msg[:120]
    return None


def short(exc: BaseException, limit: int = 300) -> str:
    msg = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {msg}"[:limit]
