#!/usr/bin/env python
"""The smallest cross-sample leak batch_independence catches, per (model type, class).

Usage::

    PYTHONPATH=src python scripts/measure_leak.py bert:BertModel mamba:MambaModel ...
    PYTHONPATH=src python scripts/measure_leak.py --fallback benchmarks/results/noise.json

A forward hook at the model's output adds ``eps * max|out| * m / max|m|`` to every floating
output field whose leading dim is the batch (``m``: the output's mean over the batch, so every
sample sees the others). ``eps`` is bisected (log scale, 1e-10 .. 1e-1) for the smallest value
the check fails on. ``--fallback`` takes the pairs a ``measure_noise.py`` run found running
batch_independence in float32 (their float64 copy unusable).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="*", help="type:Class")
    ap.add_argument("--fallback", type=Path, help="a measure_noise.py JSON")
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args(argv)

    import pytest
    import torch

    from hftestgen import checks
    from hftestgen.checks import _support

    pairs = [tuple(p.split(":", 1)) for p in args.pairs]
    if args.fallback:
        data = json.loads(args.fallback.read_text())
        pairs += sorted(
            {
                (r["type"], r["cls"])
                for r in data["records"]
                if r["check"] == "batch_independence"
                and r.get("precision") == "float32"
                and not r["forced"]
                and r.get("reason")
            }
        )
    state = {"eps": 0.0}

    def leak(out):
        if isinstance(out, torch.Tensor):
            return leak_one(out)
        if isinstance(out, dict):
            for k in list(out.keys()):
                v = out[k]
                if isinstance(v, torch.Tensor):
                    out[k] = leak_one(v)
        return out

    def leak_one(t):
        if not t.is_floating_point() or t.ndim < 2 or t.shape[0] < 2 or state["eps"] == 0:
            return t
        m = t.mean(0, keepdim=True)
        scale = t.detach().abs().amax() / m.detach().abs().amax().clamp_min(1e-30)
        return t + state["eps"] * scale * m

    results = []
    for model_type, cls in pairs:
        spec = importlib.util.spec_from_file_location(
            "m", ROOT / "generated" / f"test_hf_{model_type}.py"
        )
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        case = mod.CASE
        checks.clear_cache()
        built = _support.get_built(case, cls)
        built.model.register_forward_hook(lambda mod_, args_, out: leak(out))

        def caught(eps: float, case=case, cls=cls) -> bool | None:
            state["eps"] = eps
            try:
                checks.batch_independence(case, cls)
                return False
            except pytest.fail.Exception:
                return True
            except pytest.skip.Exception:
                return None

        if caught(0.0) is not False:
            results.append((model_type, cls, None, "clean run does not pass"))
            continue
        lo, hi = -10.0, -1.0
        if not caught(10**hi):
            results.append((model_type, cls, None, "not caught at 1e-1"))
            continue
        for _ in range(args.steps):
            mid = (lo + hi) / 2
            if caught(10**mid):
                hi = mid
            else:
                lo = mid
        results.append((model_type, cls, 10**hi, ""))
        print(f"{model_type} {cls}: smallest caught leak {10**hi:.2g}", flush=True)
    print(json.dumps(results))
    finite = [r[2] for r in results if r[2] is not None and math.isfinite(r[2])]
    if finite:
        print(
            f"pairs {len(results)}, caught at <= {max(finite):.2g} (median {sorted(finite)[len(finite) // 2]:.2g})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
