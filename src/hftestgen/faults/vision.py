"""Faults in vision models (ViT, ResNet)."""

from __future__ import annotations

from . import Patcher, fault


def _vit():
    from transformers.models.vit import modeling_vit

    return modeling_vit


def _resnet():
    from transformers.models.resnet import modeling_resnet

    return modeling_resnet


@fault(
    model_type="vit",
    family="vision",
    check="forward",
    bug_class="an image-classification head sized from a constant (1000 ImageNet classes) "
    "instead of config.num_labels",
)
def vit_head_sized_from_constant(p: Patcher) -> None:
    """ViTForImageClassification's classifier has 1000 outputs whatever config.num_labels says."""
    from torch import nn

    def make(orig):
        def __init__(self, config):
            orig(self, config)
            self.classifier = nn.Linear(config.hidden_size, 1000)

        return __init__

    p.wrap(_vit().ViTForImageClassification, "__init__", make)


@fault(
    model_type="vit",
    family="vision",
    check="eval_determinism",
    bug_class="attention dropout passed to SDPA whatever the mode (dropout_p=self.dropout "
    "instead of 0.0 when not training: pytorch/pytorch#124464, "
    "huggingface/pytorch-image-models#1978); invisible while the config's probability is 0",
)
def vit_attention_dropout_in_eval(p: Patcher) -> None:
    """ViTAttention passes its attention dropout probability in eval mode too."""

    def make(orig):
        def forward(self, *args, **kwargs):
            training = self.training
            self.training = True  # what the attention call reads to pick dropout_p
            try:
                return orig(self, *args, **kwargs)
            finally:
                self.training = training

        return forward

    p.wrap(_vit().ViTAttention, "forward", make)


@fault(
    model_type="resnet",
    family="vision",
    check="batch_independence",
    bug_class="batch norm using batch statistics in eval (a BatchNorm kept in training mode, a "
    "frozen-BN override that does not propagate eval()): a sample's output depends on its batch",
)
def resnet_batchnorm_batch_stats_in_eval(p: Patcher) -> None:
    """torch.nn.BatchNorm2d normalises with the batch's statistics in eval mode too."""
    from torch import nn
    from torch.nn import functional as F

    def forward(self, x):
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)

    p.setattr(nn.BatchNorm2d, "forward", forward)


@fault(
    model_type="resnet",
    family="vision",
    check="train_step",
    bug_class="a frozen stem that should train (features detached after the embedder, e.g. a "
    "freeze flag left on by default): the stem shapes the loss but gets no gradient",
    subset=True,
)
def resnet_stem_detached(p: Patcher) -> None:
    """ResNetEmbeddings returns its output detached from the graph."""

    def make(orig):
        def forward(self, pixel_values):
            return orig(self, pixel_values).detach()

        return forward

    p.wrap(_resnet().ResNetEmbeddings, "forward", make)
