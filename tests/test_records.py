"""Per-type records: the loader/validator (file:line errors), the effective data per class, and
how a generated test honours ``[[known]]`` entries (skip, xfail only on a matching failure,
fail once fixed)."""

import re
import types

import pytest

from hftestgen import checks
from hftestgen.checks import Case, Known, Matcher
from hftestgen.registry import records
from hftestgen.registry.records import RecordError, load_records, parse_record


def fake_impl(behaviour):
    def forward(case, model_class):
        if behaviour == "fail":
            raise AttributeError("'Out' object has no attribute 'image_outputs'")
        if behaviour == "other":
            raise RuntimeError("shape mismatch")

    return types.SimpleNamespace(forward=forward)


def case(*known):
    return Case(
        model_type="bert", family="encoder-only", config_class="BertConfig", classes={}, known=known
    )


BUG = Known(
    checks=("forward",),
    kind="upstream-bug",
    reason="because",
    match=Matcher(exception="AttributeError", message="no attribute 'image_outputs'"),
)


def test_not_applicable_skips_with_reason(monkeypatch):
    monkeypatch.setattr(checks, "_impl", lambda: fake_impl("pass"))
    na = Known(checks=("forward",), kind="not-applicable", reason="by design")
    with pytest.raises(pytest.skip.Exception, match="not-applicable: by design"):
        checks.forward(case(na), "BertModel")


def test_upstream_bug_that_reproduces_is_xfail(monkeypatch):
    monkeypatch.setattr(checks, "_impl", lambda: fake_impl("fail"))
    with pytest.raises(pytest.xfail.Exception, match="upstream-bug: because.*AttributeError"):
        checks.forward(case(BUG), "BertModel")


def test_upstream_bug_xfail_does_not_chain_the_failure(monkeypatch):
    # pytest formats a chained context in full (every frame's source parsed) for an xfail
    # report that shows only the reason: the reason carries the failure, the chain must not
    monkeypatch.setattr(checks, "_impl", lambda: fake_impl("fail"))
    with pytest.raises(pytest.xfail.Exception) as info:
        checks.forward(case(BUG), "BertModel")
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert "AttributeError" in str(info.value)


def test_a_failure_the_matcher_does_not_match_fails(monkeypatch):
    monkeypatch.setattr(checks, "_impl", lambda: fake_impl("other"))
    with pytest.raises(pytest.fail.Exception, match="does not match the known upstream-bug"):
        checks.forward(case(BUG), "BertModel")


def test_a_check_verdict_is_matched_as_checkfailure(monkeypatch):
    def forward(case, model_class):
        pytest.fail("BertModel: logits are NaN")

    monkeypatch.setattr(checks, "_impl", lambda: types.SimpleNamespace(forward=forward))
    entry = Known(("forward",), "upstream-bug", "r", match=Matcher("CheckFailure", "are NaN"))
    with pytest.raises(pytest.xfail.Exception, match=r"\[CheckFailure: BertModel: logits"):
        checks.forward(case(entry), "BertModel")
    other = Known(("forward",), "upstream-bug", "r", match=Matcher("AttributeError"))
    with pytest.raises(pytest.fail.Exception, match="does not match"):
        checks.forward(case(other), "BertModel")


def test_upstream_bug_that_no_longer_reproduces_fails(monkeypatch):
    monkeypatch.setattr(checks, "_impl", lambda: fake_impl("pass"))
    with pytest.raises(pytest.fail.Exception, match="remove its \\[\\[known\\]\\] entry"):
        checks.forward(case(BUG), "BertModel")


def test_entry_limited_to_classes(monkeypatch):
    monkeypatch.setattr(checks, "_impl", lambda: fake_impl("other"))
    na = Known(("forward",), "not-applicable", "x", classes=("BertForMaskedLM",))
    with pytest.raises(RuntimeError):
        checks.forward(case(na), "BertModel")


# ------------------------------------------------------------------------------ validation


def parse(text):
    return parse_record("x", "types/x.toml", text)


@pytest.mark.parametrize(
    "text, line, msg",
    [
        ('reason = "r"\n[tiny]\nconfg = {}\n', 2, r"\[tiny\]: unknown key\(s\) \['confg'\]"),
        ("[tiny]\nconfig = { a = 1 }\n", 1, "needs a top-level reason"),
        ('[[known]]\nchecks = ["fwd"]\nkind = "not-applicable"\nreason = "r"\n', 1, "not a check"),
        ('\n[[known]]\nchecks = ["forward"]\nkind = "bug"\nreason = "r"\n', 2, "kind must be"),
        (
            '[[known]]\nchecks = ["forward"]\nkind = "upstream-bug"\nreason = "r"\n',
            1,
            "needs match",
        ),
        (
            '[[known]]\nchecks = ["forward"]\nkind = "upstream-bug"\nreason = "r"\n'
            'match = { message = "(" }\n',
            1,
            "not a valid regular expression",
        ),
        (
            '[[known]]\nchecks = ["forward"]\nkind = "not-applicable"\nreason = "r"\n'
            'transformers = "five"\n',
            1,
            "not a PEP 440 range",
        ),
        (
            '[[known]]\nchecks = ["forward"]\nkind = "not-applicable"\nreason = "r"\n\n'
            '[[known]]\nchecks = ["forward", "generate"]\nkind = "not-applicable"\nreason = "s"\n'
            'classes = ["A"]\n',
            6,
            "#2 and #1 both apply to forward",
        ),
        ("reason = 3\n", 1, "reason must be a str"),
        ("not toml [", None, "not valid TOML"),
    ],
)
def test_invalid_records_name_file_line_and_fix(text, line, msg):
    with pytest.raises(RecordError) as e:
        parse(text)
    where = "types/x.toml" + (f":{line}: " if line else ": ")
    assert str(e.value).startswith(where), str(e.value)
    assert re.search(msg, str(e.value)), str(e.value)


def test_disjoint_classes_may_share_a_check():
    rec = parse(
        '[[known]]\nchecks = ["forward"]\nkind = "not-applicable"\nreason = "r"\nclasses = ["A"]\n'
        '[[known]]\nchecks = ["forward"]\nkind = "not-applicable"\nreason = "s"\nclasses = ["B"]\n'
    )
    c = case(*rec.known)
    assert c.known_for("forward", "A").reason == "r"
    assert c.known_for("forward", "B").reason == "s"
    assert c.known_for("forward", "C") is None


def test_version_range_gates_an_entry(monkeypatch):
    monkeypatch.setattr(records, "_installed_transformers", lambda: "5.24.0")
    rec = parse(
        'reason = "r"\n[tiny]\nconfig = { a = 1 }\ntransformers = "<5"\n'
        '[[known]]\nchecks = ["forward"]\nkind = "not-applicable"\nreason = "old"\n'
        'transformers = "<5"\n'
        '[[known]]\nchecks = ["generate"]\nkind = "not-applicable"\nreason = "new"\n'
        'transformers = ">=5.24"\n'
    )
    recs = records.Records(types={"x": rec}, classes={})
    assert recs.type_data("x") == {}
    assert [k.reason for k in recs.known_for("x", [])] == ["new"]


def test_layers_type_then_shared_class_then_type_class():
    t = parse(
        'reason = "r"\n[tiny]\nconfig = { a = 1, b = 1 }\n'
        "[classes.C]\nconfig = { b = 3 }\ninputs = { n = 2 }\n"
    )
    shared = parse_record(
        "C", "classes/C.toml", 'reason = "s"\n[tiny]\ninputs = { n = 1, m = 1 }\n'
    )
    recs = records.Records(types={"x": t}, classes={"C": shared})
    assert recs.tiny_for("x", "C") == {"config": {"a": 1, "b": 3}, "inputs": {"n": 2, "m": 1}}
    assert recs.tiny_for("x", "D") == {"config": {"a": 1, "b": 1}}


def test_label_maps_are_replaced_not_merged():
    assert records.merge({"id2label": {"0": "a", "1": "b"}}, {"id2label": {"0": "x"}}) == {
        "id2label": {"0": "x"}
    }


def test_shipped_records_are_valid_and_named_by_content():
    recs = load_records()
    assert len(recs.types) > 200
    for name, rec in {**recs.types, **recs.classes}.items():
        assert rec.subject == name and rec.source.endswith(f"/{name}.toml")
        for k in rec.known:
            assert k.kind != "upstream-bug" or k.match is not None, (name, k)
    # a shared class record is named after a real class name
    assert all(re.fullmatch(r"[A-Z]\w+", n) for n in recs.classes)


def test_no_record_repeats_a_known_entry_per_check():
    """Entries with the same kind, reason, classes and matcher are one entry listing several
    checks, never one copy per check."""
    for name, rec in load_records().types.items():
        keys = [(k.kind, k.reason, k.classes, k.match, k.transformers) for k in rec.known]
        assert len(keys) == len(set(keys)), name


def test_extends_and_like_state_sibling_data_once():
    base = parse_record(
        "a",
        "types/a.toml",
        'reason = "r"\n[tiny]\nconfig = { x = 1 }\n[classes.AModel]\ninputs = { n = 2 }\n'
        '[classes.AForLM]\nlike = "AModel"\nconfig = { y = 3 }\n',
    )
    sib = parse_record(
        "b",
        "types/b.toml",
        'extends = "a"\n[tiny]\nconfig = { z = 4 }\n[classes.BModel]\nlike = "AModel"\n',
    )
    recs = records.Records(types={"a": base, "b": sib}, classes={})
    records.check_references(recs)
    assert recs.tiny_for("a", "AForLM") == {"config": {"x": 1, "y": 3}, "inputs": {"n": 2}}
    assert recs.tiny_for("b", "BModel") == {"config": {"x": 1, "z": 4}, "inputs": {"n": 2}}
    assert recs.tiny_for("b", "BOther") == {"config": {"x": 1, "z": 4}}


@pytest.mark.parametrize(
    "b_text, msg",
    [
        ('extends = "nope"\n', "no record registry/types/nope.toml"),
        ('extends = "b"\n', "cycle"),
        ('reason = "r"\n[classes.BModel]\nlike = "Missing"\n', "names no other class table"),
        ('reason = "r"\n[classes.X]\nlike = "Y"\n[classes.Y]\nlike = "X"\n', "like forms a cycle"),
    ],
)
def test_bad_references_are_errors_naming_the_file(b_text, msg):
    sib = parse_record("b", "types/b.toml", b_text)
    recs = records.Records(types={"b": sib}, classes={})
    with pytest.raises(RecordError, match=msg) as e:
        records.check_references(recs)
    assert str(e.value).startswith("types/b.toml")


def test_head_classes_include_heads_also_listed_under_base():
    """A CTC/RNNT head that the registry also lists as the type's base class has a loss: it gets
    train_step; feature extractors (base, image, text_encoding, backbone) do not."""
    c = Case(
        model_type="x",
        family="audio",
        config_class="XConfig",
        classes={"base": ("XForCTC", "XModel"), "ctc": ("XForCTC",), "image": ("XVision",)},
    )
    assert c.head_class_names == ["XForCTC"]
