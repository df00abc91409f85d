"""``hftestgen run``: run the generated suite with pytest-xdist, then write reports and history.

The steps, each a function below: check the options, pick the files (``--shard K/N``:
``shards.py``), run pytest (``pytest_proc.py``), work out the exit code, write
``coverage.json``/``.md``/``.html`` into the report folder, then append the run to the history
database. Reports are always written first, even when the run was interrupted or the history
database is broken.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import UsageError
from ..report import (
    RESULTS_FILE,
    Results,
    build_coverage,
    failed,
    universe_from_registry,
    write_reports,
)
from ..report.coverage import now_iso, versions
from .collect import generated_files
from .pytest_proc import LOG_FILE, LiveProgress, print_log_tail, run_pytest
from .shards import parse_shard, parse_workers, plan_shards, shard_weights
from .summary import invoked_command, print_summary, record_history


def run_command(
    registry: Any,
    specs: list[Any],
    *,
    out_dir: Path,
    report_dir: Path,
    workers: str | int | None = "auto",
    timeout: float = 120.0,
    shard: str | None = None,
    min_coverage: float | None = None,
    history: Path | None = None,
    settings: Any = None,
    console: Console,
    err_console: Console,
    warm: bool = False,
    ray: str | None = None,
) -> int:
    """Run the generated tests of ``specs``; returns the exit code (0 ok, 1 failures, 130
    interrupted). ``ray``: run them on a Ray cluster instead (``run/ray_exec.py``): "local"
    starts one, else the address to connect to."""
    if ray is not None and warm:
        raise UsageError("--ray and --warm do not go together (Ray workers are warm already)")
    workers_s, shard_kn = _check_options(workers, shard, timeout, min_coverage, warm)
    out_dir = Path(out_dir).resolve()
    # pytest runs with the suite folder as cwd: every path handed to it must be absolute.
    report_dir = Path(report_dir).resolve()
    history_path = _history_path(settings, report_dir, history)
    if not out_dir.is_dir():
        raise UsageError(
            f"no generated tests in {str(out_dir)!r}; run 'hftestgen generate --all --out {out_dir}' first"
        )
    spec_by_type = {s.model_type: s for s in specs}
    selection = sorted(spec_by_type)  # before sharding: lets a merge notice a missing shard
    selected = list(spec_by_type)
    if shard_kn is not None:
        selected = _shard_part(spec_by_type, shard_kn, history_path, err_console)
    files = _files_for(selected, spec_by_type, out_dir)
    run_meta: dict[str, Any] = {
        "command": invoked_command("hftestgen run"),
        "out": str(out_dir),
        "workers": workers_s,
        "warm": warm,
        "ray": ray,
        "timeout_s": timeout,
        "shard": f"{shard_kn[0]}/{shard_kn[1]}" if shard_kn else None,
        "min_coverage": min_coverage,
        "selected": sorted(selected),
        "selection": selection,
    }
    from ..checks.pretrained import PRETRAINED_ENV

    if os.environ.get(PRETRAINED_ENV, "") not in ("", "0"):  # run --pretrained
        run_meta["pretrained"] = True
    if os.environ.get("HFTESTGEN_ENV"):  # run --transformers V: the environment's name
        run_meta["env"] = os.environ["HFTESTGEN_ENV"]
    report_dir.mkdir(parents=True, exist_ok=True)
    if ray is not None:
        weights = _type_weights(spec_by_type, history_path, err_console, "ordering")
        results = _execute_ray(
            files,
            out_dir,
            report_dir,
            run_meta,
            err_console,
            {f: weights.get(mt, 1.0) for mt, f in zip(selected, files, strict=True)},
        )
    else:
        results = _execute(files, out_dir, report_dir, run_meta, err_console)
    cov = build_coverage(results, universe_from_registry(registry), selected, run_meta, versions())
    code = _exit_code(cov, results, run_meta, bool(files), report_dir, err_console)
    return _finish(cov, code, min_coverage, report_dir, history_path, console, err_console)


def _finish(
    cov: dict[str, Any],
    code: int,
    min_coverage: float | None,
    report_dir: Path,
    history_path: Path,
    console: Console,
    err_console: Console,
) -> int:
    """Apply ``--min-coverage``, write the reports, print the summary, then record the run in
    the history (not an interrupted one: exit 130)."""
    if min_coverage is not None and cov["totals"]["coverage_pct"] < min_coverage:
        code = 1
        cov["run"]["below_min_coverage"] = True
    cov["run"]["exit_code"] = code
    write_reports(cov, report_dir)
    print_summary(cov, report_dir, console)
    if min_coverage is not None and cov["run"].get("below_min_coverage"):
        console.print(
            f"coverage {cov['totals']['coverage_pct']}% is below --min-coverage {min_coverage}%"
        )
    if cov["run"].get("interrupted"):
        console.print("history: an interrupted run is not recorded")
        return 130
    run_id = record_history(cov, history_path, report_dir, code, err_console)
    if run_id is not None:
        console.print(f"history: run {run_id} in {history_path}")
    return code


def _check_options(
    workers: str | int | None,
    shard: str | None,
    timeout: float,
    min_coverage: float | None,
    warm: bool,
) -> tuple[str, tuple[int, int] | None]:
    workers_s = parse_workers(workers)
    if warm and workers_s != "0":
        # A warm run is one fork of the server; xdist workers would be new, cold interpreters.
        workers_s = "0"
    shard_kn = parse_shard(shard)
    if timeout is None or timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if min_coverage is not None and not 0 <= min_coverage <= 100:
        raise UsageError("--min-coverage must be between 0 and 100")
    return workers_s, shard_kn


def _history_path(settings: Any, report_dir: Path, history: Path | None) -> Path:
    if history is not None:
        return history
    if settings is not None and getattr(settings, "history", None) is not None:
        return settings.history
    return report_dir / "history.sqlite"


def _shard_part(
    spec_by_type: dict[str, Any],
    shard_kn: tuple[int, int],
    history_path: Path,
    err_console: Console,
) -> list[str]:
    """The types of shard K of N, weighted by recorded durations where the history has them."""
    k, n = shard_kn
    return plan_shards(_type_weights(spec_by_type, history_path, err_console), n)[k - 1]


def _type_weights(
    spec_by_type: dict[str, Any], history_path: Path, err_console: Console, use: str = "sharding"
) -> dict[str, float]:
    """Expected seconds per type: the history's latest duration, else an estimate from the
    class count (``shards.shard_weights``)."""
    from .history import History, HistoryError

    durations: dict[str, float] = {}
    if history_path.exists():
        try:
            durations = History(history_path).type_durations()
        except HistoryError as e:
            err_console.print(f"warning: {use} by class counts: {e}", markup=False)
    return shard_weights(
        {mt: len(spec.all_classes()) for mt, spec in spec_by_type.items()}, durations
    )


def _files_for(selected: list[str], spec_by_type: dict[str, Any], out_dir: Path) -> list[Path]:
    """The generated file of each selected type; a usage error when any is missing."""
    files_by_type = generated_files(out_dir)
    files = []
    missing = []
    for mt in selected:
        f = files_by_type.get(mt) or (out_dir / f"test_hf_{spec_by_type[mt].identifier}.py")
        (files if f.is_file() else missing).append(f)
    if missing:
        names = ", ".join(p.name for p in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise UsageError(
            f"{len(missing)} generated file(s) missing in {out_dir} ({names}); run "
            f"'hftestgen generate --all --out {out_dir}' first"
        )
    return files


def _execute(
    files: list[Path],
    out_dir: Path,
    report_dir: Path,
    run_meta: dict[str, Any],
    err_console: Console,
) -> Results:
    """Run pytest on ``files`` with a live progress bar; adds timing and exit facts to
    ``run_meta``. No files: an empty results file and nothing run."""
    if not files:
        err_console.print("nothing to run: the selection (or this shard) holds no model types")
        (report_dir / RESULTS_FILE).write_text("")
        now = now_iso()
        run_meta.update(started_at=now, finished_at=now, wall_s=0.0, pytest_exit_code=None)
        return Results()
    if (out_dir / "conftest.py").is_file() is False:
        err_console.print(
            f"warning: {out_dir}/conftest.py is missing; loading hftestgen.run.pytest_plugin anyway"
        )
    with LiveProgress(err_console) as live:
        outcome = run_pytest(
            files,
            work_dir=report_dir,
            rootdir=out_dir,
            workers=run_meta["workers"],
            timeout=run_meta["timeout_s"],
            on_record=live,
            warm=run_meta["warm"],
            note=lambda m: err_console.print(f"warm: {m}", markup=False),
        )
    run_meta.update(
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
        wall_s=outcome.wall_s,
        pytest_exit_code=outcome.returncode,
        interrupted=outcome.interrupted,
    )
    return outcome.results


def _execute_ray(
    files: list[Path],
    out_dir: Path,
    report_dir: Path,
    run_meta: dict[str, Any],
    err_console: Console,
    weights: dict[Path, float],
) -> Results:
    """Like ``_execute``, on Ray: records stream into ``results.jsonl`` as units finish."""
    from .ray_exec import plan_units, require_ray, run_on_ray

    require_ray()  # before any file is touched: exit 2 with the install line
    results = Results()
    results_path = report_dir / RESULTS_FILE
    started = now_iso()
    if not files:
        return _execute(files, out_dir, report_dir, run_meta, err_console)
    conftest = out_dir / "conftest.py"
    conftest_text = conftest.read_text(encoding="utf-8") if conftest.is_file() else ""
    with (
        open(results_path, "w", encoding="utf-8") as rf,
        open(report_dir / LOG_FILE, "w", encoding="utf-8") as log,
        LiveProgress(err_console) as live,
    ):

        def emit(rec: dict[str, Any]) -> None:
            rf.write(json.dumps(rec, sort_keys=True) + "\n")
            rf.flush()
            results.add(rec)
            live(rec, results)

        def write_log(text: str) -> None:
            log.write(text)
            log.flush()

        log.write(f"$ {run_meta['command']}  (on Ray: {run_meta['ray']})\n")
        emit({"event": "start", "time": time.time(), "pid": os.getpid()})
        outcome = run_on_ray(
            plan_units(files, weights),
            address=run_meta["ray"],
            workers=run_meta["workers"],
            timeout=run_meta["timeout_s"],
            conftest=conftest_text,
            emit=emit,
            log=write_log,
            note=lambda m: err_console.print(f"ray: {m}", markup=False),
        )
        if not outcome.interrupted:
            emit({"event": "finish", "exitstatus": outcome.returncode, "time": time.time()})
    run_meta.update(
        started_at=started,
        finished_at=now_iso(),
        wall_s=outcome.wall_s,
        pytest_exit_code=outcome.returncode,
        interrupted=outcome.interrupted,
        ray_actors=outcome.actors,
        ray_retried=outcome.retried,
        ray_lost=outcome.lost,
    )
    return results


def _exit_code(
    cov: dict[str, Any],
    results: Results,
    run_meta: dict[str, Any],
    ran_files: bool,
    report_dir: Path,
    err_console: Console,
) -> int:
    """1 when a test failed, or pytest itself failed (usage error, crash, run cut short)."""
    code = 1 if failed(cov) else 0
    pytest_rc = run_meta.get("pytest_exit_code")
    log = report_dir / LOG_FILE
    if run_meta.get("interrupted"):
        err_console.print("interrupted: the reports hold the tests that finished")
    elif pytest_rc in (2, 3, 4) or (pytest_rc not in (None, 0, 1, 5) and not results.tests):
        code = 1
        err_console.print(f"pytest exited with code {pytest_rc}; see {log}", markup=False)
        print_log_tail(log, err_console)
    if ran_files and not results.finished and not run_meta.get("interrupted"):
        code = 1
        err_console.print(f"the pytest run did not finish normally; see {log}", markup=False)
    return code
