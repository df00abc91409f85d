"""Typed skips: every skip a check raises says *why* the check did not run, as a category.

A skip reason starts with a stable prefix naming its category; the pytest plugin
(``hftestgen.run.pytest_plugin``) records the category with the test and the coverage report
(``hftestgen.report.coverage``) decides a type's status from it: only checks that ran count
towards ``passed``.

================  =====================  =====================================================
category          prefix                 meaning
================  =====================  =====================================================
not-applicable    ``not-applicable: ``   the model's design: the check has nothing to check
                                         (no ``attention_mask`` in forward, cannot generate, no
                                         labels in forward, no causal text stack, a record's
                                         ``[[known]]`` not-applicable entry, ...)
not-covered       ``not-covered: ``      the check applies, but hftestgen could not exercise
                                         it (its tiny inputs, engine or tiny weights fall
                                         short): a gap of ours, never a pass
missing-package   ``missing package: ``  an optional package the model needs is not installed
unsupported       ``unsupported: ``      a declared unsupported build (overrides ``skip``, a
                                         ``TinyError("unsupported")``)
no-device         ``no-device: ``        the accelerator of a device backend of the backend
                                         matrix (``cuda``, ``mps``) is absent
known-bug         (``xfail``)            a known upstream bug that still reproduces
================  =====================  =====================================================

Importable without torch; pytest is imported on first use.
"""

from __future__ import annotations

import re
from typing import NoReturn

NOT_APPLICABLE = "not-applicable"
NOT_COVERED = "not-covered"
MISSING_PACKAGE = "missing-package"
UNSUPPORTED = "unsupported"
NO_DEVICE = "no-device"
KNOWN_BUG = "known-bug"
CATEGORIES = (NOT_APPLICABLE, NOT_COVERED, MISSING_PACKAGE, UNSUPPORTED, NO_DEVICE, KNOWN_BUG)

PREFIXES = {
    NOT_APPLICABLE: "not-applicable: ",
    NOT_COVERED: "not-covered: ",
    MISSING_PACKAGE: "missing package: ",
    UNSUPPORTED: "unsupported: ",
    NO_DEVICE: "no-device: ",
}


def _skip(category: str, reason: str) -> NoReturn:
    import pytest

    pytest.skip(PREFIXES[category] + str(reason))
    raise AssertionError("unreachable")  # pragma: no cover


def not_applicable(reason: str) -> NoReturn:
    """Skip: the check does not apply to this model by its design."""
    _skip(NOT_APPLICABLE, reason)


def not_covered(reason: str) -> NoReturn:
    """Skip: the check applies, but hftestgen could not exercise it (our gap)."""
    _skip(NOT_COVERED, reason)


def unsupported(reason: str) -> NoReturn:
    """Skip: a declared unsupported build."""
    _skip(UNSUPPORTED, reason)


def missing_package(name: str) -> NoReturn:
    """Skip: an optional package the check needs is not installed."""
    _skip(MISSING_PACKAGE, name)


def no_device(reason: str) -> NoReturn:
    """Skip: the accelerator is absent."""
    _skip(NO_DEVICE, reason)


_XFAIL = re.compile(r"^xfail(?::|$)")


def category_of(reason: str | None) -> str | None:
    """The category a skip reason's prefix names (``xfail...``: known-bug); None: no prefix."""
    text = (reason or "").lstrip()
    for category, prefix in PREFIXES.items():
        if text.startswith(prefix):
            return category
    if _XFAIL.match(text):
        return KNOWN_BUG
    return None


# Skip reasons written before the categories existed (results.jsonl / history rows of older
# runs), each the message of a skip site that is now typed; one pattern per site. A reason
# none matches is not-covered (an unexplained skip never counts as a pass).
LEGACY: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (c, re.compile(p))
    for c, p in (
        (NO_DEVICE, r"^(cuda|mps) not available$"),  # the removed device_parity check
        (NOT_APPLICABLE, r"^no attention_mask in forward$"),
        (NOT_APPLICABLE, r"^\S+\.forward takes no labels$"),
        (NOT_APPLICABLE, r"^\S+ cannot generate \(can_generate\(\) is False\)$"),
        (NOT_APPLICABLE, r"^\S+ has no model classes$"),
        (NOT_APPLICABLE, r"^\S+ has no head classes \("),
        (NOT_APPLICABLE, r"^\S+ has no class in a generative task \("),
        (NOT_APPLICABLE, r"^\S+: no model class to check$"),
        (NOT_APPLICABLE, r"^\S+ defines no forward\(\) \(nn\.Module's placeholder\)$"),
        (NOT_APPLICABLE, r"^\S+\.forward takes no cache \("),
        (NOT_APPLICABLE, r"^\S+: no causal text stack: "),
        (NOT_APPLICABLE, r"^\S+ runs the \(bidirectional\) encoder of an encoder-decoder config$"),
        (NOT_APPLICABLE, r"^\S+ has no output embeddings \(get_output_embeddings\(\) is None\)$"),
        (NOT_APPLICABLE, r"^\S+'s output embeddings are a \S+ with no single weight "),
        (NOT_APPLICABLE, r"^\S+ has no input embedding matrix \("),
    )
)


def legacy_category(reason: str | None) -> str:
    """The category of a skip reason with or without a prefix: the prefix's, else the
    ``LEGACY`` pattern's, else not-covered."""
    found = category_of(reason)
    if found is not None:
        return found
    text = " ".join((reason or "").split())
    for category, pattern in LEGACY:
        if pattern.search(text):
            return category
    return NOT_COVERED
