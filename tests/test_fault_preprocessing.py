"""Proof that the end-to-end checks (``preprocessing``, ``pipeline``) catch real preprocessing bugs.

Every fault of ``hftestgen.faults.preprocessing`` runs its model type's committed generated file
in a new ``python -m pytest`` process restricted to the fault's check (``faults.measure``), as
``tests/test_fault_injection.py`` does for the CI subset: the check must fail with the fault, and
pass without it. Every fault of the module is caught today: a fault the checks miss would be
listed with the invariant they lack, as a strict xfail.
"""

from __future__ import annotations

import pytest

from hftestgen import faults
from hftestgen.faults import measure

MODULE = "hftestgen.faults.preprocessing"

CAUGHT = (
    "bert-tokenizer-drops-final-sep",
    "vit-image-processor-skips-normalize",
    "audio-spectrogram-transformer-mel-bins-not-saved",
    "llava-processor-one-image-token-short",
    "bert-text-classification-labels-shifted",
    "bert-pipeline-pads-mask-with-ones",
    "qwen3-5-text-decision-probabilities-permuted",
    "wav2vec2-sampling-rate-not-saved",  # every __init__ setting must be in the saved file
    "wav2vec2-normalizes-by-variance",  # normalized waveforms: zero mean, unit variance
    "llava-processor-image-tokens-after-text",  # fact PLACEHOLDER_IN_PLACE
    "llama-generation-pads-mask-with-ones",  # a real leak is no near-tie (rule NEAR_TIE)
)


def _ours() -> dict[str, faults.Fault]:
    return {n: f for n, f in faults.catalogue().items() if f.inject.__module__ == MODULE}


def test_module_registers_preprocessing_and_pipeline_faults():
    ours = _ours()
    assert set(ours) == set(CAUGHT)
    assert {f.check for f in ours.values()} == {"preprocessing", "pipeline"}
    assert {f.family for f in ours.values()} >= {"encoder-only", "vision", "audio", "multimodal"}
    # the CI subset covers both end-to-end checks with faults of this module
    assert {f.check for f in faults.subset() if f.name in ours} == {"preprocessing", "pipeline"}
    assert all(f.name in CAUGHT for f in faults.subset() if f.name in ours)


def _needs_models():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")


@pytest.mark.parametrize("name", CAUGHT)
def test_fault_is_caught_by_its_check(name):
    _needs_models()
    fault = faults.get(name)
    v = measure.measure(fault, timeout=300)
    assert v.caught, f"{name} not caught by {fault.check} ({v.reason}): {v.message}"
    assert v.failed_checks == [fault.check], v.failed_checks


@pytest.mark.parametrize(
    "model_type,check",
    sorted({(faults.get(n).model_type, faults.get(n).check) for n in CAUGHT}),
)
def test_check_passes_without_faults(model_type, check):
    _needs_models()
    r = measure.run_file(measure.generated_file(model_type), model_type, check=check, timeout=300)
    assert r.clean_ok, (r.failed, r.collect_errors, r.output_tail)
    assert r.counts.get("passed", 0) >= 1, r.counts
