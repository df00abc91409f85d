"""Labels per task head: class ids, spans, per-token, per-frame and per-pixel labels, detection
and instance-mask targets, universal-segmentation mask/class lists, depth maps, CTC targets,
regression targets, pretraining targets named by the forward signature, and sequence targets
that follow the decoder, the input (or main token-id) ids or the embedded positions."""

from __future__ import annotations

import torch

from ._cfg import _int
from .context import DEC, SEQ, Ctx, main_input
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
NO_LABEL_TASKS = ("time_series_prediction",)
"""Tasks whose heads take no ``labels`` (time-series prediction reads ``future_values``)."""
INSTANCE_TASKS = ("image_segmentation", "instance_segmentation")
"""Tasks whose ``labels`` are detection targets with one binary mask per box (DETR-style)."""
HEATMAP_TASKS = ("pose_estimation",)
"""Tasks whose ``labels`` are keypoint heatmaps shaped like the head's predicted ``heatmaps``."""
DEPTH_TASKS = ("depth_estimation",)
"""Tasks whose ``labels`` are one positive depth per pixel."""
TARGET_N = 2
"""Objects (boxes, masks) per image in detection and segmentation targets."""
SPAN_TASKS = ("question_answering", "document_question_answering")
"""Tasks labelled with one answer span (start/end position) per sample."""
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


def _pixel_hw(out: dict) -> tuple[int, int]:
    """Height and width of the pixels (images or video frames); 32x32 when there are none."""
    px = out.get("pixel_values")
    if px is None:
        px = out.get("pixel_values_videos")
    return (int(px.shape[-2]), int(px.shape[-1])) if px is not None else (32, 32)


def _masks(c: Ctx, n: int, hw: tuple[int, int]) -> torch.Tensor:
    """``n`` random binary masks (float 0/1) at the pixel resolution, none of them empty."""
    m = (c.rand([n, *hw]) > 0.5).float()
    m[:, 0, 0] = 1.0
    return m


def _instance_targets(c: Ctx, out: dict) -> list:
    """Rule *instance targets* (DETR-style segmentation): the detection targets plus ``masks``,
    one binary mask per box at the pixel resolution."""
    targets = _detection_targets(c)
    hw = _pixel_hw(out)
    for t in targets:
        t["masks"] = _masks(c, len(t["class_labels"]), hw)
    return targets


def _universal_segmentation_labels(c: Ctx, out: dict) -> dict:
    """Rule *mask/class lists* (MaskFormer-style universal segmentation, forward takes
    ``mask_labels`` and ``class_labels``): per image, ``TARGET_N`` binary masks at the pixel
    resolution and their class ids in ``[0, num_labels)``."""
    hw = _pixel_hw(out)
    n = _num_labels(c)
    return {
        "mask_labels": [_masks(c, TARGET_N, hw) for _ in range(c.B)],
        "class_labels": [c.randint(0, n, [TARGET_N]) for _ in range(c.B)],
    }


def _depth_labels(c: Ctx, out: dict) -> torch.Tensor:
    """Rule *depth map*: one positive depth per pixel, ``(B, H, W)`` float (log-depth losses
    ignore non-positive targets)."""
    return c.rand([c.B, *_pixel_hw(out)]) + 0.5


def _heatmap_labels(c: Ctx, out: dict) -> torch.Tensor | None:
    """Rule *heatmap targets* (pose estimation): random heatmaps in [0, 1) shaped like the
    ``heatmaps`` the head predicts for these inputs (one eval forward without labels: their
    resolution follows the decode head's upsampling stages, which the config does not state
    as one number); None when the forward returns no ``heatmaps``."""
    with torch.no_grad():
        pred = c.b.model(**out)
    hm = pred.get("heatmaps") if hasattr(pred, "get") else None
    return c.rand(hm.shape) if isinstance(hm, torch.Tensor) else None


def _frame_labels(c: Ctx, out: dict) -> torch.Tensor:
    """Rule *per-frame classes* (audio frame classification): one one-hot row over
    ``num_labels`` per output frame, ``(B, frames, num_labels)``. The frames are the model's own
    ``_get_feat_extract_output_lengths`` of the main input's time axis (its conv feature
    encoder and adapter), else that axis itself."""
    x = out.get(main_input(c.b.model, c.sig))
    T = int(x.shape[1]) if x is not None and x.dim() > 1 else SEQ
    lengths = getattr(c.b.model, "_get_feat_extract_output_lengths", None)
    if callable(lengths):
        T = int(lengths(torch.tensor([T])).reshape(-1)[0])
    n = _num_labels(c)
    return torch.nn.functional.one_hot(c.randint(0, n, [c.B, T]), n)


def _token_ids(c: Ctx, out: dict):
    """The token ids labels follow: ``input_ids``, else an integer main input (a modality-
    agnostic forward's ``inputs``); None when there is none."""
    ids = out.get("input_ids")
    if ids is None:
        x = out.get(main_input(c.b.model, c.sig))
        if isinstance(x, torch.Tensor) and not x.is_floating_point() and x.dtype != torch.bool:
            ids = x
    return ids


def _attended(c: Ctx, out: dict, S: int) -> list[torch.Tensor]:
    """Per row, the positions >= 1 the attention mask keeps (all of 1..S-1 without a mask):
    span targets there are neither padding nor the ignored position 0."""
    am = out.get("attention_mask")
    rows = []
    for b in range(c.B):
        keep = (
            torch.ones(S, dtype=torch.bool)
            if am is None or am.shape[-1] != S
            else am.reshape(c.B, -1, S)[b].all(0).bool()
        )
        keep[0] = S == 1
        rows.append(keep.nonzero().reshape(-1))
    return rows


def _pick(c: Ctx, rows: list[torch.Tensor], n: int) -> torch.Tensor:
    """``n`` positions per row, drawn from that row's candidates."""
    u = c.rand([len(rows), n])
    return torch.stack(
        [r[(u[i] * len(r)).long().clamp(max=len(r) - 1)] for i, r in enumerate(rows)]
    )


def _question_span_labels(c: Ctx, out: dict) -> dict:
    """Rule *question spans* (forward takes ``question_positions`` with start/end positions,
    Splinter-style pretraining): one question per row at the config's ``question_token_id``
    (else a kept position), and its answer span at kept positions, all ``(B, 1)``."""
    ids = _token_ids(c, out)
    S = ids.shape[-1] if ids is not None else SEQ
    rows = _attended(c, out, S)
    q = _pick(c, rows, 1)
    qid = getattr(c.cfg, "question_token_id", None)
    if ids is not None and isinstance(qid, int):
        for b in range(c.B):
            hits = (ids[b] == qid).nonzero().reshape(-1)
            if len(hits):
                q[b, 0] = hits[0]
    return {
        "question_positions": q,
        "start_positions": _pick(c, rows, 1),
        "end_positions": _pick(c, rows, 1),
    }


def _pretraining_targets(c: Ctx, out: dict) -> dict:
    """Rule *named pretraining targets*, by forward parameter: ``mlm_labels`` (masked-LM targets
    over the token ids, padding ignored), ``itm_labels`` (image-text match, one 0/1 per pair),
    and ``labels_<input>`` (a model that reconstructs its input: the input itself, the token
    ids with padding ignored)."""
    res: dict = {}
    seq = _sequence_labels(c, out) if "mlm_labels" in c.sig or "labels_input_ids" in c.sig else None
    if "mlm_labels" in c.sig and seq is not None:
        res["mlm_labels"] = seq
    if "itm_labels" in c.sig:
        res["itm_labels"] = c.randint(0, 2, [c.B])
    for name in c.sig:
        src = name[len("labels_") :] if name.startswith("labels_") else None
        if src and src in out:
            res[name] = seq if src == "input_ids" and seq is not None else out[src].clone()
    return res


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
    ids = _token_ids(c, out)
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


# Tasks whose labels have one row per output frame: their shape follows the input's length, so a
# padded input needs other labels (the audio padding check compares these heads without labels).
PER_FRAME_LABEL_TASKS = frozenset({"audio_frame_classification"})


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
    if task in INSTANCE_TASKS:
        return {"labels": _instance_targets(c, out)}
    if task in DEPTH_TASKS:
        return {"labels": _depth_labels(c, out)}
    if task in HEATMAP_TASKS:
        hm = _heatmap_labels(c, out)
        return {} if hm is None else {"labels": hm}
    if task in PER_FRAME_LABEL_TASKS:
        return {"labels": _frame_labels(c, out)}
    lab = _sequence_labels(c, out)
    return {} if lab is None else {"labels": lab}


def labels_for(c: Ctx, out: dict) -> dict:
    """Labels for the inputs ``out``, by the forward signature and the head's label task."""
    sig, B = c.sig, c.B
    res: dict = {}
    if "start_positions" in sig and c.b.label_task in SPAN_TASKS:
        S = out["input_ids"].shape[-1] if "input_ids" in out else SEQ
        res["start_positions"] = c.randint(0, S, [B])
        res["end_positions"] = c.randint(0, S, [B])
        return res
    if "question_positions" in sig and "start_positions" in sig and "end_positions" in sig:
        return _question_span_labels(c, out)
    if "next_sentence_label" in sig:
        res["next_sentence_label"] = c.randint(0, 2, [B])
    if "mask_labels" in sig and "class_labels" in sig:
        res.update(_universal_segmentation_labels(c, out))
    res.update(_pretraining_targets(c, out))
    if "labels" in sig:
        res.update(_task_labels(c, out))
    return res
