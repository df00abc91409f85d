"""The registry's end-to-end fields: each type's preprocessing classes and pipeline tasks."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from hftestgen.preprocess.mapping import spec_for, tokenizer_fallback  # noqa: E402
from hftestgen.preprocess.tasks import pipeline_tasks, task_table  # noqa: E402


def _tasks(registry, model_type: str) -> dict[str, str]:
    spec = registry[model_type]
    return dict(spec.pipelines)


def test_a_task_is_the_types_when_its_own_auto_class_maps_it(registry):
    bert = _tasks(registry, "bert")
    assert bert["fill-mask"] == "BertForMaskedLM"
    assert bert["token-classification"] == "BertForTokenClassification"
    # decision lists the causal-LM Auto class only as a fallback (text-generation's own)
    assert "decision" not in bert and "decision" not in _tasks(registry, "llama")
    # ASR's own Auto classes include the speech seq2seq one, not only CTC
    whisper = _tasks(registry, "whisper")
    assert whisper["automatic-speech-recognition"] == "WhisperForConditionalGeneration"
    assert _tasks(registry, "wav2vec2")["automatic-speech-recognition"] == "Wav2Vec2ForCTC"


def test_plain_automodel_tasks_follow_their_named_rules(registry):
    assert _tasks(registry, "bert")["feature-extraction"] == "BertModel"
    # an encoder-decoder base model needs decoder inputs the pipeline does not give
    assert "feature-extraction" not in _tasks(registry, "t5")
    assert _tasks(registry, "vit")["image-feature-extraction"] == "ViTModel"
    assert "image-feature-extraction" not in _tasks(registry, "bert")
    assert _tasks(registry, "clap")["zero-shot-audio-classification"] == "ClapModel"
    assert "zero-shot-audio-classification" not in _tasks(registry, "bert")


def test_every_derived_task_is_a_pipeline_task_of_the_installed_transformers(registry):
    known = set(task_table())
    for spec in registry.testable():
        assert set(spec.pipelines) <= known, spec.model_type
        assert set(spec.pipelines.values()) <= set(spec.all_classes()), spec.model_type


def test_pipeline_tasks_needs_a_listed_class():
    # the Auto mapping names BertForMaskedLM, but a registry without it gets no fill-mask
    assert "fill-mask" not in pipeline_tasks("bert", ["BertModel"], {"tokenizer": "x"})
    assert "fill-mask" in pipeline_tasks("bert", ["BertForMaskedLM"], {"tokenizer": "x"})


def test_tokenizer_fallback_names_the_class_autotokenizer_would_load(registry):
    assert spec_for("llama").tokenizer is None  # Transformers 5 maps none
    assert registry["llama"].preprocessing == {"tokenizer": "LlamaTokenizer"}
    assert tokenizer_fallback({}, {"causal_lm": ()}, "NoSuchThingConfig") == {
        "tokenizer": "TokenizersBackend"
    }
    # a mapped kind, or no text-model class: unchanged
    assert tokenizer_fallback({"image_processor": "X"}, {"causal_lm": ()}, "LlamaConfig") == {
        "image_processor": "X"
    }
    assert tokenizer_fallback({}, {"image_classification": ()}, "LlamaConfig") == {}


def test_torchvision_only_classes_stay_listed_as_a_named_skip(registry):
    tv = [s for s in registry.testable() if spec_for(s.model_type).torchvision_only]
    assert tv
    for s in tv[:10]:
        spec = spec_for(s.model_type)
        assert set(spec.torchvision_only) <= set(s.preprocessing.values()), s.model_type


def test_a_release_without_tokenizersbackend_skips_every_kind_by_name(monkeypatch):
    """Transformers 4.x fast tokenizers need files and its image processors have no PIL
    backends: the synthesis names the missing feature for every kind instead of failing."""
    from hftestgen import preprocess
    from hftestgen.preprocess.build import synthesize

    assert preprocess.unsupported_release() is None  # 5.x here
    why = "Transformers 4.50.3 has no TokenizersBackend (...)"
    monkeypatch.setattr(preprocess, "unsupported_release", lambda: why)
    prep = synthesize("bert", None, {"tokenizer": "BertTokenizer"})
    assert prep.tokenizer is None and not prep.errors
    assert prep.skipped == {"tokenizer": why}


def test_the_release_gate_is_not_covered_not_unsupported(monkeypatch):
    """On a release the synthesis cannot use, the check is not covered (hftestgen's limit, the
    type incomplete), not an unsupported build of the type."""
    from hftestgen import preprocess
    from hftestgen.checks import pipelines
    from hftestgen.preprocess.build import Preprocessing

    why = "Transformers 4.50.3 has no TokenizersBackend (...)"
    monkeypatch.setattr(preprocess, "unsupported_release", lambda: why)
    prep = Preprocessing("bert", names={"tokenizer": "BertTokenizer"}, skipped={"tokenizer": why})
    with pytest.raises(pytest.skip.Exception) as info:
        pipelines._require(prep, "tokenizer")
    assert str(info.value).startswith("not-covered:")


def test_a_decision_head_reads_a_tokenizers_ids():
    """AUTO_TOKENIZER_FALLBACK covers the decision task: JEV maps no tokenizer, its checkpoints
    ship their text model's tokenizer.json."""
    from hftestgen.preprocess.mapping import tokenizer_fallback

    got = tokenizer_fallback({}, {"decision": ("JevForDecision",)}, "JevConfig")
    assert got == {"tokenizer": "TokenizersBackend"}
