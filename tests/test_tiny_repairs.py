"""Each named repair of the tiny config engine, alone, on plain kwargs or real config classes.

Every test runs its rule through the table (``REPAIRS[name]``), so removing or renaming a rule
fails its test; ``test_every_repair_has_a_docstring_and_a_test`` keeps the table and the tests
in step.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("transformers")

from hftestgen.tiny import config as tc  # noqa: E402


def run(
    name: str,
    fields: dict,
    kwargs: dict | None = None,
    pinned: dict | None = None,
    default=None,
    cls=object,
    **nested,
) -> dict:
    """Apply the one repair ``name``; returns the kwargs (``nested``: ``parent``, ``slot``)."""
    t = tc.Tiny(cls, dict(fields), dict(kwargs or {}), dict(pinned or {}), default, **nested)
    tc.REPAIRS[name](t)
    return t.kwargs


def run_built(name: str, cfg, pinned: dict | None = None, default=True):
    """Apply the one built-config repair ``name`` to ``cfg``; returns it."""
    t = tc.Tiny(type(cfg), {}, {}, dict(pinned or {}), SimpleNamespace() if default else None)
    tc.BUILT_REPAIRS[name](t, cfg)
    return cfg


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


# ---------------------------------------------------------------------------------------------


def test_chained_channels():
    ins, outs = [32, 16, 24, 40, 80, 112, 192], [16, 24, 40, 80, 112, 192, 320]
    d = SimpleNamespace(in_channels=ins, out_channels=outs)
    kw = run("chained-channels", {"in_channels": ins, "out_channels": outs}, default=d)
    new_in, new_out = kw["in_channels"], kw["out_channels"]
    assert new_in[0] == 32 and max(new_out) <= 32 and all(x % 8 == 0 for x in new_out)
    assert all(new_out[i] == new_in[i + 1] for i in range(len(new_in) - 1))
    # a pinned out list keeps both lists as they are
    assert (
        run(
            "chained-channels",
            {"in_channels": ins, "out_channels": outs},
            pinned={"out_channels": outs},
            default=d,
        )
        == {}
    )


def test_width_multiplier_one():
    d = SimpleNamespace(width_coefficient=2.0, depth_coefficient=0.5)
    kw = run(
        "width-multiplier-one", {"width_coefficient": 2.0, "depth_coefficient": 0.5}, default=d
    )
    assert kw == {"width_coefficient": 1.0}


def test_neck_levels():
    d = SimpleNamespace(neck_hidden_sizes=[96, 192, 384, 768])
    fields = {"neck_hidden_sizes": None, "backbone_out_indices": None, "num_hidden_layers": 12}
    kw = run("neck-levels", fields, {"num_hidden_layers": 2}, default=d)
    assert kw == {"num_hidden_layers": 4, "backbone_out_indices": [0, 1, 2, 3]}


def test_heads_divide_hidden():
    kw = run("heads-divide-hidden", {"hidden_size": 30, "num_attention_heads": 4})
    assert kw == {"num_attention_heads": 2}
    assert (
        run(
            "heads-divide-hidden",
            {"hidden_size": 30, "num_attention_heads": 4},
            pinned={"num_attention_heads": 4},
        )
        == {}
    )


def test_kv_heads_divide_heads():
    fields = {"num_attention_heads": 4, "num_key_value_heads": 3}
    assert run("kv-heads-divide-heads", fields) == {"num_key_value_heads": 2}
    # multi-head by default (kv heads == heads) stays multi-head at the tiny head count
    d = SimpleNamespace(num_attention_heads=16, num_key_value_heads=16)
    assert run(
        "kv-heads-divide-heads",
        {"num_attention_heads": 16, "num_key_value_heads": 16},
        {"num_attention_heads": 4},
        default=d,
    ) == {"num_attention_heads": 4, "num_key_value_heads": 4}


def test_ssm_heads_fill_inner():
    fields = {"hidden_size": 32, "expand": 2, "num_heads": 128, "head_dim": 64, "n_groups": 8}
    kw = run("ssm-heads-fill-inner", fields)
    assert kw["num_heads"] * kw["head_dim"] == 64 and kw["n_groups"] == 1


def test_codec_starts_narrow():
    fields = {"downsampling_ratios": [2, 4, 5, 8], "encoder_hidden_size": 64, "num_filters": 32}
    assert run("codec-starts-narrow", fields) == {"encoder_hidden_size": 4, "num_filters": 4}
    assert run("codec-starts-narrow", {"encoder_hidden_size": 64}) == {}  # no codec


def test_head_dim_follows_heads():
    kw = run(
        "head-dim-follows-heads", {"hidden_size": 32, "num_attention_heads": 4, "head_dim": 128}
    )
    assert kw == {"head_dim": 8}
    assert run("head-dim-follows-heads", {"head_dim": 128}) == {
        "head_dim": 8
    }  # no head pair: at most 8


def test_stage_count_follows_depths():
    from transformers import ConvNextConfig  # num_stages, aliased as num_hidden_layers

    fields = {"num_stages": 4, "depths": [3, 3, 9, 3]}
    kw = run(
        "stage-count-follows-depths",
        fields,
        {"num_stages": 2, "depths": [1, 1, 1, 1]},
        cls=ConvNextConfig,
    )
    assert kw == {"depths": [1, 1, 1, 1]}  # back to the default, which equals len(depths)


def test_windows_fit_stages():
    fields = {"window_size": 7, "patch_size": 4, "depths": [2, 2, 6, 2]}
    assert run("windows-fit-stages", fields) == {"patch_size": 2, "window_size": 2}


def test_mrope_sections_fit_head_dim():
    d = SimpleNamespace(rope_parameters={"rope_type": "default", "mrope_section": [16, 24, 24]})
    kw = run(
        "mrope-sections-fit-head-dim",
        {"hidden_size": 32, "num_attention_heads": 4, "rope_parameters": None},
        default=d,
    )
    sec = kw["rope_parameters"]["mrope_section"]
    assert len(sec) == 3 and sum(sec) == 4 and min(sec) >= 1
    # nested tables (per attention kind); a head too narrow for 3 sections is widened
    nested = {"full": {"mrope_section": [16, 24, 24]}, "sliding": {"rope_type": "default"}}
    kw = run(
        "mrope-sections-fit-head-dim",
        {"hidden_size": 32, "num_attention_heads": 8, "head_dim": 4, "rope_parameters": None},
        default=SimpleNamespace(rope_parameters=nested),
    )
    assert kw["head_dim"] == 16 and sum(kw["rope_parameters"]["full"]["mrope_section"]) == 8
    assert kw["rope_parameters"]["sliding"] == {"rope_type": "default"}


def test_d_kv_follows_heads():
    assert run("d-kv-follows-heads", {"d_model": 32, "num_heads": 4, "d_kv": 64}) == {"d_kv": 8}


def test_hybrid_keeps_each_kind():
    d = SimpleNamespace(num_hidden_layers=8, layer_types=["conv", "attention", "mamba", "conv"] * 2)
    kw = run(
        "hybrid-keeps-each-kind",
        {"num_hidden_layers": 8, "layer_types": None},
        {"num_hidden_layers": 2},
        default=d,
    )
    assert kw["num_hidden_layers"] == 3


def test_per_layer_lists():
    d = SimpleNamespace(
        num_hidden_layers=8,
        layer_types=["conv", "conv", "full_attention", "conv"] * 2,
        mlp_only_layers=[3, 7],
    )
    fields = {"num_hidden_layers": 8, "layer_types": None, "mlp_only_layers": None}
    kw = run("per-layer-lists", fields, {"num_hidden_layers": 2}, default=d)
    assert kw["layer_types"] == ["conv", "full_attention"]
    assert kw["mlp_only_layers"] == [1]  # no index < 2 left: the last layer


def test_token_ids_in_vocab():
    fields = {
        "vocab_size": 99,
        "pad_token_id": 0,
        "eos_token_id": [2, 50256],
        "image_token_id": 32000,
        "video_token_id": None,
    }
    kw = run("token-ids-in-vocab", fields)
    ids = [kw["image_token_id"], kw["video_token_id"], *kw["eos_token_id"]]
    assert all(0 <= i < 99 for i in ids) and len(set(ids)) == 4
    assert "pad_token_id" not in kw  # already valid: untouched


def test_codebook_codes_in_codebook():
    # CSM: the pad code is the last of the codebook (2050 of 2051, codebook_size aliases
    # vocab_size); the tiny codebook of 99 left it at 2050, embedded out of range
    from transformers import CsmConfig

    fields = {"vocab_size": 2051, "codebook_pad_token_id": 2050, "codebook_eos_token_id": 0}
    default = SimpleNamespace(vocab_size=2051)
    kw = run(
        "codebook-codes-in-codebook", fields, {"vocab_size": 99}, default=default, cls=CsmConfig
    )
    assert kw["codebook_pad_token_id"] == 98  # still the last code
    assert "codebook_eos_token_id" not in kw  # already inside: untouched
    pinned = run(
        "codebook-codes-in-codebook",
        fields,
        {"vocab_size": 99},
        pinned={"codebook_pad_token_id": 7},
        default=default,
        cls=CsmConfig,
    )
    assert "codebook_pad_token_id" not in pinned


def test_backbone_out_indices_in_range():
    d = SimpleNamespace(backbone_out_indices=[2, 5, 8, 11])
    fields = {"backbone_out_indices": None, "num_hidden_layers": 12}
    kw = run("backbone-out-indices-in-range", fields, {"num_hidden_layers": 2}, default=d)
    assert kw == {"num_hidden_layers": 4, "backbone_out_indices": [0, 1, 2, 3]}


def test_out_indices_in_range():
    d = SimpleNamespace(out_indices=[3, 5, 7, 11])
    fields = {"_out_indices": None, "_out_features": None, "num_hidden_layers": 12}
    kw = run(
        "out-indices-in-range",
        fields,
        {"num_hidden_layers": 2, "_out_features": ["stage3"]},
        default=d,
    )
    assert kw == {"num_hidden_layers": 4, "out_indices": [1, 2, 3, 4]}


def test_sliding_window_set():
    cfg = SimpleNamespace(sliding_window=None, layer_types=["sliding_attention", "full_attention"])
    assert run_built("sliding-window-set", cfg).sliding_window == 16
    cfg = SimpleNamespace(sliding_window=None, layer_types=["full_attention"])
    assert run_built("sliding-window-set", cfg).sliding_window is None


def test_derived_head_fields_set():
    @dataclasses.dataclass
    class Cfg:
        hidden_size: int = 32
        num_attention_heads: int = 4
        head_dim: int | None = None
        num_key_value_heads: int | None = None

    cfg = run_built("derived-head-fields-set", Cfg())
    assert (cfg.head_dim, cfg.num_key_value_heads) == (8, 4)
    assert run_built("derived-head-fields-set", Cfg(), pinned={"head_dim": None}).head_dim is None


# --------------------------------------------------------------------------------------------- rules
# that replaced pins copied across records


def _config(**kw):
    from transformers import PretrainedConfig

    return PretrainedConfig(**kw)


def test_backbone_reports_stage_widths():
    fields = {"hidden_sizes": [256, 512, 1024, 2048], "stage_out_channels": [128, 512, 1024, 2048]}
    kwargs = {"hidden_sizes": [32] * 4, "stage_out_channels": [8, 8, 16, 32]}
    hybrid = tc.Tiny(object, {"encoder_in_channels": [512, 1024, 2048]})
    kw = run("backbone-reports-stage-widths", fields, kwargs, parent=hybrid, slot="backbone_config")
    assert kw["hidden_sizes"] == [8, 8, 16, 32]
    # a parent that does not project the maps by the reported widths: unchanged
    other = tc.Tiny(object, {"backbone_config": None})
    kw = run("backbone-reports-stage-widths", fields, kwargs, parent=other, slot="backbone_config")
    assert kw["hidden_sizes"] == [32] * 4


def test_encoder_in_channels_follow_backbone():
    fields = {"encoder_in_channels": [512, 1024, 2048]}
    bb = _config(hidden_sizes=[8, 16, 24, 32], out_indices=[2, 3, 4])
    kw = run("encoder-in-channels-follow-backbone", fields, {"backbone_config": bb})
    assert kw["encoder_in_channels"] == [16, 24, 32]
    # more maps than the encoder reads (a mask feature first): the last k
    bb = _config(hidden_sizes=[8, 16, 24, 32], out_indices=[1, 2, 3, 4])
    kw = run("encoder-in-channels-follow-backbone", fields, {"backbone_config": bb})
    assert kw["encoder_in_channels"] == [16, 24, 32]


def test_decoder_in_channels_follow_encoder():
    fields = {"decoder_in_channels": [256, 256, 256], "encoder_hidden_dim": 256}
    kw = run("decoder-in-channels-follow-encoder", fields, {"encoder_hidden_dim": 32})
    assert kw["decoder_in_channels"] == [32, 32, 32]
    fields["decoder_in_channels"] = [128, 256, 512]  # not tied by default: left alone
    assert "decoder_in_channels" not in run("decoder-in-channels-follow-encoder", fields)


def test_rt_detr_like_hybrid_encoder_follows_its_backbone():
    from transformers import DFineConfig

    c = _quiet(tc.tiny_config, DFineConfig)
    bb = c.backbone_config
    assert bb.hidden_sizes == bb.stage_out_channels
    assert c.encoder_in_channels == [bb.hidden_sizes[i - 1] for i in bb.out_indices]
    assert c.decoder_in_channels == [c.encoder_hidden_dim] * len(c.decoder_in_channels)


def test_time_features_at_least_one():
    assert run("time-features-at-least-one", {"num_time_features": 0}) == {"num_time_features": 1}
    assert run("time-features-at-least-one", {"num_time_features": 3}) == {}


def test_backbone_config_excludes_named_backbone():
    fields = {
        "backbone": "resnet50",
        "use_timm_backbone": True,
        "backbone_kwargs": None,
        "use_pretrained_backbone": True,
        "backbone_config": None,
    }
    kw = run("backbone-config-excludes-named-backbone", fields, {}, {"backbone_config": {}})
    assert kw == {"backbone": None, "use_timm_backbone": False, "use_pretrained_backbone": False}
    # no backbone config: the named (timm) backbone stays
    assert run("backbone-config-excludes-named-backbone", fields) == {}
    # a pinned name is the user's choice
    pinned = {"backbone_config": {}, "backbone": "x"}
    assert "backbone" not in run("backbone-config-excludes-named-backbone", fields, {}, pinned)


def test_pytorch_kernels_on_cpu():
    # Transformers 4.x Zamba / Jamba raise on CPU with use_mamba_kernels=True (the default)
    assert run("pytorch-kernels-on-cpu", {"use_mamba_kernels": True}) == {
        "use_mamba_kernels": False
    }
    assert run("pytorch-kernels-on-cpu", {"use_mamba_kernels": False}) == {}
    # a pin is the user's choice
    pinned = {"use_mamba_kernels": True}
    assert run("pytorch-kernels-on-cpu", {"use_mamba_kernels": True}, {}, pinned) == {}


def test_codebook_dim_follows_hidden():
    fields = {"codebook_dim": 512, "hidden_size": 512}
    kw = run("codebook-dim-follows-hidden", fields, {"hidden_size": 32})
    assert kw["codebook_dim"] == 32
    fields = {"codebook_dim": 256, "hidden_size": 512}  # projected (Mimi): left alone
    assert "codebook_dim" not in run("codebook-dim-follows-hidden", fields, {"hidden_size": 32})


def test_post_conv_follows_encoder_output():
    fields = {"output_channels": 256, "post_conv_in_channels": 256}
    kw = run("post-conv-follows-encoder-output", fields, {"output_channels": 32})
    assert kw["post_conv_in_channels"] == 32
    # the encoder is the vision sub-config
    d = SimpleNamespace(vision_config=SimpleNamespace(output_channels=256))
    kw = run(
        "post-conv-follows-encoder-output",
        {"post_conv_in_channels": 256, "vision_config": None},
        {"vision_config": _config(output_channels=32)},
        default=d,
    )
    assert kw["post_conv_in_channels"] == 32


def test_stage_widths_double_from_hidden():
    d = SimpleNamespace(embed_dim_per_stage=[96, 192, 384, 768], hidden_size=96)
    fields = {"embed_dim_per_stage": None, "hidden_size": 96}
    kw = run("stage-widths-double-from-hidden", fields, pinned={"hidden_size": 16}, default=d)
    assert kw["embed_dim_per_stage"] == [16, 32, 64, 128]


def test_neck_channels_follow_backbone_stages():
    d = SimpleNamespace(
        backbone_channel_list=[768, 384, 192, 96],
        backbone_config=SimpleNamespace(embed_dim_per_stage=[96, 192, 384, 768]),
    )
    bb = _config(embed_dim_per_stage=[16, 32, 64, 128])
    kw = run(
        "neck-channels-follow-backbone-stages",
        {"backbone_channel_list": None, "backbone_config": None},
        {"backbone_config": bb},
        default=d,
    )
    assert kw["backbone_channel_list"] == [128, 64, 32, 16]


def test_hiera_neck_follows_its_stage_widths():
    from transformers import Sam2VisionConfig

    c = _quiet(tc.tiny_config, Sam2VisionConfig, {"backbone_config": {"hidden_size": 16}})
    assert c.backbone_config.embed_dim_per_stage == [16, 32, 64, 128]
    assert c.backbone_channel_list == [128, 64, 32, 16]


def test_keypoint_head_width_is_not_a_size():
    # 8*8 pixel cells + 1 dustbin (SuperPoint): never shrunk as a size
    from transformers import SuperPointConfig

    assert tc._generic_shrink("keypoint_decoder_dim", 65) == 65
    c = _quiet(tc.tiny_config, SuperPointConfig)
    assert c.keypoint_decoder_dim == 65 and c.descriptor_decoder_dim == 32


# ---------------------------------------------------------------------------------------------


def test_every_repair_has_a_docstring_and_a_test():
    for name, fn in {**tc.REPAIRS, **tc.BUILT_REPAIRS}.items():
        assert (fn.__doc__ or "").strip(), f"repair {name!r} has no docstring stating its rule"
    tested = set(re.findall(r"\brun(?:_built)?\(\s*\"([a-z0-9-]+)\"", Path(__file__).read_text()))
    missing = (set(tc.REPAIRS) | set(tc.BUILT_REPAIRS)) - tested
    assert not missing, f"repairs without a test in this file: {sorted(missing)}"


@pytest.mark.parametrize(
    ("config_class", "image_field"),
    [
        ("AyaVisionConfig", "image_token_index"),  # image 255036 and text eos 255001
        ("ModernVBertConfig", "image_token_id"),  # image 50407 and text pad 50283
        ("Qwen2VLConfig", "image_token_id"),
    ],
)
def test_composite_ids_take_no_id_a_sub_config_holds(config_class, image_field):
    """SHARED_ID_SPACE: the composite's out-of-vocabulary image id moved into the tiny vocabulary
    lands on none of the text config's special ids (it landed on the text pad / eos, one level
    at a time, and the processor's placeholders tokenized as that special token)."""
    import transformers

    cfg = tc.tiny_config(getattr(transformers, config_class))
    text = cfg.get_text_config()
    specials = {
        getattr(text, n, None) for n in ("pad_token_id", "bos_token_id", "eos_token_id")
    } - {None}
    image = getattr(cfg, image_field)
    assert 0 <= image < text.vocab_size
    assert image not in specials, (image, specials)


def test_an_id_both_levels_had_moves_to_one_tiny_id():
    """SHARED_ID_SPACE on plain dicts: the sub-config moved 500 -> 97 and holds 97 and 98; the
    composite's 500 moves to 97 too, its 600 to an id neither level holds."""
    kwargs: dict = {}
    fields = {"eos_token_id": 500, "image_token_id": 600}
    tc.fix_token_ids(fields, kwargs, {}, 99, None, ({500: 97}, {97, 98}))
    assert kwargs["eos_token_id"] == 97
    assert kwargs["image_token_id"] not in (97, 98) and 0 <= kwargs["image_token_id"] < 99
    # without the sub-config's ids (the old rule) both would start at the top: 98
    kwargs = {}
    tc.fix_token_ids(fields, kwargs, {}, 99, None)
    assert 98 in kwargs.values()
