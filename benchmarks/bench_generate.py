"""Benchmark: wall time of `hftestgen generate --all` and `hftestgen check` (whole CLI processes).

Measures cold (registry cache empty: derives from Transformers) and warm (cached registry) runs,
each repeated; prints a markdown table and writes benchmarks/results/generate.json.

    python benchmarks/bench_generate.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def timed(args, env, cwd):
    t = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "hftestgen", *args], env=env, cwd=cwd, capture_output=True, text=True
    )
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{args} failed ({p.returncode}): {p.stderr or p.stdout}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "pyproject.toml").write_text('[tool.hftestgen]\nout = "gen"\n')
        env = dict(os.environ, HFTESTGEN_CACHE_DIR=str(tmp / "cache"))
        results["generate_cold_s"] = timed(["generate", "--all"], env, tmp)  # derives + writes
        for name, args, prep in [
            ("generate_all_fresh_s", ["generate", "--all", "--out", "fresh"], "rm"),
            ("generate_all_noop_s", ["generate", "--all"], None),
            ("check_s", ["check"], None),
        ]:
            times = []
            for _ in range(a.repeat):
                if prep == "rm":
                    subprocess.run(["rm", "-rf", str(tmp / "fresh")], check=True)
                times.append(timed(args, env, tmp))
            results[name] = statistics.median(times)
            results[name + "_all"] = times
        n = len(list((tmp / "gen").glob("test_hf_*.py")))
    import transformers

    meta = {
        "files": n,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "repeat": a.repeat,
    }
    out = {**meta, **results}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "generate.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"| measurement ({n} files, transformers {meta['transformers']}) | wall (median) |")
    print("|---|---|")
    print(
        f"| generate --all, cold cache (derive registry + write) | {results['generate_cold_s']:.2f} s |"
    )
    print(f"| generate --all into an empty folder | {results['generate_all_fresh_s']:.2f} s |")
    print(f"| generate --all, nothing changed | {results['generate_all_noop_s']:.2f} s |")
    print(f"| check | {results['check_s']:.2f} s |")


if __name__ == "__main__":
    main()
