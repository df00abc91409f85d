#!/usr/bin/env python
"""Measure the fault catalogue: which injected regressions the generated tests catch.

Usage::

    python benchmarks/bench_faults.py              # the whole catalogue (hftestgen.faults)
    python benchmarks/bench_faults.py --subset     # the small CI subset (every family and every CPU check)
    python benchmarks/bench_faults.py bert-dropout-in-eval gpt2-kv-cache-corrupted

For every fault, one pytest process runs the fault's generated file exactly as a user would
(``HFTESTGEN_FAULT=<name> python -m pytest generated/test_hf_<type>.py``), restricted with ``-k``
to the check named for the fault's class; where the file has no such check yet, the whole file
runs so the report shows what fails instead. A fault is caught when that check's test fails
(``hftestgen.faults.measure``). Then one clean run per model type (whole file, no fault) must
have no failed test. Runs go ``--jobs`` at a time (default 2).

Prints one line per fault, the catch rate per check and per family, the clean runs, and ends
with exactly one line ``caught N/M faults``. Results go to ``benchmarks/results/faults.json``
(``latest``, ``full``: the latest run of the whole catalogue, and the last 50 ``runs``).
Exit status 0, or 1 when a clean run failed (the catalogue's files must pass without faults).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "faults.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="faults to run (default: the whole catalogue)")
    ap.add_argument("--subset", action="store_true", help="only the fast CI subset")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="pytest processes at a time")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per pytest run")
    ap.add_argument("--whole-file", action="store_true", help="run whole files, not just -k")
    ap.add_argument("--no-clean", action="store_true", help="skip the clean runs")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT / "src"))
    from hftestgen import faults
    from hftestgen.faults import measure

    catalogue = faults.catalogue()
    if args.names:
        unknown = [n for n in args.names if n not in catalogue]
        if unknown:
            print(f"error: unknown fault(s) {', '.join(unknown)}", file=sys.stderr)
            return 2
        chosen = [catalogue[n] for n in args.names]
    elif args.subset:
        chosen = faults.subset()
    else:
        chosen = list(catalogue.values())
    types = sorted({f.model_type for f in chosen})
    print(
        f"{len(chosen)} faults over {len(types)} model types, "
        f"{len({f.family for f in chosen})} families; {args.jobs} at a time"
    )

    t0 = time.perf_counter()
    jobs: list[tuple[str, object]] = [("fault", f) for f in chosen]
    if not args.no_clean:
        jobs += [("clean", t) for t in types]

    def work(job):
        kind, x = job
        if kind == "fault":
            return kind, measure.measure(x, timeout=args.timeout, whole_file=args.whole_file)
        return kind, measure.clean(x, timeout=args.timeout)

    # longest first: clean runs of whole files, then faults that run whole files
    def cost(job):
        kind, x = job
        if kind == "clean":
            return 2
        file = measure.generated_file(x.model_type)
        return 1 if args.whole_file or not measure.has_check(file, x.check) else 0

    jobs.sort(key=cost, reverse=True)
    verdicts: dict[str, measure.Verdict] = {}
    cleans: dict[str, measure.Run] = {}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for kind, res in pool.map(work, jobs):
            if kind == "fault":
                verdicts[res.fault] = res
            else:
                cleans[res.model_type] = res
    wall = time.perf_counter() - t0

    ordered = [verdicts[f.name] for f in chosen]
    w = max(len(f.name) for f in chosen)
    print()
    print(
        f"{'fault':<{w}}  {'type':<22} {'expected check':<23} {'result':<28} {'s':>5}  other failing checks"
    )
    for v in ordered:
        others = [c for c in v.failed_checks if c != v.check]
        result = "caught" if v.caught else f"MISSED: {v.reason}"
        print(
            f"{v.fault:<{w}}  {v.model_type:<22} {v.check:<23} {result:<28} "
            f"{v.run.wall_s:>5.1f}  {', '.join(others) or '-'}"
        )

    def rate(key):
        total, hit = Counter(), Counter()
        for v in ordered:
            total[key(v)] += 1
            hit[key(v)] += v.caught
        return {k: {"caught": hit[k], "faults": total[k]} for k in sorted(total)}

    per_check, per_family = rate(lambda v: v.check), rate(lambda v: v.family)
    print("\ncatch rate per check:")
    for k, r in per_check.items():
        print(f"  {k:<24} {r['caught']}/{r['faults']}")
    print("catch rate per family:")
    for k, r in per_family.items():
        print(f"  {k:<24} {r['caught']}/{r['faults']}")

    broken = []
    if cleans:
        print("\nclean runs (no fault, whole file):")
        for t in types:
            r = cleans[t]
            counts = ", ".join(f"{n} {k}" for k, n in sorted(r.counts.items()))
            state = "ok" if r.clean_ok else "FAILED"
            print(f"  {t:<24} {state:<7} {counts}  ({r.wall_s:.1f} s)")
            if not r.clean_ok:
                broken.append(t)
                for check, msgs in r.failed.items():
                    print(f"      {check}: {msgs[0][:200]}")
                for e in r.collect_errors[:3]:
                    print(f"      collection: {e[:200]}")
                if not r.failed and not r.collect_errors:
                    print(f"      exit code {r.returncode}: {r.output_tail[-300:]}")

    caught = sum(v.caught for v in ordered)
    latest = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "selection": "names" if args.names else "subset" if args.subset else "full",
        "jobs": args.jobs,
        "wall_s": round(wall, 1),
        "caught": caught,
        "faults": len(ordered),
        "per_check": per_check,
        "per_family": per_family,
        "clean": {
            t: {"ok": r.clean_ok, "counts": r.counts, "wall_s": r.wall_s} for t, r in cleans.items()
        },
        "results": [
            {
                **v.as_dict(),
                "description": catalogue[v.fault].description,
                "bug_class": catalogue[v.fault].bug_class,
            }
            for v in ordered
        ],
    }
    old = json.loads(args.results.read_text()) if args.results.exists() else {}
    runs = (old.get("runs") or [])[-49:] + [{k: v for k, v in latest.items() if k != "results"}]
    doc = {"latest": latest, "full": old.get("full"), "runs": runs}
    if latest["selection"] == "full":
        doc["full"] = latest
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(doc, indent=1) + "\n")
    print(
        f"\nwall {wall:.1f} s; wrote {args.results.relative_to(ROOT) if args.results.is_relative_to(ROOT) else args.results}"
    )
    if broken:
        print(f"clean runs FAILED for: {', '.join(broken)}")
    print(f"caught {caught}/{len(ordered)} faults")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
