"""Pretrained mode (``hftestgen run --pretrained``): the same checks on the real checkpoint.

With ``$HFTESTGEN_PRETRAINED`` set to ``1`` (``PRETRAINED_ENV``; ``run --pretrained`` sets it for
the pytest processes), ``get_built`` loads each class with ``from_pretrained`` from the type's
checkpoint in the local Hugging Face cache instead of building the tiny random model. The
checkpoint is the user's override (``[types.X] checkpoint``, rendered into ``CASE``), else the one
Transformers' docs name (``registry/checkpoints.py``).

Never touches the network: the snapshot folder is resolved with ``local_files_only`` and the
model loads from that folder (safetensors only; Transformers' own class, so never remote code), then runs in float32, eval
mode, on the CPU. A checkpoint that is not cached, or a type without one, is a ``not-covered``
skip naming the id and how to fetch it. The inputs come from the loaded config, as for tiny
models (``Built.inputs``).
"""

from __future__ import annotations

import os
from typing import Any

from .case import Case
from .skips import not_covered

PRETRAINED_ENV = "HFTESTGEN_PRETRAINED"  # "1": load the real checkpoints (run --pretrained)


def enabled() -> bool:
    return os.environ.get(PRETRAINED_ENV, "") not in ("", "0")


def checkpoint_of(case: Case) -> str | None:
    """The checkpoint id pretrained mode loads for ``case``: its override, else the derived."""
    from ..registry.checkpoints import resolve

    return resolve(case.model_type, case.checkpoint)[0]


def load(case: Case, class_name: str) -> Any:
    """``Built`` around ``class_name.from_pretrained(<local snapshot>)``; skips (not-covered)
    when the type has no checkpoint or it is not in the local cache."""
    import torch

    from ..registry.checkpoints import fetch_hint, snapshot_dir
    from ..tiny.engine import SPAN_HEAD_TASKS, SPAN_LABELS, Built, _ensure_pad, model_class

    ckpt = checkpoint_of(case)
    if ckpt is None:
        not_covered(
            f"pretrained: no checkpoint known for {case.model_type} (its Transformers docs name "
            f'none); set one in the overrides file: [types.{case.model_type}] checkpoint = "ORG/NAME"'
        )
    path = snapshot_dir(ckpt)
    if path is None:
        not_covered(
            f"pretrained: checkpoint {ckpt} is not in the local Hugging Face cache; "
            f"fetch it with: {fetch_hint(ckpt)}"
        )
    if not any(path.rglob("*.safetensors")):
        not_covered(
            f"pretrained: checkpoint {ckpt} has no safetensors weights in the local cache "
            "(pickled weights are never loaded)"
        )
    cls = model_class(class_name)
    tasks = tuple(case.tasks_of(class_name)) or ("base",)
    # The engine's head rules, as for tiny models: span heads predict start and end (2 labels,
    # whatever a classification checkpoint says); classification heads that batch need a pad.
    head = {"num_labels": SPAN_LABELS} if any(t in SPAN_HEAD_TASKS for t in tasks) else {}
    try:
        # Transformers' own class by name: no remote code can run (no Auto class, no auto_map).
        model = cls.from_pretrained(str(path), local_files_only=True, use_safetensors=True, **head)
    except ImportError:
        raise  # a missing optional package: get_built skips naming it
    except Exception as e:
        msg = " ".join(f"{type(e).__name__}: {e}".split())[:400]
        raise RuntimeError(f"pretrained {ckpt} ({path}): from_pretrained failed: {msg}") from e
    model = model.to(torch.float32).eval()
    if any(t in ("sequence_classification", "multiple_choice") for t in tasks):
        _ensure_pad(model.config)
    return Built(
        model=model,
        config=model.config,
        task=tasks[0],
        model_type=case.model_type,
        class_name=class_name,
        tasks=tasks,
        family=case.family,
        n_params=sum(p.numel() for p in model.parameters()),
        input_knobs=dict(case.data_for(class_name).get("inputs", {}) or {}),
    )


def load_preprocessing(case: Case) -> Any:
    """The checkpoint's own preprocessing (``preprocess.build.Preprocessing``): each kind the
    type maps, through its Auto class from the local snapshot folder (never remote code). A
    kind the checkpoint does not ship is recorded as skipped, naming the checkpoint."""
    import warnings

    from ..preprocess import auto_class
    from ..preprocess.build import Preprocessing
    from ..registry.checkpoints import fetch_hint, snapshot_dir

    ckpt = checkpoint_of(case)
    path = snapshot_dir(ckpt) if ckpt else None
    if path is None:
        not_covered(
            f"pretrained: checkpoint {ckpt} is not in the local Hugging Face cache; "
            f"fetch it with: {fetch_hint(ckpt)}"
            if ckpt
            else f"pretrained: no checkpoint known for {case.model_type}"
        )
    out = Preprocessing(case.model_type, names=dict(case.preprocessing))
    for kind, name in case.preprocessing.items():
        auto = auto_class(kind)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                setattr(out, kind, auto.from_pretrained(str(path), local_files_only=True))
        except (OSError, ValueError, KeyError, TypeError) as e:
            out.skipped[kind] = f"checkpoint {ckpt} ships no loadable {kind} ({name}): {e}"[:300]
    return out
