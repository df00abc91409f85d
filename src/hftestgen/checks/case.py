"""``Case``: the model-type data a generated test file holds. Importable without torch.

The checks read everything type-specific from the ``Case`` (one source: the file a user reads is
what runs): the classes per task, the user's tiny overrides, the type's record data (effective
tiny-config pins, input knobs, build exclusions) and its known exceptions with their matchers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..registry.records import Known, merge

# Tasks whose classes can ``generate`` text.
GENERATIVE_TASKS = (
    "causal_lm",
    "seq_to_seq_causal_lm",
    "speech_seq_2_seq",
    "image_text_to_text",
    "multimodal_lm",
    "vision_2_seq",
)


# Tasks whose classes return features, not a head's predictions (no loss to train).
FEATURE_TASKS = frozenset({"base", "image", "text_encoding", "backbone"})


@dataclass(frozen=True)
class Case:
    model_type: str
    family: str
    config_class: str
    classes: dict[str, tuple[str, ...]]
    tiny: dict[str, Any] = field(default_factory=dict)
    """Tiny-config values from the user's overrides file (``[types.X.tiny]``)."""
    data: dict[str, Any] = field(default_factory=dict)
    """The type's record data (``registry/types/<type>.toml`` ``[tiny]``): ``config`` pins,
    ``inputs`` knobs, ``unsupported`` / ``missing_package`` / ``upstream_bug`` / ``max_params``."""
    class_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per model class, record data over ``data`` (shared class records, ``[classes.X]``)."""
    known: tuple[Known, ...] = ()
    """Known exceptions to the checks (``[[known]]``), each with its kind, reason and matcher."""
    preprocessing: dict[str, str] = field(default_factory=dict)
    """Preprocessing kind (tokenizer, image_processor, feature_extractor, video_processor,
    processor) -> the class the installed Transformers maps the type to."""
    pipelines: dict[str, str] = field(default_factory=dict)
    """Pipeline task -> the model class the task's Auto class maps the type to."""
    checkpoint: str | None = None
    skip: str | None = None

    def data_for(self, class_name: str | None) -> dict[str, Any]:
        """Effective record data for one class: ``data``, then ``class_data[class_name]``."""
        return merge(self.data, self.class_data.get(class_name or ""))

    def known_for(self, check: str, class_name: str | None) -> Known | None:
        """The known entry that applies to ``check`` of ``class_name``, if any."""
        return next((k for k in self.known if k.applies(check, class_name)), None)

    @property
    def class_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for names in self.classes.values():
            for n in names:
                seen.setdefault(n, None)
        return list(seen)

    @property
    def primary_class(self) -> str:
        return self.class_names[0]

    def tasks_of(self, class_name: str) -> list[str]:
        return [t for t, names in self.classes.items() if class_name in names]

    @property
    def head_class_names(self) -> list[str]:
        """Classes listed under a task with a head (every task but the feature-extractor ones),
        also when the registry lists them under ``base`` too (CTC/RNNT/TDT models are the base
        class of their type and still have a loss)."""
        return [
            n for n in self.class_names if any(t not in FEATURE_TASKS for t in self.tasks_of(n))
        ]

    @property
    def generative_class_names(self) -> list[str]:
        out: dict[str, None] = {}
        for t in GENERATIVE_TASKS:
            for n in self.classes.get(t, ()):
                out.setdefault(n, None)
        return list(out)

    # ----------------------------------------------------------------------------------
    # pytest parametrizations. An empty list would make pytest report a generic
    # "got empty parameter set"; these return one parameter carrying a skip mark with a
    # concrete reason instead. pytest is imported lazily so ``Case`` stays light.

    @property
    def class_params(self) -> list[Any]:
        return self._params(self.class_names, "no-classes", "has no model classes")

    @property
    def primary_params(self) -> list[Any]:
        """The type's primary class alone (the class a snapshot records: ``golden``)."""
        return self._params(self.class_names[:1], "no-classes", "has no model classes")

    @property
    def head_params(self) -> list[Any]:
        return self._params(
            self.head_class_names,
            "no-head-classes",
            "has no head classes (only feature extractors: "
            + ", ".join(sorted(FEATURE_TASKS))
            + "), so there is no training loss to check",
        )

    @property
    def generative_params(self) -> list[Any]:
        return self._params(
            self.generative_class_names,
            "no-generative-classes",
            "has no class in a generative task (" + ", ".join(GENERATIVE_TASKS) + ")",
        )

    @property
    def preprocessing_params(self) -> list[Any]:
        """The preprocessing kinds the type maps (``preprocessing``)."""
        return self._params(
            list(self.preprocessing),
            "no-preprocessing",
            "maps to no tokenizer, image processor, feature extractor, video processor or "
            "processor",
        )

    @property
    def pipeline_params(self) -> list[Any]:
        """The pipeline tasks of the type (``pipelines``)."""
        return self._params(
            list(self.pipelines), "no-pipeline-task", "has no class in a pipeline task's mapping"
        )

    def subject_of(self, params: str, arg: str | None) -> str | None:
        """The class a test's parameter stands for: a model class, or for a preprocessing kind
        its preprocessing class, for a pipeline task its model class."""
        if params == "preprocessing_params":
            return self.preprocessing.get(arg or "")
        if params == "pipeline_params":
            return self.pipelines.get(arg or "")
        return arg

    def _params(self, names: list[str], empty_id: str, why: str) -> list[Any]:
        if names:
            return list(names)
        import pytest

        reason = f"not-applicable: {self.model_type} {why}"  # checks.skips.NOT_APPLICABLE
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id=empty_id)]
