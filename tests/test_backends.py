"""The backend matrix: backend registry and selection, the cell check on the generated suite's
own tiny models, the report section, and the backend faults (each flips exactly its cells)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hftestgen.checks import backends as B
from hftestgen.errors import UsageError

REPO = Path(__file__).resolve().parent.parent
GENERATED = REPO / "generated"
PLUGINS = Path(__file__).resolve().parent / "plugins"


@pytest.fixture
def no_selection(monkeypatch):
    for k in (B.BACKENDS_ENV, B.PLUGINS_ENV, B.CLASSES_ENV):
        monkeypatch.delenv(k, raising=False)


def test_names_and_aliases_resolve_to_canonical_names_in_order(no_selection):
    assert B.resolve("bf16, sdpa,fp16,bfloat16,export") == ["bfloat16", "sdpa", "float16", "export"]
    assert B.resolve(["FLEX", "cuda"]) == ["flex_attention", "cuda"]
    assert B.resolve("") == []


def test_an_unknown_backend_is_a_usage_error_listing_the_known_ones(no_selection):
    with pytest.raises(UsageError, match=r"unknown backend 'tensorrt'; known backends: .*sdpa"):
        B.resolve("sdpa,tensorrt")


def test_nothing_is_selected_by_default(no_selection):
    from hftestgen.checks import Case

    case = Case("bert", "encoder-only", "BertConfig", {"base": ("BertModel",)})
    assert B.selected() == []
    assert B.params(case) == []


def test_params_cover_every_class_or_the_primary_one(no_selection, monkeypatch):
    from hftestgen.checks import Case

    case = Case(
        "bert",
        "encoder-only",
        "BertConfig",
        {"base": ("BertModel",), "masked_lm": ("BertForMaskedLM",)},
    )
    monkeypatch.setenv(B.BACKENDS_ENV, "sdpa,export")
    assert B.params(case) == [
        ("sdpa", "BertModel"),
        ("sdpa", "BertForMaskedLM"),
        ("export", "BertModel"),
    ]
    monkeypatch.setenv(B.CLASSES_ENV, "all")
    assert ("export", "BertForMaskedLM") in B.params(case)


def test_a_plugin_module_adds_its_backend_and_a_bad_one_is_refused(no_selection, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv(B.PLUGINS_ENV, "hftestgen_example_backend")
    assert "jit_trace" in B.registry()
    assert B.resolve("jit_trace,sdpa") == ["jit_trace", "sdpa"]
    monkeypatch.setenv(B.PLUGINS_ENV, "json")  # a module without BACKENDS
    with pytest.raises(UsageError, match="defines no BACKENDS"):
        B.registry()
    with pytest.raises(UsageError, match="lacks prepare, tolerance"):
        B._as_backends(type("X", (), {"name": "x"})(), "test")


def test_failures_are_categorized():
    export = B.get("export")
    cases = {
        "GuardOnDataDependentSymNode: Could not guard on data-dependent expression": (
            "data-dependent"
        ),
        "RuntimeError: expected m1 and m2 to have the same dtype, but got: float != c10::BFloat16": (
            "dtype-mismatch"
        ),
        "RuntimeError: \"addmm_impl_cpu_\" not implemented for 'Half'": "dtype-unsupported-op",
        "UserError: Found <class 'DynamicCache'> in output, which is not a known type": (
            "unsupported-output"
        ),
        "ConversionError: Failed to convert the exported program to an ONNX model": "other",
        "RuntimeError: The tensor has a non-zero number of elements, but its data is not "
        "allocated yet": "data-dependent",
        "ValueError: Attention mask should be of size (2, 1, 2, 2), but is (2, 1, 4, 4)": (
            "shape-error"
        ),
        "CppCompileError: C++ compile error": "compiler-error",
        "ZeroDivisionError: division by zero": "other",
    }
    for text, want in cases.items():
        name, _, message = text.partition(": ")
        assert B.categorize(export, name, message) == want, text
    onnx = B.get("onnx")
    assert B.categorize(onnx, "ConversionError", "Failed to convert the exported program") == (
        "onnx-conversion"
    )


def test_the_settings_key_lists_backends(tmp_path):
    from hftestgen.errors import ConfigError
    from hftestgen.settings import load_settings

    (tmp_path / "pyproject.toml").write_text('[tool.hftestgen]\nbackends = ["sdpa", "bf16"]\n')
    assert load_settings(tmp_path).backends == ["sdpa", "bf16"]
    (tmp_path / "pyproject.toml").write_text('[tool.hftestgen]\nbackends = ["sdpa", 3]\n')
    with pytest.raises(ConfigError, match="backends must be a list of backend names"):
        load_settings(tmp_path)


# ---------------------------------------------------------------------------------------------
# the cell check on the generated suite's tiny models


def _cells(tmp_path, files, backends, plugins=(), fault=None, keyword="test_backend"):
    """Run generated files' backend cells in a subprocess; {param: record}."""
    results = tmp_path / "results.jsonl"
    results.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HFTESTGEN_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(PLUGINS)])
    env[B.BACKENDS_ENV] = ",".join(backends)
    if plugins:
        env[B.PLUGINS_ENV] = ",".join(plugins)
    if fault:
        env["HFTESTGEN_FAULT"] = fault
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    cmd += ["-k", keyword, "--hftestgen-results", str(results)]
    cmd += [str(GENERATED / f"test_hf_{t}.py") for t in files]
    subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    out = {}
    for line in results.read_text().splitlines():
        r = json.loads(line)
        if r.get("event") == "test":
            out[r["param"]] = r
    return out


def test_bert_and_vit_pass_sdpa_and_export_and_the_plugin_is_a_column(tmp_path):
    cells = _cells(
        tmp_path,
        ["bert", "vit"],
        ["sdpa", "export", "jit_trace"],
        plugins=["hftestgen_example_backend"],
    )
    for param in ("sdpa-BertModel", "export-BertModel", "sdpa-ViTModel", "export-ViTModel"):
        assert cells[param]["outcome"] == "passed", cells[param]
        assert cells[param]["cell"]["status"] == "pass"
        assert cells[param]["cell"]["compared"] > 0
    # sdpa really ran and was compared: eager and sdpa differ by float32 rounding, not 0
    assert 0 < cells["sdpa-BertModel"]["cell"]["max_rel_diff"] < 1e-4
    assert cells["jit_trace-BertModel"]["cell"]["status"] == "pass"

    from hftestgen.report.coverage import build_coverage
    from hftestgen.report.markdown import render_markdown
    from hftestgen.report.results import load_results

    cov = build_coverage(load_results(tmp_path / "results.jsonl"), {})
    assert list(cov["backend_summary"]["backends"]) == [
        "sdpa",
        "export",
        "jit_trace",
    ]  # table order
    assert cov["backends"]["bert"]["jit_trace"]["status"] == "pass"
    assert "| jit_trace |" in render_markdown(cov)
    # cells are reported beside the statuses, not as tests of the type
    assert "backend" not in cov["types"]["bert"]["checks"]


def test_no_backend_selected_collects_no_backend_test(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HFTESTGEN_"))}
    env["PYTHONPATH"] = str(REPO / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        + [str(GENERATED / "test_hf_bert.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "test_forward[BertModel]" in proc.stdout
    assert "test_backend" not in proc.stdout


def _record(check, param, outcome, cell=None, folder=""):
    """A synthetic results record of bert (what the pytest plugin writes)."""
    rec = {
        "event": "test",
        "nodeid": f"{folder}test_hf_bert.py::test_{check}[{param}]",
        "file": "test_hf_bert.py",
        "check": check,
        "param": param,
        "model_type": "bert",
        "family": "encoder-only",
        "outcome": outcome,
        "mode": "real",
        "duration_s": 0.1,
    }
    if cell:
        rec["cell"] = cell
    if outcome == "skipped":
        rec["skip_reason"] = f"not-applicable: {param}: no reason"
        rec["category"] = "not-applicable"
    elif outcome == "failed":
        rec["message"] = f"{param} differs"
    return rec


def test_a_failing_cell_does_not_change_the_type_status():
    from hftestgen.report.coverage import build_coverage
    from hftestgen.report.results import Results

    res = Results()
    res.add(_record("forward", "BertModel", "passed"))
    res.add(_record("backend", "sdpa-BertModel", "failed", {"status": "mismatch"}))
    res.add(_record("backend", "float16-BertModel", "skipped"))
    cov = build_coverage(res, {})
    assert cov["types"]["bert"]["status"] == "passed"
    assert cov["totals"]["tests"]["failed"] == 0
    assert cov["backends"]["bert"]["sdpa"]["status"] == "mismatch"
    assert cov["backends"]["bert"]["float16"]["status"] == "not-applicable"
    assert cov["backend_summary"]["backends"]["sdpa"]["mismatch"] == 1


# ---------------------------------------------------------------------------------------------
# backend faults: each flips exactly the cells it lists, eager float32 unharmed


def _backend_faults():
    from hftestgen import faults

    return [f for f in faults.catalogue().values() if f.backends]


def test_there_are_at_least_five_backend_faults_over_four_backends():
    fs = _backend_faults()
    assert len(fs) >= 5
    assert {b for f in fs for b in f.backends} >= {"sdpa", "bfloat16", "float16", "export", "onnx"}


@pytest.mark.parametrize("name", [f.name for f in _backend_faults()])
def test_a_backend_fault_flips_exactly_its_cells(name):
    from hftestgen import faults
    from hftestgen.faults import measure

    verdict = measure.measure_backend(faults.get(name))
    assert verdict.caught, (verdict.reason, verdict.message, verdict.run.cells)


def _bert_records(sdpa_outcome: str, sdpa_cell: dict):
    from hftestgen.report.results import Results

    res = Results()
    res.add(_record("forward", "BertModel", "passed", folder="gen/"))
    res.add(_record("backend", "sdpa-BertModel", sdpa_outcome, sdpa_cell, folder="gen/"))
    return res


def test_diff_reports_a_cell_regression_from_reports_alone():
    from hftestgen.report.coverage import build_coverage
    from hftestgen.run.diff import diff_sides, regressed, render_text
    from hftestgen.run.sides import from_coverage

    before = build_coverage(_bert_records("passed", {"status": "pass"}), {})
    after = build_coverage(_bert_records("failed", {"status": "mismatch"}), {})
    a = from_coverage(json.loads(json.dumps(before)), Path("a.json"))
    b = from_coverage(json.loads(json.dumps(after)), Path("b.json"))
    d = diff_sides(a, b)
    assert d["regressed"] == [] and d["tests"]["regressed"] == []  # the type still passed
    assert [e["nodeid"] for e in d["cells"]["regressed"]] == [
        "test_hf_bert.py::test_backend[sdpa-BertModel]"
    ]
    assert regressed(d)
    assert "backend cells regressed: 1" in render_text(d, a, b)
    assert not regressed(diff_sides(a, a))


def test_a_known_entry_can_name_one_backend_column():
    from hftestgen.registry.records import RecordError, parse_record

    text = (
        '[[known]]\nchecks = ["backend:sdpa"]\nkind = "upstream-bug"\nreason = "r"\n'
        'match = { message = "differs" }\n'
    )
    rec = parse_record("x", "types/x.toml", text)
    assert rec.known[0].applies("backend:sdpa", "XModel")
    assert not rec.known[0].applies("backend", "XModel")
    with pytest.raises(RecordError, match="'backend:tensorrt' is not a check"):
        parse_record("x", "types/x.toml", text.replace("backend:sdpa", "backend:tensorrt"))


def test_a_column_entry_xfails_that_column_only(tmp_path):
    """phi4_multimodal_vision's record names `backend:sdpa` (its vision attention is causal
    under sdpa only): the sdpa cell is a known bug, the bfloat16 cell is judged as usual."""
    cells = _cells(tmp_path, ["phi4_multimodal_vision"], ["sdpa", "bfloat16"])
    sdpa = cells["sdpa-Phi4MultimodalVisionModel"]
    assert sdpa["outcome"] == "skipped" and sdpa["category"] == "known-bug", sdpa
    assert cells["bfloat16-Phi4MultimodalVisionModel"]["category"] != "known-bug"


def test_compile_that_captures_no_graph_is_not_a_pass():
    import torch

    class Disabled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)

        @torch._dynamo.disable
        def forward(self, x):
            return self.lin(x)

    class Plain(Disabled):
        def forward(self, x):
            return self.lin(x)

    x = torch.randn(2, 3)
    fn = B.get("compile").prepare(Plain().eval(), {"x": x})
    assert fn(x=x).shape == (2, 2) and fn.graph_breaks == 0
    fn = B.get("compile").prepare(Disabled().eval(), {"x": x})
    with pytest.raises(B.NotApplicable, match="captured no graph"):
        fn(x=x)
