"""hftestgen.configs: the one module that reads Transformers configs."""

from __future__ import annotations

import ast
import inspect
import warnings

import pytest

pytest.importorskip("transformers")

from hftestgen import configs as C  # noqa: E402


def _make(cls, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**kw)


@pytest.fixture(scope="module")
def llava():
    from transformers import LlavaConfig

    return _make(LlavaConfig)


def test_module_is_a_leaf():
    tree = ast.parse(inspect.getsource(C))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top for a in n.names] + [
        n.module or "" for n in top if isinstance(n, ast.ImportFrom)
    ]
    assert not any(n.startswith(("hftestgen", "transformers", "torch")) for n in names)
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in top)  # no relative imports


def test_field_defaults_of_a_config_class():
    from transformers import BertConfig

    f = C.field_defaults(BertConfig)
    assert f["hidden_size"] == 768 and f["num_attention_heads"] == 12
    assert "self" not in f


def test_attribute_map_aliases():
    from transformers import GPT2Config

    assert C.std_names(GPT2Config)["n_embd"] == "hidden_size"
    fields = C.field_defaults(GPT2Config)
    # an alias that is no field is renamed; a real field is kept
    assert C.resolve_aliases(GPT2Config, {"hidden_size": 8, "n_layer": 1}, fields) == {
        "n_layer": 1,
        "n_embd": 8,
    }


def test_declared_sub_configs_from_class_and_instance(llava):
    from transformers import BertConfig, LlavaConfig

    assert set(C.declared_sub_configs(LlavaConfig)) == {"text_config", "vision_config"}
    assert set(C.declared_sub_configs(llava)) == {"text_config", "vision_config"}
    assert C.declared_sub_configs(BertConfig) == {}


def test_declared_sub_configs_as_a_plain_property():
    # Transformers 4.5x: sub_configs is a property of the config class, readable on an instance
    class Old:
        @property
        def sub_configs(self):
            return {"text_config": object}

    assert C.declared_sub_configs(Old()) == {"text_config": object}
    assert C.declared_sub_configs(Old) == {}  # a class cannot evaluate it: nothing, no crash

    class Plain:
        sub_configs = {"vision_config": object}

    assert C.declared_sub_configs(Plain) == {"vision_config": object}


def test_sub_configs_and_their_types(llava):
    from transformers import BertConfig

    subs = C.sub_configs(llava)
    assert set(subs) == {"text_config", "vision_config"}
    assert C.walk_subtypes(llava) == {
        ("llama", "text_config"),
        ("clip_vision_model", "vision_config"),
    }
    assert C.sub_configs(_make(BertConfig)) == {}
    assert [c.model_type for c in C.nested_configs(llava)] == ["clip_vision_model", "llama"]


def test_sub_config_slots_pair_instances_with_specs(llava):
    from transformers import LlavaConfig

    slots = C.sub_config_slots(LlavaConfig, llava)
    assert slots["text_config"][0] is llava.text_config
    assert slots["vision_config"][1] is not None  # the sub_configs_defaults spec
    assert set(C.sub_config_slots(LlavaConfig, None)) == {"text_config", "vision_config"}


def test_text_and_vision_parts(llava):
    from transformers import BertConfig

    bert = _make(BertConfig)
    assert C.text_config(llava) is llava.text_config and C.text_cfg is C.text_config
    assert C.vision_config(llava) is llava.vision_config and C.vision_cfg is C.vision_config
    assert C.text_config(bert) is bert and C.vision_config(bert) is bert
    assert C.text_part(object()) is None  # no get_text_config: None, no crash
    assert C.sub(llava, "missing", "image_token_index", "text_config") is llava.text_config


def test_find_attr_prefers_text_sub_configs(llava):
    from transformers import T5Config

    assert C.find_attr(llava, ["hidden_size"]) == llava.text_config.hidden_size == 4096
    assert C.find_attr(llava, ["hidden_size"], prefer=("vision_config",)) == 1024
    assert C.find_attr(llava, ["no_such_field"], default=7) == 7
    assert C.find_attr(_make(T5Config), ["d_model"]) == 512  # found on the config itself


def test_token_fields_and_ids(llava):
    assert C.is_token_field("pad_token_id") and C.is_token_field("image_token_index")
    assert C.is_token_field("decoder_start_token_id") and C.is_token_field("eos_token_ids")
    for name in ("num_hidden_layers", "layer_id", "label_id", "token_type_id", "expert_id"):
        assert not C.is_token_field(name), name
    ids = C.token_ids(llava)
    assert ids["image_token_index"] == 32000 and ids["bos_token_id"] == 1  # from text_config
    assert C.placeholder_ids(llava) == [32000]
    assert {1, 2, 32000} <= C.special_ids(llava)


def test_cfg_int_skips_non_ints_and_raising_attributes():
    class Cfg:
        flag = True
        hidden_size = 32

        @property
        def broken(self):
            raise ValueError

    assert C.cfg_int(Cfg(), "missing", "broken", "flag", "hidden_size") == 32
    assert C.cfg_int(Cfg(), "flag") is None
    assert C.safe_get(Cfg(), "broken", 5) == 5
