"""``hftestgen run --transformers V [--transformers W ...]``: one run per Transformers release,
each in its cached environment (``envs.py``), then one combined report.

Per release ``V``, in that environment's python with this hftestgen's source first on
PYTHONPATH: ``generate <selection> --out <cache>/suites/tf-V/`` then ``run <selection> --out
<that suite> --report <report>/tf-V/ --history <the one history>`` with the same workers,
timeout, shard and coverage options. Every environment is resolved and probed before anything
runs, so a missing one costs nothing (one line, exit 2).

With two or more releases, ``<report>/versions.md`` and ``versions.json``: per type its status
in each release, and what changed between consecutive releases (sorted by version), per type
and per test, with ``hftestgen diff``'s groups (regressed, fixed, changed, appeared,
disappeared, reason changed).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from rich.console import Console

from .._io import atomic_write_text
from ..errors import UsageError
from ..report import COVERAGE_JSON
from ..report.coverage import VERDICT_SYMBOLS, order_checks
from .diff import GROUPS, diff_sides, summary_counts
from .envs import Env, ready, resolve_env, suite_dir
from .sides import Side, from_coverage

VERSIONS_JSON = "versions.json"
VERSIONS_MD = "versions.md"
VERSIONS_SCHEMA = "hftestgen-versions/1"
ABSENT = "absent"  # the release has no such type (or its run did not produce a report)


def version_key(v: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return (0, Version(v))
    except InvalidVersion:
        return (1, v)


def selection_args(
    model_types: list[str] | None, all_: bool, family: list[str] | None
) -> list[str]:
    args = list(model_types or [])
    if all_:
        args.append("--all")
    for f in family or []:
        args += ["--family", f]
    return args


def child_commands(
    env: Env,
    selection: list[str],
    *,
    report_dir: Path,
    history: Path,
    workers: str,
    timeout: float | None,
    shard: str | None,
    min_coverage: float | None,
    overrides: Path | None,
    plugins: list[str] | None,
) -> tuple[list[str], list[str]]:
    """The ``generate`` and ``run`` commands for one release."""
    py = [str(env.python), "-m", "hftestgen"]
    common: list[str] = []
    if overrides is not None:
        common += ["--overrides", str(Path(overrides).absolute())]
    for p in plugins or []:
        common += ["--plugin", p]
    suite = str(suite_dir(env.transformers))
    gen = [*py, "generate", *selection, "--out", suite, *common]
    run = [*py, "run", *selection, "--out", suite, "--report", str(report_dir)]
    run += ["-n", str(workers), "--history", str(history), *common]
    if timeout is not None:
        run += ["--timeout", str(timeout)]
    if shard:
        run += ["--shard", shard]
    if min_coverage is not None:
        run += ["--min-coverage", str(min_coverage)]
    return gen, run


def run_versions(
    versions: list[str],
    selection: list[str],
    *,
    torch: str | None,
    report_dir: Path,
    history: Path,
    workers: str,
    timeout: float | None,
    shard: str | None,
    min_coverage: float | None,
    overrides: Path | None,
    plugins: list[str] | None,
    console: Console,
    err_console: Console,
    runner=subprocess.run,
) -> int:
    """Run the selection under each release; returns the worst exit code (130 stops)."""
    if len(set(versions)) != len(versions):
        raise UsageError("each --transformers version once, please")
    envs = [ready(resolve_env(v, torch)) for v in versions]  # all checked before any run
    report_dir = Path(report_dir).absolute()
    history = Path(history).absolute()
    from .envs import child_environ

    codes: dict[str, int] = {}
    for env in envs:
        rdir = report_dir / f"tf-{env.transformers}"
        gen, run = child_commands(
            env,
            selection,
            report_dir=rdir,
            history=history,
            workers=workers,
            timeout=timeout,
            shard=shard,
            min_coverage=min_coverage,
            overrides=overrides,
            plugins=plugins,
        )
        where = f"{env.name} ({env.kind}: {env.python})"
        console.print(f"== Transformers {env.transformers} in {where}", markup=False)
        environ = child_environ(env)
        code = runner(gen, env=environ).returncode
        if code != 0:
            err_console.print(
                f"Transformers {env.transformers}: generate failed (exit {code}); its run is "
                "skipped",
                markup=False,
            )
        else:
            code = runner(run, env=environ).returncode
        codes[env.transformers] = code
        if code == 130:
            break
    if len(envs) > 1:
        doc = combined(
            {v: report_dir / f"tf-{v}" for v in codes}, codes=codes, report_dir=report_dir
        )
        paths = write_combined(doc, report_dir)
        console.print(summary_line(doc), markup=False)
        console.print(f"combined report: {', '.join(str(p) for p in paths)}", markup=False)
    if 130 in codes.values():
        return 130
    return max(codes.values(), default=0)


# --------------------------------------------------------------------------------------------
# the combined report


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _restricted(cov: dict[str, Any], types: set[str], path: Path) -> Side:
    """The run as a diff side, with only ``types`` (the union of the releases' selections):
    the types no release selected would all read as appeared / disappeared."""
    keep = {mt: t for mt, t in cov["types"].items() if mt in types}
    return from_coverage({**cov, "types": keep}, path)


def combined(
    report_dirs: dict[str, Path],
    *,
    codes: dict[str, int] | None = None,
    report_dir: Path | None = None,
) -> dict[str, Any]:
    """The combined document of the per-release reports ``{version: report folder}``."""
    order = sorted(report_dirs, key=version_key)
    covs = {v: _read(Path(report_dirs[v]) / COVERAGE_JSON) for v in order}
    selected: set[str] = set()
    for cov in covs.values():
        if cov:
            run = cov.get("run") or {}
            selected |= set(run.get("selected") or run.get("selection") or [])
    releases = []
    for v in order:
        cov = covs[v]
        entry: dict[str, Any] = {
            "transformers": v,
            "report": str(report_dirs[v]),
            "exit_code": (codes or {}).get(v),
        }
        if cov:
            vv = cov.get("versions") or {}
            entry.update(
                torch=vv.get("torch"),
                python=vv.get("python"),
                installed_transformers=vv.get("transformers"),
                env=(cov.get("run") or {}).get("env"),
                totals={
                    "by_status": cov["totals"]["by_status"],
                    "tests": cov["totals"]["tests"],
                    "coverage_pct": cov["totals"]["coverage_pct"],
                },
                wall_s=(cov.get("run") or {}).get("wall_s"),
            )
        else:
            entry["missing"] = f"no {COVERAGE_JSON} in {report_dirs[v]}"
        releases.append(entry)
    types: dict[str, dict[str, Any]] = {}
    for mt in sorted(selected):
        row: dict[str, Any] = {"status": {}, "checks": {}}
        for v in order:
            t = (covs[v] or {}).get("types", {}).get(mt)
            row["status"][v] = t["status"] if t else ABSENT
            for check, ch in ((t or {}).get("checks") or {}).items():
                row["checks"].setdefault(check, {})[v] = ch["verdict"]
        row["checks"] = {c: row["checks"][c] for c in order_checks(row["checks"])}
        types[mt] = row
    changes = []
    present = [v for v in order if covs[v]]
    for a, b in zip(present, present[1:], strict=False):
        sa = _restricted(covs[a], selected, Path(report_dirs[a]) / COVERAGE_JSON)
        sb = _restricted(covs[b], selected, Path(report_dirs[b]) / COVERAGE_JSON)
        d = diff_sides(sa, sb)
        changes.append(
            {
                "from": a,
                "to": b,
                "types": {k: d[k] for k in GROUPS},
                "tests": d["tests"],
                "summary": d["summary"],
            }
        )
    return {
        "schema": VERSIONS_SCHEMA,
        "report": str(report_dir) if report_dir else None,
        "releases": releases,
        "types": types,
        "changes": changes,
    }


def summary_line(doc: dict[str, Any]) -> str:
    parts = []
    for c in doc["changes"]:
        types, tests = summary_counts(c["summary"])
        parts.append(f"{c['from']} -> {c['to']}: types {types}; tests {tests}")
    return "changed between releases: " + ("; ".join(parts) if parts else "nothing to compare")


def _cell(text: Any) -> str:
    from ..report.markdown import _cell as cell

    return cell(text)


def _symbols(checks: dict[str, dict[str, str]], v: str) -> str:
    return "".join(VERDICT_SYMBOLS.get(vs.get(v, ""), " ") for vs in checks.values())


def render_markdown(doc: dict[str, Any]) -> str:
    vs = [r["transformers"] for r in doc["releases"]]
    lines = ["# hftestgen: Transformers releases compared", ""]
    lines += ["| Transformers | torch | Python | env | types p/f/other | tests p/f/s | exit |"]
    lines += ["|---|---|---|---|---|---|---:|"]
    for r in doc["releases"]:
        if "totals" not in r:
            lines.append(
                f"| {r['transformers']} | | | | {_cell(r['missing'])} | | {r['exit_code']} |"
            )
            continue
        bs, tt = r["totals"]["by_status"], r["totals"]["tests"]
        other = sum(n for k, n in bs.items() if k not in ("passed", "failed", "not-run"))
        lines.append(
            f"| {r['transformers']} | {r['torch']} | {r['python']} | {_cell(r.get('env'))} | "
            f"{bs.get('passed', 0)}/{bs.get('failed', 0)}/{other} | "
            f"{tt['passed']}/{tt['failed'] + tt['error']}/{tt['skipped']} | {r['exit_code']} |"
        )
    lines += ["", "## Per type", ""]
    checks_legend = ", ".join(f"{s} {k}" for k, s in VERDICT_SYMBOLS.items())
    lines += [
        f"Status per release; then one symbol per check in check order ({checks_legend}).",
        "",
    ]
    lines += ["| type | " + " | ".join(vs) + " | checks | " + " | ".join(vs) + " |"]
    lines += ["|---|" + "---|" * len(vs) + "---|" + "---|" * len(vs)]
    for mt, row in doc["types"].items():
        lines.append(
            f"| {mt} | "
            + " | ".join(row["status"][v] for v in vs)
            + f" | {_cell(', '.join(row['checks']))} | "
            + " | ".join(f"`{_symbols(row['checks'], v)}`" for v in vs)
            + " |"
        )
    for c in doc["changes"]:
        lines += ["", f"## Changed between releases: {c['from']} -> {c['to']}", ""]
        types, tests = summary_counts(c["summary"])
        lines.append(f"Types: {types}. Tests: {tests}.")
        rows = []
        for k in GROUPS:
            for e in c["types"][k]:
                rows.append((k, e["model_type"], "(type)", "", e.get("from"), e.get("to"), e))
            for e in c["tests"][k]:
                rows.append(
                    (k, e["model_type"], e["check"], e["param"], e.get("from"), e.get("to"), e)
                )
        for e in c["tests"]["reason_changed"]:
            rows.append(("reason changed", e["model_type"], e["check"], e["param"], "", "", e))
        if not rows:
            lines += ["", "Nothing changed."]
            continue
        lines += ["", f"| change | type | check | class | {c['from']} | {c['to']} | reason |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for k, mt, check, param, a, b, e in rows:
            reason = e.get("reason") or e.get("to_reason") or ""
            lines.append(
                f"| {k} | {mt} | {_cell(check)} | {_cell(param)} | {_cell(a or '')} | "
                f"{_cell(b or '')} | {_cell(reason)[:300]} |"
            )
    return "\n".join(lines) + "\n"


def write_combined(doc: dict[str, Any], report_dir: Path) -> list[Path]:
    report_dir = Path(report_dir)
    pj, pm = report_dir / VERSIONS_JSON, report_dir / VERSIONS_MD
    atomic_write_text(pj, json.dumps(doc, indent=1) + "\n")
    atomic_write_text(pm, render_markdown(doc))
    return [pj, pm]


# --------------------------------------------------------------------------------------------
# hftestgen diff [HISTORY] --transformers A --transformers B


def ran_only(a: Side, b: Side) -> tuple[Side, Side]:
    """Both sides with only the types that ran on at least one of them: a history run holds
    every type of its release, so the types neither run selected would all read as appeared
    or disappeared between two releases."""
    from .states import TYPE_STATUSES

    keep = {
        mt for side in (a, b) for mt, t in side.types.items() if t.get("status") in TYPE_STATUSES
    }
    return (
        Side(a.label, a.meta, {k: v for k, v in a.types.items() if k in keep}, a.tests, a.complete),
        Side(b.label, b.meta, {k: v for k, v in b.types.items() if k in keep}, b.tests, b.complete),
    )


def diff_versions_command(
    path: Path, a_version: str, b_version: str, *, fmt: str, exit_code: bool, console: Console
) -> int:
    """``hftestgen diff`` of the last complete runs of two releases in one history."""
    from .diff import print_diff
    from .history import History
    from .sides import HISTORY_FILE, from_history

    path = Path(path)
    if path.is_dir():
        path = path / HISTORY_FILE
    h = History(path)
    ids = [h.latest_complete_for(a_version), h.latest_complete_for(b_version)]
    a, b = (
        from_history(path, i, label=f"run {i} (Transformers {v})")
        for i, v in zip(ids, (a_version, b_version), strict=True)
    )
    a, b = ran_only(a, b)
    return print_diff(a, b, fmt=fmt, exit_code=exit_code, console=console)
