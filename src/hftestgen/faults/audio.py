"""Faults in audio models (Whisper, wav2vec 2.0)."""

from __future__ import annotations

from . import Patcher, fault


def _whisper():
    from transformers.models.whisper import modeling_whisper

    return modeling_whisper


def _wav2vec2():
    from transformers.models.wav2vec2 import modeling_wav2vec2

    return modeling_wav2vec2


# ---------------------------------------------------------------------------------------------
# Whisper


@fault(
    model_type="whisper",
    family="audio",
    check="forward",
    bug_class="an LM head sized from a constant vocabulary (51865, Whisper's multilingual vocab) "
    "instead of config.vocab_size (large-v3 has 51866)",
)
def whisper_head_sized_from_constant(p: Patcher) -> None:
    """WhisperForConditionalGeneration's proj_out has 51865 outputs whatever config.vocab_size says."""
    from torch import nn

    def make(orig):
        def __init__(self, config):
            orig(self, config)
            self.proj_out = nn.Linear(config.d_model, 51865, bias=False)

        return __init__

    p.wrap(_whisper().WhisperForConditionalGeneration, "__init__", make)


@fault(
    model_type="whisper",
    family="audio",
    check="generate",
    bug_class="a cross-attention cache read under the wrong layer index (every decoder layer "
    "reuses layer 0's encoder keys/values once cached: the class of layer_idx bugs in cache "
    "plumbing)",
)
def whisper_cross_attention_cache_mixed_up(p: Patcher) -> None:
    """WhisperAttention reads cached cross-attention keys/values of layer 0 in every layer."""
    from transformers.cache_utils import EncoderDecoderCache

    def make(orig):
        def forward(self, hidden_states, *args, **kwargs):
            cache = kwargs.get("cache", kwargs.get("past_key_values"))
            cross = kwargs.get("key_value_states") is not None
            if (
                cross
                and isinstance(cache, EncoderDecoderCache)
                and self.layer_idx
                and cache.is_updated.get(self.layer_idx)
            ):
                layer_idx, self.layer_idx = self.layer_idx, 0
                try:
                    return orig(self, hidden_states, *args, **kwargs)
                finally:
                    self.layer_idx = layer_idx
            return orig(self, hidden_states, *args, **kwargs)

        return forward

    p.wrap(_whisper().WhisperAttention, "forward", make)


@fault(
    model_type="whisper",
    family="audio",
    check="position_sensitivity",
    bug_class="a sinusoidal position table left at zero (not initialised: the v5 init refactor's "
    "class of non-persistent/frozen tables missed by _init_weights): the encoder loses time order",
)
def whisper_encoder_positions_dropped(p: Patcher) -> None:
    """WhisperEncoder adds zeros instead of its position table."""
    import torch
    from torch import nn

    class Zeros(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.num_embeddings = inner.num_embeddings
            self.weight = inner.weight

        def forward(self, x):
            return torch.zeros_like(self.inner(x))

    def make(orig):
        def forward(self, *args, **kwargs):
            table = self.embed_positions
            self.embed_positions = Zeros(table)
            try:
                return orig(self, *args, **kwargs)
            finally:
                self.embed_positions = table

        return forward

    p.wrap(_whisper().WhisperEncoder, "forward", make)


# ---------------------------------------------------------------------------------------------
# wav2vec 2.0


@fault(
    model_type="wav2vec2",
    family="audio",
    check="attention_mask_padding",
    bug_class="a CTC loss that ignores the attention mask (input_lengths taken from the padded "
    "length): padded frames are scored as speech (cf. huggingface/transformers#12282, CTC with "
    "padded batches)",
)
def wav2vec2_ctc_loss_ignores_mask(p: Patcher) -> None:
    """torch.nn.functional.ctc_loss treats every sequence as unpadded (input_lengths = T)."""
    import torch
    from torch.nn import functional as F

    def make(orig):
        def ctc_loss(log_probs, targets, input_lengths, target_lengths, *args, **kwargs):
            full = torch.full_like(torch.as_tensor(input_lengths), log_probs.shape[0])
            return orig(log_probs, targets, full, target_lengths, *args, **kwargs)

        return ctc_loss

    p.wrap(F, "ctc_loss", make)


@fault(
    model_type="wav2vec2",
    family="audio",
    check="train_step",
    bug_class="a feature encoder cut from the graph although it should train (the "
    "_requires_grad / freeze_feature_encoder switch applied by default, or its output detached)",
)
def wav2vec2_feature_encoder_detached(p: Patcher) -> None:
    """Wav2Vec2FeatureEncoder returns its features detached from the graph."""

    def make(orig):
        def forward(self, input_values):
            return orig(self, input_values).detach()

        return forward

    p.wrap(_wav2vec2().Wav2Vec2FeatureEncoder, "forward", make)


@fault(
    model_type="wav2vec2",
    family="audio",
    check="eval_determinism",
    bug_class="training-only augmentation left on at inference (SpecAugment time masking "
    "applied when not self.training): random masks in eval",
    subset=True,
)
def wav2vec2_specaugment_in_eval(p: Patcher) -> None:
    """Wav2Vec2Model applies SpecAugment time masking in eval mode too."""

    def make(orig):
        def _mask_hidden_states(self, *args, **kwargs):
            training = self.training
            self.training = True
            try:
                return orig(self, *args, **kwargs)
            finally:
                self.training = training

        return _mask_hidden_states

    p.wrap(_wav2vec2().Wav2Vec2Model, "_mask_hidden_states", make)
