"""Faults in models of the catch-all family (FLAVA's multimodal fusion encoder)."""

from __future__ import annotations

from . import Patcher, fault


def _flava():
    from transformers.models.flava import modeling_flava

    return modeling_flava


@fault(
    model_type="flava_multimodal_model",
    family="other",
    check="batch_independence",
    bug_class="a statistic reduced over the wrong axis (dim=0, the batch, instead of the feature "
    "axis) in a pooler: each sample's pooled output is centred on its batch",
)
def flava_multimodal_pooler_reduces_batch(p: Patcher) -> None:
    """FlavaPooler subtracts the batch mean from its pooled output."""

    def make(orig):
        def forward(self, hidden_states):
            out = orig(self, hidden_states)
            return out - out.mean(dim=0, keepdim=True)

        return forward

    p.wrap(_flava().FlavaPooler, "forward", make)


@fault(
    model_type="flava_multimodal_model",
    family="other",
    check="save_load",
    bug_class="a checkpoint key renamed on save (a key-renaming / conversion mapping applied in "
    "one direction only): the reloaded model misses the weight and re-initialises it",
    subset=True,
)
def flava_multimodal_key_renamed_on_save(p: Patcher) -> None:
    """save_pretrained writes the cls_token parameter under another name."""
    from transformers import modeling_utils

    def make(orig):
        def save_pretrained(self, save_directory, *args, **kwargs):
            sd = dict(kwargs.get("state_dict") or self.state_dict())
            key = next((k for k in sd if k.endswith("cls_token")), next(iter(sd)))
            sd[key.replace("cls_token", "cls_embedding")] = sd.pop(key)
            kwargs["state_dict"] = sd
            return orig(self, save_directory, *args, **kwargs)

        return save_pretrained

    p.wrap(modeling_utils.PreTrainedModel, "save_pretrained", make)
