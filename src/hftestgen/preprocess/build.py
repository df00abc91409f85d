"""``preprocessing_for(model_type, config)``: all of a type's tiny preprocessing, cached.

The order is the dependency order: the processor's special tokens (image / audio / video
placeholders at the tiny config's ids) go into the tokenizer, the tokenizer and the image /
audio / video parts into the composite processor. A kind that cannot be built here is a named
skip (``skipped``: a package, torchvision); one that should have been built and was not is an
error (``errors``), which the ``preprocessing`` check reports as a failure."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from . import KINDS, PreprocessError, PreprocessSkip


@dataclass
class Preprocessing:
    """One type's synthesized preprocessing. ``None`` where not mapped; ``skipped`` names why a
    mapped kind was not built; ``config_overrides`` are config values the preprocessing needs
    the model built with (a fixed-vocabulary tokenizer larger than the tiny vocab)."""

    model_type: str
    tokenizer: Any = None
    image_processor: Any = None
    feature_extractor: Any = None
    video_processor: Any = None
    processor: Any = None
    names: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)
    """Kind -> the missing package its skip names (``PreprocessSkip.package``), as data: a check
    reports it without re-reading the reason."""
    errors: dict[str, str] = field(default_factory=dict)
    config_overrides: dict[str, Any] = field(default_factory=dict)
    extra_special_tokens: dict[str, str] = field(default_factory=dict)
    """Config id field -> token string the processor expects there (``<image>``)."""

    def parts(self) -> dict[str, Any]:
        """The built kinds, kind -> instance."""
        return {k: getattr(self, k) for k in KINDS if getattr(self, k) is not None}

    def problem(self, kind: str) -> str | None:
        return self.skipped.get(kind) or self.errors.get(kind)

    def pipeline_kwargs(self) -> dict[str, Any]:
        """What ``transformers.pipeline`` takes beside the model."""
        out = {}
        for kind in ("tokenizer", "image_processor", "feature_extractor", "processor"):
            if getattr(self, kind) is not None:
                out[kind] = getattr(self, kind)
        return out


def _short(e: BaseException) -> str:
    s = f"{type(e).__name__}: {e}"
    return s if len(s) < 300 else s[:297] + "..."


def synthesize(model_type: str, config: Any, names: dict[str, str] | None = None) -> Preprocessing:
    """Build every preprocessing kind ``names`` maps (default: the registry's, i.e. the
    installed Transformers' mapping with its named rules), sized to ``config``. Never raises for
    one kind: a kind's failure is recorded and the kinds that do not depend on it are built."""
    from .mapping import spec_for

    spec = spec_for(model_type)
    if names is None:
        names = _registry_names(model_type)
    names = dict(spec.as_dict() if names is None else names)
    from . import unsupported_release

    why = unsupported_release()
    if why is not None:  # every kind a named skip on a release the synthesis cannot use
        return Preprocessing(model_type, names=names, skipped={k: why for k in names})
    if names.get("processor"):
        from .processors import declared_part_names

        names.update(declared_part_names(names["processor"], config, names))
    out = Preprocessing(model_type, names=names)
    tv = set(spec.torchvision_only)

    def attempt(kind: str, make) -> None:
        name = names.get(kind)
        if not name:
            return
        if name in tv:
            out.skipped[kind] = (
                f"{name} has only a torchvision backend; torchvision cannot load its ops with "
                "this CPU torch"
            )
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                setattr(out, kind, make(name))
        except PreprocessSkip as e:
            out.skipped[kind] = e.reason
            if e.package:
                out.packages[kind] = e.package
        except (PreprocessError, Exception) as e:  # recorded, reported by the check
            out.errors[kind] = _short(e)

    from . import processors, tokenizers, vision_audio

    extra = {}
    if names.get("processor"):
        try:
            extra = processors.processor_special_tokens(names["processor"], config)
        except Exception as e:  # the processor's build below reports it
            extra = {}
            out.errors.setdefault("processor", _short(e))

    out.extra_special_tokens = dict(extra)

    def make_tokenizer(name):
        tok, overrides = tokenizers.synthesize_tokenizer(name, config, extra_special_tokens=extra)
        out.config_overrides.update(overrides)
        return tok

    attempt("tokenizer", make_tokenizer)
    if out.tokenizer is not None:
        pad_from_eos(out.tokenizer)
        max_length_from_positions(out.tokenizer, config)
    attempt("image_processor", lambda n: vision_audio.synthesize_image_processor(n, config))
    attempt("feature_extractor", lambda n: vision_audio.synthesize_feature_extractor(n, config))
    attempt("video_processor", lambda n: vision_audio.synthesize_video_processor(n, config))
    if names.get("processor") and "processor" not in out.errors:
        missing = [k for k in KINDS[:-1] if names.get(k) and getattr(out, k) is None]
        if missing:
            why = "; ".join(f"{k}: {out.problem(k)}" for k in missing)
            if all(k in out.skipped for k in missing):
                out.skipped["processor"] = f"needs {', '.join(missing)}, skipped ({why})"
                pkg = next((out.packages[k] for k in missing if k in out.packages), None)
                if pkg:  # the first part's missing package is the processor's
                    out.packages["processor"] = pkg
            else:
                out.errors["processor"] = f"needs {', '.join(missing)}, which failed ({why})"
        else:
            if out.tokenizer is not None:
                equip_processor_tokens(out, names["processor"], config)
            attempt(
                "processor",
                lambda n: processors.synthesize_processor(n, config, out.parts()),
            )
            if out.processor is not None and out.tokenizer is not None:
                grow_for_processor_tokens(out, config)
    return out


def grow_for_processor_tokens(out: Preprocessing, config: Any) -> None:
    """Rule ``PROCESSOR_ADDS_TOKENS``: a processor whose ``__init__`` adds special tokens to its
    tokenizer itself (Idefics3: ``<fake_token_around_image>``, ``<end_of_utterance>``,
    processing_idefics3.py ``tokenizer.add_special_tokens``) gives them ids past the tiny
    vocabulary; the model is rebuilt with a vocabulary that holds them (``vocab_size`` override
    as ``VOCAB_OVERRIDE_RULE``, ids pinned), else their embedding lookup is out of range."""
    from . import processors, tokenizers

    base = int(out.config_overrides.get("vocab_size") or tokenizers.layout_for(config).vocab_size)
    top = max(out.tokenizer.get_vocab().values()) + 1
    if top > base:
        over = {"vocab_size": top}
        out.config_overrides.update(processors.nested_vocab_override(config, over))


def equip_processor_tokens(out: Preprocessing, processor_name: str, config: Any) -> None:
    """``processors.equip_tokenizer`` on the built tokenizer (rule ``PROCESSOR_TOKENS``), its
    vocabulary override kept with the others; a failure is the processor's error."""
    from . import processors, tokenizers

    base = int(out.config_overrides.get("vocab_size") or tokenizers.layout_for(config).vocab_size)
    try:
        over = processors.equip_tokenizer(out.tokenizer, processor_name, base)
    except Exception as e:
        out.errors["processor"] = f"adding its tokens to the tokenizer: {_short(e)}"
        return
    out.config_overrides.update(processors.nested_vocab_override(config, over))


def _registry_names(model_type: str) -> dict[str, str] | None:
    """The preprocessing the registry derived for the type (``ModelSpec.preprocessing``)."""
    try:
        from ..tiny.engine import _registry

        spec = _registry().get(model_type)
    except Exception:  # no registry here: the plain mapping
        return None
    return dict(spec.preprocessing) if spec is not None else None


def pad_from_eos(tok: Any) -> None:
    """Rule: a tokenizer without a pad token pads with its EOS token (else UNK), what
    Transformers' pipelines ask for before batching ("set pad_token_id = eos_token_id"); the
    config names no pad id, so no config id changes."""
    if getattr(tok, "pad_token", None) is None:
        for role in ("eos_token", "unk_token", "bos_token"):
            if getattr(tok, role, None) is not None:
                tok.pad_token = getattr(tok, role)
                return


POSITION_LIMITS = ("max_position_embeddings", "n_positions")
"""Config attributes that bound a text model's sequence length (its position table)."""


def max_length_from_positions(tok: Any, config: Any) -> None:
    """Rule MAX_LENGTH_FROM_POSITIONS: a tokenizer whose ``model_max_length`` is unset
    (Transformers' ``VERY_LARGE_INTEGER``, as a synthesized tokenizer's is) gets the text config's
    position-table length, what a checkpoint's ``tokenizer_config.json`` states: pipelines
    truncate to it (zero-shot-classification's ``truncation="only_first"``) or pass it on as
    ``max_length`` (document-question-answering's ``min(model_max_length, 512)``; the unset value
    overflows the Rust tokenizer: "int too big to convert"). A limit the tokenizer class sets
    itself is kept."""
    current = getattr(tok, "model_max_length", None)
    if current is not None and current < 1e20:
        return
    try:
        text = config.get_text_config()
    except Exception:  # several text configs: the top level's
        text = config
    for attr in POSITION_LIMITS:
        for c in (text, config):
            n = getattr(c, attr, None)
            if isinstance(n, int) and n > 0:
                tok.model_max_length = n
                return


_CACHE: dict[tuple[str, int], tuple[Any, Preprocessing]] = {}


def preprocessing_for(
    model_type: str, config: Any, names: dict[str, str] | None = None
) -> Preprocessing:
    """``synthesize`` once per (type, config object) in this process (the config is held with
    the entry, so its id is not reused while cached)."""
    key = (model_type, id(config))
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not config:
        if len(_CACHE) > 8:
            _CACHE.clear()
        hit = _CACHE[key] = (config, synthesize(model_type, config, names))
    return hit[1]
