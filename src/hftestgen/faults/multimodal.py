"""Faults in multimodal models (CLIP, LLaVA)."""

from __future__ import annotations

from . import Patcher, fault


def _clip():
    from transformers.models.clip import modeling_clip

    return modeling_clip


def _llava():
    from transformers.models.llava import modeling_llava

    return modeling_llava


@fault(
    model_type="clip",
    family="multimodal",
    check="forward",
    bug_class="NaN produced in one tower of a two-tower model (an fp16 overflow or 0/0 in the "
    "vision embeddings) for one image; it reaches the similarity logits",
    subset=True,
)
def clip_nan_in_vision_tower(p: Patcher) -> None:
    """CLIPVisionEmbeddings writes NaN into one patch embedding of the last image."""

    def make(orig):
        def forward(self, pixel_values, *args, **kwargs):
            out = orig(self, pixel_values, *args, **kwargs).clone()
            out[-1, -1, 0] = float("nan")
            return out

        return forward

    p.wrap(_clip().CLIPVisionEmbeddings, "forward", make)


@fault(
    model_type="clip",
    family="multimodal",
    check="attention_mask_padding",
    bug_class="a (causal) text tower that drops its attention_mask; right padding cannot reveal "
    "it under a causal mask, left padding or the pooled padded position does",
)
def clip_text_mask_dropped(p: Patcher) -> None:
    """CLIPTextModel.forward replaces its attention_mask with None."""
    p.override_args(_clip().CLIPTextModel, "forward", attention_mask=lambda self, v: None)


@fault(
    model_type="llava",
    family="multimodal",
    check="generate",
    bug_class="generate() losing the image: pixel_values taken out of the model kwargs but never "
    "encoded (the class of VLM generation regressions where only the first step, or no step, "
    "sees the image)",
)
def llava_generate_drops_image(p: Patcher) -> None:
    """generate()'s multimodal pre-encoding pops pixel_values without encoding them."""
    from transformers.generation import utils as gen

    def _prepare_multimodal_encoder_kwargs_for_generation(self, model_kwargs):
        for key in ("pixel_values", "pixel_values_videos", "image_sizes"):
            model_kwargs.pop(key, None)
        return model_kwargs

    p.setattr(
        gen.GenerationMixin,
        "_prepare_multimodal_encoder_kwargs_for_generation",
        _prepare_multimodal_encoder_kwargs_for_generation,
    )


@fault(
    model_type="llava",
    family="multimodal",
    check="batch_independence",
    bug_class="image features merged into the wrong sample of a batch (features ordered or "
    "split wrongly before the placeholder scatter: huggingface/transformers#33976, "
    "LLaVA's merge of image features and input ids)",
)
def llava_image_features_swapped(p: Patcher) -> None:
    """LlavaModel.get_image_features returns the per-image features in reverse batch order."""

    def make(orig):
        def get_image_features(self, *args, **kwargs):
            out = orig(self, *args, **kwargs)
            out.pooler_output = list(reversed(list(out.pooler_output)))
            return out

        return get_image_features

    p.wrap(_llava().LlavaModel, "get_image_features", make)
