"""hftestgen run: sharding, the pytest plugin's records, timeouts, missing packages, no-torch
collection, merge, verify. Fake generated suites in tmp dirs (no real checks, no torch)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from hftestgen.errors import UsageError
from hftestgen.registry import ModelSpec, Registry
from hftestgen.report import load_results
from hftestgen.run.collect import case_model_type, generated_files
from hftestgen.run.diff import diff_command
from hftestgen.run.merge import report_command
from hftestgen.run.pytest_proc import run_pytest
from hftestgen.run.runner import run_command
from hftestgen.run.shards import parse_shard, parse_workers, plan_shards, shard_weights
from hftestgen.run.verify import verify_files

# ---------------------------------------------------------------------------------------------
# fake suites

FAKE_CONFTEST = """
import sys, types
# Stand-ins so the plugin sees "torch+transformers loaded" (mode "real") without importing them.
for _n in ("torch", "transformers"):
    if _n not in sys.modules:
        _m = types.ModuleType(_n)
        _m.__file__ = "<fake " + _n + ">"
        sys.modules[_n] = _m
pytest_plugins = ["hftestgen.run.pytest_plugin"]
"""

FAKE_FILE = """
import os
import time

import pytest

from hftestgen.checks import Case

CASE = Case(
    model_type={model_type!r},
    family={family!r},
    config_class="FakeConfig",
    classes={classes!r},
    skip={skip!r},
)
BEHAVIOR = {behavior!r}


def _do(check, model_class):
    b = BEHAVIOR.get(check, "pass")
    if b == "fail":
        raise AssertionError(f"{{check}} broke for {{model_class}}")
    if b == "hang":
        time.sleep(60)
    if b == "crash":
        os._exit(3)
    if b == "missing":
        import hftestgen_missing_pkg_xyz  # noqa: F401
    if b == "tiny-missing":
        class TinyError(Exception):
            category = "missing-package"
        raise TinyError("needs scipy")
    if b == "xfail":  # what hftestgen.checks does for a known upstream bug that reproduces
        pytest.xfail("upstream-bug: boom in modeling_beta.py")
    if b == "broken-import":
        from json import no_such_name  # noqa: F401  (ImportError of an installed package)


@pytest.mark.parametrize("model_class", CASE.class_names)
def test_forward(model_class):
    _do("forward", model_class)


@pytest.mark.parametrize("model_class", CASE.class_names)
def test_save_load(model_class):
    _do("save_load", model_class)


def test_device_parity():
    _do("device_parity", CASE.primary_class)
"""


def spec(mt, family="decoder-only", status="testable", reason="", classes=None, parents=()):
    ident = mt.replace("-", "_")
    if classes is None:
        base = ident.title().replace("_", "")
        classes = {"base": (base + "Model",), "causal_lm": (base + "ForCausalLM",)}
    if status in ("component", "not-testable"):
        classes = {}
    return ModelSpec(
        model_type=mt,
        identifier=ident,
        config_class="FakeConfig",
        family=family,
        family_reason="test",
        modality="text",
        classes=classes,
        source="auto-mapping",
        status=status,
        reason=reason,
        parents=tuple(parents),
    )


def write_suite(out: Path, specs, behaviors=None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "conftest.py").write_text(FAKE_CONFTEST)
    for s in specs:
        if s.status not in ("testable", "skipped"):
            continue
        text = FAKE_FILE.format(
            model_type=s.model_type,
            family=s.family,
            classes={k: tuple(v) for k, v in s.classes.items()},
            skip=s.reason if s.status == "skipped" else None,
            behavior=(behaviors or {}).get(s.model_type, {}),
        )
        (out / f"test_hf_{s.identifier}.py").write_text(textwrap.dedent(text))


def fake_registry():
    specs = [
        spec("alpha"),
        spec("beta", family="encoder-only"),
        spec("gamma-x", family="vision", status="skipped", reason="upstream bug 123"),
        spec("delta", family="audio"),
        spec(
            "comp",
            family="audio",
            status="component",
            reason="component of alpha",
            parents=("alpha",),
        ),
        spec("nt", family="other", status="not-testable", reason="no model class"),
    ]
    return Registry(specs, "9.9.9"), specs


def consoles():
    return Console(record=True, width=200), Console(record=True, width=200, stderr=True)


# ---------------------------------------------------------------------------------------------
# argument parsing and sharding


def test_parse_workers_and_shard():
    assert parse_workers("auto") == "auto"
    assert parse_workers(3) == "3"
    assert parse_workers("0") == "0"
    for bad in ("many", "-1", "1.5"):
        with pytest.raises(UsageError):
            parse_workers(bad)
    assert parse_shard("2/4") == (2, 4)
    assert parse_shard(None) is None
    for bad in ("0/4", "5/4", "2", "a/b", "1/0"):
        with pytest.raises(UsageError):
            parse_shard(bad)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_plan_shards_every_type_once_and_balanced(n):
    rng = random.Random(1234 + n)
    weights = {f"type{i:03d}": rng.choice([1, 1, 2, 3, 5, 8, 40]) * 1.0 for i in range(137)}
    parts = plan_shards(weights, n)
    assert len(parts) == n
    flat = [m for p in parts for m in p]
    assert sorted(flat) == sorted(weights)  # every type in exactly one shard
    loads = [sum(weights[m] for m in p) for p in parts]
    assert max(loads) - min(loads) <= max(weights.values())  # greedy LPT bound
    # deterministic, independent of dict order
    shuffled = dict(sorted(weights.items(), key=lambda kv: rng.random()))
    assert plan_shards(shuffled, n) == parts


def test_more_shards_than_types():
    parts = plan_shards({"a": 1.0, "b": 2.0}, 4)
    assert sorted(m for p in parts for m in p) == ["a", "b"]
    assert sum(1 for p in parts if not p) == 2


def test_shard_weights_use_durations_when_known():
    classes = {"a": 2, "b": 4, "c": 1}
    assert shard_weights(classes) == {"a": 2.0, "b": 4.0, "c": 1.0}
    w = shard_weights(classes, {"a": 10.0, "zzz": 99.0})
    assert w["a"] == 10.0
    assert w["b"] == pytest.approx(20.0)  # 5 s per class estimated from "a"
    assert w["c"] == pytest.approx(5.0)


# ---------------------------------------------------------------------------------------------
# the plugin under a real pytest run (xdist, timeout, skips, missing packages)


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """One xdist run (2 workers) of a fake suite covering every outcome."""
    root = tmp_path_factory.mktemp("suite")
    out = root / "generated"
    _, specs = fake_registry()
    write_suite(
        out,
        specs,
        {
            "beta": {"forward": "xfail", "save_load": "fail", "device_parity": "crash"},
            "delta": {
                "forward": "missing",
                "save_load": "tiny-missing",
                "device_parity": "broken-import",
            },
            "alpha": {"device_parity": "hang"},
        },
    )
    outcome = run_pytest(
        sorted(out.glob("test_hf_*.py")),
        work_dir=root / "report",
        rootdir=out,
        workers="2",
        timeout=1.5,
    )
    return outcome, root


def _by_id(outcome):
    return {r["nodeid"].split("/")[-1]: r for r in outcome.results.tests.values()}


def test_plugin_records_every_test_under_xdist(fake_run):
    outcome, root = fake_run
    res = outcome.results
    assert res.finished, (root / "report" / "pytest.log").read_text()
    assert res.collected == len(res.tests) == 4 * 5  # 4 files x (2+2+1) tests
    # gw0/gw1, plus the replacement of the worker that crashed
    assert {"gw0", "gw1"} <= {w["worker"] for w in res.workers}
    assert sum(1 for w in res.workers if w["maxrss_kb"]) >= 2
    recs = _by_id(outcome)
    r = recs["test_hf_alpha.py::test_forward[AlphaModel]"]
    assert (r["model_type"], r["family"], r["check"], r["param"]) == (
        "alpha",
        "decoder-only",
        "forward",
        "AlphaModel",
    )
    assert r["outcome"] == "passed" and r["mode"] == "real" and r["duration_s"] >= 0
    assert r["worker"] in ("gw0", "gw1")
    f = recs["test_hf_beta.py::test_save_load[BetaForCausalLM]"]
    assert f["outcome"] == "failed" and "save_load broke for BetaForCausalLM" in f["message"]
    # The results file on disk equals what was tailed live.
    assert load_results(root / "report").tests == res.tests
    assert (root / "report" / "junit.xml").is_file()


def test_hanging_test_hits_time_limit_and_run_goes_on(fake_run):
    outcome, _ = fake_run
    r = _by_id(outcome)["test_hf_alpha.py::test_device_parity"]
    assert r["outcome"] == "failed"
    assert r["category"] == "timeout"
    assert r["message"].startswith("timeout")
    assert 1.0 <= r["duration_s"] < 30
    # tests of the same file after the hang still ran
    assert _by_id(outcome)["test_hf_alpha.py::test_save_load[AlphaModel]"]["outcome"] == "passed"


def test_worker_crash_is_a_failure_and_run_goes_on(fake_run):
    outcome, _ = fake_run
    r = _by_id(outcome)["test_hf_beta.py::test_device_parity"]
    assert r["outcome"] == "failed" and r["category"] == "crash" and r["mode"] == "crashed"
    assert "crashed" in r["message"] and r["model_type"] == "beta"


def test_known_upstream_bug_is_recorded_as_known_bug(fake_run):
    outcome, _ = fake_run
    r = _by_id(outcome)["test_hf_beta.py::test_forward[BetaModel]"]
    assert r["outcome"] == "skipped" and r["category"] == "known-bug"
    assert r["skip_reason"] == "xfail: upstream-bug: boom in modeling_beta.py"


def test_case_skip_is_honoured(fake_run):
    outcome, _ = fake_run
    recs = [r for r in outcome.results.tests.values() if r["model_type"] == "gamma-x"]
    assert recs and all(r["outcome"] == "skipped" for r in recs)
    assert {r["skip_reason"] for r in recs} == {"unsupported: upstream bug 123"}
    assert {r["category"] for r in recs} == {"unsupported"}
    assert {r["mode"] for r in recs} == {"skipped"}


def test_missing_optional_package_becomes_skip_naming_it(fake_run):
    outcome, _ = fake_run
    recs = _by_id(outcome)
    r = recs["test_hf_delta.py::test_forward[DeltaModel]"]
    assert r["outcome"] == "skipped"
    assert r["skip_reason"] == "missing package: hftestgen_missing_pkg_xyz"
    assert r["category"] == "missing-package" and r["mode"] == "skipped"
    t = recs["test_hf_delta.py::test_save_load[DeltaModel]"]
    assert t["outcome"] == "skipped" and t["skip_reason"] == "missing package: scipy"
    # an ImportError from an installed package is a real failure, not a skip
    b = recs["test_hf_delta.py::test_device_parity"]
    assert b["outcome"] == "failed" and "no_such_name" in b["message"]


# ---------------------------------------------------------------------------------------------
# no torch: the real generated file collects and every test skips naming the package

BLOCKER = '''
"""pytest -p plugin: make importing the named packages fail, as if they were not installed."""
import os
import sys

BLOCKED = set(os.environ.get("HFTESTGEN_BLOCK", "torch,transformers").split(","))
ATTEMPTS = os.environ.get("HFTESTGEN_BLOCK_LOG")


def _frames():
    f = sys._getframe(1)
    while f is not None:
        yield f
        f = f.f_back


class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            probe = any(
                fr.f_code.co_name == "find_spec" and "importlib" in fr.f_code.co_filename
                for fr in _frames()
            )
            if ATTEMPTS and not probe:  # record imports, not importlib.util.find_spec probes
                with open(ATTEMPTS, "a") as f:
                    f.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None


for _m in list(sys.modules):
    if _m.split(".")[0] in BLOCKED:
        del sys.modules[_m]
sys.meta_path.insert(0, _Blocker())
'''


def test_no_torch_real_generated_file_collects_and_skips(tmp_path):
    from hftestgen.render import render_conftest, render_spec

    out = tmp_path / "generated"
    out.mkdir()
    s = spec(
        "gpt2",
        classes={
            "base": ("GPT2Model",),
            "causal_lm": ("GPT2LMHeadModel",),
            "sequence_classification": ("GPT2ForSequenceClassification",),
        },
    )
    (out / "conftest.py").write_text(render_conftest())
    (out / "test_hf_gpt2.py").write_text(render_spec(s))
    (tmp_path / "hftestgen_block_imports.py").write_text(BLOCKER)
    (tmp_path / "empty.ini").write_text("[pytest]\n")
    log = tmp_path / "attempts.txt"
    results = tmp_path / "results.jsonl"
    env = {
        **__import__("os").environ,
        "PYTHONPATH": str(tmp_path),
        "HFTESTGEN_BLOCK": "torch,transformers",
        "HFTESTGEN_BLOCK_LOG": str(log),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "hftestgen_block_imports",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(out),
            "-c",
            str(tmp_path / "empty.ini"),
            "--hftestgen-results",
            str(results),
            str(out / "test_hf_gpt2.py"),
        ],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = load_results(results)
    assert not res.collect_errors, res.collect_errors
    assert res.collected and res.collected == len(res.tests) >= 10
    for r in res.tests.values():
        assert r["outcome"] == "skipped", r
        assert "torch" in r["skip_reason"], r
        assert r["skip_reason"].startswith("missing package: ")
    assert not log.exists() or "torch" not in log.read_text().split(), (
        "something imported torch while collecting: " + log.read_text()
    )
    # The same through the runner, under pytest-xdist (workers load the blocker too).
    outcome = run_pytest(
        [out / "test_hf_gpt2.py"],
        work_dir=tmp_path / "report",
        rootdir=out,
        workers="2",
        timeout=60,
        extra=["-p", "hftestgen_block_imports"],
        env=env,
    )
    assert outcome.results.finished and outcome.returncode == 0
    assert len(outcome.results.tests) == res.collected
    assert {r["skip_reason"] for r in outcome.results.tests.values()} == {
        "missing package: torch, transformers"
    }
    assert {r["worker"] for r in outcome.results.tests.values()} <= {"gw0", "gw1"}


# ---------------------------------------------------------------------------------------------
# hftestgen run end to end (fake registry), merge, min coverage, verify


def run(reg, specs, out, report, history, **kw):
    con, err = consoles()
    code = run_command(
        reg,
        specs,
        out_dir=out,
        report_dir=report,
        history=history,
        workers=kw.pop("workers", "0"),
        timeout=kw.pop("timeout", 20.0),
        console=con,
        err_console=err,
        **kw,
    )
    return code, con.export_text(), err.export_text()


def test_run_command_writes_reports_and_history(tmp_path):
    reg, specs = fake_registry()
    out = tmp_path / "gen"
    write_suite(out, specs, {"beta": {"forward": "fail"}})
    runnable = [s for s in specs if s.status in ("testable", "skipped")]
    code, text, err = run(reg, runnable, out, tmp_path / "rep", tmp_path / "h.sqlite")
    assert code == 1, text + err
    cov = json.loads((tmp_path / "rep" / "coverage.json").read_text())
    st = {mt: t["status"] for mt, t in cov["types"].items()}
    assert st == {
        "alpha": "passed",
        "beta": "failed",
        "gamma-x": "skipped",
        "delta": "passed",
        "comp": "component",
        "nt": "not-testable",
    }
    assert cov["types"]["comp"]["parents"] == ["alpha"]
    assert "beta" in text and "FAILED" in text
    for name in ("coverage.md", "coverage.html", "junit.xml", "results.jsonl", "pytest.log"):
        assert (tmp_path / "rep" / name).is_file(), name
    assert (tmp_path / "h.sqlite").is_file()
    # everything passing -> exit 0; --min-coverage above what passed -> exit 1
    write_suite(out, specs)
    code, text, err = run(reg, runnable, out, tmp_path / "rep", tmp_path / "h.sqlite")
    assert code == 0, text + err
    code, text, _ = run(
        reg, runnable, out, tmp_path / "rep", tmp_path / "h.sqlite", min_coverage=80.0
    )
    assert code == 1 and "below --min-coverage" in text  # 3 of 4 types passed = 75%


def test_run_missing_generated_file_is_usage_error(tmp_path):
    reg, specs = fake_registry()
    (tmp_path / "gen").mkdir()
    with pytest.raises(UsageError, match="hftestgen generate"):
        run(reg, [specs[0]], tmp_path / "gen", tmp_path / "rep", tmp_path / "h.sqlite")


def test_shards_then_merge_equals_whole(tmp_path):
    reg, specs = fake_registry()
    out = tmp_path / "gen"
    write_suite(out, specs, {"beta": {"save_load": "fail"}})
    runnable = [s for s in specs if s.status in ("testable", "skipped")]
    dirs = []
    for k in (1, 2):
        d = tmp_path / f"shard{k}"
        run(reg, runnable, out, d, tmp_path / "h.sqlite", shard=f"{k}/2")
        dirs.append(d)
    sel = [json.loads((d / "coverage.json").read_text())["run"]["selected"] for d in dirs]
    assert sorted(sel[0] + sel[1]) == sorted(s.model_type for s in runnable)
    assert not set(sel[0]) & set(sel[1])
    con, err = consoles()
    code = report_command(
        dirs, tmp_path / "merged", history=tmp_path / "h.sqlite", console=con, err_console=err
    )
    assert code == 1  # beta fails
    merged = json.loads((tmp_path / "merged" / "coverage.json").read_text())
    assert merged["run"]["shards"] == ["1/2", "2/2"]
    assert (tmp_path / "merged" / "junit-1.xml").is_file()
    assert (tmp_path / "merged" / "junit-2.xml").is_file()
    st = {mt: t["status"] for mt, t in merged["types"].items()}
    assert st["alpha"] == "passed" and st["beta"] == "failed" and st["gamma-x"] == "skipped"
    assert "not-run" not in st.values()
    assert merged["totals"]["tests"]["total"] == 4 * 5
    assert "warning" not in err.export_text()
    # merged results can be merged again (idempotent)
    code2 = report_command(
        [tmp_path / "merged"], tmp_path / "merged2", record=False, console=con, err_console=err
    )
    assert code2 == 1
    again = json.loads((tmp_path / "merged2" / "coverage.json").read_text())
    assert {m: t["status"] for m, t in again["types"].items()} == st


def test_merge_warns_when_a_shard_is_missing(tmp_path):
    reg, specs = fake_registry()
    out = tmp_path / "gen"
    write_suite(out, specs)
    runnable = [s for s in specs if s.status in ("testable", "skipped")]
    run(reg, runnable, out, tmp_path / "s1", tmp_path / "h.sqlite", shard="1/2")
    con, err = consoles()
    report_command([tmp_path / "s1"], tmp_path / "m", record=False, console=con, err_console=err)
    assert "a shard is missing" in err.export_text()
    with pytest.raises(UsageError):
        report_command([tmp_path / "nope"], tmp_path / "m", console=con, err_console=err)


def test_generated_files_reads_case_without_importing(tmp_path):
    _, specs = fake_registry()
    write_suite(tmp_path, specs)
    files = generated_files(tmp_path)
    assert set(files) == {"alpha", "beta", "gamma-x", "delta"}
    assert case_model_type(files["gamma-x"]) == "gamma-x"


def test_verify_files_prints_one_line_per_file(tmp_path):
    _, specs = fake_registry()
    write_suite(tmp_path, specs, {"beta": {"forward": "fail"}})
    (tmp_path / "test_hf_delta.py").write_text(
        (tmp_path / "test_hf_delta.py").read_text() + "\ndef broken(:\n"
    )
    con = Console(record=True, width=200)
    code = verify_files(tmp_path, ["alpha", "beta", "gamma-x", "delta", "nosuch"], con, timeout=20)
    text = con.export_text()
    assert code == 1
    lines = {ln.split()[1].rstrip(":"): ln.split()[0] for ln in text.splitlines() if ln.strip()}
    assert lines["test_hf_alpha.py"] == "ok"
    assert lines["test_hf_beta.py"] == "FAIL"
    assert lines["test_hf_gamma_x.py"] == "skip"
    assert lines["test_hf_delta.py"] == "FAIL" and "does not compile" in text
    assert lines["nosuch"] == "FAIL"


def test_verify_files_uses_the_settings_timeout(tmp_path, monkeypatch):
    """Without an explicit timeout, --verify uses [tool.hftestgen] timeout (a hang fails fast)."""
    _, specs = fake_registry()
    write_suite(tmp_path / "gen", [specs[0]], {"alpha": {"device_parity": "hang"}})
    (tmp_path / "pyproject.toml").write_text("[tool.hftestgen]\ntimeout = 2\n")
    monkeypatch.chdir(tmp_path)
    con = Console(record=True, width=300)
    assert verify_files(tmp_path / "gen", ["alpha"], con) == 1
    text = con.export_text()
    assert text.startswith("FAIL  test_hf_alpha.py:") and "device_parity: timeout" in text


def test_run_with_corrupted_history_still_writes_reports(tmp_path):
    reg, specs = fake_registry()
    out = tmp_path / "gen"
    write_suite(out, specs)
    bad = tmp_path / "h.sqlite"
    bad.write_bytes(b"not a database" * 100)
    code, text, err = run(reg, [specs[0]], out, tmp_path / "rep", bad, shard="1/1")
    assert code == 0, text + err
    assert (
        json.loads((tmp_path / "rep" / "coverage.json").read_text())["types"]["alpha"]["status"]
        == "passed"
    )
    assert "warning: sharding by class counts: history database" in err
    assert "warning: run not added to history: history database" in err
    assert "corrupted" in err


def test_relative_report_and_out_paths(tmp_path, monkeypatch):
    """`make run` passes `--report reports`: relative paths must not depend on pytest's cwd."""
    reg, specs = fake_registry()
    write_suite(tmp_path / "gen", specs)
    runnable = [s for s in specs if s.status in ("testable", "skipped")]
    monkeypatch.chdir(tmp_path)
    code, text, err = run(reg, runnable, Path("gen"), Path("rep"), Path("h.sqlite"))
    assert code == 0, text + err
    cov = json.loads((tmp_path / "rep" / "coverage.json").read_text())
    assert cov["types"]["alpha"]["status"] == "passed"
    assert (tmp_path / "rep" / "results.jsonl").stat().st_size > 0
    assert not (tmp_path / "gen" / "rep").exists()


def test_diff_of_two_real_runs_kept_in_two_history_files(tmp_path):
    """A baseline run and a new run, each with its own history: diff per test across them."""
    reg, specs = fake_registry()
    out = tmp_path / "gen"
    runnable = [s for s in specs if s.status in ("testable", "skipped")]
    write_suite(out, specs, {"beta": {"forward": "xfail"}, "delta": {"forward": "missing"}})
    code, text, err = run(reg, runnable, out, tmp_path / "base", tmp_path / "base.sqlite")
    assert code == 0, text + err
    write_suite(out, specs, {"beta": {"forward": "fail"}, "delta": {"forward": "tiny-missing"}})
    code, text, err = run(reg, runnable, out, tmp_path / "new", tmp_path / "new.sqlite")
    assert code == 1, text + err

    def no_default():
        raise AssertionError("both sides are named")

    for new_side in (tmp_path / "new.sqlite", tmp_path / "new"):  # history, or report folder
        con = Console(record=True, width=400)
        code = diff_command(
            str(tmp_path / "base.sqlite"),
            str(new_side),
            history=no_default,
            fmt="text",
            exit_code=True,
            console=con,
        )
        text = con.export_text()
        assert code == 1, text
        assert "types regressed: 1\n  beta: known-issue -> failed" in text
        assert "tests regressed: 2\n" in text
        for cls in ("BetaModel", "BetaForCausalLM"):
            assert f"  test_hf_beta.py::test_forward[{cls}]: xfailed -> failed  (" in text
        assert "tests with a changed reason text: 2\n" in text
        assert (
            "  test_hf_delta.py::test_forward[DeltaModel] (skipped)\n"
            "    was: missing package: hftestgen_missing_pkg_xyz\n"
            "    now: missing package: scipy\n"
        ) in text
        assert "tests fixed: 0" in text and "tests changed: 0" in text
