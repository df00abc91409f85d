#!/usr/bin/env python
"""A planning table for the full matrix from measured per-type durations.

Usage::

    python benchmarks/plan_matrix.py --suite 5.24.0=runs/r17/coverage.json \\
        --suite 4.57.6=runs/v3/tf-4.57.6/coverage.json \\
        --matrix runs/mx/sdpa/coverage.json --matrix runs/mx/export/coverage.json ... \\
        --workers 1 8 32 --out docs/planning.md

Inputs are ``coverage.json`` files: ``--suite VERSION=PATH`` a default run per Transformers
version (per-type test time: ``types[*].duration_s``), ``--matrix PATH`` a backend-matrix run
(per type and backend: ``backends[*][b].duration_s``), measured on 5.24.0.

Method (printed with the table):

* a work unit is one model type's generated file under one Transformers version: its default
  checks plus every backend column, as ``hftestgen run --ray`` and xdist schedule them;
* a type's cost in a column measured for every type is its measured cell time; a column
  measured on a shard only (compile, onnx, flex_attention) is extrapolated: each type of the
  other shards gets the column's mean per-type time on the measured shard;
* the other release (4.57.6) has no measured matrix: its types get the 5.24.0 cell times of the
  same type where it exists, else the column's mean (the tiny models are the same recipe);
* the wall for W workers is the makespan of longest-first (LPT) scheduling of the units on W
  workers, plus a fixed start per worker (imports: measured 4-6 s here) and the per-unit cost
  measured for Ray (0.05 s). Measured on 2 cores: the estimates hold for workers of the same
  speed (one core each); cuda / mps columns are not included (no accelerator measured).
"""

from __future__ import annotations

import argparse
import heapq
import json
from pathlib import Path

START_S = 5.0  # per worker: torch + transformers imports
PER_UNIT_S = 0.05  # per file on a long-lived worker (Ray, measured)


def _load(path: str) -> dict:
    return json.loads(Path(path).read_text())


def makespan(units: list[float], workers: int) -> float:
    heap = [0.0] * workers
    for d in sorted(units, reverse=True):
        t = heapq.heappop(heap)
        heapq.heappush(heap, t + d + PER_UNIT_S)
    return max(heap) + START_S


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", action="append", required=True, help="VERSION=coverage.json")
    ap.add_argument("--matrix", action="append", default=[], help="a matrix run's coverage.json")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--out", type=Path, default=None, help="write the table (markdown) here")
    args = ap.parse_args(argv)

    suites = {}
    for item in args.suite:
        version, _, path = item.partition("=")
        cov = _load(path)
        suites[version] = {
            mt: float(t.get("duration_s") or 0.0)
            for mt, t in cov["types"].items()
            if t.get("status") not in ("component", "not-testable", "not-run")
        }
    measured: dict[str, dict[str, float]] = {}  # backend -> type -> seconds
    for path in args.matrix:
        cov = _load(path)
        for mt, row in (cov.get("backends") or {}).items():
            for be, e in row.items():
                measured.setdefault(be, {})[mt] = float(e.get("duration_s") or 0.0)
    reference = max(suites, key=lambda v: len(suites[v]))
    all_types = set(suites[reference])
    columns = {}
    lines_method = []
    for be, per in measured.items():
        mean = sum(per.values()) / len(per)
        full = len(per) >= 0.95 * len(all_types)
        columns[be] = (per, mean)
        how = "measured for every type" if full else f"measured on {len(per)} types, extrapolated"
        lines_method.append(f"| {be} | {how} | {sum(per.values()):.0f} s | {mean:.2f} s |")

    def units_for(version: str, backends: list[str]) -> list[float]:
        out = []
        for mt, base in suites[version].items():
            d = base
            for be in backends:
                per, mean = columns[be]
                d += per.get(mt, mean)
            out.append(d)
        return out

    rows = []
    scenarios = [
        ("default checks, 5.24.0", [reference], []),
        ("default checks, both releases", list(suites), []),
        ("default + every measured backend, 5.24.0", [reference], list(columns)),
        ("default + every measured backend, both releases", list(suites), list(columns)),
    ]
    for name, versions, backends in scenarios:
        units = [u for v in versions for u in units_for(v, backends)]
        total = sum(units)
        walls = [makespan(units, w) for w in args.workers]
        rows.append((name, len(units), total, walls))

    def fmt(s: float) -> str:
        return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"

    out = [
        "| scenario | units | test time (1 core) | "
        + " | ".join(f"{w} worker{'s' if w > 1 else ''}" for w in args.workers)
        + " |",
        "|---|---:|---:|" + "---:|" * len(args.workers),
    ]
    for name, n, total, walls in rows:
        out.append(f"| {name} | {n} | {fmt(total)} | " + " | ".join(fmt(w) for w in walls) + " |")
    out += [
        "",
        "| column | source | total | mean per type |",
        "|---|---|---:|---:|",
        *lines_method,
    ]
    text = "\n".join(out)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
