#!/usr/bin/env python
"""Time one generated file, cold and warm, including interpreter start.

Usage::

    python benchmarks/bench_file.py                 # bert gpt2 vit, 3 repeats each
    python benchmarks/bench_file.py bert -r 5

Per model type, the median wall time of:

- ``cold``: ``python -m pytest generated/test_hf_<type>.py -q -p no:cacheprovider`` in a new
  process (what a developer or CI job pays for one file);
- ``warm``: ``hftestgen warm pytest <same args>`` against a warm server that this script starts
  (and stops) on a private socket: the client's interpreter start is included, the server's
  one-off import is reported separately as ``server_ready_s``;

and, for reference, the floor of a cold run: ``python -c "import torch,
transformers.modeling_utils"`` (``import_floor_s``). Runs are sequential; the machine should be
otherwise idle. Results go to ``benchmarks/results/file.json`` (``latest`` and the last 50
``runs``). Exit 0 whether or not the tests pass; a file whose pytest exit code is not 0 is
flagged in the output.
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
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "file.json"


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    rc = subprocess.run(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ).returncode
    return time.perf_counter() - t0, rc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_types", nargs="*", default=["bert", "gpt2", "vit"])
    ap.add_argument("-r", "--repeats", type=int, default=3)
    ap.add_argument("--suite", type=Path, default=ROOT / "generated")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT / "src"))
    from hftestgen.run import warm

    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="hftg-bench-") as tmp:
        os.chmod(tmp, 0o700)
        sock = Path(tmp) / "w.sock"
        env = {**os.environ, "HFTESTGEN_WARM_SOCKET": str(sock)}
        floor = [
            timed([py, "-c", "import torch, transformers.modeling_utils"], env, ROOT)[0]
            for _ in range(args.repeats)
        ]
        info = warm.start(sock, idle=600)
        per_type = {}
        try:
            for mt in args.model_types:
                f = args.suite / f"test_hf_{mt}.py"
                if not f.is_file():
                    print(f"{mt}: no {f}", file=sys.stderr)
                    return 2
                pytest_args = ["-q", "-p", "no:cacheprovider", f.name]
                cold, warm_t, rcs = [], [], set()
                for _ in range(args.repeats):
                    t, rc = timed([py, "-m", "pytest", *pytest_args], env, args.suite)
                    cold.append(t)
                    rcs.add(rc)
                    t, rc = timed(
                        [py, "-m", "hftestgen", "warm", "pytest", *pytest_args], env, args.suite
                    )
                    warm_t.append(t)
                    rcs.add(rc)
                per_type[mt] = {
                    "cold_s": round(statistics.median(cold), 2),
                    "warm_s": round(statistics.median(warm_t), 2),
                    "cold_all_s": [round(x, 2) for x in cold],
                    "warm_all_s": [round(x, 2) for x in warm_t],
                    "pytest_exit_codes": sorted(rcs),
                }
                flag = "" if rcs == {0} else f"  (pytest exit codes {sorted(rcs)})"
                print(
                    f"{mt:>8}: cold {per_type[mt]['cold_s']:.2f} s   warm {per_type[mt]['warm_s']:.2f} s{flag}"
                )
        finally:
            warm.stop(sock)
    latest = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "torch": info["torch"],
        "transformers": info["transformers"],
        "repeats": args.repeats,
        "import_floor_s": round(statistics.median(floor), 2),
        "server_ready_s": info["ready_s"],
        "types": per_type,
    }
    print(
        f"import floor (torch + transformers.modeling_utils, new process): {latest['import_floor_s']:.2f} s;"
        f" warm server ready in {info['ready_s']:.2f} s"
    )
    old = json.loads(args.results.read_text()) if args.results.exists() else {}
    runs = (old.get("runs") or [])[-49:] + [latest]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({"latest": latest, "runs": runs}, indent=1) + "\n")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
