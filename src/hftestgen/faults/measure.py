"""Run a generated file with and without a fault, and decide whether the fault was caught.

Exactly as a user runs it: ``python -m pytest generated/test_hf_<type>.py`` in a new process from
the repository root, the fault selected with ``HFTESTGEN_FAULT``; the per-test outcomes come from
the plugin's own results file (``--hftestgen-results``). A fault is **caught** when a test of the
fault's check *failed in its call* with a message that is not a broken build ("cannot build tiny
..."). A collection error, a failure only in other checks, or a file without that check is not a
catch. A clean run (no fault) must have no failed test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..checks.backends import BACKENDS_ENV
from . import ENV, Fault

ROOT = Path(__file__).resolve().parents[3]
SUITE = ROOT / "generated"
BUILD_FAILURE = "cannot build tiny"


def generated_file(model_type: str, suite: Path = SUITE) -> Path:
    """The generated test file of ``model_type`` (found by its ``CASE.model_type``)."""
    guess = suite / f"test_hf_{re.sub(r'[^0-9a-zA-Z_]', '_', model_type)}.py"
    needle = f'model_type="{model_type}"'
    if guess.is_file() and needle in guess.read_text(encoding="utf-8")[:4000]:
        return guess
    for f in sorted(suite.glob("test_hf_*.py")):
        if needle in f.read_text(encoding="utf-8")[:4000]:
            return f
    raise FileNotFoundError(f"no generated file for model type {model_type!r} in {suite}")


def has_check(file: Path, check: str) -> bool:
    return f"def test_{check}(" in file.read_text(encoding="utf-8")


@dataclass
class Run:
    """One pytest run of one generated file."""

    file: str
    model_type: str
    fault: str | None = None
    check: str | None = None  # the -k restriction (the fault's check), None: the whole file
    returncode: int | None = None
    wall_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> tests
    failed: dict[str, list[str]] = field(default_factory=dict)  # check -> "param: message"
    collect_errors: list[str] = field(default_factory=list)
    output_tail: str = ""
    cells: dict[str, str] = field(default_factory=dict)  # "backend-Class" -> cell status

    @property
    def clean_ok(self) -> bool:
        return self.returncode == 0 and not self.failed and not self.collect_errors


@dataclass
class Verdict:
    """Whether one fault was caught, and why (not)."""

    fault: str
    model_type: str
    family: str
    check: str
    caught: bool
    reason: str  # "caught", "check passed", "check not in file", "build broken", ...
    failed_checks: list[str]  # every check that failed with the fault active
    message: str  # the named check's first failure message (or the run's tail)
    run: Run

    def as_dict(self) -> dict:
        d = asdict(self)
        d["run"] = {k: v for k, v in d["run"].items() if k != "output_tail"}
        return d


def run_file(
    file: Path,
    model_type: str,
    *,
    fault: str | None = None,
    check: str | None = None,
    timeout: float = 600,
    cwd: Path = ROOT,
    python: str = sys.executable,
    backends: tuple[str, ...] = (),
    keyword: str | None = None,
) -> Run:
    """``python -m pytest FILE [-k test_CHECK | -k KEYWORD]`` with ``HFTESTGEN_FAULT=fault`` (or
    none) and the backend-matrix columns ``backends`` (``$HFTESTGEN_BACKENDS``)."""
    # the environment of this process, less what would make the run something else than a user's
    # (an outer pytest-xdist worker's variables, a results file, a fault of its own)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (ENV, "HFTESTGEN_RESULTS", "PYTEST_CURRENT_TEST", BACKENDS_ENV)
        and not k.startswith("PYTEST_XDIST_")
    }
    if backends:
        env[BACKENDS_ENV] = ",".join(backends)
    if fault:
        env[ENV] = fault
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    try:
        rel = file.resolve().relative_to(cwd.resolve())
    except ValueError:
        rel = file.resolve()
    run = Run(file=str(rel), model_type=model_type, fault=fault, check=check)
    with tempfile.TemporaryDirectory(prefix="hftestgen-fault-") as tmp:
        results = Path(tmp) / "results.jsonl"
        cmd = [python, "-m", "pytest", str(rel), "-q", "-p", "no:cacheprovider"]
        cmd += ["--hftestgen-results", str(results)]
        if keyword:
            cmd += ["-k", keyword]
        elif check:
            cmd += ["-k", f"test_{check}"]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
            )
            run.returncode = proc.returncode
            run.output_tail = (proc.stdout + proc.stderr)[-3000:]
        except subprocess.TimeoutExpired as e:
            run.returncode = None
            out = e.stdout or b""
            run.output_tail = (
                f"timed out after {timeout} s\n"
                + (out.decode(errors="replace") if isinstance(out, bytes) else out)[-3000:]
            )
        run.wall_s = round(time.perf_counter() - t0, 2)
        records = []
        if results.exists():
            for line in results.read_text(encoding="utf-8").splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
    for rec in records:
        if rec.get("event") == "collect_error":
            run.collect_errors.append(f"{rec.get('nodeid')}: {rec.get('message')}")
        elif rec.get("event") == "test":
            outcome = rec.get("outcome") or "?"
            run.counts[outcome] = run.counts.get(outcome, 0) + 1
            if rec.get("check") == "backend":
                cell = rec.get("cell") or {}
                run.cells[rec.get("param") or "?"] = cell.get("status") or outcome
            if outcome in ("failed", "error"):
                msg = f"{rec.get('param')}: [{rec.get('category')}] {rec.get('message')}"
                run.failed.setdefault(rec.get("check") or "?", []).append(msg)
    return run


#: the backend-matrix columns a backend fault's run probes (CPU, cheap): its own columns must
#: flip, these others must not
PROBE_BACKENDS = ("sdpa", "bfloat16", "float16", "export")

_clean_cells: dict[tuple[str, tuple[str, ...]], Run] = {}


def flipped(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The backends (``backend-Class`` keys' prefix) with a cell whose status changed."""
    keys = before.keys() | after.keys()
    return sorted({k.split("-", 1)[0] for k in keys if before.get(k) != after.get(k)})


def measure_backend(fault: Fault, *, suite: Path = SUITE, timeout: float = 600) -> Verdict:
    """A backend fault is caught when, in the type's forward check and backend cells
    (``PROBE_BACKENDS`` plus its own), exactly its ``backends`` flip against a clean run and
    the forward check (eager, float32) still passes."""
    file = generated_file(fault.model_type, suite)
    probe = tuple(dict.fromkeys((*PROBE_BACKENDS, *fault.backends)))
    keyword = "test_backend or test_forward"
    key = (fault.model_type, probe)
    if key not in _clean_cells:
        _clean_cells[key] = run_file(
            file, fault.model_type, backends=probe, keyword=keyword, timeout=timeout
        )
    clean_run = _clean_cells[key]
    run = run_file(
        file, fault.model_type, fault=fault.name, backends=probe, keyword=keyword, timeout=timeout
    )
    flips = flipped(clean_run.cells, run.cells)
    if run.returncode is None:
        reason = "timed out"
    elif run.collect_errors:
        reason = "collection error"
    elif "forward" in run.failed:
        reason = "eager float32 broken too (forward failed)"
    elif not run.cells:
        reason = "no backend cell ran"
    elif flips == sorted(fault.backends):
        reason = "caught"
    else:
        reason = f"flipped {flips or 'nothing'}, expected {sorted(fault.backends)}"
    failures = run.failed.get("backend", [])
    return Verdict(
        fault=fault.name,
        model_type=fault.model_type,
        family=fault.family,
        check=fault.check,
        caught=reason == "caught",
        reason=reason,
        failed_checks=sorted(run.failed),
        message=failures[0] if failures else reason,
        run=run,
    )


def measure(
    fault: Fault, *, suite: Path = SUITE, timeout: float = 600, whole_file: bool = False
) -> Verdict:
    """Run ``fault``'s generated file with the fault active and judge the result.

    The run is restricted to the fault's check (``-k``) unless ``whole_file`` or the file has no
    such check; then the whole file runs, to show what (if anything) fails instead. A backend
    fault is judged by ``measure_backend``.
    """
    if fault.backends:
        return measure_backend(fault, suite=suite, timeout=timeout)
    file = generated_file(fault.model_type, suite)
    present = has_check(file, fault.check)
    restrict = fault.check if present and not whole_file else None
    run = run_file(file, fault.model_type, fault=fault.name, check=restrict, timeout=timeout)
    named = run.failed.get(fault.check, [])
    real = [m for m in named if "[failed]" in m and BUILD_FAILURE not in m]
    if run.returncode is None:
        reason = "timed out"
    elif run.returncode in (2, 3, 4):  # interrupted, internal error, usage error
        reason = f"pytest exit code {run.returncode}"
    elif run.collect_errors:
        reason = "collection error"
    elif real:
        reason = "caught"
    elif not present:
        reason = "check not in file"
    elif named:
        reason = "build broken" if any(BUILD_FAILURE in m for m in named) else "check errored"
    elif run.counts.get("passed") or run.counts.get("skipped"):
        reason = "check passed" if run.counts.get("passed") else "check skipped"
    else:
        reason = f"nothing ran (exit code {run.returncode})"
    caught = reason == "caught"
    if named:
        message = named[0]
    elif run.failed:
        message = next(iter(run.failed.values()))[0]
    else:
        message = run.output_tail.strip().splitlines()[-1] if run.output_tail.strip() else ""
    return Verdict(
        fault=fault.name,
        model_type=fault.model_type,
        family=fault.family,
        check=fault.check,
        caught=caught,
        reason=reason,
        failed_checks=sorted(run.failed),
        message=message,
        run=run,
    )


def clean(model_type: str, *, suite: Path = SUITE, timeout: float = 600) -> Run:
    """The whole generated file of ``model_type`` without any fault."""
    return run_file(generated_file(model_type, suite), model_type, timeout=timeout)
