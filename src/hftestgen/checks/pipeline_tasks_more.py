"""More pipeline task specifications (``checks.pipelines.TaskSpec``), merged into
``checks.pipelines.TASKS``.

Each spec checks the pipeline's documented output structure on raw input and compares it with
the same result computed by hand from the model called on the preprocessing's output. Where the
by-hand side uses one of the image processor's ``post_process_*`` functions (the pipeline is
what is under test, not the post-processing), its docstring says so.

Tasks whose pipeline needs a package that is not installed (``av`` to decode video, ``pandas``
for tables, ``torchvision`` for mask generation's non-maximum suppression) end as a
missing-package skip naming it before anything is built.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import numpy as np
import torch

from . import tolerances as tol
from ._support import Comparison
from .pipelines import (
    IMAGE_SIZES,
    SEED,
    TEXTS,
    TaskSpec,
    _compare_scores,
    _forward,
    _image_inputs,
    _images,
    _require,
    _tensors,
    image,
    sampling_rate,
    waveform,
)
from .skips import missing_package, not_applicable, not_covered

CANDIDATES = ["fox", "world"]


def _needs_package(name: str) -> None:
    """Named skip where the pipeline's required package is not installed."""
    if find_spec(name) is None:
        missing_package(name)


def _no_options(prep, config) -> dict:
    return {}


SAME_ASPECT_SIZES = ((40, 48), (50, 60))
"""Two image sizes, neither square nor the tiny config's, of one aspect ratio. Rule: image
pipelines batch by stacking the processed pixel values (``Pipeline``'s ``pad_collate`` pads
4-d inputs of different shapes with zeros the model then sees, or fails to stack them), so the
inputs of a batch are images an aspect-preserving resize (DPT, Depth Anything, DETR) brings to
one shape."""


def _same_aspect_images(prep) -> list:
    return [image(SEED + i, s) for i, s in enumerate(SAME_ASPECT_SIZES)]


# --------------------------------------------------------------------------------------
# depth-estimation


def _depth_structure(result, config, prep, x) -> list[str]:
    """``{"predicted_depth": tensor (H, W) of the input image, "depth": PIL image of its size}``."""
    if not isinstance(result, dict) or {"predicted_depth", "depth"} - set(result):
        return [f"expected {{predicted_depth, depth}}, got {result!r}"[:200]]
    w, h = x.size
    bad = []
    d = result["predicted_depth"]
    if not isinstance(d, torch.Tensor) or tuple(d.shape[-2:]) != (h, w):
        bad.append(f"predicted_depth {getattr(d, 'shape', d)} is not the image's (H, W) {(h, w)}")
    elif not torch.isfinite(d).all():
        bad.append("predicted_depth is not finite")
    if getattr(result["depth"], "size", None) != (w, h):
        bad.append(f"depth image size {getattr(result['depth'], 'size', None)} is not {(w, h)}")
    return bad


def _depth_manual(model, prep, x, config):
    """The model on the image processor's output, resized to the image by the processor's
    ``post_process_depth_estimation``."""
    out = _forward(model, _image_inputs(prep, x))
    w, h = x.size
    res = prep.image_processor.post_process_depth_estimation(out, target_sizes=[(h, w)])[0]
    return {"predicted_depth": res["predicted_depth"]}


def _compare_depth(cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any) -> None:
    """Rule: depth maps are compared in units of the by-hand map's largest magnitude. A random
    tiny depth head reaches values of 1e5..1e6, and float32 rounding of a batched convolution
    is relative to the activations' magnitude, not to each pixel's value (measured: Depth
    Anything batched vs alone 9.0 at a largest value of 2.5e6, 3.6e-6 of the scale; 2.5e-8 on
    a float64 copy of the model)."""
    g, w = got["predicted_depth"].float(), want["predicted_depth"].float()
    scale = w.abs().max().clamp_min(1.0)
    cmp.close(f"{name} (in units of the largest depth)", g / scale, w / scale, t)


# --------------------------------------------------------------------------------------
# image-segmentation


def _seg_kind(prep) -> str:
    """The pipeline's order (``ImageSegmentationPipeline.postprocess``): panoptic, instance,
    then semantic, by the post-processing the image processor has."""
    ip = prep.image_processor
    for kind in ("panoptic", "instance", "semantic"):
        if hasattr(ip, f"post_process_{kind}_segmentation"):
            return kind
    not_applicable(f"{type(ip).__name__} has no segmentation post-processing")


def _seg_options(prep, config) -> dict:
    # every segment, not only those above the default 0.9 (a random tiny model is unsure)
    return {"threshold": 0.0}


def _seg_structure(result, config, prep, x) -> list[str]:
    """A list of ``{label, mask, score}``: masks binary ("L", 0/255) of the image's size, labels
    in ``config.id2label``, scores None (semantic) or in [0, 1]; segments do not overlap and a
    semantic segmentation covers every pixel."""
    if not isinstance(result, list):
        return [f"expected a list of segments, got {result!r}"[:200]]
    if not result and _seg_kind(prep) == "semantic":
        return ["a semantic segmentation returned no segment"]
    # panoptic / instance: an untrained model may find no segment; the by-hand side must agree
    bad = []
    labels = set(config.id2label.values())
    w, h = x.size
    cover = np.zeros((h, w), dtype=np.int64)
    for r in result:
        m = r.get("mask")
        if r.get("label") not in labels:
            bad.append(f"label {r.get('label')!r} not in config.id2label")
        s = r.get("score")
        if s is not None and not 0.0 <= float(s) <= 1.0:
            bad.append(f"score {s} not in [0, 1]")
        if getattr(m, "size", None) != (w, h) or getattr(m, "mode", None) != "L":
            bad.append(f"mask {getattr(m, 'mode', m)} {getattr(m, 'size', '')} is not an L {w}x{h}")
            continue
        a = np.asarray(m)
        if not set(np.unique(a).tolist()) <= {0, 255}:
            bad.append("mask is not binary (0/255)")
        cover += a > 0
    if (cover > 1).any():
        bad.append("segments overlap")
    if _seg_kind(prep) == "semantic" and (cover != 1).any():
        bad.append("the semantic segments do not cover the image")
    return bad[:4]


def _seg_manual(model, prep, x, config):
    """Semantic: the logits upsampled (bilinear) to the image and the argmax class per pixel,
    computed here. Panoptic / instance: the image processor's ``post_process_*_segmentation``
    on the model's output."""
    out = _forward(model, _image_inputs(prep, x))
    w, h = x.size
    kind = _seg_kind(prep)
    if kind == "semantic":
        logits = torch.nn.functional.interpolate(
            out.logits, size=(h, w), mode="bilinear", align_corners=False
        )
        seg = logits[0].argmax(0).numpy()
        return [
            {"label": config.id2label[int(c)], "score": None, "mask": (seg == c)}
            for c in np.unique(seg)
        ]
    fn = getattr(prep.image_processor, f"post_process_{kind}_segmentation")
    res = fn(out, threshold=0.0, target_sizes=[(h, w)])[0]
    seg = res["segmentation"].numpy()
    return [
        {
            "label": config.id2label[s["label_id"]],
            "score": float(s["score"]),
            "mask": seg == s["id"],
        }
        for s in res["segments_info"]
    ]


def _compare_segments(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    """Segments in order: labels, masks pixel for pixel, scores."""
    cmp.compared.append(f"{name} labels")
    g, w = [r["label"] for r in got], [r["label"] for r in want]
    if g != w:
        cmp.flag(f"{name}: labels {g} != {w}")
        return
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        cmp.equal(
            f"{name} mask {i}",
            torch.as_tensor(np.asarray(a["mask"]) > 0),
            torch.as_tensor(np.asarray(b["mask"]) > 0),
        )
    scores = [(r["score"], s["score"]) for r, s in zip(got, want, strict=True)]
    if all(a is not None and b is not None for a, b in scores):
        cmp.close(
            f"{name} scores",
            torch.tensor([float(a) for a, _ in scores]),
            torch.tensor([float(b) for _, b in scores]),
            t,
        )


# --------------------------------------------------------------------------------------
# zero-shot-object-detection


def _zs_od_inputs(prep) -> list:
    return [{"image": im, "candidate_labels": list(CANDIDATES)} for im in _same_aspect_images(prep)]


def _zs_od_options(prep, config) -> dict:
    return {"threshold": 0.0}


def _box_frame(prep, w: int, h: int) -> tuple[float, float]:
    """Rule BOX_FRAME: the frame (width, height), in the image's pixels from its top-left
    corner, that the model's relative boxes span, as the image processor's
    ``post_process_object_detection`` declares it: the box it makes of the whole frame
    (relative centre (0.5, 0.5), size 1 x 1) for the image's target size. That is the image for
    most processors; Owlv2's pads the image to a square at its bottom and right
    (``image_processing_pil_owlv2.py:352`` ``pad``: ``((0, pad_bottom), (0, pad_right))``) and
    scales both axes by the longer side (``image_processing_owlv2.py:78`` ``_scale_boxes``: "for
    owlv2 image is padded to max size"), so
    a non-square image's boxes span the padded square. A processor that cannot post-process
    the stand-in outputs keeps the image as the frame."""
    from transformers.modeling_outputs import BaseModelOutput

    ip = getattr(prep, "image_processor", None)
    post = getattr(ip, "post_process_object_detection", None)
    if post is None:
        return float(w), float(h)
    whole = BaseModelOutput(
        {"logits": torch.zeros(1, 1, 1), "pred_boxes": torch.tensor([[[0.5, 0.5, 1.0, 1.0]]])}
    )
    try:
        boxes = post(outputs=whole, threshold=0.0, target_sizes=torch.tensor([[h, w]]))[0]["boxes"]
        x0, y0, x1, y1 = (float(v) for v in boxes.reshape(-1, 4)[0])
    except Exception:  # noqa: BLE001 - a post-processing that needs more outputs
        return float(w), float(h)
    if abs(x0) > 1 or abs(y0) > 1:  # a frame not anchored at the top-left corner: not known
        return float(w), float(h)
    return x1, y1


def _zs_od_structure(result, config, prep, x) -> list[str]:
    """``[{score, label, box: {xmin, ymin, xmax, ymax}}]`` sorted by score: labels among the
    candidates, scores in [0, 1], box corners in order and centred inside the model's frame.
    Rule: the post-processing does not clip boxes (``center_to_corners_format`` of sigmoid
    (cx, cy, w, h) in ``post_process_object_detection``), so a box is held to what the model
    guarantees, a centre inside the frame its boxes span (rule BOX_FRAME, ``_box_frame``: the
    image, or the square Owlv2 pads it to); a random tiny model's wide boxes stick out of it."""
    if not isinstance(result, list):
        return [f"expected a list of detections, got {type(result).__name__}"]
    bad = []
    iw, ih = x["image"].size
    w, h = _box_frame(prep, iw, ih)
    for r in result:
        b = r["box"]
        if r["label"] not in CANDIDATES:
            bad.append(f"label {r['label']!r} is not a candidate")
        if not 0.0 <= float(r["score"]) <= 1.0:
            bad.append(f"score {r['score']} not in [0, 1]")
        cx, cy = (b["xmin"] + b["xmax"]) / 2, (b["ymin"] + b["ymax"]) / 2
        if not (b["xmin"] <= b["xmax"] and b["ymin"] <= b["ymax"]):
            bad.append(f"box {b} has its corners out of order")
        if not (-1 <= cx <= w + 1 and -1 <= cy <= h + 1):
            frame = f"{iw}x{ih} image" if (w, h) == (iw, ih) else f"{w:g}x{h:g} frame"
            bad.append(f"box {b} is centred outside the {frame}")
    scores = [r["score"] for r in result]
    if scores != sorted(scores, reverse=True):
        bad.append("detections are not sorted by score")
    return bad[:4]


def _zs_od_manual(model, prep, x, config):
    """Per candidate label: the tokenizer on the label and the image processor on the image,
    the model, then the image processor's ``post_process_object_detection`` (threshold 0)."""
    im = x["image"]
    w, h = im.size
    tok = prep.tokenizer or prep.processor.tokenizer
    out = []
    for label in x["candidate_labels"]:
        enc = {**_tensors(tok(label, return_tensors="pt")), **_image_inputs(prep, im)}
        res = prep.image_processor.post_process_object_detection(
            _forward(model, enc), threshold=0.0, target_sizes=torch.tensor([[h, w]])
        )[0]
        for s, box in zip(res["scores"], res["boxes"], strict=False):
            if float(s) != 0.0:
                out.append({"score": float(s), "label": label, "box": box.int().tolist()})
    return sorted(out, key=lambda r: -r["score"])


def _box4(box) -> list[int]:
    """[xmin, ymin, xmax, ymax] of the pipeline's box dict or of a by-hand list."""
    if isinstance(box, dict):
        return [int(box[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
    return [int(v) for v in box]


def _compare_zs_detections(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    """Detection count, then per label the sorted scores and the boxes (integer pixels, one
    pixel apart at most: a score near a rounding edge)."""
    cmp.compared.append(f"{name} count")
    if len(got) != len(want):
        cmp.flag(f"{name}: {len(got)} detections, by hand {len(want)}")
        return
    for label in CANDIDATES:
        g = sorted((r for r in got if r["label"] == label), key=lambda r: -r["score"])
        w = sorted((r for r in want if r["label"] == label), key=lambda r: -r["score"])
        if len(g) != len(w):
            cmp.compared.append(f"{name} {label} count")
            cmp.flag(f"{name}: {len(g)} {label!r} detections, by hand {len(w)}")
            continue
        if not g:
            continue
        cmp.close(
            f"{name} {label} scores",
            torch.tensor([r["score"] for r in g]),
            torch.tensor([r["score"] for r in w]),
            t,
        )
        gb = torch.tensor([_box4(r["box"]) for r in g])
        wb = torch.tensor([_box4(r["box"]) for r in w])
        cmp.compared.append(f"{name} {label} boxes")
        if (gb - wb).abs().max() > 1:
            cmp.flag(f"{name}: {label!r} boxes differ by {int((gb - wb).abs().max())} px")


# --------------------------------------------------------------------------------------
# zero-shot-audio-classification

AUDIO_TEMPLATE = "This is a sound of {}."


def _waves(prep) -> list:
    rate = sampling_rate(prep)
    return [waveform(SEED + i, s, rate) for i, s in enumerate((0.5, 0.7))]


def _zs_audio_options(prep, config) -> dict:
    return {"candidate_labels": list(CANDIDATES), "hypothesis_template": AUDIO_TEMPLATE}


def _zs_audio_structure(result, config, prep, x) -> list[str]:
    if not isinstance(result, list) or sorted(r["label"] for r in result) != sorted(CANDIDATES):
        return [f"expected one score per candidate label, got {result!r}"[:200]]
    scores = [r["score"] for r in result]
    bad = [] if scores == sorted(scores, reverse=True) else ["scores not descending"]
    if abs(sum(scores) - 1) > 1e-4:
        bad.append(f"scores sum to {sum(scores)}, not 1")
    return bad


def _zs_audio_manual(model, prep, x, config):
    """The feature extractor on the waveform, the tokenizer on the filled templates, the
    model's ``logits_per_audio`` softmaxed over the candidates."""
    fe = prep.feature_extractor or prep.processor.feature_extractor
    tok = prep.tokenizer or prep.processor.tokenizer
    feats = _tensors(fe([x], sampling_rate=fe.sampling_rate, return_tensors="pt"))
    texts = _tensors(
        tok([AUDIO_TEMPLATE.format(c) for c in CANDIDATES], return_tensors="pt", padding=True)
    )
    probs = _forward(model, {**texts, **feats}).logits_per_audio[0].softmax(-1)
    return [{"label": c, "score": float(p)} for c, p in zip(CANDIDATES, probs, strict=True)]


# --------------------------------------------------------------------------------------
# keypoint-matching


def _pairs(prep) -> list:
    """Two image pairs, each of two different non-square sizes."""
    return [
        [image(SEED + 2 * i, IMAGE_SIZES[0]), image(SEED + 2 * i + 1, IMAGE_SIZES[1])]
        for i in range(2)
    ]


def _km_options(prep, config) -> dict:
    return {"threshold": 0.0}


def _km_structure(result, config, prep, x) -> list[str]:
    """``[{keypoint_image_0: {x, y}, keypoint_image_1: {x, y}, score}]`` sorted by score, each
    keypoint inside its own image, scores in [0, 1]."""
    if not isinstance(result, list):
        return [f"expected a list of matches, got {type(result).__name__}"]
    bad = []
    for r in result:
        for k, im in (("keypoint_image_0", x[0]), ("keypoint_image_1", x[1])):
            p = r[k]
            if not (0 <= p["x"] <= im.size[0] and 0 <= p["y"] <= im.size[1]):
                bad.append(f"{k} ({p['x']}, {p['y']}) outside its {im.size[0]}x{im.size[1]} image")
        if not 0.0 <= float(r["score"]) <= 1.0:
            bad.append(f"score {r['score']} not in [0, 1]")
    scores = [r["score"] for r in result]
    if scores != sorted(scores, reverse=True):
        bad.append("matches are not sorted by score")
    return bad[:4]


def _km_manual(model, prep, x, config):
    """The model on the image processor's output for the pair, then the processor's
    ``post_process_keypoint_matching`` with each image's documented (height, width)."""
    out = _forward(model, _tensors(prep.image_processor(images=x, return_tensors="pt")))
    sizes = [[(im.size[1], im.size[0]) for im in x]]
    res = prep.image_processor.post_process_keypoint_matching(out, target_sizes=sizes, threshold=0)
    res = res[0]
    matches = [
        {"p0": [int(v) for v in a], "p1": [int(v) for v in b], "score": float(s)}
        for a, b, s in zip(
            res["keypoints0"], res["keypoints1"], res["matching_scores"], strict=False
        )
    ]
    return sorted(matches, key=lambda r: -r["score"])


def _as_matches(result) -> list:
    if result and "p0" in result[0]:
        return result
    return [
        {
            "p0": [int(r["keypoint_image_0"]["x"]), int(r["keypoint_image_0"]["y"])],
            "p1": [int(r["keypoint_image_1"]["x"]), int(r["keypoint_image_1"]["y"])],
            "score": float(r["score"]),
        }
        for r in result
    ]


def _compare_matches(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    """Match count, the matched keypoints (as a set: equal scores may come in either order),
    the sorted scores."""
    g, w = _as_matches(got), _as_matches(want)
    cmp.compared.append(f"{name} count")
    if len(g) != len(w):
        cmp.flag(f"{name}: {len(g)} matches, by hand {len(w)}")
        return
    cmp.compared.append(f"{name} keypoints")
    gk = sorted((*r["p0"], *r["p1"]) for r in g)
    wk = sorted((*r["p0"], *r["p1"]) for r in w)
    if gk != wk:
        cmp.flag(f"{name}: matched keypoints {gk[:3]}... != {wk[:3]}...")
    if g:
        cmp.close(
            f"{name} scores",
            torch.tensor([r["score"] for r in g]),
            torch.tensor([r["score"] for r in w]),
            t,
        )


# --------------------------------------------------------------------------------------
# document-question-answering

WORDS = "invoice total amount due the quick brown fox".split()
QUESTIONS = ("what is the total", "which fox")


def _word_boxes() -> list:
    """Words with boxes on LayoutLM's 0..1000 grid, one per line."""
    return [(wd, [10, 20 + 40 * i, 10 + 30 * len(wd), 50 + 40 * i]) for i, wd in enumerate(WORDS)]


def _dqa_inputs(prep) -> list:
    """Word boxes are given, so no OCR (pytesseract) runs; an image only where the type's
    preprocessing has an image processor."""
    ims = _images(prep)
    with_image = prep.image_processor is not None
    return [
        {"image": ims[i] if with_image else None, "question": q, "word_boxes": _word_boxes()}
        for i, q in enumerate(QUESTIONS)
    ]


def _dqa_structure(result, config, prep, x) -> list[str]:
    """``[{score, answer, start, end}]``: word indices into the given words, the answer those
    words, a score in [0, 1]."""
    if not isinstance(result, list) or not result:
        return [f"expected a list of answers, got {result!r}"[:200]]
    bad = []
    for r in result:
        s, e = r.get("start"), r.get("end")
        if not (isinstance(s, int) and isinstance(e, int) and 0 <= s <= e < len(WORDS)):
            bad.append(f"answer span {s}..{e} is not within the {len(WORDS)} words")
        elif r.get("answer") != " ".join(WORDS[s : e + 1]):
            bad.append(f"answer {r.get('answer')!r} is not words {s}..{e}")
        if not 0.0 <= float(r.get("score", -1)) <= 1.0:
            bad.append(f"score {r.get('score')} not in [0, 1]")
    return bad


MAX_ANSWER_LEN = 15
"""The question-answering pipelines' default ``max_answer_len``."""


def _dqa_manual(model, prep, x, config):
    """LayoutLM style, computed here: the question's words and the document's words encoded as
    a pair, each document token at its word's box ([1000] * 4 at separators, zeros elsewhere),
    start / end logits softmaxed over the document tokens (and the first token), the best span
    start <= end < start + 15 within the document by start * end probability."""
    tok = prep.tokenizer
    words = [w for w, _ in x["word_boxes"]]
    boxes = [b for _, b in x["word_boxes"]]
    enc = tok(x["question"].split(), words, is_split_into_words=True, return_tensors="pt")
    seq, wids = enc.sequence_ids(0), enc.word_ids(0)
    ids = enc["input_ids"][0].tolist()
    bbox = [
        boxes[wid] if s == 1 else [1000] * 4 if i == tok.sep_token_id else [0] * 4
        for i, s, wid in zip(ids, seq, wids, strict=True)
    ]
    feed = {**_tensors(enc), "bbox": torch.tensor([bbox])}
    out = _forward(model, feed)
    doc = torch.tensor([s == 1 for s in seq])
    keep = doc.clone()
    keep[0] = True  # the pipeline leaves the first (CLS) token in the softmax
    start = out.start_logits[0].masked_fill(~keep, -10000.0).softmax(-1)
    end = out.end_logits[0].masked_fill(~keep, -10000.0).softmax(-1)
    n = len(seq)
    pairs = torch.outer(start, end)
    ok = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        for j in range(i, min(n, i + MAX_ANSWER_LEN)):
            ok[i, j] = bool(doc[i] and doc[j])
    best = int(pairs.masked_fill(~ok, -1.0).flatten().argmax())
    i, j = divmod(best, n)
    s, e = wids[i], wids[j]
    return [
        {"score": float(pairs[i, j]), "answer": " ".join(words[s : e + 1]), "start": s, "end": e}
    ]


def _compare_answers(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    g, w = got[0], want[0]
    cmp.compared.append(f"{name} span")
    if (g["start"], g["end"], g["answer"]) != (w["start"], w["end"], w["answer"]):
        cmp.flag(
            f"{name}: answer {g['answer']!r} ({g['start']}..{g['end']}), by hand {w['answer']!r} ({w['start']}..{w['end']})"
        )
        return
    cmp.close(f"{name} score", torch.tensor([g["score"]]), torch.tensor([w["score"]]), t)


# --------------------------------------------------------------------------------------
# text-to-audio


def _tta_options(prep, config) -> dict:
    return {}


TTA_GENERATION = {"max_new_tokens": tol.NEW_TOKENS, "do_sample": False}
"""Rule TTA_GENERATION: a model that generates (the pipeline asks ``model.can_generate()``) is
given greedy decoding and ``NEW_TOKENS`` new tokens on both sides, through the pipeline's
``generate_kwargs``. Left to itself the pipeline generates up to 256 new tokens
(``TextToAudioPipeline._default_generation_config``) where the by-hand ``generate`` stops at the
generation config's ``max_length`` 20."""


def _tta_vocoder(model) -> Any:
    """Rule TTA_VOCODER: a text-to-spectrogram model (``MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING``)
    needs a vocoder; the pipeline's default is the checkpoint ``microsoft/speecht5_hifigan``
    (``DEFAULT_VOCODER_ID``), unreachable offline. Both sides get a tiny seeded
    ``SpeechT5HifiGan`` of the pipeline's default class reading the model's ``num_mel_bins``;
    ``None`` for other models."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING

    if type(model) not in MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING.values():
        return None
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    torch.manual_seed(SEED)
    cfg = SpeechT5HifiGanConfig(
        model_in_dim=model.config.num_mel_bins,
        upsample_initial_channel=16,
        upsample_rates=[2, 2],
        upsample_kernel_sizes=[4, 4],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
    )
    return SpeechT5HifiGan(cfg).eval()


def _tta_forward_params(model, config) -> dict:
    """Rule TTA_SPEAKER: a model whose ``generate`` (or forward) takes ``speaker_embeddings``
    (SpeechT5's x-vector, ``SpeechT5ForTextToSpeech.generate``; without it the speech decoder
    gets none) is given one seeded embedding of ``config.speaker_embedding_dim``, the same on
    both sides (the pipeline's ``forward_params``)."""
    import inspect

    fn = model.generate if model.can_generate() else model.forward
    dim = getattr(config, "speaker_embedding_dim", None)
    if dim is None or "speaker_embeddings" not in inspect.signature(fn).parameters:
        return {}
    g = torch.Generator().manual_seed(SEED)
    return {"speaker_embeddings": torch.randn(1, dim, generator=g)}


def _tta_pipeline_kwargs(prep, model, config) -> dict:
    """The pipeline's construction arguments: the ``TTA_VOCODER``, and rule TTA_PROCESSOR: the
    processor where there is one (the text-to-audio pipeline prefers it to the tokenizer,
    ``TextToAudioPipeline._load_processor``: "prioritize processors as some models require
    it"; PocketTTS prompts must end at the audio start its processor appends), as the by-hand
    side uses it."""
    kw: dict[str, Any] = {}
    vocoder = _tta_vocoder(model)
    if vocoder is not None:
        kw["vocoder"] = vocoder
    if prep.processor is not None:
        kw["processor"] = prep.processor
    return kw


def _tta_model_options(prep, model, config) -> dict:
    """The call's options: ``TTA_GENERATION`` as ``generate_kwargs`` where the model generates
    (a forward-only model's pipeline refuses them), ``TTA_SPEAKER`` as ``forward_params``."""
    kw: dict[str, Any] = {}
    if model.can_generate():
        kw["generate_kwargs"] = dict(TTA_GENERATION)
    fp = _tta_forward_params(model, config)
    if fp:
        kw["forward_params"] = fp
    return kw


def _tta_structure(result, config, prep, x) -> list[str]:
    """``{"audio": np.ndarray (channels, samples) or (samples,), "sampling_rate": int > 0}``:
    finite, non-empty audio."""
    if not isinstance(result, dict) or {"audio", "sampling_rate"} - set(result):
        return [f"expected {{audio, sampling_rate}}, got {result!r}"[:200]]
    bad = []
    a = result["audio"]
    if not isinstance(a, np.ndarray) or a.size == 0 or a.ndim > 2:
        bad.append(f"audio {type(a).__name__} {getattr(a, 'shape', '')} is not a 1-2 dim array")
    elif not np.isfinite(a).all():
        bad.append("audio is not finite")
    rate = result["sampling_rate"]
    if not isinstance(rate, int) or rate <= 0:
        bad.append(f"sampling_rate {rate!r} is not a positive int")
    return bad


TTA_SPEAKER_TAG = "[0]"
"""Rule TTA_SPEAKER_TAG: the texts open with a speaker tag. CSM reads the speaker of a text from
a leading ``[id]`` (its chat template writes ``[{role}]``), and the pipeline writes ``[0]`` before
a CSM text that opens with no ``[`` (``pipelines/text_to_audio.py`` ``preprocess``); a text that
opens with its own tag is given to the processor as it is, so the by-hand side reads the same
text without knowing the model. Other models read the tag as text, on both sides alike."""


def _tta_inputs(prep) -> list:
    return [TTA_SPEAKER_TAG + t for t in TEXTS]


def _tta_output_audio(model) -> dict:
    """Rule TTA_OUTPUT_AUDIO: a model whose ``generate`` decodes its audio codes with its own
    codec when asked (``output_audio``: CSM's ``generate``, ``generation_csm.py``; its processor
    holds no codec to decode them) is asked for the audio, as the pipeline asks it
    (``pipelines/text_to_audio.py`` ``_forward``: ``forward_params["output_audio"] = True``)."""
    import inspect

    if not model.can_generate():
        return {}
    return (
        {"output_audio": True}
        if "output_audio" in inspect.signature(model.generate).parameters
        else {}
    )


def _tta_manual(model, prep, x, config):
    """The tokenizer (the processor where there is one) on the text, then the model: its
    ``generate`` (``TTA_GENERATION``) where it generates, its forward's first output (the
    waveform) otherwise, with the ``TTA_SPEAKER`` embedding where it takes one; a spectrogram
    goes through the ``TTA_VOCODER``; audio codes (integer ids: HiggsAudioV2's ``generate``) are
    turned into audio by the processor's ``decode``, the documented inverse (the check needs the
    processor then)."""
    pre = prep.processor if prep.processor is not None else prep.tokenizer
    enc = _tensors(pre(text=[x], return_tensors="pt"))
    kw = _tta_forward_params(model, config)
    torch.manual_seed(SEED)
    with torch.no_grad():
        if model.can_generate():
            out = model.generate(**enc, **kw, **TTA_GENERATION, **_tta_output_audio(model))
        else:
            out = model(**enc, **kw)[0]
        if isinstance(out, dict):
            out = out.get("audio", out.get("waveform", out.get("sequences")))
        elif isinstance(out, tuple):
            out = out[0]
        vocoder = _tta_vocoder(model)
        if vocoder is not None:
            out = vocoder(out)
        if isinstance(out, torch.Tensor) and not out.is_floating_point():
            out = _require(prep, "processor").decode(out)  # audio codes
    if isinstance(out, list):
        out = out[0]
    return {"audio": out.float().numpy().squeeze()}


def _compare_audio(cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any) -> None:
    """The waveforms over their common length (a batch pads its shorter inputs, which may
    lengthen their audio); the lengths equal when not batched."""
    g = torch.as_tensor(np.asarray(got["audio"]))
    w = torch.as_tensor(np.asarray(want["audio"]))
    if "batched" not in name:
        cmp.compared.append(f"{name} shape")
        if g.shape != w.shape:
            cmp.flag(f"{name}: audio shape {tuple(g.shape)}, by hand {tuple(w.shape)}")
            return
    n = min(g.shape[-1], w.shape[-1])
    cmp.close(name, g[..., :n], w[..., :n], t)


# --------------------------------------------------------------------------------------
# decision

DECISION_TEMPLATE = (
    '{{- (state if state is string else state|tojson) ~ "\\n" ~ question.instructions ~ "\\n" -}}'
    "{%- for o in question.options -%}"
    '{{- question.labels[loop.index0] ~ ") " ~ o ~ "\\n" -}}'
    "{%- endfor -%}"
    '{{- "answer:<|mark|>" -}}'
)
"""Rule DECISION_CONFIG: the tiny decision config's chat template. A decision model's repo
ships its decision config (``decision.json`` + ``decision_template.jinja``,
``transformers.decision.DecisionConfig``); a tiny model has none, and its default one renders
the generic prompt into the tokenizer's chat template, which the synthesized tokenizers do not
have. This template writes the state, the question and its labelled options, then the
``<|mark|>`` before which a head reads (one prompt per question, as JEV's own template)."""

DECISION_TEMPERATURE = {"choice": 2.0, "score": 0.5}
"""Per question type, not 1 (``noul`` keeps the default 1): the decision config's logits
processors are part of what the pipeline must apply, so the by-hand side divides by them."""


def _decision_config() -> Any:
    from transformers.decision import DecisionConfig

    return DecisionConfig(chat_template=DECISION_TEMPLATE, temperature=dict(DECISION_TEMPERATURE))


DECISION_REQUESTS = (
    {
        "state": TEXTS[0],
        "questions": {
            "tone": {
                "type": "choice",
                "instructions": "which word fits",
                "criteria": {"fox": "a quick brown fox", "world": None, "model": "a small model"},
            },
            "urgency": {
                "type": "score",
                "instructions": "how quick is it",
                "criteria": ["not", "a small", "quick", "very quick"],
            },
            "hello": {"type": "noul", "instructions": "does it say hello"},
        },
    },
    {
        "state": {"message": TEXTS[1], "words": 5},
        "questions": {
            "reads": {
                "type": "noul",
                "instructions": "does the model read",
                "criteria": {"true": "it reads", "false": None},
            },
            "size": {
                "type": "choice",
                "instructions": "what size",
                "criteria": {"small": None, "big": None},
            },
        },
    },
)
"""Raw System One requests (state + typed questions), two of different lengths and shapes: a
string state and a JSON one; choice, score and noul questions, with and without criteria."""


def _decision_inputs(prep) -> list:
    import copy

    return [copy.deepcopy(r) for r in DECISION_REQUESTS]


def _decision_kwargs(prep, model, config) -> dict:
    return {"decision_config": _decision_config()}


def _decision_options(request: dict) -> dict[str, list[str]]:
    """The options each question declares, in the order it declares them (``noul``: true,
    false; ``score``: the level indices)."""
    out = {}
    for name, q in request["questions"].items():
        if q["type"] == "choice":
            out[name] = list(q["criteria"])
        elif q["type"] == "score":
            out[name] = [str(i) for i in range(len(q["criteria"]))]
        else:
            out[name] = ["true", "false"]
    return out


PROBABILITY_SUM = 1e-4
"""How far a question's option probabilities may sum from 1 (a float32 softmax)."""


def _decision_structure(result, config, prep, x) -> list[str]:
    """The answers keyed by question name, each of its question's type: ``noul`` a probability;
    ``choice`` / ``score`` probabilities over exactly the declared options, in [0, 1], summing
    to 1, with the choice their argmax, the score their expected level, the legend the declared
    levels, confidences in [0, 1]."""
    if not isinstance(result, dict) or set(result) != set(x["questions"]):
        return [f"expected answers keyed by {sorted(x['questions'])}, got {result!r}"[:200]]
    bad = []
    options = _decision_options(x)
    for name, q in x["questions"].items():
        a = result[name]
        if not isinstance(a, dict) or a.get("type") != q["type"]:
            bad.append(f"{name}: expected a {q['type']} answer, got {a!r}"[:200])
            continue
        if q["type"] == "noul":
            p = a.get("noul")
            if not isinstance(p, float) or not 0.0 <= p <= 1.0:
                bad.append(f"{name}: noul {p!r} is not a probability")
            continue
        probs = a.get("probabilities")
        if not isinstance(probs, dict) or list(probs) != options[name]:
            bad.append(f"{name}: probabilities over {list(probs or {})}, declared {options[name]}")
            continue
        values = list(probs.values())
        if not all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values):
            bad.append(f"{name}: probabilities {values} not in [0, 1]")
        if abs(sum(values) - 1.0) > PROBABILITY_SUM:
            bad.append(f"{name}: probabilities sum to {sum(values)}, not 1")
        if not 0.0 <= float(a.get("confidence", -1)) <= 1.0:
            bad.append(f"{name}: confidence {a.get('confidence')!r} not in [0, 1]")
        if q["type"] == "choice" and a.get("choice") != max(probs, key=probs.get):
            bad.append(f"{name}: choice {a.get('choice')!r} is not the most probable option")
        if q["type"] == "score":
            expected = sum(i * v for i, v in enumerate(values))
            if abs(float(a.get("score", -1)) - expected) > PROBABILITY_SUM * len(values):
                bad.append(f"{name}: score {a.get('score')!r} is not the expected level {expected}")
            if a.get("legend") != dict(zip(options[name], q["criteria"], strict=True)):
                bad.append(f"{name}: legend {a.get('legend')!r} is not the declared levels")
    return bad[:6]


def _decision_manual(model, prep, x, config):
    """The request prepared by ``DecisionConfig.prepare_inputs`` (the public helper that renders
    the template and tokenizes; the pipeline's ``preprocess``) on the pipeline's preprocessing
    (the processor, else the tokenizer), then per prompt the model's own ``forward`` with the
    arguments ``DecisionMixin.decide`` documents (``marks``, ``num_options``,
    ``question_type_ids``): the option scores, split per question, divided by the decision
    config's temperature of the question's type and softmaxed here. Neither ``decide`` nor
    ``process_scores`` is used: they are the pipeline's ``_forward``. Returns
    {question: {option: probability}}; a ``noul`` question its ``true`` probability only (what
    its answer carries)."""
    from transformers.decision import Question
    from transformers.decision.modeling_utils import DecisionMixin

    if not isinstance(model, DecisionMixin):
        not_covered(
            f"{type(model).__name__} is no DecisionMixin model: the decision pipeline's label-logit "
            "scoring of other models has no by-hand side yet"
        )
    proc = prep.processor or prep.tokenizer
    out = {}
    for inputs, questions in _decision_config().prepare_inputs(x, proc):
        inputs = dict(inputs)
        marks = inputs.pop("marks")
        sizes = [len(q.options) for q in questions]
        kinds = [Question.questions_types.index(q.type) for q in questions]
        with torch.no_grad():
            scores = model(
                **inputs,
                marks=marks[None],
                num_options=torch.tensor([sizes]),
                question_type_ids=torch.tensor([kinds]),
            )
        for q, s in zip(questions, scores.split(sizes), strict=True):
            p = (s.float() / float(DECISION_TEMPERATURE.get(q.type, 1.0))).softmax(-1)
            probs = dict(zip(q.options, p.tolist(), strict=True))
            out[q.name] = {"true": probs["true"]} if q.type == "noul" else probs
    return out


def _answer_probs(answer: dict) -> dict[str, float]:
    """{option: probability} of a pipeline answer, or a by-hand entry as it is."""
    if answer.get("type") == "noul":
        return {"true": float(answer["noul"])}
    if "type" in answer:
        return {k: float(v) for k, v in answer["probabilities"].items()}
    return answer


def _compare_decisions(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    """Per question (by name), the probability of each option (by option name)."""
    cmp.compared.append(f"{name} questions")
    if set(got) != set(want):
        cmp.flag(f"{name}: questions {sorted(got)}, by hand {sorted(want)}")
        return
    for q in sorted(want):
        g, w = _answer_probs(got[q]), _answer_probs(want[q])
        if list(g) != list(w):
            cmp.compared.append(f"{name} {q} options")
            cmp.flag(f"{name}: {q} options {list(g)}, by hand {list(w)}")
            continue
        cmp.close(f"{name} {q}", torch.tensor(list(g.values())), torch.tensor(list(w.values())), t)


# --------------------------------------------------------------------------------------
# tasks whose pipeline needs a package missing here


def _gated(package: str, kind: str, why: str):
    """Inputs of a task whose pipeline needs ``package``: a missing-package skip naming it; where
    it is installed, the task is not covered yet (its by-hand side was written where it is not,
    so it could not be run)."""

    def inputs(prep) -> list:
        _needs_package(package)
        _require(prep, kind)
        not_covered(f"{why}; its by-hand side is not written yet ({package} was not installed)")

    return inputs


def _unrun(*args) -> Any:  # pragma: no cover - the inputs end the check first
    raise AssertionError("unreachable: the gated inputs end the check")


def _gated_spec(package: str, kind: str, why: str) -> TaskSpec:
    return TaskSpec(_gated(package, kind, why), _unrun, _unrun, _unrun, _unrun, needs=())


TASKS: dict[str, TaskSpec] = {
    "depth-estimation": TaskSpec(
        _same_aspect_images,
        _no_options,
        _depth_structure,
        _depth_manual,
        _compare_depth,
        needs=("image_processor",),
    ),
    "image-segmentation": TaskSpec(
        _same_aspect_images,
        _seg_options,
        _seg_structure,
        _seg_manual,
        _compare_segments,
        needs=("image_processor",),
    ),
    "zero-shot-object-detection": TaskSpec(
        _zs_od_inputs,
        _zs_od_options,
        _zs_od_structure,
        _zs_od_manual,
        _compare_zs_detections,
        needs=("image_processor", "tokenizer"),
    ),
    "zero-shot-audio-classification": TaskSpec(
        _waves,
        _zs_audio_options,
        _zs_audio_structure,
        _zs_audio_manual,
        _compare_scores,
        needs=("feature_extractor", "tokenizer"),
    ),
    "keypoint-matching": TaskSpec(
        _pairs,
        _km_options,
        _km_structure,
        _km_manual,
        _compare_matches,
        needs=("image_processor",),
    ),
    "document-question-answering": TaskSpec(
        _dqa_inputs,
        _no_options,
        _dqa_structure,
        _dqa_manual,
        _compare_answers,
    ),
    "text-to-audio": TaskSpec(
        _tta_inputs,
        _tta_options,
        _tta_structure,
        _tta_manual,
        _compare_audio,
        pipeline_kwargs=_tta_pipeline_kwargs,
        model_options=_tta_model_options,
    ),
    "decision": TaskSpec(
        _decision_inputs,
        _no_options,
        _decision_structure,
        _decision_manual,
        _compare_decisions,
        pipeline_kwargs=_decision_kwargs,
        unbatched=(
            "DecisionPipeline._forward (transformers/pipelines/decision.py:84-88, '# TODO: batch') "
            "scores one request's prompts; at batch_size > 1 pad_collate_fn "
            "(pipelines/base.py:123 `_pad`) hands it the list of the batch's requests instead"
        ),
    ),
    "video-classification": _gated_spec(
        "av", "video_processor", "the video-classification pipeline decodes video files with av"
    ),
    "table-question-answering": _gated_spec(
        "pandas", "tokenizer", "the table-question-answering pipeline reads pandas tables"
    ),
    "mask-generation": _gated_spec(
        "torchvision",
        "image_processor",
        "mask generation's post_process_for_mask_generation needs torchvision's batched_nms",
    ),
}
