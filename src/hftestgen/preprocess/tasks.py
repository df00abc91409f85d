"""The pipeline tasks of a model type, derived from ``transformers.pipelines.SUPPORTED_TASKS``.

A task belongs to a type when one of the task's own Auto classes maps the type to a model class
the registry lists (the first that does). An Auto class a task lists is its own unless it is
another task's first Auto class: ``decision`` also lists the image-text-to-text and causal-LM
classes as fallbacks, which are those tasks' own. Three tasks name plain ``AutoModel``, which
maps every type; for them a named rule says which types the task is for (``GENERIC_TASKS``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

GENERIC_TASKS: dict[str, tuple[str, str]] = {
    "feature-extraction": (
        "tokenizer",
        "AutoModel maps every type; text feature extraction is for types whose only "
        "preprocessing is a tokenizer",
    ),
    "image-feature-extraction": (
        "image_processor",
        "AutoModel maps every type; image feature extraction is for types whose only "
        "preprocessing is an image processor",
    ),
    "zero-shot-audio-classification": (
        "audio+text",
        "AutoModel maps every type; the pipeline calls get_audio_features and "
        "get_text_features, so it is for audio-text dual encoders",
    ),
}
"""Tasks whose model class is plain ``AutoModel``: (what the type needs, the reason)."""


def _auto_names(auto_cls) -> dict[str, str]:
    mapping = getattr(auto_cls, "_model_mapping", None)
    names = getattr(mapping, "_model_mapping", None) or {}
    out = {}
    for mt, name in dict(names).items():
        if isinstance(name, (list, tuple)):
            name = name[0] if name else None
        if name:
            out[mt] = name
    return out


_TABLE: list[dict[str, list]] = []


def task_table() -> dict[str, list]:
    """task -> [its own pt Auto classes' {type: class}, ...], read once per process."""
    if not _TABLE:
        try:
            from transformers.pipelines import SUPPORTED_TASKS
        except ImportError:  # pragma: no cover - a broken install
            SUPPORTED_TASKS = {}
        firsts = {task: (d.get("pt") or (None,))[0] for task, d in SUPPORTED_TASKS.items()}
        table = {}
        for task, d in SUPPORTED_TASKS.items():
            own = [
                a
                for i, a in enumerate(d.get("pt") or ())
                if i == 0 or not any(a is f for t, f in firsts.items() if t != task)
            ]
            table[task] = [_auto_names(a) for a in own]
        _TABLE.append(table)
    return _TABLE[0]


def _generic_applies(
    need: str, kinds: Mapping[str, str], class_obj, encoder_decoder: bool = False
) -> bool:
    if need == "tokenizer":
        # the feature-extraction pipeline calls the base model with the tokenizer's output
        # alone: an encoder-decoder base model also needs decoder inputs
        return set(kinds) == {"tokenizer"} and not encoder_decoder
    if need == "image_processor":
        return set(kinds) == {"image_processor"}
    if need == "audio+text":
        return class_obj is not None and all(
            m in dir(class_obj) for m in ("get_audio_features", "get_text_features")
        )
    raise ValueError(need)


def pipeline_tasks(
    model_type: str,
    classes: Iterable[str],
    kinds: Mapping[str, str],
    base: str | None = None,
    encoder_decoder: bool = False,
) -> dict[str, str]:
    """task -> model class for ``model_type``: classes the registry lists (``classes``), the
    type's preprocessing kinds (``kinds``), its base class (``base``, for the generic tasks)."""
    listed = set(classes)
    out: dict[str, str] = {}
    for task, autos in sorted(task_table().items()):
        if not autos:
            continue
        if task in GENERIC_TASKS:
            if base is None or base not in listed:
                continue
            import transformers

            try:
                cls = getattr(transformers, base, None)
                cls.__mro__  # noqa: B018 - a dummy class for a missing backend raises here
            except (ImportError, AttributeError):
                cls = None
            if _generic_applies(GENERIC_TASKS[task][0], kinds, cls, encoder_decoder):
                out[task] = base
            continue
        name = next((a[model_type] for a in autos if a.get(model_type) in listed), None)
        if name:
            out[task] = name
    return out
