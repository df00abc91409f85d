"""Older Transformers: what differs between releases is read by feature detection, and per-type
facts that hold for some releases only carry a PEP 440 range. Each test builds the 4.x shape of an
API with stand-in classes, so it runs under the pinned 5.x too."""

from __future__ import annotations

import types

import pytest
from transformers import PretrainedConfig

from hftestgen.configs import sub_config_slots
from hftestgen.registry.records import RecordError, parse_record, ranges_overlap
from hftestgen.tiny import config as tiny_config

# ---------------------------------------------------------------------------------------------
# records: [[known]] entries per Transformers range


@pytest.mark.parametrize(
    "a, b, overlap",
    [
        ("<5.0", ">=5.0", False),
        ("<5.0", "<4.0", True),
        (">=4.50,<5", ">=5", False),
        ("<=5.0", ">=5.0", True),
        (">4.57.6", "<4.57.7", True),
        ("==4.57.6", ">=5", False),
        ("<4.58", ">=4.57", True),
        (None, "<5", True),
        (">=5.1", "<5.1", False),
    ],
)
def test_ranges_overlap(a, b, overlap):
    assert ranges_overlap(a, b) is overlap
    assert ranges_overlap(b, a) is overlap


ENTRY = """
[[known]]
checks = ["train_step"]
kind = "upstream-bug"
reason = "r{n}"
match = {{ exception = "E{n}", message = "m" }}
{rng}
"""


def test_one_check_may_have_an_entry_per_disjoint_range():
    # the same failure reads differently on 4.x and 5.x (parakeet_ctc): one entry per range
    text = ENTRY.format(n=1, rng='transformers = "<5.0"') + ENTRY.format(
        n=2, rng='transformers = ">=5.0"'
    )
    rec = parse_record("x", "types/x.toml", text)
    assert [k.transformers for k in rec.known] == ["<5.0", ">=5.0"]


@pytest.mark.parametrize("second", ['transformers = ">=4.0"', ""])
def test_overlapping_entries_are_still_refused(second):
    text = ENTRY.format(n=1, rng='transformers = "<5.0"') + ENTRY.format(n=2, rng=second)
    with pytest.raises(RecordError, match="both apply to train_step"):
        parse_record("x", "types/x.toml", text)


# ---------------------------------------------------------------------------------------------
# tiny configs: 4.x composite configs


class _Part(PretrainedConfig):
    model_type = "hftestgen-part"

    def __init__(self, width=4, **kw):
        self.width = width
        super().__init__(**kw)


class _DictOnly(PretrainedConfig):
    """A 4.x composite that takes its sub-config only as a dict (4.57's AlignConfig)."""

    model_type = "hftestgen-dict-only"

    def __init__(self, part=None, depth=1, **kw):
        self.part = _Part(**(part or {}))
        if depth < 1:
            raise ValueError("depth must be at least 1")
        super().__init__(**kw)


def test_4x_fields_include_those_passed_on_to_a_parent_config_class():
    # 4.57's BarkFineConfig.__init__(tie_word_embeddings, n_codes_total, n_codes_given, **kwargs)
    # hands hidden_size, num_layers, ... to BarkSubModelConfig.__init__ (plain classes: a
    # PretrainedConfig subclass is a dataclass under 5.x)
    from hftestgen.configs import field_defaults

    class Base:
        model_type = "hftestgen-base"

        def __init__(self, hidden_size=768, num_layers=12, **kwargs):
            pass

    class Fine(Base):
        def __init__(self, n_codes_total=8, **kwargs):
            super().__init__(**kwargs)

    class Closed(Base):
        def __init__(self, n_codes_total=8):
            super().__init__()

    assert field_defaults(Fine) == {"n_codes_total": 8, "hidden_size": 768, "num_layers": 12}
    assert field_defaults(Closed) == {"n_codes_total": 8}  # hands nothing on


def test_composite_taking_only_dicts_is_built_from_sub_config_dicts():
    cfg = tiny_config._instantiate(_DictOnly, {"part": _Part(width=3)})
    assert isinstance(cfg.part, _Part) and cfg.part.width == 3


def test_a_config_that_fails_both_ways_is_still_a_config_invariant():
    from hftestgen.tiny import TinyError

    with pytest.raises(TinyError, match="config-invariant"):
        tiny_config._instantiate(_DictOnly, {"part": _Part(width=3), "depth": 0})


class _DropsInstances(PretrainedConfig):
    """A 4.x composite that sets its sub-config from a dict or ``None`` only and silently drops
    an instance (4.57's Qwen2VLConfig)."""

    model_type = "hftestgen-drops-instances"

    def __init__(self, part=None, **kw):
        super().__init__(**kw)
        if isinstance(part, dict):
            self.part = _Part(**part)
        elif part is None:
            self.part = _Part()


def test_a_sub_config_instance_the_composite_dropped_is_passed_as_its_dict():
    cfg = tiny_config._instantiate(_DropsInstances, {"part": _Part(width=3)})
    assert isinstance(cfg.part, _Part) and cfg.part.width == 3


def test_a_composite_that_keeps_its_instances_is_built_once():
    part = _Part(width=3)
    cfg = tiny_config._instantiate(_DictOnly, {"part": part})
    assert tiny_config._dropped_sub_configs(cfg, {"part": part}) == []
    assert tiny_config._dropped_sub_configs(_DropsInstances(), {"other": part}) == ["other"]


def _validate_rope(config, ignore_keys=()):
    """Stand-in for 4.x ``rope_config_validation``."""


class _MropeText4x:
    """A 4.x M-RoPE text config (4.57's Qwen2VLTextConfig): ``rope_scaling`` defaults to
    ``None`` while the attention reads ``rope_scaling["mrope_section"]``; the class validates
    the key in ``__init__`` (no ``ignore_keys_at_rope_validation``: a plain class here, as 5.x's
    ``PretrainedConfig`` declares the attribute)."""

    model_type = "hftestgen-mrope-4x"

    def __init__(self, hidden_size=64, num_attention_heads=4, rope_scaling=None, rope_theta=1e4):
        self.hidden_size, self.num_attention_heads = hidden_size, num_attention_heads
        self.rope_scaling, self.rope_theta = rope_scaling, rope_theta
        _validate_rope(self, ignore_keys={"mrope_section"})


class _PlainRope4x:
    model_type = "hftestgen-rope-4x"

    def __init__(self, hidden_size=64, num_attention_heads=4, rope_scaling=None, rope_theta=1e4):
        self.hidden_size, self.num_attention_heads = hidden_size, num_attention_heads
        self.rope_scaling, self.rope_theta = rope_scaling, rope_theta
        _validate_rope(self)


def _mrope_repair(cls) -> dict:
    t = tiny_config.start(cls)
    tiny_config.shrink_fields(t)
    tiny_config.run_repairs(t, ("mrope-sections-fit-head-dim",))
    return t.kwargs


def test_a_4x_mrope_config_without_a_rope_table_gets_sections_fitting_the_tiny_head():
    # hidden 32 / 4 heads: head dim 8, sections summing to 4; 4.x keeps rope_theta a field
    table = _mrope_repair(_MropeText4x)["rope_scaling"]
    assert table == {"rope_type": "default", "mrope_section": [2, 1, 1]}


def test_a_4x_config_that_does_not_validate_mrope_keeps_its_rope_table():
    assert "rope_scaling" not in _mrope_repair(_PlainRope4x)


class _Demanding(PretrainedConfig):
    """A 4.x composite whose defaults do not build (4.52's MusicgenConfig): its slots are only
    declared in ``sub_configs``."""

    model_type = "hftestgen-demanding"
    sub_configs = {"part": _Part}

    def __init__(self, **kw):
        if "part" not in kw:
            raise ValueError("Config has to be initialized with part")
        self.part = _Part(**kw.pop("part"))
        super().__init__(**kw)


def test_declared_sub_configs_are_slots_when_the_defaults_do_not_build():
    assert sub_config_slots(_Demanding, None) == {"part": (None, _Part)}
    # with a default instance, its attributes decide (as before)
    assert sub_config_slots(_Part, _Part()) == {}


def test_a_declared_sub_config_class_is_its_spec():
    assert tiny_config._spec_class(_Part, None) is _Part
    from transformers import AutoConfig

    assert tiny_config._spec_class(AutoConfig, {"model_type": "bert"}) is None  # pinned later


# ---------------------------------------------------------------------------------------------
# checks: what generate passes, and which flag ties embeddings


def test_prefill_kwargs_follow_the_installed_signature(monkeypatch):
    from transformers.generation import utils

    from hftestgen.checks import invariants

    def v4(self, input_ids, past_key_values=None, cache_position=None, **kwargs):
        pass

    def v5(self, input_ids, cache=None, is_first_iteration=False, **kwargs):
        pass

    model = types.SimpleNamespace(prepare_inputs_for_generation=lambda input_ids, **kw: None)
    monkeypatch.setattr(utils.GenerationMixin, "prepare_inputs_for_generation", v4)
    kw = invariants._prefill_step_kwargs(model, True, 3, 7)
    assert set(kw) == {"cache_position"} and kw["cache_position"].tolist() == [3, 4, 5, 6]
    monkeypatch.setattr(utils.GenerationMixin, "prepare_inputs_for_generation", v5)
    assert invariants._prefill_step_kwargs(model, False, 3, 7) == {"is_first_iteration": False}


def test_tie_flag_is_the_text_configs_where_the_library_reads_it(monkeypatch):
    from transformers import PreTrainedModel

    from hftestgen.checks import invariants

    assert invariants._ties_by_text_config() is (
        not hasattr(PreTrainedModel, "get_expanded_tied_weights_keys")
    )
    if hasattr(PreTrainedModel, "get_expanded_tied_weights_keys"):
        monkeypatch.delattr(PreTrainedModel, "get_expanded_tied_weights_keys")
    assert invariants._ties_by_text_config()

    class Text(PretrainedConfig):
        model_type = "hftestgen-text"

    class Composite(PretrainedConfig):
        model_type = "hftestgen-composite"

        def __init__(self, **kw):
            self.text_config = Text(tie_word_embeddings=False)
            super().__init__(tie_word_embeddings=True, **kw)

        def get_text_config(self, decoder=False):
            return self.text_config

    owner = types.SimpleNamespace(config=Composite())
    expected, said = invariants._expected_tie(owner, "", owner)
    assert expected is False and "Text.tie_word_embeddings=False" in said


# ---------------------------------------------------------------------------------------------
# the supported range: declared once, warned about outside it


@pytest.mark.parametrize(
    "version, warns",
    [("4.46.3", True), ("4.50.0", False), ("4.57.6", False), ("5.24.0", False), ("6.0.0", True)],
)
def test_support_warning(version, warns):
    from hftestgen.registry.derive import support_warning

    line = support_warning(version)
    assert (line is not None) is warns
    if warns:
        assert line.startswith("warning: ") and version in line and "\n" not in line


def test_pyproject_declares_the_supported_range():
    import re
    from pathlib import Path

    from hftestgen.registry.derive import SUPPORTED_TRANSFORMERS

    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    models = re.search(r"^models = \[(.*)\]$", text, re.M).group(1)
    assert f'"transformers{SUPPORTED_TRANSFORMERS}"' in models


def test_cli_warns_once_outside_the_range_and_goes_on(monkeypatch, tmp_path):
    import io

    from rich.console import Console

    from hftestgen import cli, registry

    buf = io.StringIO()
    monkeypatch.setattr(cli, "err_console", Console(file=buf, width=400))
    monkeypatch.setattr(cli, "_WARNED", [])
    fake = types.SimpleNamespace(transformers_version="4.46.3")
    monkeypatch.setattr(registry, "load_registry", lambda *a, **k: fake)
    monkeypatch.chdir(tmp_path)
    assert cli._registry(None, None) is fake
    assert cli._registry(None, None) is fake
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1 and "Transformers 4.46.3 is outside" in lines[0]


def test_chunks_get_the_all_ones_mask_where_generate_keeps_it(monkeypatch):
    """4.x ``generate`` keeps an all-ones mask and slices it per chunk (``_prefill_chunking``);
    5.x drops it (``_prefill``): the check follows whichever the installed version has."""
    from transformers.generation import utils

    from hftestgen.checks import invariants

    monkeypatch.setattr(
        utils.GenerationMixin, "_prefill_chunking", lambda self: None, raising=False
    )
    assert invariants._generate_keeps_all_ones_mask() is True
    monkeypatch.delattr(utils.GenerationMixin, "_prefill_chunking")
    assert invariants._generate_keeps_all_ones_mask() is False


def test_config_diff_compares_values_as_saved():
    """A dtype by object or by name, a tuple or a list: the same saved config.json; a changed
    value still differs (4.57 DPTConfig.to_dict keeps the raw dtype, Gemma3nAudioConfig tuples)."""
    import torch

    from hftestgen.checks._checks import _dict_diff

    same = _dict_diff(
        {"dtype": "float32", "k": ((3, 3), (3, 3))}, {"dtype": torch.float32, "k": [[3, 3], [3, 3]]}
    )
    assert same == []
    changed = _dict_diff({"dtype": "float32", "k": (3, 3)}, {"dtype": torch.float16, "k": [3, 4]})
    assert changed == ["dtype: 'float32' -> torch.float16", "k: (3, 3) -> [3, 4]"]


# ---------------------------------------------------------------------------------------------
# model classes: a 4.x config_class copied from the family's base class


class HfgTextConfig(PretrainedConfig):
    model_type = "hftestgen-text"


class HfgQFormerConfig(PretrainedConfig):
    model_type = "hftestgen-qformer"


class HfgConfig(PretrainedConfig):
    model_type = "hftestgen-composite"
    sub_configs = {"text_config": HfgTextConfig, "qformer_config": HfgQFormerConfig}


class HfgPreTrainedModel:
    config_class = HfgConfig


class HfgTextModel(HfgPreTrainedModel):
    config_class = HfgConfig  # 4.57's PreTrainedModel.__init_subclass__ copies the parent's


class HfgQFormerModel(HfgPreTrainedModel):
    config_class = HfgConfig


class HfgOwnModel(HfgPreTrainedModel):
    config_class = HfgTextConfig  # declared: always wins


def test_an_inherited_config_class_gives_way_to_the_sub_config_named_like_the_class():
    from hftestgen.tiny.engine import _own_config_class

    # 4.57's Emu3TextModel: inherits Emu3Config, takes Emu3TextConfig
    assert _own_config_class(HfgTextModel, HfgConfig) is HfgTextConfig
    # 4.57's Blip2QFormerModel under the type blip_2_qformer: the type's config
    assert _own_config_class(HfgQFormerModel, HfgQFormerConfig) is HfgQFormerConfig
    assert _own_config_class(HfgOwnModel, HfgConfig) is HfgTextConfig
    assert _own_config_class(HfgPreTrainedModel, HfgConfig) is HfgConfig


class _Strict(PretrainedConfig):
    """A 4.x sub-config that refuses every kwarg it does not declare (4.57's
    DbrxAttentionConfig)."""

    model_type = "hftestgen-strict"

    def __init__(self, width=4, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        for k in ("model_type", "transformers_version", "dtype"):
            kwargs.pop(k, None)
        if kwargs:
            raise ValueError(f"Found unknown {kwargs=}")


def test_the_regime_label_count_is_dropped_where_a_config_refuses_it():
    cfg = tiny_config.tiny_config(_Strict)
    assert isinstance(cfg, _Strict) and cfg.width == 4


def test_a_pinned_label_count_a_config_refuses_still_fails():
    from hftestgen.tiny import TinyError

    with pytest.raises(TinyError, match="unknown kwargs"):
        tiny_config.tiny_config(_Strict, {"num_labels": 5})


class _Backboned:
    """A 4.x DETR-like config (4.57's DeformableDetrConfig): a timm checkpoint by name by
    default, ``backbone_config`` listed as a sub-config only once set (a plain class: a 5.x
    ``PretrainedConfig`` subclass reads its fields as a dataclass)."""

    model_type = "hftestgen-backboned"

    def __init__(
        self,
        backbone="resnet50",
        use_timm_backbone=True,
        use_pretrained_backbone=True,
        backbone_config=None,
        backbone_kwargs=None,
        **kw,
    ):
        if backbone_config is not None and (backbone is not None or use_timm_backbone):
            raise ValueError("You can't specify both `backbone` and `backbone_config`.")
        self.backbone, self.use_timm_backbone = backbone, use_timm_backbone
        self.use_pretrained_backbone = use_pretrained_backbone
        self.backbone_config, self.backbone_kwargs = backbone_config, backbone_kwargs


def test_a_pinned_backbone_config_is_a_tiny_sub_config_and_replaces_the_named_backbone():
    from transformers import ResNetConfig

    cfg = tiny_config.tiny_config(_Backboned, {"backbone_config": {"model_type": "resnet"}})
    assert isinstance(cfg.backbone_config, ResNetConfig)
    assert max(cfg.backbone_config.hidden_sizes) <= 32  # shrunk as a sub-config
    assert cfg.backbone is None and cfg.use_timm_backbone is False
    assert cfg.use_pretrained_backbone is False


def test_a_named_backbone_without_a_backbone_config_is_left_alone():
    cfg = tiny_config.tiny_config(_Backboned)
    assert cfg.backbone == "resnet50" and cfg.use_timm_backbone is True


def _chunked_prefill_on_fresh_models(registry, model_type, class_name):
    """``checks.chunked_prefill`` with the tiny-model cache emptied before and after (a patched
    forward must not meet a model cached by another test, nor leave one behind)."""
    from hftestgen import checks
    from hftestgen.checks import Case
    from hftestgen.render.files import case_fields

    checks.clear_cache()
    try:
        checks.chunked_prefill(Case(**case_fields(registry[model_type])), class_name)
    finally:
        checks.clear_cache()


def test_forward_chunks_get_their_cache_position_where_the_forward_takes_it(registry, monkeypatch):
    """4.x Mamba-style forwards refuse a cache without ``cache_position`` ("You have to specify
    the `cache_position` manually ..."): chunked_prefill's forward path gives each chunk its
    absolute positions where the forward takes them (old: the second chunk went without, a
    ValueError on 4.57.6 mamba/mamba2/falcon_mamba)."""
    from transformers.models.llama import modeling_llama as m

    orig = m.LlamaModel.forward
    seen = []

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        past_key_values=None,
        use_cache=None,
        cache_position=None,
        output_hidden_states=None,
        **kwargs,
    ):
        if use_cache and past_key_values is not None and cache_position is None:
            raise ValueError("You have to specify the `cache_position` manually")
        seen.append(None if cache_position is None else cache_position.tolist())
        return orig(
            self,
            input_ids=input_ids,
            attention_mask=attention_mask,
            past_key_values=past_key_values,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )

    monkeypatch.setattr(m.LlamaModel, "forward", forward)
    _chunked_prefill_on_fresh_models(registry, "llama", "LlamaModel")
    assert [0, 1, 2] in seen and [3, 4, 5, 6] in seen, seen


def test_a_placed_chunk_gets_the_other_per_position_inputs_whole(registry, monkeypatch):
    """Where the forward places a chunk by ``cache_position`` (4.x), the per-position inputs
    ``generate`` keeps whole go to the later chunk over every position so far: 4.57
    MllamaModel.forward indexes ``cross_attention_mask[:, :, cache_position]`` (old: the check
    cut it to the chunk, an IndexError on 4.57.6 once the chunk got its cache_position)."""
    from transformers.models.mllama import modeling_mllama as m

    orig = m.MllamaModel.forward
    seen = []

    def forward(
        self,
        input_ids=None,
        pixel_values=None,
        aspect_ratio_mask=None,
        aspect_ratio_ids=None,
        attention_mask=None,
        cross_attention_mask=None,
        cache=None,
        use_cache=None,
        cache_position=None,
        **kwargs,
    ):
        if cache_position is not None and cross_attention_mask is not None:
            cross_attention_mask[:, cache_position]  # 4.57.6: IndexError on a cut mask
            seen.append((cross_attention_mask.shape[1], cache_position.tolist()))
        return orig(
            self,
            input_ids=input_ids,
            pixel_values=pixel_values,
            aspect_ratio_mask=aspect_ratio_mask,
            aspect_ratio_ids=aspect_ratio_ids,
            attention_mask=attention_mask,
            cross_attention_mask=cross_attention_mask,
            cache=cache,
            use_cache=use_cache,
            **kwargs,
        )

    monkeypatch.setattr(m.MllamaModel, "forward", forward)
    _chunked_prefill_on_fresh_models(registry, "mllama", "MllamaModel")
    assert len(seen) == 2 and seen[1][0] == seen[1][1][-1] + 1, seen
