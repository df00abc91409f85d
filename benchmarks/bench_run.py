#!/usr/bin/env python
"""Time ``hftestgen run --all -n auto`` on the generated suite; record wall time and peak RSS.

Usage::

    python benchmarks/bench_run.py                       # --all, -n auto, suite in settings.out
    python benchmarks/bench_run.py gpt2 bert -n 2        # a subset
    python benchmarks/bench_run.py --family vision --timeout 60

When the suite folder holds no generated files, the suite is generated first into a temporary
folder (``hftestgen generate``), so the script works on a fresh checkout. The run's reports go
to a temporary folder (with its own history database) unless ``--report`` is given: a benchmark
does not touch the project's reports or history.

Results are written to ``benchmarks/results/run.json``: ``latest`` (this run) and ``runs`` (the
last 50 runs). Per worker, the peak RSS is what each pytest-xdist worker process reported
(``ru_maxrss``) to ``hftestgen.run.pytest_plugin`` at its end; ``runner_max_rss_mb`` is the largest
peak RSS among all processes the benchmark waited for (the runner, pytest, its workers).
The script succeeds (exit 0) whether or not the tests pass: a failing suite is still timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "run.json"


def _mb(kb: float | int | None) -> float | None:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    if kb is None:
        return None
    div = 1024 * 1024 if sys.platform == "darwin" else 1024
    return round(float(kb) / div, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_types", nargs="*", help="model types (default: --all)")
    ap.add_argument("--family", action="append", default=[], help="only this family (repeatable)")
    ap.add_argument(
        "--out", type=Path, default=None, help="generated suite (default: settings.out)"
    )
    ap.add_argument("-n", "--workers", default="auto", help="pytest-xdist workers (default auto)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per test")
    ap.add_argument("--report", type=Path, default=None, help="keep the run's reports here")
    ap.add_argument("--results", type=Path, default=RESULTS, help=f"default {RESULTS}")
    args = ap.parse_args(argv)

    from hftestgen.settings import load_settings

    settings = load_settings()
    out = args.out or settings.out
    tmp = Path(tempfile.mkdtemp(prefix="hftestgen-bench-"))
    try:
        select = list(args.model_types) or (["--all"] if not args.family else [])
        for f in args.family:
            select += ["--family", f]
        hft = [sys.executable, "-m", "hftestgen"]
        generated_now = False
        if not out.is_dir() or not any(out.glob("test_hf_*.py")):
            out = tmp / "generated"
            print(f"no generated suite found; generating into {out}", flush=True)
            g = subprocess.run([*hft, "generate", *select, "--out", str(out)])
            if g.returncode != 0:
                print("generate failed", file=sys.stderr)
                return g.returncode
            generated_now = True
        report = args.report or (tmp / "report")
        cmd = [
            *hft,
            "run",
            *select,
            "--out",
            str(out),
            "-n",
            str(args.workers),
            "--report",
            str(report),
            "--history",
            str(report / "history.sqlite"),
        ]
        if args.timeout is not None:
            cmd += ["--timeout", str(args.timeout)]
        print("$ " + " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd)
        wall = time.perf_counter() - t0
        children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

        cov = {}
        cov_path = report / "coverage.json"
        if cov_path.is_file():
            cov = json.loads(cov_path.read_text())
        workers = []
        for w in cov.get("workers", []):
            workers.append(
                {
                    "worker": w.get("worker"),
                    "pid": w.get("pid"),
                    "peak_rss_mb": _mb(w.get("maxrss_kb")),
                }
            )
        workers.sort(key=lambda w: str(w["worker"]))
        totals = cov.get("totals", {})
        entry = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["hftestgen", *cmd[3:]]),
            "exit_code": proc.returncode,
            "wall_s": round(wall, 2),
            "pytest_wall_s": cov.get("run", {}).get("wall_s"),
            "generated_now": generated_now,
            "workers_requested": str(args.workers),
            "workers": workers,
            "peak_rss_mb_max_worker": max((w["peak_rss_mb"] or 0 for w in workers), default=None),
            "runner_max_rss_mb": _mb(children_kb),
            "types": totals.get("by_status"),
            "tests": totals.get("tests"),
            "coverage_pct": totals.get("coverage_pct"),
            "versions": cov.get("versions"),
            "host": {"cpus": os.cpu_count(), "platform": platform.platform(terse=True)},
        }
        args.results.parent.mkdir(parents=True, exist_ok=True)
        runs = []
        if args.results.is_file():
            try:
                runs = json.loads(args.results.read_text()).get("runs", [])
            except (ValueError, AttributeError):
                runs = []
        runs = (runs + [entry])[-50:]
        args.results.write_text(json.dumps({"latest": entry, "runs": runs}, indent=1) + "\n")
        print(
            f"wall {entry['wall_s']}s, {len(workers)} worker(s), max worker peak RSS "
            f"{entry['peak_rss_mb_max_worker']} MB; run exit {proc.returncode}; -> {args.results}"
        )
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
