"""The registry is derived from the installed Transformers: complete, classified, stable."""

import pytest
from transformers.models.auto import configuration_auto, modeling_auto

from hftestgen.registry import (
    COMPONENT,
    TESTABLE,
    ModelSpec,
    Registry,
    derive_base,
    families,
    identifiers_for,
    load_registry,
)


def test_every_config_type_is_accounted_for(registry):
    installed = set(configuration_auto.CONFIG_MAPPING_NAMES)
    assert installed <= set(registry)
    for spec in registry.values():
        assert spec.family in families.FAMILIES
        if spec.status != TESTABLE:
            assert spec.reason, f"{spec.model_type} is {spec.status} without a reason"


def test_every_auto_mapped_class_is_registered(registry):
    import transformers

    public = set(dir(transformers))
    missing = []
    for attr in dir(modeling_auto):
        if not (attr.startswith("MODEL_") and attr.endswith("_MAPPING")):
            continue
        mapping = getattr(modeling_auto, attr)
        if not hasattr(mapping, "_model_mapping"):
            continue
        for mt, names in mapping._model_mapping.items():
            names = (names,) if isinstance(names, str) else names
            for n in names:
                if n in public and n not in registry[mt].all_classes():
                    missing.append((mt, n))
    assert not missing


def test_scale_matches_installed_transformers(registry):
    testable = [s for s in registry.values() if s.status == TESTABLE]
    assert len(testable) > 700
    mapped = {
        mt
        for attr in dir(modeling_auto)
        if attr.endswith("_MAPPING_NAMES") and attr.startswith("MODEL_")
        for mt in getattr(modeling_auto, attr)
    }
    # Every type in an auto mapping is testable, unless the class it names is not exported.
    for mt in mapped:
        spec = registry[mt]
        assert spec.testable or "does not export" in spec.reason, (mt, spec.reason)


@pytest.mark.parametrize(
    "model_type,family",
    [
        ("bert", families.ENCODER_ONLY),
        ("roberta", families.ENCODER_ONLY),
        ("distilbert", families.ENCODER_ONLY),
        ("gpt2", families.DECODER_ONLY),
        ("llama", families.DECODER_ONLY),
        ("mixtral", families.DECODER_ONLY),
        ("t5", families.ENCODER_DECODER),
        ("bart", families.ENCODER_DECODER),
        ("vit", families.VISION),
        ("detr", families.VISION),
        ("resnet", families.VISION),
        ("donut-swin", families.VISION),
        ("clip", families.MULTIMODAL),
        ("llava", families.MULTIMODAL),
        ("wav2vec2", families.AUDIO),
        ("whisper", families.AUDIO),
        # 'hubert' contains 'bert' but is a speech model: no substring rules.
        ("hubert", families.AUDIO),
        ("patchtst", families.TIME_SERIES),
        ("informer", families.TIME_SERIES),
    ],
)
def test_known_families(registry, model_type, family):
    assert registry[model_type].family == family, registry[model_type].family_reason


def test_component_configs_name_their_parent(registry):
    comps = [s for s in registry.values() if s.status == COMPONENT]
    assert len(comps) > 50
    assert all(s.parents for s in comps)
    assert "sam" in registry["sam_mask_decoder"].parents


def test_naming_convention_classes(registry):
    spec = registry["blip_text_model"]
    assert spec.source == "naming-convention"
    assert spec.classes["base"] == ("BlipTextModel",)


def test_hyphenated_names_get_distinct_identifiers(registry):
    assert registry["donut-swin"].identifier == "donut_swin"
    assert registry["encoder-decoder"].identifier == "encoder_decoder"
    ids = [s.identifier for s in registry.values()]
    assert len(ids) == len(set(ids))
    assert all(i.isidentifier() for i in ids)


def test_identifiers_stay_injective_on_collision():
    ids = identifiers_for(["a-b", "a_b", "a.b", "x"])
    assert ids["a_b"] == "a_b"
    assert ids["x"] == "x"
    assert len(set(ids.values())) == 4
    assert all(v.isidentifier() for v in ids.values())


def test_classify_uses_structure_not_names():
    s = families.Structure(
        tasks=frozenset({"base", "ctc"}),
        sub_configs=frozenset(),
        config_attrs=frozenset({"vocab_size"}),
        is_encoder_decoder=False,
    )
    assert families.classify(s)[0] == families.AUDIO
    s2 = families.Structure(
        tasks=frozenset({"base"}),
        sub_configs=frozenset(),
        config_attrs=frozenset(),
        is_encoder_decoder=False,
        nested_as=frozenset({"audio_config"}),
    )
    assert families.classify(s2)[0] == families.AUDIO


def test_cache_round_trip_equals_fresh_derivation(registry):
    fresh = {d["model_type"]: ModelSpec.from_dict(d) for d in derive_base(["bert", "t5", "sam"])}
    for mt, spec in fresh.items():
        cached = registry[mt]
        assert cached.classes == spec.classes
        assert cached.family == spec.family


def test_plugin_types_are_handled_like_builtins():
    reg = load_registry(plugins=["hftestgen_toy_plugin"])
    spec = reg["hftestgen-toy"]
    assert spec.source == "plugin"
    assert spec.testable
    assert spec.identifier == "hftestgen_toy"
    assert spec.classes == {
        "base": ("ToyModel",),
        "sequence_classification": ("ToyForSequenceClassification",),
    }
    assert spec.family == families.ENCODER_ONLY


def test_registry_resolve_suggests_close_names(registry):
    from hftestgen.errors import UsageError

    with pytest.raises(UsageError, match="Did you mean: gpt2"):
        registry.resolve("gtp2")
    assert registry.resolve("donut_swin").model_type == "donut-swin"
    assert isinstance(registry, Registry)
