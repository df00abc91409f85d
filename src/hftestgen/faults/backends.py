"""Faults that break a backend of the matrix but not the plain model (eager, float32, CPU).

Each names the matrix columns whose cells must flip for its type (``backends=``) and, by the rule
of ``hftestgen.faults.measure``, no other column of the probe (``PROBE_BACKENDS``) may flip, and
the type's ``forward`` check (eager float32) must still pass.
"""

from __future__ import annotations

from . import Patcher, fault


def _sdpa_wrapped(p: Patcher, make) -> None:
    """Replace the ``sdpa`` entry of Transformers' attention registry with ``make(original)``."""
    from transformers.modeling_utils import AttentionInterface

    mapping = dict(AttentionInterface._global_mapping)
    mapping["sdpa"] = make(mapping["sdpa"])
    p.setattr(AttentionInterface, "_global_mapping", mapping)


@fault(
    model_type="bert",
    family="encoder-only",
    check="backend",
    backends=("sdpa",),
    bug_class="the SDPA path scaling attention logits differently from eager (a `scale` "
    "argument dropped or applied twice when a model's attention moved to the attention "
    "interface; eager stays right, so every eager-only test passes)",
)
def bert_sdpa_wrong_scale(p: Patcher) -> None:
    """The sdpa attention function doubles the softmax scale it is given."""

    def make(orig):
        def sdpa(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kw):
            scale = (scaling if scaling is not None else query.shape[-1] ** -0.5) * 2.0
            return orig(module, query, key, value, attention_mask, dropout, scale, **kw)

        return sdpa

    _sdpa_wrapped(p, make)


@fault(
    model_type="gpt2",
    family="decoder-only",
    check="backend",
    backends=("sdpa",),
    bug_class="the SDPA path dropping the padding mask and falling back to `is_causal=True` "
    "(padded batches then attend to pad tokens under sdpa only; mask-conversion regressions of "
    "this kind shipped when sdpa became the default)",
)
def gpt2_sdpa_mask_dropped(p: Patcher) -> None:
    """The sdpa attention function ignores the attention mask it is given."""

    def make(orig):
        def sdpa(module, query, key, value, attention_mask, *args, **kw):
            return orig(module, query, key, value, None, *args, **kw)

        return sdpa

    _sdpa_wrapped(p, make)


@fault(
    model_type="llama",
    family="decoder-only",
    check="backend",
    backends=("bfloat16", "float16"),
    bug_class="a hard-coded float32 cast in a half-precision path (rotary tables returned in "
    "float32 instead of the activations' dtype): float32 runs cannot see it, bfloat16/float16 "
    "runs mix dtypes and fail",
)
def llama_rotary_float32(p: Patcher) -> None:
    """LlamaRotaryEmbedding returns cos/sin in float32 whatever the activations' dtype."""
    import torch
    from transformers.models.llama import modeling_llama as m

    def make(orig):
        def forward(self, x, position_ids, *args, **kw):
            cos, sin = orig(self, x, position_ids, *args, **kw)
            return cos.to(torch.float32), sin.to(torch.float32)

        return forward

    p.wrap(m.LlamaRotaryEmbedding, "forward", make)


@fault(
    model_type="t5",
    family="encoder-decoder",
    check="backend",
    backends=("float16",),
    bug_class="an activation overflowing float16's range (65504) without the clamp T5 needed "
    "for fp16 inference: bfloat16 shares float32's exponent range and does not overflow",
)
def t5_float16_overflow(p: Patcher) -> None:
    """T5's feed-forward scales its activation by 1e5 before the output projection and back."""
    from transformers.models.t5 import modeling_t5 as m

    def make(orig):
        def forward(self, hidden_states):
            h = self.act(self.wi(hidden_states)) * 1e5
            return self.wo(h.to(self.wo.weight.dtype)) / 1e5

        return forward

    p.wrap(m.T5DenseActDense, "forward", make)


@fault(
    model_type="bert",
    family="encoder-only",
    check="backend",
    backends=("export",),
    bug_class="Python control flow on a tensor's value (`if int(x.max()) ...`, `.item()` in "
    "forward): eager runs it, torch.export cannot trace it (data-dependent guard)",
)
def bert_export_data_dependent(p: Patcher) -> None:
    """BertEmbeddings.forward branches in Python on the largest input id."""
    from transformers.models.bert import modeling_bert as m

    def make(orig):
        def forward(self, input_ids=None, *args, **kw):
            if (
                input_ids is not None
                and int(input_ids.max()) >= self.word_embeddings.num_embeddings
            ):
                raise IndexError("input id out of range")
            return orig(self, input_ids, *args, **kw)

        return forward

    p.wrap(m.BertEmbeddings, "forward", make)


@fault(
    model_type="vit",
    family="vision",
    check="backend",
    backends=("onnx",),
    bug_class="an op the ONNX exporter cannot convert (a running max / median / special "
    "function added to a forward, e.g. for position bookkeeping): every PyTorch backend runs "
    "it, the ONNX export of the model stops working",
)
def vit_onnx_unconvertible_op(p: Patcher) -> None:
    """ViTEmbeddings adds a zero computed with torch.cummax (no ONNX conversion) to its output."""
    import torch
    from transformers.models.vit import modeling_vit as m

    def make(orig):
        def forward(self, *args, **kw):
            out = orig(self, *args, **kw)
            running = torch.cummax(out, dim=-1).values
            return out + (running - running)

        return forward

    p.wrap(m.ViTEmbeddings, "forward", make)
