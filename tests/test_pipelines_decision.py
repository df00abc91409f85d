"""The decision pipeline task (checks.pipeline_tasks_more): DECISION_CONFIG, the structure of
the answers, the by-hand scores, and rule UNBATCHED_PIPELINE."""

import copy
import sys

import pytest
from transformers.pipelines.decision import DecisionPipeline

from hftestgen.checks import pipelines
from hftestgen.checks.case import Case
from hftestgen.checks.pipelines import TASKS

M = sys.modules[pipelines.__name__.replace("pipelines", "pipeline_tasks_more")]

CASE = Case(
    model_type="qwen3_5_text",
    family="decoder-only",
    config_class="Qwen3_5TextConfig",
    classes={"causal_lm": ("Qwen3_5ForCausalLM",), "decision": ("JevForDecision",)},
    preprocessing={"tokenizer": "Qwen3_5Tokenizer"},
    pipelines={"decision": "JevForDecision"},
)

REQUEST = M.DECISION_REQUESTS[0]


def _answers(probs: dict[str, dict[str, float]]) -> dict:
    """Pipeline-shaped answers of {question: {option: probability}} for REQUEST."""
    out = {}
    for name, q in REQUEST["questions"].items():
        p = probs[name]
        if q["type"] == "noul":
            out[name] = {"type": "noul", "noul": p["true"]}
        elif q["type"] == "choice":
            best = max(p, key=p.get)
            out[name] = {"type": "choice", "choice": best, "confidence": 0.5, "probabilities": p}
        else:
            score = sum(i * v for i, v in enumerate(p.values()))
            legend = dict(zip(p, q["criteria"], strict=True))
            out[name] = {
                "type": "score",
                "score": score,
                "legend": legend,
                "confidence": 0.5,
                "probabilities": p,
            }
    return out


GOOD = {
    "tone": {"fox": 0.5, "world": 0.3, "model": 0.2},
    "urgency": {"0": 0.1, "1": 0.2, "2": 0.3, "3": 0.4},
    "hello": {"true": 0.7, "false": 0.3},
}


def test_the_task_is_specified():
    # old behaviour: no spec, the six decision types skipped as not-covered
    spec = TASKS["decision"]
    assert spec.unbatched and "decision.py" in spec.unbatched


def test_structure_holds_answers_to_the_declared_options():
    assert M._decision_structure(_answers(GOOD), None, None, REQUEST) == []
    missing = _answers(GOOD)
    del missing["hello"]
    assert M._decision_structure(missing, None, None, REQUEST)
    renamed = copy.deepcopy(GOOD)
    renamed["tone"] = {"fox": 0.5, "world": 0.3, "other": 0.2}
    assert M._decision_structure(_answers(renamed), None, None, REQUEST)
    unsummed = copy.deepcopy(GOOD)
    unsummed["urgency"]["3"] = 0.9
    assert M._decision_structure(_answers(unsummed), None, None, REQUEST)
    wrong_choice = _answers(GOOD)
    wrong_choice["tone"]["choice"] = "world"
    assert M._decision_structure(wrong_choice, None, None, REQUEST)
    wrong_type = _answers(GOOD)
    wrong_type["hello"] = {"type": "choice"}
    assert M._decision_structure(wrong_type, None, None, REQUEST)


def test_compare_reads_probabilities_by_option_name():
    from hftestgen.checks import tolerances as tol
    from hftestgen.checks._support import Comparison

    want = {k: ({"true": v["true"]} if k == "hello" else dict(v)) for k, v in GOOD.items()}
    cmp = Comparison("pipeline")
    M._compare_decisions(cmp, "x", _answers(GOOD), want, tol.PIPELINE, None)
    assert not cmp.bad and cmp.compared
    permuted = copy.deepcopy(GOOD)
    permuted["tone"] = dict(zip(GOOD["tone"], reversed(list(GOOD["tone"].values())), strict=True))
    cmp = Comparison("pipeline")
    M._compare_decisions(cmp, "x", _answers(permuted), want, tol.PIPELINE, None)
    assert cmp.bad


def test_unbatched_pipeline_is_called_one_at_a_time():
    calls = []

    def pipe(xs, batch_size=None):
        calls.append(batch_size)
        return [dict(x) for x in xs]

    assert pipelines._batch(pipe, [{"a": 1}, {"b": 2}], {}, 1) == [{"a": 1}, {"b": 2}]
    pipelines._batch(pipe, [{"a": 1}, {"b": 2}], {})
    assert calls == [1, 2]


def test_check_passes_on_the_tiny_decision_model():
    pipelines.pipeline(CASE, "decision")


def _permuting(postprocess):
    def wrong(self, model_outputs):
        answers = postprocess(self, model_outputs)
        for a in answers.values():
            if "probabilities" in a:
                keys = list(a["probabilities"])
                a["probabilities"] = dict(
                    zip(keys, reversed(list(a["probabilities"].values())), strict=True)
                )
                if a["type"] == "choice":
                    a["choice"] = max(a["probabilities"], key=a["probabilities"].get)
        return answers

    return wrong


def test_check_fails_on_a_pipeline_that_permutes_option_probabilities(monkeypatch):
    monkeypatch.setattr(DecisionPipeline, "postprocess", _permuting(DecisionPipeline.postprocess))
    with pytest.raises(pytest.fail.Exception, match="pipeline vs by hand"):
        pipelines.pipeline(CASE, "decision")


def test_check_fails_where_the_pipeline_drops_the_temperature(monkeypatch):
    # the by-hand side applies the decision config's temperatures itself
    from dataclasses import replace

    from transformers.decision import DecisionConfig

    untempered = {"decision_config": DecisionConfig(chat_template=M.DECISION_TEMPLATE)}
    spec = replace(TASKS["decision"], pipeline_kwargs=lambda prep, model, config: untempered)
    monkeypatch.setitem(TASKS, "decision", spec)
    with pytest.raises(pytest.fail.Exception, match="pipeline vs by hand"):
        pipelines.pipeline(CASE, "decision")


def test_decision_head_is_built_on_the_registering_types_text_model():
    """TYPE_TEXT_CONFIG: qwen2's JevForDecision wraps a qwen2 text model, not JevConfig's
    default (qwen3_5_text); the jev type keeps its own default."""
    from hftestgen.tiny.engine import build

    assert build("qwen2", "JevForDecision").config.text_config.model_type == "qwen2"
    assert build("jev", "JevForDecision").config.text_config.model_type == "qwen3_5_text"
