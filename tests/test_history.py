"""Run history: recording, listing, diff, and clear errors for corrupted or locked databases."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from rich.console import Console

from hftestgen.report import build_coverage, parse_lines
from hftestgen.run.diff import diff_types
from hftestgen.run.history import History, HistoryError
from hftestgen.run.summary import record_history


def _rec(mt, outcome, dur=1.0):
    return {
        "event": "test",
        "nodeid": f"test_hf_{mt}.py::test_forward[M]",
        "file": f"test_hf_{mt}.py",
        "model_type": mt,
        "check": "forward",
        "param": "M",
        "outcome": outcome,
        "mode": "real" if outcome != "skipped" else "skipped",
        "skip_reason": "missing package: scipy" if outcome == "skipped" else None,
        "message": "boom" if outcome == "failed" else None,
        "duration_s": dur,
    }


def coverage(outcomes: dict[str, str], shard=None, transformers="5.0.0", durations=None):
    universe = {
        mt: {
            "family": "decoder-only",
            "registry_status": "testable",
            "registry_reason": "",
            "parents": [],
            "classes": 2,
            "file": f"test_hf_{mt}.py",
        }
        for mt in outcomes
    }
    res = parse_lines(
        json.dumps(_rec(mt, o, (durations or {}).get(mt, 1.0))) for mt, o in outcomes.items() if o
    )
    versions = {
        "python": "3.11",
        "torch": "2.0",
        "transformers": transformers,
        "hftestgen": "0.1.0",
    }
    return build_coverage(res, universe, list(outcomes), {"shard": shard}, versions)


def test_record_list_and_diff(tmp_path):
    h = History(tmp_path / "h.sqlite")
    a = h.record(
        coverage(
            {
                "keep": "passed",
                "breaks": "passed",
                "heals": "failed",
                "gone": "passed",
                "skips": "passed",
            }
        )
    )
    h.record(coverage({"keep": "failed"}, shard="1/2"))  # a shard: not a default diff side
    b = h.record(
        coverage(
            {
                "keep": "passed",
                "breaks": "failed",
                "heals": "passed",
                "new": "failed",
                "skips": "skipped",
            },
            transformers="5.1.0",
        ),
        exit_code=1,
    )
    runs = h.runs()
    assert [r["id"] for r in runs] == [1, 2, 3]
    assert runs[2]["transformers"] == "5.1.0" and runs[2]["exit_code"] == 1
    assert runs[0]["passed"] == 4 and runs[0]["failed"] == 1
    assert h.default_pair() == (a, b)
    d = diff_types(h.type_statuses(a), h.type_statuses(b))
    assert [e["model_type"] for e in d["regressed"]] == ["breaks"]
    assert d["regressed"][0]["reason"].endswith("boom")
    assert [e["model_type"] for e in d["fixed"]] == ["heals"]
    assert [(e["model_type"], e["from"], e["to"]) for e in d["changed"]] == [
        ("skips", "passed", "skipped")
    ]
    assert [e["model_type"] for e in d["appeared"]] == ["new"]
    assert [e["model_type"] for e in d["disappeared"]] == ["gone"]


def test_type_durations_latest_positive(tmp_path):
    h = History(tmp_path / "h.sqlite")
    h.record(coverage({"a": "passed", "b": "passed"}, durations={"a": 3.0, "b": 5.0}))
    h.record(coverage({"a": "passed", "b": None}, durations={"a": 7.0}))
    assert h.type_durations() == {"a": 7.0, "b": 5.0}


def test_missing_history_and_too_few_runs(tmp_path):
    with pytest.raises(HistoryError, match="no run history"):
        History(tmp_path / "none.sqlite").runs()
    h = History(tmp_path / "h.sqlite")
    h.record(coverage({"a": "passed"}))
    with pytest.raises(HistoryError, match="needs two"):
        h.default_pair()
    with pytest.raises(HistoryError, match="no run 99"):
        h.run(99)


def test_corrupted_db_is_one_clear_line(tmp_path):
    p = tmp_path / "h.sqlite"
    p.write_bytes(b"this is not sqlite at all" * 100)
    for call in (lambda: History(p).runs(), lambda: History(p).record(coverage({"a": "passed"}))):
        with pytest.raises(HistoryError) as ei:
            call()
        msg = str(ei.value)
        assert "\n" not in msg and str(p) in msg and "corrupted" in msg and "move it aside" in msg
    # during a run: a warning, not a crash (reports are written before history)
    err = Console(record=True, width=300, stderr=True)
    assert record_history(coverage({"a": "passed"}), p, tmp_path, 0, err) is None
    assert err.export_text().startswith("warning: run not added to history: history database")


def test_locked_db_is_one_clear_line(tmp_path):
    p = tmp_path / "h.sqlite"
    History(p).record(coverage({"a": "passed"}))
    holder = sqlite3.connect(str(p))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(HistoryError) as ei:
            History(p, timeout=0.1).record(coverage({"a": "failed"}))
        assert "locked" in str(ei.value) and "\n" not in str(ei.value)
    finally:
        holder.rollback()
        holder.close()
    assert len(History(p).runs()) == 1


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "hftestgen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_history_and_diff(tmp_path):
    p = tmp_path / "h.sqlite"
    h = History(p)
    h.record(coverage({"x": "passed", "y": "failed"}))
    h.record(coverage({"x": "failed", "y": "passed", "z": "passed"}))
    r = _cli("history", "--history", str(p), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "2 run(s)" in r.stdout
    r = _cli("diff", "--history", str(p), "--exit-code", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "types regressed: 1\n  x: passed -> failed  (forward[M]: boom)" in r.stdout
    assert "types fixed: 1" in r.stdout and "types appeared: 1\n  z: passed" in r.stdout
    assert (
        "tests regressed: 1\n  test_hf_x.py::test_forward[M]: passed -> failed  (boom)" in r.stdout
    )
    r = _cli("diff", "1", "2", "--history", str(p), "--format", "json", cwd=tmp_path)
    assert json.loads(r.stdout)["fixed"][0]["model_type"] == "y"
    p.write_bytes(b"garbage" * 200)
    r = _cli("history", "--history", str(p), cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("error: history database")
        and "corrupted" in lines[0]
    )
