"""Typed skips (``hftestgen.checks.skips``): every skip a check raises names its category, the
pytest plugin records it, and rows recorded before categories existed are classified by their
reason text."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from hftestgen.checks import Case, skips
from hftestgen.checks.skips import (
    KNOWN_BUG,
    MISSING_PACKAGE,
    NO_DEVICE,
    NOT_APPLICABLE,
    NOT_COVERED,
    UNSUPPORTED,
    category_of,
    legacy_category,
)

CHECKS_DIR = Path(skips.__file__).parent


@pytest.mark.parametrize(
    "helper, category",
    [
        (skips.not_applicable, NOT_APPLICABLE),
        (skips.not_covered, NOT_COVERED),
        (skips.unsupported, UNSUPPORTED),
        (skips.no_device, NO_DEVICE),
    ],
)
def test_each_helper_skips_with_the_prefix_of_its_category(helper, category):
    with pytest.raises(pytest.skip.Exception) as e:
        helper("why it did not run")
    assert e.value.msg == skips.PREFIXES[category] + "why it did not run"
    assert category_of(e.value.msg) == category


def test_category_of_reads_prefixes_only():
    assert category_of("missing package: timm") == MISSING_PACKAGE
    assert category_of("unsupported: rag/RagModel: needs a retriever") == UNSUPPORTED
    assert category_of("not-applicable: by design") == NOT_APPLICABLE  # a [[known]] entry
    assert category_of("xfail: upstream-bug: boom") == KNOWN_BUG
    assert category_of("xfail") == KNOWN_BUG
    assert category_of("xfailing is fun") is None
    assert category_of("no attention_mask in forward") is None  # untyped: no prefix
    assert category_of(None) is None


# Reasons as runs before typed skips recorded them (from a full run's results.jsonl), one per
# skip site, with the category the site now raises.
LEGACY_REASONS = [
    ("cuda not available", NO_DEVICE),
    ("mps not available", NO_DEVICE),
    ("no attention_mask in forward", NOT_APPLICABLE),
    ("BeitBackbone.forward takes no labels", NOT_APPLICABLE),
    ("GPT2Model cannot generate (can_generate() is False)", NOT_APPLICABLE),
    (
        "aimv2 has no head classes (only feature extractors: base, image_feature_extraction), "
        "so there is no training loss to check",
        NOT_APPLICABLE,
    ),
    ("clip has no class in a generative task (causal_lm, seq2seq_lm)", NOT_APPLICABLE),
    ("x has no model classes", NOT_APPLICABLE),
    ("BertModel: no causal text stack: neither it nor its type has a class", NOT_APPLICABLE),
    ("BertForMaskedLM.forward takes no cache (past_key_values, cache)", NOT_APPLICABLE),
    ("BertModel has no output embeddings (get_output_embeddings() is None)", NOT_APPLICABLE),
    ("BarkModel defines no forward() (nn.Module's placeholder)", NOT_APPLICABLE),
    ("not-applicable: ViLT samples image patches with torch.multinomial", NOT_APPLICABLE),
    ("missing package: timm (needs torchvision, not installable)", MISSING_PACKAGE),
    ("unsupported: rag/RagModel: needs a retriever index", UNSUPPORTED),
    ("xfail: upstream-bug: LeViT appends to config.down_ops in place", KNOWN_BUG),
    ("inputs have no 2-D input_ids (token sequence) to pad", NOT_COVERED),
    (
        "inputs not batch-major (pixel_values(7, 4): leading dim != batch 2); splitting "
        "packed inputs per sample is model-specific",
        NOT_COVERED,
    ),
    (
        "tiny inputs provide no labels for DPTForDepthEstimation (task depth_estimation)",
        NOT_COVERED,
    ),
    ("no output to compare at real positions (logits(2, 5))", NOT_COVERED),
    ("no output with a per-sample leading dimension to compare (x(3,))", NOT_COVERED),
    ("something nobody classified", NOT_COVERED),  # an unexplained skip never counts
    ("", NOT_COVERED),
]


@pytest.mark.parametrize("reason, category", LEGACY_REASONS)
def test_old_untyped_reasons_are_classified_by_their_text(reason, category):
    assert legacy_category(reason) == category


def test_a_typed_reason_keeps_its_category_whatever_the_text():
    assert legacy_category("not-covered: cuda not available") == NOT_COVERED
    assert legacy_category("no-device: cuda not available") == NO_DEVICE


_TYPED = re.compile(
    r"pytest\.skip\((MISSING_PREFIX|f\"unsupported: |PREFIXES\[category\]|reason\))"
)


def test_every_skip_in_the_checks_is_typed():
    """A check skips through ``checks.skips`` (or with an existing typed prefix): a bare
    ``pytest.skip("...")`` would be recorded without a category and count as not covered."""
    untyped = []
    for path in sorted(CHECKS_DIR.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"pytest\.skip\(", text):
            if not _TYPED.match(text, m.start()):
                line = text.count("\n", 0, m.start()) + 1
                untyped.append(f"{path.name}:{line}")
    assert untyped == []


def test_the_known_entry_skip_is_not_applicable():
    """``checks._run`` skips a ``[[known]]`` not-applicable entry as ``<kind>: <reason>``."""
    from hftestgen.checks import Case, Known

    case = Case(
        model_type="toy",
        family="encoder-only",
        config_class="ToyConfig",
        classes={"base": ("ToyModel",)},
        known=(Known(checks=("forward",), kind="not-applicable", reason="by design"),),
    )
    from hftestgen import checks

    with pytest.raises(pytest.skip.Exception) as e:
        checks.forward(case, "ToyModel")
    assert category_of(e.value.msg) == NOT_APPLICABLE


def test_empty_parametrizations_skip_as_not_applicable():
    from hftestgen.checks import Case

    case = Case(model_type="toy", family="vision", config_class="C", classes={"base": ("M",)})
    (param,) = case.head_params
    (mark,) = param.marks
    assert category_of(mark.kwargs["reason"]) == NOT_APPLICABLE
    assert mark.kwargs["reason"].startswith("not-applicable: toy has no head classes")


# ---------------------------------------------------------------------------------------------
# the plugin records each skip's category (one small pytest run, no xdist)

CONFTEST = """
import sys, types
for _n in ("torch", "transformers"):
    if _n not in sys.modules:
        _m = types.ModuleType(_n)
        _m.__file__ = "<fake " + _n + ">"
        sys.modules[_n] = _m
pytest_plugins = ["hftestgen.run.pytest_plugin"]
"""

SUITE = """
import pytest

from hftestgen.checks import Case, skips

CASE = Case(model_type={mt!r}, family="vision", config_class="C", classes={{"base": ("M",)}},
            skip={skip!r})


def test_na():
    skips.not_applicable("M.forward takes no labels")


def test_nc():
    skips.not_covered("tiny inputs provide no labels for M")


def test_dev():
    skips.no_device("cuda not available")


def test_missing():
    pytest.skip("missing package: timm")


def test_untyped():
    pytest.skip("an untyped skip")


def test_xfail():
    pytest.xfail("upstream-bug: boom")


def test_ok():
    pass


@pytest.mark.parametrize("model_class", CASE.head_params)
def test_train_step(model_class):
    pass
"""


def test_plugin_records_the_category_of_every_skip(tmp_path):
    from hftestgen.run.pytest_proc import run_pytest

    out = tmp_path / "generated"
    out.mkdir()
    (out / "conftest.py").write_text(CONFTEST)
    (out / "test_hf_toy.py").write_text(textwrap.dedent(SUITE.format(mt="toy", skip=None)))
    (out / "test_hf_off.py").write_text(
        textwrap.dedent(SUITE.format(mt="off", skip="needs a custom CUDA kernel"))
    )
    outcome = run_pytest(
        sorted(out.glob("test_hf_*.py")),
        work_dir=tmp_path / "report",
        rootdir=out,
        workers="0",
        timeout=60,
        junit=False,
    )
    got = {
        r["nodeid"].split("/")[-1]: (r["outcome"], r["category"], r["skip_reason"])
        for r in outcome.results.tests.values()
    }
    assert got["test_hf_toy.py::test_na"] == (
        "skipped",
        NOT_APPLICABLE,
        "not-applicable: M.forward takes no labels",
    )
    assert got["test_hf_toy.py::test_nc"][:2] == ("skipped", NOT_COVERED)
    assert got["test_hf_toy.py::test_dev"][:2] == ("skipped", NO_DEVICE)
    assert got["test_hf_toy.py::test_missing"][:2] == ("skipped", MISSING_PACKAGE)
    assert got["test_hf_toy.py::test_untyped"] == ("skipped", None, "an untyped skip")
    assert got["test_hf_toy.py::test_xfail"][:2] == ("skipped", KNOWN_BUG)
    assert got["test_hf_toy.py::test_ok"] == ("passed", None, None)
    assert got["test_hf_toy.py::test_train_step[no-head-classes]"][:2] == (
        "skipped",
        NOT_APPLICABLE,
    )
    # a type the overrides file skips: a declared unsupported build, for every test
    off = {k: v for k, v in got.items() if k.startswith("test_hf_off.py")}
    assert off and {v[:2] for v in off.values()} == {("skipped", UNSUPPORTED)}
    assert {v[2] for v in off.values()} == {"unsupported: needs a custom CUDA kernel"}


# ---------------------------------------------------------------------------------------------
# the sites themselves, on real tiny models


@pytest.mark.parametrize(
    "model_type, check, cls, category, why",
    [
        ("bert", "causality", "BertModel", NOT_APPLICABLE, "no causal text stack"),
        ("bert", "chunked_prefill", "BertForMaskedLM", NOT_APPLICABLE, "takes no cache"),
        ("bert", "weight_tying", "BertModel", NOT_APPLICABLE, "no output embeddings"),
        # applies, but the tiny model's tokens mix nowhere the check can read (Mra)
        ("mra", "position_sensitivity", "MraModel", NOT_COVERED, "changes no layer's output"),
        # an encoder-decoder config whose class takes no decoder tokens
        ("whisper", "causality", "WhisperForAudioClassification", NOT_APPLICABLE, "encoder-dec"),
    ],
)
def test_skip_sites_raise_their_category(registry, model_type, check, cls, category, why):
    pytest.importorskip("torch")
    from hftestgen import checks
    from hftestgen.render.files import case_fields

    case = Case(**case_fields(registry[model_type]))
    checks.clear_cache()
    with pytest.raises(pytest.skip.Exception) as e:
        getattr(checks, check)(case, cls)
    assert why in e.value.msg
    assert category_of(e.value.msg) == category, e.value.msg


def test_a_device_backend_without_the_device_is_no_device(registry, monkeypatch):
    """The backend matrix's cuda column on a real tiny type, without CUDA: a no-device skip."""
    torch = pytest.importorskip("torch")
    from hftestgen import checks
    from hftestgen.checks import matrix
    from hftestgen.render.files import case_fields

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    case = Case(**case_fields(registry["bert"]))
    checks.clear_cache()
    with pytest.raises(pytest.skip.Exception) as e:
        checks.backend(case, "BertModel", "cuda")
    assert e.value.msg == "no-device: cuda not available"
    assert category_of(e.value.msg) == NO_DEVICE
    assert matrix.LAST_CELL["status"] == "no-device"
