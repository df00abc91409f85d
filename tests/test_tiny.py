"""Tiny engine: config synthesis, invariant repair, inputs per modality, size guard, determinism."""

from __future__ import annotations

import inspect
import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hftestgen.tiny import CATEGORIES, TinyError, build  # noqa: E402
from hftestgen.tiny import config as tc  # noqa: E402


def forward(built, **kw):
    with torch.no_grad():
        return built.model(**built.inputs(**kw))


# ---------------------------------------------------------------- invariant repair


def _fields(**kw):
    return dict(kw)


def test_heads_divide_hidden_size():
    fields = _fields(hidden_size=30, num_attention_heads=4, num_key_value_heads=3)
    kwargs: dict = {}
    tc.repair_kwargs(object, fields, kwargs, {}, None)
    assert 30 % kwargs["num_attention_heads"] == 0
    kv = kwargs.get("num_key_value_heads", 3)
    assert kwargs["num_attention_heads"] % kv == 0


def test_head_dim_follows_hidden_and_heads():
    fields = _fields(hidden_size=32, num_attention_heads=4, head_dim=128)
    kwargs: dict = {}
    tc.repair_kwargs(object, fields, kwargs, {}, None)
    assert kwargs["head_dim"] == 8


def test_pinned_values_are_not_repaired():
    fields = _fields(hidden_size=30, num_attention_heads=4)
    kwargs: dict = {}
    tc.repair_kwargs(object, fields, kwargs, {"num_attention_heads": 4}, None)
    assert "num_attention_heads" not in kwargs


def test_special_token_ids_move_inside_vocab_and_stay_distinct():
    fields = _fields(
        vocab_size=99,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=[2, 50256],
        image_token_id=32000,
        video_token_id=32001,
    )
    kwargs: dict = {}
    tc.repair_kwargs(object, fields, kwargs, {}, None)
    ids = [kwargs["image_token_id"], kwargs["video_token_id"], *kwargs["eos_token_id"]]
    assert all(0 <= i < 99 for i in ids)
    assert len({kwargs["image_token_id"], kwargs["video_token_id"], 0, 1, 2}) == 5
    assert "pad_token_id" not in kwargs  # already valid: untouched


def test_per_layer_lists_follow_the_layer_count_and_keep_each_kind():
    class Default:
        num_hidden_layers = 8
        layer_types = ["conv", "conv", "full_attention", "conv"] * 2
        mlp_only_layers = [3, 7]

    fields = _fields(num_hidden_layers=8, layer_types=None, mlp_only_layers=None)
    kwargs = {"num_hidden_layers": 2}
    tc.repair_kwargs(object, fields, kwargs, {}, Default())
    assert len(kwargs["layer_types"]) == kwargs["num_hidden_layers"]
    assert set(kwargs["layer_types"]) == {"conv", "full_attention"}
    assert all(i < kwargs["num_hidden_layers"] for i in kwargs["mlp_only_layers"])


def test_mrope_sections_sum_to_half_head_dim():
    class Default:
        rope_parameters = {"rope_type": "default", "mrope_section": [16, 24, 24]}

    fields = _fields(hidden_size=32, num_attention_heads=4, rope_parameters=None)
    kwargs: dict = {}
    tc.repair_kwargs(object, fields, kwargs, {}, Default())
    sec = kwargs["rope_parameters"]["mrope_section"]
    assert len(sec) == 3 and sum(sec) == 4 and min(sec) >= 1


def test_mrope_sections_filled_into_a_4x_rope_scaling_field():
    """Transformers 4.x configs hold the rope table in ``rope_scaling`` (default None) and
    accept ``mrope_section`` by passing it to ``rope_config_validation`` in ``__init__``
    (Qwen2VLTextConfig); the text model indexes ``rope_scaling["mrope_section"]``."""

    class Cfg4x:  # no ignore_keys_at_rope_validation: a 4.x config class
        def __init__(self, rope_scaling=None):
            self.rope_scaling = rope_scaling
            ignore_keys = {"mrope_section"}  # as rope_config_validation(self, ignore_keys=...)
            del ignore_keys

    class Default:
        rope_scaling = None

    fields = _fields(hidden_size=32, num_attention_heads=4, rope_scaling=None, rope_theta=1e4)
    kwargs: dict = {}
    tc.repair_kwargs(Cfg4x, fields, kwargs, {}, Default())
    rp = kwargs["rope_scaling"]
    assert rp["rope_type"] == "default" and "rope_theta" not in rp  # 4.x: rope_theta is a field
    assert sum(rp["mrope_section"]) == 4 and min(rp["mrope_section"]) >= 1
    plain: dict = {}  # a 4.x config that does not take sections keeps its rope_scaling

    class Plain4x:
        def __init__(self, rope_scaling=None):
            self.rope_scaling = rope_scaling

    tc.repair_kwargs(Plain4x, fields, plain, {}, Default())
    assert "rope_scaling" not in plain


def test_mamba2_heads_times_head_dim_equals_inner_size():
    fields = _fields(hidden_size=32, expand=2, num_heads=128, head_dim=64, n_groups=8)
    kwargs: dict = {}
    tc.repair_kwargs(object, fields, kwargs, {}, None)
    assert kwargs["num_heads"] * kwargs["head_dim"] == 64


def test_tiny_config_shrinks_top_level_and_nested_configs():
    from transformers import LlamaConfig, LlavaConfig

    c = tc.tiny_config(LlamaConfig)
    assert (c.hidden_size, c.num_hidden_layers, c.vocab_size) == (32, 2, 99)
    assert c.hidden_size % c.num_attention_heads == 0
    assert c.num_attention_heads % c.num_key_value_heads == 0
    lc = tc.tiny_config(LlavaConfig)
    assert lc.text_config.hidden_size == 32 and lc.vision_config.hidden_size == 32
    assert lc.vision_config.image_size <= 32
    assert 0 <= lc.image_token_id < lc.text_config.vocab_size


def test_tiny_config_fills_required_fields():
    from transformers import TimeSeriesTransformerConfig

    c = tc.tiny_config(TimeSeriesTransformerConfig)
    assert c.prediction_length and c.prediction_length > 0


def test_user_tiny_overrides_win():
    b = build("gpt2", "GPT2Model", tiny={"n_layer": 1})
    assert b.config.n_layer == 1
    assert len(b.model.h) == 1


def test_per_type_knowledge_is_data_not_code():
    from hftestgen.tiny import engine, inputs

    src = "".join(inspect.getsource(m) for m in (tc, engine, inputs))
    assert not re.search(r"model_type\s*==\s*['\"]", src)  # per-type knowledge is data, not code


# ---------------------------------------------------------------- API, inputs per modality


def test_build_api_text_encoder():
    b = build("bert", "BertForSequenceClassification")
    assert not b.model.training
    assert next(b.model.parameters()).device.type == "cpu"
    assert b.task == "sequence_classification"
    assert b.n_params < 1_000_000
    inp = b.inputs(batch_size=3)
    assert inp["input_ids"].shape == inp["attention_mask"].shape == (3, inp["input_ids"].shape[1])
    assert "token_type_ids" in inp
    assert int(inp["attention_mask"].sum()) < inp["attention_mask"].numel()  # some padding
    lab = b.inputs(labels=True)
    assert lab["labels"].shape == (2,)
    out = forward(b, labels=True)
    assert out.loss is not None


def test_inputs_decoder_causal_lm_labels():
    b = build("gpt2", "GPT2LMHeadModel")
    assert b.task == "causal_lm"
    inp = b.inputs(labels=True)
    assert inp["labels"].shape == inp["input_ids"].shape
    assert forward(b, labels=True).loss is not None


def test_inputs_question_answering_and_multiple_choice():
    qa = build("bert", "BertForQuestionAnswering").inputs(labels=True)
    assert qa["start_positions"].shape == qa["end_positions"].shape == (2,)
    mc = build("bert", "BertForMultipleChoice")
    inp = mc.inputs(labels=True)
    assert inp["input_ids"].dim() == 3 and inp["labels"].shape == (2,)
    forward(mc, labels=True)


def test_inputs_encoder_decoder():
    b = build("t5", "T5ForConditionalGeneration")
    inp = b.inputs(labels=True)
    assert inp["decoder_input_ids"].shape[0] == 2 and inp["labels"].shape[0] == 2
    assert forward(b, labels=True).loss is not None


def test_inputs_vision():
    b = build("vit", "ViTForImageClassification")
    px = b.inputs()["pixel_values"]
    vc = b.config
    assert px.shape == (2, vc.num_channels, vc.image_size, vc.image_size)
    assert forward(b, labels=True).loss is not None


def test_inputs_audio_raw_and_features():
    w2v = build("wav2vec2", "Wav2Vec2ForCTC")
    iv = w2v.inputs()["input_values"]
    assert iv.dim() == 2 and iv.shape[0] == 2
    assert forward(w2v, labels=True).loss is not None
    wh = build("whisper", "WhisperForConditionalGeneration")
    feats = wh.inputs()["input_features"]
    assert feats.shape == (2, wh.config.num_mel_bins, 2 * wh.config.max_source_positions)
    assert forward(wh, labels=True).loss is not None


def test_inputs_time_series():
    b = build("patchtst", "PatchTSTForClassification")
    pv = b.inputs()["past_values"]
    assert pv.shape == (2, b.config.context_length, b.config.num_input_channels)
    forward(b)


def test_inputs_multimodal_placeholder_tokens_match_vision_tower():
    b = build("llava", "LlavaForConditionalGeneration")
    inp = b.inputs()
    n_img = int((inp["input_ids"][0] == b.config.image_token_id).sum())
    vc = b.config.vision_config
    patches = (vc.image_size // vc.patch_size) ** 2
    assert n_img in (patches, patches + 1)
    out = forward(b, labels=True)
    assert out.loss is not None
    clip = build("clip", "CLIPModel")
    ci = clip.inputs()
    assert {"input_ids", "pixel_values"} <= set(ci)
    forward(clip)


# ---------------------------------------------------------------- guard, errors, determinism


def test_size_guard_raises_too_big():
    with pytest.raises(TinyError) as ei:
        build("bert", "BertModel", max_params=1000)
    assert ei.value.category == "too-big"
    with pytest.raises(TinyError) as ei:
        build("gpt2", "GPT2Model", tiny={"n_embd": 2048, "n_layer": 4})
    assert ei.value.category == "too-big"


def test_error_categories():
    assert set(CATEGORIES) == {
        "missing-package",
        "config-invariant",
        "input-synthesis",
        "upstream-bug",
        "too-big",
        "timeout",
        "unsupported",
        "registry-mismatch",
    }
    with pytest.raises(TinyError) as ei:
        build("bert", "GPT2Model")
    assert ei.value.category == "registry-mismatch"
    with pytest.raises(ValueError):
        TinyError("nonsense", "x")


def test_timm_types_report_missing_package():
    with pytest.raises(TinyError) as ei:
        build("timm_wrapper", "TimmWrapperModel")
    assert ei.value.category == "missing-package"
    assert "timm (needs torchvision, not installable with torch 2.13.0 CPU)" in ei.value.message


def test_determinism_same_seed_same_weights_and_inputs():
    a = build("gpt2", "GPT2LMHeadModel", seed=3)
    b = build("gpt2", "GPT2LMHeadModel", seed=3)
    c = build("gpt2", "GPT2LMHeadModel", seed=4)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())
    i1, i2, i3 = a.inputs(seed=5, labels=True), a.inputs(seed=5, labels=True), a.inputs(seed=6)
    assert i1.keys() == i2.keys()
    assert all(torch.equal(i1[k], i2[k]) for k in i1)
    assert not torch.equal(i1["input_ids"], i3["input_ids"])
    la, lb = forward(a, seed=5).logits, forward(b, seed=5).logits
    assert torch.equal(la, lb)


def test_shape_expressions_are_evaluated_without_eval():
    import torch
    from transformers import BertConfig

    from hftestgen.tiny.inputs import safe_eval

    ns = {"B": 2, "cfg": BertConfig(hidden_size=32), "out": {"input_ids": torch.zeros(2, 7)}}
    assert safe_eval("2*B", ns) == 4
    assert safe_eval("2+cfg.hidden_size//4", ns) == 10
    assert safe_eval("out['input_ids'].shape[-1]", ns) == 7
    assert safe_eval("B*(2*2)**2", ns) == 32
    for bad in (
        '__import__("os")',
        "cfg.__class__",
        "cfg.to_dict",
        "(1).__class__",
        "9**99999",
        "open",
        "[1][0]",
    ):
        with pytest.raises(TinyError):
            safe_eval(bad, ns)


def test_subconfig_keeps_flags_the_parent_default_set():
    # DPT/ZoeDepth-style parents set flags on their default backbone that the class default lacks
    b = build("upernet", "UperNetForSemanticSegmentation")
    out = b.model(**b.inputs())
    assert out.logits.shape[0] == 2


def test_multi_label_vqa_labels_follow_num_labels():
    b = build("vilt", "ViltForQuestionAnswering")
    x = b.inputs(labels=True)
    assert tuple(x["labels"].shape) == (2, b.config.num_labels)
    assert x["labels"].dtype.is_floating_point
    assert b.model(**x).loss is not None


def test_packed_pixels_knob():
    b = build("minicpm_ocr_vision", "MiniCPMOcrVisionModel")
    x = b.inputs()
    assert x["pixel_values"].shape[0] == 1 and x["target_sizes"].shape[0] == 2
    b.model(**x)


def test_label_extra_knob_only_in_labelled_inputs():
    b = build("bert", "BertForSequenceClassification")
    b.input_knobs["label_extra"] = {"extra_label": {"shape": ["B"], "dtype": "long", "high": 2}}
    assert "extra_label" not in b.inputs()
    assert b.inputs(labels=True)["extra_label"].shape == (2,)


def test_pinned_seq_len_is_not_clamped_to_the_position_table():
    b = build("bert", "BertModel", tiny={"max_position_embeddings": 16})
    assert b.inputs(batch_size=1)["input_ids"].shape[-1] <= 14  # general rule: room for offsets
    b.input_knobs["seq_len"] = 16
    assert (
        b.inputs(batch_size=1)["input_ids"].shape[-1] == 16
    )  # the type's data knows its length rules


def test_decoder_only_seq2seq_task_labels_follow_input_ids():
    # an audio LLM registered for seq2seq tasks has no decoder: labels follow the text sequence
    b = build("voxtral", "VoxtralForConditionalGeneration")
    x = b.inputs(labels=True)
    assert x["labels"].shape == x["input_ids"].shape
    assert b.model(**x).loss is not None


def test_encoder_decoder_token_classification_labels_follow_the_decoder():
    b = build("t5gemma", "T5GemmaForTokenClassification")
    x = b.inputs(labels=True)
    assert x["labels"].shape == x["decoder_input_ids"].shape
    assert b.model(**x).loss is not None


def test_label_extra_replaces_labels_from_data():
    b = build("lxmert", "LxmertForQuestionAnswering")
    assert "labels" not in b.inputs()
    x = b.inputs(labels=True)
    assert tuple(x["labels"].shape) == (2,)
    assert int(x["labels"].max()) < b.config.num_qa_labels


def test_encoder_decoder_gets_a_decoder_start_token():
    b = build("encoder-decoder", "EncoderDecoderModel")
    assert b.config.decoder_start_token_id is not None
    assert b.model.generation_config.decoder_start_token_id == b.config.decoder_start_token_id


def test_extra_fields_knob_nests_a_dict_or_the_annotated_dataclass():
    b = build("bert", "BertModel")
    b.input_knobs["extra"] = {
        "bundle": {
            "fields": {
                "a": {"shape": ["B", 3]},
                "m": {"shape": ["B"], "dtype": "bool", "fill": True},
            }
        }
    }
    x = b.inputs()["bundle"]  # no such forward parameter: a plain dict of the field tensors
    assert isinstance(x, dict) and x["a"].shape == (2, 3) and bool(x["m"].all())
    # ESMFold2 annotates atom_inputs with the EsmFold2AtomInputs dataclass: its data builds one
    b = build("esmfold2", "EsmFold2Model")
    x = b.inputs()
    ai = x["atom_inputs"]
    assert (
        type(ai).__name__ == "EsmFold2AtomInputs"
        and ai.atom_to_token.shape == ai.atom_attention_mask.shape
    )
    assert b.model(**x).distogram_logits.shape[:3] == (2, 7, 7)


def test_missing_package_is_carried_as_data_and_survives_pickling():
    import pickle

    e = TinyError.missing("timm")
    assert (e.category, e.package, e.message) == ("missing-package", "timm", "needs timm")
    again = pickle.loads(pickle.dumps(e))  # survey workers send errors between processes
    assert (again.category, again.package, again.message) == (e.category, e.package, e.message)


def test_seed_all_draws_what_torch_manual_seed_draws():
    """seed_all's CPU-only fast path seeds the same generator torch.manual_seed does."""
    import random

    import numpy as np
    import torch

    from hftestgen.tiny.engine import seed_all

    torch.manual_seed(3)
    want = (torch.rand(4), torch.randn(3))
    torch.manual_seed(99)
    seed_all(3)
    got = (torch.rand(4), torch.randn(3))
    assert all(torch.equal(a, b) for a, b in zip(want, got, strict=True))
    seed_all(5)
    r, n = random.random(), np.random.rand()
    seed_all(5)
    assert (random.random(), np.random.rand()) == (r, n)


def test_feature_count_reads_the_features_of_a_features_and_extra_tuple():
    """4.57 VideoLlavaModel.get_video_features returns (video_features, num_frames): the count is
    the features' positions (2 videos x 2 frames x 65 patches). Old behaviour: None (the int had
    no count), so the video placeholders never calibrated and the inputs fell back to
    inputs_embeds (no input_ids for attention_mask_padding / position_sensitivity)."""
    import torch

    from hftestgen.tiny.inputs import _count_features

    assert _count_features((torch.zeros(4, 65, 32), 2)) == 260
    assert _count_features([torch.zeros(2, 3, 8), torch.zeros(1, 3, 8)]) == 9
