"""Survey: worker pool (time limit, crash replacement), summaries, command output."""

from __future__ import annotations

import io
import json
import os
import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from hftestgen.tiny import survey  # noqa: E402


def fake_type(mt, names, tiny):
    """Stands in for survey_type: 'hang' sleeps forever, 'crash' kills its process."""
    if mt == "hang":
        time.sleep(600)
    if mt == "crash":
        os._exit(3)
    classes = {
        n: {
            "status": survey.FORWARD_OK,
            "category": None,
            "reason": "",
            "params": 10,
            "seconds": 0.0,
        }
        for n in names
    }
    return survey.summarize_type(mt, classes, 0.01)


def test_pool_time_limit_kills_hung_worker_and_goes_on():
    jobs = [("a", ["A"], {}), ("hang", ["H"], {}), ("b", ["B"], {}), ("c", ["C"], {})]
    t0 = time.monotonic()
    res = {r["model_type"]: r for r in survey.run_pool(jobs, 2, timeout=1.5, func=fake_type)}
    assert time.monotonic() - t0 < 20
    assert set(res) == {"a", "hang", "b", "c"}
    assert res["hang"]["status"] == survey.FAILED and res["hang"]["category"] == "timeout"
    assert all(res[k]["status"] == survey.FORWARD_OK for k in "abc")


def test_pool_replaces_crashed_worker():
    jobs = [("crash", ["X"], {}), ("a", ["A"], {}), ("b", ["B"], {})]
    res = {r["model_type"]: r for r in survey.run_pool(jobs, 1, timeout=30, func=fake_type)}
    assert res["crash"]["category"] == "upstream-bug" and "worker died" in res["crash"]["reason"]
    assert res["a"]["status"] == res["b"]["status"] == survey.FORWARD_OK


def test_summarize_type_status():
    ok = {"status": survey.FORWARD_OK, "category": None, "reason": "", "params": 5}
    built = {"status": survey.BUILT, "category": "input-synthesis", "reason": "x", "params": 7}
    bad = {"status": survey.FAILED, "category": "too-big", "reason": "y", "params": None}
    assert survey.summarize_type("t", {"A": ok}, 0)["status"] == survey.FORWARD_OK
    r = survey.summarize_type("t", {"A": ok, "B": built}, 0)
    assert (r["status"], r["category"], r["params"]) == (survey.BUILT, "input-synthesis", 7)
    assert survey.summarize_type("t", {"A": ok, "B": bad}, 0)["status"] == survey.FAILED


def test_survey_type_real_models():
    r = survey.survey_type("bert", ["BertModel", "BertForMaskedLM"])
    assert r["status"] == survey.FORWARD_OK, r
    assert r["params"] and r["params"] < 1_000_000
    r = survey.survey_type("timm_wrapper", ["TimmWrapperModel"])
    assert r["status"] == survey.FAILED and r["category"] == "missing-package"


def test_survey_command_table_and_json(tmp_path):
    from rich.console import Console

    from hftestgen.registry import load_registry

    reg = load_registry()
    specs = [reg["gpt2"], reg["vit"]]
    buf = io.StringIO()
    out = tmp_path / "s.json"
    code = survey.survey_command(
        reg,
        specs,
        fmt="table",
        jobs=2,
        timeout=60,
        output=out,
        console=Console(file=buf, width=120),
        plugins=[],
    )
    text = buf.getvalue()
    assert code == 0, text
    assert "2/2 types pass" in text and reg["gpt2"].family in text
    data = json.loads(out.read_text())
    assert data["forward_ok"] == 2 and {r["model_type"] for r in data["results"]} == {"gpt2", "vit"}
    buf = io.StringIO()
    code = survey.survey_command(
        reg,
        [reg["timm_wrapper"]],
        fmt="json",
        jobs=1,
        timeout=60,
        output=None,
        console=Console(file=buf, width=100),
        plugins=[],
    )
    assert code == 1
    data = json.loads(buf.getvalue())
    assert data["categories"] == {"missing-package": 1}
