"""Proof that the generated tests catch real bugs.

Each fault is injected into real tiny models by monkeypatching Transformers (or torch) code in
this process. The generated test file for the model type is rendered with
``hftestgen.render.render_spec`` into a temp dir and run in-process with ``pytest.main``: the
relevant test must FAIL with the check's message while the fault is active, and PASS (together
with the rest of the generated file) without it.
"""

from __future__ import annotations

import functools
import itertools
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from hftestgen import checks  # noqa: E402
from hftestgen.render import render_spec  # noqa: E402

_counter = itertools.count()


class _Collect:
    """pytest plugin collecting the outcome of each test of an inner run."""

    def __init__(self):
        self.outcomes: dict[str, str] = {}
        self.messages: dict[str, str] = {}

    def pytest_runtest_logreport(self, report):
        name = report.nodeid.split("::", 1)[-1]
        if report.when == "call" or report.outcome != "passed":
            if self.outcomes.get(name) in ("failed", "skipped") and report.when == "teardown":
                return
            self.outcomes[name] = report.outcome
            self.messages[name] = str(report.longrepr or "")


def run_generated(registry, tmp_path, model_type: str, *tests: str) -> _Collect:
    """Render the generated file of ``model_type`` and run ``tests`` (all when none) in-process."""
    checks.clear_cache()  # models built under another (faulty or clean) code state are stale
    d = tmp_path / f"gen{next(_counter)}"
    d.mkdir()
    (d / "pytest.ini").write_text("[pytest]\n")
    # unique module names: every run imports a fresh module
    path = d / f"test_hf_{model_type}_{next(_counter)}.py"
    path.write_text(render_spec(registry[model_type]))
    targets = [f"{path}::{t}" for t in tests] or [str(path)]
    collect = _Collect()
    args = ["-q", "-p", "no:cacheprovider", "--import-mode=importlib", "-c", str(d / "pytest.ini")]
    code = pytest.main([*args, "--rootdir", str(d), *targets], plugins=[collect])
    checks.clear_cache()
    assert code in (0, 1), f"inner pytest run broke (exit code {code})"
    for t in tests:
        assert t in collect.outcomes, f"{t} did not run: {sorted(collect.outcomes)}"
    return collect


# --------------------------------------------------------------------------------------------
# faults: each installs itself with ``monkeypatch`` (undone at the end of the test)


def fault_nonfinite(monkeypatch):
    """An overflow in one activation: +inf at one position of BERT's intermediate layer."""
    from transformers.models.bert import modeling_bert as m

    orig = m.BertIntermediate.forward

    def forward(self, hidden_states):
        out = orig(self, hidden_states).clone()
        out[0, -1, 0] = math.inf
        return out

    monkeypatch.setattr(m.BertIntermediate, "forward", forward)


def fault_ignore_attention_mask(monkeypatch):
    """BertModel drops the attention mask it is given."""
    from transformers.models.bert import modeling_bert as m

    orig = m.BertModel.forward

    @functools.wraps(orig)  # keeps the signature, as Transformers' own decorators do
    def forward(self, *args, **kwargs):
        kwargs["attention_mask"] = None
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(m.BertModel, "forward", forward)


def fault_weights_altered_on_save(monkeypatch):
    """save_pretrained writes one tensor slightly scaled (a conversion/serialization bug)."""
    from transformers import modeling_utils

    orig = modeling_utils.PreTrainedModel.save_pretrained

    def save_pretrained(self, save_directory, *args, **kwargs):
        sd = dict(self.state_dict())
        key = next(k for k in sd if k.endswith("ln_f.weight"))
        sd[key] = sd[key] * 1.01
        kwargs["state_dict"] = sd
        return orig(self, save_directory, *args, **kwargs)

    monkeypatch.setattr(modeling_utils.PreTrainedModel, "save_pretrained", save_pretrained)


def fault_dropout_in_eval(monkeypatch):
    """Dropout modules ignore eval mode."""

    def forward(self, x):
        return F.dropout(x, self.p, True, self.inplace)

    monkeypatch.setattr(nn.Dropout, "forward", forward)


def fault_batch_leakage(monkeypatch):
    """BERT's attention output mixes in the batch mean (e.g. a wrong reduction axis)."""
    from transformers.models.bert import modeling_bert as m

    orig = m.BertSelfOutput.forward

    def forward(self, hidden_states, input_tensor):
        out = orig(self, hidden_states, input_tensor)
        return out + 0.5 * out.mean(dim=0, keepdim=True)

    monkeypatch.setattr(m.BertSelfOutput, "forward", forward)


def fault_kv_cache_diverges(monkeypatch):
    """The dynamic KV cache hands back corrupted past values once it holds any."""
    from transformers import cache_utils

    orig = cache_utils.DynamicLayer.update

    def update(self, key_states, value_states, *args, **kwargs):
        had_past = self.is_initialized and self.keys is not None and self.keys.shape[-2] > 0
        keys, values = orig(self, key_states, value_states, *args, **kwargs)
        if had_past:
            n = value_states.shape[-2]
            values = torch.cat([values[..., :-n, :] * -3.0, values[..., -n:, :]], dim=-2)
        return keys, values

    monkeypatch.setattr(cache_utils.DynamicLayer, "update", update)


def fault_param_cut_from_grad(monkeypatch):
    """BERT's intermediate dense weight is used detached: it shapes the loss but never trains."""
    from transformers.models.bert import modeling_bert as m

    def forward(self, hidden_states):
        h = F.linear(hidden_states, self.dense.weight.detach(), self.dense.bias)
        return self.intermediate_act_fn(h)

    monkeypatch.setattr(m.BertIntermediate, "forward", forward)


def fault_head_ignores_num_labels(monkeypatch):
    """The sequence-classification head is built with a fixed label count, not num_labels."""
    from transformers.models.bert import modeling_bert as m

    orig = m.BertForSequenceClassification.__init__

    def __init__(self, config):
        orig(self, config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels + 1)

    monkeypatch.setattr(m.BertForSequenceClassification, "__init__", __init__)


# (fault, model type, generated test, text the failure must contain)
FAULTS = [
    pytest.param(
        fault_nonfinite,
        "bert",
        "test_forward[BertModel]",
        "non-finite outputs",
        id="nonfinite-output",
    ),
    pytest.param(
        fault_ignore_attention_mask,
        "bert",
        "test_attention_mask_padding[BertModel]",
        "change outputs at real positions",
        id="ignored-attention-mask",
    ),
    pytest.param(
        fault_weights_altered_on_save,
        "gpt2",
        "test_save_load[GPT2LMHeadModel]",
        "weights changed by save/load",
        id="weights-altered-on-save",
    ),
    pytest.param(
        fault_dropout_in_eval,
        "bert",
        "test_eval_determinism[BertForSequenceClassification]",
        "two eval forward passes differ",
        id="dropout-in-eval",
    ),
    pytest.param(
        fault_batch_leakage,
        "bert",
        "test_batch_independence[BertModel]",
        "changes with the rest of the batch",
        id="batch-leakage",
    ),
    pytest.param(
        fault_kv_cache_diverges,
        "gpt2",
        "test_generate[GPT2LMHeadModel]",
        "use_cache=False",
        id="kv-cache-diverges",
    ),
    pytest.param(
        fault_param_cut_from_grad,
        "bert",
        "test_train_step[BertForSequenceClassification]",
        "influence the loss but got no gradient",
        id="param-cut-from-grad",
    ),
    pytest.param(
        fault_head_ignores_num_labels,
        "bert",
        "test_forward[BertForSequenceClassification]",
        "batch x num_labels",
        id="head-ignores-num-labels",
    ),
]


@pytest.mark.parametrize("fault, model_type, test, message", FAULTS)
def test_fault_is_caught(registry, tmp_path, monkeypatch, fault, model_type, test, message):
    clean = run_generated(registry, tmp_path, model_type, test)
    assert clean.outcomes[test] == "passed", clean.messages[test]

    fault(monkeypatch)
    faulty = run_generated(registry, tmp_path, model_type, test)
    assert faulty.outcomes[test] == "failed", f"fault not caught by {test}"
    assert message in faulty.messages[test], faulty.messages[test]


@pytest.mark.parametrize("model_type", ["bert", "gpt2"])
def test_generated_file_is_green_without_faults(registry, tmp_path, model_type):
    """The whole generated file passes on the real models (skips only with a reason)."""
    res = run_generated(registry, tmp_path, model_type)
    failed = {k: v for k, v in res.outcomes.items() if v == "failed"}
    assert not failed, {k: res.messages[k][-600:] for k in failed}
    assert sum(v == "passed" for v in res.outcomes.values()) >= 20
