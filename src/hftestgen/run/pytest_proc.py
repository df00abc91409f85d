"""The pytest subprocess of ``hftestgen run`` / ``generate --verify``, and its live progress.

The tests run in a pytest subprocess (``python -m pytest``) with:

* ``-n N|auto --dist worksteal`` (pytest-xdist; ``-n 0`` runs in one process),
* ``--timeout S --timeout-method signal`` (pytest-timeout: a hanging test fails with a
  timeout and the run goes on),
* ``--junitxml <report>/junit.xml``,
* ``--hftestgen-results <report>/results.jsonl`` (``hftestgen.run.pytest_plugin`` writes one JSON
  line per test; this process tails that file for the live progress bar),
* its own minimal ini file and ``--rootdir <out>`` so the project's pytest settings (testpaths,
  addopts) do not leak into the generated suite.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from ..report import RESULTS_FILE, Results, Tail
from ..report.coverage import now_iso

JUNIT_FILE = "junit.xml"
LOG_FILE = "pytest.log"


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
        run_env = _run_env(env, workers)

        def drain() -> None:
            for rec in tail.read():
                results.add(rec)
                if on_record is not None:
                    on_record(rec, results)

        with open(work_dir / LOG_FILE, "w", encoding="utf-8") as log:
            log.write("$ " + shlex.join(cmd) + "\n")
            log.flush()
            proc = _start(cmd, rootdir, run_env, log, warm=warm, note=note)
            interrupted = _follow(proc, drain)
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


def _run_env(env: dict[str, str] | None, workers: str) -> dict[str, str]:
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("PYTHONUNBUFFERED", "1")
    if workers != "0":
        # Tiny models gain nothing from intra-op threads; N workers x all cores each
        # oversubscribes the CPU. The user's own setting wins.
        run_env.setdefault("OMP_NUM_THREADS", "1")
        run_env.setdefault("MKL_NUM_THREADS", "1")
    return run_env


def _start(
    cmd: list[str],
    rootdir: Path,
    run_env: dict[str, str],
    log: IO[str],
    *,
    warm: bool,
    note: Callable[[str], None] | None,
) -> Any:
    """The pytest process: a fork of the warm server when asked and one answers, else Popen."""
    if warm:
        from .warm import RemoteProcess, WarmError

        try:
            with open(os.devnull, "rb") as devnull:
                return RemoteProcess(
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
    return subprocess.Popen(
        cmd, cwd=str(rootdir), stdout=log, stderr=subprocess.STDOUT, env=run_env
    )


def _follow(proc: Any, drain: Callable[[], None]) -> bool:
    """Feed records to ``drain`` until ``proc`` ends; True when Ctrl-C interrupted the run."""
    try:
        while proc.poll() is None:
            drain()
            time.sleep(0.2)
    except KeyboardInterrupt:
        _stop_after_interrupt(proc)
        return True
    return False


def _stop_after_interrupt(proc: Any) -> None:
    # A terminal's Ctrl-C reached pytest too (same process group); pytest then ends its session
    # and the plugin writes what finished. Nudge it if it did not.
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


def print_log_tail(path: Path, console: Console, lines: int = 15) -> None:
    """The last ``lines`` lines of a pytest log, indented (nothing when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    for ln in text[-lines:]:
        console.print("  " + ln, markup=False, highlight=False)


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
