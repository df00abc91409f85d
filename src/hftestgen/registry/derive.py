"""The registry: every model type of the installed Transformers, derived at run time.

Nothing here is a hand-written list of models. For each model type in Transformers' config
mapping we read:

* its config class (``CONFIG_MAPPING``),
* its model classes per task, from every auto-model mapping (``MODEL_FOR_<TASK>_MAPPING``),
  including classes registered at run time through ``AutoConfig.register`` /
  ``AutoModel*.register`` (plugins),
* for types outside all mappings, a model class found by naming convention
  (``FooTextConfig`` -> ``FooTextModel``),
* for component configs with no model class, the parent types whose configs nest them,
* its family (``families.classify``) from mapping membership and config structure.

Deriving touches every config class (a few seconds), so the result for a given Transformers
installation is cached as JSON (see ``cache_path``); plugin types are always derived live.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..configs import sub_configs, walk_subtypes
from ..errors import UsageError
from . import families

# Deriving reads config classes only. A default config that names a hub checkpoint (4.57's
# EdgeTAM builds its vision tower from "timm/repvit_m1.dist_in1k") must fail at once offline,
# not retry the network for a minute; the default instance is then simply not read.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TESTABLE = "testable"
COMPONENT = "component"
NOT_TESTABLE = "not-testable"
SKIPPED = "skipped"

BASE_TASK = "base"


@dataclass(frozen=True)
class ModelSpec:
    model_type: str
    identifier: str
    config_class: str
    family: str
    family_reason: str
    modality: str
    classes: dict[str, tuple[str, ...]]  # task -> model class names, "base" first
    source: str  # auto-mapping | naming-convention | component | plugin | none
    status: str  # testable | component | not-testable | skipped
    reason: str = ""
    parents: tuple[str, ...] = ()
    checkpoint: str | None = None
    tiny: dict[str, Any] = field(default_factory=dict)
    overridden: tuple[str, ...] = ()  # which fields the user's overrides set
    plugin: str | None = None  # the module that registers a plugin type (generated files load it)
    preprocessing: dict[str, str] = field(default_factory=dict)  # kind -> class (preprocess/)
    pipelines: dict[str, str] = field(default_factory=dict)  # pipeline task -> model class

    @property
    def testable(self) -> bool:
        return self.status == TESTABLE

    def all_classes(self) -> list[str]:
        seen: dict[str, None] = {}
        for names in self.classes.values():
            for n in names:
                seen.setdefault(n, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["classes"] = {k: list(v) for k, v in self.classes.items()}
        d["parents"] = list(self.parents)
        d["overridden"] = list(self.overridden)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSpec:
        d = dict(d)
        d["classes"] = {k: tuple(v) for k, v in d["classes"].items()}
        d["parents"] = tuple(d.get("parents", ()))
        d["overridden"] = tuple(d.get("overridden", ()))
        d["preprocessing"] = dict(d.get("preprocessing") or {})
        d["pipelines"] = dict(d.get("pipelines") or {})
        return cls(**d)


class Registry(Mapping[str, ModelSpec]):
    def __init__(self, specs: Iterable[ModelSpec], transformers_version: str):
        self._specs = {s.model_type: s for s in sorted(specs, key=lambda s: s.model_type)}
        self.transformers_version = transformers_version

    def __getitem__(self, key: str) -> ModelSpec:
        return self._specs[key]

    def __iter__(self):
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def testable(self) -> list[ModelSpec]:
        return [s for s in self._specs.values() if s.testable]

    def by_identifier(self) -> dict[str, ModelSpec]:
        return {s.identifier: s for s in self._specs.values()}

    def resolve(self, name: str) -> ModelSpec:
        """Look a model type up, accepting its identifier too; unknown -> UsageError."""
        if name in self._specs:
            return self._specs[name]
        ids = self.by_identifier()
        if name in ids:
            return ids[name]
        close = difflib.get_close_matches(name, list(self._specs), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(
            f"unknown model type {name!r}.{hint} Run 'hftestgen list' to see all "
            f"{len(self._specs)} types of the installed Transformers."
        )


# --------------------------------------------------------------------------------------
# identifiers


def identifiers_for(model_types: Iterable[str]) -> dict[str, str]:
    """Collision-free Python identifiers for model types ('donut-swin' -> 'donut_swin').

    A type whose sanitized name collides with another type keeps a short hash suffix, so the
    mapping stays injective; types whose names are already identifiers keep them unchanged.
    """
    types = sorted(set(model_types))
    plain = {t: re.sub(r"[^0-9a-zA-Z_]", "_", t) for t in types}
    counts: dict[str, int] = {}
    for v in plain.values():
        counts[v] = counts.get(v, 0) + 1
    out = {}
    for t in types:
        ident = plain[t]
        if counts[ident] > 1 and ident != t:
            ident = f"{ident}_{hashlib.sha256(t.encode()).hexdigest()[:6]}"
        if ident[0].isdigit():
            ident = "m_" + ident
        out[t] = ident
    return out


# --------------------------------------------------------------------------------------
# derivation from the installed Transformers


def _task_name(mapping_attr: str) -> str:
    # MODEL_MAPPING -> base ; MODEL_FOR_CAUSAL_LM_MAPPING -> causal_lm
    if mapping_attr == "MODEL_MAPPING":
        return BASE_TASK
    return mapping_attr[len("MODEL_FOR_") : -len("_MAPPING")].lower()


def _lazy_model_mappings() -> dict[str, Any]:
    from transformers.models.auto import modeling_auto

    out = {}
    for attr in sorted(dir(modeling_auto)):
        if not attr.startswith("MODEL_") or not attr.endswith("_MAPPING"):
            continue
        obj = getattr(modeling_auto, attr)
        if hasattr(obj, "_model_mapping") and hasattr(obj, "_extra_content"):
            out[_task_name(attr)] = obj
    return out


def _as_tuple(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if isinstance(v, type):
        return (v.__name__,)
    return tuple(x if isinstance(x, str) else x.__name__ for x in v)


def _classes_by_type(public_names: set[str]) -> tuple[dict, dict]:
    """model_type -> task -> class names, from the static name tables and registered extras."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    by_type: dict[str, dict[str, list[str]]] = {}
    plugin_types: set[str] = set()
    unexported: dict[str, set[str]] = {}
    for task, mapping in _lazy_model_mappings().items():
        for mt, names in mapping._model_mapping.items():
            for n in _as_tuple(names):
                if n in public_names:
                    lst = by_type.setdefault(mt, {}).setdefault(task, [])
                    if n not in lst:
                        lst.append(n)
                else:
                    unexported.setdefault(mt, set()).add(n)
        for cfg_cls, model_cls in mapping._extra_content.items():
            mt = getattr(cfg_cls, "model_type", None)
            if not mt:
                continue
            for n in _as_tuple(model_cls):
                lst = by_type.setdefault(mt, {}).setdefault(task, [])
                if n not in lst:
                    lst.append(n)
            plugin_types.add(mt)
    plugin_types |= set(CONFIG_MAPPING._extra_content)
    return by_type, {"plugin_types": plugin_types, "unexported": unexported}


def _ordered_classes(tasks: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    keys = sorted(tasks, key=lambda t: (t != BASE_TASK, t))
    return {k: tuple(tasks[k]) for k in keys}


def derive_base(model_types: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Derive specs (as dicts) for the installed Transformers. Slow; use ``load_registry``."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING, CONFIG_MAPPING_NAMES
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return _derive(transformers, CONFIG_MAPPING, CONFIG_MAPPING_NAMES, model_types)
    finally:
        hf_logging.set_verbosity(verbosity)


def _derive(transformers, CONFIG_MAPPING, CONFIG_MAPPING_NAMES, model_types):
    public = set(dir(transformers))
    by_type, extra = _classes_by_type(public)
    all_types = set(CONFIG_MAPPING_NAMES) | set(CONFIG_MAPPING._extra_content)
    if model_types is not None:
        all_types &= set(model_types)

    configs: dict[str, Any] = {}
    config_errors: dict[str, str] = {}
    config_class_names: dict[str, str] = {}
    for mt in sorted(all_types):
        try:
            cls = CONFIG_MAPPING[mt]
        except Exception as e:  # pragma: no cover - broken install
            config_errors[mt] = f"config class does not import: {type(e).__name__}: {e}"
            config_class_names[mt] = CONFIG_MAPPING_NAMES.get(mt, "?")
            continue
        config_class_names[mt] = cls.__name__
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                configs[mt] = cls()
        except Exception as e:
            config_errors[mt] = f"default config does not build: {type(e).__name__}: {str(e)[:200]}"

    # parents of nested configs
    parents: dict[str, set[str]] = {}
    slots: dict[str, set[str]] = {}
    for mt, cfg in configs.items():
        for sub, slot in walk_subtypes(cfg):
            if sub != mt:
                parents.setdefault(sub, set()).add(mt)
                slots.setdefault(sub, set()).add(slot)

    ids = identifiers_for(all_types)
    specs = []
    for mt in sorted(all_types):
        tasks = {t: list(v) for t, v in by_type.get(mt, {}).items()}
        source = "plugin" if mt in extra["plugin_types"] else "auto-mapping"
        if not tasks:
            cname = config_class_names[mt]
            prefix = cname[: -len("Config")] if cname.endswith("Config") else cname
            if prefix + "Model" in public:
                tasks[BASE_TASK] = [prefix + "Model"]
                for suffix, task in (("ForCausalLM", "causal_lm"), ("LMHeadModel", "causal_lm")):
                    if prefix + suffix in public:
                        tasks.setdefault(task, []).append(prefix + suffix)
                source = "naming-convention"
        cfg = configs.get(mt)
        sub = sub_configs(cfg) if cfg is not None else {}
        attrs = (
            frozenset(vars(cfg)) | frozenset(getattr(cfg, "attribute_map", {}))
            if cfg
            else frozenset()
        )
        structure = families.Structure(
            tasks=frozenset(tasks),
            sub_configs=frozenset(sub),
            config_attrs=attrs,
            is_encoder_decoder=bool(getattr(cfg, "is_encoder_decoder", False)),
            nested_as=frozenset(slots.get(mt, ())),
        )
        family, why = families.classify(structure)
        if tasks:
            status, reason = TESTABLE, ""
            par: tuple[str, ...] = ()
        else:
            par = tuple(sorted(parents.get(mt, ())))
            source = "component" if par else "none"
            gone = sorted(extra["unexported"].get(mt, ()))
            if gone:
                reason = (
                    f"auto mapping names {', '.join(gone)}, which transformers does not export "
                    "(upstream inconsistency); "
                )
            else:
                reason = ""
            if par:
                status = COMPONENT
                reason += (
                    f"component config with no model class; exercised through {', '.join(par)}"
                )
            else:
                status = NOT_TESTABLE
                reason += (
                    "no model class in any auto mapping or by naming convention, and no parent "
                    "nests it"
                )
                if mt in config_errors:
                    reason += f" ({config_errors[mt]})"
        if mt in config_errors and status == TESTABLE:
            # Still testable: the tiny engine builds its own config and may succeed.
            reason = config_errors[mt]
        kinds, pipes = (
            _end_to_end(mt, tasks, structure.is_encoder_decoder, config_class_names[mt])
            if status == TESTABLE
            else ({}, {})
        )
        specs.append(
            {
                "model_type": mt,
                "identifier": ids[mt],
                "config_class": config_class_names[mt],
                "family": family,
                "family_reason": why,
                "modality": _modality(family, structure),
                "classes": _ordered_classes(tasks),
                "source": source,
                "status": status,
                "reason": reason,
                "parents": par,
                "preprocessing": kinds,
                "pipelines": pipes,
            }
        )
    return specs


def _end_to_end(
    model_type: str, tasks: dict[str, list[str]], encoder_decoder: bool, config_class: str
) -> tuple[dict, dict]:
    """The type's preprocessing classes (kind -> class) and pipeline tasks (task -> class)."""
    from ..preprocess.mapping import spec_for, tokenizer_fallback
    from ..preprocess.tasks import pipeline_tasks

    kinds = tokenizer_fallback(spec_for(model_type).as_dict(), tasks, config_class)
    classes = [c for names in tasks.values() for c in names]
    base = (tasks.get(BASE_TASK) or [None])[0]
    return kinds, pipeline_tasks(model_type, classes, kinds, base, encoder_decoder)


def _modality(family: str, s: families.Structure) -> str:
    return {
        families.ENCODER_ONLY: "text",
        families.DECODER_ONLY: "text",
        families.ENCODER_DECODER: "text",
        families.VISION: "vision",
        families.AUDIO: "audio",
        families.TIME_SERIES: "time-series",
        families.MULTIMODAL: "vision-text"
        if s.sub_configs & families.VISION_SUBCONFIGS
        or not s.sub_configs & families.AUDIO_SUBCONFIGS
        else "audio-text",
    }.get(family, "other")


# --------------------------------------------------------------------------------------
# cache


SUPPORTED_TRANSFORMERS = ">=4.50,<6"
"""The Transformers releases hftestgen supports (also the ``models`` extra in pyproject.toml):
from 4.50 to the newest release tested (5.24.0), below the next major."""


def support_warning(version: str) -> str | None:
    """A one-line warning when Transformers ``version`` is outside ``SUPPORTED_TRANSFORMERS``
    (hftestgen still runs), else ``None``."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        inside = SpecifierSet(SUPPORTED_TRANSFORMERS).contains(Version(version), prereleases=True)
    except InvalidVersion:
        inside = False
    if inside:
        return None
    return (
        f"warning: Transformers {version} is outside the range hftestgen supports "
        f"({SUPPORTED_TRANSFORMERS}); deriving, building and checking may fail for reasons "
        "that are no bug of the model types. Install a supported release, e.g. "
        "pip install -c constraints.txt transformers"
    )


def _installed_transformers() -> tuple[str, str]:
    from importlib import metadata
    from importlib.util import find_spec

    try:
        version = metadata.version("transformers")
    except metadata.PackageNotFoundError:
        raise UsageError(
            "transformers is not installed; hftestgen derives its registry from it. "
            "Install it (pip install -c constraints.txt transformers)."
        ) from None
    spec = find_spec("transformers")
    origin = spec.origin if spec and spec.origin else ""
    return version, origin


def _code_fingerprint() -> str:
    h = hashlib.sha256(__version__.encode())
    here = Path(__file__).parent
    for path in (
        here / "derive.py",
        here / "families.py",
        here.parent / "configs.py",
        here.parent / "preprocess" / "mapping.py",
        here.parent / "preprocess" / "tasks.py",
    ):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    env = os.environ.get("HFTESTGEN_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hftestgen"


def cache_path() -> Path:
    version, origin = _installed_transformers()
    try:
        mtime = str(os.stat(origin).st_mtime_ns)
    except OSError:
        mtime = "0"
    key = hashlib.sha256(f"{version}|{origin}|{mtime}|{_code_fingerprint()}".encode()).hexdigest()
    return cache_dir() / f"registry-{version}-{key[:16]}.json"


def base_specs(use_cache: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """(transformers version, spec dicts) for built-in types, from cache when possible."""
    from .._io import atomic_write_text

    version, _ = _installed_transformers()
    path = cache_path()
    if use_cache and path.is_file():
        try:
            data = json.loads(path.read_text())
            if data.get("transformers") == version:
                return version, data["specs"]
        except (OSError, ValueError, KeyError):
            pass  # corrupt cache: rebuild
    specs = derive_base()
    specs = [s for s in specs if s["source"] != "plugin"]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"transformers": version, "specs": specs}))
    except OSError:
        pass  # a read-only home must not stop anyone
    return version, specs


def load_registry(
    overrides: Any = None,
    plugins: Iterable[str] = (),
    use_cache: bool = True,
) -> Registry:
    """The registry for the installed Transformers, with plugins and user overrides applied.

    ``overrides`` is an ``overrides.Overrides`` (already validated) or None.
    """
    from .plugins import import_plugins, plugin_module

    plugin_types = import_plugins(plugins)
    version, specs = base_specs(use_cache=use_cache)
    spec_dicts = {s["model_type"]: dict(s) for s in specs}
    if plugin_types:
        for s in derive_base(plugin_types):
            s["source"] = "plugin"
            s["plugin"] = plugin_module(s["model_type"])
            spec_dicts[s["model_type"]] = s
        ids = identifiers_for(spec_dicts)
        for mt, s in spec_dicts.items():
            s["identifier"] = ids[mt]
    if overrides is not None:
        overrides.check_types(spec_dicts)
        for mt, ov in overrides.types.items():
            s = spec_dicts[mt]
            touched = []
            if ov.family is not None:
                s["family"], s["family_reason"] = ov.family, "set in overrides file"
                touched.append("family")
            if ov.checkpoint is not None:
                s["checkpoint"] = ov.checkpoint
                touched.append("checkpoint")
            if ov.tiny:
                s["tiny"] = dict(ov.tiny)
                touched.append("tiny")
            if ov.skip is not None:
                s["status"], s["reason"] = SKIPPED, ov.skip
                touched.append("skip")
            s["overridden"] = tuple(touched)
    return Registry((ModelSpec.from_dict(s) for s in spec_dicts.values()), version)
