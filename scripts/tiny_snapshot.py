"""Snapshot what the tiny engine produces for every (model type, class): the tiny config, the
parameter count, and the synthesized inputs (names, shapes, dtypes, a checksum of the values),
or the build/input error. Two snapshots taken before and after a refactor of the engine or the
records must be identical: ``python scripts/tiny_snapshot.py out.json`` then
``python scripts/tiny_snapshot.py --compare a.json b.json``.

Builds only (no forward pass); about a minute for every type on 2 cores with ``--jobs 2``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from multiprocessing import get_context


def _digest(v) -> object:
    import torch

    if isinstance(v, torch.Tensor):
        t = v.detach().cpu().contiguous()
        return [list(t.shape), str(t.dtype), hashlib.sha256(t.numpy().tobytes()).hexdigest()[:16]]
    if isinstance(v, dict):
        return {k: _digest(x) for k, x in sorted(v.items())}
    if isinstance(v, (list, tuple)):
        return [_digest(x) for x in v]
    if hasattr(v, "__dataclass_fields__"):
        return {k: _digest(getattr(v, k)) for k in sorted(v.__dataclass_fields__)}
    return repr(v)[:200]


def snapshot_type(args) -> dict:
    model_type, class_names = args
    from hftestgen.tiny import TinyError, build

    out = {}
    for cn in class_names:
        key = f"{model_type}/{cn}"
        try:
            b = build(model_type, cn)
        except TinyError as e:
            out[key] = {"error": [e.category, e.message[:300]]}
            continue
        except Exception as e:  # noqa: BLE001
            out[key] = {"error": ["unexpected", f"{type(e).__name__}: {str(e)[:300]}"]}
            continue
        cfg = b.config.to_dict()
        for k in ("transformers_version", "_name_or_path", "_attn_implementation_autoset"):
            cfg.pop(k, None)
        rec = {"params": b.n_params, "config": json.loads(json.dumps(cfg, sort_keys=True, default=str))}
        for labels in (False, True):
            try:
                rec[f"inputs_labels={labels}"] = _digest(b.inputs(batch_size=2, seed=0, labels=labels))
            except Exception as e:  # noqa: BLE001
                rec[f"inputs_labels={labels}"] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        out[key] = rec
    return out


def take(path: str, jobs: int, only: list[str]) -> None:
    from hftestgen.registry import load_registry

    reg = load_registry()
    work = [
        (mt, list(dict.fromkeys(c for names in s.classes.values() for c in names)))
        for mt, s in sorted(reg.items())
        if s.status == "testable" and (not only or mt in only)
    ]
    result: dict = {}
    with get_context("fork").Pool(jobs, maxtasksperchild=40) as pool:
        for part in pool.imap_unordered(snapshot_type, work, chunksize=4):
            result.update(part)
    with open(path, "w") as f:
        json.dump(result, f, sort_keys=True, indent=0)
    print(f"{len(result)} classes of {len(work)} types -> {path}")


def compare(a: str, b: str) -> int:
    da, db = json.load(open(a)), json.load(open(b))
    diffs = [k for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k)]
    for k in diffs[:50]:
        print(f"DIFF {k}\n  a: {json.dumps(da.get(k))[:400]}\n  b: {json.dumps(db.get(k))[:400]}")
    print(f"{len(da)} vs {len(db)} classes, {len(diffs)} differ")
    return 1 if diffs else 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out", nargs="?")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", nargs="*", default=[])
    p.add_argument("--compare", nargs=2)
    a = p.parse_args()
    if a.compare:
        return compare(*a.compare)
    take(a.out, a.jobs, a.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
