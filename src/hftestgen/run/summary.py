"""What ``hftestgen run`` and ``hftestgen report`` print after writing reports, and the history
record both of them append."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from rich.console import Console


def invoked_command(default: str) -> str:
    """The command line this process was started with, as ``hftestgen ...``."""
    return shlex.join(["hftestgen", *sys.argv[1:]]) if sys.argv else default


def print_summary(cov: dict[str, Any], report_dir: Path, console: Console) -> None:
    from ..report.coverage import headline

    t = cov["totals"]
    tt = t["tests"]
    console.print(headline(cov), markup=False, highlight=False)
    console.print(
        f"Coverage {t['coverage_pct']}% of the types run. Tests: {tt['passed']} passed, "
        f"{tt['failed']} failed, {tt['error']} errors, {tt['skipped']} skipped"
        f" (of which {tt.get('known_bug', 0)} xfail: known upstream bugs).",
        highlight=False,
    )
    bad = [(mt, ty) for mt, ty in cov["types"].items() if ty["status"] == "failed"]
    for mt, ty in bad[:25]:
        console.print(f"  [red]FAILED[/red] {mt}: {ty['reason']}", markup=True, highlight=False)
    if len(bad) > 25:
        console.print(f"  ... and {len(bad) - 25} more (see coverage.md)")
    junits = sorted(p.name for p in Path(report_dir).glob("junit*.xml"))
    extra = "".join(f", {report_dir}/{j}" for j in junits)
    console.print(f"reports: {report_dir}/coverage.{{json,md,html}}{extra}")


def record_history(
    cov: dict[str, Any], history_path: Path, report_dir: Path, exit_code: int, err: Console
) -> int | None:
    """Append the run to the history database; a broken database is a warning, not a crash."""
    from .history import History, HistoryError

    try:
        return History(history_path).record(cov, report_dir=report_dir, exit_code=exit_code)
    except HistoryError as e:
        err.print(f"warning: run not added to history: {e}", markup=False, highlight=False)
        return None
