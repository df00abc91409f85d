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
        monkeypatch.setattr(checks, "_known", lambda: {"bert": {"forward": entry}})

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
    with pytest.raises(pytest.fail.Exception, match="remove the entry"):
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
        for check, entry in per_check.items():
            assert check in checks.CHECKS
            assert entry["reason"].strip()
