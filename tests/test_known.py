"""known.toml: not-applicable skips with its reason; upstream bugs xfail, and a fix is noticed."""

import types

import pytest

from hftestgen import checks
from hftestgen.checks import Case

CASE = Case(model_type="bert", family="encoder-only", config_class="BertConfig", classes={})


def fake_impl(behaviour):
    def forward(case, model_class):
        if behaviour == "fail":
            raise AssertionError("logits are NaN")

    return types.SimpleNamespace(forward=forward)


@pytest.fixture
def known(monkeypatch):
    def set_entry(kind, classes=None):
        entry = {"kind": kind, "reason": "because"}
        if classes:
            entry["classes"] = classes
        monkeypatch.setattr(checks, "_known", lambda: {"bert": {"forward": [entry]}})

    return set_entry


def test_not_applicable_skips_with_reason(known, monkeypatch):
    known("not-applicable")
    monkeypatch.setattr(checks, "_impl", lambda: fake_impl("pass"))
    with pytest.raises(pytest.skip.Exception, match="not-applicable: because"):
        checks.forward(CASE, "BertModel")


def test_upstream_bug_that_reproduces_is_xfail(known, monkeypatch):
    known("upstream-bug")
    monkeypatch.setattr(checks, "_impl", lambda: fake_impl("fail"))
    with pytest.raises(pytest.xfail.Exception, match="upstream-bug: because.*NaN"):
        checks.forward(CASE, "BertModel")


def test_upstream_bug_that_no_longer_reproduces_fails(known, monkeypatch):
    known("upstream-bug")
    monkeypatch.setattr(checks, "_impl", lambda: fake_impl("pass"))
    with pytest.raises(pytest.fail.Exception, match="remove its entry"):
        checks.forward(CASE, "BertModel")


def test_entry_limited_to_classes(known, monkeypatch):
    known("not-applicable", classes=["BertForMaskedLM"])
    monkeypatch.setattr(checks, "_impl", lambda: fake_impl("fail"))
    with pytest.raises(AssertionError):
        checks.forward(CASE, "BertModel")


def test_shipped_table_is_valid():
    data = checks._known()
    assert data, "known.toml is empty"
    for _mt, per_check in data.items():
        for check, entries in per_check.items():
            assert check in checks.CHECKS
            assert all(e["reason"].strip() for e in entries)


def test_known_files_are_merged_and_a_pair_in_two_files_is_an_error(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    (pkg / "known").mkdir(parents=True)
    (pkg / "known" / "a.toml").write_text('[bert.forward]\nkind = "not-applicable"\nreason = "x"\n')
    (pkg / "known" / "b.toml").write_text('[gpt2.generate]\nkind = "upstream-bug"\nreason = "y"\n')
    monkeypatch.setattr(checks, "__file__", str(pkg / "__init__.py"))
    checks._known.cache_clear()
    try:
        data = checks._known()
        assert set(data) == {"bert", "gpt2"}
        (pkg / "known" / "c.toml").write_text('[bert.forward]\nkind = "upstream-bug"\nreason = "z"\n')
        checks._known.cache_clear()
        with pytest.raises(ValueError, match=r"c.toml: \[bert.forward\]: .*already defined in .*a.toml"):
            checks._known()
        # several entries for one (type, check), narrowed by disjoint classes, are fine
        (pkg / "known" / "c.toml").write_text(
            '[[gpt2.forward]]\nkind = "upstream-bug"\nreason = "z"\nclasses = ["GPT2Model"]\n'
            '[[gpt2.forward]]\nkind = "not-applicable"\nreason = "w"\nclasses = ["GPT2LMHeadModel"]\n'
        )
        checks._known.cache_clear()
        assert checks.known_issue("gpt2", "forward", "GPT2LMHeadModel")["reason"] == "w"
        assert checks.known_issue("gpt2", "forward", "GPT2Model")["reason"] == "z"
        assert checks.known_issue("gpt2", "forward", "GPT2ForTokenClassification") is None
        (pkg / "known" / "d.toml").write_text(
            '[gpt2.forward]\nkind = "upstream-bug"\nreason = "v"\nclasses = ["GPT2Model"]\n'
        )
        checks._known.cache_clear()
        with pytest.raises(ValueError, match="GPT2Model is already defined in .*c.toml"):
            checks._known()
    finally:
        checks._known.cache_clear()
