"""``coverage.md``: per-family summary and every type that did not pass, with its reason."""

from __future__ import annotations

from typing import Any

from .coverage import (
    CHECK_ORDER,
    FAILED,
    NOT_RUN,
    PASSED,
    RAN_STATUSES,
    STATUSES,
    VERDICT_SYMBOLS,
    VERDICTS,
    headline,
)


def _cell(text: Any) -> str:
    s = " ".join(str(text if text is not None else "").split())
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(cov: dict[str, Any]) -> str:
    v = cov.get("versions", {})
    t = cov["totals"]
    run = cov.get("run", {})
    lines = [
        "# hftestgen coverage",
        "",
        f"Transformers {v.get('transformers') or '?'}, torch {v.get('torch') or 'not installed'}, "
        f"Python {v.get('python')}, hftestgen {v.get('hftestgen')}. Generated {cov.get('generated_at')}.",
    ]
    if run.get("interrupted"):
        lines.append("**The run was interrupted; this report holds the tests that finished.**")
    if run.get("shard"):
        lines.append(f"Shard {run['shard']}.")
    if run.get("merged_from"):
        lines.append(f"Merged from {len(run['merged_from'])} result folders.")
    lines += [
        "",
        f"**{headline(cov)}**",
        "",
        "A type passed only when every check that applies to it ran and passed for every class "
        "(absent accelerators aside): a check skipped as not covered (hftestgen could not "
        "exercise it) makes the type incomplete, and a check that is not applicable (the "
        "model's design) is not counted. "
        f"Passed: {t['coverage_pct']}% of the types that ran, {t['coverage_pct_all']}% of the "
        f"testable types. Tests: {t['tests']['passed']} passed, {t['tests']['failed']} failed, "
        f"{t['tests']['error']} errors, {t['tests']['skipped']} skipped "
        f"({t['tests'].get('known_bug', 0)} of them xfail: known upstream bugs)"
        + (f"; {t['collect_errors']} files failed to collect" if t.get("collect_errors") else "")
        + ".",
        "",
        "## Per family",
        "",
        "| family | types | " + " | ".join(STATUSES) + " |",
        "|---|---:|" + "---:|" * len(STATUSES),
    ]
    for fam, c in cov.get("families", {}).items():
        lines.append(
            f"| {_cell(fam)} | {c['types']} | "
            + " | ".join(str(c.get(s, 0)) for s in STATUSES)
            + " |"
        )
    tot = {s: sum(c.get(s, 0) for c in cov.get("families", {}).values()) for s in STATUSES}
    lines.append(f"| **all** | {t['types']} | " + " | ".join(str(tot[s]) for s in STATUSES) + " |")

    lines += _checks_per_family(cov)
    lines += _per_check(cov)
    lines += end_to_end_markdown(cov)

    bad = [(mt, ty) for mt, ty in cov["types"].items() if ty["status"] not in (PASSED, NOT_RUN)]
    not_run = sorted(mt for mt, ty in cov["types"].items() if ty["status"] == NOT_RUN)
    order = {s: i for i, s in enumerate(STATUSES)}
    bad.sort(key=lambda x: (order.get(x[1]["status"], 99), x[1]["family"], x[0]))
    lines += ["", f"## Types that did not pass ({len(bad)}, not counting types not run)", ""]
    if bad:
        lines += ["| model type | family | status | reason |", "|---|---|---|---|"]
        for mt, ty in bad:
            lines.append(
                f"| {_cell(mt)} | {_cell(ty['family'])} | {ty['status']} | {_cell(ty['reason'])} |"
            )
    else:
        lines.append("None.")
    if not_run:
        reasons = sorted({cov["types"][mt]["reason"] for mt in not_run})
        lines += [
            "",
            f"## Not run ({len(not_run)})",
            "",
            f"{'; '.join(reasons)}: " + ", ".join(f"`{mt}`" for mt in not_run),
        ]
    failing = [
        (mt, c, test)
        for mt, ty in sorted(cov["types"].items())
        for c, ch in ty.get("checks", {}).items()
        for test in ch["tests"]
        if test["outcome"] in ("failed", "error") or test.get("category") == "known-bug"
    ]
    if failing:
        lines += [
            "",
            f"## Every failing or known-issue test ({len(failing)})",
            "",
            "| model type | check | class | outcome | message |",
            "|---|---|---|---|---|",
        ]
        for mt, c, test in failing:
            out = "known-bug" if test.get("category") == "known-bug" else test["outcome"]
            msg = (test.get("message") or "").strip().splitlines()
            lines.append(
                f"| {_cell(mt)} | {c} | {_cell(test.get('param'))} | {out} | "
                f"{_cell(msg[0][:300] if msg else '')} |"
            )
    lines += _not_covered(cov)
    lines += backend_matrix_markdown(cov)
    if cov.get("collect_errors"):
        lines += ["", "## Collection errors", ""]
        for e in cov["collect_errors"]:
            lines.append(f"- `{e.get('file')}`: {_cell(e.get('message'))}")
    lines += _checks_per_type(cov)
    return "\n".join(lines) + "\n"


def end_to_end_markdown(cov: dict[str, Any]) -> list[str]:
    """Per preprocessing kind and per pipeline task: types passed / failed / skipped."""
    e2e = cov.get("end_to_end") or {}
    lines: list[str] = []
    for key, title, col in (
        ("kinds", "Preprocessing, per kind", "kind"),
        ("tasks", "Pipelines, per task", "task"),
    ):
        rows = e2e.get(key) or {}
        if not rows:
            continue
        buckets = sorted({b for r in rows.values() for b in r["by_outcome"]} - {PASSED, FAILED})
        lines += [
            "",
            f"## {title}",
            "",
            f"| {col} | types | passed | failed | "
            + " | ".join(buckets)
            + (" |" if buckets else "|"),
            "|---|---:|---:|---:|" + "---:|" * len(buckets),
        ]
        for name, r in rows.items():
            c = r["by_outcome"]
            lines.append(
                f"| {_cell(name)} | {r['types']} | {c.get(PASSED, 0)} | {c.get(FAILED, 0)} | "
                + " | ".join(str(c.get(b, 0)) for b in buckets)
                + (" |" if buckets else "|")
            )
    return lines


def _per_check(cov: dict[str, Any]) -> list[str]:
    """Per check: how many types it ran for, was not applicable to, not covered, ..."""
    per = cov.get("per_check") or {}
    if not per:
        return []
    out = [
        "",
        "## Per check",
        "",
        "Model types per check, by the check's verdict for the type: passed (ran and passed for "
        "every class it applies to), known-issue (an xfail), not-covered (some applicable "
        "class not exercised), skipped (missing package / unsupported build), not-applicable "
        "(for every class), no-device (accelerator absent).",
        "",
        "| check | types | " + " | ".join(VERDICTS) + " |",
        "|---|---:|" + "---:|" * len(VERDICTS),
    ]
    for c, row in per.items():
        out.append(
            f"| {_cell(c)} | {row['types']} | " + " | ".join(str(row[v]) for v in VERDICTS) + " |"
        )
    return out


def _not_covered(cov: dict[str, Any]) -> list[str]:
    """Every type with a check that applies but was not covered, with the reasons."""
    rows = [
        (mt, c, ch["not_covered"])
        for mt, ty in sorted(cov["types"].items())
        for c, ch in ty.get("checks", {}).items()
        if ch.get("not_covered")
    ]
    if not rows:
        return []
    out = [
        "",
        f"## Checks not covered ({len(rows)} type/check pairs)",
        "",
        "The check applies, but hftestgen could not exercise it (its tiny inputs, engine or "
        "weights fall short): these keep the type from passing.",
        "",
        "| model type | check | reasons |",
        "|---|---|---|",
    ]
    for mt, c, reasons in rows:
        text = "; ".join(reasons)
        out.append(f"| {_cell(mt)} | {c} | {_cell(text[:400])} |")
    return out


def _checks_per_type(cov: dict[str, Any]) -> list[str]:
    """One row per type that ran, one symbol per check (its verdict)."""
    types = [(mt, ty) for mt, ty in sorted(cov["types"].items()) if ty["status"] in RAN_STATUSES]
    checks = [c for c in cov.get("checks", []) if any(c in ty["checks"] for _, ty in types)]
    if not types or not checks:
        return []
    legend = ", ".join(f"{VERDICT_SYMBOLS[v]} {v}" for v in VERDICTS)
    out = [
        "",
        f"## Checks per type ({len(types)} types that ran)",
        "",
        f"{legend}; empty: the type's file has no such test. Reasons per test: coverage.json "
        "(`types.<type>.checks`) and coverage.html.",
        "",
        "| model type | status | " + " | ".join(checks) + " |",
        "|---|---|" + ":-:|" * len(checks),
    ]
    for mt, ty in types:
        cells = [
            VERDICT_SYMBOLS.get(ty["checks"][c].get("verdict"), "") if c in ty["checks"] else ""
            for c in checks
        ]
        out.append(f"| {_cell(mt)} | {ty['status']} | " + " | ".join(cells) + " |")
    return out


def _checks_per_family(cov: dict[str, Any]) -> list[str]:
    """Tests per family and check: passed / failed (errors included) / known-bug / skipped."""
    counts: dict[str, dict[str, list[int]]] = {}
    for ty in cov["types"].values():
        for c, ch in ty.get("checks", {}).items():
            row = counts.setdefault(ty["family"], {}).setdefault(c, [0, 0, 0, 0])
            for test in ch["tests"]:
                if test["outcome"] == "passed":
                    row[0] += 1
                elif test["outcome"] in ("failed", "error"):
                    row[1] += 1
                elif test.get("category") == "known-bug":
                    row[2] += 1
                else:
                    row[3] += 1
    if not counts:
        return []
    checks = [c for c in CHECK_ORDER if any(c in per for per in counts.values())]
    out = [
        "",
        "## Checks per family",
        "",
        "Tests per check: passed / failed / known-bug (xfail) / skipped.",
        "",
        "| family | " + " | ".join(checks) + " |",
        "|---|" + "---:|" * len(checks),
    ]
    total: dict[str, list[int]] = {c: [0, 0, 0, 0] for c in checks}
    for fam in sorted(counts):
        cells = []
        for c in checks:
            row = counts[fam].get(c, [0, 0, 0, 0])
            total[c] = [a + b for a, b in zip(total[c], row, strict=True)]
            cells.append("/".join(map(str, row)))
        out.append(f"| {_cell(fam)} | " + " | ".join(cells) + " |")
    out.append("| **all** | " + " | ".join("/".join(map(str, total[c])) for c in checks) + " |")
    return out


def backend_matrix_markdown(cov: dict[str, Any]) -> list[str]:
    """The backend matrix: per backend (cells by status, time, top failure categories), per
    family x backend (pass / cells that ran), and the non-passing cells."""
    from .coverage import CELL_STATUSES, top_categories

    summary = cov.get("backend_summary") or {}
    per_backend = summary.get("backends") or {}
    if not per_backend:
        return []
    names = list(per_backend)
    lines = [
        "",
        "## Backend matrix",
        "",
        "Per (type, backend): the type's classes run through the backend and compared with the "
        "plain model (eager, float32, CPU) at real positions; the worst class decides the cell. "
        "Reported beside the type statuses, never counted in them.",
        "",
        "| backend | " + " | ".join(CELL_STATUSES) + " | time | top failure categories |",
        "|---|" + "---:|" * len(CELL_STATUSES) + "---:|---|",
    ]
    for be, row in per_backend.items():
        cats = top_categories(row)
        lines.append(
            f"| {be} | "
            + " | ".join(str(row.get(s, 0)) for s in CELL_STATUSES)
            + f" | {row.get('duration_s', 0):.0f} s | {_cell(cats[:300])} |"
        )
    lines += [
        "",
        "Per family: cells passed / cells that ran (pass, mismatch, fails to run, known bug).",
        "",
        "| family | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    ran = ("pass", "mismatch", "fails-to-run", "known-bug")
    for fam, row in (summary.get("families") or {}).items():
        cells = []
        for be in names:
            c = row.get(be) or {}
            cells.append(f"{c.get('pass', 0)}/{sum(c.get(s, 0) for s in ran)}" if c else "")
        lines.append(f"| {fam} | " + " | ".join(cells) + " |")
    bad = [
        (mt, be, e)
        for mt, row in sorted((cov.get("backends") or {}).items())
        for be, e in row.items()
        if e["status"] in ("mismatch", "fails-to-run", "known-bug")
    ]
    if bad:
        lines += [
            "",
            f"### Cells that did not pass ({len(bad)})",
            "",
            "| model type | backend | status | max move | category | reason |",
            "|---|---|---|---:|---|---|",
        ]
        for mt, be, e in bad:
            move = e.get("max_rel_diff")
            lines.append(
                f"| {_cell(mt)} | {be} | {e['status']} | "
                f"{'' if move is None else f'{move:.3g}'} | {e.get('category') or ''} | "
                f"{_cell(str(e.get('reason') or '')[:200])} |"
            )
    return lines
