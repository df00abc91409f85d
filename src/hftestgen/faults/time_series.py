"""Faults in time-series models (PatchTST)."""

from __future__ import annotations

from . import Patcher, fault


def _patchtst():
    from transformers.models.patchtst import modeling_patchtst

    return modeling_patchtst


@fault(
    model_type="patchtst",
    family="time-series",
    check="batch_independence",
    bug_class="instance normalisation (RevIN-style scaler) reduced over the batch as well as "
    "time (dim=(0, 1) instead of dim=1): every series is scaled by its batch's statistics",
    subset=True,
)
def patchtst_scaler_over_batch(p: Patcher) -> None:
    """PatchTSTStdScaler computes loc/scale over batch and time instead of time alone."""
    import torch

    def forward(self, data, observed_indicator):
        dims = (0, self.dim)
        denominator = observed_indicator.sum(dims, keepdim=True).clamp_min(1.0)
        loc = (data * observed_indicator).sum(dims, keepdim=True) / denominator
        variance = (((data - loc) * observed_indicator) ** 2).sum(dims, keepdim=True) / denominator
        scale = torch.sqrt(variance + self.minimum_scale)
        shape = (data.shape[0], *loc.shape[1:])
        return (data - loc) / scale, loc.expand(shape), scale.expand(shape)

    p.setattr(_patchtst().PatchTSTStdScaler, "forward", forward)


@fault(
    model_type="patchtst",
    family="time-series",
    check="forward",
    bug_class="a classification head sized from a constant (2 classes) instead of "
    "config.num_targets",
)
def patchtst_head_sized_from_constant(p: Patcher) -> None:
    """PatchTSTClassificationHead has 2 outputs whatever config.num_targets says."""
    from torch import nn

    def make(orig):
        def __init__(self, config):
            orig(self, config)
            self.linear = nn.Linear(config.num_input_channels * config.d_model, 2)

        return __init__

    p.wrap(_patchtst().PatchTSTClassificationHead, "__init__", make)
