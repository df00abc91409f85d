"""Faults in an encoder-only model (BERT)."""

from __future__ import annotations

import math

from . import Patcher, fault


def _bert():
    from transformers.models.bert import modeling_bert

    return modeling_bert


@fault(
    model_type="bert",
    family="encoder-only",
    check="forward",
    bug_class="an activation overflowing to inf (fp16/bf16 overflow in an MLP, a log(0) or "
    "division by zero) that reaches the outputs; Transformers has shipped many such fixes, e.g. "
    "T5's fp16 clamping in its feed-forward",
)
def bert_nonfinite_activation(p: Patcher) -> None:
    """BertIntermediate writes +inf at one position of its activation."""
    m = _bert()

    def make(orig):
        def forward(self, hidden_states):
            out = orig(self, hidden_states).clone()
            out[0, -1, 0] = math.inf
            return out

        return forward

    p.wrap(m.BertIntermediate, "forward", make)


@fault(
    model_type="bert",
    family="encoder-only",
    check="attention_mask_padding",
    bug_class="a model that drops the attention_mask it is given (mask not forwarded to the "
    "encoder after a refactor); padded batches then attend to pad tokens",
    subset=True,
)
def bert_attention_mask_dropped(p: Patcher) -> None:
    """BertModel.forward replaces the attention_mask it is given with None."""
    p.override_args(_bert().BertModel, "forward", attention_mask=lambda self, v: None)


@fault(
    model_type="bert",
    family="encoder-only",
    check="forward",
    bug_class="a classification head sized from a constant (2, the binary default) instead of "
    "config.num_labels: invisible to every model whose config keeps num_labels=2",
)
def bert_head_sized_from_constant(p: Patcher) -> None:
    """BertForSequenceClassification's classifier has 2 outputs whatever config.num_labels says."""
    from torch import nn

    m = _bert()

    def make(orig):
        def __init__(self, config):
            orig(self, config)
            self.classifier = nn.Linear(config.hidden_size, 2)

        return __init__

    p.wrap(m.BertForSequenceClassification, "__init__", make)


@fault(
    model_type="bert",
    family="encoder-only",
    check="train_step",
    bug_class="a parameter used through .detach() / under torch.no_grad(): it shapes the outputs "
    "but never trains (e.g. a weight reused for a second projection with .data)",
)
def bert_detached_parameter(p: Patcher) -> None:
    """BertIntermediate uses its dense weight detached: it shapes the loss, gets no gradient."""
    from torch.nn import functional as F

    def forward(self, hidden_states):
        h = F.linear(hidden_states, self.dense.weight.detach(), self.dense.bias)
        return self.intermediate_act_fn(h)

    p.setattr(_bert().BertIntermediate, "forward", forward)


@fault(
    model_type="bert",
    family="encoder-only",
    check="batch_independence",
    bug_class="a small cross-sample leak (a statistic reduced over the batch axis, e.g. a norm "
    "or scaler with dim=0): each output picks up 1e-5 of the batch, relative to the output's "
    "largest magnitude",
)
def bert_batch_leak_1e_5(p: Patcher) -> None:
    """BertModel adds 1e-5 x max|output| x (the normalised batch mean) to its last hidden state."""
    m = _bert()

    def make(orig):
        def forward(self, *args, **kwargs):
            out = orig(self, *args, **kwargs)
            h = out.last_hidden_state
            mean = h.mean(dim=0, keepdim=True)
            leak = (
                1e-5 * h.detach().abs().amax() * mean / mean.detach().abs().amax().clamp_min(1e-30)
            )
            out.last_hidden_state = h + leak
            return out

        return forward

    p.wrap(m.BertModel, "forward", make)


@fault(
    model_type="bert",
    family="encoder-only",
    check="eval_determinism",
    bug_class="dropout that ignores eval mode (F.dropout(x, p, training=True) or a module "
    "whose train()/eval() does not propagate); inference outputs become random",
)
def bert_dropout_in_eval(p: Patcher) -> None:
    """torch.nn.Dropout applies dropout in eval mode too."""
    from torch import nn
    from torch.nn import functional as F

    def forward(self, x):
        return F.dropout(x, self.p, True, self.inplace)

    p.setattr(nn.Dropout, "forward", forward)


@fault(
    model_type="bert",
    family="encoder-only",
    check="position_sensitivity",
    bug_class="positions silently lost: position ids left at zero (a non-persistent position_ids "
    "buffer left uninitialised by meta-device loading, cf. huggingface/transformers#34234 for "
    "the rotary inv_freq buffer); the encoder becomes a bag of words",
)
def bert_positions_zeroed(p: Patcher) -> None:
    """BertEmbeddings looks every token up at position 0."""
    import torch

    m = _bert()

    def make(orig):
        def forward(
            self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, **kw
        ):
            shape = input_ids.shape if input_ids is not None else inputs_embeds.shape[:-1]
            if position_ids is None:
                position_ids = torch.zeros(
                    (1, shape[-1]), dtype=torch.long, device=self.position_ids.device
                )
            else:
                position_ids = torch.zeros_like(position_ids)
            return orig(self, input_ids, token_type_ids, position_ids, inputs_embeds, **kw)

        return forward

    p.wrap(m.BertEmbeddings, "forward", make)
