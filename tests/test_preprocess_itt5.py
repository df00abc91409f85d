"""Rules of the itt5 round: placeholder_for (SELF_PLACED / WRAPPED), NEEDS_PACKAGE, MEASURED_TOKENS."""

from types import SimpleNamespace

import pytest

from hftestgen.preprocess import PreprocessSkip
from hftestgen.preprocess import processors as P


def _proc(class_name, **attrs):
    return type(class_name, (), attrs)()


def test_self_placed_processor_gets_no_placeholder():
    assert P.placeholder_for(_proc("Florence2Processor", image_token="<image>"), "image") is None
    assert P.placeholder_for(_proc("LlavaProcessor", image_token="<image>"), "image") == "<image>"


def test_wrapped_placeholder_has_start_and_end_tokens():
    proc = _proc(
        "HunYuanVLProcessor", image_token="<i>", image_start_token="<s>", image_end_token="</s>"
    )
    assert P.placeholder_for(proc, "image") == "<s><i></s>"
    assert "'<s><i></s>'" in P.chat_template_for(proc)


def test_needs_package_is_a_named_skip(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PreprocessSkip) as e:
        P.synthesize_processor("VoxtralProcessor", SimpleNamespace(), {})
    assert e.value.package == "mistral_common"


def test_florence2_tokens_per_image_from_strides():
    from hftestgen.configs import vision_config

    cfg = SimpleNamespace(vision_config=SimpleNamespace(patch_stride=[4, 2, 2, 2]))
    if vision_config(cfg) is cfg:
        pytest.skip("vision_config does not read a namespace")
    ip = SimpleNamespace(do_center_crop=True, crop_size={"height": 64, "width": 64})
    cls = type("Florence2Processor", (), {})
    cls.__module__ = __name__
    assert P._davit_tokens(cfg, ip) == (64 // 32) ** 2 + 1
