"""The one table of checks. It drives the wrappers in ``hftestgen.checks``, the test functions of
the generated files (``render/templates/suite.py.j2``), the column order of the reports and the
README's table (a test keeps that table equal to this one). Importable without torch.

Adding a check: a row here, its implementation ``hftestgen.checks._checks.<name>(case, cls)``,
then ``hftestgen generate --all``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry.families import (
    AUDIO,
    DECODER_ONLY,
    ENCODER_DECODER,
    ENCODER_ONLY,
    FAMILIES,
    MULTIMODAL,
)

ACCELERATORS = ("cuda", "mps")

# Families whose models take token sequences with an attention mask / that can generate text.
TEXT_FAMILIES = frozenset({ENCODER_ONLY, DECODER_ONLY, ENCODER_DECODER, MULTIMODAL, AUDIO})
GENERATIVE_FAMILIES = frozenset({DECODER_ONLY, ENCODER_DECODER, MULTIMODAL, AUDIO})


@dataclass(frozen=True)
class Check:
    """One generated test function per applicable type."""

    name: str
    """The check, its test function (``test_<name>``) and its wrapper ``checks.<name>``."""
    params: str
    """What the test is parametrized over: a ``Case`` property naming model classes
    (``class_params``, ``head_params``, ``generative_params``), or ``accelerators``
    (one test per device, run on the type's primary class)."""
    families: frozenset[str]
    """Families whose generated files include the test."""
    asserts: str
    """What a pass means (the README's table)."""

    @property
    def param_name(self) -> str:
        return "device" if self.params == "accelerators" else "model_class"

    def applies_to(self, family: str) -> bool:
        return family in self.families


ALL = frozenset(FAMILIES)

CHECKS_TABLE: tuple[Check, ...] = (
    Check(
        "forward",
        "class_params",
        ALL,
        "per class: output shapes the head promises (hidden states, LM / classification / QA / "
        "CTC logits, ...), all floats finite",
    ),
    Check("eval_determinism", "class_params", ALL, "two eval passes bitwise equal"),
    Check(
        "batch_independence",
        "class_params",
        ALL,
        "a sample's outputs do not depend on the other samples in its batch",
    ),
    Check(
        "attention_mask_padding",
        "class_params",
        TEXT_FAMILIES,
        "padded positions do not change outputs at real positions",
    ),
    Check(
        "save_load",
        "class_params",
        ALL,
        "safetensors `save_pretrained` → Auto `from_pretrained`: same config, bitwise weights, "
        "tied weights still tied, same outputs",
    ),
    Check(
        "train_step",
        "head_params",
        ALL,
        "per head with labels: finite scalar loss, finite grads, every parameter used in the "
        "forward gets one",
    ),
    Check(
        "generate",
        "generative_params",
        GENERATIVE_FAMILIES,
        "greedy `max_new_tokens=k`: k tokens unless EOS, deterministic, first token = argmax of a "
        "plain forward, same tokens and same per-step logits with/without KV cache",
    ),
    Check(
        "device_parity",
        "accelerators",
        ALL,
        "per `cuda` / `mps`: forward matches CPU (skipped, saying so, where absent)",
    ),
)

CHECKS: tuple[str, ...] = tuple(c.name for c in CHECKS_TABLE)
BY_NAME = {c.name: c for c in CHECKS_TABLE}


def checks_for(family: str) -> tuple[Check, ...]:
    """The checks a generated file of ``family`` holds, in table order."""
    return tuple(c for c in CHECKS_TABLE if c.applies_to(family))
