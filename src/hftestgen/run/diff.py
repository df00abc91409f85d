"""``hftestgen diff``: what changed between two recorded runs, per model type and per test.

The states and the ordering that makes a change a regression are in ``states.py`` (and
docs/coverage-schema.md). Groups, for types and for tests alike:

* ``regressed``: ok -> bad (a type: passed / known-issue / incomplete / skipped / nothing-ran
  -> failed; a test: passed / xfailed / skipped -> xpassed / failed / error);
* ``fixed``: bad -> ok;
* ``changed``: another state in the same class (passed -> incomplete, passed -> skipped,
  failed -> error, ...);
* ``appeared`` / ``disappeared``: in one run only (e.g. a Transformers upgrade, a new check);

and, for tests only, ``reason_changed``: the same state in both runs, but a different reason
text (failure message, skip or xfail reason), compared ignoring whitespace and object
addresses. Backend-matrix cells (``test_backend``, one per backend and class) are compared the
same way in their own groups (``cells``), beside the tests. ``--exit-code`` exits 1 when any
type, test or backend cell regressed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from .sides import Side, resolve_pair
from .states import (
    BAD_TEST_STATES,
    BAD_TYPE_STATUSES,
    OK_TEST_STATES,
    OK_TYPE_STATUSES,
    TYPE_STATUSES,
    change_kind,
    same_reason,
)

GROUPS = ("regressed", "fixed", "changed", "appeared", "disappeared")
TEST_GROUPS = (*GROUPS, "reason_changed")


def diff_types(
    a: dict[str, dict[str, Any]],
    b: dict[str, dict[str, Any]],
    *,
    a_complete: bool = True,
    b_complete: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """Compare two runs' per-type statuses (``{model_type: {status, reason, ...}}``).

    Only ``TYPE_STATUSES`` are compared; a type that is component / not-testable / not-run on
    either side counts only for appeared / disappeared. A side that is not ``complete`` (a
    results.jsonl alone) knows only the types it ran: a type it lacks is reported only when the
    other side ran it.
    """
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in GROUPS}
    for mt in sorted(set(a) | set(b)):
        ra, rb = a.get(mt), b.get(mt)
        if ra is None or rb is None:
            present, complete = (rb, a_complete) if ra is None else (ra, b_complete)
            if not complete and present["status"] not in TYPE_STATUSES:
                continue
            if ra is None:
                out["appeared"].append(
                    {"model_type": mt, "to": rb["status"], "reason": rb["reason"]}
                )
            else:
                out["disappeared"].append(
                    {"model_type": mt, "from": ra["status"], "reason": ra["reason"]}
                )
            continue
        sa, sb = ra["status"], rb["status"]
        if sa not in TYPE_STATUSES or sb not in TYPE_STATUSES:
            continue
        kind = change_kind(sa, sb, OK_TYPE_STATUSES, BAD_TYPE_STATUSES)
        if kind is not None:
            reason = rb["reason"] or ra["reason"]
            out[kind].append({"model_type": mt, "from": sa, "to": sb, "reason": reason})
    return out


def diff_tests(
    a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Compare two runs' tests (``{key: {state, message, model_type, check, param}}``)."""
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in TEST_GROUPS}

    def order(key: str) -> tuple[str, str]:
        t = b.get(key) or a[key]
        return (t.get("model_type") or "", key)

    for key in sorted(set(a) | set(b), key=order):
        ta, tb = a.get(key), b.get(key)
        t = tb or ta
        base = {
            "nodeid": key,
            "model_type": t.get("model_type"),
            "check": t.get("check"),
            "param": t.get("param") or "",
        }
        if ta is None:
            out["appeared"].append({**base, "to": tb["state"], "reason": tb["message"]})
        elif tb is None:
            out["disappeared"].append({**base, "from": ta["state"], "reason": ta["message"]})
        elif (
            kind := change_kind(ta["state"], tb["state"], OK_TEST_STATES, BAD_TEST_STATES)
        ) is not None:
            reason = tb["message"] or ta["message"]
            out[kind].append({**base, "from": ta["state"], "to": tb["state"], "reason": reason})
        elif not same_reason(ta["message"], tb["message"]):
            out["reason_changed"].append(
                {
                    **base,
                    "state": tb["state"],
                    "from_reason": ta["message"],
                    "to_reason": tb["message"],
                }
            )
    return out


def diff_sides(a: Side, b: Side) -> dict[str, Any]:
    """The whole comparison, as ``hftestgen diff --format json`` prints it: ``a`` / ``b`` (the
    runs' facts), the per-type groups at the top level, ``tests`` (the per-test groups and
    ``reason_changed``) and ``summary`` (the count of each group)."""
    from ..checks.table import MATRIX_CHECKS

    types = diff_types(a.types, b.types, a_complete=a.complete, b_complete=b.complete)

    def split(side: dict[str, dict[str, Any]], matrix: bool) -> dict[str, dict[str, Any]]:
        return {k: t for k, t in side.items() if (t.get("check") in MATRIX_CHECKS) == matrix}

    tests = diff_tests(split(a.tests, False), split(b.tests, False))
    cells = diff_tests(split(a.tests, True), split(b.tests, True))
    out = {
        "a": a.meta,
        "b": b.meta,
        **types,
        "tests": tests,
        "summary": {
            "types": {k: len(v) for k, v in types.items()},
            "tests": {k: len(v) for k, v in tests.items()},
        },
    }
    if any(cells.values()):  # the backend matrix: per (type, backend, class) cell
        out["cells"] = cells
        out["summary"]["cells"] = {k: len(v) for k, v in cells.items()}
    return out


def regressed(d: dict[str, Any]) -> bool:
    """Any type, test or backend cell that went from ok to bad."""
    return bool(d["regressed"] or d["tests"]["regressed"] or d.get("cells", {}).get("regressed"))


def _reason(text: str | None) -> str:
    return f"  ({text})" if text else ""


def _arrow(e: dict[str, Any]) -> str:
    if "from" in e and "to" in e:
        return f"{e['from']} -> {e['to']}"
    return str(e.get("to") or e.get("from"))


def render_text(d: dict[str, Any], a: Side, b: Side) -> list[str]:
    """The text report: per-type groups, per-test groups, reason changes, then a summary."""
    lines = [f"{a.describe()} -> {b.describe()}"]
    for key in GROUPS:
        lines.append(f"types {key}: {len(d[key])}")
        lines += [f"  {e['model_type']}: {_arrow(e)}{_reason(e['reason'])}" for e in d[key]]
    tests = d["tests"]
    for key in GROUPS:
        lines.append(f"tests {key}: {len(tests[key])}")
        lines += [f"  {e['nodeid']}: {_arrow(e)}{_reason(e['reason'])}" for e in tests[key]]
    lines.append(f"tests with a changed reason text: {len(tests['reason_changed'])}")
    for e in tests["reason_changed"]:
        lines += [
            f"  {e['nodeid']} ({e['state']})",
            f"    was: {e['from_reason'] or ''}",
            f"    now: {e['to_reason'] or ''}",
        ]
    cells = d.get("cells")
    if cells:
        for key in GROUPS:
            lines.append(f"backend cells {key}: {len(cells[key])}")
            lines += [f"  {e['nodeid']}: {_arrow(e)}{_reason(e['reason'])}" for e in cells[key]]
    types, tests_ = summary_counts(d["summary"])
    lines.append(f"summary: types {types}; tests {tests_}")
    if cells:
        counts = ", ".join(f"{d['summary']['cells'][k]} {k}" for k in GROUPS)
        lines.append(f"backend cells: {counts}")
    return lines


def summary_counts(s: dict[str, Any]) -> tuple[str, str]:
    """A diff summary's counts in words: (types, tests), e.g. ``"0 regressed, 1 fixed, ..."``
    and the same for tests, ending with the changed reason texts."""
    types = ", ".join(f"{s['types'][k]} {k}" for k in GROUPS)
    tests = ", ".join(f"{s['tests'][k]} {k}" for k in GROUPS)
    return types, f"{tests}, {s['tests']['reason_changed']} with a changed reason text"


def diff_command(
    a_ref: str | None,
    b_ref: str | None,
    *,
    history: Callable[[], Path],
    fmt: str,
    exit_code: bool,
    console: Console,
) -> int:
    """Print the diff of two runs (text or json); 1 with ``exit_code`` when anything regressed."""
    a, b = resolve_pair(a_ref, b_ref, history)
    return print_diff(a, b, fmt=fmt, exit_code=exit_code, console=console)


def print_diff(a: Side, b: Side, *, fmt: str, exit_code: bool, console: Console) -> int:
    """Print the diff of two sides (text or json); 1 with ``exit_code`` when anything regressed."""
    d = diff_sides(a, b)
    if fmt == "json":
        console.print_json(json.dumps(d))
    else:
        for line in render_text(d, a, b):
            console.print(line, markup=False, highlight=False)
    return 1 if exit_code and regressed(d) else 0
