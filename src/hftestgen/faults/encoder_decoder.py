"""Faults in encoder-decoder models (T5, BART), and in loading (shared by every model)."""

from __future__ import annotations

import functools

from . import Patcher, fault


def _after_from_pretrained(p: Patcher, change) -> None:
    """Wrap ``PreTrainedModel.from_pretrained`` (a classmethod every Auto class ends in) so that
    ``change(model)`` runs on every model it returns."""
    from transformers import modeling_utils

    cls = modeling_utils.PreTrainedModel
    orig = cls.__dict__["from_pretrained"].__func__

    @functools.wraps(orig)
    def from_pretrained(klass, *args, **kwargs):
        out = orig(klass, *args, **kwargs)
        change(out[0] if isinstance(out, tuple) else out)
        return out

    p.setattr(cls, "from_pretrained", classmethod(from_pretrained))


# ---------------------------------------------------------------------------------------------
# T5


def _t5():
    from transformers.models.t5 import modeling_t5

    return modeling_t5


@fault(
    model_type="t5",
    family="encoder-decoder",
    check="attention_mask_padding",
    bug_class="an encoder that drops the attention_mask it is given: padded source tokens are "
    "attended to by the encoder",
)
def t5_encoder_mask_dropped(p: Patcher) -> None:
    """T5's encoder stack replaces its attention_mask with None (the decoder is untouched)."""

    def edit(self, kwargs):
        if not self.is_decoder:
            kwargs["attention_mask"] = None

    p.wrap_kwargs(_t5().T5Stack, "forward", edit)


@fault(
    model_type="t5",
    family="encoder-decoder",
    check="position_sensitivity",
    bug_class="relative position bias lost (computed as zeros / not propagated from the first "
    "layer): T5's only positional signal, so the encoder becomes order-blind; cf. "
    "huggingface/transformers#20203 (relative positions wrong with the cache)",
)
def t5_relative_position_bias_dropped(p: Patcher) -> None:
    """T5Attention.compute_bias returns zeros."""
    import torch

    def make(orig):
        def compute_bias(self, *args, **kwargs):
            return torch.zeros_like(orig(self, *args, **kwargs))

        return compute_bias

    p.wrap(_t5().T5Attention, "compute_bias", make)


@fault(
    model_type="t5",
    family="encoder-decoder",
    check="save_load",
    bug_class="a weight re-initialised after loading (the checkpoint's value overwritten by the "
    "init pass: the v5 loading/initialisation refactor's class of regressions)",
)
def t5_weight_reinitialised_on_load(p: Patcher) -> None:
    """from_pretrained re-draws the encoder's first feed-forward output weight after loading."""
    import torch

    def change(model):
        name, w = next(
            (n, w) for n, w in model.named_parameters() if n.endswith("DenseReluDense.wo.weight")
        )
        gen = torch.Generator().manual_seed(7)
        with torch.no_grad():
            w.copy_(torch.randn(w.shape, generator=gen, dtype=w.dtype) * 0.05)

    _after_from_pretrained(p, change)


# ---------------------------------------------------------------------------------------------
# BART


def _bart():
    from transformers.models.bart import modeling_bart

    return modeling_bart


@fault(
    model_type="bart",
    family="encoder-decoder",
    check="attention_mask_padding",
    bug_class="an encoder-decoder that drops decoder_attention_mask: padded target tokens are "
    "attended to by the decoder (padded batched training/teacher forcing goes wrong)",
)
def bart_decoder_attention_mask_dropped(p: Patcher) -> None:
    """BartDecoder.forward replaces its (decoder) attention_mask with None."""
    p.override_args(_bart().BartDecoder, "forward", attention_mask=lambda self, v: None)


@fault(
    model_type="bart",
    family="encoder-decoder",
    check="attention_mask_padding",
    bug_class="cross-attention that ignores the encoder padding mask (encoder_attention_mask not "
    "forwarded to the decoder): the decoder attends to padded source positions",
)
def bart_cross_attention_mask_dropped(p: Patcher) -> None:
    """BartDecoder.forward replaces encoder_attention_mask with None."""
    p.override_args(_bart().BartDecoder, "forward", encoder_attention_mask=lambda self, v: None)


@fault(
    model_type="bart",
    family="encoder-decoder",
    check="save_load",
    bug_class="tied weights untied on reload (each tied parameter gets its own copy): the model "
    "loads with equal values but fine-tuning then drifts the copies apart "
    "(huggingface/transformers#42362, tie weights after the v5 weight refactor)",
    subset=True,
)
def bart_tied_weights_untied_on_reload(p: Patcher) -> None:
    """from_pretrained gives every tied parameter but one its own copy."""
    from torch import nn

    def change(model):
        groups: dict[int, list[str]] = {}
        for n, w in model.named_parameters(remove_duplicate=False):
            groups.setdefault(w.data_ptr(), []).append(n)
        for names in groups.values():
            for n in names[1:]:
                parent, _, leaf = n.rpartition(".")
                mod = model.get_submodule(parent) if parent else model
                setattr(mod, leaf, nn.Parameter(getattr(mod, leaf).detach().clone()))

    _after_from_pretrained(p, change)
