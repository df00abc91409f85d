"""The one table of checks. It drives the wrappers in ``hftestgen.checks``, the test functions of
the generated files (``render/templates/suite.py.j2``), the column order of the reports and the
README's table (a test keeps that table equal to this one). Importable without torch.

Adding a check: a row here, its implementation ``hftestgen.checks.<module>.<name>(case, cls)``
(``module``: ``_checks`` for the self-consistency checks, ``invariants`` for the model invariants),
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
    OTHER,
)

# Families whose models take token sequences with an attention mask / that can generate text.
TEXT_FAMILIES = frozenset({ENCODER_ONLY, DECODER_ONLY, ENCODER_DECODER, MULTIMODAL, AUDIO})
GENERATIVE_FAMILIES = frozenset({DECODER_ONLY, ENCODER_DECODER, MULTIMODAL, AUDIO})
# Families with token-sequence models (the invariants over token positions and word embeddings).
# Vision and time-series types take no token ids (ImageGPT, the one vision type with a causal
# token head, is left out with its family); "other" holds a few token models (decision
# transformers, protein folding trunks), whose classes skip by rule where they take no tokens.
SEQUENCE_FAMILIES = TEXT_FAMILIES | {OTHER}


@dataclass(frozen=True)
class Check:
    """One generated test function per applicable type."""

    name: str
    """The check, its test function (``test_<name>``) and its wrapper ``checks.<name>``."""
    params: str
    """What the test is parametrized over: a ``Case`` property naming model classes
    (``class_params``, ``head_params``, ``generative_params``, ``primary_params``), or
    ``backend_params`` ((backend, class) pairs of the backends a run selects,
    ``hftestgen.checks.backends.params``; the device backends ``cuda`` / ``mps`` among them)."""
    families: frozenset[str]
    """Families whose generated files include the test."""
    asserts: str
    """What a pass means (the README's table)."""
    module: str = "_checks"
    """The module of ``hftestgen.checks`` that implements it (``<module>.<name>``)."""
    matrix: bool = False
    """A backend-matrix column, reported beside the type's status and never counted in it."""

    @property
    def param_name(self) -> str:
        return {"backend_params": "backend", "preprocessing_params": "kind"}.get(
            self.params, "task" if self.params == "pipeline_params" else "model_class"
        )

    @property
    def columns(self) -> bool:
        """Known entries may name one value of the parameter (``backend:sdpa``,
        ``pipeline:fill-mask``, ``preprocessing:tokenizer``)."""
        return self.params in ("backend_params", "preprocessing_params", "pipeline_params")

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
        "causality",
        "class_params",
        SEQUENCE_FAMILIES,
        "causal text stacks (a causal-LM task of the class or its type, `is_decoder` / `causal` / "
        "`attn_type` config switches, seq2seq decoders): changing later tokens leaves every output "
        "at earlier positions unchanged, in float64",
        "invariants",
    ),
    Check(
        "chunked_prefill",
        "class_params",
        SEQUENCE_FAMILIES,
        "causal classes taking a cache: the tokens fed in two multi-token chunks through the cache "
        "(generation inputs for generating classes, `forward` otherwise) give the per-position "
        "outputs of one forward, in float64",
        "invariants",
    ),
    Check(
        "position_sensitivity",
        "class_params",
        SEQUENCE_FAMILIES,
        "swapping two earlier tokens changes the later positions' output of the first layer that "
        "mixes positions, where a model without positional information still sees a set (past it "
        "a causal mask alone orders tokens), in float64",
        "invariants",
    ),
    Check(
        "weight_tying",
        "class_params",
        SEQUENCE_FAMILIES,
        "LM head and input embeddings share storage exactly when the owning config's "
        "`tie_word_embeddings` says so (a composite's text sub-config agreeing), after "
        "construction and after a safetensors save / `from_pretrained`",
        "invariants",
    ),
    Check(
        "preprocessing",
        "preprocessing_params",
        ALL,
        "per preprocessing kind the type maps (tokenizer, image processor, feature extractor, "
        "video processor, processor): synthesized offline and sized to the tiny config, "
        "`save_pretrained` → Auto `from_pretrained` gives the same outputs, a tokenizer's ids "
        "lie in the vocab with the config's special ids and decode to the text it encoded, and "
        "its output for raw input runs through every model class of the type",
        "pipelines",
    ),
    Check(
        "pipeline",
        "pipeline_params",
        ALL,
        "per pipeline task of the type: `transformers.pipeline(task)` on raw text / image / "
        "audio returns the task's structure (labels from `id2label`, scores in range and "
        "ordered, generated text a string, ...) and agrees with the same model called by hand "
        "on the preprocessing's output, unbatched and batched",
        "pipelines",
    ),
    Check(
        "golden",
        "primary_params",
        ALL,
        "only with a snapshot (`run --against DIR` / `[tool.hftestgen] snapshots`): the primary "
        "class loaded from the snapshot's weights gives the recorded outputs for the recorded "
        "inputs (float64: atol=rtol=1e-9), across releases",
        "golden_outputs",
    ),
    Check(
        "backend",
        "backend_params",
        ALL,
        "only with backends selected (`run --backends ...` / `[tool.hftestgen] backends`): per "
        "(backend, class), forward through the backend (sdpa, flex_attention, bfloat16, float16, "
        "export, compile, onnx, cuda, mps, plugins) matches the plain model (eager, float32, CPU) "
        "at real positions within the backend's tolerance; a matrix beside the type's status",
        "matrix",
        matrix=True,
    ),
)

CHECKS: tuple[str, ...] = tuple(c.name for c in CHECKS_TABLE)
#: the checks a type's status counts (backend-matrix columns are reported beside it)
STATUS_CHECKS: tuple[str, ...] = tuple(c.name for c in CHECKS_TABLE if not c.matrix)
MATRIX_CHECKS: frozenset[str] = frozenset(c.name for c in CHECKS_TABLE if c.matrix)
BY_NAME = {c.name: c for c in CHECKS_TABLE}


def checks_for(family: str) -> tuple[Check, ...]:
    """The checks a generated file of ``family`` holds, in table order."""
    return tuple(c for c in CHECKS_TABLE if c.applies_to(family))
