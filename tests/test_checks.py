"""Unit tests of hftestgen.checks: Case parametrizations, build-error mapping, the check rules
(on small synthetic models where a rule needs a precise counter-example), and the Auto-class
lookup. End-to-end proof on real tiny models is in test_fault_injection.py.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from types import SimpleNamespace

import pytest

from hftestgen.checks import Case


def test_checks_import_without_torch():
    code = (
        "import sys, hftestgen.checks as c\n"
        "from hftestgen.checks import Case\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "assert set(c.CHECKS) <= set(dir(c)) and 'device_parity' not in c.CHECKS\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _case(**classes) -> Case:
    return Case(model_type="toy", family="decoder-only", config_class="ToyConfig", classes=classes)


def test_case_params_name_classes():
    c = _case(base=("ToyModel",), causal_lm=("ToyForCausalLM",), pretraining=("ToyForCausalLM",))
    assert c.class_params == ["ToyModel", "ToyForCausalLM"]
    assert c.head_params == ["ToyForCausalLM"]
    assert c.generative_params == ["ToyForCausalLM"]


def test_empty_parametrizations_are_skips_with_reasons():
    c = _case(base=("ToyModel",))
    for params, words in (
        (c.head_params, "no head classes"),
        (c.generative_params, "no class in a generative task"),
    ):
        (p,) = params
        (mark,) = p.marks
        assert mark.name == "skip" and words in mark.kwargs["reason"]
        assert "toy" in mark.kwargs["reason"] and p.id.startswith("no-")


def test_empty_parametrization_in_a_generated_file_reports_the_reason(registry, tmp_path):
    from hftestgen.render import render_spec

    spec = dataclasses.replace(registry["gpt2"], classes={"base": ("GPT2Model",)})
    path = tmp_path / "test_hf_gpt2_only_base.py"
    path.write_text(render_spec(spec))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    reasons = {}

    class Collect:
        def pytest_runtest_logreport(self, report):
            if report.skipped:
                reasons[report.nodeid.split("::")[-1]] = str(report.longrepr)

    args = [
        "-q",
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        "-c",
        str(tmp_path / "pytest.ini"),
    ]
    nodes = [f"{path}::test_train_step", f"{path}::test_generate"]
    assert pytest.main([*args, "--rootdir", str(tmp_path), *nodes], plugins=[Collect()]) == 0
    assert "no head classes" in reasons["test_train_step[no-head-classes]"]
    assert "no class in a generative task" in reasons["test_generate[no-generative-classes]"]
    assert not any("empty parameter set" in r for r in reasons.values())


# ------------------------------------------------------------------------------------------
# with torch: synthetic models fed through a stubbed tiny engine

torch = pytest.importorskip("torch")
nn = torch.nn

from hftestgen import checks  # noqa: E402
from hftestgen.checks import _checks, _support  # noqa: E402

V, H, NL, S = 11, 8, 3, 5


class ToyModel(nn.Module):
    """A tiny bidirectional token model with a classification head and an optional fault."""

    def __init__(self, fault: str | None = None):
        super().__init__()
        self.emb = nn.Embedding(V, H)
        self.mix = nn.Linear(H, H)
        self.head = nn.Linear(H, NL)
        self.unused = nn.Linear(H, H)  # never called: may keep grad=None
        self.fault = fault

    def forward(self, input_ids, attention_mask=None, labels=None):
        x = self.emb(input_ids)
        m = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        w = m.unsqueeze(-1).float()
        if self.fault == "ignore-mask":
            w = torch.ones_like(w)
        pooled = (x * w).sum(1) / w.sum(1)
        weight = self.mix.weight.detach() if self.fault == "detach" else self.mix.weight
        h = torch.tanh(nn.functional.linear(x + pooled[:, None], weight, self.mix.bias))
        logits = self.head((h * w).sum(1) / w.sum(1))
        if self.fault == "nan":
            logits = logits * float("nan")
        out = {"last_hidden_state": h, "logits": logits}
        if self.fault == "int-counter":  # an integer output that changes from call to call
            self.calls = getattr(self, "calls", 0) + 1
            out["token_ids"] = torch.full((input_ids.shape[0], 1), self.calls)
        if labels is not None:
            out = {"loss": nn.functional.cross_entropy(logits, labels), **out}
        return out


@dataclasses.dataclass
class FakeBuilt:
    model: nn.Module
    config: object
    task: str
    class_name: str
    tasks: tuple = ()

    def inputs(self, batch_size=2, seed=0, labels=False):
        g = torch.Generator().manual_seed(seed)
        out = {
            "input_ids": torch.randint(1, V, (batch_size, S), generator=g),
            "attention_mask": torch.ones(batch_size, S, dtype=torch.long),
        }
        if labels:
            out["labels"] = torch.randint(0, NL, (batch_size,), generator=g)
        return out


TOY = Case(
    model_type="toy",
    family="encoder-only",
    config_class="ToyConfig",
    classes={"base": ("ToyBase",), "sequence_classification": ("ToyForSequenceClassification",)},
)


@pytest.fixture
def toy_engine(monkeypatch):
    """Make hftestgen.tiny.build return ToyModel; ``state`` sets the fault / counts builds."""
    from hftestgen import tiny

    state = {"fault": None, "builds": 0, "num_labels": NL, "error": None}

    def build(model_type, class_name, tiny=None, seed=0, data=None):
        state["builds"] += 1
        if state["error"] is not None:
            raise state["error"]
        torch.manual_seed(seed)
        model = ToyModel(state["fault"]).eval()
        config = SimpleNamespace(num_labels=state["num_labels"], vocab_size=V, hidden_size=H)
        task = "sequence_classification" if "Sequence" in class_name else "base"
        return FakeBuilt(model, config, task, class_name, (task,))

    monkeypatch.setattr(tiny, "build", build)
    checks.clear_cache()
    yield state
    checks.clear_cache()


CLS = "ToyForSequenceClassification"


def test_toy_model_passes_every_check(toy_engine):
    for name in ("forward", "eval_determinism", "batch_independence", "attention_mask_padding"):
        getattr(checks, name)(TOY, CLS)
    checks.train_step(TOY, CLS)  # ``unused`` keeps grad=None: allowed
    assert toy_engine["builds"] == 1, "the model is built once per (type, class) per process"


def test_a_new_model_type_collects_the_last_ones_cycles_and_freezes_the_rest(toy_engine):
    # rule *one heap walk per model type* (_support.settle_heap): automatic full collections
    # would walk every long-lived object again and again; a model of the type just left that
    # sits in a reference cycle is collected at the switch, never frozen with the rest
    import gc
    import weakref

    built = _support.get_built(TOY, CLS)
    built.model.__dict__["cycle"] = [built.model]  # reference counting alone cannot free it
    gone = weakref.ref(built.model)
    del built
    gc.unfreeze()
    try:
        _support.get_built(dataclasses.replace(TOY, model_type="toy2"), CLS)
        assert gone() is None, "the previous type's cyclic model was not collected"
        assert gc.get_freeze_count() > 0, "the surviving heap was not frozen"
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(
    "fault, check, message",
    [
        ("nan", "forward", "non-finite outputs"),
        ("ignore-mask", "attention_mask_padding", "change outputs at real positions"),
        ("detach", "train_step", "['mix.weight'"),
        ("int-counter", "eval_determinism", "token_ids"),  # integer outputs are compared too
    ],
)
def test_toy_faults_fail_their_check(toy_engine, fault, check, message):
    toy_engine["fault"] = fault
    with pytest.raises(pytest.fail.Exception, match=message.replace("[", r"\[")):
        getattr(checks, check)(TOY, CLS)


def test_forward_checks_num_labels_from_config(toy_engine):
    toy_engine["num_labels"] = NL + 2  # the head ignores it
    with pytest.raises(
        pytest.fail.Exception, match=r"logits has shape \(2, 3\), expected \(2, 5\)"
    ):
        checks.forward(TOY, CLS)


def test_base_text_forward_promises_batch_seq_hidden(toy_engine):
    checks.forward(TOY, "ToyBase")
    built = _support.get_built(TOY, "ToyBase")
    exp = _checks._expectations(TOY, built, built.inputs())
    assert exp == [("last_hidden_state", (2, S, H), "base text model: batch x seq x hidden_size")]


def test_lm_head_listed_as_base_promises_logits_not_hidden_states():
    # 4.x AutoModel maps gptsan-japanese to its LM head: the head's logits are the promise
    case = Case(
        model_type="toy",
        family="encoder-decoder",
        config_class="ToyConfig",
        classes={"base": ("ToyLM",), "seq_to_seq_causal_lm": ("ToyLM",)},
    )
    config = SimpleNamespace(num_labels=NL, vocab_size=V, hidden_size=H)
    built = FakeBuilt(ToyModel(), config, "base", "ToyLM", ("base", "seq_to_seq_causal_lm"))
    exp = _checks._expectations(case, built, built.inputs())
    assert exp == [("logits", (2, S, V), "seq_to_seq_causal_lm: batch x seq x vocab_size")]
    # a base class with no LM task still promises its hidden states
    built = dataclasses.replace(built, tasks=("base", "feature_extraction"))
    exp = _checks._expectations(case, built, built.inputs())
    assert exp[0][0] == "last_hidden_state"


def test_missing_package_skips_naming_it(toy_engine):
    from hftestgen.tiny import TinyError

    toy_engine["error"] = TinyError.missing("scipy")
    with pytest.raises(pytest.skip.Exception, match="missing package: scipy"):
        checks.forward(TOY, CLS)


def test_other_build_errors_fail_with_category(toy_engine):
    from hftestgen.tiny import TinyError

    toy_engine["error"] = TinyError("config-invariant", "hidden_size % heads != 0")
    with pytest.raises(pytest.fail.Exception, match=r"\[config-invariant\]: hidden_size"):
        checks.eval_determinism(TOY, CLS)
    # cached: a second check fails the same way without rebuilding
    with pytest.raises(pytest.fail.Exception, match="config-invariant"):
        checks.forward(TOY, CLS)
    assert toy_engine["builds"] == 1


def test_unsupported_skips_but_registry_mismatch_fails(toy_engine):
    from hftestgen.tiny import TinyError

    toy_engine["error"] = TinyError("unsupported", "forward needs an inference_session")
    with pytest.raises(pytest.skip.Exception, match="unsupported: .*inference_session"):
        checks.forward(TOY, CLS)
    checks.clear_cache()
    toy_engine["error"] = TinyError("registry-mismatch", "ToyBase does not import")
    with pytest.raises(pytest.fail.Exception, match=r"\[registry-mismatch\]"):
        checks.forward(TOY, CLS)


def test_case_skip_is_a_skip(toy_engine):
    with pytest.raises(pytest.skip.Exception, match="flaky upstream"):
        checks.forward(dataclasses.replace(TOY, skip="flaky upstream"), CLS)
    assert toy_engine["builds"] == 0


def test_no_attention_mask_in_forward_skips(toy_engine, monkeypatch):
    def forward(self, input_ids, labels=None):
        return ToyModel.forward(self, input_ids, None, labels)

    monkeypatch.setattr(ToyModel, "forward", forward)
    with pytest.raises(pytest.skip.Exception, match="no attention_mask in forward"):
        checks.attention_mask_padding(TOY, CLS)


def test_head_without_labels_skips(toy_engine, monkeypatch):
    def forward(self, input_ids, attention_mask=None):
        return ToyModel.forward(self, input_ids, attention_mask)

    monkeypatch.setattr(ToyModel, "forward", forward)
    with pytest.raises(pytest.skip.Exception, match="takes no labels"):
        checks.train_step(TOY, CLS)


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_device_backend_cell_skips_as_no_device_without_the_device(toy_engine, monkeypatch, device):
    """The backend matrix's device columns (they replaced device_parity): without the device the
    cell is a no-device skip naming it, after the plain model ran (a model that cannot run on CPU
    is its own failure), never a pass."""
    from hftestgen.checks import matrix

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(pytest.skip.Exception) as e:
        checks.backend(TOY, CLS, device)
    assert e.value.msg == f"no-device: {device} not available"
    cell = matrix.LAST_CELL
    assert (cell["backend"], cell["class"], cell["status"]) == (device, CLS, "no-device")
    assert cell["reason"] == f"{device} not available"
    assert toy_engine["builds"] == 1


def test_outputs_are_flattened_and_compared():
    out = {"a": torch.ones(2), "b": (torch.zeros(1), None, [torch.arange(3)]), "c": object()}
    ts = _support.tensors(out)
    assert list(ts) == ["a", "b.0", "b.2.0"]
    assert list(_support.floating(ts)) == ["a", "b.0"]
    x = torch.tensor([1.0, float("nan")])
    assert _support.close(x, x.clone(), checks.tolerances.DETERMINISM)  # NaN == NaN in place
    assert not _support.close(x, x + 1e-3, checks.tolerances.BATCH)
    assert _support.close(x, x + 1e-6, checks.tolerances.BATCH)
    assert _support.compare_all({"a": x}, {}, checks.tolerances.BATCH) == [
        "a present in one output only"
    ]


@pytest.mark.parametrize(
    "model_type, cls, tasks, auto",
    [
        ("gpt2", "GPT2LMHeadModel", ["causal_lm", "pretraining"], "AutoModelForCausalLM"),
        ("bert", "BertModel", ["base"], "AutoModel"),
        (
            "vit",
            "ViTForImageClassification",
            ["image_classification"],
            "AutoModelForImageClassification",
        ),
        ("t5", "T5ForConditionalGeneration", ["seq_to_seq_causal_lm"], "AutoModelForSeq2SeqLM"),
    ],
)
def test_auto_class_of_task(model_type, cls, tasks, auto):
    pytest.importorskip("transformers")
    assert _checks._auto_class(model_type, cls, tasks).__name__ == auto


def test_tolerances_are_documented():
    doc = checks.tolerances.__doc__ + checks.__doc__
    for name in ("DETERMINISM", "SAVE_LOAD", "BATCH", "PADDING", "GENERATE_LOGITS"):
        assert name in doc
    assert checks.tolerances.BATCH.atol == 1e-4 and checks.tolerances.EXACT.atol == 0


def test_packed_inputs_skip_batch_independence(toy_engine, monkeypatch):
    orig = FakeBuilt.inputs

    def inputs(self, batch_size=2, seed=0, labels=False):
        return {**orig(self, batch_size, seed, labels), "pixel_values": torch.zeros(7, 4)}

    monkeypatch.setattr(FakeBuilt, "inputs", inputs)
    with pytest.raises(pytest.skip.Exception, match=r"not batch-major \(pixel_values\(7, 4\)"):
        checks.batch_independence(TOY, CLS)


def test_row_slices_tensors_bundled_in_dicts_and_dataclasses():
    @dataclasses.dataclass
    class Bundle:
        a: torch.Tensor
        n: int

    t = torch.arange(6).reshape(2, 3)
    out = _checks._row({"x": t, "d": {"a": t, "s": torch.zeros(5)}, "b": Bundle(t, 4)}, 1, 2)
    assert out["x"].tolist() == [[3, 4, 5]] and out["d"]["a"].tolist() == [[3, 4, 5]]
    assert out["d"]["s"].shape == (5,)  # not batch-major: untouched
    assert isinstance(out["b"], Bundle) and out["b"].a.tolist() == [[3, 4, 5]] and out["b"].n == 4


def test_padding_compares_a_key_cache_at_real_positions_along_its_own_axis(toy_engine, monkeypatch):
    """A (batch, heads, seq, dim) cache whose *masked* slots hold junk that depends on the padded
    length (as GPT-2's legacy tuple cache in Transformers 4.x) is fine; junk at a real slot is not."""
    fwd = ToyModel.forward

    def forward(self, input_ids, attention_mask=None, labels=None):
        out = fwd(self, input_ids, attention_mask, labels)
        w = attention_mask.unsqueeze(-1).float()
        junk = float(input_ids.shape[1])  # differs between the padded and the unpadded run
        cache = out["last_hidden_state"] * w + (1 - w) * junk
        if self.fault == "cache-leak":
            cache = cache + junk * 1e-2
        return {**out, "past_key_values": ((cache.unsqueeze(1), cache.unsqueeze(1)),)}

    def inputs(self, batch_size=2, seed=0, labels=False):
        out = FakeBuilt_inputs(self, batch_size, seed, labels)
        out["attention_mask"][0, -2:] = 0  # the sample's own padding
        return out

    FakeBuilt_inputs = FakeBuilt.inputs
    monkeypatch.setattr(ToyModel, "forward", forward)
    monkeypatch.setattr(FakeBuilt, "inputs", inputs)
    checks.attention_mask_padding(TOY, CLS)
    checks.clear_cache()
    toy_engine["fault"] = "cache-leak"
    with pytest.raises(pytest.fail.Exception, match=r"past_key_values\.0\.0"):
        checks.attention_mask_padding(TOY, CLS)


def test_save_load_config_diff_compares_the_json_form():
    """config.json cannot keep a tuple or a torch.dtype: a 4.x ``to_dict`` that returns them
    (Mamba-2's tuple ``time_step_limit`` default, PromptDepthAnything's own ``to_dict``) is not
    a change against the reloaded list / dtype name; a changed value still is."""
    import torch

    from hftestgen.checks import _checks

    class Cfg:
        def __init__(self, **kw):
            self.kw = kw

        def to_dict(self):
            return dict(self.kw, transformers_version="x")

    def diff(a, b):
        return _checks._dict_diff(_checks._config_dict(Cfg(**a)), _checks._config_dict(Cfg(**b)))

    assert diff({"lim": (0.0, float("inf"))}, {"lim": [0.0, float("inf")]}) == []
    assert diff({"dtype": torch.float32}, {"dtype": "float32"}) == []
    assert diff({"sub": {"size": (32, 32)}}, {"sub": {"size": [32, 32]}}) == []
    assert diff({"lim": (0.0, 1.0)}, {"lim": [0.0, 2.0]}) == ["lim: [0.0, 1.0] -> [0.0, 2.0]"]
    assert diff({"dtype": torch.float32}, {"dtype": "float16"}) == ["dtype: 'float32' -> 'float16'"]


def test_padding_mask_has_one_row_per_sample_over_codebook_rows():
    # MusicGen's decoder reads ids as (batch * num_codebooks, seq) and documents its
    # attention_mask as (batch_size, seq): the mask the check makes and pads has one row per
    # sample (the old mask took one row per id row, which 4.x MusicGen cannot add to its
    # per-sample causal mask); ids of one row per sample keep a mask row each
    from transformers import PretrainedConfig

    built = SimpleNamespace(config=PretrainedConfig(pad_token_id=0, vocab_size=V))
    B = _checks.tol.BATCH_SIZE
    codebooks = torch.randint(1, V, (B * 4, S))
    base, padded, mask = _checks._padded(built, {"input_ids": codebooks}, True, False)
    P = _checks.tol.PAD_LEN
    assert mask.shape == (B, S) and base["attention_mask"].shape == (B, S)
    assert padded["input_ids"].shape == (B * 4, S + P)
    assert padded["attention_mask"].shape == (B, S + P)
    assert not padded["attention_mask"][:, :P].any() and padded["attention_mask"][:, P:].all()
    plain = torch.randint(1, V, (B, S))
    _, padded, mask = _checks._padded(built, {"input_ids": plain}, False, False)
    assert mask.shape == (B, S) and padded["attention_mask"].shape == (B, S + P)
