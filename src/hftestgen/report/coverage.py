"""Building ``coverage.json`` (schema in docs/coverage-schema.md) from test records."""

from __future__ import annotations

import platform
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from .. import __version__
from ..checks import CHECKS
from ..checks.skips import (
    CATEGORIES,
    KNOWN_BUG,
    MISSING_PACKAGE,
    NO_DEVICE,
    NOT_APPLICABLE,
    NOT_COVERED,
    PREFIXES,
    UNSUPPORTED,
    legacy_category,
)
from ..checks.table import MATRIX_CHECKS
from .results import Results

SCHEMA = "hftestgen-coverage/2"

# Type statuses, in display order.
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
COMPONENT, NOT_TESTABLE, NOT_RUN = "component", "not-testable", "not-run"
KNOWN_ISSUE = "known-issue"
INCOMPLETE = "incomplete"  # nothing failed, but an applicable check was not covered
NOTHING_RAN = "nothing-ran"  # every test was not applicable (or had no device)
STATUSES = (
    PASSED,
    FAILED,
    KNOWN_ISSUE,
    INCOMPLETE,
    SKIPPED,
    NOTHING_RAN,
    COMPONENT,
    NOT_TESTABLE,
    NOT_RUN,
)
# Statuses of the types that ran (the denominator of ``coverage_pct``).
RAN_STATUSES = (PASSED, FAILED, KNOWN_ISSUE, INCOMPLETE, SKIPPED, NOTHING_RAN)

# Every model with a forward has outputs the base check can hold to their promise (shapes,
# finiteness): a type where it applies to no class (every class skipped not-applicable) has not
# earned a pass, whatever else ran; it is incomplete.
BASE_CHECK = "forward"

SKIP_CATEGORIES = frozenset(CATEGORIES)
# What a test says about its check (``_bucket``).
BUCKETS = (FAILED, PASSED, *CATEGORIES)
# A check's verdict for one type, worst first (``_check_summary``).
VERDICTS = (FAILED, SKIPPED, NOT_COVERED, KNOWN_ISSUE, PASSED, NO_DEVICE, NOT_APPLICABLE)
# One character per check verdict in the per-type tables of coverage.md and coverage.html.
VERDICT_SYMBOLS = {
    PASSED: "\u2713",
    FAILED: "\u2717",
    KNOWN_ISSUE: "!",
    NOT_COVERED: "?",
    SKIPPED: "\u2013",
    NOT_APPLICABLE: "\u00b7",
    NO_DEVICE: "\u25cb",
}

# The checks of the family templates, in the order they appear in generated files.
CHECK_ORDER = CHECKS


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_version(name: str) -> str | None:
    """Installed distribution version, read from metadata (never imports the package)."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "hftestgen": __version__,
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
        "pytest": package_version("pytest"),
    }


def universe_from_registry(registry: Any) -> dict[str, dict[str, Any]]:
    """model_type -> the registry facts coverage needs, for every type of the registry."""
    out = {}
    for s in registry.values():
        out[s.model_type] = {
            "family": s.family,
            "registry_status": s.status,
            "registry_reason": s.reason,
            "parents": list(s.parents),
            "classes": len(s.all_classes()),
            "file": f"test_hf_{s.identifier}.py",
        }
    return out


def universe_from_coverage(cov: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for mt, t in (cov.get("types") or {}).items():
        out[mt] = {
            "family": t.get("family", "other"),
            "registry_status": t.get("registry_status", "testable"),
            "registry_reason": t.get("registry_reason", ""),
            "parents": list(t.get("parents") or []),
            "classes": int(t.get("classes") or 0),
            "file": t.get("file"),
        }
    return out


def order_checks(names: Iterable[str]) -> list[str]:
    names = set(names)
    known = [c for c in CHECK_ORDER if c in names]
    return known + sorted(names - set(known))


def _category(r: dict[str, Any]) -> str | None:
    """The test's category; a skipped test always gets one of ``checks.skips.CATEGORIES`` (rows
    recorded without one, by runs before skips were typed, are classified by their reason)."""
    cat = r.get("category")
    if (r.get("outcome") or "error") != "skipped" or cat in SKIP_CATEGORIES:
        return cat
    return legacy_category(r.get("message") or r.get("skip_reason"))


def _test_entry(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeid": r.get("nodeid"),
        "param": r.get("param") or "",
        "outcome": r.get("outcome") or "error",
        "mode": r.get("mode") or "no-model",
        "category": _category(r),
        "duration_s": round(float(r.get("duration_s") or 0.0), 4),
        "message": r.get("message") or r.get("skip_reason"),
    }


def _check_outcome(tests: list[dict[str, Any]]) -> str:
    outs = {t["outcome"] for t in tests}
    if outs & {"failed", "error"}:
        return FAILED
    if PASSED in outs:
        return PASSED
    return SKIPPED


def _bucket(t: dict[str, Any]) -> str:
    """What one test says about its check: failed, passed, known-bug or its skip category
    (an unexplained skip, e.g. ``interrupted``, is not-covered)."""
    if t["outcome"] in ("failed", "error"):
        return FAILED
    if t["outcome"] == PASSED:
        return PASSED
    cat = t.get("category")
    return cat if cat in SKIP_CATEGORIES else NOT_COVERED


def _strip(message: str | None, category: str) -> str:
    text = " ".join((message or "").split())
    prefix = PREFIXES.get(category)
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text or category


def _check_summary(tests: list[dict[str, Any]]) -> dict[str, Any]:
    """Per check of a type: the tests that ran (passed / xfailed / failed), the reasons it was
    not applicable, not covered or skipped (deduplicated), and its verdict (``VERDICTS``)."""
    ran = {"passed": 0, "xfailed": 0, "failed": 0}
    reasons: dict[str, list[str]] = {NOT_APPLICABLE: [], NOT_COVERED: [], "skipped": []}
    no_device = 0
    for t in tests:
        b = _bucket(t)
        if b in (FAILED, PASSED):
            ran[b] += 1
        elif b == KNOWN_BUG:
            ran["xfailed"] += 1
        elif b == NO_DEVICE:
            no_device += 1
        else:
            key = "skipped" if b in (MISSING_PACKAGE, UNSUPPORTED) else b
            reason = _strip(t.get("message"), b) if key != "skipped" else t.get("message") or b
            if reason not in reasons[key]:
                reasons[key].append(reason)
    if ran["failed"]:
        verdict = FAILED
    elif reasons["skipped"]:
        verdict = SKIPPED
    elif reasons[NOT_COVERED]:
        verdict = NOT_COVERED
    elif ran["xfailed"]:
        verdict = KNOWN_ISSUE
    elif ran["passed"]:
        verdict = PASSED
    elif no_device:
        verdict = NO_DEVICE
    else:
        verdict = NOT_APPLICABLE
    return {
        "verdict": verdict,
        "ran": ran,
        "not_applicable": reasons[NOT_APPLICABLE],
        "not_covered": reasons[NOT_COVERED],
        "skipped": reasons["skipped"],
        "no_device": no_device,
    }


def _first_of(tests: list[tuple[str, dict[str, Any]]]) -> str:
    """``<check>[<param>]: <message> (+N more)`` for the first of ``tests``."""
    c, t = tests[0]
    label = f"{c}[{t['param']}]" if t["param"] else c
    more = f" (+{len(tests) - 1} more)" if len(tests) > 1 else ""
    return f"{label}: {t['message'] or t['outcome']}{more}"


def _most_common(tests: list[tuple[str, dict[str, Any]]], of: int) -> str:
    reasons = Counter(t["message"] or "skipped" for _, t in tests)
    reason, n = reasons.most_common(1)[0]
    return reason if n == of else f"{reason} ({n} of {of} tests)"


def _type_status(
    meta: dict[str, Any],
    checks: dict[str, dict[str, Any]],
    collect_errors: list[str],
    selected: bool,
) -> tuple[str, str]:
    """A type's status from its checks (docs/coverage-schema.md): passed only when every check
    that applies ran and passed for every class (absent accelerators aside)."""
    reg = meta.get("registry_status", "testable")
    if reg == "component":
        return COMPONENT, meta.get("registry_reason") or "component config"
    if reg == "not-testable":
        return NOT_TESTABLE, meta.get("registry_reason") or "not testable"
    tests = [(c, t) for c, ch in checks.items() for t in ch["tests"]]
    if collect_errors:
        return FAILED, f"collection error: {collect_errors[0]}"
    bad = [(c, t) for c, t in tests if t["outcome"] in ("failed", "error")]
    if bad:
        return FAILED, _first_of(bad)
    if not tests:
        if reg == "skipped":
            return SKIPPED, meta.get("registry_reason") or "skipped in overrides"
        if selected:
            return NOT_RUN, "selected but no test results (file missing or run interrupted)"
        return NOT_RUN, "not selected in this run"
    by = {b: [(c, t) for c, t in tests if _bucket(t) == b] for b in BUCKETS}
    passed, known = by[PASSED], by[KNOWN_BUG]
    if passed and not any(t["mode"] == "real" for _, t in passed):
        return SKIPPED, "tests passed, but none against real torch+transformers"
    blocked = by[MISSING_PACKAGE] + by[UNSUPPORTED]
    if blocked:  # a named missing package / declared unsupported build kept checks from running
        return SKIPPED, _most_common(blocked, len(tests))
    if by[NOT_COVERED]:  # an applicable check hftestgen could not exercise: not earned
        names = order_checks({c for c, _ in by[NOT_COVERED]})
        return INCOMPLETE, f"not covered: {', '.join(names)}; " + _first_of(by[NOT_COVERED])
    if not passed and not known:
        return NOTHING_RAN, "nothing ran: " + _most_common(tests, len(tests))
    base = checks.get(BASE_CHECK)
    if base is not None and base["verdict"] == NOT_APPLICABLE:
        return INCOMPLETE, (
            f"{BASE_CHECK} not applicable to any class, so no output contract of the type was "
            f"checked: {'; '.join(base['not_applicable'])}"
        )
    if known:  # an xfail (known upstream bug) is not a pass, nor a failure of ours
        return KNOWN_ISSUE, _first_of(known)
    return PASSED, ""


def _per_check(types: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per check: how many types had it, and how many of those had each verdict."""
    out: dict[str, dict[str, int]] = {}
    for ty in types.values():
        for c, ch in ty["checks"].items():
            row = out.setdefault(c, {"types": 0} | {v: 0 for v in VERDICTS})
            row["types"] += 1
            row[ch["verdict"]] += 1
    return {c: out[c] for c in order_checks(out)}


def build_coverage(
    results: Results,
    universe: dict[str, dict[str, Any]],
    selected: Iterable[str] | None = None,
    run: dict[str, Any] | None = None,
    versions_: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The coverage document: every type of ``universe`` plus any type seen in ``results``."""
    universe = {k: dict(v) for k, v in universe.items()}
    by_file = {v.get("file"): mt for mt, v in universe.items() if v.get("file")}
    selected_set = set(selected or ())

    per_type: dict[str, list[dict[str, Any]]] = {}
    cells: dict[str, list[dict[str, Any]]] = {}
    for r in results.tests.values():
        mt = r.get("model_type") or by_file.get(r.get("file"))
        if mt is None:
            mt = f"?{r.get('file')}"
        if mt not in universe:
            universe[mt] = {
                "family": r.get("family") or "other",
                "registry_status": "testable",
                "registry_reason": "",
                "parents": [],
                "classes": 0,
                "file": r.get("file"),
            }
        if r.get("check") in MATRIX_CHECKS:  # a backend cell: reported beside the status
            cells.setdefault(mt, []).append(r)
        else:
            per_type.setdefault(mt, []).append(r)
        selected_set.add(mt)

    cerr: dict[str, list[str]] = {}
    for e in results.collect_errors:
        mt = by_file.get(e.get("file"))
        key = mt or f"?{e.get('file')}"
        if mt is None and key not in universe:
            universe[key] = {
                "family": "other",
                "registry_status": "testable",
                "registry_reason": "",
                "parents": [],
                "classes": 0,
                "file": e.get("file"),
            }
        cerr.setdefault(key, []).append(e.get("message") or "collection failed")
        selected_set.add(key)

    all_checks: set[str] = set()
    types: dict[str, Any] = {}
    test_totals = Counter()
    known_bug_tests = 0
    for mt in sorted(universe):
        meta = universe[mt]
        checks: dict[str, dict[str, Any]] = {}
        for r in sorted(per_type.get(mt, []), key=lambda r: r.get("nodeid") or ""):
            c = r.get("check") or "?"
            checks.setdefault(c, {"tests": []})["tests"].append(_test_entry(r))
        ordered = {}
        for c in order_checks(checks):
            tests = checks[c]["tests"]
            ordered[c] = {
                "outcome": _check_outcome(tests),
                **_check_summary(tests),
                "duration_s": round(sum(t["duration_s"] for t in tests), 4),
                "tests": tests,
            }
            all_checks.add(c)
            for t in tests:
                test_totals[t["outcome"]] += 1
                if t.get("category") == "known-bug":
                    known_bug_tests += 1
        status, reason = _type_status(meta, ordered, cerr.get(mt, []), mt in selected_set)
        counts = Counter(t["outcome"] for ch in ordered.values() for t in ch["tests"])
        types[mt] = {
            "family": meta.get("family") or "other",
            "status": status,
            "reason": reason,
            "registry_status": meta.get("registry_status", "testable"),
            "registry_reason": meta.get("registry_reason", ""),
            "parents": list(meta.get("parents") or []),
            "classes": int(meta.get("classes") or 0),
            "file": meta.get("file"),
            "duration_s": round(sum(ch["duration_s"] for ch in ordered.values()), 4),
            "tests": {k: counts.get(k, 0) for k in ("passed", "failed", "error", "skipped")},
            "checks": ordered,
        }

    backends = build_matrix(cells, {mt: t["family"] for mt, t in types.items()})
    end_to_end = build_end_to_end(types)
    by_status = Counter(t["status"] for t in types.values())
    ran = [t for t in types.values() if t["status"] in RAN_STATUSES]
    runnable = [t for t in types.values() if t["registry_status"] in ("testable", "skipped")]
    n_pass = by_status.get(PASSED, 0)
    families: dict[str, dict[str, int]] = {}
    for t in types.values():
        fam = families.setdefault(t["family"], {s: 0 for s in STATUSES} | {"types": 0})
        fam[t["status"]] += 1
        fam["types"] += 1
    totals = {
        "types": len(types),
        "testable": len(runnable),
        "by_status": {s: by_status.get(s, 0) for s in STATUSES},
        "tests": {
            "total": sum(test_totals.values()),
            **{k: test_totals.get(k, 0) for k in ("passed", "failed", "error", "skipped")},
            "known_bug": known_bug_tests,
        },
        "collect_errors": len(results.collect_errors),
        "coverage_pct": round(100.0 * n_pass / len(ran), 2) if ran else 0.0,
        "coverage_pct_all": round(100.0 * n_pass / len(runnable), 2) if runnable else 0.0,
        "duration_s": round(sum(t["duration_s"] for t in types.values()), 3),
    }
    return {
        "schema": SCHEMA,
        "generated_at": now_iso(),
        "versions": versions_ or versions(),
        "run": dict(run or {}),
        "totals": totals,
        "checks": order_checks(all_checks),
        "per_check": _per_check(types),
        "families": dict(sorted(families.items())),
        "types": types,
        "collect_errors": list(results.collect_errors),
        "workers": list(results.workers),
        "end_to_end": end_to_end,
        **backends,
    }


#: the checks whose parameter is a preprocessing kind / a pipeline task, not a model class
END_TO_END_CHECKS = {"preprocessing": "kinds", "pipeline": "tasks"}


def build_end_to_end(types: dict[str, Any]) -> dict[str, Any]:
    """Per preprocessing kind and per pipeline task: how many types passed, failed, were a
    known bug or skipped (by skip category), with each failed type and its message."""
    out: dict[str, Any] = {key: {} for key in END_TO_END_CHECKS.values()}
    for mt, ty in sorted(types.items()):
        for check, key in END_TO_END_CHECKS.items():
            for t in (ty["checks"].get(check) or {}).get("tests", []):
                if not t["param"] or t["param"].startswith("no-"):
                    continue
                row = out[key].setdefault(t["param"], {"types": 0, "by_outcome": {}, "failed": {}})
                row["types"] += 1
                b = _bucket(t)
                row["by_outcome"][b] = row["by_outcome"].get(b, 0) + 1
                if b == FAILED:
                    row["failed"][mt] = " ".join((t.get("message") or "").split())[:300]
    for key in out:
        out[key] = dict(sorted(out[key].items(), key=lambda kv: (-kv[1]["types"], kv[0])))
    return out


# ---------------------------------------------------------------------------------------------
# the backend matrix (hftestgen.checks.matrix): reported beside the type statuses

#: cell statuses, worst first (a type's cell for a backend is its worst class)
CELL_STATUSES = (
    "fails-to-run",
    "mismatch",
    KNOWN_BUG,
    "pass",
    "missing-package",
    "no-device",
    "not-applicable",
)
CELL_SYMBOLS = {
    "pass": "\u2713",
    "mismatch": "\u2260",
    "fails-to-run": "\u2717",
    KNOWN_BUG: "!",
    "not-applicable": "\u00b7",
    "missing-package": "\u2013",
    "no-device": "\u25cb",
}


def _cell_of(r: dict[str, Any]) -> dict[str, Any]:
    """One (backend, class) cell from its test record (``cell`` data where the check wrote it;
    the outcome otherwise: a crash or timeout kills the check before it records anything)."""
    c = dict(r.get("cell") or {})
    param = r.get("param") or ""
    name, _, cls = param.partition("-")
    c.setdefault("backend", name)
    c.setdefault("class", cls)
    outcome = r.get("outcome") or "error"
    if outcome == "passed":
        c["status"] = "pass"
    elif outcome == "skipped":
        c.pop("category", None)
        cat = _category(r)
        if cat == KNOWN_BUG:
            c["status"] = KNOWN_BUG
        elif c.get("status") not in ("not-applicable", "missing-package", "no-device"):
            c["status"] = {
                NO_DEVICE: "no-device",
                MISSING_PACKAGE: "missing-package",
            }.get(cat, "not-applicable")
        c.setdefault("reason", _strip(r.get("message") or r.get("skip_reason"), cat or ""))
    else:  # failed / error
        if c.get("status") not in ("mismatch", "fails-to-run"):
            c["status"] = "fails-to-run"  # a crash or timeout: the check recorded nothing
            c.setdefault("category", r.get("category") or "error")
        if not c.get("reason"):
            c["reason"] = r.get("message")
    c["duration_s"] = round(float(r.get("duration_s") or 0.0), 4)
    # the test behind the cell, so a report alone can be diffed cell by cell (``run.sides``)
    c.update(nodeid=r.get("nodeid"), outcome=outcome, test_category=_category(r))
    return {k: v for k, v in c.items() if v is not None}


def build_matrix(cells: dict[str, list[dict[str, Any]]], family_of: dict[str, str]) -> dict:
    """``backends`` (per type x backend: the worst class's status, the largest move, the first
    failure's category and reason, time, and every class's cell) and ``backend_summary`` (per
    backend and per family x backend: cell counts by status, failure categories)."""
    if not cells:
        return {}
    order = {s: i for i, s in enumerate(CELL_STATUSES)}
    matrix: dict[str, dict[str, Any]] = {}
    for mt in sorted(cells):
        per: dict[str, list[dict[str, Any]]] = {}
        for r in sorted(cells[mt], key=lambda r: r.get("nodeid") or ""):
            c = _cell_of(r)
            per.setdefault(c["backend"], []).append(c)
        row = {}
        for be, cs in per.items():
            worst = min(cs, key=lambda c: order.get(c["status"], 0))
            diffs = [c["max_rel_diff"] for c in cs if isinstance(c.get("max_rel_diff"), float)]
            entry = {
                "status": worst["status"],
                "max_rel_diff": max(diffs) if diffs else None,
                "category": worst.get("category"),
                "reason": worst.get("reason") if worst["status"] != "pass" else None,
                "duration_s": round(sum(c["duration_s"] for c in cs), 4),
                "classes": {c["class"]: c for c in cs},
            }
            breaks = [c["graph_breaks"] for c in cs if "graph_breaks" in c]
            if breaks:
                entry["graph_breaks"] = sum(breaks)
            row[be] = {k: v for k, v in entry.items() if v is not None}
        matrix[mt] = row
    per_backend: dict[str, dict[str, Any]] = {}
    per_family: dict[str, dict[str, dict[str, int]]] = {}
    for mt, row in matrix.items():
        fam = family_of.get(mt, "other")
        for be, e in row.items():
            counts = {s: 0 for s in CELL_STATUSES}
            b = per_backend.setdefault(be, counts | {"categories": {}, "duration_s": 0.0})
            b[e["status"]] += 1
            b["duration_s"] = round(b["duration_s"] + e["duration_s"], 3)
            if e.get("category"):
                b["categories"][e["category"]] = b["categories"].get(e["category"], 0) + 1
            per_family.setdefault(fam, {}).setdefault(be, dict(counts))[e["status"]] += 1
    from ..checks.backends import BUILTIN

    rank = {b.name: i for i, b in enumerate(BUILTIN)}  # built-ins in table order, then plugins
    names = sorted(per_backend, key=lambda b: (rank.get(b, len(rank)), b))
    return {
        "backends": matrix,
        "backend_summary": {
            "backends": {b: per_backend[b] for b in names},
            "families": dict(sorted(per_family.items())),
        },
    }


def top_categories(summary_row: dict[str, Any]) -> str:
    """A backend's failure categories, most frequent first: ``"data-dependent 96, ..."``."""
    cats = sorted((summary_row.get("categories") or {}).items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v}" for k, v in cats)


def failed(cov: dict[str, Any]) -> bool:
    """True when any test failed or errored, or a file did not collect."""
    t = cov["totals"]
    return bool(t["tests"]["failed"] or t["tests"]["error"] or t["collect_errors"])


def headline(cov: dict[str, Any]) -> str:
    """The report's first sentence: every type status, with the denominator it counts from."""
    t = cov["totals"]
    bs = t["by_status"]
    n = lambda s: bs.get(s, 0)  # noqa: E731
    testable = t.get("testable")
    if testable is None:  # a document written before the key existed
        testable = t["types"] - n(COMPONENT) - n(NOT_TESTABLE)
    tf = (cov.get("versions") or {}).get("transformers") or "?"
    parts = [
        f"{n(PASSED)} passed every applicable check",
        f"{n(KNOWN_ISSUE)} ran with known upstream bugs only",
        f"{n(INCOMPLETE)} incomplete (some applicable check not covered)",
        f"{n(SKIPPED)} skipped (missing package / unsupported build)",
    ]
    if n(NOTHING_RAN):
        parts.append(f"{n(NOTHING_RAN)} with nothing to run (every check not applicable)")
    parts.append(f"{n(FAILED)} failed")
    if n(NOT_RUN):
        parts.append(f"{n(NOT_RUN)} not run")
    untestable = n(COMPONENT) + n(NOT_TESTABLE)
    return (
        f"Of {t['types']} config model types in Transformers {tf}, {testable} are testable here; "
        f"of those, {', '.join(parts)}; {untestable} not testable ({n(COMPONENT)} components "
        f"tested through their parents, {n(NOT_TESTABLE)} without a model class)."
    )
