"""Faults in decoder-only (causal) models: GPT-2, Llama, BLOOM."""

from __future__ import annotations

from . import Patcher, fault

# ---------------------------------------------------------------------------------------------
# GPT-2


@fault(
    model_type="gpt2",
    family="decoder-only",
    check="generate",
    bug_class="a KV cache that hands back corrupted past values once it holds any (a cache "
    "update/reorder bug); cf. huggingface/transformers#48289, which compared cached with "
    "uncached decoding across all models and found four real bugs",
    subset=True,
)
def gpt2_kv_cache_corrupted(p: Patcher) -> None:
    """DynamicLayer.update returns past values scaled by -3 once the cache holds tokens."""
    import torch
    from transformers import cache_utils

    def make(orig):
        def update(self, key_states, value_states, *args, **kwargs):
            had_past = self.is_initialized and self.keys is not None and self.keys.shape[-2] > 0
            keys, values = orig(self, key_states, value_states, *args, **kwargs)
            if had_past:
                n = value_states.shape[-2]
                values = torch.cat([values[..., :-n, :] * -3.0, values[..., -n:, :]], dim=-2)
            return keys, values

        return update

    p.wrap(cache_utils.DynamicLayer, "update", make)


@fault(
    model_type="gpt2",
    family="decoder-only",
    check="save_load",
    bug_class="a checkpoint writer that alters a tensor (a conversion mapping or dtype cast "
    "applied on save), so a reloaded model is not the saved one",
)
def gpt2_weight_altered_on_save(p: Patcher) -> None:
    """save_pretrained writes the final layer norm's weight scaled by 1.01."""
    from transformers import modeling_utils

    def make(orig):
        def save_pretrained(self, save_directory, *args, **kwargs):
            sd = dict(self.state_dict())
            key = next(k for k in sd if k.endswith("ln_f.weight"))
            sd[key] = sd[key] * 1.01
            kwargs["state_dict"] = sd
            return orig(self, save_directory, *args, **kwargs)

        return save_pretrained

    p.wrap(modeling_utils.PreTrainedModel, "save_pretrained", make)


@fault(
    model_type="gpt2",
    family="decoder-only",
    check="causality",
    bug_class="an off-by-one causal mask (kv_idx <= q_idx + 1): every position sees the next "
    "token; the class of mask-construction bugs behind transformers' masking_utils rewrites",
    subset=True,
)
def gpt2_future_token_leak(p: Patcher) -> None:
    """masking_utils builds causal masks with kv_idx <= q_idx + 1, always materialised."""
    from transformers import masking_utils as mu

    def causal_mask_function(batch_idx, head_idx, q_idx, kv_idx):
        return kv_idx <= q_idx + 1

    p.setattr(mu, "causal_mask_function", causal_mask_function)
    # never let SDPA's own is_causal stand in for the (wrong) mask
    p.setattr(mu, "_ignore_causal_mask_sdpa", lambda *a, **k: False)


@fault(
    model_type="gpt2",
    family="decoder-only",
    check="weight_tying",
    bug_class="input and output embeddings left untied although the config says "
    "tie_word_embeddings=True (huggingface/transformers#42362 after the v5 tied-weights refactor, "
    "#43429 Mistral3's lm_head never tied)",
    subset=True,
)
def gpt2_weights_not_tied(p: Patcher) -> None:
    """PreTrainedModel.tie_weights does nothing: lm_head keeps its own random weight."""
    from transformers import modeling_utils

    p.setattr(modeling_utils.PreTrainedModel, "tie_weights", lambda self, *a, **k: None)


# ---------------------------------------------------------------------------------------------
# Llama


def _llama():
    from transformers.models.llama import modeling_llama

    return modeling_llama


def _cache_of(kwargs):
    return kwargs.get("cache", kwargs.get("past_key_values"))


@fault(
    model_type="llama",
    family="decoder-only",
    check="generate",
    bug_class="decode-step positions off by one (cache_position / position_ids computed from the "
    "wrong past length): cf. huggingface/transformers#15751 (positions ignored the past length "
    "with use_cache) and #20203 (relative positions wrong with use_cache)",
)
def llama_cache_positions_shifted(p: Patcher) -> None:
    """LlamaModel shifts position_ids by +1 whenever its cache already holds tokens."""
    import torch

    def edit(self, kwargs):
        cache = _cache_of(kwargs)
        past = cache.get_seq_length() if cache is not None else 0
        if not past:
            return
        pos = kwargs.get("position_ids")
        if pos is None:
            x = kwargs.get("input_ids")
            if x is None:
                x = kwargs["inputs_embeds"][..., 0]
            pos = (torch.arange(x.shape[1], device=x.device) + past).unsqueeze(0)
        kwargs["position_ids"] = pos + 1

    p.wrap_kwargs(_llama().LlamaModel, "forward", edit)


@fault(
    model_type="llama",
    family="decoder-only",
    check="chunked_prefill",
    bug_class="SDPA's is_causal used with q_len != kv_len: torch aligns that mask upper-left, so "
    "a multi-token chunk after a non-empty cache sees the wrong keys while one-token decoding "
    "works (huggingface/transformers#30311, speculative decoding; the reason "
    "masking_utils._ignore_causal_mask_sdpa checks the lengths)",
    subset=True,
)
def llama_chunked_prefill_broken(p: Patcher) -> None:
    """_ignore_causal_mask_sdpa skips the mask whenever nothing is padded, whatever the lengths."""
    from transformers import masking_utils as mu

    def _ignore_causal_mask_sdpa(padding_mask, q_length, kv_length, q_offset, kv_offset, *a, **k):
        if padding_mask is not None and padding_mask.shape[-1] > kv_length:
            padding_mask = padding_mask[:, kv_offset : kv_offset + kv_length]
        return padding_mask is None or bool(padding_mask.all())

    p.setattr(mu, "_ignore_causal_mask_sdpa", _ignore_causal_mask_sdpa)


@fault(
    model_type="llama",
    family="decoder-only",
    check="position_sensitivity",
    bug_class="rotary embeddings that rotate nothing (inv_freq left zero/uninitialised after "
    "meta-device loading: huggingface/transformers#34234, #45902): positions silently lost",
    subset=True,
)
def llama_rotary_dropped(p: Patcher) -> None:
    """LlamaRotaryEmbedding returns cos=1, sin=0: queries and keys are never rotated."""
    import torch

    def make(orig):
        def forward(self, x, position_ids, *args, **kwargs):
            cos, sin = orig(self, x, position_ids, *args, **kwargs)
            return torch.ones_like(cos) * self.attention_scaling, torch.zeros_like(sin)

        return forward

    p.wrap(_llama().LlamaRotaryEmbedding, "forward", make)


@fault(
    model_type="llama",
    family="decoder-only",
    check="attention_mask_padding",
    bug_class="the SDPA fast path dropping a padding mask (mask skipped because q_len == kv_len "
    "although some keys are padded): left-padded batches attend to pad tokens "
    "(huggingface/transformers#29663, #47678)",
)
def llama_sdpa_mask_skipped_with_padding(p: Patcher) -> None:
    """_ignore_causal_mask_sdpa returns True for q_len == kv_len even when keys are padded."""
    from transformers import masking_utils as mu

    def make(orig):
        def _ignore_causal_mask_sdpa(padding_mask, q_length, kv_length, *a, **k):
            if q_length == 1 or q_length == kv_length:
                return True
            return orig(padding_mask, q_length, kv_length, *a, **k)

        return _ignore_causal_mask_sdpa

    p.wrap(mu, "_ignore_causal_mask_sdpa", make)


# ---------------------------------------------------------------------------------------------
# BLOOM (causal, no position_ids: ALiBi)


@fault(
    model_type="bloom",
    family="decoder-only",
    check="attention_mask_padding",
    bug_class="a causal model without position_ids that drops its attention_mask; right padding "
    "cannot reveal it (pads come after every real token), left padding does",
)
def bloom_attention_mask_dropped(p: Patcher) -> None:
    """BloomModel.forward replaces the attention_mask it is given with None."""
    from transformers.models.bloom import modeling_bloom

    p.override_args(modeling_bloom.BloomModel, "forward", attention_mask=lambda self, v: None)
