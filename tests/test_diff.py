"""hftestgen diff per test: states (xfailed / xpassed), groups, reason-only changes, and runs
kept in two history files, a report folder or a results.jsonl. The history files are written by
``History.record`` from coverage built out of records shaped like the pytest plugin's."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import types

import pytest

from hftestgen import checks
from hftestgen.checks import Case, Known, Matcher
from hftestgen.errors import UsageError
from hftestgen.report import build_coverage, parse_lines, write_reports
from hftestgen.run.diff import diff_sides, diff_tests, diff_types, regressed, render_text
from hftestgen.run.history import History
from hftestgen.run.sides import from_path, keyed_tests, node_key, resolve, resolve_pair
from hftestgen.run.states import TEST_STATES, state_of

XFAIL = "xfail: upstream-bug: boom in modeling_x.py [AssertionError: differs]"


def rec(mt, check, param, state, msg=None):
    """A test record as hftestgen.run.pytest_plugin writes it, for one of the test states."""
    r = {
        "event": "test",
        "nodeid": f"test_hf_{mt}.py::test_{check}[{param}]",
        "file": f"test_hf_{mt}.py",
        "model_type": mt,
        "family": "decoder-only",
        "check": check,
        "param": param,
        "outcome": state,
        "category": None,
        "skip_reason": None,
        "message": None,
        "duration_s": 0.25,
        "mode": "real",
    }
    if state == "xfailed":
        r.update(outcome="skipped", category="known-bug", skip_reason=msg or XFAIL, mode="skipped")
    elif state == "skipped":
        r.update(skip_reason=msg or "missing package: scipy", mode="skipped")
        if r["skip_reason"].startswith("missing package: "):
            r["category"] = "missing-package"
    elif state == "failed":
        r.update(category="failed", message=msg or "AssertionError: boom")
    elif state == "error":
        r.update(category="setup-error", message=msg or "fixture broke")
    elif state == "xpassed":  # what a known bug that stopped reproducing records
        r.update(
            outcome="failed",
            category="failed",
            message="Failed: known upstream bug no longer reproduces for x/XModel (forward): "
            "remove its entry from hftestgen/checks/known/",
        )
    return r


def no_default():
    raise AssertionError("this side does not need the default history")


def coverage(records, transformers="5.0.0", shard=None):
    res = parse_lines(json.dumps(r) for r in records)
    versions = {"python": "3.11", "torch": "2.0", "transformers": transformers, "hftestgen": "0"}
    return build_coverage(res, {}, None, {"shard": shard, "started_at": "T"}, versions)


# The two runs every test below compares: A (baseline) and B (new).
RUN_A = [
    rec("x", "forward", "XModel", "passed"),
    rec("x", "save_load", "XModel", "passed"),
    rec("x", "generate", "XModel", "skipped", "not-applicable: XModel cannot generate"),
    rec("y", "forward", "YModel", "xfailed"),
    rec("y", "save_load", "YModel", "xfailed"),
    rec("y", "generate", "YModel", "failed", "AssertionError: logits differ"),
    rec("z", "forward", "ZModel", "skipped", "missing package: scipy"),
    rec("z", "save_load", "ZModel", "failed", "AssertionError: at 0x7f00aa11bb22"),
    rec("z", "padding", "ZModel", "passed"),
    rec("gone", "forward", "GoneModel", "passed"),
]
RUN_B = [
    rec("x", "forward", "XModel", "failed", "AssertionError: now broken"),  # regressed
    rec("x", "save_load", "XModel", "skipped", "not applicable"),  # changed (ok -> ok)
    rec("x", "generate", "XModel", "skipped", "not-applicable: XModel cannot generate"),  # same
    rec("y", "forward", "YModel", "failed", "AssertionError: worse"),  # xfailed -> failed
    rec("y", "save_load", "YModel", "xpassed"),  # xfailed -> xpassed
    rec("y", "generate", "YModel", "passed"),  # fixed
    rec("z", "forward", "ZModel", "skipped", "missing package: librosa"),  # reason only
    rec("z", "save_load", "ZModel", "failed", "AssertionError: at 0x7fffee001234"),  # same
    rec("z", "padding", "ZModel", "passed"),
    rec("new", "forward", "NewModel", "passed"),  # appeared
]


@pytest.fixture
def two_histories(tmp_path):
    """RUN_A recorded in one history file, RUN_B in another (a baseline and a new run)."""
    pa, pb = tmp_path / "base" / "history.sqlite", tmp_path / "new" / "history.sqlite"
    History(pa).record(coverage(RUN_A, "5.0.0"), exit_code=1)
    History(pb).record(coverage(RUN_B, "5.1.0"), exit_code=1)
    return pa, pb


# ---------------------------------------------------------------------------------------------
# states


def real_failure(monkeypatch, behaviour):
    """The exception hftestgen.checks raises for a known upstream bug (a record's [[known]])."""
    entry = Known(
        checks=("forward",),
        kind="upstream-bug",
        reason="because",
        match=Matcher(exception="AssertionError", message="NaN"),
    )
    case = Case(
        model_type="bert",
        family="encoder-only",
        config_class="BertConfig",
        classes={},
        known=(entry,),
    )

    def forward(case, model_class):
        if behaviour == "fail":
            raise AssertionError("logits are NaN")

    monkeypatch.setattr(checks, "_impl", lambda: types.SimpleNamespace(forward=forward))
    with pytest.raises(BaseException) as ei:  # pytest's outcome exceptions are BaseExceptions
        checks.forward(case, "BertModel")
    return ei.value


def test_state_of_every_recorded_shape():
    for state in TEST_STATES:
        r = rec("x", "forward", "XModel", state)
        msg = r["message"] or r["skip_reason"]
        assert state_of(r["outcome"], category=r["category"], message=msg, mode=r["mode"]) == state
    # history rows of schema 1 have no category: the plugin's xfail reason and mode decide
    assert state_of("skipped", message=XFAIL, mode="skipped") == "xfailed"
    assert state_of("skipped", message="xfail", mode="skipped") == "xfailed"
    assert state_of("skipped", message="xfailing is fun", mode="skipped") == "skipped"
    assert state_of("skipped", category="missing-package", message=XFAIL) == "skipped"
    assert state_of("skipped", message=XFAIL, mode="real") == "skipped"
    assert state_of("failed", message="[XPASS(strict)] because") == "xpassed"
    assert state_of(None) == "error"


def test_state_of_the_messages_hftestgen_checks_really_raises(monkeypatch):
    """The xpassed / xfailed rules follow the text of hftestgen.checks, not a copy of it."""
    stopped = real_failure(monkeypatch, "pass")  # pytest.fail(): recorded as "Failed: <message>"
    assert state_of("failed", message=f"Failed: {stopped}") == "xpassed"
    assert state_of("failed", message=str(stopped)) == "xpassed"
    reproduces = real_failure(
        monkeypatch, "fail"
    )  # pytest.xfail(): the plugin records "xfail: <reason>"
    assert state_of("skipped", message=f"xfail: {reproduces}", mode="skipped") == "xfailed"


# ---------------------------------------------------------------------------------------------
# the per-test diff of two real history files


def test_per_test_groups_across_two_history_files(two_histories):
    pa, pb = two_histories
    d = diff_sides(resolve(str(pa), no_default), resolve(str(pb), no_default))
    t = d["tests"]

    def moves(group):
        return [(e["nodeid"], e.get("from"), e.get("to")) for e in t[group]]

    assert moves("regressed") == [
        ("test_hf_x.py::test_forward[XModel]", "passed", "failed"),
        ("test_hf_y.py::test_forward[YModel]", "xfailed", "failed"),
        ("test_hf_y.py::test_save_load[YModel]", "xfailed", "xpassed"),
    ]
    assert moves("fixed") == [("test_hf_y.py::test_generate[YModel]", "failed", "passed")]
    assert moves("changed") == [("test_hf_x.py::test_save_load[XModel]", "passed", "skipped")]
    assert moves("appeared") == [("test_hf_new.py::test_forward[NewModel]", None, "passed")]
    assert moves("disappeared") == [("test_hf_gone.py::test_forward[GoneModel]", "passed", None)]
    assert t["regressed"][0]["reason"] == "AssertionError: now broken"
    assert t["fixed"][0]["reason"] == "AssertionError: logits differ"  # what got fixed
    # same state, other reason: listed apart, not as a change; an object address is no change
    assert t["reason_changed"] == [
        {
            "nodeid": "test_hf_z.py::test_forward[ZModel]",
            "model_type": "z",
            "check": "forward",
            "param": "ZModel",
            "state": "skipped",
            "from_reason": "missing package: scipy",
            "to_reason": "missing package: librosa",
        }
    ]
    assert d["summary"]["tests"] == {
        "regressed": 3,
        "fixed": 1,
        "changed": 1,
        "appeared": 1,
        "disappeared": 1,
        "reason_changed": 1,
    }
    # per type: x passed -> failed; y and z failed in both runs (so per type, y's two
    # regressed tests do not show); gone / new
    assert [(e["model_type"], e["from"], e["to"]) for e in d["regressed"]] == [
        ("x", "passed", "failed")
    ]
    assert d["fixed"] == d["changed"] == []
    assert [e["model_type"] for e in d["appeared"]] == ["new"]
    assert [e["model_type"] for e in d["disappeared"]] == ["gone"]
    assert d["a"]["transformers"] == "5.0.0" and d["b"]["transformers"] == "5.1.0"
    assert d["a"]["source"] == str(pa) and regressed(d)


def test_xfailed_to_failed_alone_is_a_regression(tmp_path):
    """Type status stays 'failed' (another test already failed), only the test regressed."""
    base = [rec("y", "forward", "YModel", "xfailed"), rec("y", "generate", "YModel", "failed")]
    new = [rec("y", "forward", "YModel", "failed"), rec("y", "generate", "YModel", "failed")]
    h = History(tmp_path / "h.sqlite")
    a, b = h.record(coverage(base)), h.record(coverage(new))
    p = tmp_path / "h.sqlite"
    d = diff_sides(resolve(f"{p}@{a}", no_default), resolve(f"{p}@{b}", no_default))
    assert d["regressed"] == [] and d["changed"] == []  # nothing to see per type
    assert [(e["from"], e["to"]) for e in d["tests"]["regressed"]] == [("xfailed", "failed")]
    assert regressed(d)


def test_reason_only_change_is_not_a_regression(tmp_path):
    base = [rec("z", "forward", "ZModel", "failed", "AssertionError: max diff 0.1")]
    new = [rec("z", "forward", "ZModel", "failed", "AssertionError: max diff 0.3")]
    h = History(tmp_path / "h.sqlite")
    h.record(coverage(base))
    h.record(coverage(new))
    a, b = resolve_pair(None, None, lambda: tmp_path / "h.sqlite")
    d = diff_sides(a, b)
    assert not regressed(d)
    assert all(not d["tests"][g] for g in ("regressed", "fixed", "changed"))
    (e,) = d["tests"]["reason_changed"]
    assert (e["state"], e["from_reason"], e["to_reason"]) == (
        "failed",
        "AssertionError: max diff 0.1",
        "AssertionError: max diff 0.3",
    )
    text = "\n".join(render_text(d, a, b))
    assert "tests with a changed reason text: 1" in text
    assert "  test_hf_z.py::test_forward[ZModel] (failed)" in text
    assert "    was: AssertionError: max diff 0.1\n    now: AssertionError: max diff 0.3" in text
    assert "tests regressed: 0" in text and text.startswith(
        "run 1 (T, Transformers 5.0.0) -> run 2"
    )


def test_type_level_known_issue_and_skipped_to_failed_regress():
    a = {m: {"status": s, "reason": ""} for m, s in [("k", "known-issue"), ("s", "skipped")]}
    b = {m: {"status": "failed", "reason": "r"} for m in ("k", "s")}
    d = diff_types(a, b)
    assert [(e["model_type"], e["from"]) for e in d["regressed"]] == [
        ("k", "known-issue"),
        ("s", "skipped"),
    ]
    assert diff_types(b, a)["fixed"] and not diff_types(b, a)["regressed"]
    # known-issue <-> passed is a change, never a regression or a fix
    c = diff_types(
        {"k": {"status": "known-issue", "reason": ""}}, {"k": {"status": "passed", "reason": ""}}
    )
    assert [e["to"] for e in c["changed"]] == ["passed"]


def test_passed_to_incomplete_is_a_change_and_incomplete_to_failed_a_regression():
    st = lambda s: {"t": {"status": s, "reason": ""}}  # noqa: E731
    d = diff_types(st("passed"), st("incomplete"))
    assert [(e["from"], e["to"]) for e in d["changed"]] == [("passed", "incomplete")]
    assert not d["regressed"] and not d["fixed"]
    assert diff_types(st("passed"), st("nothing-ran"))["changed"]
    assert [e["from"] for e in diff_types(st("incomplete"), st("failed"))["regressed"]] == [
        "incomplete"
    ]
    assert diff_types(st("failed"), st("incomplete"))["fixed"]


def test_node_ids_match_across_out_folders():
    a = keyed_tests(
        [{**rec("x", "forward", "M", "passed"), "nodeid": "gen/test_hf_x.py::test_forward[M]"}]
    )
    b = keyed_tests([rec("x", "forward", "M", "failed")])
    assert node_key("a/b/test_hf_x.py::test_forward[M]") == "test_hf_x.py::test_forward[M]"
    assert [e["nodeid"] for e in diff_tests(a, b)["regressed"]] == ["test_hf_x.py::test_forward[M]"]


# ---------------------------------------------------------------------------------------------
# other sides: a schema-1 history file, a report folder, a results.jsonl


def test_schema_1_history_is_read_and_upgraded_on_write(tmp_path):
    """A file written before test_results.category existed: xfails still read as xfailed."""
    p = tmp_path / "h.sqlite"
    History(p).record(coverage(RUN_A))
    con = sqlite3.connect(p)
    con.execute("ALTER TABLE test_results DROP COLUMN category")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    old = from_path(p)
    assert old.tests["test_hf_y.py::test_forward[YModel]"]["state"] == "xfailed"
    assert old.tests["test_hf_y.py::test_forward[YModel]"]["category"] is None
    History(p).record(coverage(RUN_B))  # the next write adds the column
    con = sqlite3.connect(p)
    cols = [r[1] for r in con.execute("PRAGMA table_info(test_results)")]
    version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    con.close()
    assert "category" in cols and version == "2"
    d = diff_sides(resolve(f"{p}@1", no_default), resolve(f"{p}@2", no_default))
    assert ("xfailed", "xpassed") in [(e["from"], e["to"]) for e in d["tests"]["regressed"]]


def test_report_folder_and_results_jsonl_sides(tmp_path, two_histories):
    pa, _ = two_histories
    rep = tmp_path / "rep"
    write_reports(coverage(RUN_B), rep)
    (rep / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RUN_B))
    from_folder = resolve(str(rep), no_default)
    from_jsonl = resolve(str(rep / "results.jsonl"), no_default)
    assert from_folder.label == f"report {rep / 'coverage.json'}" and from_folder.complete
    assert from_jsonl.label.startswith("results ") and not from_jsonl.complete
    assert from_folder.tests == from_jsonl.tests
    base = resolve(str(pa), no_default)
    d_folder, d_jsonl = diff_sides(base, from_folder), diff_sides(base, from_jsonl)
    for d in (d_folder, d_jsonl):
        assert [e["nodeid"] for e in d["tests"]["regressed"]] == [
            "test_hf_x.py::test_forward[XModel]",
            "test_hf_y.py::test_forward[YModel]",
            "test_hf_y.py::test_save_load[YModel]",
        ]
    assert d_folder["tests"] == d_jsonl["tests"]


def test_bad_references_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not a run id"):
        resolve(str(tmp_path / "nope.sqlite"), no_default)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds neither"):
        resolve(str(tmp_path / "empty"), no_default)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match="not a readable coverage.json"):
        resolve(str(tmp_path / "bad.json"), no_default)


# ---------------------------------------------------------------------------------------------
# the command line


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "hftestgen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_diff_two_history_files(tmp_path, two_histories):
    pa, pb = two_histories
    r = _cli("diff", str(pa), str(pb), cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # no --exit-code
    out = r.stdout
    assert out.startswith(f"run 1 of {pa} (T, Transformers 5.0.0) -> run 1 of {pb} (T,")
    assert (
        "types regressed: 1\n  x: passed -> failed  (forward[XModel]: AssertionError: now broken)"
        in out
    )
    assert "tests regressed: 3\n  test_hf_x.py::test_forward[XModel]: passed -> failed" in out
    assert (
        "  test_hf_y.py::test_save_load[YModel]: xfailed -> xpassed  (Failed: known upstream" in out
    )
    assert "tests appeared: 1\n  test_hf_new.py::test_forward[NewModel]: passed\n" in out
    assert (
        "tests with a changed reason text: 1\n  test_hf_z.py::test_forward[ZModel] (skipped)" in out
    )
    r = _cli("diff", f"{pa}@1", str(pb), "--format", "json", "--exit-code", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    d = json.loads(r.stdout)
    assert set(d["tests"]) == {
        "regressed",
        "fixed",
        "changed",
        "appeared",
        "disappeared",
        "reason_changed",
    }
    assert d["summary"]["tests"]["regressed"] == 3 and d["summary"]["types"]["regressed"] == 1
    assert {"regressed", "fixed", "changed", "appeared", "disappeared", "a", "b"} <= set(d)


def test_cli_exit_code_on_a_test_regression_only(tmp_path):
    p = tmp_path / "h.sqlite"
    h = History(p)
    h.record(coverage([rec("y", "forward", "Y", "xfailed"), rec("y", "generate", "Y", "failed")]))
    h.record(coverage([rec("y", "forward", "Y", "failed"), rec("y", "generate", "Y", "failed")]))
    r = _cli("diff", "--history", str(p), "--exit-code", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "types regressed: 0" in r.stdout and "tests regressed: 1" in r.stdout
    r = _cli("diff", "--history", str(p), cwd=tmp_path)
    assert r.returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ["diff", "no/such/history.sqlite", "1"],
        ["diff", "1", "2", "--format", "yaml"],
        ["diff", "{here}"],  # an empty folder is not a run
    ],
)
def test_cli_diff_usage_errors_are_one_line_exit_2(tmp_path, args):
    (tmp_path / "empty").mkdir()
    args = [a.replace("{here}", str(tmp_path / "empty")) for a in args]
    r = _cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr
