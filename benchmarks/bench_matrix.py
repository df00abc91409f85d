#!/usr/bin/env python
"""Time the backend matrix: ``hftestgen run --all --matrix-only --backends B`` per backend.

Usage::

    python benchmarks/bench_matrix.py sdpa bfloat16 float16 export    # one run per backend
    python benchmarks/bench_matrix.py compile --shard 1/24             # one shard's worth
    python benchmarks/bench_matrix.py onnx --shard 1/24 -n 2

Each backend runs alone (its own ``hftestgen run``), over the whole generated suite (or one
shard), with only the backend cells selected (``--matrix-only``); reports go to
``--report DIR/<backend>`` (a temporary folder by default). Per backend it records the wall time
of the run (setup, i.e. generation, excluded: the suite is generated before), the cells by status,
the top failure categories, and the summed cell time per type (``duration_s``, the per-type cost
of that column). Results: ``benchmarks/results/matrix.json`` (``latest`` and the last 50 ``runs``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "matrix.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("backends", nargs="+", help="backend names (one run each)")
    ap.add_argument("--shard", default=None, help="K/N: one shard of the types")
    ap.add_argument("-n", "--workers", default="2", help="pytest-xdist workers (default 2)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per test (default 600)")
    ap.add_argument("--report", type=Path, default=None, help="keep reports in DIR/<backend>")
    ap.add_argument("--results", type=Path, default=RESULTS, help=f"default {RESULTS}")
    args = ap.parse_args(argv)

    hftestgen = [sys.executable, "-m", "hftestgen"]
    base = Path(args.report) if args.report else Path(tempfile.mkdtemp(prefix="hftestgen-matrix-"))
    runs = []
    for backend in args.backends:
        report = base / backend
        cmd = [*hftestgen, "run", "--all", "--matrix-only", "--backends", backend]
        cmd += ["-n", str(args.workers), "--timeout", str(args.timeout), "--report", str(report)]
        cmd += ["--history", str(report / "history.sqlite")]
        if args.shard:
            cmd += ["--shard", args.shard]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = round(time.perf_counter() - t0, 1)
        cov_path = report / "coverage.json"
        if not cov_path.exists():
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            return 1
        cov = json.loads(cov_path.read_text())
        summary = (cov.get("backend_summary") or {}).get("backends", {}).get(backend, {})
        cells = cov.get("backends") or {}
        per_type = sorted(
            (row[backend]["duration_s"] for row in cells.values() if backend in row), reverse=True
        )
        n = len(per_type)
        row = {
            "backend": backend,
            "shard": args.shard,
            "wall_s": wall,
            "types": n,
            "cells": {k: v for k, v in summary.items() if k not in ("categories", "duration_s")},
            "categories": summary.get("categories", {}),
            "cell_time_s": summary.get("duration_s"),
            "per_type_s": {
                "mean": round(sum(per_type) / n, 2) if n else None,
                "median": per_type[n // 2] if n else None,
                "max": per_type[0] if n else None,
            },
            "report": str(report),
        }
        runs.append(row)
        print(json.dumps(row))
    record = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(terse=True)},
        "workers": args.workers,
        "backends": runs,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(args.results.read_text()) if args.results.exists() else {}
    history = (old.get("runs") or [])[-49:] + [record]
    tmp = args.results.with_suffix(".tmp")
    tmp.write_text(json.dumps({"latest": record, "runs": history}, indent=1) + "\n")
    tmp.replace(args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
