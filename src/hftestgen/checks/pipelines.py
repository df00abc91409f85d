"""End to end from raw input: the ``preprocessing`` and ``pipeline`` checks.

Both use the type's tiny model (``get_built``, the same cached model every other check uses) and
its tiny preprocessing (``hftestgen.preprocess.build.preprocessing_for``, synthesized offline and
sized to that model's config, once per type and process).

preprocessing(case, kind)
    The kind's class was synthesized (a named skip where a package is missing); ``save_pretrained``
    then the Auto class's ``from_pretrained`` gives the same class and the same outputs for the
    same raw input; a tokenizer's ids lie inside the model's vocabulary, the config's special ids
    are the tokenizer's special tokens, and ``decode(encode(text))`` gives the text back (modulo
    the normalization its backend declares). The type's most complete kind (the processor, else
    the only one) feeds its output for raw input to every model class of the type: finite outputs.
pipeline(case, task)
    ``transformers.pipeline(task, model=<tiny model>, <preprocessing>)`` on raw input returns the
    task's structure and agrees with the model called by hand on the preprocessing's output
    (``PIPELINE`` tolerance, float32), one input at a time and in a batch of two
    (``PIPELINE_BATCH``: the batch pads one of them). Tasks are specified in ``TASKS``; a task
    without a specification is a named skip (not covered).
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..preprocess import auto_class
from . import tolerances as tol
from ._support import Comparison, fail, get_built, run, skip_if_missing_package
from .case import Case
from .skips import missing_package, not_applicable, not_covered, unsupported

TEXTS = ("hello world, the quick brown fox", "a small model reads this")
"""Raw text inputs: words of the shipped corpus, two lengths (a batch pads one)."""
SEED = 0


# --------------------------------------------------------------------------------------
# shared


_PRETRAINED: dict[str, Any] = {}


def _prep(case: Case):
    """(preprocessing, config) of the type, from the primary class's tiny model; in pretrained
    mode (``run --pretrained``) the checkpoint's own preprocessing and config."""
    from . import pretrained

    built = get_built(case, case.primary_class)
    if pretrained.enabled():
        if case.model_type not in _PRETRAINED:
            _PRETRAINED.clear()
            _PRETRAINED[case.model_type] = pretrained.load_preprocessing(case)
        return _PRETRAINED[case.model_type], built.config
    from ..preprocess.build import preprocessing_for

    config = _config_as_probed(built)
    return preprocessing_for(case.model_type, config, dict(case.preprocessing)), built.config


def _config_as_probed(built: Any) -> Any:
    """Rule CALIBRATED_IMAGE: where the tiny engine's probe had to feed the model images of
    another size than its config's ``image_size`` (the probe's ``image_size`` variant,
    ``tiny.inputs.context.VARIANTS``: MobileViTV2's output stride 32 leaves a 32 px image 1x1
    before a 2x2 unfold), the preprocessing is sized from a copy of the config with that image
    size: the size the model was measured to take. The model's own config is unchanged."""
    import copy

    from ..configs import vision_config

    if getattr(vision_config(built.config), "image_size", None) is None:
        return built.config
    calib = getattr(built, "_calib", None)
    if calib is None:
        return built.config
    if "variant" not in calib:
        built.inputs()  # the engine's probe runs once per built model (cached in _calib)
    size = calib.get("variant", {}).get("image_size")
    if size is None:
        return built.config
    config = copy.deepcopy(built.config)
    vision_config(config).image_size = size
    return config


def _built_for(case: Case, class_name: str, overrides: dict) -> Any:
    """The tiny model of ``class_name`` in eval mode; rebuilt with the preprocessing's config
    overrides (a fixed-vocabulary tokenizer larger than the tiny vocab) where there are any."""
    if not overrides:
        built = get_built(case, class_name)
    else:
        from dataclasses import replace

        built = get_built(replace(case, tiny={**case.tiny, **overrides}), class_name)
    built.model.eval()
    return built


def _require(prep, kind: str) -> Any:
    obj = getattr(prep, kind, None)
    if obj is not None:
        return obj
    why = prep.skipped.get(kind)
    if why is not None:
        from ..preprocess import unsupported_release

        if why == unsupported_release():
            not_covered(why)  # hftestgen's synthesis, not the type, cannot run on this release
        if "torchvision" in why.lower():
            unsupported(why)
        pkg = prep.packages.get(kind)
        if pkg:
            missing_package(pkg)
        unsupported(why)
    err = prep.errors.get(kind)
    if err is not None:
        fail(f"cannot synthesize the tiny {kind} ({prep.names.get(kind)}): {err}")
    not_applicable(f"{prep.model_type} maps no {kind}")


def image(seed: int, size: tuple[int, int]):
    """A seeded RGB PIL image (width, height)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


IMAGE_SIZES = ((40, 48), (56, 44))
"""Two image sizes, neither square nor the tiny config's: the image processor must resize."""


def sampling_rate(prep) -> int:
    fe = prep.feature_extractor
    if fe is None and prep.processor is not None:
        fe = getattr(prep.processor, "feature_extractor", None)
    return int(getattr(fe, "sampling_rate", 16000) or 16000)


def waveform(seed: int, seconds: float, rate: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32)


AUDIO_SECONDS = (0.5, 0.7)


def _tensors(d: Any) -> dict[str, torch.Tensor]:
    return {k: v for k, v in dict(d).items() if isinstance(v, torch.Tensor)}


def _forward(model: Any, inputs: dict) -> Any:
    """One seeded, gradient-free forward pass (``_support.run``)."""
    return run(model, inputs, seed=SEED)


# --------------------------------------------------------------------------------------
# preprocessing


def _raw_call(kind: str, obj: Any, prep, config: Any = None) -> dict[str, torch.Tensor]:
    """The kind's output for the raw inputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "tokenizer":
            return _tensors(obj(list(TEXTS), padding=True, return_tensors="pt"))
        if kind == "image_processor":
            one = _one_input(obj, image(SEED, IMAGE_SIZES[0]), config)
            return _tensors(_as_features(obj(one, return_tensors="pt")))
        if kind == "feature_extractor":
            rate = getattr(obj, "sampling_rate", 16000)
            wave = waveform(SEED, AUDIO_SECONDS[0], rate)
            kwargs = _seeded_generator(obj)
            return _tensors(obj(wave, sampling_rate=rate, return_tensors="pt", **kwargs))
        if kind == "video_processor":
            frames = [np.asarray(image(SEED + i, IMAGE_SIZES[0])) for i in range(4)]
            return _tensors(obj([frames], return_tensors="pt"))
        return _tensors(_processor_call(obj, prep))


PAIR_MARK = "post_process_keypoint_matching"


def _as_features(out: Any) -> Any:
    """Rule BARE_PIXELS: an image processor that returns the pixel tensor itself, not a
    ``BatchFeature`` (IdeficsImageProcessor.preprocess returns ``torch.stack(images)``;
    IdeficsProcessor stores it as ``pixel_values``), gives ``{"pixel_values": tensor}``."""
    return {"pixel_values": out} if isinstance(out, torch.Tensor) else out


def _one_input(ip: Any, img: Any, config: Any = None) -> list:
    """One raw input of an image processor: ``[img]``. Rule PAIRED_IMAGES: a keypoint matcher's
    processor (it has ``post_process_keypoint_matching``: SuperGlue, LightGlue, EfficientLoFTR)
    takes a pair of images per input ("Input images must be ... a pair of PIL images",
    ``validate_and_format_image_pairs``): its input is ``[[img, mirror of img]]``. Rule
    VIDEO_FRAMES: an image processor whose ``preprocess`` takes ``videos`` (VideoMAE's, used by
    VideoMAE, TimeSformer, ViViT) reads one input as a video; it gets one video of the config's
    ``num_frames`` frames (the model's temporal position embeddings and tubelets are sized to
    them), else of the image alone."""
    if hasattr(ip, PAIR_MARK):
        from PIL import ImageOps

        return [[img, ImageOps.mirror(img)]]
    if _takes_videos(ip):
        from ..configs import find_attr, is_int

        n = find_attr(config, ("num_frames",), prefer=("vision_config",)) if config else None
        return [[img] * (n if is_int(n) and n > 0 else 1)]
    return [img]


def _takes_videos(ip: Any) -> bool:
    import inspect

    try:
        params = list(inspect.signature(type(ip).preprocess).parameters)
    except (TypeError, ValueError, AttributeError):
        return False
    return len(params) > 1 and params[1] == "videos"


def _seeded_generator(obj: Any) -> dict:
    """Rule: a feature extractor that draws random numbers per call (UnivNet's noise_sequence)
    and takes a ``generator`` gets a fresh numpy generator seeded with ``SEED`` on every call, so
    the saved-and-loaded extractor's output is comparable to the original's."""
    import inspect

    params = inspect.signature(type(obj).__call__).parameters
    return {"generator": np.random.default_rng(SEED)} if "generator" in params else {}


def _processor_call(proc: Any, prep) -> Any:
    """A composite processor on raw input: text with the inputs its parts take. Rule
    SELF_PLACED_TOKEN: the image placeholder is the one the chat template writes
    (``preprocess.processors.placeholder_for``): none for a processor that inserts its own
    (``SELF_PLACED``: Florence-2, Fuyu; one more makes two per image), wrapped in its start / end
    tokens where the processor requires them (``WRAPPED``: HunYuan-VL)."""
    from ..preprocess.processors import placeholder_for
    from .processor_calls import call_kwargs, reads_text

    kwargs: dict[str, Any] = {"return_tensors": "pt"}
    text = TEXTS[0]
    if prep.image_processor is not None:
        kwargs["images"] = [image(SEED, IMAGE_SIZES[0])]
        token = placeholder_for(proc, "image")
        if token and prep.tokenizer is not None:
            text = f"{token} {text}"
    text_is_input = True
    if prep.feature_extractor is not None:
        rate = sampling_rate(prep)
        kwargs["audio"] = [waveform(SEED, AUDIO_SECONDS[0], rate)]
        kwargs["sampling_rate"] = rate
        token = getattr(proc, "audio_token", None)
        # rule: an audio processor without an audio placeholder token (CTC, Whisper) reads
        # text as the transcription target (labels), not as model input
        text_is_input = bool(token) or reads_text(proc)  # a text prompt (CallValues.text_input)
        if token and prep.tokenizer is not None:
            text = f"{token} {text}"
    if prep.tokenizer is not None and text_is_input:
        kwargs["text"] = [text]

    return proc(**call_kwargs(proc, kwargs))


def _feeds_models(case: Case, kind: str) -> bool:
    """Rule MODEL_PASS_KINDS: the kinds whose raw-input output goes through the model classes.
    A type with a composite processor: the processor alone (its parts make one modality each of
    the same input). A type without one: every kind (data2vec-audio maps a CTC tokenizer and a
    feature extractor; the waveform path is the one its classes read, and the tokenizer's pass
    ends as not applicable by ONE_MODALITY_SHORT)."""
    kinds = list(case.preprocessing)
    return kind == "processor" or "processor" not in kinds


def _main_kind(case: Case) -> str:
    """The kind that feeds the model: the processor, else the only or first mapped kind. Its
    model pass must run (or the test is not applicable); another kind's pass runs where it
    feeds a class and otherwise leaves the test to the kind's own facts."""
    kinds = list(case.preprocessing)
    return "processor" if "processor" in kinds else kinds[0]


def preprocessing(case: Case, kind: str | None) -> None:
    if kind is None:
        not_applicable(f"{case.model_type}: no preprocessing kind")
    prep, config = _prep(case)
    obj = _require(prep, kind)
    cmp = Comparison("preprocessing")
    try:
        ours = _raw_call(kind, obj, prep, config)
    except ImportError as e:
        # rule: a package the class needs at call time (LayoutLMv3's OCR: pytesseract) is a
        # named missing-package skip, as at construction
        skip_if_missing_package(e)
        raise
    if not ours:
        fail(f"{type(obj).__name__} returned no tensors for raw input")

    # save_pretrained -> Auto from_pretrained
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj.save_pretrained(d)
        loaded = auto_class(kind).from_pretrained(d, local_files_only=True)
        if type(loaded).__name__ != type(obj).__name__:
            cmp.flag(f"Auto from_pretrained gave {type(loaded).__name__}, not {type(obj).__name__}")
        cmp.outputs(ours, _raw_call(kind, loaded, prep, config), tol.EXACT)
        if kind in SAVED_SETTINGS_FILES:
            _settings_saved(cmp, obj, Path(d) / SAVED_SETTINGS_FILES[kind])

    if kind == "feature_extractor":
        _audio_facts(cmp, obj, ours)
    if kind == "tokenizer":
        _tokenizer_facts(cmp, obj, config, ours, prep)
    if kind == "image_processor":
        _image_facts(cmp, obj, config)
    if kind == "processor":
        _placeholder_in_place(cmp, obj, prep, ours)
    cmp.verdict(f"{kind} {type(obj).__name__}")

    if _feeds_models(case, kind):
        _through_models(case, prep, ours, kind, required=kind == _main_kind(case))


def _placeholder_in_place(cmp: Comparison, proc: Any, prep: Any, ours: dict) -> None:
    """Fact PLACEHOLDER_IN_PLACE: a processor expands the image placeholder where the prompt
    has it. The raw prompt is the placeholder then text (``_processor_call``); the text's tokens
    after the placeholder in the tokenizer's own encoding of that prompt (special tokens left
    out) follow the last image token in the processor's ids, as one run. Expanded tokens moved
    to the text's end (the model reads the text before the image) leave no text after them.
    Not compared where the prompt has no image placeholder the tokenizer keeps as one token, the
    processor's ids hold no image token (the model pass says what that does), or they hold no
    run of the prompt's text at all: a processor that writes its own prompt for an image
    (ColPali's ``visual_prompt_prefix``, ShieldGemma 2's policy prompts) has no caller's text to
    place."""
    from ..preprocess.processors import placeholder_for

    tok = prep.tokenizer
    ids = ours.get("input_ids")
    name = getattr(proc, "image_token", None)
    placeholder = placeholder_for(proc, "image") if prep.image_processor is not None else None
    if tok is None or ids is None or ids.dim() != 2 or not placeholder or not isinstance(name, str):
        return
    image_id = tok.convert_tokens_to_ids(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = [int(i) for i in tok(f"{placeholder} {TEXTS[0]}")["input_ids"]]
    row = [int(i) for i in ids[0]]
    if image_id not in raw or image_id not in row:
        return
    specials = set(tok.all_special_ids)
    text = [t for t in raw[_last(raw, image_id) + 1 :] if t not in specials]
    after = row[_last(row, image_id) + 1 :]
    cmp.compared.append("the prompt's text after the image tokens")
    if text and _has_run(row, text) and not _has_run(after, text):
        cmp.flag(
            f"the prompt's text after its image placeholder ({text}) does not follow the "
            f"processor's image tokens (after the last one: {after[:16]})"
        )


def _last(xs: list[int], x: int) -> int:
    return len(xs) - 1 - xs[::-1].index(x)


def _has_run(xs: list[int], run: list[int]) -> bool:
    n = len(run)
    return any(xs[i : i + n] == run for i in range(len(xs) - n + 1))


SAVED_SETTINGS_FILES = {
    "image_processor": "preprocessor_config.json",
    "feature_extractor": "preprocessor_config.json",
    "video_processor": "video_preprocessor_config.json",
}


def _settings_saved(cmp: Comparison, obj: Any, path: Path) -> None:
    """Every setting of the object (``to_dict``) is in the file ``save_pretrained`` wrote: a
    setting left out reloads as the class default, unnoticed while the two happen to agree."""
    import json

    cmp.compared.append(f"settings saved in {path.name}")
    if not path.is_file():
        cmp.flag(f"save_pretrained wrote no {path.name}")
        return
    saved = set(json.loads(path.read_text(encoding="utf-8")))
    missing = sorted(k for k in _settings(obj) if k not in saved)
    if missing:
        cmp.flag(f"{path.name} leaves out {', '.join(missing[:8])}")


def _settings(obj: Any) -> set[str]:
    """The object's settings: what ``to_dict`` lists, and every ``__init__`` parameter the
    object keeps as an attribute of the same name (so a ``to_dict`` that drops one is seen)."""
    import inspect

    names = set(obj.to_dict())
    try:
        params = inspect.signature(type(obj).__init__).parameters
    except (TypeError, ValueError):
        params = {}
    for n, p in params.items():
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self":
            value = getattr(obj, n, None)
            if value is not None and isinstance(value, (int, float, str, bool, list, tuple, dict)):
                names.add(n)
    return {n for n in names if not n.startswith("_")}


NORMALIZED = tol.Tol(1e-3, 1e-3)


def _audio_facts(cmp: Comparison, fe: Any, ours: dict) -> None:
    """A feature extractor that normalizes raw waveforms (``do_normalize``, ``input_values``)
    gives each example zero mean and unit variance over its real samples (Wav2Vec2's
    ``zero_mean_unit_var_norm``: (x - mean) / sqrt(var + 1e-7))."""
    values = ours.get("input_values")
    if not getattr(fe, "do_normalize", False) or values is None or values.dim() != 2:
        return
    x = values[0].double()
    mask = ours.get("attention_mask")
    if mask is not None:
        x = x[mask[0].bool()]
    stats = torch.stack([x.mean(), x.var(unbiased=False)])
    cmp.close(
        "normalized waveform (mean, variance)", stats, torch.tensor([0.0, 1.0]).double(), NORMALIZED
    )


def _tokenizer_facts(cmp: Comparison, tok: Any, config: Any, ours: dict, prep) -> None:
    """Ids inside the model's vocabulary, the config's special ids at the tokenizer's special
    tokens, Transformers' encoding equal to the ``tokenizers`` backend's own (the Python
    wrapper adds or drops no special token), and decode(encode(text)) == text."""
    from ..preprocess import PreprocessError
    from ..preprocess import tokenizers as toks

    vocab = toks._vocab_size(config)
    vocab = max(vocab or 0, int(prep.config_overrides.get("vocab_size") or 0)) or None
    ids = ours.get("input_ids")
    if ids is not None and vocab:
        cmp.compared.append("input_ids < vocab_size")
        if int(ids.max()) >= vocab:
            cmp.flag(f"input_ids reach {int(ids.max())}, past the config's vocab_size {vocab}")
    if not toks.entry_for(type(tok).__name__).fixed:
        cmp.compared.append("special ids")
        try:
            toks.check_special_ids(tok, config, prep.extra_special_tokens)
        except PreprocessError as e:
            cmp.flag(str(e))
    backend = getattr(tok, "backend_tokenizer", None)
    for text in TEXTS:
        if backend is not None:
            cmp.equal(
                f"encode({text!r}) vs the tokenizers backend",
                torch.tensor(tok(text)["input_ids"]),
                torch.tensor(backend.encode(text).ids),
            )
        want, back = toks.roundtrip(tok, text)
        cmp.compared.append(f"decode(encode({text!r}))")
        if back != want:
            cmp.flag(f"decode(encode({text!r})) gave {back!r}, expected {want!r}")


SOLID = (200, 100, 50)
"""The colour of the solid image ``_image_facts`` feeds: distinct per channel."""


def _image_facts(cmp: Comparison, ip: Any, config: Any = None) -> None:
    """A solid-colour image comes out as the processor's declared arithmetic per channel:
    ``v * rescale_factor`` (``do_rescale``), then ``(x - image_mean) / image_std``
    (``do_normalize``), channels flipped where ``do_flip_channel_order``. Declared extra steps
    under their own names count too: ``rescale_offset`` (``v * rescale_factor - 1``) and
    ``include_top`` (normalized again by ``image_std`` alone), both EfficientNet's
    (``image_processing_efficientnet.py``: ``rescale(offset=...)``, ``normalize(image, 0,
    image_std)``). Resizing, cropping
    and padding keep a solid image solid (the most common value per channel is compared, so
    padding does not count). Catches skipped or doubled rescaling and normalization, and
    swapped channels. Applies to processors returning (batch, channels, H, W) pixel values."""
    from PIL import Image

    mean = getattr(ip, "image_mean", None)
    std = getattr(ip, "image_std", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = _as_features(
            ip(
                images=_one_input(ip, Image.new("RGB", IMAGE_SIZES[0], SOLID), config),
                return_tensors="pt",
            )
        )
    pv = out.get("pixel_values") if hasattr(out, "get") else None
    if not isinstance(pv, torch.Tensor) or pv.dim() != 4 or pv.shape[1] != 3:
        return  # patch-flattened or other layouts: not this fact's
    want = torch.tensor(SOLID, dtype=torch.float64)
    if getattr(ip, "do_flip_channel_order", False):
        want = want.flip(0)
    if getattr(ip, "do_rescale", False):
        want = want * float(getattr(ip, "rescale_factor", 1 / 255))
        if getattr(ip, "rescale_offset", False):
            want = want - 1
    if getattr(ip, "do_normalize", False) and mean is not None and std is not None:
        m = torch.tensor(list(mean) if not isinstance(mean, float) else [mean] * 3)
        sd = torch.tensor(list(std) if not isinstance(std, float) else [std] * 3)
        if m.numel() != 3 or sd.numel() != 3:
            return
        want = (want - m.double()) / sd.double()
        if getattr(ip, "include_top", False):
            want = want / sd.double()
    got = []
    for c in range(3):
        values, counts = torch.unique(pv[0, c].double(), return_counts=True)
        got.append(values[counts.argmax()])
    cmp.close(f"solid {SOLID} image: pixel values per channel", torch.stack(got), want, tol.PIXELS)


MULTIPLE_CHOICE = "multiple_choice"


def _through_models(
    case: Case,
    prep,
    inputs: dict[str, torch.Tensor],
    kind: str | None = None,
    required: bool = True,
) -> None:
    """Every model class of the type takes the preprocessing's output: finite outputs.

    Named rules: a class whose required ``forward`` inputs the kind does not make is not fed (a
    kind that feeds no class at all, a CTC labels tokenizer, makes the pass not applicable,
    after the kind's own facts passed); a class gets the outputs its ``forward`` names (a class taking ``**kwargs``
    would pass a text mask on to a vision tower); multiple-choice heads take (batch, choices,
    ...) inputs, so the output is repeated over two choices; a class taking decoder ids gets
    them by rule DECODER_INPUTS (``_decoder_inputs``)."""
    from ._support import floating, forward_params, nonfinite, tensors

    bad = []
    unfed = []
    exempt: list[str] = []
    ran = 0
    for cls in case.class_names:
        built = _built_for(case, cls, prep.config_overrides)
        model = built.model
        names = forward_params(model)
        feed = {k: v for k, v in inputs.items() if k in names and not _no_targets(k, v)}
        if not _carries_input(feed):
            if _short_of_one_kind(case, model, inputs, names):
                continue  # rule ONE_MODALITY_SHORT, before the unfed rule (``_short_of_one_kind``)
            unfed.append(f"{cls}: its forward takes none of {sorted(inputs)}")
            continue
        if _required(model) - set(feed):
            continue  # rule: this kind does not make the class's input (a CTC labels tokenizer)
        if not _kind_feeds(model, inputs, names):
            continue  # rule ONE_MODALITY_SHORT (``_kind_feeds``)
        record = _not_fed_by_record(case, cls, kind)
        if record is not None:
            exempt.append(record.reason)
            continue
        ran += 1
        if MULTIPLE_CHOICE in built.tasks:
            feed = {
                k: v.unsqueeze(1).expand(-1, 2, *v.shape[1:]).contiguous() for k, v in feed.items()
            }
        feed.update(_decoder_inputs(built.config, names, feed))
        try:
            out = _forward(model, feed)
        except Exception as e:
            skip_if_missing_package(e)
            bad.append(f"{cls}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            continue
        ts = floating(tensors(out))
        if not ts:
            bad.append(f"{cls}: no floating outputs")
        elif nonfinite(ts):
            bad.append(f"{cls}: non-finite {', '.join(nonfinite(ts))}")
    if unfed and not ran and not bad and required:
        bad = unfed  # rule: a kind that feeds no class at all is a mismatch, not a skip
    if bad:
        fail("raw-input output of the preprocessing does not run: " + "; ".join(bad[:4]))
    if not ran and required:
        not_applicable(
            f"checked the {sorted(inputs)} output; no class of {case.model_type} takes it as its "
            "whole input (the kind decodes outputs or labels, e.g. a CTC tokenizer, or gives one "
            "modality of a multimodal input: rule ONE_MODALITY_SHORT)"
            + (f"; the type's records: {exempt[0]}" if exempt else "")
        )


NOT_MODEL_INPUTS = ("labels",)
"""Outputs of a kind that are targets, not model input (a CTC or TrOCR processor's text)."""


def _carries_input(feed: dict) -> bool:
    """Rule: a class is fed when its forward takes one of the kind's inputs; masks and targets
    (``NOT_MODEL_INPUTS``) alone carry none (TrOCRForCausalLM, the decoder alone, takes only the
    processor's labels; a text-to-speech head of a speech type only its attention mask): such a
    class is not this kind's consumer. A kind that feeds no class at all still fails."""
    return any(not (k in NOT_MODEL_INPUTS or k.endswith("mask")) for k in feed)


IGNORE_INDEX = -100


def _no_targets(name: str, value: torch.Tensor) -> bool:
    """Rule: ``labels`` whose every entry is the ignore index (PaliGemma's processor masks the
    whole prompt when no suffix is given) hold no target: the mean loss over none is 0/0, NaN by
    definition, so they are not fed."""
    return name in NOT_MODEL_INPUTS and bool((value == IGNORE_INDEX).all())


def _decoder_inputs(config: Any, names: set, feed: dict) -> dict:
    """Rule DECODER_INPUTS: a class whose forward takes ``decoder_input_ids``, fed a kind that
    makes neither decoder ids nor labels, gets the decoder input its heads would derive: for an
    encoder-decoder config fed text, the input ids shifted right behind the decoder start token
    (what ``shift_tokens_right`` makes of labels); otherwise (audio, an image, a VQA question to
    a decoder-side class) the decoder start token, one per sample, which is what ``generate``
    starts from. The start token is ``decoder_start_token_id``, else the pad id, else 0. Given
    labels, the class derives its decoder input itself. A decoder of parallel code streams
    (``CODEBOOK_STREAMS``) reads codes, not text: it gets its own start token once per stream."""
    if "decoder_input_ids" not in names or {"decoder_input_ids", "labels"} & set(feed):
        return {}
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        start = getattr(config, "pad_token_id", None)
    streams, stream_start = _codebook_streams(config)
    if streams > 1 and stream_start is not None:
        start = stream_start
    start = int(start or 0)
    ids = feed.get("input_ids")
    if ids is not None and streams == 1 and getattr(config, "is_encoder_decoder", False):
        first = torch.full_like(ids[..., :1], start)
        return {"decoder_input_ids": torch.cat([first, ids[..., :-1]], dim=-1)}
    batch = next((v.shape[0] for v in feed.values() if v.dim() > 0), 1)
    return {"decoder_input_ids": torch.full((batch * streams, 1), start, dtype=torch.long)}


def _codebook_streams(config: Any) -> tuple[int, Any]:
    """Rule CODEBOOK_STREAMS: a decoder sub-config (``config.decoder``) that declares
    ``num_codebooks`` reads that many parallel code streams flattened into the batch, and
    ``generate`` starts it from one start token per stream, the decoder's own
    ``decoder_start_token_id`` (MusicGen, MusicGen-Melody:
    ``_prepare_decoder_input_ids_for_generation`` builds ``(batch_size *
    self.decoder.num_codebooks, 1)``, modeling_musicgen.py). (streams, the decoder's start id);
    (1, None) for any other config."""
    decoder = getattr(config, "decoder", None)
    n = getattr(decoder, "num_codebooks", None)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        return 1, None
    return n, getattr(decoder, "decoder_start_token_id", None)


def _not_fed_by_record(case: Case, cls: str, kind: str | None = None) -> Any:
    """Rule: a not-applicable ``[[known]]`` entry of the type for the ``preprocessing`` check
    (``preprocessing:<kind>`` for one kind) that names model classes exempts those classes from
    the raw-input model pass (their input needs content the kind's raw input does not have:
    Splinter's question tokens, Longformer's three separators for question answering; Kosmos-2's
    image read with its text); the kind's own facts are still checked. Returns the entry."""
    for check in ([f"preprocessing:{kind}"] if kind else []) + ["preprocessing"]:
        known = case.known_for(check, cls)
        if known is not None and known.kind == "not-applicable" and known.classes:
            return known
    return None


def _kind_feeds(model: Any, inputs: dict, names: set[str]) -> bool:
    """Rule ONE_MODALITY_SHORT: one kind's output feeds a class only where it makes the class's
    main input (``main_input_name``, where ``forward`` takes it): an image processor's pixels
    are not the input of a vision-language model whose main input is text (GLM-4.6V,
    Kosmos-2.5 read the image at placeholder tokens and raise without ``input_ids``), a
    tokenizer's text not the input of Kosmos-2 (main input ``pixel_values``) or of SeamlessM4T's
    speech-to-text class (``input_features``); a modality-free main input name
    (``MODALITY_FREE_INPUTS``) does not count. Classes whose main input is
    made but which need another modality too (a dual encoder such as X-CLIP; LXMERT's visual
    features) say so in their records (``_not_fed_by_record``): the declared
    ``input_modalities`` cannot tell (BLT, a byte-level text model, declares image and text)."""
    return all(m in inputs for m in _main_inputs(model) if m in names)


def _main_inputs(model: Any) -> list[str]:
    """The class's main input names, modality-free ones (``MODALITY_FREE_INPUTS``) left out.
    Rule MAIN_INPUT_LIST: ``main_input_name`` may be a list, every name a main input (OneFormer:
    ``["pixel_values", "task_inputs"]``, modeling_oneformer.py ``OneFormerModel``,
    ``OneFormerForUniversalSegmentation``)."""
    main = getattr(model, "main_input_name", None)
    mains = (
        [main] if isinstance(main, str) else list(main) if isinstance(main, list | tuple) else []
    )
    return [m for m in mains if isinstance(m, str) and m not in MODALITY_FREE_INPUTS]


def _short_of_one_kind(case: Case, model: Any, inputs: dict, names: set[str]) -> bool:
    """Rule ONE_MODALITY_SHORT also where the class takes none of the kind's outputs: a type that
    maps no processor but several kinds runs the model pass on each (MODEL_PASS_KINDS); a
    class whose main input one kind does not make is short of another
    kind's input, not a mismatch of the kind (Data2VecAudio maps a CTC tokenizer, whose ids are
    the decoding vocabulary, and a feature extractor, and no processor: processing_auto.py has no
    data2vec-audio entry; its classes read ``input_values``). A processor, or a type's only kind,
    must make its classes' input: there a class it does not feed stays a mismatch."""
    kinds = set(case.preprocessing)
    return "processor" not in kinds and len(kinds) > 1 and not _kind_feeds(model, inputs, names)


MODALITY_FREE_INPUTS = frozenset({"inputs"})
"""Main input names that say nothing of a modality: Perceiver's ``inputs`` takes whatever its
configured input preprocessor reads (text through ``input_ids`` too, in its text heads)."""


def _required(model: Any) -> set[str]:
    """The forward's parameters without a default (the inputs a call cannot leave out)."""
    import inspect

    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return set()
    return {
        n
        for n, p in sig.parameters.items()
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


# --------------------------------------------------------------------------------------
# pipelines


@dataclass(frozen=True)
class TaskSpec:
    """How one pipeline task is checked: its raw inputs, the call's options, the structure of
    one result, and the same result computed by hand from the preprocessing's output."""

    inputs: Callable[[Any], list]
    options: Callable[[Any, Any], dict]
    structure: Callable[[Any, Any, Any, Any], list[str]]
    manual: Callable[[Any, Any, Any, Any], Any]
    compare: Callable[[Comparison, str, Any, Any, tol.Tol, Any], None]
    needs: tuple[str, ...] = ("tokenizer",)
    pipeline_kwargs: Callable[[Any, Any, Any], dict] | None = None
    """Extra arguments of ``transformers.pipeline(...)`` from (preprocessing, model, config),
    for what depends on the model (a vocoder it needs); ``None``: none."""
    model_options: Callable[[Any, Any, Any], dict] | None = None
    """Call options, over ``options``, from (preprocessing, model, config), for options that
    depend on the model. Given at call time: a pipeline's ``_sanitize_parameters`` output at call
    time replaces the one given at construction key by key (``Pipeline.__call__``), so the
    text-to-audio pipeline's ``forward_params`` / ``generate_kwargs`` given to ``pipeline(...)``
    are dropped by a call that passes none."""
    batch_vs_hand: bool = False
    """Compare each batched result with the by-hand result of its input rather than with the
    pipeline's own result alone (equal to it: the first comparison), for a ``compare`` that reads
    evidence only the by-hand side records (a greedy generation's step scores, rule
    NEAR_TIE). Inputs the batch replaced (``_stackable_batch``) keep the alone result."""
    batch_scores: Callable[[Comparison, Any, Any, list, list, Any], None] | None = None
    """A comparison of the model's own padded batch with the by-hand single results, called
    as ``(cmp, model, prep, inputs, by-hand results, config)`` where the batch is compared at
    all (no PADDING_LEAK): scores the pipeline does not return (rule BATCH_STEP_SCORES)."""
    unbatched: str | None = None
    """Rule UNBATCHED_PIPELINE: why the task's pipeline cannot batch (an upstream limit, named
    with its source location); its batch of inputs is then given as a list at batch size 1 (the
    pipeline's one-at-a-time path) and compared with the single results; ``None``: batched."""


def _softmax_or_sigmoid(logits: torch.Tensor, config: Any) -> torch.Tensor:
    """The classification pipelines' default: sigmoid for one label or multi-label, softmax
    otherwise (``ClassificationFunction`` in transformers.pipelines)."""
    if config.problem_type == "multi_label_classification" or config.num_labels == 1:
        return logits.sigmoid()
    return logits.softmax(-1)


def _scores_by_label(result: list[dict]) -> dict[str, float]:
    return {r["label"]: float(r["score"]) for r in result}


def _labels_structure(result: Any, config: Any) -> list[str]:
    bad = []
    if not isinstance(result, list) or not result or not all(isinstance(r, dict) for r in result):
        return [f"expected a non-empty list of {{label, score}} dicts, got {type(result).__name__}"]
    labels = set(config.id2label.values())
    for r in result:
        if r.get("label") not in labels:
            bad.append(f"label {r.get('label')!r} is not in config.id2label")
        s = r.get("score")
        if not isinstance(s, float) or not 0.0 <= s <= 1.0:
            bad.append(f"score {s!r} is not a float in [0, 1]")
    scores = [r.get("score", 0) for r in result]
    if scores != sorted(scores, reverse=True):
        bad.append(f"scores are not in descending order: {scores}")
    return bad


def _compare_scores(cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any) -> None:
    g, w = _scores_by_label(got), _scores_by_label(want)
    if set(g) != set(w):
        cmp.compared.append(name)
        cmp.flag(f"{name}: labels {sorted(g)} != {sorted(w)}")
        return
    keys = sorted(g)
    cmp.close(name, torch.tensor([g[k] for k in keys]), torch.tensor([w[k] for k in keys]), t)


def _classification_manual(logits_of: Callable[[Any, Any, Any], torch.Tensor]):
    def manual(model, prep, x, config):
        probs = _softmax_or_sigmoid(logits_of(model, prep, x)[0], config)
        return sorted(
            ({"label": config.id2label[i], "score": float(p)} for i, p in enumerate(probs)),
            key=lambda r: -r["score"],
        )

    return manual


def _text_logits(model, prep, x):
    enc = prep.tokenizer(x, return_tensors="pt")
    return _forward(model, _tensors(enc)).logits


def _image_inputs(prep, x):
    proc = prep.image_processor
    return _tensors(proc(images=x, return_tensors="pt"))


def _audio_inputs(prep, x):
    fe = prep.feature_extractor
    return _tensors(fe(x["raw"], sampling_rate=x["sampling_rate"], return_tensors="pt"))


def _texts(prep) -> list:
    return list(TEXTS)


def _images(prep) -> list:
    return [image(SEED + i, s) for i, s in enumerate(IMAGE_SIZES)]


def _audios(prep) -> list:
    rate = sampling_rate(prep)
    return [
        {"raw": waveform(SEED + i, s, rate), "sampling_rate": rate}
        for i, s in enumerate(AUDIO_SECONDS)
    ]


def _no_options(prep, config) -> dict:
    return {}


def _all_labels(prep, config) -> dict:
    return {"top_k": None}


def _fill_mask_inputs(prep) -> list:
    mask = prep.tokenizer.mask_token
    if mask is None:
        not_applicable(f"{type(prep.tokenizer).__name__} has no mask token")
    return [f"hello {mask} world", f"the quick {mask} fox jumps"]


def _fill_mask_structure(result, config, prep, x) -> list[str]:
    if not isinstance(result, list) or not result:
        return ["expected a non-empty list of predictions"]
    bad = []
    vocab = config.get_text_config().vocab_size
    for r in result:
        if not 0 <= int(r["token"]) < vocab:
            bad.append(f"token {r['token']} outside the vocab")
        if not 0.0 <= float(r["score"]) <= 1.0:
            bad.append(f"score {r['score']} not in [0, 1]")
        if not isinstance(r.get("sequence"), str) or not isinstance(r.get("token_str"), str):
            bad.append("sequence / token_str are not strings")
    scores = [r["score"] for r in result]
    if scores != sorted(scores, reverse=True):
        bad.append("scores are not in descending order")
    return bad


FILL_MASK_TOP_K = 3


def _fill_mask_manual(model, prep, x, config):
    enc = prep.tokenizer(x, return_tensors="pt")
    at = (enc["input_ids"][0] == prep.tokenizer.mask_token_id).nonzero()[0, 0]
    probs = _forward(model, _tensors(enc)).logits[0, at].softmax(-1)
    top = probs.topk(FILL_MASK_TOP_K)
    return [
        {"token": int(i), "score": float(p)} for p, i in zip(top.values, top.indices, strict=False)
    ]


def _compare_tokens(cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any) -> None:
    cmp.equal(
        f"{name} tokens",
        torch.tensor([r["token"] for r in got]),
        torch.tensor([r["token"] for r in want]),
    )
    cmp.close(
        f"{name} scores",
        torch.tensor([float(r["score"]) for r in got]),
        torch.tensor([float(r["score"]) for r in want]),
        t,
    )


def _token_class_structure(result, config, prep, x) -> list[str]:
    bad = []
    labels = set(config.id2label.values())
    for r in result:
        if r["entity"] not in labels:
            bad.append(f"entity {r['entity']!r} not in config.id2label")
        if not 0.0 <= float(r["score"]) <= 1.0:
            bad.append(f"score {r['score']} not in [0, 1]")
        s, e = r.get("start"), r.get("end")
        if s is not None and not 0 <= s <= e <= len(x):
            bad.append(f"span {s}..{e} outside the input of length {len(x)}")
    if [r["index"] for r in result] != sorted(r["index"] for r in result):
        bad.append("entities are not in token order")
    return bad


def _token_class_manual(model, prep, x, config):
    tok = prep.tokenizer
    enc = tok(x, return_tensors="pt", return_special_tokens_mask=True)
    special = enc.pop("special_tokens_mask")[0]
    probs = _forward(model, _tensors(enc)).logits[0].softmax(-1)
    out = []
    for i in range(probs.shape[0]):
        if special[i]:
            continue
        j = int(probs[i].argmax())
        out.append({"index": i, "entity": config.id2label[j], "score": float(probs[i, j])})
    return out


def _compare_entities(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    """Entities by token index (by character span where both sides have one: a padded batch
    shifts left-padded indices) and label, then their scores."""
    key = "start" if all("start" in r for r in [*got, *want]) else "index"
    g = [(r[key], r["entity"]) for r in got]
    w = [(r[key], r["entity"]) for r in want]
    cmp.compared.append(f"{name} entities")
    if g != w:
        cmp.flag(f"{name}: entities {g} != {w}")
        return
    cmp.close(
        f"{name} scores",
        torch.tensor([float(r["score"]) for r in got]),
        torch.tensor([float(r["score"]) for r in want]),
        t,
    )


NEW_TOKENS = tol.NEW_TOKENS


def _generation_options(prep, config) -> dict:
    return {"max_new_tokens": NEW_TOKENS, "do_sample": False, "return_tensors": True}


def _prompt_ids(prep, x) -> list[int]:
    """The prompt as the text-generation pipeline encodes it: the tokenizer's defaults."""
    return list(prep.tokenizer(x)["input_ids"])


def _generation_structure(result, config, prep, x) -> list[str]:
    if not isinstance(result, list) or not result:
        return ["expected a list with one generation"]
    ids = result[0].get("generated_token_ids")
    if ids is None:
        return ["no generated_token_ids in the result (return_tensors=True)"]
    ids = [int(i) for i in ids]
    prompt = _prompt_ids(prep, x)
    if ids[: len(prompt)] != prompt:
        return [f"the generation {ids} does not start with the prompt {prompt}"]
    new = ids[len(prompt) :]
    # a config may declare no eos_token_id at all (RoCBert): then generation stops only at
    # max_new_tokens
    eos = getattr(config.get_text_config(), "eos_token_id", None)
    eos = set(eos if isinstance(eos, list) else [eos]) - {None}
    if len(new) != NEW_TOKENS and not (new and new[-1] in eos):
        return [f"{len(new)} new tokens, expected {NEW_TOKENS} (or fewer ending at EOS)"]
    return []


STEP_SCORES = "step_scores"
"""Key of the by-hand generation's per-step scores (what greedy search took the argmax of)."""


def _generation_manual(model, prep, x, config):
    ids = torch.tensor([_prompt_ids(prep, x)])
    torch.manual_seed(SEED)
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=NEW_TOKENS,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
        )
    scores = [s[0].double() for s in out.scores]
    return [{"generated_token_ids": [int(i) for i in out.sequences[0]], STEP_SCORES: scores}]


def _compare_generation(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    """Token ids exactly; a batched generation's padding (the pad id before the prompt or after
    an EOS) is dropped from both ends first. Rule NEAR_TIE (``_near_tie``): where the by-hand
    side recorded its step scores, a first difference at a step whose two tokens score within
    ``t`` there is rounding deciding a tie, and the tokens after it are not compared."""
    tok = prep.tokenizer or getattr(prep.processor, "tokenizer", None)
    pad = getattr(tok, "pad_token_id", None)
    g = _strip([int(i) for i in got[0]["generated_token_ids"]], pad)
    w = _strip([int(i) for i in want[0]["generated_token_ids"]], pad)
    cmp.compared.append(f"{name} tokens")
    if g == w:
        return
    tie = _near_tie(g, w, want[0], t, pad)
    if tie is not None:
        cmp.compared.append(f"{name} tokens up to {tie}")
        return
    cmp.flag(f"{name}: generated {g}, expected {w}")


BATCH_SCORE_STEPS = 2
"""Steps of the by-hand padded batch compared (the prefill and the first cached step)."""


def _generation_batch_scores(
    cmp: Comparison, model: Any, prep: Any, xs: list, wants: list, config: Any
) -> None:
    """Rule BATCH_STEP_SCORES: the tokens a pipeline returns show a batch's padding only where it
    flips an argmax, so the model is also called by hand on the padded batch the pipeline makes
    (the tokenizer pads on the left, ``LEFT_PADDED_TASKS``) and each row's step scores, for the
    prefill and the first cached step, are held to the row's own by-hand scores alone
    (``STEP_SCORES``) at the batch tolerance, while the row's tokens agree. Found this way: GIT's
    text-only decode step widens the mask over image tokens its cache does not hold, so a padded
    row attends to its padding from the first cached step on (the pipeline's 4 tokens flipped
    with some tiny vocabularies only)."""
    enc = prep.tokenizer(list(xs), padding=True, return_tensors="pt")
    enc = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}
    torch.manual_seed(SEED)
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=BATCH_SCORE_STEPS,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
        )
    t = tol.PIPELINE_BATCH
    width = enc["input_ids"].shape[1]
    for i, want in enumerate(wants):
        alone = want[0].get(STEP_SCORES) or []
        full = want[0]["generated_token_ids"]
        new_alone = full[len(full) - len(alone) :]
        new_batch = [int(x) for x in out.sequences[i, width:]]
        for k in range(min(BATCH_SCORE_STEPS, len(alone), len(out.scores))):
            if k > 0 and new_batch[:k] != new_alone[:k]:
                break  # the prefixes differ: the token comparison speaks for it
            cmp.close(
                f"input {i} by hand, padded batch vs alone: step {k} scores",
                out.scores[k][i].double(),
                alone[k],
                t,
            )


def _near_tie(g: list[int], w: list[int], want: dict, t: tol.Tol, pad: int | None) -> str | None:
    """Rule NEAR_TIE: greedy search takes an argmax, and two computations that differ by float32
    rounding (a padded batch vs one input: other matmul shapes, other summation order) take
    different tokens where the top two scores are closer than that rounding; from there the
    generations continue from different prefixes and say nothing about each other. A first
    difference is such a tie when the by-hand side's scores at that step (``STEP_SCORES``) put
    the two tokens within ``t`` (the batch tolerance: the same bound the batch's logits are held
    to elsewhere) of each other. A real cross-sample leak moves the scores by more than ``t``, so
    it flips a token only where the gap exceeds ``t`` too (tested), or shows at an earlier step.
    Returns a description of the tie, or ``None``."""
    scores = want.get(STEP_SCORES)
    if not scores:
        return None
    k = next((i for i, (a, b) in enumerate(zip(g, w, strict=False)) if a != b), None)
    if k is None:
        return None  # one is a prefix of the other: a length difference, not a tie
    full = [int(i) for i in want["generated_token_ids"]]
    lead = len(full) - len(_strip(full + [-1], pad)) + 1  # pads stripped from the front
    step = k + lead - (len(full) - len(scores))  # the generated tokens end the full ids
    if not 0 <= step < len(scores):
        return None
    row = scores[step]
    a, b = float(row[w[k]]), float(row[g[k]])
    gap = a - b
    if not (0.0 <= gap <= t.atol + t.rtol * abs(a)):
        return None
    return f"a near-tie at new token {step} (tokens {w[k]} and {g[k]} score {a:.6g} and {b:.6g})"


def _strip(ids: list[int], pad: int | None) -> list[int]:
    if pad is None:
        return ids
    while ids and ids[0] == pad:
        ids = ids[1:]
    while ids and ids[-1] == pad:
        ids = ids[:-1]
    return ids


def _features_options(prep, config) -> dict:
    return {"return_tensors": True}


def _features_structure(result, config, prep, x) -> list[str]:
    if not isinstance(result, torch.Tensor) or result.dim() < 2:
        return [f"expected a tensor of features, got {type(result).__name__}"]
    return []


def _text_features_manual(model, prep, x, config):
    enc = prep.tokenizer(x, return_tensors="pt")
    return _forward(model, _tensors(enc))[0]


def _image_features_manual(model, prep, x, config):
    return _forward(model, _image_inputs(prep, x))[0]


def _compare_features(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    """Per-position features at the real positions of ``want``: a batched result is padded
    (on the tokenizer's padding side) to the longest input of its batch."""
    got, want = torch.as_tensor(got), torch.as_tensor(want)
    if got.dim() == want.dim() >= 3 and got.shape[-2] > want.shape[-2]:
        n = want.shape[-2]
        tok = prep.tokenizer or getattr(prep.processor, "tokenizer", None)
        side = getattr(tok, "padding_side", "right")
        got = got[..., -n:, :] if side == "left" else got[..., :n, :]
    cmp.close(name, got, want, t)


ASR_GENERATION = {"max_new_tokens": NEW_TOKENS, "do_sample": False, "num_beams": 1}
"""Rule: the speech-recognition pipeline is given every generation parameter its own defaults set
(``AutomaticSpeechRecognitionPipeline._default_generation_config``: max_new_tokens=256,
num_beams=5, applied where the call does not set them), and the by-hand ``generate`` the same:
greedy, ``NEW_TOKENS`` new tokens. Left to the pipeline, beam search against a greedy by-hand
call compares two different decodings."""


def _asr_generates(model) -> bool:
    """Rule: a CTC head (``MODEL_FOR_CTC_MAPPING_NAMES``) transcribes by the argmax of its logits
    per frame; every other speech-recognition class (speech seq2seq, audio-conditioned LMs,
    transducers) by ``generate``."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CTC_MAPPING_NAMES

    return type(model).__name__ not in set(MODEL_FOR_CTC_MAPPING_NAMES.values())


def _as_emitted(tok) -> dict:
    """Rule: generated tokens are decoded as emitted. A CTC tokenizer's decode groups repeated
    tokens by default (``group_tokens``: CTC repeats one token over frames); a model that
    generates (a transducer with a CTC-style tokenizer, Parakeet TDT) emits each token once, so
    a repeat is a real one and must stay."""
    import inspect

    params = inspect.signature(getattr(tok, "_decode", tok.decode)).parameters
    return {"group_tokens": False} if "group_tokens" in params else {}


def _asr_structure(result, config, prep, x) -> list[str]:
    if not isinstance(result, dict) or not isinstance(result.get("text"), str):
        return [f"expected {{'text': str}}, got {result!r}"[:200]]
    return []


def _asr_manual(model, prep, x, config):
    inputs = _audio_inputs(prep, x)
    tok = prep.tokenizer or getattr(prep.processor, "tokenizer", None)
    if _asr_generates(model):
        with torch.no_grad():
            out = model.generate(**inputs, **ASR_GENERATION)
        ids = getattr(out, "sequences", out)  # transducers return a GenerateOutput
        return {"text": tok.decode(ids[0], skip_special_tokens=True, **_as_emitted(tok))}
    ids = _forward(model, inputs).logits.argmax(-1)[0]
    return {"text": tok.decode(ids)}


def _compare_text(cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any) -> None:
    cmp.compared.append(name)
    if got.get("text") != want.get("text"):
        cmp.flag(f"{name}: pipeline {got.get('text')!r}, by hand {want.get('text')!r}")


def _zs_image_options(prep, config) -> dict:
    return {"candidate_labels": ["fox", "world"]}


SIGMOID_SCORING = "siglip"
"""Rule SIGLIP_BRANCH: the zero-shot-image-classification pipeline has a branch for SigLIP-style
models, keyed on ``"siglip" in model.config.model_type`` (pipelines/
zero_shot_image_classification.py: ``preprocess`` tokenizes the candidates with
``padding="max_length", max_length=64, truncation=True``, the length SigLIP was trained on;
``postprocess`` scores each candidate by ``sigmoid(logits_per_image)`` on its own, not by a
softmax over the candidates). The by-hand side and the structure follow the same branch: the
scores are independent probabilities (they need not sum to 1)."""
SIGMOID_MAX_LENGTH = 64


def _zs_sigmoid(config: Any) -> bool:
    return SIGMOID_SCORING in str(getattr(config, "model_type", ""))


def _zs_image_structure(result, config, prep, x) -> list[str]:
    if not isinstance(result, list) or {r["label"] for r in result} != {"fox", "world"}:
        return [f"expected one score per candidate label, got {result!r}"[:200]]
    scores = [r["score"] for r in result]
    bad = [] if scores == sorted(scores, reverse=True) else ["scores not descending"]
    if any(not 0.0 <= s <= 1.0 for s in scores):
        bad.append(f"scores {scores} not in [0, 1]")
    if not _zs_sigmoid(config) and abs(sum(scores) - 1) > 1e-4:
        bad.append(f"scores sum to {sum(scores)}, not 1")
    return bad


ZS_TEMPLATE = "This is a photo of {}."


def _zs_image_manual(model, prep, x, config):
    """Rule: by hand as the pipeline does it, with its tokenizer and image processor apart
    (``ZeroShotImageClassificationPipeline.preprocess`` calls ``self.image_processor`` and
    ``self.tokenizer``, never the processor, whose call-time defaults may differ: Siglip2's
    ``images_kwargs`` patch_size 16 in processing_siglip2.py)."""
    labels = ["fox", "world"]
    tok = prep.tokenizer or getattr(prep.processor, "tokenizer", None)
    ip = prep.image_processor or getattr(prep.processor, "image_processor", None)
    sigmoid = _zs_sigmoid(config)
    padding = (
        {"padding": "max_length", "max_length": SIGMOID_MAX_LENGTH, "truncation": True}
        if sigmoid
        else {"padding": True}
    )
    text = tok([ZS_TEMPLATE.format(c) for c in labels], return_tensors="pt", **padding)
    enc = {**_tensors(ip(images=[x], return_tensors="pt")), **_tensors(text)}
    logits = _forward(model, enc).logits_per_image[0]
    probs = logits.sigmoid() if sigmoid else logits.softmax(-1)
    return sorted(
        ({"label": c, "score": float(p)} for c, p in zip(labels, probs, strict=False)),
        key=lambda r: -r["score"],
    )


BOX_REACH = 0.5
"""Rule "unclipped centre boxes": detection heads predict sigmoid-normalized (cx, cy, w, h) and
the post-processing turns them into corners without clipping (``image_processing_detr.py``
``post_process_object_detection``: ``center_to_corners_format``, scaled by the target size, no
clamp), so an untrained head's corner may lie up to half the image outside it (cx = 0, w = 1
gives xmin = -W / 2). A box must be ordered and within that reach."""


def _box_structure(result, config, prep, x) -> list[str]:
    if not isinstance(result, list):
        return [f"expected a list of detections, got {type(result).__name__}"]
    bad = []
    w, h = x.size
    labels = set(config.id2label.values())
    for r in result:
        b = r["box"]
        if r["label"] not in labels:
            bad.append(f"label {r['label']!r} not in config.id2label")
        if not 0.0 <= float(r["score"]) <= 1.0:
            bad.append(f"score {r['score']} not in [0, 1]")
        rw, rh = BOX_REACH * w + 1, BOX_REACH * h + 1
        if not (
            -rw <= b["xmin"] <= b["xmax"] <= w + rw and -rh <= b["ymin"] <= b["ymax"] <= h + rh
        ):
            bad.append(f"box {b} beyond the {w}x{h} image by more than half its size")
    return bad[:4]


def _detection_options(prep, config) -> dict:
    return {"threshold": 0.0}


def _detection_manual(model, prep, x, config):
    out = _forward(model, _image_inputs(prep, x))
    w, h = x.size
    res = prep.image_processor.post_process_object_detection(
        out, threshold=0.0, target_sizes=[(h, w)]
    )[0]
    return [
        {"score": float(s), "label": config.id2label[int(lab)], "box": [float(v) for v in box]}
        for s, lab, box in zip(res["scores"], res["labels"], res["boxes"], strict=False)
    ]


def _compare_detections(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    cmp.compared.append(f"{name} count")
    if len(got) != len(want):
        cmp.flag(f"{name}: {len(got)} detections, by hand {len(want)}")
        return
    if not got:
        return
    from collections import Counter

    cmp.compared.append(f"{name} labels")
    if Counter(r["label"] for r in got) != Counter(r["label"] for r in want):
        cmp.flag(f"{name}: detections per label differ")
        return
    g, w = _pair_detections(got, want, t)
    cmp.close(
        f"{name} scores",
        torch.tensor([float(r["score"]) for r in g]),
        torch.tensor([float(r["score"]) for r in w]),
        t,
    )
    _compare_boxes(cmp, name, g, w)


def _corners(r: dict) -> list[float]:
    b = r["box"]
    if isinstance(b, dict):
        return [float(b[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
    return [float(v) for v in b]


def _pixel_gap(a: dict, b: dict) -> float:
    """How far box ``a`` lies from box ``b`` as the pipeline would give ``b`` (whole pixels,
    ``int()`` per corner), plus a thousandth of the float distance to break ties."""
    ca, cb = _corners(a), _corners(b)
    whole = sum(abs(x - int(y)) for x, y in zip(ca, cb, strict=True))
    return whole + 1e-3 * sum(abs(x - y) for x, y in zip(ca, cb, strict=True))


def _nearest_boxes(gs: list, ws: list) -> list[tuple[dict, dict]]:
    """``gs`` and ``ws`` paired one to one with the least total box gap (an optimal assignment:
    ``scipy.optimize.linear_sum_assignment``; a greedy pairing took a neighbour's box when the
    pipeline's whole-pixel corners lay nearer to it)."""
    if len(ws) == 1:
        return [(gs[0], ws[0])]
    from scipy.optimize import linear_sum_assignment

    cost = np.array([[_pixel_gap(a, b) for a in gs] for b in ws])
    rows, cols = linear_sum_assignment(cost)
    return [(gs[c], ws[r]) for r, c in zip(rows, cols, strict=True)]


def _pair_detections(got: list, want: list, t: tol.Tol) -> tuple[list, list]:
    """Rule DETECTION_PAIRING: the same detections of two results, in pairs. Per label, both
    sides in descending score order; where ``want``'s scores tie within the tolerance (an
    untrained head gives many near-equal scores, exact ties too: one query scored for every
    label), the order inside the tie says nothing, so the tie is paired with ``got``'s
    detections of the same ranks by their boxes (``_nearest_boxes``: least total distance of
    ``got``'s corners from ``want``'s as whole pixels). A key of rounded scores paired the
    detections of a tie across a 4-decimal rounding boundary with another query's box
    (conditional DETR: 12 queries per label with scores equal to 1e-7, boxes 2-4 px apart, so
    batched vs alone failed by chance of rounding)."""
    out_g: list = []
    out_w: list = []
    labels = sorted({r["label"] for r in [*got, *want]}, key=str)
    for label in labels:
        gs = sorted((r for r in got if r["label"] == label), key=lambda r: -float(r["score"]))
        ws = sorted((r for r in want if r["label"] == label), key=lambda r: -float(r["score"]))
        if len(gs) != len(ws):  # the scores comparison reports it: pair in order
            n = min(len(gs), len(ws))
            out_g += gs[:n]
            out_w += ws[:n]
            continue
        i = 0
        while i < len(ws):
            j = i + 1
            while j < len(ws) and float(ws[j - 1]["score"]) - float(ws[j]["score"]) <= t.atol + (
                t.rtol * abs(float(ws[j]["score"]))
            ):
                j += 1
            for a, b in _nearest_boxes(gs[i:j], ws[i:j]):
                out_g.append(a)
                out_w.append(b)
            i = j
    return out_g, out_w


BOX_PIXELS = 1
"""The pipeline rounds box corners to whole pixels (``ObjectDetectionPipeline._get_bounding_box``
casts to int); a by-hand corner may differ by one pixel from truncation at a float boundary."""


def _compare_boxes(cmp: Comparison, name: str, got: list, want: list) -> None:
    """Box corners of the same detections (paired by ``_pair_detections``) agree to
    ``BOX_PIXELS``."""
    cmp.compared.append(f"{name} boxes")
    corners = ("xmin", "ymin", "xmax", "ymax")
    for g, w in zip(got, want, strict=True):
        gb = [float(g["box"][k]) for k in corners] if isinstance(g["box"], dict) else g["box"]
        wb = [float(w["box"][k]) for k in corners] if isinstance(w["box"], dict) else w["box"]
        if max(abs(a - b) for a, b in zip(gb, wb, strict=True)) > BOX_PIXELS + 1e-6:
            cmp.flag(f"{name}: box {gb} vs by hand {[round(v, 2) for v in wb]}")
            return


def _itt_inputs(prep) -> list:
    """Rule CHATLESS_PROCESSOR: a processor with a chat template is given chats (an image part
    and a text part, the template writes the placeholders); one without a chat template (BLIP,
    GIT, IDEFICS, Pix2Struct, UDOP ship none upstream) is given the pipeline's plain form, a
    ``{"images": image, "text": text}`` dict, which the pipeline hands to the processor as
    ``processor(images=..., text=...)`` (``apply_chat_template`` raises "this processor does not
    have a chat template")."""
    if _has_chat_template(prep):
        return _itt_chats(prep)
    return _itt_plain(prep)


def _has_chat_template(prep) -> bool:
    proc = prep.processor
    return getattr(proc, "chat_template", None) is not None


def _itt_chats(prep) -> list:
    return [
        [
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": image(SEED + i, s)},
                    {"type": "text", "text": TEXTS[i]},
                ],
            }
        ]
        for i, s in enumerate(IMAGE_SIZES)
    ]


def _itt_plain(prep) -> list:
    """Plain-form inputs: an image where the processor has an image processor, else a waveform
    where it has a feature extractor (any-to-any audio models), with the text. Rule
    PLAIN_PLACEHOLDER: the text of an image input starts with the processor's image placeholder
    where it has one (``placeholder_for``, as the raw call ``_processor_call`` writes it): with no
    chat template to write it (``processors.CHATLESS``: GOT-OCR2), a processor that expands its
    placeholder finds none in the bare text and gives the model no image tokens."""
    from ..preprocess.processors import placeholder_for

    proc = prep.processor
    out = []
    for i, s in enumerate(IMAGE_SIZES):
        x: dict[str, Any] = {"text": TEXTS[i]}
        if getattr(proc, "image_processor", None) is not None:
            x["images"] = image(SEED + i, s)
            token = placeholder_for(proc, "image")
            if token:
                x["text"] = f"{token} {TEXTS[i]}"
        elif getattr(proc, "feature_extractor", None) is not None:
            x["audio"] = waveform(SEED + i, AUDIO_SECONDS[i], sampling_rate(prep))
        out.append(x)
    return out


def _itt_options(prep, config) -> dict:
    return {
        "max_new_tokens": NEW_TOKENS,
        "do_sample": False,
        "return_full_text": False,
    }


def _itt_structure(result, config, prep, x) -> list[str]:
    if not isinstance(result, list) or not isinstance(result[0].get("generated_text"), str):
        return [f"expected [{{'generated_text': str}}], got {result!r}"[:200]]
    return []


def _itt_encode(proc, x) -> dict:
    """The processor's output for one input, as the pipeline's ``preprocess`` asks for it: a
    chat through ``apply_chat_template`` (generation prompt, tokenized, tensors); the plain form
    through ``processor(text=..., images=... | audio=..., return_tensors="pt")``."""
    if isinstance(x, dict):
        return _tensors(proc(**x, return_tensors="pt"))
    return _tensors(
        proc.apply_chat_template(
            x, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        )
    )


def _itt_manual(model, prep, x, config):
    """``generate`` on the processor's output, greedy, ``NEW_TOKENS`` new tokens; the text is
    ``return_full_text=False``'s: the decode of the whole sequence less the decoded prompt where
    it starts with it (within ``PROMPT_SLACK`` characters), special tokens skipped (rule
    NEW_TEXT_BY_PREFIX: decoding the new tokens alone differs at the boundary, a WordPiece
    ``##`` continuation or a SentencePiece leading space)."""
    proc = prep.processor
    enc = _itt_encode(proc, x)
    torch.manual_seed(SEED)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=NEW_TOKENS, do_sample=False)
    full = proc.decode(out[0], skip_special_tokens=True)
    prompt = proc.decode(_generation_prompt(enc)[0], skip_special_tokens=True)
    return [{"generated_text": _less_prompt(full, prompt)}]


def _generation_prompt(enc: dict) -> torch.Tensor:
    """Rule DECODER_PROMPT: the prompt a generated text continues is the processor's
    ``input_ids``, else its ``decoder_input_ids``: an encoder-decoder whose encoder reads only the
    image (Pix2Struct: ``flattened_patches``) gets the text as the decoder's prompt
    (processing_pix2struct.py moves ``input_ids`` to ``decoder_input_ids``), which ``generate``
    continues, so the whole decoded sequence starts with it. Read off the processor's output for
    the input, not off the pipeline."""
    ids = enc.get("input_ids")
    return ids if ids is not None else enc["decoder_input_ids"]


PROMPT_SLACK = 2
"""Characters before the decoded prompt the image-text-to-text pipeline allows (a space)."""


def _less_prompt(full: str, prompt: str) -> str:
    at = full.find(prompt)
    return full[at + len(prompt) :] if 0 <= at <= PROMPT_SLACK else full


def _compare_generated_text(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    cmp.compared.append(name)
    if got[0]["generated_text"] != want[0]["generated_text"]:
        cmp.flag(
            f"{name}: pipeline {got[0]['generated_text']!r}, by hand {want[0]['generated_text']!r}"
        )


CANDIDATES = ["fox", "world"]
NLI_TEMPLATE = "This example is {}."


def _entailment_id(config) -> int:
    """The zero-shot pipeline's entailment logit: the label starting with "entail", else the
    last one (``ZeroShotClassificationPipeline.entailment_id``)."""
    for label, i in config.label2id.items():
        if label.lower().startswith("entail"):
            return int(i)
    return -1


def _zs_text_manual(model, prep, x, config):
    tok = prep.tokenizer
    logits = []
    for c in CANDIDATES:
        enc = tok(x, NLI_TEMPLATE.format(c), return_tensors="pt", truncation="only_first")
        logits.append(_forward(model, _tensors(enc)).logits[0, _entailment_id(config)])
    probs = torch.stack(logits).softmax(-1)
    return {"labels": list(CANDIDATES), "scores": [float(p) for p in probs]}


def _zs_text_structure(result, config, prep, x) -> list[str]:
    if not isinstance(result, dict) or sorted(result.get("labels", [])) != sorted(CANDIDATES):
        return [f"expected {{sequence, labels, scores}} over the candidates, got {result!r}"[:200]]
    scores = result["scores"]
    bad = [] if scores == sorted(scores, reverse=True) else ["scores not descending"]
    if abs(sum(scores) - 1) > 1e-4:
        bad.append(f"scores sum to {sum(scores)}, not 1")
    if result.get("sequence") != x:
        bad.append(f"sequence {result.get('sequence')!r} is not the input")
    return bad


def _compare_label_scores(
    cmp: Comparison, name: str, got: Any, want: Any, t: tol.Tol, prep: Any
) -> None:
    g = dict(zip(got["labels"], got["scores"], strict=True))
    w = dict(zip(want["labels"], want["scores"], strict=True))
    cmp.close(
        name,
        torch.tensor([g.get(c, -1.0) for c in CANDIDATES]),
        torch.tensor([w[c] for c in CANDIDATES]),
        t,
    )


TASKS: dict[str, TaskSpec] = {
    "zero-shot-classification": TaskSpec(
        _texts,
        lambda p, c: {"candidate_labels": list(CANDIDATES), "hypothesis_template": NLI_TEMPLATE},
        _zs_text_structure,
        _zs_text_manual,
        _compare_label_scores,
    ),
    "text-classification": TaskSpec(
        _texts,
        _all_labels,
        lambda r, c, p, x: _labels_structure(r, c),
        _classification_manual(_text_logits),
        _compare_scores,
    ),
    "fill-mask": TaskSpec(
        _fill_mask_inputs,
        lambda p, c: {"top_k": FILL_MASK_TOP_K},
        _fill_mask_structure,
        _fill_mask_manual,
        _compare_tokens,
    ),
    "token-classification": TaskSpec(
        _texts, _no_options, _token_class_structure, _token_class_manual, _compare_entities
    ),
    "text-generation": TaskSpec(
        _texts,
        _generation_options,
        _generation_structure,
        _generation_manual,
        _compare_generation,
        batch_vs_hand=True,
        batch_scores=_generation_batch_scores,
    ),
    "feature-extraction": TaskSpec(
        _texts, _features_options, _features_structure, _text_features_manual, _compare_features
    ),
    "image-classification": TaskSpec(
        _images,
        _all_labels,
        lambda r, c, p, x: _labels_structure(r, c),
        _classification_manual(lambda m, p, x: _forward(m, _image_inputs(p, x)).logits),
        _compare_scores,
        needs=("image_processor",),
    ),
    "image-feature-extraction": TaskSpec(
        _images,
        _features_options,
        _features_structure,
        _image_features_manual,
        _compare_features,
        needs=("image_processor",),
    ),
    "audio-classification": TaskSpec(
        _audios,
        _all_labels,
        lambda r, c, p, x: _labels_structure(r, c),
        _classification_manual(lambda m, p, x: _forward(m, _audio_inputs(p, x)).logits),
        _compare_scores,
        needs=("feature_extractor",),
    ),
    "automatic-speech-recognition": TaskSpec(
        _audios,
        lambda p, c: {"generate_kwargs": dict(ASR_GENERATION)},
        _asr_structure,
        _asr_manual,
        _compare_text,
        needs=("feature_extractor", "tokenizer"),
    ),
    "zero-shot-image-classification": TaskSpec(
        _images,
        _zs_image_options,
        _zs_image_structure,
        _zs_image_manual,
        _compare_scores,
        needs=("processor",),
    ),
    "object-detection": TaskSpec(
        _images,
        _detection_options,
        _box_structure,
        _detection_manual,
        _compare_detections,
        needs=("image_processor",),
    ),
    "image-text-to-text": TaskSpec(
        _itt_inputs,
        _itt_options,
        _itt_structure,
        _itt_manual,
        _compare_generated_text,
        needs=("processor",),
    ),
    "any-to-any": TaskSpec(
        _itt_inputs,
        _itt_options,
        _itt_structure,
        _itt_manual,
        _compare_generated_text,
        needs=("processor",),
    ),
}


TASK_INPUT_KINDS = {
    "text": ("tokenizer",),
    "image": ("image_processor",),
    "audio": ("feature_extractor",),
    "video": ("video_processor", "image_processor"),
}
"""The preprocessing a pipeline of each input type (``SUPPORTED_TASKS[task]["type"]``) is given;
"multimodal" tasks get every part and the processor."""


def _make_pipeline(task: str, model: Any, prep, extra: dict | None = None) -> Any:
    import transformers
    from transformers.pipelines import SUPPORTED_TASKS

    kinds = TASK_INPUT_KINDS.get(SUPPORTED_TASKS.get(task, {}).get("type", "multimodal"))
    kwargs = prep.pipeline_kwargs()
    if kinds is not None:
        kwargs = {k: v for k, v in kwargs.items() if k in kinds}
    kwargs.update(extra or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.pipeline(task, model=model, device="cpu", **kwargs)


def _call(pipe: Any, x: Any, options: dict) -> Any:
    torch.manual_seed(SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(x, list) and x and isinstance(x[0], dict) and "role" in x[0]:
            return pipe(text=x, **options)
        return pipe(dict(x) if isinstance(x, dict) else x, **options)  # pipelines pop keys


def _batch(pipe: Any, xs: list, options: dict, size: int | None = None) -> list:
    """The inputs through the pipeline as one batch (``size``: the batch size, default all of
    them; rule UNBATCHED_PIPELINE gives 1)."""
    torch.manual_seed(SEED)
    if size is not None:
        xs = [dict(x) if isinstance(x, dict) else x for x in xs]
        return list(pipe(xs, batch_size=size, **options))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(xs[0], list) and xs[0] and isinstance(xs[0][0], dict):
            return list(pipe(text=xs, batch_size=len(xs), **options))
        if _plain_multimodal(xs):
            return list(pipe((dict(x) for x in xs), batch_size=len(xs), **options))
        xs = [dict(x) if isinstance(x, dict) else x for x in xs]
        return list(pipe(xs, batch_size=len(xs), **options))


def _plain_multimodal(xs: list) -> bool:
    """Rule PLAIN_BATCH: a batch of plain-form multimodal inputs (``{"text": ..., "images": ...}``
    dicts, ``CHATLESS_PROCESSOR``) goes to the pipeline as a generator: a list of dicts is read
    as one chat by the image-text-to-text pipeline ("each dict must have a 'role' and 'content'
    key"), a generator is batched item by item."""
    return all(isinstance(x, dict) and "text" in x and ({"images", "audio"} & set(x)) for x in xs)


def pipeline(case: Case, task: str | None) -> None:
    if task is None:
        not_applicable(f"{case.model_type}: no pipeline task")
    spec = TASKS.get(task)
    if spec is None:
        not_covered(f"hftestgen has no pipeline check for the task {task!r} yet")
    import copy

    shared, _ = _prep(case)
    # a pipeline may set state on its preprocessing (the text-generation pipeline pads on the
    # left): each pipeline check gets its own copy, the by-hand side the same copy
    prep = copy.deepcopy(shared)
    for kind in spec.needs:
        if kind == "tokenizer" and prep.tokenizer is None and prep.processor is not None:
            continue
        _require(prep, kind)
    built = _built_for(case, case.pipelines[task], prep.config_overrides)
    model, config = built.model, _model_config(built)
    tok = prep.tokenizer or getattr(prep.processor, "tokenizer", None)
    if task in LEFT_PADDED_TASKS and tok is not None and not config.is_encoder_decoder:
        _pad_left(prep, tok)  # this check's copy
    with _pad_id_for_model(config, tok):
        leak = _padding_leak(case, built, task) or _batch_dependent(case, built)
        _pipeline_vs_hand(task, spec, model, config, prep, leak)


def _model_config(built: Any) -> Any:
    """Rule: the pipeline's model is configured by its own ``model.config``. A decoder class of
    an encoder-decoder type (``BartForCausalLM``, ``TrOCRForCausalLM``) copies the config it is
    given and makes the copy decoder-only (``is_decoder=True, is_encoder_decoder=False``), so the
    built config says encoder-decoder while the model generates as a decoder-only model (it is
    padded on the left; its pad id is set on the config it reads)."""
    return getattr(built.model, "config", None) or built.config


def _padding_leak(case: Case, built: Any, task: str = "") -> str | None:
    """Rule PADDING_LEAK: why padding reaches the model's real positions, if it does: the
    model's forward takes no ``attention_mask`` (FNet's Fourier mixing), or the type's records
    declare the ``attention_mask_padding`` check not-applicable or an upstream bug for the class
    (a recurrence that reads every slot, pooling or landmarks over the padded length, a
    convolution across pad slots; the reason is the record's). Such a pipeline cannot give a
    padded batch the results of its inputs alone: the batch is compared for its length only."""
    from ._support import forward_params

    params = forward_params(built.model)
    if "attention_mask" not in params:
        return "its forward takes no attention_mask"
    if (
        task in LEFT_PADDED_TASKS
        and "position_ids" not in params
        and not getattr(built.config, "is_encoder_decoder", False)
    ):
        # rule: batched generation pads on the left; a decoder that takes no position_ids
        # numbers positions from slot 0 (learned / sinusoidal absolute positions: the BART
        # family's ForCausalLM classes), so padding shifts every real token's position. The
        # attention_mask_padding check pads such classes on the right, where it applies.
        return "left padding shifts a forward without position_ids"
    known = case.known_for("attention_mask_padding", type(built.model).__name__)
    if known is not None:
        return f"attention_mask_padding is {known.kind}: {known.reason}"
    return None


def _batch_dependent(case: Case, built: Any) -> str | None:
    """Rule BATCH_DEPENDENT: a class whose records declare the ``batch_independence`` check
    not-applicable gives a sample a result that depends on the rest of its batch by design
    (ViTMAE draws its random patch mask for the whole batch: ``ViTMAEEmbeddings.random_masking``,
    ``noise = torch.rand(batch_size, seq_length)``), so a pipeline's batch is compared for its
    length only (as under PADDING_LEAK); one input at a time is still compared with the model
    called by hand, both seeded alike."""
    known = case.known_for("batch_independence", type(built.model).__name__)
    if known is not None and known.kind == "not-applicable":
        return f"batch_independence is not-applicable: {known.reason}"
    return None


LEFT_PADDED_TASKS = frozenset({"text-generation", "image-text-to-text", "any-to-any"})
"""Rule: batched generation with a decoder-only model pads on the left (Transformers warns
"right-padding was detected ... set padding_side='left'" otherwise, and the continuation of a
right-padded prompt follows its pad tokens)."""


def _pad_left(prep: Any, tok: Any) -> None:
    """Rule LEFT_PADDED_TASKS on the check's copy: the tokenizer pads on the left, and so does
    every feature extractor that has a padding side (the processor's and the one handed to the
    pipeline): the pipelines' batch collation (``pad_collate_fn`` in transformers.pipelines.base)
    refuses a tokenizer and a feature extractor that pad on different sides ("don't agree on
    padding side left != right")."""
    tok.padding_side = "left"
    for fe in (prep.feature_extractor, getattr(prep.processor, "feature_extractor", None)):
        if fe is not None and getattr(fe, "padding_side", None) is not None:
            fe.padding_side = "left"


@contextlib.contextmanager
def _pad_id_for_model(config: Any, tok: Any) -> Iterator[None]:
    """Rule: the model pads with its tokenizer's pad token. Where the config's pad id differs
    (none named, or the tiny engine's ``_ensure_pad`` 0 for decoder classification heads built
    apart from the tokenizer's primary-class config), the config is given the tokenizer's pad
    id while the check runs, as Transformers' docs tell users to do
    (``model.config.pad_token_id = tokenizer.pad_token_id``): sequence-classification heads pool
    at the last non-pad token by it. The model is the type's cached one, shared with the other
    checks, so the old ids are put back when the check ends, however it ends."""
    pad = getattr(tok, "pad_token_id", None)
    try:
        text = config.get_text_config()
    except ValueError:  # several text configs (musicgen's text encoder and decoder)
        text = config
    targets = [c for c in {id(c): c for c in (config, text)}.values() if hasattr(c, "pad_token_id")]
    old = [getattr(c, "pad_token_id", None) for c in targets]
    if pad is not None:
        for c in targets:
            c.pad_token_id = pad
    try:
        yield
    finally:
        for c, o in zip(targets, old, strict=True):
            c.pad_token_id = o


def _pipeline_vs_hand(
    task: str, spec: TaskSpec, model: Any, config: Any, prep: Any, leak: str | None = None
) -> None:
    xs = spec.inputs(prep)
    options = spec.options(prep, config)
    if spec.model_options is not None:
        options = {**options, **spec.model_options(prep, model, config)}
    try:
        extra = spec.pipeline_kwargs(prep, model, config) if spec.pipeline_kwargs else None
        pipe = _make_pipeline(task, model, prep, extra)
        singles = [_call(pipe, x, options) for x in xs]
    except Exception as e:
        skip_if_missing_package(e)
        raise
    cmp = Comparison("pipeline")
    wants = []
    for i, (x, got) in enumerate(zip(xs, singles, strict=False)):
        for problem in spec.structure(got, config, prep, x):
            cmp.flag(f"input {i}: {problem}")
        wants.append(spec.manual(model, prep, x, config))
        spec.compare(cmp, f"input {i} pipeline vs by hand", got, wants[i], tol.PIPELINE, prep)
    fe = prep.feature_extractor
    if fe is not None and getattr(fe, "return_attention_mask", True) is False:
        # rule: a feature extractor that returns no attention mask (wav2vec2-base style, by
        # design: "attention_mask should not be passed") lets the model see a batch's padding
        cmp.verdict(f"pipeline {task!r} ({type(pipe).__name__}), unbatched")
        return
    xs_b, singles = _stackable_batch(prep, xs, singles, lambda x: _call(pipe, x, options))
    batched = _batch(pipe, xs_b, options, 1 if spec.unbatched else None)
    cmp.compared.append("batch length")
    if len(batched) != len(xs_b):
        cmp.flag(f"a batch of {len(xs_b)} gave {len(batched)} results")
    if leak is not None and spec.unbatched is None:  # rule PADDING_LEAK; unbatched: no padding
        cmp.verdict(f"pipeline {task!r} ({type(pipe).__name__}), batch length only ({leak})")
        return
    for i, (one, many) in enumerate(zip(singles, batched, strict=False)):
        if spec.batch_vs_hand and xs_b[i] is xs[i]:
            one = wants[i]
        spec.compare(cmp, f"input {i} batched vs alone", many, one, tol.PIPELINE_BATCH, prep)
    if spec.batch_scores is not None and spec.unbatched is None and xs_b is xs:
        spec.batch_scores(cmp, model, prep, xs, wants, config)
    how = f", batched one at a time ({spec.unbatched})" if spec.unbatched else ""
    cmp.verdict(f"pipeline {task!r} ({type(pipe).__name__}){how}")


def _pixel_shape(prep: Any, x: Any) -> tuple | None:
    """The shape of the image processor's ``pixel_values`` for one raw image, else ``None``."""
    ip = prep.image_processor
    img = _input_image(x)
    if ip is None or img is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pv = _as_features(ip(images=img, return_tensors="pt")).get("pixel_values")
    return tuple(pv.shape) if isinstance(pv, torch.Tensor) else None


def _stackable_batch(
    prep: Any, xs: list, singles: list, alone: Callable[[Any], Any]
) -> tuple[list, list]:
    """Rule: unstackable image batches. A pipeline batches images by concatenating each image's
    ``pixel_values`` unpadded (``transformers.pipelines.base._pad``: "padding shouldn't be
    necessary"), so an aspect-keeping processor (DETR's shortest/longest edge, a size divisor)
    that gives the inputs different shapes cannot be batched by the pipeline at all. The batch
    then holds images of the first input's size: the first input and a second seeded image of
    that size (its single result from ``alone``), which the processor gives equal shapes.
    Returns (batch inputs, their single results); the inputs unchanged where they stack. An
    input that holds its image (an image-text-to-text chat or plain ``{"images": ...}`` dict,
    ``_input_image``) keeps its text and gets the second image in place of its own
    (``_with_image``): a dynamic-resolution processor (Emu3's ``min_pixels`` / ``max_pixels``,
    a multiple of the VQ factor; an any-resolution processor's tile count: LLaVA-NeXT) gives
    differently shaped images different ``pixel_values``; packed patches that differ in their count only are concatenated as they are."""
    from PIL.Image import Image

    shapes = [_pixel_shape(prep, x) for x in xs]
    if None in shapes or len(set(shapes)) == 1:
        return xs, singles
    if not isinstance(xs[0], Image) and len({s[1:] for s in shapes}) == 1:
        return xs, singles  # packed patches ((patches, features): Qwen2-VL) stack along dim 0
    size = _input_image(xs[0]).size
    same = [xs[0]] + [_with_image(xs[i], image(SEED + 10 + i, size)) for i in range(1, len(xs))]
    return same, [singles[0]] + [alone(x) for x in same[1:]]


def _input_image(x: Any) -> Any:
    """The PIL image of one pipeline input: the input itself, a plain-form dict's ``images``, or
    the image part of a chat's messages; ``None`` where there is none (or more than one)."""
    from PIL.Image import Image

    if isinstance(x, Image):
        return x
    if isinstance(x, dict):
        return x.get("images") if isinstance(x.get("images"), Image) else None
    parts = [
        p.get("image")
        for m in (x if isinstance(x, list) else [])
        if isinstance(m, dict) and isinstance(m.get("content"), list)
        for p in m["content"]
        if isinstance(p, dict) and p.get("type") == "image"
    ]
    return parts[0] if len(parts) == 1 and isinstance(parts[0], Image) else None


def _with_image(x: Any, img: Any) -> Any:
    """``x`` with ``img`` in place of its image (``_input_image``), the rest kept."""
    import copy

    if _input_image(x) is x:
        return img
    if isinstance(x, dict):
        return {**x, "images": img}
    out = copy.deepcopy(x)
    for m in out:
        for p in m["content"]:
            if isinstance(p, dict) and p.get("type") == "image":
                p["image"] = img
    return out


def _more_tasks() -> None:
    """Task specifications kept in ``pipeline_tasks_more`` (tasks added after the first set)."""
    from . import pipeline_tasks_more

    TASKS.update(pipeline_tasks_more.TASKS)


_more_tasks()
