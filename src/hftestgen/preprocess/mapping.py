"""Which preprocessing classes the installed Transformers maps a model type to.

Feature detection over version strings: Transformers 4.x maps tokenizers to (slow, fast) name
pairs and image processors to (slow, fast); 5.x maps tokenizers to one name and image / video
processors to {backend: name} dicts ("pil", "torchvision")."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PreprocessingSpec:
    """The preprocessing class names of one model type (None: not mapped)."""

    model_type: str
    tokenizer: str | None = None
    image_processor: str | None = None
    feature_extractor: str | None = None
    video_processor: str | None = None
    processor: str | None = None
    torchvision_only: tuple[str, ...] = ()
    """Mapped classes that exist only with a torchvision backend (skipped here)."""

    def classes(self) -> dict[str, str]:
        """Kind -> class name of every mapped kind (``KINDS`` order), the torchvision-only
        ones (``torchvision_only``) included: they are a named skip here, not unmapped."""
        from . import KINDS

        return {k: getattr(self, k) for k in KINDS if getattr(self, k)}

    as_dict = classes


AUTO_MAPPINGS = {
    "tokenizer": ("tokenization_auto", "TOKENIZER_MAPPING_NAMES"),
    "image_processor": ("image_processing_auto", "IMAGE_PROCESSOR_MAPPING_NAMES"),
    "feature_extractor": ("feature_extraction_auto", "FEATURE_EXTRACTOR_MAPPING_NAMES"),
    "video_processor": ("video_processing_auto", "VIDEO_PROCESSOR_MAPPING_NAMES"),
    "processor": ("processing_auto", "PROCESSOR_MAPPING_NAMES"),
}
"""Kind -> (module under ``transformers.models.auto``, mapping name). The modules are imported
with ``importlib``: ``from transformers.models.auto import video_processing_auto`` hands back a
dummy placeholder without torchvision, while the module itself imports (it only maps names)."""

PIL_BACKEND = "pil"
TORCHVISION_BACKEND = "torchvision"

_MAPPINGS: dict[str, Mapping[str, Any]] = {}


def auto_mapping(kind: str) -> Mapping[str, Any]:
    """The installed Transformers' model type -> class name(s) mapping for ``kind`` (empty where
    the module or mapping is missing: an older Transformers without video processors)."""
    if kind not in _MAPPINGS:
        module, name = AUTO_MAPPINGS[kind]
        before = _pristine(name)
        try:
            mod = importlib.import_module(f"{_AUTO}.{module}")
            mapping = getattr(mod, name)
        except (ImportError, AttributeError):
            mapping = {}
        mapping = dict(mapping) if isinstance(mapping, Mapping) else {}
        for mt, value in mapping.items():
            if isinstance(value, Mapping) and not any(value.values()):
                # video_processing_auto blanks torchvision names when torchvision is missing
                # ({"torchvision": None}, the dicts mutated in place): the name from before the
                # import, else a stand-in naming the type
                old = before.get(mt)
                mapping[mt] = {
                    TORCHVISION_BACKEND: (old or {}).get(TORCHVISION_BACKEND) or f"{mt}:{kind}"
                }
        _MAPPINGS[kind] = mapping
    return _MAPPINGS[kind]


_AUTO = "transformers.models.auto"


def _pristine(name: str) -> dict[str, Any]:
    """``auto_mappings.<name>`` (Transformers 5) as its source file defines it: a fresh copy of
    the module (it imports only ``collections``), whatever the auto module that blanks names in
    place did to the loaded one, so the names do not depend on import order; empty where there
    is none."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(f"{_AUTO}.auto_mappings")
        if spec is None or spec.origin is None:
            return {}
        fresh = importlib.util.spec_from_file_location("_hftestgen_auto_mappings", spec.origin)
        mod = importlib.util.module_from_spec(fresh)
        fresh.loader.exec_module(mod)
    except (ImportError, OSError, SyntaxError):
        return {}
    src = getattr(mod, name, None)
    if not isinstance(src, Mapping):
        return {}
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in src.items()}


def pick(kind: str, value: Any) -> tuple[str | None, str | None]:
    """(the class to build here, a class that exists only for torchvision) of one mapping value.

    * a str / None (5.x tokenizers, feature extractors, processors): that name;
    * a {backend: name} dict (5.x image / video processors): the "pil" class; a dict whose only
      class is a torchvision one gives (None, that class);
    * a (slow, fast) tuple (4.x tokenizers, image processors): image processors prefer the slow
      class (PIL / numpy), the fast one needs torchvision; tokenizers prefer the fast one (the
      synthesized tokenizers are ``tokenizers`` ones), else the slow one."""
    if value is None or isinstance(value, str):
        return value or None, None
    if isinstance(value, Mapping):
        pil = value.get(PIL_BACKEND)
        if pil:
            return pil, None
        others = [v for v in value.values() if v]
        tv = value.get(TORCHVISION_BACKEND) or (others[0] if others else None)
        return None, tv
    if isinstance(value, (tuple, list)):
        slow = value[0] if len(value) > 0 else None
        fast = value[1] if len(value) > 1 else None
        if kind == "tokenizer":
            return fast or slow, None
        if slow:
            return slow, None
        return None, fast
    return None, None


def spec_for(model_type: str) -> PreprocessingSpec:
    """The preprocessing classes the installed Transformers maps ``model_type`` to."""
    names: dict[str, str | None] = {}
    tv_only: list[str] = []
    for kind in AUTO_MAPPINGS:
        mapping = auto_mapping(kind)
        if model_type not in mapping:
            names[kind] = None
            continue
        name, tv = pick(kind, mapping[model_type])
        names[kind] = name or tv
        if tv and not name:
            tv_only.append(tv)
    return PreprocessingSpec(model_type=model_type, torchvision_only=tuple(tv_only), **names)


def all_specs(registry: Any = None) -> dict[str, PreprocessingSpec]:
    """``spec_for`` of every model type of the registry (the loaded one by default)."""
    if registry is None:
        from ..registry import load_registry

        registry = load_registry()
    return {mt: spec_for(mt) for mt in registry}


TEXT_MODEL_TASKS = frozenset(
    {
        "causal_lm",
        "masked_lm",
        "seq_to_seq_causal_lm",
        "sequence_classification",
        "token_classification",
        "question_answering",
        "multiple_choice",
        "decision",  # JevForDecision reads a decision prompt's input_ids
    }
)
"""Registry tasks whose classes read token ids from a tokenizer."""


def tokenizer_fallback(
    kinds: Mapping[str, str], tasks: Mapping[str, Any], config_class: str
) -> dict[str, str]:
    """Rule AUTO_TOKENIZER_FALLBACK: a type with a text-model class (``TEXT_MODEL_TASKS``) whose
    mapping names no preprocessing at all gets the tokenizer ``AutoTokenizer`` would load for
    its checkpoints: ``<Prefix>Tokenizer`` where Transformers defines one for the config class
    ``<Prefix>Config`` (Transformers 5 maps none to ``llama``; its checkpoints name
    ``LlamaTokenizer``), else ``TokenizersBackend`` (a ``tokenizer.json`` alone). Returns the
    kinds, with the tokenizer added where the rule applies."""
    out = dict(kinds)
    if out or not TEXT_MODEL_TASKS & set(tasks):
        return out
    import transformers

    prefix = config_class[: -len("Config")] if config_class.endswith("Config") else ""
    named = f"{prefix}Tokenizer"
    try:
        exists = bool(prefix) and named in dir(transformers) and getattr(transformers, named)
    except (ImportError, AttributeError):
        exists = False
    out["tokenizer"] = named if exists else "TokenizersBackend"
    return out
