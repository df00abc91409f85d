#!/usr/bin/env python
"""Measure the overhead of ``hftestgen run --ray`` (a local cluster) against the xdist run.

Usage::

    python benchmarks/bench_ray.py                 # the whole default suite (run --all), -n 2
    python benchmarks/bench_ray.py bert gpt2 vit   # a few types (a quick check of the script)
    python benchmarks/bench_ray.py -n 4 --history reports/history.sqlite

Runs, on the same machine and the same selection, one after the other:

* ``hftestgen run SEL -n N`` (pytest-xdist, N workers), and
* ``hftestgen run SEL -n N --ray`` (a local Ray cluster of N CPUs, N actors),

each as a fresh process, and times the whole command (cluster start, actor imports and report
writing included: what a user waits for). Both runs start from the same copy of the history
database (``--history``, default ``reports/history.sqlite`` when it exists, else none), so the
Ray run's longest-first order uses the durations a user would have and neither run learns from
the other. Prints both walls and the overhead ``(ray - xdist) / xdist``; checks that both runs
report the same outcome per test (the mismatches are counted, not hidden). Results go to
``benchmarks/results/ray.json`` (``latest`` and the last 50 ``runs``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "ray.json"


def run_once(sel: list[str], mode: str, workers: int, work: Path, history: Path | None) -> dict:
    rep = work / mode
    hist = work / f"{mode}.sqlite"
    if history is not None and history.is_file():
        shutil.copy(history, hist)
    cmd = [sys.executable, "-m", "hftestgen", "run", *sel, "-n", str(workers)]
    if mode == "ray":
        cmd.append("--ray")
    cmd += ["--report", str(rep), "--history", str(hist)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if r.returncode not in (0, 1):
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])
        raise SystemExit(f"{mode}: hftestgen run exited with {r.returncode}")
    cov = json.loads((rep / "coverage.json").read_text())
    outcomes = {}
    for line in (rep / "results.jsonl").read_text().splitlines():
        rec = json.loads(line) if line.strip() else {}
        if rec.get("event") == "test":
            outcomes[rec["nodeid"]] = rec.get("outcome")
    return {
        "wall_s": round(wall, 2),
        "run_wall_s": cov["run"].get("wall_s"),
        "exit_code": r.returncode,
        "tests": cov["totals"]["tests"],
        "retried": cov["run"].get("ray_retried"),
        "outcomes": outcomes,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("types", nargs="*", help="model types (default: --all)")
    ap.add_argument("-n", "--workers", type=int, default=2, help="xdist workers = Ray CPUs")
    ap.add_argument("--history", type=Path, default=ROOT / "reports" / "history.sqlite")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    sel = list(args.types) or ["--all"]
    work = Path(tempfile.mkdtemp(prefix="hftestgen-bench-ray-"))
    history = args.history if args.history.is_file() else None
    runs = {}
    for mode in ("xdist", "ray"):
        print(
            f"{mode}: hftestgen run {' '.join(sel)} -n {args.workers}"
            + (" --ray" if mode == "ray" else ""),
            flush=True,
        )
        runs[mode] = run_once(sel, mode, args.workers, work, history)
        print(f"  {runs[mode]['wall_s']} s (tests: {runs[mode]['tests']})", flush=True)
    a, b = runs["xdist"].pop("outcomes"), runs["ray"].pop("outcomes")
    mismatch = sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))
    x, r = runs["xdist"]["wall_s"], runs["ray"]["wall_s"]
    overhead = round(100.0 * (r - x) / x, 1) if x else None
    entry = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "selection": sel,
        "types": None if sel == ["--all"] else len(sel),
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "history": str(history) if history else None,
        "xdist": runs["xdist"],
        "ray": runs["ray"],
        "overhead_pct": overhead,
        "outcome_mismatches": len(mismatch),
        "mismatch_examples": mismatch[:10],
    }
    try:
        import ray

        entry["ray_version"] = ray.__version__
    except ImportError:
        pass
    data = {"runs": []}
    if args.results.is_file():
        data = json.loads(args.results.read_text())
    data["latest"] = entry
    data["runs"] = (data.get("runs", []) + [entry])[-50:]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(data, indent=2) + "\n")
    print(f"xdist {x} s, ray {r} s: Ray overhead {overhead}% ({len(mismatch)} outcome mismatches)")
    print(f"results: {args.results}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
