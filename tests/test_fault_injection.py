"""Proof that the generated tests catch real bugs: the CI subset of the fault catalogue.

The catalogue (``hftestgen.faults``) holds plausible Transformers regressions, each injected for a
whole pytest session by ``HFTESTGEN_FAULT=<name>`` through the plugin the generated suite loads.
Here every fault of the CI subset (one per family, caught today, together covering every check
that runs on CPU) runs its model type's committed generated file exactly as a user does, in a new
``python -m pytest generated/test_hf_<type>.py`` process restricted to the fault's check: that
check must fail. The same files must pass, whole, without any fault. The full catalogue, with the
faults today's checks miss, is measured by ``benchmarks/bench_faults.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hftestgen import faults
from hftestgen.checks.table import MATRIX_CHECKS
from hftestgen.faults import measure

SUBSET = faults.subset()
ROOT = measure.ROOT


def _needs_models():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")


# ---------------------------------------------------------------------------------------------
# the catalogue itself (no torch)


def test_catalogue_covers_the_issue_scope():
    cat = faults.catalogue()
    assert len(cat) >= 30
    assert len({f.model_type for f in cat.values()}) >= 12
    assert {f.family for f in cat.values()} == set(faults.FAMILIES)
    for f in cat.values():
        assert f.name.startswith(f.model_type.split("_")[0]), f.name
        assert f.check in faults.CHECKS + faults.PLANNED_CHECKS
        assert f.description and f.bug_class


def test_subset_is_one_caught_fault_per_family_covering_every_cpu_check():
    assert {f.family for f in SUBSET} == set(faults.FAMILIES)
    # golden compares with a snapshot of another run: the catalogue's runs have none (its faults
    # are proven in tests/test_snapshot.py against a snapshot recorded there); the backend
    # matrix's faults (its cells are beside the status) are proven in tests/test_backends.py
    assert {f.check for f in SUBSET} == set(faults.CHECKS) - {"golden"} - MATRIX_CHECKS


def test_catalogue_records_match_the_generated_files():
    for f in faults.catalogue().values():
        path = measure.generated_file(f.model_type)
        text = path.read_text(encoding="utf-8")
        assert f'family="{f.family}"' in text, (f.name, path.name)
        assert measure.has_check(path, f.check) or f.check in faults.PLANNED_CHECKS, f.name


def test_unknown_fault_is_a_one_line_usage_error():
    env = {**os.environ, faults.ENV: "no-such-fault"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "generated/test_hf_bert.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert "HFTESTGEN_FAULT='no-such-fault'" in lines[0]
    assert "valid names: " in lines[0] and SUBSET[0].name in lines[0]


# ---------------------------------------------------------------------------------------------
# activation in this process


def test_every_fault_installs_and_undoes_cleanly():
    _needs_models()
    for name in faults.catalogue():
        faults.activate(name)
        patched = list(faults._ACTIVE[name]._undo)
        assert patched, f"{name} patched nothing"
        faults.activate(name)  # idempotent
        assert len(faults._ACTIVE[name]._undo) == len(patched)
        faults.deactivate(name)
        for owner, attr, old in patched:
            now = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr)
            assert now is (None if old is faults._MISSING else old), (name, owner, attr)
    assert faults.active() == []


# ---------------------------------------------------------------------------------------------
# the CI subset, through generated files in new processes


@pytest.mark.parametrize("fault", SUBSET, ids=lambda f: f.name)
def test_subset_fault_is_caught_by_its_check(fault):
    _needs_models()
    v = measure.measure(fault, timeout=300)
    assert v.caught, (
        f"{fault.name} not caught by {fault.check} ({v.reason}): {v.message}\n{v.run.output_tail}"
    )


@pytest.mark.parametrize("model_type", sorted({f.model_type for f in SUBSET}))
def test_generated_file_passes_without_faults(model_type):
    _needs_models()
    r = measure.clean(model_type, timeout=300)
    assert r.clean_ok, (r.failed, r.collect_errors, r.output_tail)
    assert r.counts.get("passed", 0) >= 3, r.counts


def test_fault_reaches_xdist_workers_through_hftestgen_run(tmp_path):
    """The same variable works through ``hftestgen run`` (pytest-xdist workers run the tests)."""
    _needs_models()
    fault = faults.get("flava-multimodal-pooler-reduces-batch")
    env = {**os.environ, faults.ENV: fault.name}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    rep = tmp_path / "rep"
    cmd = [sys.executable, "-m", "hftestgen", "run", fault.model_type, "-n", "2"]
    cmd += ["--report", str(rep), "--history", str(tmp_path / "h.sqlite")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    records = [json.loads(ln) for ln in (rep / "results.jsonl").read_text().splitlines()]
    tests = [r for r in records if r.get("event") == "test"]
    failed = {r["check"] for r in tests if r["outcome"] == "failed"}
    assert failed == {fault.check}, proc.stdout + proc.stderr
    assert all(str(r.get("worker") or "").startswith("gw") for r in tests), tests


@pytest.mark.parametrize(
    "name",
    ["bloom-attention-mask-dropped", "clip-text-mask-dropped", "bert-batch-leak-1e-5"],
    ids=lambda n: n,
)
def test_faults_the_sharper_checks_catch(name):
    """Missed before, caught now. Causal stacks padded on the right cannot leak padding into real
    positions, so a model that ignores ``attention_mask`` used to pass: what sits under the mask
    (two random fills, either side) must not reach real positions. A cross-sample leak of 1e-5
    of the output's magnitude hid under the float32 tolerance (1e-4): batch independence now
    compares on a float64 copy."""
    _needs_models()
    fault = faults.get(name)
    v = measure.measure(fault, timeout=300)
    assert v.caught, f"{name} not caught by {fault.check} ({v.reason}): {v.message}"
