"""The comparison checks' shared verdict (``_support.Comparison``) and precision (``precise``):
nothing compared is never a pass, integer and boolean outputs compare exactly, comparisons run
on a float64 copy where the model supports it (small leaks the float32 tolerances hide are
caught), and a model that cannot run in float64 is checked in float32 with the reason said.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from hftestgen import checks  # noqa: E402
from hftestgen.checks import Case, tolerances  # noqa: E402
from hftestgen.checks import _support as S  # noqa: E402

V, H, L = 11, 8, 6

# --------------------------------------------------------------------------------------------
# Comparison


def test_nothing_compared_fails():
    cmp = S.Comparison("toy")
    with pytest.raises(pytest.fail.Exception, match="nothing was compared"):
        cmp.verdict("toy check")


def test_integers_and_booleans_compare_exactly_floats_within_tolerance():
    cmp = S.Comparison("toy", "float64")
    assert cmp.close("f", torch.ones(3), torch.ones(3) + 1e-9, tolerances.BATCH64)
    assert not cmp.close("i", torch.tensor([1, 2]), torch.tensor([1, 3]), tolerances.BATCH)
    assert not cmp.close("b", torch.tensor([True]), torch.tensor([False]), tolerances.BATCH)
    assert cmp.equal("same", torch.tensor([4]), torch.tensor([4]))
    cmp.outputs({"x": torch.zeros(1)}, {}, tolerances.BATCH)
    assert cmp.compared == ["f", "i", "b", "same", "x"]
    assert [b.split(":")[0].split(" ")[0] for b in cmp.bad] == ["i", "b", "x"]
    with pytest.raises(pytest.fail.Exception, match=r"toy check: i: 1 of 2 values differ"):
        cmp.verdict("toy check")


def test_a_passing_comparison_passes():
    cmp = S.Comparison("toy")
    cmp.outputs({"x": torch.ones(2)}, {"x": torch.ones(2)}, tolerances.EXACT)
    cmp.verdict("toy check")  # no exception


def test_precise_falls_back_to_float32_saying_why():
    class NoDouble(nn.Module):
        def forward(self, x):
            if x.dtype == torch.float64:
                raise RuntimeError("no float64 kernel")
            return x

    seen = []
    x = {"x": torch.ones(1)}
    S.precise(
        NoDouble(), lambda m, cast, p: seen.append((m(**cast(x)), str(p), S.precision_note(p)))
    )
    seen = [s[1:] for s in seen]
    assert seen == [("float32", "float32 (float64 copy unusable: RuntimeError: no float64 kernel)")]
    seen.clear()
    S.precise(nn.Identity(), lambda m, cast, p: seen.append((str(p), cast({"x": torch.ones(1)}))))
    assert seen[0][0] == "float64" and seen[0][1]["x"].dtype == torch.float64


# --------------------------------------------------------------------------------------------
# checks on a toy causal LM, through a stubbed tiny engine


class ToyLM(nn.Module):
    """A causal token model (cumulative mean over the past) with a cache argument; ``fault``
    selects a defect."""

    def __init__(self, fault=None):
        super().__init__()
        self.emb = nn.Embedding(V, H)
        self.pos = nn.Embedding(32, H)
        self.out = nn.Linear(H, V)
        self.fault = fault

    def forward(self, input_ids, attention_mask=None, past_key_values=None, use_cache=None):
        B, T = input_ids.shape
        m = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        w = m.unsqueeze(-1).to(self.emb.weight.dtype)
        pos = (m.long().cumsum(-1) - 1).clamp(min=0)
        x = (self.emb(input_ids) + self.pos(pos)) * w
        h = torch.tanh(x.cumsum(1) / w.cumsum(1).clamp(min=1))
        if self.fault == "nothing":
            return {}
        if self.fault == "pad-leak-1e-5":  # padded positions reach the real ones, 1e-5 relative
            pad = (self.emb(input_ids) * (1 - w)).sum(1, keepdim=True)
            h = h + 1e-5 * h.detach().abs().amax() * torch.tanh(pad)
        if self.fault == "batch-leak-1e-5":  # the batch mean, 1e-5 relative
            h = h + 1e-5 * h.detach().abs().amax() * torch.tanh(h.mean(0, keepdim=True))
        out = {"last_hidden_state": h, "logits": self.out(h)}
        if self.fault == "batch-int":  # an integer output that depends on the batch
            out["counts"] = torch.full((B, 1), B)
        if self.fault == "no-float64" and h.dtype == torch.float64:
            raise RuntimeError("no float64 kernel")
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
        mask = torch.ones(batch_size, L, dtype=torch.long)
        mask[0, -2:] = 0
        return {
            "input_ids": torch.randint(1, V, (batch_size, L), generator=g),
            "attention_mask": mask,
        }


CASE = Case(
    model_type="toylm",
    family="decoder-only",
    config_class="ToyConfig",
    classes={"base": ("ToyLMModel",), "causal_lm": ("ToyLMForCausalLM",)},
)
CLS = "ToyLMForCausalLM"


@pytest.fixture
def toy(monkeypatch):
    from hftestgen import tiny

    state = {"fault": None}

    def build(model_type, class_name, tiny=None, seed=0, data=None):
        torch.manual_seed(seed)
        config = SimpleNamespace(vocab_size=V, hidden_size=H, pad_token_id=0, is_decoder=True)
        model = state.get("model", ToyLM)(state["fault"]).eval()
        return FakeBuilt(model, config, "causal_lm", class_name, ("causal_lm",))

    monkeypatch.setattr(tiny, "build", build)
    checks.clear_cache()
    yield state
    checks.clear_cache()


COMPARISON_CHECKS = (
    "eval_determinism",
    "batch_independence",
    "attention_mask_padding",
    "generate",
    "chunked_prefill",
    "causality",
    "position_sensitivity",
)


@pytest.mark.parametrize("check", COMPARISON_CHECKS)
def test_no_comparable_output_never_passes(toy, check):
    """A model whose outputs hold nothing to compare fails or skips every comparison check
    (before ``Comparison``, ``save_load`` passed it: it compared the floating outputs of both
    sides, none: ``test_save_load_of_no_output_fails``)."""
    toy["fault"] = "nothing"
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)):
        getattr(checks, check)(CASE, CLS)


def test_save_load_of_no_output_fails(registry, monkeypatch):
    """A real model whose forward returns no tensor: save_load compared nothing (before
    ``Comparison`` it passed)."""
    pytest.importorskip("transformers")
    from transformers.models.gpt2 import modeling_gpt2

    from hftestgen.render.files import case_fields

    monkeypatch.setattr(modeling_gpt2.GPT2Model, "forward", lambda self, *a, **k: {})
    checks.clear_cache()
    try:
        with pytest.raises(pytest.fail.Exception, match="nothing was compared"):
            checks.save_load(Case(**case_fields(registry["gpt2"])), "GPT2Model")
    finally:
        checks.clear_cache()


def test_clean_toy_passes_in_float64(toy):
    for check in ("eval_determinism", "batch_independence", "attention_mask_padding"):
        getattr(checks, check)(CASE, CLS)


def test_batch_independence_compares_integer_outputs(toy):
    toy["fault"] = "batch-int"
    with pytest.raises(pytest.fail.Exception, match=r"counts\[0\]: 1 of 1 values differ"):
        checks.batch_independence(CASE, CLS)


def test_padding_leak_of_1e_5_is_caught_in_float64(toy):
    """1e-5 of the output's largest magnitude leaking from padded positions: within the float32
    ``PADDING`` tolerance (1e-4), caught on the float64 copy."""
    toy["fault"] = "pad-leak-1e-5"
    with pytest.raises(pytest.fail.Exception, match=r"padded \(masked\) positions.*\(float64"):
        checks.attention_mask_padding(CASE, CLS)


def test_batch_leak_of_1e_5_is_caught_in_float64(toy):
    toy["fault"] = "batch-leak-1e-5"
    with pytest.raises(pytest.fail.Exception, match=r"rest of the batch \(float64"):
        checks.batch_independence(CASE, CLS)


def test_float32_fallback_names_the_reason(toy, monkeypatch):
    toy["fault"] = "no-float64"
    checks.batch_independence(CASE, CLS)  # passes in float32
    orig = ToyLM.forward

    def leaky(self, input_ids, **kw):
        out = orig(self, input_ids, **kw)
        out["logits"] = out["logits"] + out["logits"].mean(0, keepdim=True)
        return out

    monkeypatch.setattr(ToyLM, "forward", leaky)
    with pytest.raises(pytest.fail.Exception, match="float64 copy unusable: RuntimeError"):
        checks.batch_independence(CASE, CLS)


# --------------------------------------------------------------------------------------------
# float32 islands inside a float64 copy (Float64Mode promotes them)


class ToyScanLM(ToyLM):
    """Takes ``position_ids`` (so it is padded on the left) and adds a chunked prefix sum
    computed in float32 even in a float64 copy, like a gated-delta-net scan: exact in any
    precision, but where the chunks start (which left padding shifts) changes its float32
    rounding. ``fault="pad-leak-1e-5"`` also leaks the padding."""

    def forward(self, input_ids, attention_mask=None, position_ids=None, **kw):
        out = super().forward(input_ids, attention_mask=attention_mask, **kw)
        h = out["last_hidden_state"]
        B, T, _ = h.shape
        w = (torch.ones_like(input_ids) if attention_mask is None else attention_mask).to(h.dtype)
        y = ((h + 1000.0) * w.unsqueeze(-1)).to(torch.float32)  # a float32 island
        c = nn.functional.pad(y, (0, 0, 0, -T % 4)).view(B, -1, 4, y.shape[-1])
        before = c.sum(2).cumsum(1) - c.sum(2)  # sums of the earlier chunks
        scan = (c.cumsum(2) + before.unsqueeze(2)).view(B, -1, y.shape[-1])[:, :T].to(h.dtype)
        scan = scan - 1000.0 * w.cumsum(1).unsqueeze(-1)  # = the prefix sum of h, exactly
        h = h + 0.1 * scan
        return {"last_hidden_state": h, "logits": self.out(h)}


def test_float32_island_rounding_is_not_padding(toy):
    """Left padding shifts a float32 scan's chunks: rounding above PADDING64 that is no leak.
    Before Float64Mode this failed (float64 logits differed beyond PADDING64)."""
    toy["model"] = ToyScanLM
    checks.attention_mask_padding(CASE, CLS)


def test_float32_island_does_not_hide_a_leak(toy):
    toy["model"], toy["fault"] = ToyScanLM, "pad-leak-1e-5"
    with pytest.raises(pytest.fail.Exception, match="padded .masked. positions change outputs"):
        checks.attention_mask_padding(CASE, CLS)


# rule "float32 inside a float64 run" (Float64Mode) and experts in sub-models


class _MakesFloat32(nn.Module):
    """Creates float32 tensors itself, as DAB-DETR's sine embeddings (``torch.arange(...,
    dtype=torch.float32)``) and FastSpeech2Conformer's positions (``.float()``) do."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        pos = torch.arange(4, dtype=torch.float32) / 3
        return self.lin(pos.float().expand(x.shape[0], 4)) + x


def test_float32_made_inside_the_model_runs_in_float64():
    """Old behaviour: ``mat1 and mat2 must have the same dtype`` in the copy, float32 fallback."""
    seen = []
    x = {"x": torch.ones(2, 4)}
    S.precise(_MakesFloat32(), lambda m, cast, p: seen.append((str(p), m(**cast(x)).dtype)))
    assert seen == [("float64", torch.float64)]


def test_float64_mode_keeps_other_dtypes():
    with S.float64_mode():
        assert torch.arange(3).dtype == torch.int64
        assert torch.ones(2, dtype=torch.float16).dtype == torch.float16
        assert torch.ones(2).float().dtype == torch.float64
    assert torch.ones(2).float().dtype == torch.float32  # only while active


def test_experts_of_a_sub_model_are_switched_to_eager():
    """A composite model whose text sub-model runs grouped_mm experts (torch has no float64
    grouped_mm kernel). Old behaviour: only the top-level config was read (eager), no switch."""

    class Sub(nn.Module):
        config = SimpleNamespace(_experts_implementation="grouped_mm")

    class Top(nn.Module):
        config = SimpleNamespace(_experts_implementation="eager")

        def __init__(self):
            super().__init__()
            self.text = Sub()
            self.calls = []

        def set_experts_implementation(self, impl):
            self.calls.append(impl)

    top = S.to_float64(Top())
    assert top.calls == ["eager"]


def test_float64_mode_keeps_in_place_writes():
    """A float32 tensor made before the run and written in place during it keeps the write."""
    state = torch.zeros(3)
    with S.float64_mode():
        state.add_(torch.ones(3, dtype=torch.float64))
        state[0] = 5.0
        state += 1
    assert state.tolist() == [6.0, 2.0, 2.0] and state.dtype == torch.float32
