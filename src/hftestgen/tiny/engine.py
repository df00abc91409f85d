"""``build``: tiny config + seeded tiny model, offline, with a size guard."""

from __future__ import annotations

import logging
import random
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..configs import declared_sub_configs, field_defaults, is_int, sub, text_part
from .errors import TinyError, missing_package, short

TARGET_PARAMS = 1_000_000
MAX_PARAMS = 5_000_000

SPAN_HEAD_TASKS = ("question_answering", "document_question_answering")
"""Extractive question-answering heads score span starts and ends with one linear layer of
``config.num_labels`` outputs split in two (``start_logits, end_logits = logits.split(1, -1)``,
49 heads in Transformers 5.24): they need exactly ``SPAN_LABELS`` whatever ``LABELS`` is."""
SPAN_LABELS = 2

# Tasks in order of how specific their labels are (first match wins for labels).
LABEL_TASK_ORDER = (
    "question_answering",
    "token_classification",
    "multiple_choice",
    "next_sentence_prediction",
    "sequence_classification",
    "image_classification",
    "audio_classification",
    "video_classification",
    "audio_xvector",
    "audio_frame_classification",
    "time_series_classification",
    "time_series_regression",
    "time_series_prediction",
    "ctc",
    "object_detection",
    "zero_shot_object_detection",
    "semantic_segmentation",
    "seq_to_seq_causal_lm",
    "speech_seq_2_seq",
    "vision_2_seq",
    "text_recognition",
    "masked_lm",
    "causal_lm",
    "image_text_to_text",
    "multimodal_lm",
    "pretraining",
)


_REGISTRY: list = []


def _registry():
    """The registry, loaded once per process (``use_registry`` installs one with plugins)."""
    if not _REGISTRY:
        from ..registry import load_registry

        _REGISTRY.append(load_registry())
    return _REGISTRY[0]


def use_registry(registry) -> None:
    """Make ``build`` resolve model types through ``registry`` (plugins, user overrides)."""
    _REGISTRY[:] = [registry]


def _quiet():
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def model_class(class_name: str):
    import transformers

    try:
        return getattr(transformers, class_name)
    except (ImportError, AttributeError, RuntimeError) as e:
        from ..registry.plugins import plugin_class

        registered = plugin_class(class_name)  # a plugin's class, registered with AutoModel*
        if registered is not None:
            return registered
        pkg = missing_package(e) or missing_package(e.__cause__ or e)
        if pkg:
            raise TinyError.missing(pkg) from e
        raise TinyError("registry-mismatch", f"{class_name} does not import: {short(e)}") from e


def seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is None or accelerator.is_available():
        torch.manual_seed(seed)  # every device's generator
    else:
        # CPU only: seed the one generator in use. torch.manual_seed would also queue a lazy
        # seed for each accelerator API (CUDA, XPU, MTIA), formatting the caller's stack each
        # time: 1.9 ms per call under pytest, 5 s of every 71 s of test time (measured).
        torch.random.default_generator.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:  # pragma: no cover
        pass


@dataclass
class Built:
    model: Any
    config: Any
    task: str
    model_type: str
    class_name: str
    tasks: tuple[str, ...] = ()
    family: str = ""
    n_params: int = 0
    input_knobs: dict = field(default_factory=dict)
    _calib: dict = field(default_factory=dict, repr=False)

    @property
    def label_task(self) -> str:
        for t in LABEL_TASK_ORDER:
            if t in self.tasks:
                return t
        return self.task

    def inputs(self, batch_size: int = 2, seed: int = 0, labels: bool = False) -> dict:
        from .inputs import make_inputs

        return make_inputs(self, batch_size=batch_size, seed=seed, labels=labels)


def build(
    model_type: str,
    class_name: str,
    tiny: dict | None = None,
    seed: int = 0,
    max_params: int | None = None,
    data: dict | None = None,
) -> Built:
    """Tiny config + model of ``class_name`` for ``model_type``: CPU, eval mode, seeded.

    ``data`` is the class's record data (``Case.data_for``: config pins, input knobs, build
    exclusions); ``None`` reads it from the records (``hftestgen.registry.records``). ``tiny``
    holds config values over it (a user's overrides)."""
    _quiet()
    spec, tasks = _resolve(model_type, class_name)
    if data is None:
        from ..registry.records import load_records

        data = load_records().tiny_for(model_type, class_name)
    _refuse_declared(data)
    cls = model_class(class_name)
    cfg_cls, on_sub_config = _config_class(model_type, cls)
    pinned = _pins(data, spec.tiny, tiny, cfg_cls if on_sub_config else None, tasks)
    pinned = _type_text_config(model_type, cls, cfg_cls, pinned)
    limit = max_params or int(data.get("max_params", MAX_PARAMS))
    model = _instantiate(cls, class_name, cfg_cls, pinned, limit, seed)
    n = sum(p.numel() for p in model.parameters())
    if n > limit:
        raise _too_big(class_name, n, limit)
    return Built(
        model=model,
        config=model.config,
        task=tasks[0],
        model_type=model_type,
        class_name=class_name,
        tasks=tasks,
        family=spec.family,
        n_params=n,
        input_knobs=dict(data.get("inputs", {}) or {}),
    )


def _resolve(model_type: str, class_name: str) -> tuple[Any, tuple[str, ...]]:
    """The registry spec of the type and the tasks ``class_name`` is listed under."""
    spec = _registry().get(model_type)
    if spec is None:
        raise TinyError("registry-mismatch", f"unknown model type {model_type!r}")
    tasks = tuple(t for t, names in spec.classes.items() if class_name in names)
    if not tasks:
        raise TinyError("registry-mismatch", f"{class_name} is not a model class of {model_type}")
    return spec, tasks


def _refuse_declared(data: dict) -> None:
    """Builds the record declares impossible here: unsupported, a missing package, a bug."""
    from .errors import TIMM_REASON

    if data.get("unsupported"):
        raise TinyError("unsupported", data["unsupported"])
    pkg = data.get("missing_package")
    if pkg and not _importable(pkg):  # declared for when it is absent; installed, it is built
        raise TinyError.missing(TIMM_REASON if pkg == "timm" else pkg)
    if data.get("upstream_bug"):
        raise TinyError("upstream-bug", data["upstream_bug"])


def _importable(package: str) -> bool:
    """Whether ``package`` imports here (timm needs a torchvision that loads its ops)."""
    import importlib

    try:
        importlib.import_module(package)
    except Exception:  # ImportError, or a broken install (torchvision ops with the CPU torch)
        return False
    return True


def _config_class(model_type: str, cls: Any) -> tuple[Any, bool]:
    """The config class to shrink, and whether it is a sub-config of the type's config (a text
    model class whose ``config_class`` is the composite's text sub-config)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        cfg_cls = CONFIG_MAPPING[model_type]
    except Exception:
        cfg_cls = getattr(cls, "config_class", None)
    want = _own_config_class(cls, cfg_cls)
    if (
        want is not None
        and isinstance(want, type)
        and cfg_cls is not want
        and issubclass(want, cfg_cls) is False
    ):
        cfg_cls = want
    on_sub = (
        cfg_cls is want
        and model_type in CONFIG_MAPPING
        and cfg_cls is not CONFIG_MAPPING[model_type]
    )
    return cfg_cls, on_sub


def _own_config_class(cls: Any, type_cfg: Any) -> Any:
    """The config class ``cls`` is built on (rule ``inherited-config-class``): its
    ``config_class``, unless it only inherits it from its family's base class (4.x: 4.57's
    ``Blip2QFormerModel`` and ``Emu3TextModel`` inherit ``Blip2Config`` / ``Emu3Config`` from
    ``Blip2PreTrainedModel`` / ``Emu3PreTrainedModel`` but take ``Blip2QFormerConfig`` /
    ``Emu3TextConfig``; 5.x declares them). Then the sub-config named like the class
    (``Emu3TextModel`` -> ``Emu3TextConfig``) of the inherited or the type's config, else the
    type's config when it is one of the inherited config's sub-configs."""
    want = getattr(cls, "config_class", None)
    # 4.57's PreTrainedModel.__init_subclass__ copies the parent's into every subclass's dict
    if not isinstance(want, type) or all(
        getattr(base, "config_class", None) is not want for base in cls.__mro__[1:]
    ):
        return want
    stem = cls.__name__[: -len("Model")] if cls.__name__.endswith("Model") else None
    subs = [*declared_sub_configs(want).values()]
    if isinstance(type_cfg, type):
        subs += declared_sub_configs(type_cfg).values()
    named = [c for c in subs if isinstance(c, type) and c.__name__ == f"{stem}Config"]
    if named:
        return named[0]
    return type_cfg if type_cfg in subs else want


def _pins(data: dict, spec_tiny: Any, tiny: dict | None, sub_cfg: Any, tasks: tuple) -> dict:
    """Config values over the engine's: the record's, then the registry's user overrides, then
    the caller's; lifted for a class built on a sub-config. Classification heads that batch
    need a pad token (``_needs_pad``); span heads two labels (``SPAN_HEAD_TASKS``)."""
    from ..registry.records import merge

    pinned = merge(data.get("config", {}) or {}, dict(spec_tiny or {}))
    pinned = merge(pinned, dict(tiny or {}))
    if sub_cfg is not None:
        pinned = _for_sub_config(sub_cfg, pinned)
    if any(t in tasks for t in ("sequence_classification", "multiple_choice")):
        pinned.setdefault("_needs_pad", True)
    if any(t in tasks for t in SPAN_HEAD_TASKS):
        pinned.setdefault("num_labels", SPAN_LABELS)
    return pinned


def _type_text_config(model_type: str, cls: Any, cfg_cls: Any, pinned: dict) -> dict:
    """Rule TYPE_TEXT_CONFIG: a head that loads any checkpoint as its text model
    (``checkpoint_config``: decision/modeling_utils.py ``DecisionMixin``, "the config of the
    checkpoint is the ``text_config`` of the decision model"), registered for a type but built
    on its own config (JevForDecision: JevConfig, registered for qwen2, qwen3_5, gemma4, ...),
    gets the registering type's config as its text config, as a checkpoint of that type with
    the head next to its weights loads; the class's default text model would test one text model
    under every type. Other classes built on another type's config (Glm46V under glmga) keep
    that config's own text model."""
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if not callable(getattr(cls, "checkpoint_config", None)):
        return pinned
    try:
        own = CONFIG_MAPPING[model_type]
    except KeyError:
        return pinned
    if own is cfg_cls or declared_sub_configs(cfg_cls).get("text_config") is not AutoConfig:
        return pinned
    text = dict(pinned.get("text_config") or {})
    text.setdefault("model_type", model_type)
    return {**pinned, "text_config": text}


def _too_big(class_name: str, n: int, limit: int) -> TinyError:
    return TinyError(
        "too-big", f"{class_name}: {n:,} parameters with the tiny config (cap {limit:,})"
    )


def _instantiate(
    cls: Any, class_name: str, cfg_cls: Any, pinned: dict, limit: int, seed: int
) -> Any:
    """Tiny config, size check on the meta device, then the seeded model in eval mode."""
    from .config import tiny_config

    pinned = dict(pinned)
    needs_pad = pinned.pop("_needs_pad", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = tiny_config(cfg_cls, pinned)
        if needs_pad:
            _ensure_pad(config)
        _ensure_decoder_start(config)
        n_meta = _meta_params(cls, config)
        if n_meta is not None and n_meta > limit:
            raise _too_big(class_name, n_meta, limit)
        seed_all(seed)
        try:
            model = cls(config)
        except TinyError:
            raise
        except Exception as e:
            raise classify_build_error(e, class_name) from e
    model.eval()
    if getattr(type(model).forward, "__name__", "") == "_forward_unimplemented":
        raise TinyError(
            "unsupported", f"{class_name} defines no forward() (generation/pipeline-only class)"
        )
    return model


def _for_sub_config(cfg_cls, pinned: dict) -> dict:
    """Type-level values for a class built on a sub-config (e.g. a vision tower of a composite
    type): the composite's ``<base_config_key>`` table applies to it, and the composite's other
    sub-config tables (dicts that are no field of ``cfg_cls``) do not. Left in, they became stray
    attributes that ``from_pretrained`` then mistook for the sub-config to load."""
    from ..registry.records import merge as _merge

    fields = field_defaults(cfg_cls)
    key = getattr(cfg_cls, "base_config_key", None) or ""
    lifted = pinned.get(key) if key not in fields else None
    out = {k: v for k, v in pinned.items() if k in fields or not isinstance(v, dict)}
    return _merge(lifted, out) if isinstance(lifted, dict) else out


def _ensure_pad(config) -> None:
    """Sequence-classification heads of decoders need a pad token for batch > 1."""
    for c in (config, sub(config, "text_config")):
        if c is None or not hasattr(c, "pad_token_id"):
            continue
        if getattr(c, "pad_token_id", None) is None:
            try:
                c.pad_token_id = 0
            except Exception:
                pass


def _ensure_decoder_start(config) -> None:
    """An encoder-decoder needs a decoder start token to generate (and to shift labels into
    decoder inputs); real checkpoints set one, random configs often lack it. Derive it as
    Transformers' own tests do: the decoder's start/bos token, else its pad token (T5 convention,
    EncoderDecoder tests), else 0."""
    if not getattr(config, "is_encoder_decoder", False):
        return
    if (
        getattr(config, "decoder_start_token_id", None) is not None
        or getattr(config, "bos_token_id", None) is not None
    ):
        return
    dec = text_part(config)
    start = None
    for c in (dec, config):
        for name in ("decoder_start_token_id", "bos_token_id", "pad_token_id"):
            v = getattr(c, name, None) if c is not None else None
            if is_int(v) and v >= 0:
                start = v
                break
        if start is not None:
            break
    try:
        config.decoder_start_token_id = 0 if start is None else start
    except Exception:
        pass


def _meta_params(cls, config) -> int | None:
    import torch

    try:
        with torch.device("meta"):
            m = cls(config)
        return sum(p.numel() for p in m.parameters())
    except Exception:
        return None


def classify_build_error(e: BaseException, class_name: str) -> TinyError:
    pkg = missing_package(e)
    if pkg:
        return TinyError.missing(pkg)
    return TinyError("config-invariant", f"{class_name}(config): {short(e)}")


# --------------------------------------------------------------------------------------
# the regime statistic: is attention informative at the tiny init scale?


def attention_entropy_ratio(built: Built, inputs: dict | None = None) -> float | None:
    """Mean normalized attention entropy of a tiny model on its tiny inputs: for every layer,
    head, sample and query row that attends at least two keys, the row's entropy divided by
    ``log(number of keys it attends)`` (probabilities > 1e-12), averaged. 1.0 is uniform
    attention (a scale, mask or softmax bug barely moves the outputs); lower is informative.
    Runs a copy of the model with eager attention and ``output_attentions=True``; ``None`` when
    the model returns no attention maps."""
    import copy

    import torch

    model = copy.deepcopy(built.model).float().eval()
    try:
        model.set_attn_implementation("eager")
    except Exception:
        pass
    inputs = built.inputs() if inputs is None else inputs
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = model(**inputs, output_attentions=True)
        except Exception:
            return None
    ratios = [r for maps in _attention_maps(out) for r in _row_ratios(maps)]
    if not ratios:
        return None
    return float(torch.cat(ratios).double().mean())


def _attention_maps(out: Any) -> list:
    """Every 4-D attention tensor in ``*attentions`` output fields (nested outputs too)."""
    import torch

    found: list = []

    def walk(x: Any, depth: int = 0) -> None:
        if isinstance(x, torch.Tensor):
            if x.ndim == 4 and x.is_floating_point():
                found.append(x)
        elif isinstance(x, (list, tuple)) and depth < 4:
            for y in x:
                walk(y, depth + 1)

    items = out.items() if hasattr(out, "items") else []
    for name, value in items:
        if name.endswith("attentions"):
            walk(value)
        elif hasattr(value, "items") and not isinstance(value, torch.Tensor):
            found.extend(_attention_maps(value))
    return found


def _row_ratios(maps: Any) -> list:
    """Entropy / log(attended keys) of each row with at least two attended keys."""
    import torch

    p = maps.detach().double().reshape(-1, maps.shape[-1])
    if not torch.isfinite(p).all():
        return []
    attended = (p > 1e-12).sum(-1)
    keep = attended >= 2
    if not keep.any():
        return []
    p, n = p[keep], attended[keep].double()
    h = -(p * torch.log(p.clamp_min(1e-300))).sum(-1)
    return [h / torch.log(n)]
