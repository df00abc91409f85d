#!/usr/bin/env python
"""Measure the golden check: snapshot size and time, its noise under legitimate kernel changes,
and the signal of a self-consistent regression.

Usage::

    PYTHONPATH=src python scripts/measure_golden.py [--every 18] [--out FILE]

Records a snapshot of every n-th testable type (name order, so every family is in) into a
temporary folder, timing it, then for each recorded type loads the snapshot's weights and
recomputes the outputs in the recorded precision under

* ``same``: nothing changed (must be bitwise: the check's round trip);
* ``threads-4``: torch with 4 intra-op threads instead of 1 (other blocking / reduction order);
* ``eager``: the eager attention implementation instead of the default (SDPA): another kernel
  for the same arithmetic, the kind of change releases make;
* ``no-mkldnn``: oneDNN kernels off (convolutions, some matmuls take other CPU paths),

and reports the largest difference per variant (absolute, and relative to the output's largest
magnitude) against ``tolerances.GOLDEN``; and the difference a doubled attention scale makes in
LlamaModel (the signal). Cross-release differences cannot be measured offline with one
Transformers installed: these variants stand in for them (other kernels, same maths).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=18)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/golden.json")
    args = ap.parse_args()

    import torch

    from hftestgen import checks
    from hftestgen.checks import Case, tolerances
    from hftestgen.checks.golden_outputs import _load_model, _load_tensors
    from hftestgen.registry import load_registry
    from hftestgen.render.files import case_fields
    from hftestgen.snapshot import read_manifest
    from hftestgen.snapshot.record import (
        decode_inputs,
        outputs_in,
        record_snapshot,
        recorded_view,
        total_bytes,
    )

    reg = load_registry()
    testable = sorted(s.model_type for s in reg.values() if s.status == "testable")
    sample = testable[:: args.every]
    cases = {t: Case(**case_fields(reg[t])) for t in sample}
    root = Path(tempfile.mkdtemp(prefix="hftestgen-golden-"))
    t0 = time.perf_counter()
    manifest = record_snapshot(cases.values(), root)
    record_s = time.perf_counter() - t0
    size = total_bytes(root)
    snap = read_manifest(root)

    def run_variant(case, cls, rec, variant):
        folder = root / rec["path"]
        checks.clear_cache()
        threads = torch.get_num_threads()
        mkldnn = torch.backends.mkldnn.enabled
        try:
            if variant == "threads-4":
                torch.set_num_threads(4)
            if variant == "no-mkldnn":
                torch.backends.mkldnn.enabled = False
            model = _load_model(case, cls, folder, rec)
            if variant == "eager":
                try:
                    model.set_attn_implementation("eager")
                except Exception as e:
                    return {"error": f"eager: {type(e).__name__}"}
            structure = json.loads((folder / "inputs.json").read_text())
            inputs = decode_inputs(structure, _load_tensors(folder / "inputs.safetensors"))
            got = outputs_in(model, inputs, rec["precision"])
        finally:
            torch.set_num_threads(threads)
            torch.backends.mkldnn.enabled = mkldnn
        want = _load_tensors(folder / "outputs.safetensors")
        got = recorded_view(got, inputs, int(rec.get("outputs_stride", 1)))
        worst = rel = 0.0
        for k, w in want.items():
            g = got.get(k)
            if g is None or g.shape != w.shape or not w.is_floating_point():
                continue
            d = float((g.double() - w.double()).abs().max()) if w.numel() else 0.0
            top = float(w.double().abs().max()) if w.numel() else 0.0
            worst = max(worst, d)
            rel = max(rel, d / top if top else 0.0)
        return {"abs": worst, "rel": rel}

    rows = []
    t1 = time.perf_counter()
    for t, case in cases.items():
        entry = snap.entry(t) or {}
        for cls, rec in (entry.get("classes") or {}).items():
            row = {"type": t, "class": cls, "precision": rec["precision"], "bytes": rec["bytes"]}
            row["weights"] = rec["weights"]
            for v in ("same", "threads-4", "eager", "no-mkldnn"):
                try:
                    row[v] = run_variant(case, cls, rec, v)
                except BaseException as e:  # a pytest skip/fail from the build
                    row[v] = {"error": f"{type(e).__name__}: {str(e)[:120]}"}
            rows.append(row)
    compare_s = time.perf_counter() - t1

    # the signal: LlamaModel with its attention scale doubled
    from hftestgen.faults import Patcher

    sys.path.insert(0, str(ROOT / "tests"))
    from test_snapshot import double_llama_attention_scale

    llama = Case(**case_fields(reg["llama"]))
    sroot = Path(tempfile.mkdtemp(prefix="hftestgen-golden-llama-"))
    record_snapshot([llama], sroot)
    rec = read_manifest(sroot).entry("llama")["classes"]["LlamaModel"]
    root_saved, root = root, sroot
    p = Patcher()
    double_llama_attention_scale(p)
    try:
        signal = run_variant(llama, "LlamaModel", rec, "same")
    finally:
        p.undo()
        root = root_saved

    def summary(v):
        vals = [r[v] for r in rows if "abs" in r[v] and r["precision"] != "float32"]
        return {
            "n": len(vals),
            "max_abs": max((x["abs"] for x in vals), default=None),
            "max_rel": max((x["rel"] for x in vals), default=None),
            "nonzero": sum(1 for x in vals if x["abs"] > 0),
            "errors": sum(1 for r in rows if "error" in r[v]),
        }

    out = {
        "types_sampled": len(sample),
        "types_recorded": sum(1 for e in manifest["types"].values() if not e.get("error")),
        "testable_types": len(testable),
        "record_s": round(record_s, 2),
        "compare_s_all_variants": round(compare_s, 2),
        "bytes": size,
        "bytes_extrapolated_suite": int(size * len(testable) / len(sample)),
        "outputs_only": sum(1 for r in rows if not r["weights"]),
        "precisions": {p: sum(1 for r in rows if r["precision"] == p) for p in tolerances.GOLDEN},
        "variants": {v: summary(v) for v in ("same", "threads-4", "eager", "no-mkldnn")},
        "signal_llama_attention_scale_x2": signal,
        "tolerance_float64_promoted": list(tolerances.GOLDEN["float64-promoted"]),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
