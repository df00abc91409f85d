"""Labels per task head: class ids, spans, per-token and per-pixel labels, detection targets,
CTC targets, regression targets, and sequence targets that follow the decoder, the input ids or
the embedded positions."""

from __future__ import annotations

import torch

from ._cfg import _int
from .context import DEC, SEQ, Ctx
from .text import _dec_vocab, _placeholder_id, _vocab

CLASS_TASKS = (
    "sequence_classification",
    "image_classification",
    "audio_classification",
    "video_classification",
    "audio_xvector",
    "time_series_classification",
    "next_sentence_prediction",
)
"""Tasks labelled with one class id per sample."""
NO_LABEL_TASKS = ("audio_frame_classification", "time_series_prediction")
"""Tasks whose heads take no ``labels`` (time-series prediction reads ``future_values``)."""
DECODER_TASKS = ("seq_to_seq_causal_lm", "speech_seq_2_seq", "vision_2_seq", "text_recognition")


def _num_labels(c: Ctx) -> int:
    return _int(getattr(c.cfg, "num_labels", None), 2)


def _classifier_out(model) -> int | None:
    """out_features of the last Linear of a ``classifier`` head (None when there is none)."""
    head = getattr(model, "classifier", None)
    if not isinstance(head, torch.nn.Module):
        return None
    lins = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    return lins[-1].out_features if lins else None


def _token_labels(c: Ctx, out: dict) -> torch.Tensor:
    # an encoder-decoder token classifier labels the positions its decoder reads
    ref = out.get("decoder_input_ids") if getattr(c.cfg, "is_encoder_decoder", False) else None
    ref = ref if ref is not None else out.get("input_ids")
    return c.randint(0, _num_labels(c), ref.shape if ref is not None else [c.B, SEQ])


def _detection_targets(c: Ctx) -> list:
    n = _num_labels(c)
    return [
        {"class_labels": c.randint(0, n, [2]), "boxes": c.rand([2, 4]) * 0.5 + 0.25}
        for _ in range(c.B)
    ]


def _pixel_labels(c: Ctx, out: dict) -> torch.Tensor:
    px = out.get("pixel_values")
    h, w = (px.shape[-2], px.shape[-1]) if px is not None else (32, 32)
    return c.randint(0, _num_labels(c), [c.B, h, w])


def _is_decoder_target(c: Ctx, out: dict) -> bool:
    """Labels are decoder targets: a real decoder (the model shifts them into decoder inputs), or
    a seq2seq task fed neither ids nor embeddings. Decoder-only "seq2seq" heads (audio/vision
    LLMs) are not: their labels follow input_ids."""
    return (
        "decoder_input_ids" in out
        or (getattr(c.cfg, "is_encoder_decoder", False) and "decoder_input_ids" in c.sig)
        or (
            c.b.label_task in DECODER_TASKS
            and out.get("input_ids") is None
            and "inputs_embeds" not in out
        )
    )


def _sequence_labels(c: Ctx, out: dict):
    """Targets along a sequence: decoder targets, else input_ids with padding and placeholder
    tokens ignored (-100), else one target per embedded position; None when there is none."""
    ids = out.get("input_ids")
    if _is_decoder_target(c, out):
        T = out["decoder_input_ids"].shape[-1] if "decoder_input_ids" in out else DEC
        return c.randint(3 if _dec_vocab(c) > 10 else 0, _dec_vocab(c), [c.B, T])
    if ids is not None:
        lab = ids.clone()
        if "attention_mask" in out and out["attention_mask"].shape == lab.shape:
            lab[out["attention_mask"] == 0] = -100
        for kind in ("image", "audio", "video"):
            tok = _placeholder_id(c, kind)
            if tok is not None:
                lab[lab == tok] = -100
        return lab
    if "inputs_embeds" in out:
        # causal LM fed embeddings: one target per embedded position
        lab = c.randint(3 if _vocab(c) > 10 else 0, _vocab(c), [c.B, out["inputs_embeds"].shape[1]])
        am = out.get("attention_mask")
        if am is not None and am.shape == lab.shape:
            lab[am == 0] = -100
        return lab
    return None


def _task_labels(c: Ctx, out: dict) -> dict:
    """The label tensors of the head's task (``labels``, or ``target_values`` for regression)."""
    task, B = c.b.label_task, c.B
    if task in CLASS_TASKS:
        return {"labels": c.randint(0, _num_labels(c), [B])}
    if task == "visual_question_answering" and _classifier_out(c.b.model) == _num_labels(c):
        # answer classification over num_labels candidates, scored by BCE: soft multi-hot targets
        return {"labels": c.rand([B, _num_labels(c)])}
    if task == "multiple_choice":
        ids = out.get("input_ids")
        return {"labels": c.randint(0, ids.shape[1] if ids is not None else 2, [B])}
    if task == "token_classification":
        return {"labels": _token_labels(c, out)}
    if task in NO_LABEL_TASKS:
        return {}
    if task == "time_series_regression":
        return {"target_values": c.randn([B, _int(getattr(c.cfg, "num_targets", None), 1)])}
    if task == "ctc":
        return {"labels": c.randint(1, _vocab(c), [B, 3])}
    if task in ("object_detection", "zero_shot_object_detection"):
        return {"labels": _detection_targets(c)}
    if task == "semantic_segmentation":
        return {"labels": _pixel_labels(c, out)}
    lab = _sequence_labels(c, out)
    return {} if lab is None else {"labels": lab}


def labels_for(c: Ctx, out: dict) -> dict:
    """Labels for the inputs ``out``, by the forward signature and the head's label task."""
    sig, B = c.sig, c.B
    res: dict = {}
    if "start_positions" in sig and c.b.label_task == "question_answering":
        S = out["input_ids"].shape[-1] if "input_ids" in out else SEQ
        res["start_positions"] = c.randint(0, S, [B])
        res["end_positions"] = c.randint(0, S, [B])
        return res
    if "next_sentence_label" in sig:
        res["next_sentence_label"] = c.randint(0, 2, [B])
    if "labels" in sig:
        res.update(_task_labels(c, out))
    return res
