"""Model invariants: properties every model of a kind has, whatever its weights.

The self-consistency checks (``_checks``) compare a model with itself (two passes, a batch and
its rows, before and after a save). These compare a model with what its *kind* promises, so they
catch regressions a model can be perfectly consistent about:

causality(case, cls)
    A causal text stack's output at position i depends on tokens 0..i only. Tokens at positions
    >= t are replaced by other plain tokens; every per-position output at positions < t must be
    unchanged (``CAUSALITY``), and some output at positions >= t must change (else nothing was
    compared). Applies to classes of a causal-LM task (``causal_lm``, ``image_text_to_text``,
    ``multimodal_lm``, ``causal_image_modeling``), classes whose text config has
    ``is_decoder=True``, the other classes of a type with such a class unless their config says
    ``is_decoder=False``, and the decoder of an encoder-decoder (perturbing
    ``decoder_input_ids``). A causal-LM class whose config has ``is_decoder=False`` (BERT-style
    encoders with an LM head) is rebuilt with ``is_decoder=True``, the setting its LM head
    documents for standalone decoding.
chunked_prefill(case, cls)
    Classes whose forward takes a cache: the prompt run as a prefix (``use_cache=True``) and then
    the rest with the returned cache (the model derives positions from the cache itself, as in
    assisted decoding; the raw image/audio inputs go with the first chunk only, as ``generate``
    does) gives, at every position, the logits / hidden states of one full forward
    (``CHUNKED_PREFILL``). Both chunks hold at least two tokens: a cache that only works one
    token at a time fails.
position_sensitivity(case, cls)
    The tokens at two earlier positions p1 < p2 are swapped (a b -> b a); every output at a
    position j > p2 (or, for an encoder-decoder, the decoder's outputs) must change for some j
    by more than ``POSITION``. Without positional information, attention is a function of the
    *set* of keys and values it sees (causal or not), layer norms and MLPs act per position, so
    those outputs would be identical: the test holds for absolute (learned, sinusoidal),
    rotary, ALiBi and relative-bias positions alike, and for recurrent / convolutional mixing,
    which is order-dependent by construction. (Repeating one token along the sequence, the
    naive alternative, proves nothing for rotary, ALiBi or relative-bias models: with identical
    values every attention average is the same vector, whatever the position-dependent weights.)
    Every other per-position input (``token_type_ids``, per-token features; position ids aside)
    holds the same value at p1 and p2, so the tokens are all the swap moves. A multiple-choice
    head's (batch, choices, length) ids are swapped along the last axis in every row and choice;
    its forward flattens the choices into the batch, so its outputs have batch x choices rows.
weight_tying(case, cls)
    The output embeddings (``get_output_embeddings()``) share storage with the input embeddings of
    the model that owns them (the innermost ``PreTrainedModel`` holding the LM head, whose config
    is what Transformers reads) exactly when that config's ``tie_word_embeddings`` is true
    (absent: false, Transformers' reading). For a composite model whose LM head sits on the
    composite itself, the text sub-config (``get_text_config(decoder=True)``) must not say
    otherwise. Checked after construction and after ``save_pretrained`` (safetensors) /
    ``from_pretrained``, where the reloaded head must also hold the saved values.

Numerics: the forward-based checks run on a float64 copy of the model (``model.double()``,
floating inputs cast) so tolerances can be tight; a model that cannot run in float64 (a kernel
or an explicit dtype of its own) is checked in float32 with the float32 tolerances. Both are in
``hftestgen.checks.tolerances`` with their reasons.
"""

from __future__ import annotations

import copy
import functools
import re
import tempfile
from collections.abc import Callable
from typing import Any

import pytest
import torch

from ..configs import is_config, special_ids_with_aliases, text_config
from . import _support as S
from . import tolerances as tol
from ._support import (
    close,
    describe,
    diff,
    fail,
    floating,
    forward_params,
    get_built,
    get_forward_model,
    make_inputs,
    run,
    tensors,
)
from ._support import precise as _precise
from .case import Case
from .skips import not_applicable, not_covered

# Tasks whose classes run a causal text stack (decoder-only generation).
CAUSAL_TASKS = frozenset(
    {"causal_lm", "image_text_to_text", "multimodal_lm", "causal_image_modeling"}
)
# Names a forward takes its KV cache / recurrent state under, newest first.
CACHE_ARGS = ("cache", "past_key_values", "cache_params", "mems", "state", "past_buckets_states")
# Raw multimodal inputs ``generate`` passes with the prompt only (fallback where Transformers
# does not export its own list).
FIRST_CHUNK_ONLY = (
    "pixel_values",
    "pixel_values_videos",
    "pixel_mask",
    "input_features",
    "input_features_mask",
    "input_values",
    "image_sizes",
    "pixel_attention_mask",
    "image_patches",  # 4.x Fuyu's pixels (FuyuForCausalLM.prepare_inputs_for_generation)
    "image_patches_indices",
)


# ----------------------------------------------------------------------------------------
# shared helpers


def _first_chunk_only() -> tuple[str, ...]:
    try:
        from transformers.generation.utils import MULTIMODAL_INPUTS_TO_DROP_OUTSIDE_PREFILL as keys
    except ImportError:  # pragma: no cover - older Transformers
        return FIRST_CHUNK_ONLY
    return tuple(dict.fromkeys((*keys, *FIRST_CHUNK_ONLY)))


# Per-position inputs that mark image/audio/video slots in the token sequence.
MODALITY_SLOTS = re.compile(r"(image|video|audio|vision|mm).*(mask|type_ids)$")


def _unpadded(inputs: dict[str, Any], key: str, mask_key: str, plain: int) -> dict[str, Any]:
    """``inputs`` with the mask of ``key`` all ones and its masked slots holding a plain token."""
    out = dict(inputs)
    ids, mask = out.get(key), out.get(mask_key)
    if isinstance(mask, torch.Tensor) and isinstance(ids, torch.Tensor) and mask.shape == ids.shape:
        if not bool(mask.all()):
            ids = ids.clone()
            ids[mask == 0] = plain
            out[key] = ids
        out[mask_key] = torch.ones_like(mask)
    return out


def _seq_axis(t: torch.Tensor, rows: int, length: int) -> int | None:
    """The axis of ``length`` positions after the batch axis (the first of ``rows``: leading in
    most outputs, second in Gemma 3n's stacked altup states), None: not per-position."""
    batch = next((d for d in range(min(t.ndim - 1, 2)) if t.shape[d] == rows), None)
    if batch is None:
        return None
    return next((d for d in range(batch + 1, t.ndim) if t.shape[d] == length), None)


class _Tokens:
    """The token sequence a check varies: ``inputs[key]`` (2-D), its plain (non-special)
    positions and the plain token ids it holds.

    With ``choices`` a multiple-choice head's (batch, choices, length) ids are taken too: its
    forward flattens the choices into the batch, so its per-position outputs have
    batch x choices rows (``rows``) and every token edit goes along the last axis (``ids[...,
    p]``); masks and modality markers of the same shape are read the same way."""

    def __init__(self, case: Case, built: Any, key: str, *, choices: bool = False) -> None:
        self.key = key
        self.mask_key = "decoder_attention_mask" if key.startswith("decoder_") else "attention_mask"
        inputs = make_inputs(case, built)
        ids = inputs.get(key)
        src = inputs.get("input_ids")
        if (
            ids is None
            and key == "decoder_input_ids"
            and key in S.forward_params(built.model)
            and isinstance(src, torch.Tensor)
            and src.ndim == 2
        ):
            # rule *decoder tokens given where they are derived*: a class that would shift
            # input_ids into its decoder gets the same tokens explicitly, so they vary without
            # moving the encoder's input
            inputs = dict(inputs, decoder_input_ids=src.clone())
            ids = inputs[key]
        ndims = (2, 3) if choices and "multiple_choice" in built.tasks else (2,)
        if not isinstance(ids, torch.Tensor) or ids.ndim not in ndims or ids.is_floating_point():
            got = "none" if ids is None else f"shape {tuple(ids.shape)}"
            absent = ids is None and key not in S.forward_params(built.model)  # takes no tokens
            (not_applicable if absent else not_covered)(
                f"no 2-D token sequence {key} in the inputs ({got})"
            )
        specials = special_ids_with_aliases(built.config)
        mask = inputs.get(self.mask_key)
        real = torch.ones_like(ids, dtype=torch.bool)
        if isinstance(mask, torch.Tensor) and mask.shape == ids.shape:
            real = mask.bool()
        vals = sorted({int(v) for v in ids[real].flatten().tolist()} - specials)
        if len(vals) < 2:
            not_covered(f"{key} holds fewer than 2 distinct plain (non-special) tokens: {vals}")
        self.plain_ids = vals
        self.inputs = _unpadded(inputs, key, self.mask_key, vals[0])
        ids = self.inputs[key]
        self.length = ids.shape[-1]
        flat = ids.reshape(-1, self.length)
        self.rows = flat.shape[0]
        # positions holding a plain token in every row (placeholders, BOS/EOS ... stay put),
        # and no multimodal slot marked by a per-position input (``mm_token_type_ids`` != 0,
        # Kosmos-2's ``image_embeds_position_mask``)
        plain_col = ~torch.isin(flat, torch.tensor(sorted(specials) or [-1])).any(0)
        for name, v in self.inputs.items():
            if MODALITY_SLOTS.search(name) and isinstance(v, torch.Tensor) and v.shape == ids.shape:
                plain_col &= ~(v.reshape(-1, self.length) != 0).any(0)
        self.plain_positions = [int(i) for i in torch.nonzero(plain_col).flatten()]

    @property
    def ids(self) -> torch.Tensor:
        return self.inputs[self.key]

    @property
    def flat(self) -> torch.Tensor:
        """The ids as ``rows`` x ``length`` (the ids themselves when 2-D)."""
        return self.ids.reshape(-1, self.length)

    def other(self, token: int, shift: int = 1) -> int:
        """A plain token other than ``token``."""
        vals = self.plain_ids
        i = vals.index(token) if token in vals else 0
        return vals[(i + shift) % len(vals)]

    def levelled(self, p1: int, p2: int) -> dict[str, Any]:
        """The inputs with every other per-position input (one of the ids' shape: segment ids,
        per-token features), position ids aside, holding at ``p2`` what it holds at ``p1``: then
        the tokens are all that differs between the two positions, and swapping them swaps
        everything a position-free model sees there (random ``token_type_ids`` would otherwise
        carry the order)."""
        out = dict(self.inputs)
        for name, v in self.inputs.items():
            if name == self.key or "position" in name:
                continue
            if isinstance(v, torch.Tensor) and v.shape == self.ids.shape:
                v = v.clone()
                v[..., p2] = v[..., p1]
                out[name] = v
        return out

    def replaced(self, positions: list[int]) -> dict[str, Any]:
        """The inputs with every token at ``positions`` replaced by another plain token."""
        ids = self.ids.clone()
        rows = ids.view(-1, self.length)  # a view: edits land in ``ids``
        for p in positions:
            for r in range(self.rows):
                rows[r, p] = self.other(int(rows[r, p]), shift=1 + r)
        return dict(self.inputs, **{self.key: ids})


def _prefill_step_kwargs(model: Any, first: bool, start: int, end: int) -> dict[str, Any]:
    """What ``generate`` gives ``prepare_inputs_for_generation`` for one prefill chunk, by what
    the installed version's ``GenerationMixin`` (what ``generate`` calls it with) or the model's
    own override takes (feature detection): ``is_first_iteration`` (Transformers 5; passed
    through ``**kwargs`` it would reach a 4.x forward that rejects it) and ``cache_position``
    (4.x: the chunk's absolute positions, which it slices the ids by)."""
    import inspect

    from transformers.generation.utils import GenerationMixin

    params: set[str] = set()
    for fn in (GenerationMixin.prepare_inputs_for_generation, model.prepare_inputs_for_generation):
        try:
            params |= set(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            pass
    kw: dict[str, Any] = {}
    if "is_first_iteration" in params:
        kw["is_first_iteration"] = first
    if "cache_position" in params:
        kw["cache_position"] = torch.arange(start, end)
    return kw


def _generate_keeps_all_ones_mask() -> bool:
    """Whether the installed ``generate`` hands each prefill chunk the attention mask even when
    it is all ones (feature detection). Transformers 4.x does: ``_prepare_attention_mask_for_
    generation`` makes an all-ones mask and ``GenerationMixin._prefill_chunking`` slices it up to
    each chunk's end. 5.x drops an all-ones mask before the prefill (``GenerationMixin._prefill``,
    which replaced ``_prefill_chunking``), so its chunks go without one."""
    from transformers.generation.utils import GenerationMixin

    return callable(getattr(GenerationMixin, "_prefill_chunking", None))


# Per-position inputs 4.x ``GenerationMixin.prepare_inputs_for_generation`` cuts to the chunk
# (its "Slice model inputs if it's an input that should have the same length as `input_ids`").
CUT_TO_THE_CHUNK = ("position_ids", "token_type_ids", "decoder_position_ids")


def _kept_whole(name: str, placed: bool) -> bool:
    """Whether a per-position input other than the ids goes to a later chunk whole, over every
    position so far. Where the forward places the chunk by ``cache_position`` (4.x) it is what
    ``generate`` gives it: the generic ``prepare_inputs_for_generation`` cuts only
    ``CUT_TO_THE_CHUNK`` to the chunk and passes the others as kept (4.57 MllamaModel.forward
    indexes ``cross_attention_mask[:, :, cache_position]``). Without ``cache_position`` (5.x)
    the forward has no absolute place for the chunk: every per-position input is cut to it."""
    return placed and name not in CUT_TO_THE_CHUNK


def _with_hidden_states(model: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """Ask for per-layer hidden states where the forward takes ``output_hidden_states`` (pooled
    heads then still have per-position outputs)."""
    params = forward_params(model)
    if "output_hidden_states" in params or "kwargs" in params:
        return dict(inputs, output_hidden_states=True)
    return inputs


def _run_all(model: Any, inputs: dict[str, Any]) -> Any:
    """One forward with per-layer hidden states where the forward gives them."""
    wanted = _with_hidden_states(model, inputs)
    try:
        return run(model, wanted)
    except TypeError:
        if wanted is inputs:
            raise
        return run(model, inputs)  # a forward that rejects output_hidden_states after all


def _outputs(
    model: Any, inputs: dict[str, Any], precision: str, *, integers: bool = True
) -> dict[str, torch.Tensor]:
    """The outputs of one forward (integer and boolean ones too, compared exactly, unless
    ``integers`` is false), without NaNs (``_support.finite``)."""
    ts = tensors(_run_all(model, inputs))
    return S.finite(ts if integers else floating(ts), precision)


def _unique(objs: list[Any]) -> list[Any]:
    """``objs`` without repeats by identity (configs are unhashable)."""
    out: list[Any] = []
    for o in objs:
        if not any(o is x for x in out):
            out.append(o)
    return out


def _encdec(config: Any) -> bool:
    return bool(
        getattr(config, "is_encoder_decoder", False)
        or getattr(text_config(config), "is_encoder_decoder", False)
    )


# ----------------------------------------------------------------------------------------
# causality


# Config switches that select causal or bidirectional attention for the same classes:
# (attribute, causal value, bidirectional value). ``use_bidirectional_attention`` (Gemma's
# embedding variants) only says "bidirectional" when true; its default proves nothing.
CAUSAL_SWITCHES = (
    ("is_decoder", True, False),  # BERT-style stacks, BLIP text, Reformer, ...
    ("causal", True, False),  # XLM, FlauBERT (CLM vs. MLM)
    ("attn_type", "uni", "bi"),  # XLNet
    # Gemma / Gemma 2 / Gemma 3: true in embedding variants and PaliGemma's prefix-LM, a
    # design without a causal mode to check (None)
    ("use_bidirectional_attention", None, True),
)


@functools.cache
def _module_reads(module: str, name: str) -> bool:
    """Whether the source of ``module`` reads ``name`` (``.name`` or a quoted key)."""
    import inspect
    import sys

    try:
        source = inspect.getsource(sys.modules[module])
    except (KeyError, OSError, TypeError):
        return False
    return re.search(rf"[.'\"]{re.escape(name)}\b", source) is not None


def _code_reads(model: Any, name: str) -> bool:
    """Whether the code of any class in ``model`` (its submodules' too) reads ``name``."""
    modules = {type(m).__module__ for m in model.modules()} if hasattr(model, "modules") else ()
    return any(_module_reads(mod, name) for mod in sorted(modules))


def _switches(config: Any, model: Any = None) -> list[tuple[str, Any, Any, Any]]:
    """(name, value, causal value, bidirectional value) of the switches the text config sets
    and the model's code reads. Rule *a switch the code never reads says nothing*: Transformers
    4.x gives every config ``is_decoder=False`` (a ``PretrainedConfig`` default, gone in 5.x),
    which Llama's code never reads; only where the modeling code names the switch (``.name``
    or a quoted key) does its value select the attention (feature detection on the installed
    source)."""
    out = []
    for cfg in _unique([text_config(config), config]):
        for name, causal, bidi in CAUSAL_SWITCHES:
            if name in {n for n, *_ in out}:
                continue
            if model is not None and not _code_reads(model, name):
                continue
            v = getattr(cfg, name, None)
            if v is not None and v in (causal, bidi):
                out.append((name, v, causal, bidi))
    return out


def _causal_reason(case: Case, built: Any) -> tuple[str, dict[str, Any]]:
    """(token key, config values to rebuild the class with) of a causal stack, else a skip
    naming why the class has none. Decided from the registry's tasks and the config, never the
    model type."""
    config = built.config
    cls = built.class_name
    tasks = set(getattr(built, "tasks", ()) or case.tasks_of(cls))
    if _encdec(config):
        if "decoder_input_ids" in make_inputs(case, built):
            return "decoder_input_ids", {}
        if "decoder_input_ids" in forward_params(built.model):
            # rule *decoder tokens given where they are derived*: the class would shift
            # input_ids into its decoder (BART-style heads); ``_Tokens`` gives them explicitly
            return "decoder_input_ids", {}
        not_applicable(
            f"{cls}: encoder-decoder that takes no decoder_input_ids (its decoder inputs derive "
            "from input_ids, which the bidirectional encoder reads)"
        )
    if is_config(getattr(config, "encoder", None)) and is_config(getattr(config, "decoder", None)):
        not_applicable(f"{cls} runs the (bidirectional) encoder of an encoder-decoder config")
    switches = _switches(config, built.model)
    bidi = [(n, v, c) for n, v, c, b in switches if v == b]
    causal_task = sorted(tasks & CAUSAL_TASKS)
    if causal_task and all(c is not None for _, _, c in bidi):
        # an LM head in bidirectional mode (BERT's LM head without is_decoder, XLM's MLM mode):
        # check the causal mode its config offers
        return "input_ids", {n: c for n, v, c in bidi}
    if any(v == c for n, v, c, b in switches if c is not None):
        return "input_ids", {}
    type_causal = sorted({t for t in case.classes if t in CAUSAL_TASKS})
    if type_causal and not bidi:
        return "input_ids", {}
    if bidi:
        why = ", ".join(f"config.{n}={v!r}" for n, v, _ in bidi) + " (bidirectional attention)"
    else:
        why = (
            f"neither it nor its type has a class in a causal-LM task "
            f"({', '.join(sorted(CAUSAL_TASKS))}) and no config switch says causal"
        )
    not_applicable(f"{cls}: no causal text stack: {why}")


def _rebuilt(built: Any, values: dict[str, Any]) -> Any:
    """The class rebuilt from its tiny config with ``values`` set (on the text config and on
    the config where it has them), seed 0, eval mode."""
    cfg = copy.deepcopy(built.config)
    for c in _unique([text_config(cfg), cfg]):
        for n, v in values.items():
            if hasattr(c, n):
                setattr(c, n, v)
    S.seed_all(0)
    return type(built.model)(cfg).eval()


def _causal_stack(case: Case, built: Any) -> tuple[str, Any, str]:
    """(token key, the model to check, a note for messages) of a causal stack, else a skip."""
    key, values = _causal_reason(case, built)
    if not values:
        return key, built.model, ""
    note = ", ".join(f"{n}={v!r}" for n, v in values.items())
    return key, _rebuilt(built, values), f" (rebuilt with {note})"


def _forward_switch(model: Any) -> dict[str, Any]:
    """A forward that takes ``is_decoder`` itself (BLIP's dual-mode text model, default
    False): run it as the decoder its config declares."""
    if "is_decoder" in forward_params(model) and getattr(model.config, "is_decoder", None):
        return {"is_decoder": True}
    return {}


def causality(case: Case, model_class: str | None) -> None:
    """Changing later tokens leaves the outputs at earlier positions unchanged.

    Tokens at the later plain positions t..L-2 are replaced; the last position keeps its token,
    so a change of its output proves that tokens reach later positions at all (a model that
    does not mix positions, e.g. zero-initialised attention outputs, cannot show a leak: skip).
    """
    built = get_forward_model(case, model_class)
    key, model, rebuilt = _causal_stack(case, built)
    tokens = _Tokens(case, built, key)
    L = tokens.length
    plain = [p for p in tokens.plain_positions if p < L - 1]
    if len(plain) < 2:
        not_covered(f"fewer than 2 plain token positions before the last in {key} ({plain})")
    t = plain[len(plain) // 2]  # first changed position; earlier ones are compared
    later = [p for p in plain if p >= t]
    extra = _forward_switch(model)

    def body(m: Any, cast: Callable[[dict], dict], precision: str) -> None:
        t_ = tol.CAUSALITY[precision]
        a = _outputs(m, cast(dict(tokens.inputs, **extra)), precision)
        b = _outputs(m, cast(dict(tokens.replaced(later), **extra)), precision)
        cmp, mixed = S.Comparison("causality", precision), 0
        for name, x in a.items():
            y = b.get(name)
            d = _seq_axis(x, tokens.rows, L)
            if y is None or d is None or y.shape != x.shape:
                continue
            cmp.close(name, x.narrow(d, 0, t), y.narrow(d, 0, t), t_)
            if not close(x.narrow(d, L - 1, 1), y.narrow(d, L - 1, 1), t_):
                mixed += 1
        if not cmp:
            not_covered(f"no per-position output over the {L} {key} positions ({describe(a)})")
        cmp.bad.sort()
        cmp.verdict(
            f"{model_class}{rebuilt}: changing {key} at positions {later[0]}..{later[-1]} "
            f"changes outputs at earlier positions, a leak of the future into the past "
            f"({S.precision_note(precision)}, atol={t_.atol}, rtol={t_.rtol})"
        )
        if not mixed:
            not_covered(
                f"{model_class}{rebuilt}: changing {key} at positions {later[0]}..{later[-1]} "
                f"leaves the output at the last position {L - 1} unchanged too: tokens do not "
                "reach later positions in this tiny model, so a leak could not show"
            )

    _precise(model, body)


# ----------------------------------------------------------------------------------------
# chunked prefill


def _cache_of(out: Any) -> Any:
    for name in CACHE_ARGS:
        c = out.get(name) if isinstance(out, dict) else getattr(out, name, None)
        if c is not None:
            return c
    return None


def _dynamic_cache(model: Any) -> Any:
    """A fresh ``DynamicCache`` for the model's text config (what ``generate`` hands a forward
    that does not make its own), or None where Transformers has none to offer."""
    try:
        from transformers import DynamicCache
    except ImportError:
        return None
    for with_config in (True, False):
        try:
            return DynamicCache(config=text_config(model.config)) if with_config else DynamicCache()
        except TypeError:  # Transformers before 4.56: DynamicCache() takes no config
            continue
        except Exception:
            return None
    return None


def _own_cache_classes(model: Any) -> list[type]:
    """Cache classes the model's modeling module defines itself (named ``...Cache``): what its
    own ``prepare_inputs_for_generation`` / forward builds where a ``DynamicCache`` cannot hold
    its state (4.x hybrid Mamba / linear-attention stacks: ``HybridMambaAttentionDynamicCache``,
    ``ZambaHybridDynamicCache``, ``Qwen3NextDynamicCache``; MiniMax's ``MiniMaxCache``). The one
    the forward's cache parameter names (its annotation) comes first."""
    import inspect
    import sys

    module = sys.modules.get(type(model).__module__)
    if module is None:
        return []
    own = [
        c
        for n, c in vars(module).items()
        if inspect.isclass(c) and n.endswith("Cache") and c.__module__ == module.__name__
    ]
    named = ""
    try:
        params = inspect.signature(type(model).forward).parameters
        arg = next((params[n] for n in CACHE_ARGS if n in params), None)
        named = str(arg.annotation) if arg is not None else ""
    except (TypeError, ValueError):
        pass
    return sorted(own, key=lambda c: f"{c.__module__}.{c.__qualname__}" not in named)


def _own_cache(model: Any, cls: type, batch: int) -> Any:
    """``cls`` built for this model and batch, its constructor's parameters filled by name
    (rule 'a model's own cache'): ``config`` the text config, ``batch_size`` /
    ``max_batch_size`` the batch, ``dtype`` / ``device`` the model's, ``devices`` the model's
    device per layer (4.57 FalconHybridMambaAttentionDynamicCache). None where a parameter
    without a default is none of these, or the constructor fails."""
    import inspect

    cfg = text_config(model.config)
    p0 = next(iter(model.parameters()), None)
    dtype = p0.dtype if p0 is not None else torch.get_default_dtype()
    device = p0.device if p0 is not None else torch.device("cpu")
    layers = getattr(cfg, "num_hidden_layers", None)
    given = {
        "config": cfg,
        "batch_size": batch,
        "max_batch_size": batch,
        "dtype": dtype,
        "device": device,
        "devices": [device] * layers if isinstance(layers, int) else None,
    }
    kw: dict[str, Any] = {}
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if given.get(p.name) is not None:
            kw[p.name] = given[p.name]
        elif p.default is p.empty:
            return None
    try:
        return cls(**kw)
    except Exception:
        return None


def _given_caches(model: Any, batch: int) -> list[Any]:
    """Fresh caches to hand a forward that returns none of its own (``generate`` always hands
    one): the model's own cache classes first (``_own_cache_classes``; a ``DynamicCache`` a
    hybrid stack accepted would hold its attention layers only), then a ``DynamicCache``."""
    out = [_own_cache(model, c, batch) for c in _own_cache_classes(model)]
    return [c for c in (*out, _dynamic_cache(model)) if c is not None]


def _filled(cache: Any) -> bool:
    """Whether a cache handed to a forward now holds positions."""
    try:
        return int(cache.get_seq_length()) > 0
    except Exception:
        return False


def _unbuildable_dynamic_cache(model: Any) -> Exception | None:
    """The error ``DynamicCache(config=<text config>)`` raises for this model other than a
    signature mismatch (rule 'the cache generate hands cannot be built'): the cache ``generate``
    builds for a forward that makes none of its own (4.x ``GenerationMixin._prepare_cache_for_
    generation``) fails, an upstream bug rather than a gap of the check (4.57 BltConfig has no
    ``num_hidden_layers``). None where it builds, or the model has no config."""
    try:
        from transformers import DynamicCache

        cfg = text_config(model.config)
    except Exception:
        return None
    try:
        DynamicCache(config=cfg)
    except TypeError:  # Transformers before 4.56: DynamicCache() takes no config
        return None
    except Exception as e:
        return e
    return None


def _generates(model: Any, encdec: bool) -> bool:
    """Decoder-only classes that generate: their continuation inputs come from the model's own
    ``prepare_inputs_for_generation`` (positions, multimodal inputs, cache-type quirks)."""
    can = getattr(model, "can_generate", None)
    return (
        not encdec
        and callable(getattr(model, "prepare_inputs_for_generation", None))
        and callable(can)
        and bool(can())
    )


class _ChunkCut(Exception):
    """``prepare_inputs_for_generation`` handed the forward fewer tokens than the continuation
    chunk it was given (``given`` -> ``kept``)."""

    def __init__(self, given: int, kept: int) -> None:
        super().__init__(f"{given} -> {kept}")
        self.given, self.kept = given, kept


def _steps_one_token(model: Any) -> bool:
    """Whether ``generate`` never hands this model a multi-token chunk after its cache (rule
    'stateful models are continued through forward'): Transformers marks recurrent-state models
    ``_is_stateful``; 4.x ``generate`` refuses assisted decoding for them (``GenerationMixin.
    _validate_assistant``: 'not supported with stateful models') and its prefill chunking needs a
    ``past_key_values`` cache they do not keep (``_prefill_chunking``), so their own
    ``prepare_inputs_for_generation`` keeps only the last token once a state exists (4.57
    Mamba / FalconMamba / Mamba2 / RWKV / xLSTM). Only asked once that override cut a chunk."""
    return bool(getattr(model, "_is_stateful", False))


def chunked_prefill(case: Case, model_class: str | None) -> None:
    """Two multi-token chunks through the cache == one full forward, at every position.

    Decoder-only classes that generate are driven the way ``generate`` drives them: the first
    chunk as a prefill and the second as a multi-token continuation (assisted decoding's
    verification step), both through ``prepare_inputs_for_generation`` with the attention mask
    over everything seen so far. Other classes (base models, heads, encoder-decoders) through
    ``forward``: the first chunk with ``use_cache=True``, the second with the returned cache (no
    padding, so no mask: the model places the chunk after the cached positions itself).
    """
    built = get_forward_model(case, model_class)
    params = forward_params(built.model)
    cache_arg = next((n for n in CACHE_ARGS if n in params), None)
    if cache_arg is None:
        not_applicable(f"{model_class}.forward takes no cache ({', '.join(CACHE_ARGS)})")
    # a cache only makes sense for a causal stack: a bidirectional prefix changes with the rest
    key, model, rebuilt = _causal_stack(case, built)
    encdec = key == "decoder_input_ids"
    tokens = _Tokens(case, built, key)
    L = tokens.length
    specials = [p for p in range(L) if p not in set(tokens.plain_positions)]
    k = max(L // 2, (max(specials) + 1) if specials else 0)
    if k < 2 or L - k < 2:
        not_covered(
            f"{key} of length {L} (non-plain positions {specials}) cannot be split into two "
            "chunks of >= 2 tokens with every placeholder in the first"
        )
    B = tokens.rows
    extra = _forward_switch(model)
    generative = _generates(model, encdec)
    via = "prepare_inputs_for_generation" if generative else "forward"

    def per_position(n: str, v: Any) -> bool:
        side = n.startswith("decoder_") if encdec else True
        return side and isinstance(v, torch.Tensor) and v.ndim >= 2 and tuple(v.shape[:2]) == (B, L)

    placed = "cache_position" in params

    def by_forward(m: Any, full: dict[str, Any], cache0: Any) -> tuple[Any, Callable[[Any], Any]]:
        one, two = {}, {}
        first_only = set(_first_chunk_only())
        for n, v in full.items():
            if per_position(n, v):
                one[n] = v[:, :k]
                if n != tokens.mask_key:  # all ones: the second chunk goes without a mask
                    two[n] = v[:, k:] if n == key or not _kept_whole(n, placed) else v
            else:
                one[n] = v
                if encdec or n not in first_only:
                    two[n] = v
        if "use_cache" in params:
            one["use_cache"] = two["use_cache"] = True
        if placed:
            # 4.x: what ``generate`` gives each chunk; some forwards (4.x Mamba) refuse a
            # cache without it, the others derive the same positions from the cache
            one["cache_position"] = torch.arange(0, k)
            two["cache_position"] = torch.arange(k, L)
        if cache0 is not None:
            one[cache_arg] = cache0
        return _run_all(m, one), lambda cache: _run_all(m, dict(two, **{cache_arg: cache}))

    def by_generation(
        m: Any, full: dict[str, Any], cache0: Any
    ) -> tuple[Any, Callable[[Any], Any]]:
        # As ``generate`` prepares a prompt: position ids for the whole prompt from the model's
        # own ``_prepare_position_ids_for_generation`` (M-RoPE models build 3-D ones there),
        # then the all-ones mask dropped; each chunk takes its slice of the position ids and
        # the token types up to its end (``GenerationMixin._prefill``). Where ``generate``
        # keeps an all-ones mask (4.x ``_prefill_chunking``), each chunk gets it up to its end
        # and ``prepare_inputs_for_generation`` derives the position ids from it.
        ids, mask = full[key], full.get(tokens.mask_key)
        rest = {n: v for n, v in full.items() if n not in (key, tokens.mask_key, "position_ids")}
        positions = None
        prepare_positions = getattr(m, "_prepare_position_ids_for_generation", None)
        if "position_ids" in params and callable(prepare_positions):
            seen = dict(rest, attention_mask=mask if mask is not None else torch.ones_like(ids))
            positions = prepare_positions(ids, seen)

        seen_mask = None
        if _generate_keeps_all_ones_mask() and tokens.mask_key in params:
            seen_mask = mask if mask is not None else torch.ones_like(ids)

        def step(chunk: Any, cache: Any, start: int, end: int, first: bool) -> Any:
            kw = {n: v[:, :end] if per_position(n, v) else v for n, v in rest.items()}
            if positions is not None:
                kw["position_ids"] = positions[..., start:end]
            if seen_mask is not None:
                kw[tokens.mask_key] = seen_mask[:, :end]
            kw[cache_arg] = cache
            kw.update(_prefill_step_kwargs(m, first, start, end))
            inputs = m.prepare_inputs_for_generation(chunk, use_cache=True, **kw)
            kept = inputs.get(key)
            cut = isinstance(kept, torch.Tensor) and kept.shape[-1] < chunk.shape[-1]
            if cut and not first and not cut_seen:
                raise _ChunkCut(chunk.shape[-1], kept.shape[-1])
            return _run_all(m, inputs)

        return (
            step(ids[:, :k], cache0, 0, k, True),
            lambda cache: step(ids[:, k:], cache, k, L, False),
        )

    cut_seen = False

    def body(m: Any, cast: Callable[[dict], dict], precision: str) -> None:
        nonlocal via, cut_seen
        full_in = cast(dict(tokens.inputs, **extra))
        full = _outputs(m, full_in, precision)
        if not generative:
            return compare(m, full_in, full, by_forward, precision)
        try:
            return compare(m, full_in, full, by_generation, precision)
        except _ChunkCut as cut:
            if _steps_one_token(m):
                via = "forward"  # generate continues a stateful model one token at a time
                return compare(m, full_in, full, by_forward, precision)
            if cache_arg in ("cache", "past_key_values"):  # what generate's prefill fills
                fail(
                    f"{model_class}{rebuilt}: prepare_inputs_for_generation cut the {cut.given}-"
                    f"token continuation chunk after a cache of {k} to {cut.kept} token(s): the "
                    "rest of the chunk never reaches the cache (generate's prefill chunking "
                    "hands each chunk alone)"
                )
            cut_seen = True  # a cache of its own kind (Reformer): compared as it comes
            return compare(m, full_in, full, by_generation, precision)

    def compare(
        m: Any, full_in: dict[str, Any], full: dict[str, Any], path: Callable, precision: str
    ) -> None:
        t_ = tol.CHUNKED_PREFILL[precision]
        out1, second = path(m, full_in, None)
        cache = _cache_of(out1)
        if cache is None and cache_arg in ("cache", "past_key_values") and not encdec:
            # a forward that only fills a cache it is given (generate always gives one; 4.x
            # heads such as LlamaForTokenClassification drop the cache from their outputs)
            for fresh in _given_caches(m, B):
                try:
                    out1, second = path(m, full_in, fresh)
                except Exception:  # a cache type the forward does not take
                    continue
                cache = _cache_of(out1) or (fresh if _filled(fresh) else None)
                if cache is not None:
                    break
        if cache is None and cache_arg in ("cache", "past_key_values") and not encdec:
            err = _unbuildable_dynamic_cache(m)
            if err is not None:
                raise err
        if cache is None:
            own = "".join(f"{c.__name__} / " for c in _own_cache_classes(m))
            not_covered(
                f"{model_class}{rebuilt} returned no cache ({'/'.join(CACHE_ARGS)}) with "
                f"use_cache=True, nor filled a cache it was given ({own}DynamicCache)"
            )
        out2 = second(cache)
        a, b = S.finite(tensors(out1), precision), S.finite(tensors(out2), precision)
        cmp = S.Comparison("chunked_prefill", precision)
        for name, x in full.items():
            y1, y2 = a.get(name), b.get(name)
            if y1 is None or y2 is None or x.ndim < 2 or x.shape[0] != B or x.shape[1] != L:
                continue
            if y1.shape[1:2] != (k,) or y2.shape[1:2] != (L - k,):
                continue
            y = torch.cat([y1, y2], dim=1)
            if y.shape != x.shape:
                continue
            if not cmp.close(name, x, y, t_) and x.shape == y.shape:
                worst = (x.double() - y.double()).abs().transpose(0, 1).reshape(L, -1).amax(-1)
                at = [i for i, v in enumerate(worst.tolist()) if v > t_.atol]
                cmp.bad[-1] += f" (positions {at})"
        if not cmp:
            not_covered(
                f"no per-position output of the full forward ({describe(full)}) is split "
                f"{k} + {L - k} by the chunks ({describe(a)} / {describe(b)})"
            )
        cmp.bad.sort()
        cmp.verdict(
            f"{model_class}{rebuilt}: prefill in chunks of {k} + {L - k} tokens through the "
            f"cache ({via}) differs from one forward ({S.precision_note(precision)}, "
            f"atol={t_.atol}, rtol={t_.rtol})"
        )

    _precise(model, body)


# ----------------------------------------------------------------------------------------
# position sensitivity


_LAYER = re.compile(r"(.*hidden_states)\.(\d+)")


def _runs_causal(case: Case, built: Any) -> bool:
    """Whether the class, as built, runs its input_ids through a causal stack."""
    try:
        key, values = _causal_reason(case, built)
    except pytest.skip.Exception:
        return False
    return key == "input_ids" and not values


def position_sensitivity(case: Case, model_class: str | None) -> None:
    """Swapping two earlier tokens changes outputs at later positions, where a model without
    positional information would leave them unchanged.

    Without positions every attention is a function of the *set* of keys and values it sees, and
    everything else acts per position. At the first layer whose output at a later position j
    depends on the tokens at p1 < p2 < j at all ("mixing": changing the token at p1 changes it),
    a position-free model has seen each token only as itself, so swapping the tokens at p1 and
    p2 leaves that output unchanged: absolute, sinusoidal, rotary, ALiBi and relative-bias
    positions all change it, and so does a recurrence or a convolution. Deeper layers of a
    *causal* position-free model do see order (the mask makes p1's state differ from p2's), so
    the first mixing layer is read from the per-layer hidden states; without them, a
    bidirectional model is judged on its final outputs (position-free, every layer is
    swap-invariant) and a causal one is skipped.
    """
    built = get_forward_model(case, model_class)
    if _frame_positions(case, built, model_class):
        return  # a time series of audio frames, checked by repeating one frame
    tokens = _Tokens(case, built, "input_ids", choices=True)
    plain = tokens.plain_positions
    L = tokens.length
    if len(plain) < 2 or plain[1] >= L - 1:
        not_covered(f"input_ids have no two plain positions followed by another ({plain})")
    p1, p2 = plain[0], plain[1]
    a_tok = int(tokens.flat[0, p1])
    b_tok = tokens.other(a_tok)
    c_tok = tokens.other(a_tok, 2)

    level = tokens.levelled(p1, p2)

    def with_tokens(first: int, second: int) -> dict[str, Any]:
        ids = tokens.ids.clone()
        ids[..., p1], ids[..., p2] = first, second  # along the last axis: every row, choice
        return dict(level, input_ids=ids)

    ab, ba = with_tokens(a_tok, b_tok), with_tokens(b_tok, a_tok)
    cb = with_tokens(c_tok if c_tok != a_tok else b_tok, b_tok)  # p1 changed, not swapped
    # encoder-only classes of an encoder-decoder config (T5EncoderModel) have no decoder side
    encdec = _encdec(built.config) and "decoder_input_ids" in forward_params(built.model)
    dec = ab.get("decoder_input_ids")
    # An encoder-decoder's decoder outputs are compared whole when its decoder inputs are given
    # (they then do not move with the swap); derived from input_ids (shifted), they do move.
    dec_len = dec.shape[1] if encdec and isinstance(dec, torch.Tensor) and dec.ndim == 2 else None
    causal = _runs_causal(case, built)
    n_after = L - p2 - 1

    def later(name: str, x: torch.Tensor) -> torch.Tensor | None:
        """``x`` at the positions after p2 (whole for decoder outputs), None: not comparable."""
        if encdec and not name.startswith("encoder"):
            if dec_len is not None and _seq_axis(x, tokens.rows, dec_len) is not None:
                return x
            return None
        d = _seq_axis(x, tokens.rows, L)
        return None if d is None else x.narrow(d, p2 + 1, n_after)

    def moved(t_: Any, name: str, xs: dict, ys: dict, cmp: Any = None) -> bool | None:
        """Whether output ``name`` at the later positions differs between two runs beyond
        ``t_`` (None: not comparable); a swap comparison is recorded in ``cmp``."""
        x, y = xs.get(name), ys.get(name)
        if x is None or y is None or x.shape != y.shape:
            return None
        x, y = later(name, x), later(name, y)
        if x is None:
            return None
        return cmp.differs(name, x, y, t_) if cmp is not None else not close(x, y, t_)

    def body(m: Any, cast: Callable[[dict], dict], precision: str) -> None:
        t_ = tol.POSITION[precision]
        # an effect detector: floating outputs only (an integer output is no measure of size)
        xs = _outputs(m, cast(ab), precision, integers=False)
        ys = _outputs(m, cast(ba), precision, integers=False)
        zs = _outputs(m, cast(cb), precision, integers=False)
        cmp = S.Comparison("position_sensitivity", precision)
        layers: dict[str, list[tuple[int, str]]] = {}
        for name, x in xs.items():
            hit = _LAYER.fullmatch(name)
            if hit and _seq_axis(x, tokens.rows, L) is not None:
                layers.setdefault(hit.group(1), []).append((int(hit.group(2)), name))
        if layers:
            verdicts = []
            for stack, named in sorted(layers.items()):
                first = next((n for _, n in sorted(named) if moved(t_, n, xs, zs)), None)
                if first is not None:
                    verdicts.append((stack, first, bool(moved(t_, first, xs, ys, cmp))))
            if not verdicts:
                not_covered(
                    f"{model_class}: changing the token at position {p1} changes no layer's "
                    f"output at positions > {p2} ({precision}): tokens do not reach other "
                    "positions in this tiny model (e.g. zero-initialised attention outputs, "
                    "attention confined to each token), so positional information cannot be "
                    "observed"
                )
            blind = [
                f"{first} (first layer of {stack} to mix)"
                for stack, first, ok in verdicts
                if not ok
            ]
            if blind:
                cmp.flag(", ".join(blind))
            cmp.verdict(
                f"{model_class}: swapping the tokens at positions {p1} and {p2} leaves the "
                f"outputs at positions > {p2} of the first mixing layer unchanged "
                f"({S.precision_note(precision)}, atol={t_.atol}, rtol={t_.rtol}), though "
                f"changing the token at {p1} moves them: that layer sees the set of tokens, not "
                "their order (no positional information reaches it)"
            )
            return
        if causal:
            not_covered(
                f"{model_class} returns no per-layer hidden states over its {L} input_ids "
                f"positions ({describe(xs, 4)}): the first layer that mixes positions cannot be "
                "read, and past it a causal mask orders tokens even without positional information"
            )
        swapped = {n: moved(t_, n, xs, ys, cmp) for n in xs}
        compared = [n for n, v in swapped.items() if v is not None]
        if not compared:
            not_covered(f"no per-position output after position {p2} ({describe(xs)})")
        if any(swapped[n] for n in compared):
            cmp.verdict(f"{model_class}: position sensitivity")
            return
        if not any(moved(t_, n, xs, zs) for n in compared):
            not_covered(
                f"{model_class}: changing the token at position {p1} changes no output at "
                f"positions > {p2} either ({precision}): tokens do not reach other positions in "
                "this tiny model, so positional information cannot be observed"
            )
        cmp.flag(f"compared {', '.join(compared[:6])}")
        cmp.verdict(
            f"{model_class}: swapping the tokens at positions {p1} and {p2} leaves every "
            f"output at positions > {p2} unchanged ({S.precision_note(precision)}, "
            f"atol={t_.atol}, rtol={t_.rtol}), though changing the token at {p1} moves them: "
            "the outputs see the set of tokens, not their order (no positional information "
            "reaches the outputs)"
        )

    _precise(built.model, body)


def _frame_positions(case: Case, built: Any, model_class: str | None) -> bool:
    """Position sensitivity of a model whose main input is a time series of audio frames (a
    waveform or spectrogram features): False when it is not one.

    One frame repeated along the whole time axis, then the same with a different first frame (a
    marker at the start), must not give the same output at every position of the middle half of
    each per-frame output (batch x time x ...). Without positional information identical frames
    stay identical through per-frame layers and through attention (the same query over the same
    set of keys, the marker included), so only positions near the ends could differ
    (convolutions reading their zero padding or the marker): the middle half is what is compared.
    Added absolute or sinusoidal positions vary the repeated run; rotary and relative-bias
    positions cannot (every attention average of identical values is that value) but vary the
    marked run, whose attention weight on the marker then depends on the distance to it. An
    encoder-decoder is judged on its encoder outputs (the decoder reads tokens). A causal audio
    encoder would vary without positions too (each position sees more copies than the last):
    the check cannot fail there, only pass. Only floating outputs count: discrete ones (an audio
    codec's codes) are equal across positions whenever a quantizer maps nearby values to one
    code, with positions or without."""
    from ..tiny.inputs import audio_time_axis

    inputs = make_inputs(case, built)
    if isinstance(inputs.get("input_ids"), torch.Tensor):
        return False  # a token sequence leads: the token check applies
    found = audio_time_axis(built, inputs)
    if found is None:
        return False
    key, axis = found
    x = inputs[key]
    same = x.narrow(axis, 0, 1).expand_as(x).contiguous()
    marked = same.clone()
    marked.narrow(axis, 0, 1).copy_(x.narrow(axis, 1, 1))
    runs = {"repeated": dict(inputs, **{key: same}), "marked": dict(inputs, **{key: marked})}
    encdec = _encdec(built.config) and "decoder_input_ids" in forward_params(built.model)
    rows = x.shape[0]

    def middle(name: str, y: torch.Tensor) -> torch.Tensor | None:
        if encdec and not name.startswith("encoder"):
            return None
        if y.ndim < 3 or y.shape[0] != rows or y.shape[1] < 4:
            return None
        n = y.shape[1]
        return y.narrow(1, n // 4, n - 2 * (n // 4))

    def body(m: Any, cast: Callable[[dict], dict], precision: str) -> None:
        t_ = tol.POSITION[precision]
        cmp = S.Comparison("position_sensitivity", precision)
        for name, run_inputs in runs.items():
            # discrete outputs (an audio codec's integer codes) are left out: a quantizer maps
            # nearby values to one code, so equal codes say nothing about positions
            everything = _outputs(m, cast(run_inputs), precision)
            xs = {n: y for n, y in everything.items() if y.is_floating_point() or y.is_complex()}
            mids = {n: mid for n, y in xs.items() if (mid := middle(n, y)) is not None}
            if not mids:
                discrete = sorted(set(everything) - set(xs))
                not_covered(
                    f"no floating per-frame output over time ({describe(xs)})"
                    + (
                        f"; discrete outputs not compared: {', '.join(discrete)}"
                        if discrete
                        else ""
                    )
                )
            moved = [
                cmp.differs(f"{name}: {n}", mid, mid[:, :1].expand_as(mid), t_)
                for n, mid in mids.items()
            ]
            if any(moved):
                cmp.verdict(f"{model_class}: position sensitivity")
                return
        cmp.flag(f"{key} positions: no per-frame output varies ({', '.join(mids)[:200]})")
        cmp.verdict(
            f"{model_class}: one {key} frame repeated along time (alone, and after a different "
            "first frame) gives the same output at every position of the middle half of its "
            f"per-frame outputs ({S.precision_note(precision)}, atol={t_.atol}, rtol={t_.rtol}): "
            "no positional information reaches the outputs"
        )

    _precise(built.model, body)
    return True


# ----------------------------------------------------------------------------------------
# weight tying


def _owner(model: Any, head: Any) -> tuple[str, Any]:
    """(name, module) of the innermost ``PreTrainedModel`` whose output embeddings are ``head``."""
    from transformers import PreTrainedModel

    best = ("", model)
    for name, sub in model.named_modules():
        if name and isinstance(sub, PreTrainedModel):
            try:
                mine = sub.get_output_embeddings()
            except Exception:
                continue
            if mine is head and len(name) > len(best[0]):
                best = (name, sub)
    return best


def _embeddings(model: Any) -> tuple[Any, Any, str, Any]:
    """(input weight, output weight, owner name, owner) or a skip naming what is missing."""
    cls = type(model).__name__
    try:
        head = model.get_output_embeddings()
    except Exception as e:
        not_covered(f"{cls}.get_output_embeddings() raises {type(e).__name__}: no LM head")
    if head is None:
        not_applicable(f"{cls} has no output embeddings (get_output_embeddings() is None)")
    w_out = getattr(head, "weight", None)
    if not isinstance(w_out, torch.nn.Parameter):
        not_applicable(
            f"{cls}'s output embeddings are a {type(head).__name__} with no single weight "
            "(several heads): no one matrix to tie"
        )
    name, owner = _owner(model, head)
    try:
        emb = _decoder_embeddings(owner) or owner.get_input_embeddings()
    except Exception as e:
        not_covered(f"{type(owner).__name__}.get_input_embeddings() raises {type(e).__name__}")
    w_in = getattr(emb, "weight", None)
    if not isinstance(w_in, torch.nn.Parameter):
        not_applicable(
            f"{type(owner).__name__} has no input embedding matrix ({type(emb).__name__})"
        )
    return w_in, w_out, name, owner


def _decoder_embeddings(owner: Any) -> Any:
    """An encoder-decoder's LM head reads the decoder's token embeddings (shared with the
    encoder's in most, separate in T5Gemma-style models): those, where ``get_decoder()`` has
    them; else None."""
    if not _encdec(owner.config) or not callable(getattr(owner, "get_decoder", None)):
        return None
    try:
        return owner.get_decoder().get_input_embeddings()
    except Exception:
        return None


def _sub_config(config: Any, sub: Any) -> bool:
    """Whether ``sub`` is a config nested in ``config`` (not ``config`` itself or a copy
    ``get_text_config`` made of a flat encoder-decoder config)."""
    return sub is not config and any(v is sub for v in vars(config).values())


def _tied(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a is b or (a.shape == b.shape and a.data_ptr() == b.data_ptr())


def _ties_by_text_config() -> bool:
    """Whether the installed Transformers ties embeddings by the text config's flag alone
    (feature detection: 4.x ``PreTrainedModel.tie_weights`` reads
    ``config.get_text_config(decoder=True).tie_word_embeddings``; 5.x ties through
    ``get_expanded_tied_weights_keys``, which reads the model's own config)."""
    from transformers import PreTrainedModel

    return not hasattr(PreTrainedModel, "get_expanded_tied_weights_keys")


def _expected_tie(model: Any, owner_name: str, owner: Any) -> tuple[bool, str]:
    """(tie expected, the config setting that says so); fails on a self-contradicting config."""
    cfg = owner.config
    flag = getattr(cfg, "tie_word_embeddings", None)
    where = f"{type(cfg).__name__}{'' if not owner_name else f' (of {owner_name})'}"
    said = f"{where}.tie_word_embeddings={flag}"
    expected = bool(flag) if flag is not None else False
    if flag is None:
        said += " (absent: not tied)"
    tcfg = text_config(cfg)
    if _sub_config(cfg, tcfg):
        tflag = getattr(tcfg, "tie_word_embeddings", None)
        if tflag is not None and _ties_by_text_config():
            # this Transformers ties by the text config's flag alone: the composite's is unused
            return bool(tflag), (
                f"text sub-config {type(tcfg).__name__}.tie_word_embeddings={tflag} (this "
                f"Transformers ties by it alone; {said} is unused)"
            )
        if tflag is not None and bool(tflag) != expected:
            fail(
                f"{type(model).__name__}: the config contradicts itself: {said}, but its text "
                f"sub-config {type(tcfg).__name__}.tie_word_embeddings={tflag}; the model "
                f"{'ties' if _tied(*_embeddings(model)[:2]) else 'does not tie'} its embeddings"
            )
        said += f", text sub-config {type(tcfg).__name__} agrees" if tflag is not None else ""
    return expected, said


def weight_tying(case: Case, model_class: str | None) -> None:
    """Input/output embeddings tied exactly where the config says, also after save/load."""
    built = get_built(case, model_class)
    model = built.model
    w_in, w_out, owner_name, owner = _embeddings(model)
    expected, said = _expected_tie(model, owner_name, owner)
    shapes = f"input {tuple(w_in.shape)}, output {tuple(w_out.shape)}"
    if _tied(w_in, w_out) != expected:
        fail(
            f"{model_class}: embeddings {'not ' if expected else ''}tied after construction, "
            f"but {said} ({shapes})"
        )
    saved_in, saved_out = w_in.detach().clone(), w_out.detach().clone()
    with tempfile.TemporaryDirectory(prefix="hftestgen-tie-", dir=S.SCRATCH_DIR) as d:
        model.save_pretrained(d)
        loaded = type(model).from_pretrained(d, local_files_only=True)
    l_in, l_out, _, l_owner = _embeddings(loaded)
    l_expected, l_said = _expected_tie(loaded, owner_name, l_owner)
    if l_expected != expected:
        fail(f"{model_class}: tie setting changed by save/load: {said} -> {l_said}")
    if _tied(l_in, l_out) != expected:
        fail(
            f"{model_class}: embeddings {'not ' if expected else ''}tied after save/load "
            f"(from_pretrained), but {said}"
        )
    if not (
        close(l_in.detach(), saved_in, tol.EXACT) and close(l_out.detach(), saved_out, tol.EXACT)
    ):
        fail(
            f"{model_class}: reloaded embeddings differ from the saved ones "
            f"(input {diff(saved_in, l_in.detach())}, output {diff(saved_out, l_out.detach())})"
        )
