"""coverage.json / .md / .html from synthetic test records (fast, no subprocess)."""

from __future__ import annotations

import json
import re

from hftestgen.report import (
    Results,
    Tail,
    build_coverage,
    failed,
    merge_dirs,
    parse_lines,
    write_reports,
)
from hftestgen.report.coverage import CHECK_ORDER, STATUSES
from hftestgen.report.html import render_html
from hftestgen.report.markdown import render_markdown


def rec(mt, check, param="", outcome="passed", mode="real", msg=None, file=None, dur=0.5):
    return {
        "event": "test",
        "nodeid": f"test_hf_{mt}.py::test_{check}" + (f"[{param}]" if param else ""),
        "file": file or f"test_hf_{mt}.py",
        "model_type": mt,
        "family": None,
        "check": check,
        "param": param,
        "outcome": outcome,
        "mode": "skipped" if outcome == "skipped" else mode,
        "category": None,
        "skip_reason": msg if outcome == "skipped" else None,
        "message": msg if outcome != "skipped" else None,
        "duration_s": dur,
    }


def meta(family, status="testable", reason="", parents=(), classes=2, ident=None, mt=""):
    return {
        "family": family,
        "registry_status": status,
        "registry_reason": reason,
        "parents": list(parents),
        "classes": classes,
        "file": f"test_hf_{ident or mt}.py",
    }


UNIVERSE = {
    "good": meta("decoder-only", mt="good"),
    "bad": meta("encoder-only", mt="bad"),
    "notorch": meta("vision", mt="notorch"),
    "fakepass": meta("audio", mt="fakepass"),
    "broken-file": meta("vision", ident="broken_file"),
    "ovskip": meta("other", status="skipped", reason="upstream bug 42", mt="ovskip"),
    "comp": meta("audio", status="component", reason="component of good", parents=("good",)),
    "nt": meta("other", status="not-testable", reason="no model class"),
    "later": meta("multimodal", mt="later"),
    "lost": meta("multimodal", mt="lost"),
    "pipe|type": meta("other", mt="pipe_type"),
}


def records():
    rs = [
        rec("good", "forward", "GoodModel"),
        rec("good", "save_load", "GoodModel"),
        rec(
            "good",
            "generate",
            "GoodForCausalLM",
            outcome="skipped",
            msg="not-applicable: GoodForCausalLM cannot generate",
        ),
        rec("bad", "forward", "BadModel"),
        rec(
            "bad", "save_load", "BadModel", outcome="failed", msg="AssertionError: differs | a lot"
        ),
        rec("bad", "train_step", "BadForX", outcome="error", msg="fixture broke"),
        rec("notorch", "forward", "A", outcome="skipped", msg="missing package: torch"),
        rec("notorch", "save_load", "A", outcome="skipped", msg="missing package: torch"),
        rec("fakepass", "forward", "F", mode="no-model"),
        # no model_type in the record (e.g. a worker crash): attributed through the file name
        {
            **rec("pipe|type", "my_custom_check", "P"),
            "model_type": None,
            "file": "test_hf_pipe_type.py",
        },
    ]
    res = parse_lines(json.dumps(r) for r in rs)
    res.add(
        {
            "event": "collect_error",
            "file": "test_hf_broken_file.py",
            "nodeid": "test_hf_broken_file.py",
            "message": "SyntaxError: invalid syntax",
        }
    )
    return res


SELECTED = ["good", "bad", "notorch", "fakepass", "broken-file", "ovskip", "lost", "pipe|type"]


def cov():
    return build_coverage(records(), UNIVERSE, SELECTED, {"shard": None})


def test_statuses_of_every_type():
    c = cov()
    st = {mt: (t["status"], t["reason"]) for mt, t in c["types"].items()}
    assert set(st) == set(UNIVERSE)
    assert st["good"] == ("passed", "")
    assert st["bad"][0] == "failed"
    assert st["bad"][1].startswith("save_load[BadModel]: AssertionError: differs | a lot")
    assert st["bad"][1].endswith("(+1 more)")
    assert st["notorch"] == ("skipped", "missing package: torch")
    # passes without real torch+transformers do not count as passed
    assert st["fakepass"][0] == "skipped" and "real" in st["fakepass"][1]
    assert st["broken-file"] == ("failed", "collection error: SyntaxError: invalid syntax")
    assert st["ovskip"] == ("skipped", "upstream bug 42")
    assert st["comp"][0] == "component" and c["types"]["comp"]["parents"] == ["good"]
    assert st["nt"] == ("not-testable", "no model class")
    assert st["later"] == ("not-run", "not selected in this run")
    assert st["lost"][0] == "not-run" and "selected" in st["lost"][1]
    assert st["pipe|type"] == ("passed", "")


def test_checks_totals_and_versions():
    c = cov()
    good = c["types"]["good"]["checks"]
    assert list(good) == ["forward", "save_load", "generate"]  # template order
    assert good["forward"]["outcome"] == "passed" and good["generate"]["outcome"] == "skipped"
    assert good["forward"]["tests"][0]["mode"] == "real"
    assert good["forward"]["duration_s"] == 0.5
    assert c["types"]["bad"]["checks"]["train_step"]["outcome"] == "failed"
    assert (
        c["checks"][: len(c["checks"]) - 1] == [x for x in CHECK_ORDER if x in c["checks"]]
        and c["checks"][-1] == "my_custom_check"
    )
    t = c["totals"]
    assert sum(t["by_status"].values()) == t["types"] == len(UNIVERSE)
    assert set(t["by_status"]) == set(STATUSES)
    assert t["tests"] == {
        "total": 10,
        "passed": 5,
        "failed": 1,
        "error": 1,
        "skipped": 3,
        "known_bug": 0,
    }
    assert t["collect_errors"] == 1
    # 2 passed of 7 types that ran (good, pipe|type / bad, notorch, fakepass, broken, ovskip)
    assert t["coverage_pct"] == round(100 * 2 / 7, 2)
    for k in ("python", "torch", "transformers", "hftestgen"):
        assert k in c["versions"]
    assert sum(f["types"] for f in c["families"].values()) == len(UNIVERSE)
    assert failed(c)
    json.dumps(c)  # serializable


def test_markdown_summary_and_not_passed_table():
    md = render_markdown(cov())
    for fam in ("decoder-only", "encoder-only", "vision", "audio", "other", "multimodal"):
        assert re.search(rf"^\| {re.escape(fam)} \| \d+ \|", md, re.M), fam
    not_passed = md.split("## Types that did not pass")[1].split("\n## ")[0]
    rows = {ln.split("|")[1].strip() for ln in not_passed.splitlines() if ln.startswith("| ")}
    for mt in ("bad", "notorch", "fakepass", "broken-file", "ovskip", "comp", "nt"):
        assert mt in rows, mt
    assert "good" not in rows
    assert "differs \\| a lot" in md  # pipes in reasons are escaped
    assert "## Not run (2)" in md and "`later`" in md and "`lost`" in md


def test_html_has_every_type_and_check_and_is_self_contained():
    c = cov()
    page = render_html(c)
    for mt in c["types"]:
        assert f"<td class='mt'>{mt.replace('|', '|')}</td>" in page, mt
    for check in c["checks"]:
        assert f"<th class='chk' title='{check}'>{check}</th>" in page, check
    assert "<input id='q'" in page and "<script>" in page
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", page)
    assert "<link" not in page
    for fam in c["families"]:
        assert f"<div class='name'>{fam}</div>" in page
    # a hostile reason is escaped
    c["types"]["bad"]["reason"] = "<script>alert(1)</script>"
    assert "<script>alert(1)" not in render_html(c)


def test_write_reports_and_merge_dirs(tmp_path):
    a = Results()
    a.add(rec("good", "forward", "GoodModel"))
    b = Results()
    b.add(rec("bad", "forward", "BadModel", outcome="failed", msg="boom"))
    b.add(rec("good", "forward", "GoodModel", outcome="failed", msg="flaky"))
    for name, res, sel in (("s1", a, ["good"]), ("s2", b, ["bad"])):
        d = tmp_path / name
        c = build_coverage(res, UNIVERSE, sel, {"shard": f"{name[1]}/2", "selected": sel})
        paths = write_reports(c, d)
        assert [p.name for p in paths] == ["coverage.json", "coverage.md", "coverage.html"]
        (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in res.tests.values()))
    results, universe, info = merge_dirs([tmp_path / "s1", tmp_path / "s2"])
    assert set(universe) == set(UNIVERSE)
    assert info["shards"] == ["1/2", "2/2"]
    assert info["duplicates"] == ["test_hf_good.py::test_forward[GoodModel]"]  # later folder wins
    assert results.tests["test_hf_good.py::test_forward[GoodModel]"]["outcome"] == "failed"
    assert sorted(info["selected"]) == ["bad", "good"]


def test_tail_reads_only_complete_lines(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"event": "collected", "count": 3}\n{"event": "te')
    t = Tail(p)
    assert t.read() == [{"event": "collected", "count": 3}]
    with open(p, "a") as f:
        f.write('st", "nodeid": "x"}\nnot json\n')
    assert t.read() == [{"event": "test", "nodeid": "x"}]
    assert t.read() == []


def test_html_lists_every_type_of_the_installed_registry():
    """Every model type of the installed Transformers (components and not-testable included)."""
    from importlib.util import find_spec

    import pytest

    if find_spec("transformers") is None:
        pytest.skip("missing package: transformers")
    from hftestgen.registry import load_registry
    from hftestgen.report import universe_from_registry

    reg = load_registry()
    universe = universe_from_registry(reg)
    c = build_coverage(Results(), universe, [], {})
    assert set(c["types"]) == set(reg)
    statuses = {t["status"] for t in c["types"].values()}
    assert {"component", "not-run"} <= statuses
    page = render_html(c)
    for mt in reg:
        assert f"<td class='mt'>{mt}</td>" in page, mt
    md = render_markdown(c)
    for mt, s in reg.items():
        if s.status == "component":
            assert f"| {mt} |" in md, mt


def test_a_known_upstream_bug_is_its_own_status_and_never_a_pass():
    xf = rec("good", "save_load", "GoodForX", outcome="skipped", msg="xfail: upstream-bug: boom")
    xf["category"] = "known-bug"
    results = Results()
    for r in [rec("good", "forward", "GoodModel"), xf, rec("bad", "forward", "BadModel")]:
        results.add(r)
    universe = {"good": meta("decoder-only", mt="good"), "bad": meta("encoder-only", mt="bad")}
    cov = build_coverage(results, universe, ["good", "bad"], {}, {})
    good = cov["types"]["good"]
    assert good["status"] == "known-issue"
    assert good["reason"] == "save_load[GoodForX]: xfail: upstream-bug: boom"
    assert cov["totals"]["by_status"]["passed"] == 1
    assert cov["totals"]["by_status"]["known-issue"] == 1
    assert cov["totals"]["coverage_pct"] == 50.0
    assert cov["totals"]["tests"]["known_bug"] == 1 and cov["totals"]["tests"]["skipped"] == 1
    md = render_markdown(cov)
    assert (
        "| good | decoder-only | known-issue | save_load[GoodForX]: xfail: upstream-bug: boom |"
        in md
    )
    assert "## Every failing or known-issue test (1)" in md
    assert "| good | save_load | GoodForX | known-bug | xfail: upstream-bug: boom |" in md
    assert "| decoder-only | 1/0/0/0 | 0/0/1/0 |" in md  # forward, save_load


# ---------------------------------------------------------------------------------------------
# "passed" is earned: every applicable check ran and passed for every class


def typed(mt, check, param, reason):
    """A skipped record with the category its reason's prefix names (as the plugin records)."""
    from hftestgen.checks.skips import category_of

    r = rec(mt, check, param, outcome="skipped", msg=reason)
    r["category"] = category_of(reason)
    return r


def _one_type(records, family="decoder-only"):
    results = Results()
    for r in records:
        results.add(r)
    return build_coverage(results, {"t": meta(family, mt="t")}, ["t"], {}, {})


SEVEN = (
    "forward",
    "eval_determinism",
    "batch_independence",
    "attention_mask_padding",
    "save_load",
    "train_step",
    "generate",
)


def test_a_type_with_most_checks_not_covered_is_incomplete_not_passed():
    rs = [rec("t", "forward", "TModel"), rec("t", "eval_determinism", "TModel")]
    rs += [typed("t", c, "TModel", "not-covered: tiny inputs provide no labels") for c in SEVEN[2:]]
    c = _one_type(rs)
    t = c["types"]["t"]
    assert t["status"] == "incomplete"
    assert t["reason"].startswith(
        "not covered: batch_independence, attention_mask_padding, save_load, train_step, "
        "generate; "
        "batch_independence[TModel]: not-covered: tiny inputs provide no labels (+4 more)"
    )
    assert c["totals"]["by_status"]["passed"] == 0
    assert c["totals"]["by_status"]["incomplete"] == 1
    assert c["totals"]["coverage_pct"] == 0.0


def test_one_class_not_covered_is_enough():
    rs = [rec("t", c, "TModel") for c in SEVEN]
    rs += [rec("t", c, "TForX") for c in SEVEN[:5]]
    rs.append(typed("t", "train_step", "TForX", "not-covered: tiny inputs provide no labels"))
    assert _one_type(rs)["types"]["t"]["status"] == "incomplete"


def test_a_type_whose_every_test_is_not_applicable_did_not_pass():
    rs = [
        typed("t", c, p, f"not-applicable: {p} defines no forward() (nn.Module's placeholder)")
        for c in SEVEN
        for p in ("TModel", "TForX")
    ]
    # device_parity: a check of runs before the backend matrix replaced it (its records still load)
    rs.append(typed("t", "device_parity", "cuda", "no-device: cuda not available"))
    t = _one_type(rs)["types"]["t"]
    assert t["status"] == "nothing-ran"
    assert t["reason"].startswith("nothing ran: not-applicable: ")


def test_a_type_whose_forward_is_not_applicable_for_every_class_did_not_pass():
    rs = [typed("t", "forward", p, "not-applicable: logits are -inf by design") for p in ("A", "B")]
    rs += [rec("t", c, p) for c in SEVEN[1:] for p in ("A", "B")]
    t = _one_type(rs)["types"]["t"]
    assert t["status"] == "incomplete"
    assert t["reason"] == (
        "forward not applicable to any class, so no output contract of the type was checked: "
        "logits are -inf by design"
    )
    # one class whose forward ran is enough
    rs[0] = rec("t", "forward", "A")
    assert _one_type(rs)["types"]["t"]["status"] == "passed"


def test_not_applicable_checks_and_absent_devices_do_not_block_passed():
    rs = [rec("t", c, "TModel") for c in SEVEN[:5]]
    rs.append(typed("t", "train_step", "TModel", "not-applicable: TModel.forward takes no labels"))
    rs.append(typed("t", "generate", "TModel", "not-applicable: TModel cannot generate (...)"))
    # device_parity: a check of runs before the backend matrix replaced it (its records still load)
    rs += [typed("t", "device_parity", d, f"no-device: {d} not available") for d in ("cuda", "mps")]
    c = _one_type(rs)
    assert (c["types"]["t"]["status"], c["types"]["t"]["reason"]) == ("passed", "")
    checks = c["types"]["t"]["checks"]
    assert checks["device_parity"]["verdict"] == "no-device"
    assert checks["device_parity"]["no_device"] == 2
    assert checks["train_step"]["verdict"] == "not-applicable"
    assert checks["train_step"]["not_applicable"] == ["TModel.forward takes no labels"]


def test_a_missing_package_for_one_class_skips_the_type():
    rs = [rec("t", c, "TModel") for c in SEVEN]
    rs.append(typed("t", "forward", "TForX", "missing package: timm"))
    rs.append(typed("t", "save_load", "TForX", "missing package: timm"))
    t = _one_type(rs)["types"]["t"]
    assert (t["status"], t["reason"]) == ("skipped", "missing package: timm (2 of 9 tests)")


def test_known_issue_only_when_everything_else_passed():
    xf = rec("t", "save_load", "TModel", outcome="skipped", msg="xfail: upstream-bug: boom")
    xf["category"] = "known-bug"
    rs = [rec("t", "forward", "TModel"), xf]
    assert _one_type(rs)["types"]["t"]["status"] == "known-issue"
    rs.append(typed("t", "train_step", "TModel", "not-covered: tiny inputs provide no labels"))
    assert _one_type(rs)["types"]["t"]["status"] == "incomplete"


def test_per_check_summary_ran_reasons_and_verdicts():
    rs = [
        rec("t", "forward", "TModel"),
        rec("t", "forward", "TForX"),
        typed("t", "train_step", "TModel", "not-applicable: TModel.forward takes no labels"),
        typed("t", "train_step", "TForX", "not-covered: tiny inputs provide no labels"),
        typed("t", "train_step", "TForY", "not-covered: tiny inputs provide no labels"),
        rec("t", "save_load", "TModel", outcome="failed", msg="AssertionError: differs"),
    ]
    c = _one_type(rs)
    ch = c["types"]["t"]["checks"]
    assert ch["forward"]["ran"] == {"passed": 2, "xfailed": 0, "failed": 0}
    assert ch["forward"]["verdict"] == "passed"
    ts = ch["train_step"]
    assert ts["verdict"] == "not-covered"
    assert ts["not_covered"] == ["tiny inputs provide no labels"]  # deduplicated, no prefix
    assert ts["not_applicable"] == ["TModel.forward takes no labels"]
    assert ch["save_load"]["verdict"] == "failed"
    per = c["per_check"]
    assert list(per) == ["forward", "save_load", "train_step"]
    assert per["train_step"]["types"] == 1 and per["train_step"]["not-covered"] == 1
    md = render_markdown(c)
    assert "| train_step | 1 | 0 | 0 | 1 | 0 | 0 | 0 | 0 |" in md  # VERDICTS order
    assert "| t | train_step | tiny inputs provide no labels |" in md
    assert re.search(r"^\| t \| failed \| ✓ \| ✗ \| \? \|$", md, re.M)
    page = render_html(c)
    assert "<table id='per-check'>" in page
    assert "<details><summary>checks</summary>" in page
    assert "not covered: tiny inputs provide no labels" in page


def test_untyped_skips_of_older_runs_are_classified_by_their_reason():
    """Rows written before categories existed: known messages map to their category; any other
    skip is not covered, so an old run is re-reported with the new statuses."""
    old = [rec("t", c, "TModel") for c in SEVEN[:5]]
    old.append(
        rec("t", "train_step", "TModel", outcome="skipped", msg="TModel.forward takes no labels")
    )
    old.append(rec("t", "device_parity", "cuda", outcome="skipped", msg="cuda not available"))
    assert _one_type(old)["types"]["t"]["status"] == "passed"
    old.append(
        rec(
            "t",
            "generate",
            "TForCausalLM",
            outcome="skipped",
            msg="tiny inputs provide no labels for TForCausalLM (task causal_lm)",
        )
    )
    c = _one_type(old)
    assert c["types"]["t"]["status"] == "incomplete"
    cats = {
        t["nodeid"]: t["category"] for ch in c["types"]["t"]["checks"].values() for t in ch["tests"]
    }
    assert cats["test_hf_t.py::test_train_step[TModel]"] == "not-applicable"
    assert cats["test_hf_t.py::test_device_parity[cuda]"] == "no-device"


def test_headline_states_its_denominator():
    universe = {
        "a": meta("decoder-only", mt="a"),
        "b": meta("decoder-only", mt="b"),
        "c": meta("vision", mt="c"),
        "d": meta("vision", mt="d"),
        "comp": meta("audio", status="component", reason="component of a"),
        "nt": meta("other", status="not-testable", reason="no model class"),
    }
    results = Results()
    for r in [
        rec("a", "forward", "AModel"),
        rec("b", "forward", "BModel"),
        typed("b", "train_step", "BModel", "not-covered: tiny inputs provide no labels"),
        typed("c", "forward", "CModel", "missing package: timm"),
        rec("d", "forward", "DModel", outcome="failed", msg="AssertionError: x"),
    ]:
        results.add(r)
    c = build_coverage(results, universe, list(universe), {}, {"transformers": "5.24.0"})
    md = render_markdown(c)
    expected = (
        "Of 6 config model types in Transformers 5.24.0, 4 are testable here; of those, "
        "1 passed every applicable check, 0 ran with known upstream bugs only, "
        "1 incomplete (some applicable check not covered), "
        "1 skipped (missing package / unsupported build), 1 failed; "
        "2 not testable (1 components tested through their parents, 1 without a model class)."
    )
    assert f"**{expected}**" in md
    assert expected in render_html(c).replace("&#x27;", "'")
