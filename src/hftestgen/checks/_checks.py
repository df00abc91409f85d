"""The check functions (see the package docstring for what each one asserts)."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..configs import cfg_int, placeholder_ids, special_ids, text_config, token_ids
from . import _support as S
from . import tolerances as tol
from ._support import (
    describe,
    diff,
    fail,
    floating,
    forward_params,
    get_built,
    get_forward_model,
    make_inputs,
    nonfinite,
    run,
    seed_all,
    tensors,
)
from .case import GENERATIVE_TASKS, Case
from .skips import not_applicable, not_covered

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in a check may reach the network

# Inputs that carry a modality other than text: a model fed one of these is not "text only".
NON_TEXT_INPUTS = (
    "pixel_values",
    "pixel_values_videos",
    "image_patches",  # 4.x Fuyu's pixels (tiny.inputs.context.PIXEL_NAMES)
    "input_values",
    "input_features",
    "audio_values",
    "past_values",
    "input_points",
    "image_embeds",
    "inputs_embeds",
    "spectrogram",
    "states",
    "visual_feats",
)

LM_TASKS = frozenset({"causal_lm", "masked_lm", *GENERATIVE_TASKS})
TS_CLASS_FIELDS = ("prediction_logits", "prediction_outputs", "logits")
"""Output fields of time-series classification heads (one class score per target)."""
POOLED_CLASSIFICATION_TASKS = frozenset(
    {
        "sequence_classification",
        "image_classification",
        "audio_classification",
        "video_classification",
    }
)


# ----------------------------------------------------------------------------------------
# forward


def _base_promises(tasks: list[str]) -> bool:
    """Rule 'an LM head listed as the base model': a class the auto mapping lists as the base
    model (AutoModel) *and* under a language-modeling task is an LM head (4.x registered
    GPTSanJapaneseForConditionalGeneration so): what it promises is the head's logits, and
    its output need not carry the base model's ``last_hidden_state``."""
    return not any(t in LM_TASKS for t in tasks)


def _expectations(
    case: Case, built: Any, inputs: dict[str, Any], out_fields: Any = ()
) -> list[tuple[str, tuple, str]]:
    """(output field, expected shape with None for "any", why) derived from config + task."""
    config = built.config
    tcfg = text_config(config)
    tasks = list(getattr(built, "tasks", ()) or case.tasks_of(built.class_name) or [built.task])
    B = tol.BATCH_SIZE
    ids = inputs.get("input_ids")
    S = ids.shape[-1] if isinstance(ids, torch.Tensor) and ids.ndim >= 2 else None
    dec = inputs.get("decoder_input_ids")
    text_only = S is not None and not any(k in inputs for k in NON_TEXT_INPUTS)
    if isinstance(dec, torch.Tensor) and dec.ndim >= 2:
        S_out = dec.shape[-1]
    else:
        # Models that prepend / expand other-modality tokens (GIT's image tokens, Qwen2-Audio's
        # audio tokens) produce logits over more positions than input_ids has.
        S_out = S if text_only else None
    vocab = cfg_int(tcfg, "vocab_size")
    hidden = cfg_int(tcfg, "hidden_size", "d_model", "n_embd")
    num_labels = cfg_int(config, "num_labels")
    # Per-token heads of encoder-decoder types run on the encoder (T5ForTokenClassification) or
    # on the decoder (BartForQuestionAnswering): either length is a promise kept.
    seq: Any = S if S_out == S or S_out is None else frozenset({S, S_out})
    exp: list[tuple[str, tuple, str]] = []
    for task in tasks:
        if (
            task == "base"
            and text_only
            and _base_promises(tasks)
            and case.family
            in (
                "encoder-only",
                "decoder-only",
                "encoder-decoder",
            )
        ):
            exp.append(
                (
                    "last_hidden_state",
                    (B, S_out, hidden),
                    "base text model: batch x seq x hidden_size",
                )
            )
            if "last_hidden_state" not in out_fields and "pooler_output" in out_fields:
                # an embedding-only encoder (DPR): the promise is one vector per sample
                exp[-1] = ("pooler_output", (B, hidden), "embedding encoder: batch x hidden_size")
        elif task in LM_TASKS and S_out is not None and ids is not None and ids.ndim == 2:
            exp.append(("logits", (B, S_out, vocab), f"{task}: batch x seq x vocab_size"))
        elif task in LM_TASKS:
            exp.append(("logits", (B, None, vocab), f"{task}: batch x seq x vocab_size"))
        elif task in POOLED_CLASSIFICATION_TASKS:
            exp.append(("logits", (B, num_labels), f"{task}: batch x num_labels"))
        elif task == "token_classification" and S is not None:
            exp.append(
                ("logits", (B, seq, num_labels), "token_classification: batch x seq x num_labels")
            )
        elif task == "audio_frame_classification":
            exp.append(("logits", (B, None, num_labels), "audio frames: batch x time x num_labels"))
        elif task == "question_answering" and S is not None:
            exp.append(("start_logits", (B, seq), "question_answering: batch x seq"))
            exp.append(("end_logits", (B, seq), "question_answering: batch x seq"))
        elif task == "multiple_choice" and ids is not None and ids.ndim == 3:
            exp.append(("logits", (B, ids.shape[1]), "multiple_choice: batch x num_choices"))
        elif task == "time_series_classification" and cfg_int(config, "num_targets"):
            # PatchTST names it prediction_logits, PatchTSMixer prediction_outputs
            name = next((f for f in TS_CLASS_FIELDS if f in out_fields), TS_CLASS_FIELDS[0])
            n_targets = cfg_int(config, "num_targets")
            exp.append((name, (B, n_targets), f"{task}: batch x num_targets"))
        elif task == "next_sentence_prediction":
            exp.append(("logits", (B, 2), "next_sentence_prediction: batch x 2"))
        elif task == "ctc":
            exp.append(("logits", (B, None, vocab), "ctc: batch x time x vocab_size"))
        elif task == "semantic_segmentation":
            exp.append(
                ("logits", (B, num_labels, None, None), "segmentation: batch x num_labels x H x W")
            )
        elif (
            task == "zero_shot_image_classification"
            and "pixel_values" in inputs
            and ids is not None
        ):
            n_img, n_txt = inputs["pixel_values"].shape[0], ids.shape[0]
            exp.append(("logits_per_image", (n_img, n_txt), "zero-shot: images x texts"))
            exp.append(("logits_per_text", (n_txt, n_img), "zero-shot: texts x images"))
        else:
            continue
        break  # the first task with a rule defines the promise
    return exp


def _dim_ok(s: int, w: Any) -> bool:
    return w is None or (s in w if isinstance(w, frozenset) else s == w)


def _shape_ok(shape: tuple, want: tuple) -> bool:
    return len(shape) == len(want) and all(_dim_ok(s, w) for s, w in zip(shape, want, strict=True))


def forward(case: Case, model_class: str | None) -> None:
    """Output structure/shapes match what the family and head promise; all floats finite."""
    built = get_forward_model(case, model_class)
    inputs = make_inputs(case, built)
    out = run(built.model, inputs)
    ts = tensors(out)
    if not ts:
        fail(f"{model_class} returned no tensors (got {type(out).__name__})")
    if not floating(ts):
        fail(f"{model_class} returned no floating-point output ({describe(ts)})")
    bad = nonfinite(ts)
    if bad:
        fail(f"{model_class}: non-finite outputs: {'; '.join(bad)}")
    for field, want, why in _expectations(case, built, inputs, ts.keys()):
        if field not in ts:
            fail(f"{model_class}: output has no {field!r} ({why}); fields: {describe(ts)}")
        got = tuple(ts[field].shape)
        if not _shape_ok(got, want):
            shown = tuple(
                "*"
                if w is None
                else "|".join(map(str, sorted(w)))
                if isinstance(w, frozenset)
                else w
                for w in want
            )
            fail(f"{model_class}: {field} has shape {got}, expected {shown} ({why})")


# ----------------------------------------------------------------------------------------
# eval determinism


def eval_determinism(case: Case, model_class: str | None) -> None:
    """Two eval-mode forward passes on the same inputs are bitwise identical.

    The RNG is seeded once before the first pass and *not* reseeded, so randomness in eval mode
    (e.g. dropout left active) shows up as a difference.
    """
    built = get_forward_model(case, model_class)
    if built.model.training:
        fail(f"{model_class}: tiny model is in training mode; checks expect eval()")
    inputs = make_inputs(case, built)
    seed_all(0)
    a = tensors(run(built.model, inputs, seed=None))
    b = tensors(run(built.model, inputs, seed=None))
    cmp = S.Comparison("eval_determinism")
    cmp.outputs(a, b, tol.DETERMINISM)  # integer and boolean outputs too, exactly
    cmp.verdict(f"{model_class}: two eval forward passes differ")


# ----------------------------------------------------------------------------------------
# batch independence


def _bundle(v: Any) -> bool:
    """A plain dataclass instance bundling input tensors (not a ModelOutput, which is a dict)."""
    return dataclasses.is_dataclass(v) and not isinstance(v, (type, dict))


def _nested(v: Any, fn: Any) -> Any:
    """``fn`` applied to the tensors of an input that bundles tensors (a dict or a dataclass
    instance, e.g. ESMFold2's ``atom_inputs``); other values unchanged."""
    if isinstance(v, torch.Tensor):
        return fn(v)
    if type(v) is dict:  # a plain dict only: ModelOutputs (encoder_outputs) stay as they are
        return {k: _nested(x, fn) for k, x in v.items()}
    if _bundle(v):
        return dataclasses.replace(
            v, **{f.name: _nested(getattr(v, f.name), fn) for f in dataclasses.fields(v) if f.init}
        )
    return v


def _row(inputs: dict[str, Any], i: int, B: int) -> dict[str, Any]:
    """Sample ``i`` of a batch: batch-major tensors (also inside dicts/dataclasses) and lists."""

    def row(t: torch.Tensor) -> torch.Tensor:
        return t[i : i + 1] if t.ndim >= 1 and t.shape[0] == B else t

    return {
        k: v[i : i + 1] if isinstance(v, list) and len(v) == B else _nested(v, row)
        for k, v in inputs.items()
    }


def batch_independence(case: Case, model_class: str | None) -> None:
    """Row i of a batched run equals the run of sample i alone: on a float64 copy of the model
    (tolerance ``BATCH64``, where float rounding cannot hide a small cross-sample leak), else in
    float32 (``BATCH``)."""
    built = get_forward_model(case, model_class)
    B = tol.BATCH_SIZE
    inputs = make_inputs(case, built, batch_size=B)
    packed = [
        f"{k}{tuple(v.shape)}"
        for k, v in inputs.items()
        if isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] != B
    ]
    row_of = _grid_rows(inputs, B) if packed else _row
    if row_of is None:
        not_covered(
            f"inputs not batch-major ({', '.join(packed)}: leading dim != batch {B}) and not "
            "packed by a grid tensor (one (t, h, w) row per sample) that splits them per sample"
        )

    def body(model: Any, cast: Any, precision: str) -> tuple[S.Comparison, dict]:
        t = tol.BY_PRECISION["batch_independence"][precision]
        full = S.finite(tensors(run(model, cast(inputs))), precision)
        cmp = S.Comparison("batch_independence", precision)
        for i in range(B):
            single = S.finite(tensors(run(model, cast(row_of(inputs, i, B)))), precision)
            for k, v in full.items():
                s = single.get(k)
                if (
                    s is None
                    or v.ndim == 0
                    or v.shape[0] != B
                    or s.shape[0] != 1
                    or v.shape[1:] != s.shape[1:]
                ):
                    continue
                cmp.close(f"{k}[{i}]", v[i : i + 1], s, t)  # integers and booleans exactly
        return cmp, full

    cmp, full = S.precise(built.model, body)
    if not cmp:
        not_covered(f"no output with a per-sample leading dimension to compare ({describe(full)})")
    t = tol.BY_PRECISION["batch_independence"][cmp.precision]
    cmp.verdict(
        f"{model_class}: a sample's output changes with the rest of the batch "
        f"({S.precision_note(cmp.precision)}, atol={t.atol}, rtol={t.rtol})"
    )


# Per-sample patch grids of packed pixels: (t, h, w) or (h, w) rows, one per image / video.
GRID_NAME = re.compile(r"(^|_)grid_(thw|hw)$")


def _grid_rows(inputs: dict[str, Any], B: int) -> Any:
    """A ``_row`` for inputs whose pixels are packed (Qwen2-VL's ``pixel_values`` (patches, D)
    with ``image_grid_thw``; a vision tower's ``grid_thw``; ``image_grid_hw``): sample i's rows
    of a packed tensor are the ``prod(grid[i])`` rows after those of the samples before it, for
    the grid tensor with one row per sample whose products add up to its length. None when a
    tensor that is not batch-major has no such grid."""
    grids = [
        v.long().prod(-1)
        for k, v in inputs.items()
        if GRID_NAME.search(k) and isinstance(v, torch.Tensor) and v.ndim == 2 and len(v) == B
    ]
    split: dict[str, list[int]] = {}
    for k, v in inputs.items():
        if not (isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] != B):
            continue
        sizes = next((g.tolist() for g in grids if int(g.sum()) == v.shape[0]), None)
        if sizes is None:
            return None
        split[k] = sizes

    def row(inp: dict[str, Any], i: int, n: int) -> dict[str, Any]:
        out = _row({k: v for k, v in inp.items() if k not in split}, i, n)
        for k, sizes in split.items():
            start = sum(sizes[:i])
            out[k] = inp[k][start : start + sizes[i]]
        return {k: out[k] for k in inp}

    return row


# ----------------------------------------------------------------------------------------
# attention-mask padding


def _causal(case: Case, built: Any) -> bool:
    """Causal text stack: decoder-only family, a class of a generative task, ``is_decoder``, or
    tiny data saying its inputs are left-padded (``padding_side = "left"``: a classifier reading
    the last position of a causal LM)."""
    if getattr(built.config, "is_encoder_decoder", False):
        return False
    return (
        case.family == "decoder-only"
        or built.class_name in case.generative_class_names
        or bool(getattr(text_config(built.config), "is_decoder", False))
        or (getattr(built, "input_knobs", None) or {}).get("padding_side") == "left"
    )


def attention_mask_padding(case: Case, model_class: str | None) -> None:
    """Padding (masked out in ``attention_mask``) does not change outputs at real positions.

    Bidirectional models are padded on the right. Causal models whose forward takes
    ``position_ids`` are padded on the *left*, with ``position_ids`` counting real tokens only
    (right padding cannot influence earlier positions of a causal model, so it would prove
    nothing there). Causal models without ``position_ids`` are tried right-padded, then
    left-padded; either side passing is a pass (their tokenizers pick one side: XLNet pads
    left). Outputs with a padded sequence axis are compared at the real positions; pooled
    outputs (batch x features) only for heads without per-position outputs; sequence outputs
    the padding does not touch (decoder outputs of an encoder-decoder) as a whole. Caches and
    recurrent states (decoder-only models, same shape with and without padding) are not
    outputs at positions and are left out. Tolerance ``PADDING``. The float64 copy runs under
    ``_support.Float64Mode`` (float32 made inside the model is promoted), so the float32 rounding of
    a model's own casts (gated-delta-net scans, rotary tables) is not taken for a leak.
    """
    built = get_forward_model(case, model_class)
    params = forward_params(built.model)
    if "attention_mask" not in params:
        not_applicable("no attention_mask in forward")
    inputs = make_inputs(case, built)
    ids = inputs.get("input_ids")
    if _pads_elsewhere(case, built, model_class, inputs):
        return  # an audio time series or multiple-choice token rows, padded and compared
    if not isinstance(ids, torch.Tensor) or ids.ndim != 2:
        not_covered("inputs have no 2-D input_ids (token sequence) to pad")
    # (name, left, with_position_ids)
    if not _causal(case, built):
        sides = [("right", False, False)]
    elif "position_ids" in params:
        sides = [("left (with position_ids)", True, True)]
    else:
        sides = [("right", False, False), ("left (no position_ids)", True, False)]

    def body(m: Any, cast: Any, precision: str) -> list[tuple[str, S.Comparison]] | None:
        t = tol.BY_PRECISION["padding"][precision]
        results = []
        for name, left, with_pos in sides:
            cmp = S.Comparison("attention_mask_padding", precision)
            _padding_diffs(built, m, cast, inputs, left, with_pos, cmp, t)
            results.append((name, cmp))
            if cmp and not cmp.bad:
                # The side that passed may be vacuous (right padding of a causal model cannot
                # reach real positions): what sits under the mask must not matter on either side.
                content = _masked_content(
                    built, m, cast, inputs, "position_ids" in params, precision
                )
                if content:
                    return content
                return None
        return results

    results = S.precise(built.model, body)
    if results is None:
        return
    if not any(cmp for _, cmp in results):
        outs = describe(floating(tensors(run(built.model, inputs))))
        not_covered(f"no output to compare at real positions ({outs})")
    verdict = S.Comparison("attention_mask_padding", results[0][1].precision)
    for name, cmp in results:
        verdict.compared += cmp.compared
        if cmp.bad:
            verdict.flag(f"{name}: {', '.join(cmp.bad[:4])}")
    t = tol.BY_PRECISION["padding"][verdict.precision]
    verdict.verdict(
        f"{model_class}: {tol.PAD_LEN} padded (masked) positions change outputs at real positions "
        f"({S.precision_note(verdict.precision)}, atol={t.atol}, rtol={t.rtol})"
    )


def _pad_fill(config: Any, ids: torch.Tensor) -> int:
    """The id written at padded positions: the pad token, unless the tiny config shares it with a
    placeholder token (image/audio/...), which would change how many placeholders the model
    counts; then the smallest id that is no special token."""
    tok = token_ids(config)
    pad = tok.get("pad_token_id")
    specials = {v for k, v in tok.items() if k != "pad_token_id"}
    if pad is not None and pad >= 0 and pad not in specials:
        return pad
    vocab = cfg_int(text_config(config), "vocab_size") or int(ids.max()) + 1
    for i in range(vocab):
        if i not in specials:
            return i
    return 0


def _mask_rows(ids: torch.Tensor) -> int:
    """Rows of the attention mask made for ``ids`` (rule 'one mask row per sample'): one per
    sample as forward documents it (``attention_mask (batch_size, sequence_length)``), also where
    the token ids hold several rows per sample (MusicGen's decoder reads codebook tokens as
    (batch * num_codebooks, seq)): ``tol.BATCH_SIZE`` rows when ids have a multiple of them.
    4.x MusicGen adds a mask of one row per id row to a causal mask of one per sample and
    fails; 5.x runs with either."""
    rows = ids.shape[0]
    if rows != tol.BATCH_SIZE and rows % tol.BATCH_SIZE == 0:
        return tol.BATCH_SIZE
    return rows


def _padded(
    built: Any, inputs: dict[str, Any], left: bool, with_position_ids: bool, fill: Any = None
) -> tuple[dict[str, Any], dict[str, Any], torch.Tensor]:
    """(unpadded inputs with an explicit mask, the same padded by ``PAD_LEN`` masked positions on
    one side, the unpadded mask). Padded ``input_ids`` hold the pad id, or ``fill(shape)``."""
    ids = inputs["input_ids"]
    B, S = ids.shape
    P = tol.PAD_LEN
    mask = inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones(_mask_rows(ids), S, dtype=ids.dtype)
    base_inputs = dict(inputs, attention_mask=mask)
    pad_id = _pad_fill(built.config, ids)
    if with_position_ids:
        base_inputs.setdefault("position_ids", (mask.long().cumsum(-1) - 1).clamp(min=0))

    def pad(k: str, v: torch.Tensor) -> torch.Tensor:
        shape = (v.shape[0], P, *v.shape[2:])
        if k == "input_ids" and fill is not None:
            extra = fill(shape).to(v.dtype)
        else:
            extra = torch.full(shape, pad_id if k == "input_ids" else 0, dtype=v.dtype)
        return torch.cat([extra, v] if left else [v, extra], dim=1)

    padded: dict[str, Any] = {}
    for k, v in base_inputs.items():
        if (
            isinstance(v, torch.Tensor)
            and v.ndim >= 2
            and (tuple(v.shape[:2]) == (B, S) or (k == "attention_mask" and v.shape[1] == S))
            and not k.startswith("decoder_")
            and k != "position_ids"
        ):
            padded[k] = pad(k, v)
        else:
            padded[k] = v
    if with_position_ids:
        padded["position_ids"] = (padded["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)
    return base_inputs, padded, mask


def _masked_content(
    built: Any,
    model: Any,
    cast: Any,
    inputs: dict[str, Any],
    takes_position_ids: bool,
    precision: str,
) -> list[tuple[str, S.Comparison]]:
    """Failures of ``_masked_content_diffs`` on the right side, then the left one (with explicit
    ``position_ids`` where the forward takes them, so models that derive positions from the ids
    see the same positions in both runs)."""
    base, _, _ = _padded(built, inputs, left=False, with_position_ids=False)
    unpadded = tensors(run(model, cast(base)))  # shapes only: one run serves both sides
    out = []
    for name, left, with_pos in (("right", False, False), ("left", True, takes_position_ids)):
        cmp = S.Comparison("attention_mask_padding", precision)
        t = tol.BY_PRECISION["padding"][precision]
        _masked_content_diffs(built, model, cast, inputs, unpadded, left, with_pos, cmp, t)
        if cmp and cmp.bad:
            out.append((f"{name}, masked content (two random fills)", cmp))
    return out


def _random_plain_ids(config: Any, ids: torch.Tensor, shape: Any, gen: Any) -> torch.Tensor:
    """Token ids of ``shape`` drawn (with ``gen``) from the text vocabulary without its special
    ids: content a mask must hide."""
    vocab = cfg_int(text_config(config), "vocab_size") or int(ids.max()) + 1
    specials = special_ids(config)  # once: the comprehension would recompute it per id
    allowed = [i for i in range(vocab) if i not in specials] or [0]
    return torch.tensor(allowed)[torch.randint(len(allowed), shape, generator=gen)]


def _masked_content_diffs(
    built: Any,
    model: Any,
    cast: Any,
    inputs: dict[str, Any],
    unpadded: dict[str, torch.Tensor],
    left: bool,
    with_position_ids: bool,
    cmp: S.Comparison,
    t: Any,
) -> None:
    """Compares (into ``cmp``) two padded runs that differ only in the token ids under the mask
    (two draws of non-special ids): real positions must not see them. The ``unpadded`` outputs
    tell the position axis (S long there, S + PAD_LEN here).
    Unlike a padded vs unpadded comparison, this holds whether or not a model shifts positions
    for padding, for causal and bidirectional models alike."""

    def random_ids(seed: int) -> Any:
        gen = torch.Generator().manual_seed(seed)
        return lambda shape: _random_plain_ids(built.config, inputs["input_ids"], shape, gen)

    # Two different random fills rather than pad ids vs random ids: models that derive positions
    # from the ids (pad id = no position, e.g. M2M100's sinusoidal positions) then see the same
    # positions in both runs; only the content under the mask differs.
    _, one, mask = _padded(built, inputs, left, with_position_ids, fill=random_ids(1))
    _, two, _ = _padded(built, inputs, left, with_position_ids, fill=random_ids(2))
    a = S.finite(tensors(run(model, cast(one))), cmp.precision)
    b = S.finite(tensors(run(model, cast(two))), cmp.precision)
    L, P = mask.shape[1], tol.PAD_LEN
    real = torch.cat(
        [torch.zeros(mask.shape[0], P, dtype=torch.bool), mask.bool()]
        if left
        else [mask.bool(), torch.zeros(mask.shape[0], P, dtype=torch.bool)],
        dim=1,
    )
    for k, x in a.items():
        y = b.get(k)
        if y is None or y.shape != x.shape or x.ndim < 2 or x.shape[0] != mask.shape[0]:
            continue
        u = unpadded.get(k)
        # the position axis: S + P long here and S long unpadded (not a label axis that happens
        # to have that size)
        axes = [
            d
            for d in range(1, x.ndim)
            if x.shape[d] == L + P and u is not None and u.ndim == x.ndim and u.shape[d] == L
        ]
        if not axes:
            continue  # pooled outputs may read a padded slot by design (last-token pooling)
        x, y = x.movedim(axes[0], 1)[real], y.movedim(axes[0], 1)[real]
        cmp.close(k, x, y, t)


def _padding_diffs(
    built: Any,
    model: Any,
    cast: Any,
    inputs: dict[str, Any],
    left: bool,
    with_position_ids: bool,
    cmp: S.Comparison,
    t: Any,
) -> None:
    """Compares (into ``cmp``) the unpadded and the padded run for one padding side."""
    B, L = inputs["input_ids"].shape
    P = tol.PAD_LEN
    base_inputs, padded, mask = _padded(built, inputs, left, with_position_ids)
    a = S.finite(tensors(run(model, cast(base_inputs))), cmp.precision)
    b = S.finite(tensors(run(model, cast(padded))), cmp.precision)
    encdec = bool(getattr(built.config, "is_encoder_decoder", False))
    # name -> (unpadded, padded at the same positions, the position axis or None)
    pairs: dict[str, tuple[torch.Tensor, torch.Tensor, int | None]] = {}
    pooled: dict[str, tuple[torch.Tensor, torch.Tensor, int | None]] = {}
    positional = False
    for k, x in a.items():
        y = b.get(k)
        if y is None:
            continue
        if x.shape == y.shape:
            if x.ndim <= 2:
                pooled[k] = (x, y, None)
            elif encdec:
                pairs[k] = (x, y, None)
            continue
        dims = [
            d
            for d in range(1, x.ndim)
            if x.ndim == y.ndim
            and x.shape[d] == L  # a pure token axis: other-modality tokens concatenated to the
            and y.shape[d] == L + P  # text (GIT, UDOP) would misalign the real positions
            and all(x.shape[e] == y.shape[e] for e in range(x.ndim) if e != d)
        ]
        if dims:
            d = dims[0]
            pairs[k] = (x, y.narrow(d, P, x.shape[d]) if left else y.narrow(d, 0, x.shape[d]), d)
            positional = True
    if not positional:
        # Pooled outputs count only for heads without per-position outputs (sequence
        # classification): some encoders pool a fixed position (SigLIP: the last one), which
        # padding legitimately moves.
        pairs.update(pooled)
    for k, (x, y, d) in pairs.items():
        # Only real (unmasked) positions of the unpadded run are meaningful, along the axis the
        # positions are on (1 for hidden states, 2 for a (batch, heads, seq, dim) key cache).
        if d is not None and x.shape[0] == B and not bool(mask.all()):
            m = mask.bool()
            x, y = x.movedim(d, 1)[m], y.movedim(d, 1)[m]
        cmp.close(k, x, y, t)


# ----------------------------------------------------------------------------------------
# attention-mask padding of other layouts: audio time series, multiple-choice rows


def _pads_elsewhere(case: Case, built: Any, model_class: str | None, inputs: dict) -> bool:
    """Padding checked on an input other than 2-D ``input_ids``: True when it was (and passed;
    a difference fails), False when the inputs have no such layout."""
    from ..tiny.inputs import audio_time_axis

    ids = inputs.get("input_ids")
    if not (isinstance(ids, torch.Tensor) and ids.ndim == 2):
        audio = audio_time_axis(built, inputs)
        if audio is not None:
            _audio_padding(case, built, model_class, *audio)
            return True
    if isinstance(ids, torch.Tensor) and ids.ndim == 3 and not ids.is_floating_point():
        _choices_padding(built, model_class, inputs)
        return True
    return False


# Feature encoders that normalise each channel over the whole time axis (GroupNorm in the first
# conv layer of the wav2vec 2.0 family): padded samples move every frame. Transformers documents
# that such checkpoints take no attention_mask (modeling_wav2vec2.py, Wav2Vec2Model.forward
# docstring: "attention_mask should only be passed if the corresponding processor has
# config.return_attention_mask == True ... such as wav2vec2-base, attention_mask should not be
# passed"); the config's other value is the one those processors pair with the mask.
MASK_READY_CONFIG = (("feat_extract_norm", "group", "layer"),)


def _mask_ready_model(built: Any) -> tuple[Any, str]:
    """(the model to pad, a note): the built one, or the class rebuilt (seed 0, eval) with the
    config values of ``MASK_READY_CONFIG`` whose processors pass an attention mask."""
    values = {
        name: ready
        for name, unready, ready in MASK_READY_CONFIG
        if getattr(built.config, name, None) == unready
    }
    if not values:
        return built.model, ""
    cfg = copy.deepcopy(built.config)
    for name, v in values.items():
        setattr(cfg, name, v)
    seed_all(0)
    note = ", ".join(f"{n}={v!r}" for n, v in values.items())
    return type(built.model)(cfg).eval(), f" (rebuilt with {note}, the mask-taking variant)"


def _audio_pad_len(length: int) -> int:
    """Padded samples/frames: a quarter of the input, so that the feature encoder's
    downsampling still leaves whole padded output frames."""
    return max(tol.PAD_LEN, length // 4)


def _time_padded(
    inputs: dict, key: str, axis: int, pad: int, fill: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``inputs`` with an all-ones ``attention_mask`` over the time axis of ``inputs[key]``, the
    same padded on the right by ``pad`` masked steps holding zeros or seeded random values)."""
    x = inputs[key]
    B, T = x.shape[0], x.shape[axis]
    shape = list(x.shape)
    shape[axis] = pad
    if fill == "zeros":
        extra = torch.zeros(shape, dtype=x.dtype)
    else:
        extra = torch.randn(shape, generator=torch.Generator().manual_seed(1)).to(x.dtype)
    mask = torch.ones(B, T, dtype=torch.long)
    base = dict(inputs, attention_mask=mask)
    padded = dict(
        inputs,
        **{key: torch.cat([x, extra], dim=axis)},
        attention_mask=torch.cat([mask, torch.zeros(B, pad, dtype=torch.long)], dim=1),
    )
    return base, padded


def _prefix_diffs(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], t: tol.Tol, cmp: S.Comparison, tag: str
) -> bool:
    """Compare (into ``cmp``, names prefixed by ``tag``) an unpadded run ``a`` with a
    right-padded run ``b``: outputs of the same shape (losses, pooled logits, decoder outputs)
    whole, outputs longer along one axis (the time axis, however the encoder downsamples it) on
    the unpadded run's leading steps, which saw real input only. True when all agreed."""
    ok = True
    for k, x in a.items():
        y = b.get(k)
        if y is None or y.ndim != x.ndim or (x.ndim and y.shape[0] != x.shape[0]):
            continue  # not batch-major (XLNet's mems: positions first)
        longer = [d for d in range(1, x.ndim) if y.shape[d] != x.shape[d]]
        if longer:
            d = longer[0]
            if len(longer) > 1 or y.shape[d] < x.shape[d]:
                continue
            y = y.narrow(d, 0, x.shape[d])
        ok = cmp.close(f"{tag}: {k}", x, y, t) and ok
    return ok


def _audio_padding(case: Case, built: Any, model_class: str | None, key: str, axis: int) -> None:
    """An audio time series (``key``, time on ``axis``) padded on the right with masked steps,
    once zeros (what feature extractors pad with) and once random values, gives the unpadded
    outputs at real steps, and the same loss (with labels, where the head takes them) and
    pooled outputs. On a float64 copy where the model runs in float64, at the padding
    tolerance: a head that normalises small outputs (Wav2Vec2ForXVector's AM-softmax loss on
    logits of magnitude 1e-7 in a tiny model) turns float32 rounding into loss differences of
    0.3, and a tiny multiple-choice head's logits (~1e-2) move by less than the float32
    tolerance when the mask is ignored."""
    model, note = _mask_ready_model(built)
    # Labels (a loss over the real frames, e.g. CTC's input lengths) for encoder heads only:
    # a decoder's loss is a function of its logits, compared anyway, and its labels must match
    # decoder inputs the tiny synthesis draws independently (transducers). Per-frame labels
    # (``PER_FRAME_LABEL_TASKS``) follow the input's length: the padded run could not take them.
    from ..tiny.inputs import PER_FRAME_LABEL_TASKS

    labelled = (
        "labels" in forward_params(model)
        and built.label_task not in PER_FRAME_LABEL_TASKS
        and "decoder_input_ids" not in make_inputs(case, built)
    )
    inputs = make_inputs(case, built, labels=labelled)
    pad = _audio_pad_len(inputs[key].shape[axis])

    def body(m: Any, cast: Any, precision: str) -> tuple[S.Comparison, dict]:
        cmp = S.Comparison("attention_mask_padding", precision)
        a = None
        for fill in ("zeros", "random"):
            base, padded = _time_padded(inputs, key, axis, pad, fill)
            if a is None:
                a = floating(tensors(run(m, cast(base))))
            b = floating(tensors(run(m, cast(padded))))
            _prefix_diffs(
                a, b, tol.BY_PRECISION["padding"][precision], cmp, f"{fill} under the mask"
            )
        return cmp, a or {}

    try:
        cmp, a = S.precise(model, body)
    except ImportError as e:  # a loss may need a package forward() does not (torchaudio's RNNT)
        S.skip_if_missing_package(e)
        raise
    if not cmp:
        not_covered(f"no output to compare at real {key} steps ({describe(a)})")
    t = tol.BY_PRECISION["padding"][cmp.precision]
    cmp.verdict(
        f"{model_class}{note}: {pad} padded (masked) {key} steps change outputs at real "
        f"steps ({S.precision_note(cmp.precision)}, atol={t.atol}, rtol={t.rtol})",
        limit=8,
    )


def _choices_padding(built: Any, model_class: str | None, inputs: dict) -> None:
    """Multiple-choice rows (``input_ids`` batch x choices x length) padded along the last axis
    with masked positions (pad ids, then random plain ids) give the unpadded outputs. Padded on
    the right, else on the left: either side passing is a pass, as for 2-D ids of a causal model
    without ``position_ids`` (XLNet's multiple-choice head reads the last position; its tokenizer
    pads on the left)."""
    ids = inputs["input_ids"]
    B, C, L = ids.shape
    P = tol.PAD_LEN
    mask = inputs.get("attention_mask")
    if not isinstance(mask, torch.Tensor) or mask.shape != ids.shape:
        mask = torch.ones_like(ids)
    base = dict(inputs, attention_mask=mask)
    gen = torch.Generator().manual_seed(1)
    fills = {
        "pad ids": torch.full((B, C, P), _pad_fill(built.config, ids), dtype=ids.dtype),
        "random ids": _random_plain_ids(built.config, ids, (B, C, P), gen),
    }
    real = mask.reshape(B * C, L).bool()

    def padded_run(m: Any, cast: Any, fill: torch.Tensor, left: bool) -> dict:
        padded = {}
        for k, v in base.items():
            if isinstance(v, torch.Tensor) and v.ndim >= 3 and tuple(v.shape[:3]) == (B, C, L):
                extra = fill if k == "input_ids" else torch.zeros((B, C, P, *v.shape[3:]))
                parts = [extra.to(v.dtype), v] if left else [v, extra.to(v.dtype)]
                v = torch.cat(parts, dim=2)
            padded[k] = v
        b = floating(tensors(run(m, cast(padded))))
        # per-choice sequence outputs come flattened (B*C, L, ...): their real positions
        return {
            k: y.narrow(1, P if left else 0, L)[real] if _flat_rows(y, B * C, L + P) else y
            for k, y in b.items()
        }

    def body(m: Any, cast: Any, precision: str) -> tuple[S.Comparison, dict]:
        a = floating(tensors(run(m, cast(base))))
        a2 = {k: x[real] if _flat_rows(x, B * C, L) else x for k, x in a.items()}
        cmp = S.Comparison("attention_mask_padding", precision)
        for side, left in (("right", False), ("left", True)):
            side_cmp = S.Comparison("attention_mask_padding", precision)
            for name, fill in fills.items():
                b2 = padded_run(m, cast, fill, left)
                _prefix_diffs(
                    a2, b2, tol.BY_PRECISION["padding"][precision], side_cmp, f"{side}, {name}"
                )
            if side_cmp and not side_cmp.bad:
                return side_cmp, a
            cmp.compared += side_cmp.compared
            cmp.bad += side_cmp.bad
        return cmp, a

    cmp, a = S.precise(built.model, body)
    if not cmp:
        not_covered(f"no output to compare at real positions of the choices ({describe(a)})")
    t = tol.BY_PRECISION["padding"][cmp.precision]
    cmp.verdict(
        f"{model_class}: {P} padded (masked) positions change outputs at real positions of "
        f"each choice ({S.precision_note(cmp.precision)}, atol={t.atol}, rtol={t.rtol})",
        limit=8,
    )


def _flat_rows(x: torch.Tensor, rows: int, length: int) -> bool:
    return x.ndim >= 2 and x.shape[0] == rows and x.shape[1] == length


# ----------------------------------------------------------------------------------------
# save / load


def _auto_class(model_type: str, class_name: str, tasks: list[str]) -> Any:
    """The Auto class whose mapping maps ``model_type`` to ``class_name`` (preferring ``tasks``)."""
    import re

    from transformers.models.auto import modeling_auto as ma

    by_mapping: dict[int, str] = {}
    for name, obj in vars(ma).items():
        m = re.fullmatch(r"MODEL(?:_FOR_(\w+))?_MAPPING", name)
        if m and hasattr(obj, "_model_mapping"):
            by_mapping[id(obj)] = (m.group(1) or "base").lower()
    found: dict[str, Any] = {}
    for name, obj in vars(ma).items():
        if not (isinstance(obj, type) and name.startswith("AutoModel")):
            continue
        mapping = getattr(obj, "_model_mapping", None)
        names = getattr(mapping, "_model_mapping", None)
        if not isinstance(names, dict):
            continue
        value = names.get(model_type)
        value = value if isinstance(value, (tuple, list)) else (value,)
        if class_name in value:
            found.setdefault(by_mapping.get(id(mapping), name), obj)
    for t in tasks:
        if t in found:
            return found[t]
    return next(iter(found.values()), None)


def _check_auto_round_trip(loader: Any, model: Any) -> None:
    """Fail fast when the Auto class cannot map the config the model saves back to its class.

    Without this, ``from_pretrained`` may build whatever the mapping names for that config, at
    its *default* (full) size (seen: 3 GB for a Mllama vision tower), before failing.
    """
    mapping = getattr(loader, "_model_mapping", None)
    if mapping is None:  # a concrete class, not an Auto class
        return
    cfg_cls = type(model.config)
    via = loader.__name__
    try:
        target = mapping[cfg_cls]
    except KeyError:
        target = None
    names = {t.__name__ for t in (target if isinstance(target, (tuple, list)) else (target,)) if t}
    if type(model).__name__ not in names:
        got = ", ".join(sorted(names)) or "nothing"
        fail(
            f"{type(model).__name__}: {via} maps its model type to this class, but the "
            f"{cfg_cls.__name__} it saves ({model.config.model_type!r}) maps back to {got}: "
            "the saved model cannot be reloaded through the Auto class"
        )


SIZE_KEY = re.compile(r"(size|hidden|layers|heads|dim|vocab|channels)")
VOLATILE_CONFIG_KEYS = (
    "_name_or_path",
    "transformers_version",
    "_commit_hash",
    "_attn_implementation_autoset",  # Transformers 4.4x: set when loading picks the attention
)
# Keys ``save_pretrained`` fills in when they were unset (None) in memory: None -> value is no change.
UNSET_OK_CONFIG_KEYS = ("dtype", "torch_dtype")


def _json_form(value: Any) -> Any:
    """A config value as ``config.json`` holds it: tuples are lists, a ``torch.dtype`` is its
    name (``float32``). JSON cannot tell these apart, so a round-trip cannot keep them;
    Transformers 5.x ``to_dict`` already returns this form, 4.x ``to_dict`` keeps a tuple
    default (Mamba-2's ``time_step_limit``) and a config overriding ``to_dict`` may keep a
    ``torch.dtype`` (PromptDepthAnything)."""
    if isinstance(value, dict):
        return {k: _json_form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_form(v) for v in value]
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    return value


def _config_dict(config: Any) -> dict[str, Any]:
    d = _json_form(config.to_dict())
    for k in VOLATILE_CONFIG_KEYS:
        d.pop(k, None)
    return d


def _dict_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(a.keys() | b.keys(), key=str):
        p = f"{prefix}{k}"
        if k not in a or k not in b:
            out.append(f"{p} only in {'loaded' if k in b else 'original'}")
        elif isinstance(a[k], dict) and isinstance(b[k], dict):
            out.extend(_dict_diff(a[k], b[k], p + "."))
        elif _json_form(a[k]) != _json_form(b[k]) and not (
            k in UNSET_OK_CONFIG_KEYS and a[k] is None
        ):
            out.append(f"{p}: {a[k]!r} -> {b[k]!r}")
    return out


def _tied_groups(model: Any) -> list[tuple[str, ...]]:
    by_ptr: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        by_ptr.setdefault(p.data_ptr(), []).append(name)
    return [tuple(sorted(set(v))) for v in by_ptr.values() if len(set(v)) > 1]


def save_load(case: Case, model_class: str | None) -> None:
    """save_pretrained (safetensors) + from_pretrained via the task's Auto class round-trips.

    Same class, same config, no missing/unexpected/mismatched keys, parameters tied before the
    save still share storage after the load, and identical weights (bitwise) and outputs (``SAVE_LOAD``).
    """
    built = get_forward_model(case, model_class)
    model = built.model
    tasks = list(getattr(built, "tasks", ()) or case.tasks_of(model_class))
    loader = _auto_class(case.model_type, model_class, tasks) or type(model)
    _check_auto_round_trip(loader, model)
    inputs = make_inputs(case, built)
    # outputs before the save, on a float64 copy where the model runs in float64
    precision, before, promoted, m64 = _save_load_before(model, inputs)
    tied = _tied_groups(model)
    with tempfile.TemporaryDirectory(prefix="hftestgen-save-", dir=S.SCRATCH_DIR) as d:
        model.save_pretrained(d)
        files = sorted(p.name for p in Path(d).iterdir())
        if not any(f.endswith(".safetensors") for f in files):
            fail(f"{model_class}: save_pretrained wrote no .safetensors file ({files})")
        # Compare the reloaded config's *sizes* before building a model from it: a config that
        # does not round-trip can silently rebuild the model at its default (full) size (GBs)
        # first. Other keys are judged after loading (model __init__ may adjust them).
        cdiff = [
            line
            for line in _dict_diff(
                _config_dict(model.config),
                _config_dict(type(model.config).from_pretrained(d, local_files_only=True)),
            )
            if SIZE_KEY.search(line.split(":", 1)[0])
        ]
        if cdiff:
            fail(f"{model_class}: config sizes changed by save/load: {'; '.join(cdiff[:8])}")
        loaded, info = loader.from_pretrained(d, output_loading_info=True, local_files_only=True)
    via = getattr(loader, "__name__", str(loader))
    if type(loaded).__name__ != model_class:
        fail(f"{via}.from_pretrained returned {type(loaded).__name__}, expected {model_class}")
    problems = {k: list(v) for k, v in (info or {}).items() if k != "error_msgs" and v}
    if info and info.get("error_msgs"):
        problems["error_msgs"] = list(info["error_msgs"])
    if problems:
        fail(f"{model_class}: loading via {via} reported {problems}")
    cdiff = _dict_diff(_config_dict(model.config), _config_dict(loaded.config))
    if cdiff:
        fail(f"{model_class}: config changed by save/load: {'; '.join(cdiff[:8])}")
    if loaded.training:
        fail(f"{model_class}: {via}.from_pretrained returned a model in training mode")
    loaded_ptr = {n: p.data_ptr() for n, p in loaded.named_parameters(remove_duplicate=False)}
    for group in tied:
        ptrs = {loaded_ptr.get(n) for n in group}
        if None in ptrs or len(ptrs) != 1:
            fail(
                f"{model_class}: parameters tied before saving are not tied after loading: {group}"
            )
    weights = S.Comparison("save_load weights")
    weights.outputs(model.state_dict(), loaded.state_dict(), tol.EXACT)  # every tensor bitwise
    weights.verdict(f"{model_class}: weights changed by save/load via {via}", limit=8)
    t = tol.BY_PRECISION["save_load"][precision]
    if precision == "float64":  # the reloaded model by the original's route (it is ours: no copy)
        outputs = S.Comparison("save_load", precision)
        loaded64 = _float64_like(loaded, inputs, copy_model=False)
        if promoted:  # the original's copy ran (and raised) as it is first: the same history
            with contextlib.suppress(Exception):
                _run64(loaded64, inputs, False)
        try:
            after = S.finite(tensors(_run64(loaded64, inputs, promoted)), precision)
            same = outputs.outputs(before, after, t)
        except Exception:  # the reloaded model needs the promoted run where the original did not
            if promoted:
                raise
            same = False
        if not same and not promoted:
            # rule *float32 inside a float64 run*: a difference is judged on promoted runs
            before = S.finite(tensors(_run64(m64, inputs, True)), precision)
            after = S.finite(tensors(_run64(loaded64, inputs, True)), precision)
            outputs = S.Comparison("save_load", precision)
            outputs.outputs(before, after, t)
    else:
        outputs = S.Comparison("save_load", precision)
        outputs.outputs(before, S.finite(tensors(run(loaded, inputs)), precision), t)
    outputs.verdict(
        f"{model_class}: outputs differ after save/load via {via} "
        f"({S.precision_note(precision)}, atol={t.atol}, rtol={t.rtol})"
    )


def _float64_like(model: Any, inputs: dict[str, Any], copy_model: bool) -> Any:
    """Rule *same route to float64* (save_load): the original and the reloaded model reach float64
    the same way, whatever ran before: one float32 forward on these inputs, then ``to_float64``
    of a deep copy (the original, which other checks share) or of the model itself (the
    reloaded one, which nothing else uses). State a model computes lazily on a forward and keeps
    as a plain tensor attribute (a cached rotary table: clvp's and seamless_m4t's
    ``cached_rotary_positional_embedding``) is then float32-computed for these inputs on both
    sides, instead of float32 on one side and float64 on the other (a 1e-7 difference),
    depending on which checks ran first. Each side then runs as it is, and promoted
    (``Float64Mode``) only where the plain run raised or differed: the same runs on both."""
    run(model, inputs)
    return S.to_float64(copy.deepcopy(model) if copy_model else model)


def _run64(m64: Any, inputs: dict[str, Any], promoted: bool) -> Any:
    with S.float64_mode() if promoted else contextlib.nullcontext():
        return run(m64, S.cast_floats(inputs, torch.float64))


def _save_load_before(model: Any, inputs: dict[str, Any]) -> tuple[Any, dict[str, Any], bool, Any]:
    """(precision, outputs, promoted, float64 copy) of ``model`` before the save: float64 by
    *same route to float64* (as the model runs, else promoted: ``Float64Mode``), else float32
    with the reason (as ``S.precise``) and no copy."""
    reason = "forced" if S.FORCE_PRECISION == "float32" else ""
    if not reason:
        try:
            m64 = _float64_like(model, inputs, copy_model=True)
        except Exception as e:  # a float64-only failure: float32 decides
            reason = S._short(e, 200)
        else:
            for promoted in (False, True):
                try:
                    out = S.finite(tensors(_run64(m64, inputs, promoted)), "float64")
                    return S.Precision("float64"), out, promoted, m64
                except Exception as e:
                    reason = S._short(e, 200)
    precision = S.Precision("float32", reason)
    return precision, S.finite(tensors(run(model, inputs)), precision), False, None


# ----------------------------------------------------------------------------------------
# train step


#: a loss "changed" when it moved by more than this, relative to max(1, |loss|)
INFLUENCE_EPS = 1e-6
#: at most this many parameters are perturbed one by one to name the culprits
INFLUENCE_NAME_LIMIT = 48


def _train_loss(model: Any, inputs: dict[str, Any]) -> Any:
    seed_all(0)  # same dropout masks / sampling in every training pass
    with torch.enable_grad():
        out = model(**inputs)
    return out.get("loss") if isinstance(out, dict) else None


def _influencing(model: Any, inputs: dict[str, Any], names: list[str], ref: float) -> bool:
    """Does adding N(0, 1) noise to the named parameters change the loss?"""
    params = dict(model.named_parameters())
    saved = {n: params[n].detach().clone() for n in names}
    gen = torch.Generator().manual_seed(1)
    try:
        with torch.no_grad():
            for n in names:
                p = params[n]
                p.add_(torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype))
            loss = _train_loss(model, inputs)
        value = float(loss.detach()) if loss is not None else float("nan")
    finally:
        with torch.no_grad():
            for n in names:
                params[n].copy_(saved[n])
    return not abs(value - ref) <= INFLUENCE_EPS * max(1.0, abs(ref))


def train_step(case: Case, model_class: str | None) -> None:
    """One training forward/backward of a head class on labelled inputs.

    The loss is a finite scalar; every gradient is finite; and every trainable parameter that
    *takes part in computing the loss* gets a gradient. Participation is measured, not read
    off the autograd graph (which a detached weight leaves without a trace): the parameters left
    with ``grad=None`` are perturbed with N(0, 1) noise and the (identically seeded) training
    forward is repeated. If the loss moves (by more than 1e-6 relative), some of them influence
    the loss without receiving a gradient (detached, used under ``no_grad``, cut from the graph)
    and the check fails, naming them. Parameters whose perturbation leaves the loss unchanged
    are unused by this head (e.g. a pooler a token-classification head never calls, the vision
    layers after the feature layer a VLM reads) and may keep ``grad=None``.
    """
    built = get_forward_model(case, model_class)
    params = forward_params(built.model)
    if not any("label" in p or p in ("start_positions", "end_positions") for p in params):
        not_applicable(f"{model_class}.forward takes no labels")
    inputs = make_inputs(case, built, labels=True)
    label_keys = sorted(set(inputs) - set(make_inputs(case, built)))
    if not label_keys:
        not_covered(f"tiny inputs provide no labels for {model_class} (task {built.task})")
    model = copy.deepcopy(built.model)
    model.train()
    loss = _train_loss(model, inputs)
    if loss is None:
        fail(f"{model_class}: forward with labels {label_keys} returned no loss")
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        fail(
            f"{model_class}: loss is not a scalar tensor (shape {tuple(getattr(loss, 'shape', ()))})"
        )
    if not torch.isfinite(loss):
        fail(f"{model_class}: loss is not finite ({float(loss)})")
    if not loss.requires_grad:
        fail(f"{model_class}: loss does not require grad (no parameter reaches it)")
    loss.backward()
    ref = float(loss.detach())
    no_grad, bad_grads = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.grad is None:
            no_grad.append(n)
        elif not torch.isfinite(p.grad).all():
            bad_grads.append(n)
    if bad_grads:
        fail(f"{model_class}: non-finite gradients for {bad_grads[:8]}")
    model.zero_grad(set_to_none=True)
    if no_grad and _influencing(model, inputs, no_grad, ref):
        if len(no_grad) <= INFLUENCE_NAME_LIMIT:
            culprits = [n for n in no_grad if _influencing(model, inputs, [n], ref)] or no_grad
        else:
            culprits = no_grad
        fail(
            f"{model_class}: {len(culprits)} parameter(s) influence the loss but got no gradient: "
            f"{culprits[:8]}"
        )


# ----------------------------------------------------------------------------------------
# generate


def _gen_kwargs(model: Any, k: int) -> dict[str, Any]:
    gc = getattr(model, "generation_config", None)
    kw: dict[str, Any] = dict(do_sample=False, num_beams=1, max_new_tokens=k)
    # a random model may pick a multimodal placeholder id, which a processor inserts and a trained
    # model never emits: re-run without the cache, it no longer matches the features passed
    placeholders = placeholder_ids(model.config)
    if placeholders and not getattr(gc, "suppress_tokens", None):
        kw["suppress_tokens"] = placeholders
    if gc is not None and getattr(gc, "pad_token_id", None) is None:
        eos = getattr(gc, "eos_token_id", None)
        if isinstance(eos, (list, tuple)):
            eos = eos[0] if eos else None
        if eos is not None:
            kw["pad_token_id"] = eos
    return kw


def _eos_ids(model: Any) -> set[int]:
    gc = getattr(model, "generation_config", None)
    eos = getattr(gc, "eos_token_id", None) if gc is not None else None
    if eos is None:
        return set()
    return set(eos if isinstance(eos, (list, tuple)) else [eos])


def _plain_token(config: Any) -> int:
    """The smallest id >= 3 that is no special token (pad, placeholders, bos/eos, ...): the ids
    the tiny engine itself never draws for text."""
    specials = special_ids(config)
    vocab = cfg_int(text_config(config), "vocab_size") or 4
    return next((i for i in range(3, vocab) if i not in specials), 0)


def _first_token_wanted(
    scores: torch.Tensor, raw: torch.Tensor, forward_logits: torch.Tensor
) -> torch.Tensor:
    """The greedy first token a plain forward predicts. Logits processors of the model's
    generation config may forbid tokens at step 0 (suppressed or forced tokens: -inf in the
    processed scores): the argmax is then taken over the plain forward's logits of the tokens
    still allowed, never over the processed scores themselves (that comparison could not fail).
    Only a processor that rescales the allowed logits (repetition penalty) falls back to the
    processed scores."""
    allowed = torch.isfinite(scores)
    rescaled = not torch.equal(
        torch.where(allowed, scores, 0).to(raw.dtype), torch.where(allowed, raw, 0)
    )
    if rescaled:
        return scores.argmax(-1)
    masked = torch.where(allowed, forward_logits, torch.finfo(forward_logits.dtype).min)
    return masked.argmax(-1)


def generate(case: Case, model_class: str | None) -> None:
    """Greedy ``generate``: k new tokens (fewer only after EOS), deterministic, first token ==
    argmax of a plain forward on the prompt, and the same tokens with and without the KV cache.
    """
    built = get_built(case, model_class)
    model = built.model
    can = getattr(model, "can_generate", None)
    if not hasattr(model, "generate") or (callable(can) and not can()):
        not_applicable(f"{model_class} cannot generate (can_generate() is False)")
    k = tol.NEW_TOKENS
    inputs = make_inputs(case, built)
    encdec = bool(getattr(built.config, "is_encoder_decoder", False))
    prompt = {
        key: v for key, v in inputs.items() if not key.startswith("decoder_") and "label" not in key
    }
    mask = prompt.get("attention_mask")
    if isinstance(mask, torch.Tensor):  # unpadded prompts
        ids = prompt.get("input_ids")
        if isinstance(ids, torch.Tensor) and ids.shape == mask.shape and not bool(mask.all()):
            # the padded slots hold pad ids; unmasked, they would be pad tokens declared real
            # (models deriving positions from pad ids then disagree with their own cache)
            ids = ids.clone()
            ids[mask == 0] = _plain_token(built.config)
            prompt["input_ids"] = ids
        prompt["attention_mask"] = torch.ones_like(mask)
    kw = _gen_kwargs(model, k)
    eos = _eos_ids(model)

    def body(m: Any, cast: Any, precision: str) -> None:
        _generate_on(m, cast(prompt), kw, k, encdec, eos, model_class, precision)

    S.precise(model, body)


def _generate_on(
    model: Any,
    prompt: dict[str, Any],
    kw: dict[str, Any],
    k: int,
    encdec: bool,
    eos: set[int],
    model_class: str | None,
    precision: str,
) -> None:
    """The generate check's verdicts on ``model`` (the float64 copy, or the model in float32)."""
    t = tol.BY_PRECISION["generate"][precision]
    where = f"{S.precision_note(precision)}, atol={t.atol}, rtol={t.rtol}"

    def gen(use_cache: bool) -> Any:
        seed_all(0)
        with torch.no_grad():
            return model.generate(
                **prompt,
                **kw,
                use_cache=use_cache,
                return_dict_in_generate=True,
                output_scores=True,
                output_logits=True,
            )

    def no_nan(out: Any) -> Any:
        """``out``; non-finite step logits in float64 make the float64 copy unusable (generate
        casts them to float32: float64 values past its range, e.g. a ``finfo(float64).min``
        mask, or float32 constants mixed into float64, become inf / NaN)."""
        if precision == "float64":
            bad = [i for i, v in enumerate(out.logits or ()) if not bool(torch.isfinite(v).all())]
            if bad:
                raise S.Float64Unusable(f"non-finite generate logits at steps {bad}")
        return out

    try:
        out = no_nan(gen(True))
    except (
        ImportError
    ) as e:  # generate() may need a package forward() does not (VibeVoice: diffusers)
        S.skip_if_missing_package(e)
        raise
    seq = out.sequences
    steps = len(out.scores)
    ids = prompt.get("input_ids")
    if not encdec and isinstance(ids, torch.Tensor):
        prompt_len = ids.shape[-1]
        if seq.shape[1] != prompt_len + steps:
            fail(
                f"{model_class}: output length {seq.shape[1]} != prompt {prompt_len} + {steps} steps"
            )
        if not torch.equal(seq[:, :prompt_len], ids):
            fail(f"{model_class}: generate changed the prompt tokens")
    else:
        prompt_len = seq.shape[1] - steps
    new = seq[:, prompt_len:]
    if steps > k:
        fail(f"{model_class}: asked for max_new_tokens={k}, generated {steps}")
    if steps < k:
        ended = [bool(eos) and any(int(t) in eos for t in row) for row in new]
        if not all(ended):
            fail(f"{model_class}: generated {steps} < {k} new tokens without EOS in every row")
    # determinism
    again = gen(True)
    cmp = S.Comparison("generate", precision)
    if not cmp.equal("sequences", again.sequences, seq):
        fail(
            f"{model_class}: greedy generate is not deterministic: {seq.tolist()} vs {again.sequences.tolist()}"
        )
    # first token vs a plain forward: its raw logits (not the processed scores, which are
    # generate's own and so could not disagree with it)
    fwd_in = dict(prompt)
    if encdec:
        fwd_in["decoder_input_ids"] = seq[:, :prompt_len]
    logits = run(model, fwd_in).logits[:, -1, :]
    first = new[:, 0]
    # generate hands out its logits as float32 copies: the forward's in that dtype (a float64
    # finfo.min mask value is -inf there, as in generate's)
    step0_raw, fwd0 = out.logits[0], logits.to(out.logits[0].dtype)
    if precision == "float64" and not bool(torch.isfinite(fwd0).all()):
        raise S.Float64Unusable("non-finite forward logits in generate's float32")
    if not cmp.close("step 0 logits", step0_raw, fwd0, t):
        fail(
            f"{model_class}: first-step logits of generate differ from a plain forward on the prompt "
            f"({diff(step0_raw, fwd0)}, {where})"
        )
    want = _first_token_wanted(out.scores[0], out.logits[0], logits)
    if not cmp.equal("first token", first, want):
        fail(
            f"{model_class}: first new token {first.tolist()} != argmax of forward {want.tolist()}"
        )
    # KV cache
    nocache = no_nan(gen(False))
    if not cmp.equal("sequences without cache", nocache.sequences, seq):
        fail(
            f"{model_class}: generate differs with use_cache=False: "
            f"{seq[:, prompt_len:].tolist()} (cache) vs {nocache.sequences[:, prompt_len:].tolist()} (no cache)"
        )
    # Same tokens can hide a corrupted cache (a random tiny model often repeats one token
    # whatever its context): the logits of every step must agree too.
    cached_logits, plain_logits = out.logits or (), nocache.logits or ()
    for i, (a, b) in enumerate(zip(cached_logits, plain_logits, strict=False)):
        if not cmp.close(f"step {i} logits", a, b.to(a.dtype), t):
            fail(
                f"{model_class}: step {i} logits differ with use_cache=False ({diff(a, b)}, {where})"
            )
    cmp.verdict(f"{model_class}: generate")
