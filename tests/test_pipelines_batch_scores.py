"""Rule BATCH_STEP_SCORES (checks.pipelines._generation_batch_scores) on the committed suite's own
tiny cases: GIT's upstream left-padding bug (its decode step widens the mask over image tokens
its cache does not hold) fails it; GPT-2, which pads correctly, passes."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hftestgen.checks import pipelines as P  # noqa: E402
from hftestgen.checks._support import Comparison  # noqa: E402

GENERATED = Path(__file__).resolve().parents[1] / "generated"


def _scores_flagged(model_type: str) -> list[str]:
    spec = importlib.util.spec_from_file_location("m", GENERATED / f"test_hf_{model_type}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    case = mod.CASE
    shared, _ = P._prep(case)
    built = P._built_for(case, case.pipelines["text-generation"], shared.config_overrides)
    prep = copy.deepcopy(shared)
    P._pad_left(prep, prep.tokenizer)
    config = P._model_config(built)
    xs = P._texts(prep)
    cmp = Comparison("pipeline")
    with P._pad_id_for_model(config, prep.tokenizer):
        wants = [P._generation_manual(built.model, prep, x, config) for x in xs]
        P._generation_batch_scores(cmp, built.model, prep, xs, wants, config)
    assert cmp.compared, "nothing was compared"
    return cmp.bad


def test_gits_left_padded_decode_step_is_caught():
    problems = _scores_flagged("git")
    assert any("step 1 scores" in p for p in problems), problems
    assert not any("step 0" in p for p in problems), problems  # the prefill is right


def test_a_model_that_pads_correctly_passes():
    assert _scores_flagged("gpt2") == []
