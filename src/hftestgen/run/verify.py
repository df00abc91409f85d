"""``hftestgen generate --verify``: compile, import and run freshly generated files, one line of
verdict per file (``ok`` / ``skip`` / ``FAIL``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from ..report import Results
from .collect import generated_files
from .pytest_proc import LOG_FILE, LiveProgress, run_pytest


def verify_files(
    out_dir: Path, model_types: list[str], console: Console, timeout: float | None = None
) -> int:
    """Compile, import and run the generated files of ``model_types``; print one line per file.

    Returns 0 when every file compiled, collected and had no failing test, else 1.
    """
    out_dir = Path(out_dir).resolve()
    files_by_type = generated_files(out_dir) if out_dir.is_dir() else {}
    if timeout is None:
        timeout = _settings_timeout()
    problems, to_run = _compile(files_by_type, model_types)
    results = _run(to_run, out_dir, timeout, console) if to_run else Results()
    by_file: dict[str, list[dict[str, Any]]] = {}
    for r in results.tests.values():
        by_file.setdefault(r.get("file"), []).append(r)
    cerr = {e.get("file"): e.get("message") for e in results.collect_errors}
    code = 0
    for mt in model_types:
        name = files_by_type[mt].name if mt in files_by_type else f"{mt}"
        if mt in problems:
            line = f"FAIL  {name}: {problems[mt]}"
        elif name in cerr:
            line = f"FAIL  {name}: does not import: {cerr[name]}"
        else:
            line = _verdict(name, by_file.get(name, []))
        console.print(line, markup=False)
        if line.startswith("FAIL"):
            code = 1
    return code


def _settings_timeout() -> float:
    try:
        from ..settings import load_settings

        return float(load_settings().timeout)
    except Exception:
        return 120.0


def _compile(
    files_by_type: dict[str, Path], model_types: list[str]
) -> tuple[dict[str, str], dict[str, Path]]:
    """(problem per type that cannot run, file per type that compiles)."""
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
    return problems, to_run


def _run(to_run: dict[str, Path], out_dir: Path, timeout: float, console: Console) -> Results:
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
    return results


def _verdict(name: str, recs: list[dict[str, Any]]) -> str:
    """The line for a file that compiled and collected, from its test records."""
    c = {
        k: sum(1 for r in recs if r["outcome"] == k)
        for k in ("passed", "failed", "error", "skipped")
    }
    summary = f"{c['passed']} passed, {c['failed'] + c['error']} failed, {c['skipped']} skipped"
    if c["failed"] or c["error"]:
        first = next(r for r in recs if r["outcome"] in ("failed", "error"))
        label = first["check"] + (f"[{first['param']}]" if first.get("param") else "")
        return f"FAIL  {name}: {summary}; {label}: {first.get('message')}"
    if not recs:
        return f"FAIL  {name}: no test ran"
    if c["passed"]:
        return f"ok    {name}: {summary}"
    reasons = sorted({r.get("skip_reason") or "" for r in recs})
    return f"skip  {name}: {summary} ({'; '.join(reasons)[:200]})"
