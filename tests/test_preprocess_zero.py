"""Rules of the zero round (processors writing 0 image tokens): PLACEHOLDER_MARKER,
REPEATED_PLACEHOLDER through SELF_FALLBACK / SELF_FROM_TOKENIZER, PIXEL_SHUFFLE_TOKENS over
``pixel_shuffle_factor``, MEASURED_TOKEN_COUNT (Chameleon's VQ codes)."""

from types import SimpleNamespace

from hftestgen.preprocess import processors as P


def _proc(class_name, **attrs):
    return type(class_name, (), attrs)()


def test_placeholder_marker_wins_over_the_expanded_token():
    # QianfanOCR counts and expands "<image>"; its image_token is what "<image>" expands to
    proc = _proc(
        "QianfanOCRProcessor", image_token="<IMG_CONTEXT>", image_placeholder_token="<image>"
    )
    assert P.placeholder_for(proc, "image") == "<image>"
    assert "'<image>'" in P.chat_template_for(proc)
    assert P.placeholder_for(_proc("LlavaProcessor", image_token="<image>"), "image") == "<image>"


def test_repeated_placeholder_read_off_the_tokenizer():
    # self.image_token = tokenizer.context_image_token, repeated in replace_image_token
    from transformers import QianfanOCRProcessor

    assert P.repeated_placeholder(QianfanOCRProcessor) == "<context_image>"
    assert "context_image_token" in P.tokenizer_special_tokens("QianfanOCRProcessor")


def test_repeated_placeholder_processor_fallback_literal():
    # self.image_token = "<|image_pad|>" if not hasattr(tokenizer, "image_token") else ...
    from transformers import ColQwen2Processor

    assert P.repeated_placeholder(ColQwen2Processor) == "<|image_pad|>"


def test_processor_special_tokens_puts_the_repeated_token_at_the_config_id():
    cfg = SimpleNamespace(image_token_id=5)
    assert P.processor_special_tokens("QianfanOCRProcessor", cfg) == {
        "image_token_id": "<context_image>"
    }
    assert P.processor_special_tokens("ColQwen2Processor", cfg) == {
        "image_token_id": "<|image_pad|>"
    }


def test_pixel_shuffle_factor_divides_the_grid():
    from transformers import ModernVBertConfig

    cfg = ModernVBertConfig(
        vision_config={"image_size": 32, "patch_size": 4}, pixel_shuffle_factor=4
    )
    assert P.shuffle_factor(cfg) == 4
    assert P.grid_tokens(cfg) == (32 // 4) ** 2 // 16


def test_chameleon_tokens_per_image_are_vq_codes():
    from transformers import ChameleonProcessor

    cfg = SimpleNamespace(vq_config=SimpleNamespace(channel_multiplier=[1, 1, 2, 2, 4]))
    ip = SimpleNamespace(do_center_crop=True, crop_size={"height": 32, "width": 32})
    assert P.measured_values(ChameleonProcessor, cfg, ip) == {"image_seq_length": 4}
    ip512 = SimpleNamespace(do_center_crop=True, crop_size={"height": 512, "width": 512})
    assert P.measured_values(ChameleonProcessor, cfg, ip512) == {"image_seq_length": 1024}
    from transformers import LlavaProcessor

    assert P.measured_values(LlavaProcessor, cfg, ip) == {}
