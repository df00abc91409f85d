"""``hftestgen report``: rebuild a report folder's reports from its own results, or merge the
report folders of several shards (``--merge DIR ... --report OUT``) into one report, with the
merged ``results.jsonl``, each shard's JUnit XML and (unless ``--no-history``) a history record.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console

from .._io import atomic_write_text
from ..errors import UsageError
from ..report import (
    RESULTS_FILE,
    Results,
    build_coverage,
    failed,
    merge_dirs,
    read_coverage,
    universe_from_registry,
    write_reports,
)
from ..report.coverage import now_iso, versions
from .pytest_proc import JUNIT_FILE
from .summary import invoked_command, print_summary, record_history


def report_command(
    merge: Iterable[Path] | None,
    report_dir: Path,
    *,
    registry: Any = None,
    min_coverage: float | None = None,
    history: Path | None = None,
    record: bool = True,
    console: Console,
    err_console: Console,
) -> int:
    """Write reports into ``report_dir`` from its own results, or from several merged folders."""
    if min_coverage is not None and not 0 <= min_coverage <= 100:
        raise UsageError("--min-coverage must be between 0 and 100")
    report_dir = Path(report_dir)
    dirs = [Path(d) for d in (merge or [])] or [report_dir]
    results, universe, info = merge_dirs(dirs)
    if registry is not None:
        reg_u = universe_from_registry(registry)
        for mt, meta in universe.items():
            reg_u.setdefault(mt, meta)
        universe = reg_u
    if info["duplicates"]:
        err_console.print(
            f"warning: {len(info['duplicates'])} test(s) appear in more than one folder "
            f"(e.g. {info['duplicates'][0]}); the later folder's result is kept",
            markup=False,
        )
    if merge:
        run_meta = _merged_run_meta(info)
    else:  # a rebuild keeps the folder's own run facts
        old = read_coverage(report_dir) or {}
        run_meta = {**(old.get("run") or {}), "rebuilt_at": now_iso()}
    cov = build_coverage(results, universe, info["selected"], run_meta, versions())
    code = 1 if failed(cov) else 0
    if min_coverage is not None and cov["totals"]["coverage_pct"] < min_coverage:
        code = 1
        cov["run"]["below_min_coverage"] = True
    if merge:
        _warn_missing_shards(cov, info["selected"], err_console)
    cov["run"]["exit_code"] = code
    if merge:
        _write_merged_inputs(results, dirs, report_dir)
    write_reports(cov, report_dir)
    print_summary(cov, report_dir, console)
    if merge and record:
        history_path = history or report_dir / "history.sqlite"
        run_id = record_history(cov, history_path, report_dir, code, err_console)
        if run_id is not None:
            console.print(f"history: run {run_id} in {history_path}")
    return code


def _merged_run_meta(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "command": invoked_command("hftestgen report"),
        "merged_from": info["merged_from"],
        "shards": info["shards"],
        "selected": info["selected"],
        "shard": None,
        "wall_s": info.get("wall_s"),  # the slowest shard: shards run side by side
    }


def _warn_missing_shards(cov: dict[str, Any], selected: list[str], err_console: Console) -> None:
    sel = set(selected)
    not_run = [m for m, t in cov["types"].items() if m in sel and t["status"] == "not-run"]
    if not_run:
        err_console.print(
            f"warning: {len(not_run)} selected type(s) have no results in any folder "
            f"(e.g. {not_run[0]}); a shard is missing?",
            markup=False,
        )


def _write_merged_inputs(results: Results, dirs: list[Path], report_dir: Path) -> None:
    """The merged ``results.jsonl``, and each shard's JUnit XML beside it (CI tools read them
    all)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"event": "test", **r}, sort_keys=True) for r in results.tests.values()]
    lines += [json.dumps(e, sort_keys=True) for e in results.collect_errors]
    atomic_write_text(report_dir / RESULTS_FILE, "\n".join(lines) + ("\n" if lines else ""))
    for i, d in enumerate(dirs, 1):
        src = d / JUNIT_FILE
        dst = report_dir / f"junit-{i}.xml"
        if src.is_file() and src.resolve() != dst.resolve():
            shutil.copyfile(src, dst)
