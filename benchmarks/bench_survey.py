"""Benchmark: the survey over every testable model type.

Records coverage (types / classes passing), wall time, per-type median and p95 seconds, and
memory: the largest single worker (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and the peak of
parent + all workers together (sampled from /proc every 0.2 s). Writes
``benchmarks/results/survey.json`` and prints a markdown summary.

    python benchmarks/bench_survey.py [--jobs 2] [--timeout 60] [TYPE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


class PeakSampler(threading.Thread):
    """Peak total RSS of this process and its descendants."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_kb = 0
        self._stop_evt = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._stop_evt.is_set():
            pids, todo = [me], [me]
            while todo:
                kids = _children(todo.pop())
                pids += kids
                todo += kids
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(p) for p in pids))
            self._stop_evt.wait(self.interval)

    def stop(self) -> None:
        self._stop_evt.set()
        self.join(2)


WORST = ("failed", "no-model", "skipped", "built")


def preprocessing_summary(results: list[dict]) -> dict:
    """Per preprocessing kind: types and distinct classes built / skipped / failed (a class's
    status is its worst over the types mapping it; "no-model" where the type's tiny model does
    not build), the skip and failure reasons, and the seconds spent synthesizing."""
    kinds: dict[str, dict] = {}
    classes: dict[tuple[str, str], str] = {}
    seconds = 0.0
    for r in results:
        pre = r.get("preprocessing") or {}
        seconds += float(pre.get("seconds") or 0.0)
        for kind, rec in (pre.get("kinds") or {}).items():
            k = kinds.setdefault(kind, {"types": {}, "reasons": {}})
            k["types"][rec["status"]] = k["types"].get(rec["status"], 0) + 1
            if rec["status"] in ("skipped", "failed"):
                why = f"{rec['status']}: {rec['reason'][:160]}"
                k["reasons"][why] = k["reasons"].get(why, 0) + 1
            key = (kind, rec["class"])
            old = classes.get(key, "built")
            classes[key] = min(old, rec["status"], key=WORST.index)
    for (kind, _), status in classes.items():
        c = kinds[kind].setdefault("classes", {})
        c[status] = c.get(status, 0) + 1
    for k in kinds.values():
        c = k.get("classes", {})
        denom = c.get("built", 0) + c.get("failed", 0)
        k["classes_built_pct"] = round(100.0 * c.get("built", 0) / denom, 1) if denom else None
        k["reasons"] = dict(sorted(k["reasons"].items(), key=lambda kv: -kv[1])[:15])
    built = sum(1 for s in classes.values() if s == "built")
    failed = sum(1 for s in classes.values() if s == "failed")
    return {
        "seconds": round(seconds, 2),
        "classes_built": built,
        "classes_failed": failed,
        "classes_skipped": sum(1 for s in classes.values() if s == "skipped"),
        "classes_built_pct": round(100.0 * built / (built + failed), 1) if built + failed else None,
        "kinds": kinds,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("types", nargs="*", help="model types (default: every testable type)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--output", type=Path, default=HERE / "results" / "survey.json")
    args = ap.parse_args(argv)

    from hftestgen.registry import load_registry
    from hftestgen.tiny.survey import run_survey

    reg = load_registry()
    specs = [reg[t] for t in args.types] if args.types else reg.testable()
    sampler = PeakSampler()
    sampler.start()
    t0 = time.perf_counter()
    report = run_survey(reg, specs, jobs=args.jobs, timeout=args.timeout)
    wall = time.perf_counter() - t0
    sampler.stop()

    class_secs = sorted(
        rec["seconds"] for r in report["results"] for rec in (r.get("classes") or {}).values()
    )
    bench = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "jobs": args.jobs,
        "timeout": args.timeout,
        "wall_seconds": round(wall, 2),
        "types": report["types"],
        "types_forward_ok": report["forward_ok"],
        "pass_rate": report["pass_rate"],
        "classes": report["classes"],
        "classes_forward_ok": report["classes_forward_ok"],
        "per_type_median_s": report["median_seconds"],
        "per_type_p95_s": report["p95_seconds"],
        "per_class_median_s": round(statistics.median(class_secs), 4) if class_secs else None,
        "per_class_p95_s": round(class_secs[int(0.95 * (len(class_secs) - 1))], 4)
        if class_secs
        else None,
        "max_worker_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        "parent_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_total_rss_mb": round(sampler.peak_kb / 1024, 1),
        "categories": report["categories"],
        "families": report["families"],
        "failures": [
            {k: r[k] for k in ("model_type", "family", "status", "category", "reason")}
            for r in report["results"]
            if r["status"] != "forward-ok"
        ],
    }
    bench["preprocessing"] = preprocessing_summary(report["results"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(bench, indent=1))

    print("## Survey benchmark\n")
    print(
        f"- types passing (every class runs a forward pass): **{bench['types_forward_ok']}/{bench['types']}** "
        f"({100 * bench['pass_rate']:.1f}%); classes {bench['classes_forward_ok']}/{bench['classes']}"
    )
    print(f"- wall: {bench['wall_seconds']} s with {args.jobs} jobs on {bench['cpus']} CPUs")
    print(
        f"- per type: median {bench['per_type_median_s']} s, p95 {bench['per_type_p95_s']} s; "
        f"per class: median {bench['per_class_median_s']} s, p95 {bench['per_class_p95_s']} s"
    )
    print(
        f"- memory: peak total {bench['peak_total_rss_mb']} MB (parent + workers, sampled), "
        f"largest worker {bench['max_worker_rss_mb']} MB\n"
    )
    print("| family | types | forward-ok | built only | failed |")
    print("|---|---:|---:|---:|---:|")
    for fam, c in bench["families"].items():
        print(f"| {fam} | {c['total']} | {c['forward-ok']} | {c['built']} | {c['failed']} |")
    print("\n| failure category | types |")
    print("|---|---:|")
    for cat, n in bench["categories"].items():
        print(f"| {cat} | {n} |")
    pre = bench["preprocessing"]
    print(
        f"\n- preprocessing: {pre['classes_built']} classes built, {pre['classes_failed']} failed "
        f"({pre['classes_built_pct']}% of the constructible), {pre['classes_skipped']} skipped "
        f"(torchvision / a package); synthesis {pre['seconds']} s of worker time"
    )
    print("\n| kind | classes built | failed | skipped | types built | skipped | failed |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind, k in pre["kinds"].items():
        c, t = k.get("classes", {}), k["types"]
        print(
            f"| {kind} | {c.get('built', 0)} | {c.get('failed', 0)} | {c.get('skipped', 0)} | "
            f"{t.get('built', 0)} | {t.get('skipped', 0)} | {t.get('failed', 0)} |"
        )
    print(f"\nJSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
