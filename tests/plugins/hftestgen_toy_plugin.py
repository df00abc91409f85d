"""A custom architecture registered through Transformers' Auto classes (test plugin).

Its model type has a hyphen on purpose. It is a real (tiny) model so that generated tests can
run against it.
"""

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput


class ToyConfig(PretrainedConfig):
    model_type = "hftestgen-toy"

    # num_labels travels in **kw, as in Transformers' own configs: a fixed ``num_labels=2``
    # default here would override the saved ``id2label`` on reload (head size mismatch)
    def __init__(self, vocab_size=1000, hidden_size=256, pad_token_id=0, **kw):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        super().__init__(pad_token_id=pad_token_id, **kw)


class ToyPreTrainedModel(PreTrainedModel):
    config_class = ToyConfig
    base_model_prefix = "toy"
    main_input_name = "input_ids"


class ToyModel(ToyPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        h = torch.tanh(self.proj(self.embed(input_ids)))
        return BaseModelOutput(last_hidden_state=h)


class ToyForSequenceClassification(ToyPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.toy = ToyModel(config)
        self.head = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        h = self.toy(input_ids).last_hidden_state
        if attention_mask is not None:
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
        else:
            pooled = h.mean(1)
        logits = self.head(pooled)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoConfig.register("hftestgen-toy", ToyConfig, exist_ok=True)
AutoModel.register(ToyConfig, ToyModel, exist_ok=True)
AutoModelForSequenceClassification.register(ToyConfig, ToyForSequenceClassification, exist_ok=True)
