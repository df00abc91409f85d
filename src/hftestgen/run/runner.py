"""``hftestgen run``: run the generated suite with pytest-xdist, then write reports and history.

The tests run in a pytest subprocess (``python -m pytest``) with:

* ``-n N|auto --dist worksteal`` (pytest-xdist; ``-n 0`` runs in one process),
* ``--timeout S --timeout-method signal`` (pytest-timeout: a hanging test fails with a
  timeout and the run goes on),
* ``--junitxml <report>/junit.xml``,
* ``--hftestgen-results <report>/results.jsonl`` (``hftestgen.run.pytest_plugin`` writes one JSON
  line per test; this process tails that file for the live progress bar),
* its own minimal ini file and ``--rootdir <out>`` so the project's pytest settings (testpaths,
  addopts) do not leak into the generated suite.

``--shard K/N`` splits the selected types into N parts by greedy longest-processing-time on
per-type weights: the latest recorded duration from the history database when there is one,
else the number of model classes. The split is deterministic for the same inputs, so every CI
shard job must see the same history file (or none); ``hftestgen report --merge`` warns when
selected types have no results in any shard folder.

Afterwards ``coverage.json``/``.md``/``.html`` are written into the report folder and the run is
appended to the history database. Reports are always written first, even when the run was
interrupted or the history database is broken.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import UsageError
from ..report import (
    RESULTS_FILE,
    Results,
    Tail,
    build_coverage,
    failed,
    universe_from_registry,
    write_reports,
)
from ..report.coverage import now_iso, versions

JUNIT_FILE = "junit.xml"
LOG_FILE = "pytest.log"


# ---------------------------------------------------------------------------------------------
# argument parsing


def parse_workers(value: str | int | None) -> str:
    """'auto', or a non-negative integer as a string; anything else is a usage error."""
    if value is None:
        return "auto"
    s = str(value).strip().lower()
    if s in ("auto", "logical"):
        return s
    try:
        n = int(s)
    except ValueError:
        raise UsageError(f"-n must be a number of workers or 'auto', not {value!r}") from None
    if n < 0:
        raise UsageError(f"-n must be 0 or more, not {n}")
    return str(n)


def parse_shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        k_s, n_s = value.split("/")
        k, n = int(k_s), int(n_s)
    except ValueError:
        raise UsageError(f"--shard must look like K/N (e.g. 2/4), not {value!r}") from None
    if n < 1 or not 1 <= k <= n:
        raise UsageError(f"--shard {value}: need 1 <= K <= N")
    return k, n


# ---------------------------------------------------------------------------------------------
# sharding


def shard_weights(
    classes: dict[str, int], durations: dict[str, float] | None = None
) -> dict[str, float]:
    """Weight per model type: its recorded duration when known, else an estimate.

    With no durations at all, the weight is the number of model classes (tests scale with it).
    When only some types have durations, the others get (mean seconds per class) x classes.
    """
    durations = {k: v for k, v in (durations or {}).items() if k in classes and v and v > 0}
    if not durations:
        return {mt: float(max(1, c)) for mt, c in classes.items()}
    per_class = sum(durations.values()) / max(1, sum(max(1, classes[m]) for m in durations))
    return {mt: durations.get(mt, per_class * max(1, c)) for mt, c in classes.items()}


def plan_shards(weights: dict[str, float], n: int) -> list[list[str]]:
    """Split types into ``n`` parts by greedy longest-processing-time: deterministic, balanced.

    Every type lands in exactly one part; each part is sorted by name.
    """
    if n < 1:
        raise UsageError("number of shards must be at least 1")
    loads = [0.0] * n
    parts: list[list[str]] = [[] for _ in range(n)]
    for mt in sorted(weights, key=lambda m: (-round(weights[m], 6), m)):
        i = min(range(n), key=lambda j: (round(loads[j], 6), j))
        parts[i].append(mt)
        loads[i] += weights[mt]
    return [sorted(p) for p in parts]


# ---------------------------------------------------------------------------------------------
# generated files


def case_model_type(path: Path) -> str | None:
    """``CASE.model_type`` of a generated file, read with ``ast`` (nothing is imported)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    try:
        tree = ast.parse(text, str(path))
    except (SyntaxError, ValueError):  # a broken file still names its type
        m = re.search(r"CASE\s*=\s*Case\(\s*model_type=([\"'])(.*?)\1", text)
        return m.group(2) if m else None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "CASE" for t in node.targets)
            and isinstance(node.value, ast.Call)
        ):
            for kw in node.value.keywords:
                if kw.arg == "model_type" and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value)
    return None


def generated_files(out_dir: Path) -> dict[str, Path]:
    """model_type -> generated test file, for every ``test_hf_*.py`` in ``out_dir``."""
    out = {}
    for p in sorted(Path(out_dir).glob("test_hf_*.py")):
        mt = case_model_type(p)
        if mt is not None:
            out[mt] = p
    return out


# ---------------------------------------------------------------------------------------------
# running pytest


@dataclass
class RunOutcome:
    returncode: int
    results: Results
    wall_s: float
    interrupted: bool = False
    started_at: str = ""
    finished_at: str = ""
    command: list[str] = field(default_factory=list)


def pytest_command(
    files: Sequence[Path],
    *,
    results_path: Path,
    junit_path: Path | None,
    workers: str,
    timeout: float,
    rootdir: Path,
    inifile: Path,
    extra: Sequence[str] = (),
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(inifile),
        "--rootdir",
        str(rootdir),
        "-p",
        "hftestgen.run.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--hftestgen-results",
        str(results_path),
        "--timeout",
        str(timeout),
        "--timeout-method",
        "signal",
        "-q",
        "-rfE",
        "--color=no",
    ]
    if junit_path is not None:
        cmd += ["--junitxml", str(junit_path), "-o", "junit_family=xunit2"]
    if workers not in ("0",):
        # worksteal: types differ a lot in duration. (loadfile re-runs a test that crashed its
        # worker on every replacement worker until the restart budget is gone.) A crash costs
        # one worker restart; allow many so one segfaulting model does not end the run.
        cmd += ["-n", workers, "--dist", "worksteal", "--max-worker-restart", "1000"]
    cmd += list(extra)
    cmd += [str(f) for f in files]
    return cmd


def run_pytest(
    files: Sequence[Path],
    *,
    work_dir: Path,
    rootdir: Path,
    workers: str = "auto",
    timeout: float = 120.0,
    junit: bool = True,
    on_record: Callable[[dict[str, Any], Results], None] | None = None,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
    warm: bool = False,
    note: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Run pytest on ``files``; records go to ``work_dir/results.jsonl``, output to pytest.log.

    ``warm``: run it in the warm server (``hftestgen.run.warm``: torch already imported, one forked
    process, so ``workers`` must be "0"); where none answers, a plain subprocess, and ``note``
    says so."""
    work_dir.mkdir(parents=True, exist_ok=True)
    results_path = work_dir / RESULTS_FILE
    results_path.write_text("")  # a new run replaces the previous one's records
    log_path = work_dir / LOG_FILE
    with tempfile.TemporaryDirectory(prefix="hftestgen-run-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\njunit_suite_name = hftestgen\n")
        cmd = pytest_command(
            files,
            results_path=results_path,
            junit_path=(work_dir / JUNIT_FILE) if junit else None,
            workers=workers,
            timeout=timeout,
            rootdir=rootdir,
            inifile=ini,
            extra=extra,
        )
        results = Results()
        tail = Tail(results_path)
        started = now_iso()
        t0 = time.monotonic()
        interrupted = False
        run_env = dict(os.environ if env is None else env)
        run_env.setdefault("PYTHONUNBUFFERED", "1")
        if workers != "0":
            # Tiny models gain nothing from intra-op threads; N workers x all cores each
            # oversubscribes the CPU. The user's own setting wins.
            run_env.setdefault("OMP_NUM_THREADS", "1")
            run_env.setdefault("MKL_NUM_THREADS", "1")
        with open(log_path, "w", encoding="utf-8") as log:
            log.write("$ " + shlex.join(cmd) + "\n")
            log.flush()
            proc: Any = None
            if warm:
                from .warm import RemoteProcess, WarmError

                try:
                    with open(os.devnull, "rb") as devnull:
                        proc = RemoteProcess(
                            cmd[3:],  # drop "python -m pytest"
                            cwd=rootdir,
                            env=run_env,
                            stdin=devnull.fileno(),
                            stdout=log.fileno(),
                            stderr=log.fileno(),
                        )
                except WarmError as e:
                    if note is not None:
                        note(f"{e}; running pytest in a new process instead")
            if proc is None:
                proc = subprocess.Popen(
                    cmd, cwd=str(rootdir), stdout=log, stderr=subprocess.STDOUT, env=run_env
                )

            def drain() -> None:
                for rec in tail.read():
                    results.add(rec)
                    if on_record is not None:
                        on_record(rec, results)

            try:
                while proc.poll() is None:
                    drain()
                    time.sleep(0.2)
            except KeyboardInterrupt:
                interrupted = True
                # A terminal's Ctrl-C reached pytest too (same process group); pytest then ends
                # its session and the plugin writes what finished. Nudge it if it did not.
                for sig, wait in ((None, 5), (signal.SIGINT, 20), (signal.SIGKILL, 10)):
                    if sig is not None and proc.poll() is None:
                        proc.send_signal(sig)
                    try:
                        proc.wait(timeout=wait)
                        break
                    except subprocess.TimeoutExpired:
                        continue
                    except KeyboardInterrupt:
                        continue
            drain()
        return RunOutcome(
            returncode=proc.returncode,
            results=results,
            wall_s=round(time.monotonic() - t0, 3),
            interrupted=interrupted,
            started_at=started,
            finished_at=now_iso(),
            command=cmd,
        )


class LiveProgress:
    """A rich progress bar fed by test records (passed/failed/skipped counts)."""

    def __init__(self, console: Console, total_hint: int | None = None):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]running[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task("tests", total=total_hint, counts="")

    def __enter__(self) -> LiveProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, rec: dict[str, Any], results: Results) -> None:
        ev = rec.get("event")
        if ev == "collected":
            self.progress.update(self.task, total=results.collected)
        elif ev in ("test", "collect_error"):
            c = results.counts()
            counts = (
                f"[green]{c['passed']} passed[/green] [red]{c['failed'] + c['error']} failed[/red] "
                f"[yellow]{c['skipped']} skipped[/yellow]"
            )
            if results.collect_errors:
                counts += f" [red]{len(results.collect_errors)} collect errors[/red]"
            self.progress.update(self.task, completed=len(results.tests), counts=counts)


# ---------------------------------------------------------------------------------------------
# hftestgen run


def _history_path(settings: Any, report_dir: Path, history: Path | None) -> Path:
    if history is not None:
        return history
    if settings is not None and getattr(settings, "history", None) is not None:
        return settings.history
    return report_dir / "history.sqlite"


def _print_summary(cov: dict[str, Any], report_dir: Path, console: Console) -> None:
    t = cov["totals"]
    bs = t["by_status"]
    tt = t["tests"]
    known = bs.get("known-issue", 0)
    ran = bs["passed"] + bs["failed"] + known + bs["skipped"]
    console.print(
        f"{ran} model type{'' if ran == 1 else 's'} run: [green]{bs['passed']} passed[/green], "
        f"[red]{bs['failed']} failed[/red], {known} known-issue (upstream bugs), "
        f"[yellow]{bs['skipped']} skipped[/yellow] "
        f"(coverage {t['coverage_pct']}% of types run). Tests: {tt['passed']} passed, "
        f"{tt['failed']} failed, {tt['error']} errors, {tt['skipped']} skipped"
        f" (of which {tt.get('known_bug', 0)} xfail: known upstream bugs)."
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
    from .history import History, HistoryError

    try:
        return History(history_path).record(cov, report_dir=report_dir, exit_code=exit_code)
    except HistoryError as e:
        err.print(f"warning: run not added to history: {e}", markup=False, highlight=False)
        return None


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
) -> int:
    """Run the generated tests of ``specs``; returns the exit code (0 ok, 1 failures)."""
    from .history import History, HistoryError

    workers_s = parse_workers(workers)
    if warm and workers_s != "0":
        # A warm run is one fork of the server; xdist workers would be new, cold interpreters.
        workers_s = "0"
    shard_kn = parse_shard(shard)
    if timeout is None or timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if min_coverage is not None and not 0 <= min_coverage <= 100:
        raise UsageError("--min-coverage must be between 0 and 100")
    out_dir = Path(out_dir).resolve()
    # pytest runs with the suite folder as cwd: every path handed to it must be absolute.
    report_dir = Path(report_dir).resolve()
    history_path = _history_path(settings, report_dir, history)
    if not out_dir.is_dir():
        raise UsageError(
            f"no generated tests in {str(out_dir)!r}; run 'hftestgen generate --all --out {out_dir}' first"
        )
    files_by_type = generated_files(out_dir)
    spec_by_type = {s.model_type: s for s in specs}
    selected = list(spec_by_type)
    selection = sorted(selected)  # before sharding: lets a merge notice a missing shard

    if shard_kn is not None:
        k, n = shard_kn
        durations: dict[str, float] = {}
        if history_path.exists():
            try:
                durations = History(history_path).type_durations()
            except HistoryError as e:
                err_console.print(f"warning: sharding by class counts: {e}", markup=False)
        weights = shard_weights(
            {mt: len(spec_by_type[mt].all_classes()) for mt in selected}, durations
        )
        selected = plan_shards(weights, n)[k - 1]

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

    run_meta: dict[str, Any] = {
        "command": shlex.join(["hftestgen", *sys.argv[1:]]) if sys.argv else "hftestgen run",
        "out": str(out_dir),
        "workers": workers_s,
        "warm": warm,
        "timeout_s": timeout,
        "shard": f"{shard_kn[0]}/{shard_kn[1]}" if shard_kn else None,
        "min_coverage": min_coverage,
        "selected": sorted(selected),
        "selection": selection,
    }
    report_dir.mkdir(parents=True, exist_ok=True)
    if files:
        if (out_dir / "conftest.py").is_file() is False:
            err_console.print(
                f"warning: {out_dir}/conftest.py is missing; loading hftestgen.run.pytest_plugin anyway"
            )
        with LiveProgress(err_console) as live:
            outcome = run_pytest(
                files,
                work_dir=report_dir,
                rootdir=out_dir,
                workers=workers_s,
                timeout=timeout,
                on_record=live,
                warm=warm,
                note=lambda m: err_console.print(f"warm: {m}", markup=False),
            )
        run_meta.update(
            started_at=outcome.started_at,
            finished_at=outcome.finished_at,
            wall_s=outcome.wall_s,
            pytest_exit_code=outcome.returncode,
            interrupted=outcome.interrupted,
        )
        results = outcome.results
    else:
        err_console.print("nothing to run: the selection (or this shard) holds no model types")
        (report_dir / RESULTS_FILE).write_text("")
        results = Results()
        now = now_iso()
        run_meta.update(started_at=now, finished_at=now, wall_s=0.0, pytest_exit_code=None)

    cov = build_coverage(results, universe_from_registry(registry), selected, run_meta, versions())
    code = 1 if failed(cov) else 0
    pytest_rc = run_meta.get("pytest_exit_code")
    if run_meta.get("interrupted"):
        err_console.print("interrupted: the reports hold the tests that finished")
    elif pytest_rc in (2, 3, 4) or (pytest_rc not in (None, 0, 1, 5) and not results.tests):
        code = 1
        err_console.print(
            f"pytest exited with code {pytest_rc}; see {report_dir / LOG_FILE}", markup=False
        )
        _print_log_tail(report_dir / LOG_FILE, err_console)
    if files and not results.finished and not run_meta.get("interrupted"):
        code = 1
        err_console.print(
            f"the pytest run did not finish normally; see {report_dir / LOG_FILE}", markup=False
        )
    if min_coverage is not None and cov["totals"]["coverage_pct"] < min_coverage:
        code = 1
        cov["run"]["below_min_coverage"] = True
    cov["run"]["exit_code"] = code
    write_reports(cov, report_dir)
    _print_summary(cov, report_dir, console)
    if min_coverage is not None and cov["run"].get("below_min_coverage"):
        console.print(
            f"coverage {cov['totals']['coverage_pct']}% is below --min-coverage {min_coverage}%"
        )
    if run_meta.get("interrupted"):
        console.print("history: an interrupted run is not recorded")
        return 130
    run_id = record_history(cov, history_path, report_dir, code, err_console)
    if run_id is not None:
        console.print(f"history: run {run_id} in {history_path}")
    return code


def _print_log_tail(path: Path, console: Console, lines: int = 15) -> None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    for ln in text[-lines:]:
        console.print("  " + ln, markup=False, highlight=False)


# ---------------------------------------------------------------------------------------------
# hftestgen report --merge


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
    from ..report import merge_dirs

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
    run_meta = {
        "command": shlex.join(["hftestgen", *sys.argv[1:]]) if sys.argv else "hftestgen report",
        "merged_from": info["merged_from"] if merge else [],
        "shards": info["shards"],
        "selected": info["selected"],
        "shard": None,
        "wall_s": info.get("wall_s"),  # the slowest shard: shards run side by side
    }
    if len(dirs) == 1 and not merge:
        from ..report import read_coverage

        old = read_coverage(report_dir) or {}
        run_meta = {**(old.get("run") or {}), "rebuilt_at": now_iso()}
    cov = build_coverage(results, universe, info["selected"], run_meta, versions())
    code = 1 if failed(cov) else 0
    if min_coverage is not None and cov["totals"]["coverage_pct"] < min_coverage:
        code = 1
        cov["run"]["below_min_coverage"] = True
    if merge:
        sel = set(info["selected"])
        not_run = [m for m, t in cov["types"].items() if m in sel and t["status"] == "not-run"]
        if not_run:
            err_console.print(
                f"warning: {len(not_run)} selected type(s) have no results in any folder "
                f"(e.g. {not_run[0]}); a shard is missing?",
                markup=False,
            )
    cov["run"]["exit_code"] = code
    if merge:
        import json

        from .._io import atomic_write_text

        report_dir.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"event": "test", **r}, sort_keys=True) for r in results.tests.values()]
        lines += [json.dumps(e, sort_keys=True) for e in results.collect_errors]
        atomic_write_text(report_dir / RESULTS_FILE, "\n".join(lines) + ("\n" if lines else ""))
        # Keep each shard's JUnit XML beside the merged report (CI tools read them all).
        import shutil

        for i, d in enumerate(dirs, 1):
            src = d / JUNIT_FILE
            dst = report_dir / f"junit-{i}.xml"
            if src.is_file() and src.resolve() != dst.resolve():
                shutil.copyfile(src, dst)
    write_reports(cov, report_dir)
    _print_summary(cov, report_dir, console)
    if merge and record:
        run_id = record_history(
            cov, history or report_dir / "history.sqlite", report_dir, code, err_console
        )
        if run_id is not None:
            console.print(f"history: run {run_id} in {history or report_dir / 'history.sqlite'}")
    return code


# ---------------------------------------------------------------------------------------------
# hftestgen generate --verify


def verify_files(
    out_dir: Path, model_types: list[str], console: Console, timeout: float | None = None
) -> int:
    """Compile, import and run the generated files of ``model_types``; print one line per file.

    Returns 0 when every file compiled, collected and had no failing test, else 1.
    """
    out_dir = Path(out_dir).resolve()
    files_by_type = generated_files(out_dir) if out_dir.is_dir() else {}
    if timeout is None:
        try:
            from .settings import load_settings

            timeout = float(load_settings().timeout)
        except Exception:
            timeout = 120.0
    problems: dict[str, str] = {}
    to_run: dict[str, Path] = {}
    for mt in model_types:
        f = files_by_type.get(mt)
        if f is None:
            problems[mt] = "generated file not found"
            continue
        try:
            compile(f.read_text(encoding="utf-8"), str(f), "exec")
        except SyntaxError as e:
            problems[mt] = f"does not compile: line {e.lineno}: {e.msg}"
            continue
        to_run[mt] = f
    results = Results()
    if to_run:
        with tempfile.TemporaryDirectory(prefix="hftestgen-verify-") as tmp:
            workers = "0" if len(to_run) < 4 else "auto"
            with LiveProgress(Console(stderr=True)) as live:
                outcome = run_pytest(
                    list(to_run.values()),
                    work_dir=Path(tmp),
                    rootdir=out_dir,
                    workers=workers,
                    timeout=timeout,
                    junit=False,
                    on_record=live,
                )
            results = outcome.results
            if not results.finished:
                log = (Path(tmp) / LOG_FILE).read_text(errors="replace").splitlines()[-10:]
                console.print("pytest did not finish:", markup=False)
                for ln in log:
                    console.print("  " + ln, markup=False)
    by_file: dict[str, list[dict[str, Any]]] = {}
    for r in results.tests.values():
        by_file.setdefault(r.get("file"), []).append(r)
    cerr = {e.get("file"): e.get("message") for e in results.collect_errors}
    code = 0
    for mt in model_types:
        name = files_by_type[mt].name if mt in files_by_type else f"{mt}"
        if mt in problems:
            console.print(f"FAIL  {name}: {problems[mt]}", markup=False)
            code = 1
            continue
        if name in cerr:
            console.print(f"FAIL  {name}: does not import: {cerr[name]}", markup=False)
            code = 1
            continue
        recs = by_file.get(name, [])
        c = {
            k: sum(1 for r in recs if r["outcome"] == k)
            for k in ("passed", "failed", "error", "skipped")
        }
        summary = f"{c['passed']} passed, {c['failed'] + c['error']} failed, {c['skipped']} skipped"
        if c["failed"] or c["error"]:
            first = next(r for r in recs if r["outcome"] in ("failed", "error"))
            label = first["check"] + (f"[{first['param']}]" if first.get("param") else "")
            console.print(f"FAIL  {name}: {summary}; {label}: {first.get('message')}", markup=False)
            code = 1
        elif not recs:
            console.print(f"FAIL  {name}: no test ran", markup=False)
            code = 1
        elif c["passed"]:
            console.print(f"ok    {name}: {summary}", markup=False)
        else:
            reasons = sorted({r.get("skip_reason") or "" for r in recs})
            console.print(f"skip  {name}: {summary} ({'; '.join(reasons)[:200]})", markup=False)
    return code
