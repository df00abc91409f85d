#!/usr/bin/env python
"""Measure the noise floor of the comparison checks, in float64 and in the float32 fallback.

Usage::

    PYTHONPATH=src python scripts/measure_noise.py [--types 90] [--classes 2] [--out FILE]

Runs every comparison check (``CHECKS`` below) on a sample of (model type, class) pairs taken
from the generated files' ``CASE`` objects (every n-th type in name order, so every family is
in, and up to ``--classes`` classes of each), once as the checks run (float64 copy where the
model supports it) and once forced to float32 (``_support.FORCE_PRECISION``), in one process.
Every ``_support.Comparison`` reports itself (``_support.RECORDER``); for each check and
precision the script prints how many tests compared something, and the median, 99th percentile
and maximum over tests of the largest difference a test saw, absolute and relative to the
compared output's largest magnitude (for ``position_sensitivity``, an effect that must be
*large*, the minimum over tests instead). Writes all per-test records as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKS = (
    "eval_determinism",
    "batch_independence",
    "attention_mask_padding",
    "save_load",
    "generate",
    "chunked_prefill",
    "causality",
    "position_sensitivity",
)


def load_case(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.CASE


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--types", type=int, default=90, help="model types sampled")
    ap.add_argument("--classes", type=int, default=2, help="classes per type")
    ap.add_argument("--only", nargs="*", help="these model types (default: a sample)")
    ap.add_argument("--checks", nargs="*", default=list(CHECKS))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "noise.json")
    args = ap.parse_args(argv)

    import pytest
    import torch
    import transformers

    from hftestgen import checks
    from hftestgen.checks import _support

    files = sorted((ROOT / "generated").glob("test_hf_*.py"))
    if args.only:
        files = [f for f in files if f.stem.removeprefix("test_hf_") in set(args.only)]
    else:
        step = max(1, len(files) // args.types)
        files = files[::step][: args.types]
    records = []
    started = time.time()
    pairs = 0
    for f in files:
        case = load_case(f)
        classes = [c for c in case.class_params if isinstance(c, str)][: args.classes]
        for cls in classes:
            pairs += 1
            for check in args.checks:
                fn = checks._function(check)
                for forced in (None, "float32"):
                    _support.FORCE_PRECISION = forced
                    _support.RECORDER = []
                    t0 = time.time()
                    try:
                        fn(case, cls)
                        outcome, msg = "passed", ""
                    except pytest.skip.Exception as e:
                        outcome, msg = "skipped", str(e).splitlines()[0][:200]
                    except pytest.fail.Exception as e:
                        outcome, msg = "failed", str(e).splitlines()[0][:300]
                    except Exception as e:  # noqa: BLE001 - recorded, the sample goes on
                        outcome, msg = "error", f"{type(e).__name__}: {e}"[:300]
                    finally:
                        recorded, _support.RECORDER = _support.RECORDER, None
                        _support.FORCE_PRECISION = None
                    by_prec: dict[str, list] = {}
                    for cmp in recorded:
                        if cmp.check != check:
                            continue  # save_load's bitwise weight comparison
                        p = str(cmp.precision)
                        by_prec.setdefault(p, []).extend(
                            (n, a, r) for n, a, r, _ in cmp.stats if a == a
                        )
                        reason = getattr(cmp.precision, "reason", "")
                    for p, stats in by_prec.items():
                        if not stats:
                            continue
                        worst = max(stats, key=lambda s: s[2])
                        records.append(
                            dict(
                                type=case.model_type,
                                family=case.family,
                                cls=cls,
                                check=check,
                                forced=forced,
                                precision=p,
                                reason=reason if p == "float32" and not forced else "",
                                outcome=outcome,
                                message=msg,
                                max_abs=max(s[1] for s in stats),
                                max_rel=worst[2],
                                min_rel=min(s[2] for s in stats),
                                worst=worst[0],
                                seconds=round(time.time() - t0, 3),
                            )
                        )
                    if not by_prec:
                        records.append(
                            dict(
                                type=case.model_type,
                                family=case.family,
                                cls=cls,
                                check=check,
                                forced=forced,
                                precision=None,
                                outcome=outcome,
                                message=msg,
                            )
                        )
        checks.clear_cache()
        print(
            f"{case.model_type}: {len(records)} records, {time.time() - started:.0f}s", flush=True
        )

    summary = summarize(records)
    meta = dict(
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        transformers=transformers.__version__,
        torch=torch.__version__,
        python=platform.python_version(),
        types=len(files),
        pairs=pairs,
        seconds=round(time.time() - started, 1),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(dict(meta=meta, summary=summary, records=records), indent=1))
    print(json.dumps(meta))
    for row in summary:
        print(
            f"{row['check']:24s} {row['precision']:8s} n={row['n']:4d} "
            f"abs med={row['abs_median']:.2g} p99={row['abs_p99']:.2g} max={row['abs_max']:.2g} | "
            f"rel med={row['rel_median']:.2g} p99={row['rel_p99']:.2g} max={row['rel_max']:.2g} "
            f"min={row['rel_min']:.2g} | worst {row['worst']}"
        )
    fallback = sorted(
        {
            (r["type"], r["cls"], r["check"], r["reason"][:120])
            for r in records
            if r.get("precision") == "float32" and not r["forced"] and r.get("reason")
        }
    )
    print(f"float32 fallback (not forced): {len(fallback)}")
    for row in fallback:
        print("  ", *row)
    return 0


def summarize(records: list[dict]) -> list[dict]:
    """Per check and precision (``float32 (forced)`` for the forced runs of float64 models)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        if r.get("precision") is None:
            continue
        p = r["precision"] + (" forced" if r["forced"] and r["precision"] == "float32" else "")
        if r["forced"] and any(
            q["type"] == r["type"]
            and q["cls"] == r["cls"]
            and q["check"] == r["check"]
            and not q["forced"]
            and q.get("precision") == "float32"
            and q.get("reason")
            for q in records
        ):
            continue  # a float32-fallback model's forced run repeats its unforced one
        groups.setdefault((r["check"], p), []).append(r)
    out = []
    for (check, p), rs in sorted(groups.items()):
        a = [r["max_abs"] for r in rs]
        rel = [r["max_rel"] for r in rs]
        worst = max(rs, key=lambda r: r["max_rel"])
        out.append(
            dict(
                check=check,
                precision=p,
                n=len(rs),
                abs_median=statistics.median(a),
                abs_p99=percentile(a, 0.99),
                abs_max=max(a),
                rel_median=statistics.median(rel),
                rel_p99=percentile(rel, 0.99),
                rel_max=max(rel),
                rel_min=min(rel),
                worst=f"{worst['type']}/{worst['cls']} {worst['worst']} ({worst['outcome']})",
            )
        )
    return out


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
