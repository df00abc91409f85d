"""Tiny models in a regime where bugs show: no head size at a library default a constant could
match, distinct sizes per independent axis, dropout that is on, and weights large enough that
attention is informative (``tiny.config`` step 5, ``REGIME``; ``engine.attention_entropy_ratio``)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hftestgen.configs import sub_configs  # noqa: E402
from hftestgen.tiny import build, engine  # noqa: E402
from hftestgen.tiny import config as tc  # noqa: E402
from hftestgen.tiny.inputs.context import SEQ  # noqa: E402

# the fault catalogue's types, and MoE types of three routing styles (plain top-k, shared
# experts, group-limited)
AUDIT_TYPES = (
    "bart bert bloom clip flava gpt2 llama llava patchtst resnet t5 vit wav2vec2 whisper "
    "mixtral qwen2_moe olmoe deepseek_v3"
).split()
ENTROPY_TYPES = "bert gpt2 llama t5 vit whisper deit mistral bart".split()
ENTROPY_MAX = 0.9
"""Mean attention entropy / log(attended keys) below which attention is informative."""
OLD_INIT = 0.02


def _base(model_type: str, **tiny):
    spec = engine._registry()[model_type]
    cls = (spec.classes.get("base") or spec.all_classes())[0]
    return build(model_type, cls, tiny=tiny or None)


def _configs(cfg, depth: int = 0):
    yield cfg
    if depth < 4:
        for sub in sub_configs(cfg).values():
            if sub is not None:
                yield from _configs(sub, depth + 1)


def audit(cfg) -> list[str]:
    """Everything in a tiny config (and its sub-configs) that leaves a bug room to hide."""
    problems = []
    for name in tc.LABEL_COUNTS:
        v = getattr(cfg, name, None)
        if v is not None and v != tc.LABELS:
            problems.append(f"{type(cfg).__name__}.{name} = {v} (want {tc.LABELS})")
    for c in _configs(cfg):
        where = type(c).__name__
        problems += [f"{where}.{n} = {v}" for n, v in tc.dropout_values(c).items() if v == 0]
        for a, b, v in tc.equal_axes(tc.axis_values(c, SEQ)):
            problems.append(f"{where}: {a} == {b} == {v}")
    return problems


@pytest.mark.parametrize("model_type", AUDIT_TYPES)
def test_tiny_configs_leave_no_size_at_a_default_and_no_axes_equal(model_type):
    built = _base(model_type)
    assert audit(built.config) == []


def test_audit_fails_on_the_old_rules(monkeypatch):
    """Without the regime rules (and with the old MoE counts, 4 experts / top-2) the audit
    finds num_labels 2, dropout 0, experts == heads and top_k == layers."""
    monkeypatch.setattr(tc, "REGIME", {})
    for name in tc.EXPERT_COUNTS:
        monkeypatch.setitem(tc.SIZE_RULES, name, 4)
    for name in tc.TOP_K_COUNTS:
        monkeypatch.setitem(tc.SIZE_RULES, name, 2)
    monkeypatch.setitem(tc.FILL_NONE, "num_experts_per_tok", 2)
    problems = "\n".join(audit(_base("mixtral").config) + audit(_base("bert").config))
    assert "num_labels = 2" in problems
    assert "MixtralConfig.attention_dropout = 0.0" in problems
    assert "experts == heads == 4" in problems
    assert "layers == top_k == 2" in problems


def test_documented_equalities_are_the_only_ones_allowed():
    values = {"hidden": 32, "image_size": 32, "heads": 4, "experts": 4, "layers": 1, "top_k": 1}
    assert tc.equal_axes(values) == [("experts", "heads", 4)]


def test_question_answering_span_heads_get_two_labels():
    """Span heads split ``num_labels`` outputs into start and end (``SPAN_HEAD_TASKS``): the
    rule gives them 2; with the general 3 their forward cannot unpack the split."""
    qa = build("bert", "BertForQuestionAnswering")
    assert qa.config.num_labels == engine.SPAN_LABELS
    with torch.no_grad():
        out = qa.model(**qa.inputs())
    assert out.start_logits.shape == out.end_logits.shape == (2, SEQ)
    three = build("bert", "BertForQuestionAnswering", tiny={"num_labels": tc.LABELS})
    with torch.no_grad(), pytest.raises(ValueError, match="too many values to unpack"):
        three.model(**three.inputs())
    cls = build("bert", "BertForSequenceClassification")
    assert cls.config.num_labels == tc.LABELS


def test_dropout_is_on_so_eval_mode_matters():
    """Eval and train outputs of a tiny BERT differ (dropout 0.1); with the default's 0 they do
    not, and dropout that ignores eval mode would be invisible."""

    def differs(built):
        inputs = built.inputs()
        model = built.model
        with torch.no_grad():
            ev = model(**inputs).last_hidden_state
            model.train()
            torch.manual_seed(0)
            tr = model(**inputs).last_hidden_state
            model.eval()
        return not torch.equal(ev, tr)

    assert differs(_base("bert"))
    assert not differs(_base("bert", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))


@pytest.mark.parametrize("model_type", ENTROPY_TYPES)
def test_attention_is_informative_at_the_tiny_init_scale(model_type):
    ratio = engine.attention_entropy_ratio(_base(model_type))
    assert ratio is not None and ratio < ENTROPY_MAX, ratio


@pytest.mark.parametrize("model_type", ["bert", "gpt2", "llama", "vit", "whisper"])
def test_attention_is_nearly_uniform_at_the_old_init_scale(model_type):
    """The statistic fails with the library's 0.02 init (the old tiny models)."""
    old = {"initializer_range": OLD_INIT}
    if model_type == "whisper":
        old = {"init_std": OLD_INIT}
    ratio = engine.attention_entropy_ratio(_base(model_type, **old))
    assert ratio is not None and ratio > 0.99, ratio


def test_attention_entropy_ratio_is_one_for_uniform_and_low_for_peaked_rows():
    uniform = torch.full((1, 1, 3, 4), 0.25)
    peaked = torch.tensor([[[[0.97, 0.01, 0.01, 0.01]]]])
    masked = torch.tensor([[[[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]]])
    assert float(engine._row_ratios(uniform)[0].mean()) == pytest.approx(1.0)
    assert float(engine._row_ratios(peaked)[0].mean()) < 0.2
    # masked keys do not count; a row with one attended key is left out
    assert engine._row_ratios(masked)[0].tolist() == pytest.approx([1.0])


FP16_TYPES = ["bert", "gpt2", "llama", "t5", "whisper", "vit"]
FP16_MAX = 6e4
"""float16's largest finite value is 65504."""


@pytest.mark.parametrize("model_type", FP16_TYPES)
def test_larger_init_leaves_float16_headroom(model_type):
    built = _base(model_type)
    model = built.model.half()
    peak = [0.0]

    def hook(_m, _i, out):
        for t in out if isinstance(out, tuple) else (out,):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                assert torch.isfinite(t).all(), type(_m).__name__
                peak[0] = max(peak[0], float(t.abs().max()))

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    inputs = {
        k: v.half() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
        for k, v in built.inputs().items()
    }
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        for h in handles:
            h.remove()
    assert 0 < peak[0] < FP16_MAX
