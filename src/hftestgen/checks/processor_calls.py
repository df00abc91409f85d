"""Per-class facts of a composite processor's raw-input call (data, each with its reason).

``pipelines._processor_call`` calls a processor with text plus the inputs its parts take (images,
audio); a few processor classes take their raw input differently: a required argument the raw
input does not give (OneFormer's task, Cohere ASR's language), one modality per call (ColPali's
documents or queries). ``CALL_VALUES`` lists them; ``call_kwargs`` applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CallValues:
    """Keyword arguments one processor class's ``__call__`` needs for raw input (data)."""

    class_name: str
    values: Mapping[str, Any]
    reason: str
    drop: tuple[str, ...] = field(default=())
    """Raw inputs the call leaves out (a processor that takes one modality per call)."""
    text_input: bool = False
    """The text is model input though the processor writes no audio placeholder (a text prompt
    with an optional audio prompt), not the transcription target ``_processor_call`` assumes."""


CALL_VALUES: tuple[CallValues, ...] = (
    CallValues(
        "OneFormerProcessor",
        {"task_inputs": ["semantic"]},
        "OneFormer conditions on a task prompt: OneFormerProcessor.__call__ raises without "
        "task_inputs (processing_oneformer.py), one of semantic / instance / panoptic",
        drop=("text",),
    ),
    CallValues(
        "CohereAsrProcessor",
        {"language": "en"},
        "CohereAsrProcessor.__call__ takes a required language (processing_cohere_asr.py: "
        "get_decoder_prompt_ids builds the decoder prompt from it)",
    ),
    CallValues(
        "ColPaliProcessor",
        {},
        "ColPali embeds documents (images) and queries (text) in separate calls: __call__ raises "
        "'Only one of text or images can be processed at a time' (processing_colpali.py); the "
        "document side, images, is the one that feeds the vision tower",
        drop=("text",),
    ),
    CallValues(
        "ColQwen2Processor",
        {},
        "one modality per call, as ColPaliProcessor (processing_colqwen2.py)",
        drop=("text",),
    ),
    CallValues(
        "MusicgenProcessor",
        {},
        "MusicGen generates music from a text prompt: the tokenizer's input_ids feed "
        "MusicgenForConditionalGeneration's text encoder, the audio is an optional audio prompt "
        "for the decoder (ProcessorMixin.__call__ returns both; modeling_musicgen.py: "
        "MusicgenForConditionalGeneration.forward, input_ids / input_values)",
        text_input=True,
    ),
    CallValues(
        "EvollaProcessor",
        {
            "proteins": [{"aa_seq": "MKTAYIAKQR", "foldseek": "dpvvqdllvv"}],
            "messages_list": [[{"role": "user", "content": "hello world, the quick brown fox"}]],
        },
        "Evolla reads a protein with a chat about it: EvollaProcessor.__call__ raises without "
        "proteins (amino-acid sequence aa_seq with its Foldseek structure string, one letter per "
        "residue) and messages_list, and takes no text (processing_evolla.py: __call__, "
        "'You need to specify `messages_list` and `proteins`')",
        drop=("text",),
    ),
)
"""Per-class raw-call arguments of composite processors."""


def call_kwargs(proc: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with the entries of ``CALL_VALUES`` for the processor's class (or a base)."""
    names = {c.__name__ for c in type(proc).__mro__}
    for entry in CALL_VALUES:
        if entry.class_name in names:
            kwargs = {k: v for k, v in kwargs.items() if k not in entry.drop}
            kwargs.update(entry.values)
    return kwargs


def reads_text(proc: Any) -> bool:
    """Whether an entry of ``CALL_VALUES`` says the processor's text is model input
    (``CallValues.text_input``)."""
    names = {c.__name__ for c in type(proc).__mro__}
    return any(e.text_input for e in CALL_VALUES if e.class_name in names)
