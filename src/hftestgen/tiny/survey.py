"""``hftestgen survey``: build every tiny model class of each type and run one forward pass.

Work runs in a pool of forked worker processes (one type at a time each). The parent enforces
the per-type time limit: a worker that runs past it, or dies, is killed and replaced, and the
type is recorded as ``timeout`` / ``upstream-bug`` (crash); the survey goes on. Workers are also
recycled after a number of types to keep memory low (every model module imported stays resident).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import statistics
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORWARD_OK = "forward-ok"
BUILT = "built"
FAILED = "failed"

RECYCLE_AFTER = 80  # types per worker before a fresh fork
RECYCLE_RSS_MB = 1100


# --------------------------------------------------------------------------------------
# one type (runs inside a worker)


def survey_type(
    model_type: str, class_names: list[str], tiny: dict | None = None
) -> dict[str, Any]:
    """Build each class and run one forward pass; never raises."""
    import torch

    from . import TinyError, build
    from .errors import missing_package, short

    t0 = time.perf_counter()
    classes: dict[str, dict[str, Any]] = {}
    first_config = None
    for cn in class_names:
        t = time.perf_counter()
        rec: dict[str, Any] = {"status": FAILED, "category": None, "reason": "", "params": None}
        try:
            built = build(model_type, cn, tiny=tiny)
            if first_config is None:
                first_config = built.config
            rec["params"] = built.n_params
            rec["status"] = BUILT
            try:
                inputs = built.inputs(batch_size=2, seed=0)
                with torch.no_grad():
                    built.model(**inputs)
                rec["status"] = FORWARD_OK
            except TinyError as e:
                rec["category"], rec["reason"] = e.category, e.message
            except Exception as e:  # the forward pass itself
                pkg = missing_package(e)
                if pkg:
                    rec["category"], rec["reason"] = "missing-package", f"needs {pkg}"
                else:
                    rec["category"], rec["reason"] = "input-synthesis", f"forward: {short(e)}"
        except TinyError as e:
            rec["category"], rec["reason"] = e.category, e.message
        except Exception as e:  # pragma: no cover - build() classifies its own errors
            rec["category"], rec["reason"] = "upstream-bug", f"{short(e)}"
        rec["seconds"] = round(time.perf_counter() - t, 4)
        classes[cn] = rec
    out = summarize_type(model_type, classes, time.perf_counter() - t0)
    out["preprocessing"] = survey_preprocessing(model_type, first_config)
    return out


def survey_preprocessing(model_type: str, config: Any) -> dict[str, Any]:
    """Synthesize the type's preprocessing for the primary class's tiny config (the one the
    generated checks use): per kind built / skipped (why) / failed (why), and the seconds."""
    from ..preprocess.build import _registry_names, synthesize
    from ..preprocess.mapping import spec_for

    kinds = _registry_names(model_type)
    if kinds is None:
        kinds = spec_for(model_type).classes()
    if not kinds:
        return {"kinds": {}, "seconds": 0.0}
    if config is None:
        return {
            "kinds": {
                k: {"class": n, "status": "no-model", "reason": ""} for k, n in kinds.items()
            },
            "seconds": 0.0,
        }
    t = time.perf_counter()
    prep = synthesize(model_type, config, kinds)
    seconds = round(time.perf_counter() - t, 4)
    out = {}
    for kind, name in kinds.items():
        if getattr(prep, kind, None) is not None:
            out[kind] = {"class": name, "status": "built", "reason": ""}
        elif kind in prep.skipped:
            out[kind] = {"class": name, "status": "skipped", "reason": prep.skipped[kind]}
        else:
            out[kind] = {"class": name, "status": "failed", "reason": prep.errors.get(kind, "")}
    return {"kinds": out, "seconds": seconds}


def summarize_type(model_type: str, classes: dict[str, dict], seconds: float) -> dict[str, Any]:
    statuses = [r["status"] for r in classes.values()]
    if statuses and all(s == FORWARD_OK for s in statuses):
        status = FORWARD_OK
    elif statuses and all(s in (FORWARD_OK, BUILT) for s in statuses):
        status = BUILT
    else:
        status = FAILED
    first_bad = next((r for r in classes.values() if r["status"] != FORWARD_OK), None)
    params = [r["params"] for r in classes.values() if r.get("params")]
    return {
        "model_type": model_type,
        "status": status,
        "category": first_bad["category"] if first_bad else None,
        "reason": first_bad["reason"] if first_bad else "",
        "params": max(params) if params else None,
        "seconds": round(seconds, 4),
        "classes": classes,
    }


# --------------------------------------------------------------------------------------
# worker pool


def _worker_main(conn, func: Callable) -> None:
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        mt, names, tiny = job
        try:
            res = func(mt, names, tiny)
        except BaseException as e:  # pragma: no cover - survey_type never raises
            res = {
                "model_type": mt,
                "status": FAILED,
                "category": "upstream-bug",
                "reason": f"worker: {type(e).__name__}: {e}",
                "params": None,
                "seconds": 0.0,
                "classes": {},
                "trace": traceback.format_exc()[-2000:],
            }
        res["worker_rss_mb"] = _rss_mb()
        try:
            conn.send(res)
        except (BrokenPipeError, OSError):
            return


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover
        return 0.0


class _Worker:
    def __init__(self, ctx, func):
        self.parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, func), daemon=True)
        self.proc.start()
        child.close()
        self.job: tuple | None = None
        self.started = 0.0
        self.done = 0

    def send(self, job) -> None:
        self.job = job
        self.started = time.monotonic()
        self.parent.send(job)

    def kill(self) -> None:
        try:
            self.proc.kill()
        except Exception:  # pragma: no cover
            pass
        self.proc.join(5)
        self.parent.close()

    def stop(self) -> None:
        try:
            self.parent.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.kill()
        else:
            self.parent.close()


def run_pool(
    jobs: list[tuple[str, list[str], dict]],
    n_workers: int,
    timeout: float,
    func: Callable = survey_type,
    on_result: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Run ``func(mt, names, tiny)`` per job in forked workers with a per-job time limit."""
    from multiprocessing.connection import wait

    _preimport()
    ctx = mp.get_context("fork")
    pending = list(reversed(jobs))
    results: list[dict] = []
    workers: list[_Worker] = []
    n_workers = max(1, min(n_workers, len(jobs) or 1))

    def finish(res):
        results.append(res)
        if on_result:
            on_result(res)

    try:
        while pending or any(w.job for w in workers):
            # keep the pool full
            while len(workers) < n_workers and pending:
                workers.append(_Worker(ctx, func))
            for w in workers:
                if w.job is None and pending:
                    w.send(pending.pop())
            busy = [w for w in workers if w.job is not None]
            if not busy:
                continue
            now = time.monotonic()
            wait_s = max(0.01, min(w.started + timeout - now for w in busy))
            ready = wait([w.parent for w in busy], timeout=wait_s)
            now = time.monotonic()
            for w in list(busy):
                if w.parent in ready:
                    try:
                        res = w.parent.recv()
                    except (EOFError, OSError):
                        code = w.proc.exitcode
                        w.proc.join(2)
                        code = w.proc.exitcode
                        mt = w.job[0]
                        finish(
                            _crash(
                                mt,
                                f"worker died while surveying {mt} (exit code {code})",
                                now - w.started,
                            )
                        )
                        w.kill()
                        workers.remove(w)
                        continue
                    w.job = None
                    w.done += 1
                    finish(res)
                    if w.done >= RECYCLE_AFTER or res.get("worker_rss_mb", 0) > RECYCLE_RSS_MB:
                        w.stop()
                        workers.remove(w)
                elif now - w.started >= timeout:
                    mt = w.job[0]
                    w.kill()
                    workers.remove(w)
                    finish(
                        {
                            "model_type": mt,
                            "status": FAILED,
                            "category": "timeout",
                            "reason": f"no result within {timeout:g} s (worker killed)",
                            "params": None,
                            "seconds": round(now - w.started, 3),
                            "classes": {},
                        }
                    )
    finally:
        for w in workers:
            if w.job is not None:
                w.kill()
            else:
                w.stop()
    return results


def _crash(mt: str, reason: str, seconds: float) -> dict:
    return {
        "model_type": mt,
        "status": FAILED,
        "category": "upstream-bug",
        "reason": reason,
        "params": None,
        "seconds": round(seconds, 3),
        "classes": {},
    }


def _preimport() -> None:
    """Import the heavy modules once in the parent so forked workers start warm."""
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from ..registry.records import load_records
    from . import build  # noqa: F401

    load_records()


# --------------------------------------------------------------------------------------
# summaries and output


def family_summary(results: list[dict], families: dict[str, str]) -> dict[str, dict[str, int]]:
    fam: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        f = families.get(r["model_type"], "?")
        fam[f]["total"] += 1
        fam[f][r["status"]] += 1
    out = {}
    for f in sorted(fam):
        c = fam[f]
        out[f] = {
            "total": c["total"],
            FORWARD_OK: c[FORWARD_OK],
            BUILT: c[BUILT],
            FAILED: c[FAILED],
        }
    return out


def class_rows(results: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        for cn, rec in (r.get("classes") or {}).items():
            rows.append({"model_type": r["model_type"], "class": cn, **rec})
    return rows


def build_report(
    results: list[dict], registry, wall: float, jobs: int, timeout: float
) -> dict[str, Any]:
    families = {mt: registry[mt].family for mt in registry}
    results = sorted(results, key=lambda r: r["model_type"])
    for r in results:
        r["family"] = families.get(r["model_type"], "?")
    secs = sorted(r["seconds"] for r in results)
    cats = Counter(r["category"] for r in results if r["status"] != FORWARD_OK)
    n_ok = sum(r["status"] == FORWARD_OK for r in results)
    rows = class_rows(results)
    return {
        "transformers": getattr(registry, "transformers_version", None),
        "types": len(results),
        "forward_ok": n_ok,
        "built": sum(r["status"] == BUILT for r in results),
        "failed": sum(r["status"] == FAILED for r in results),
        "pass_rate": round(n_ok / len(results), 4) if results else 0.0,
        "classes": len(rows),
        "classes_forward_ok": sum(x["status"] == FORWARD_OK for x in rows),
        "wall_seconds": round(wall, 2),
        "jobs": jobs,
        "timeout": timeout,
        "median_seconds": round(statistics.median(secs), 4) if secs else None,
        "p95_seconds": round(secs[min(len(secs) - 1, int(0.95 * len(secs)))], 4) if secs else None,
        "categories": dict(cats.most_common()),
        "families": family_summary(results, families),
        "results": results,
    }


def render_table(report: dict, console) -> None:
    from rich.table import Table

    t = Table(title="Survey by family (a type passes when every model class runs a forward pass)")
    for col in ("family", "types", "forward-ok", "built only", "failed", "pass"):
        t.add_column(col, justify="left" if col == "family" else "right")
    for fam, c in report["families"].items():
        pct = f"{100 * c[FORWARD_OK] / c['total']:.1f}%" if c["total"] else "-"
        t.add_row(fam, str(c["total"]), str(c[FORWARD_OK]), str(c[BUILT]), str(c[FAILED]), pct)
    t.add_row(
        "all",
        str(report["types"]),
        str(report["forward_ok"]),
        str(report["built"]),
        str(report["failed"]),
        f"{100 * report['pass_rate']:.1f}%",
        style="bold",
    )
    console.print(t)
    bad = [r for r in report["results"] if r["status"] != FORWARD_OK]
    if bad:
        ft = Table(title=f"Not passing ({len(bad)})")
        for col in ("model type", "family", "status", "category", "reason"):
            ft.add_column(col, overflow="fold")
        for r in bad:
            ft.add_row(
                r["model_type"],
                r.get("family", ""),
                r["status"],
                r["category"] or "",
                (r["reason"] or "")[:160],
            )
        console.print(ft)
    if report["categories"]:
        console.print(
            "failure categories: " + ", ".join(f"{k} {v}" for k, v in report["categories"].items()),
            markup=False,
        )
    console.print(
        f"{report['forward_ok']}/{report['types']} types pass ({100 * report['pass_rate']:.1f}%), "
        f"{report['classes_forward_ok']}/{report['classes']} classes; wall {report['wall_seconds']:.1f} s "
        f"with {report['jobs']} jobs; per type median {report['median_seconds']} s, p95 {report['p95_seconds']} s",
        markup=False,
    )


def run_survey(
    registry, specs, jobs: int = 2, timeout: float = 60.0, on_result=None
) -> dict[str, Any]:
    from .engine import use_registry

    use_registry(registry)
    work = [(s.model_type, s.all_classes(), dict(s.tiny or {})) for s in specs]
    # slowest-looking first is unknowable; interleave families so workers share the load
    t0 = time.perf_counter()
    results = run_pool(work, jobs, timeout, on_result=on_result)
    wall = time.perf_counter() - t0
    return build_report(results, registry, wall, jobs, timeout)


def survey_command(
    registry, specs, fmt: str, jobs: int, timeout: float, output, console, plugins
) -> int:
    """Entry point of ``hftestgen survey``; returns the exit code (0: every type passed)."""
    from ..registry.plugins import import_plugins

    import_plugins(plugins or ())
    specs = [s for s in specs if s.testable]
    if not specs:
        console.print("nothing to survey (no testable model types selected)", markup=False)
        return 0
    done = [0]

    def progress(res):
        done[0] += 1

    if fmt == "table" and console.is_terminal:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as prog:
            task = prog.add_task("surveying", total=len(specs))

            def tick(res):
                prog.update(task, advance=1, description=f"surveying {res['model_type']}")

            report = run_survey(registry, specs, jobs=jobs, timeout=timeout, on_result=tick)
    else:
        report = run_survey(registry, specs, jobs=jobs, timeout=timeout, on_result=progress)
    if output is not None:
        from .._io import atomic_write_text

        Path(output).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(output), json.dumps(report, indent=1, default=str))
    if fmt == "json":
        console.print(
            json.dumps(report, default=str), markup=False, highlight=False, soft_wrap=True
        )
    else:
        render_table(report, console)
    return 0 if report["failed"] == 0 and report["built"] == 0 else 1
