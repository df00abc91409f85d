"""Text inputs: token ids (with image/audio placeholder tokens), padding masks, the side inputs
a text forward takes (token types, Q-Former ids, global attention, boxes), embeddings in place of
ids, and decoder ids."""

from __future__ import annotations

import torch

from ._cfg import _int, find_attr, special_ids, sub, text_cfg
from .context import DEC, SEQ, Ctx


def _vocab(c: Ctx) -> int:
    v = (
        c.k.get("vocab_size")
        or _int(getattr(text_cfg(c.cfg), "vocab_size", None), 0)
        or _int(find_attr(c.cfg, ["vocab_size"]), 99)
    )
    return v


def _allowed_ids(cfg, vocab: int) -> torch.Tensor:
    """Ids to draw from: no special token, and none of the first 3 when the vocabulary allows."""
    specials = special_ids(cfg)
    low = 3 if vocab > 10 else 0
    return torch.tensor([i for i in range(low, vocab) if i not in specials] or list(range(vocab)))


def _seq_len(c: Ctx, tcfg) -> int:
    S = int(c.k.get("seq_len", SEQ))
    maxpos = _int(find_attr(tcfg, ["max_position_embeddings", "n_positions", "max_seq_len"]), 512)
    if "seq_len" not in c.b.input_knobs:  # a length the type's data pins is taken as is
        S = max(2, min(S, maxpos - 2)) if maxpos > 4 else S
    return S


def _placeholder_id(c: Ctx, kind: str):
    """The id of ``kind``'s placeholder tokens: ``<kind>_token_id`` (or ``_index``), or the
    config field the ``<kind>_placeholder`` knob names (Glm5Next marks video with the image
    token)."""
    names = [c.k[f"{kind}_placeholder"]] if c.k.get(f"{kind}_placeholder") else []
    names = names or [f"{kind}_token_id", f"{kind}_token_index", f"{kind}_token"]
    v = find_attr(c.cfg, names, prefer=())
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _placeholder_run(c: Ctx, kind: str, shape, n: int) -> list[tuple[torch.Tensor, bool]]:
    """``n`` ``kind`` placeholder tokens between the config tokens the ``<kind>_prefix_tokens``
    and ``<kind>_suffix_tokens`` knobs name (begin/end-of-image tokens), as pieces to
    concatenate, each with whether it holds the placeholders; none when ``n`` is 0 or the config
    has no such placeholder."""
    tid = _placeholder_id(c, kind)
    if not n or tid is None:
        return []

    def tokens(names):
        return [
            (torch.full(shape[:-1] + (1,), int(find_attr(c.cfg, [t]) or 0)), False) for t in names
        ]

    run = (torch.full(shape[:-1] + (n,), tid, dtype=torch.long), True)
    return (
        tokens(c.k.get(f"{kind}_prefix_tokens", []))
        + [run]
        + tokens(c.k.get(f"{kind}_suffix_tokens", []))
    )


def _with_placeholders(c: Ctx, ids, shape, n_img: int, n_aud: int, n_vid: int = 0):
    """``ids`` behind ``n_img`` image tokens (after any ``image_prefix_tokens``) and ``n_vid``
    video tokens (between any ``video_prefix_tokens`` and ``video_suffix_tokens``), all behind
    ``n_aud`` audio tokens; and the mask of the video placeholder positions."""
    img = [(t, False) for t, _ in _placeholder_run(c, "image", shape, n_img)]
    pieces = img + _placeholder_run(c, "video", shape, n_vid) + [(ids, False)]
    ids = torch.cat([t for t, _ in pieces], dim=-1)
    video = torch.cat([torch.full(t.shape, v, dtype=torch.bool) for t, v in pieces], dim=-1)
    aud_id = _placeholder_id(c, "audio")
    if n_aud and aud_id is not None:
        aud = torch.full(shape[:-1] + (n_aud,), aud_id, dtype=torch.long)
        ids = torch.cat([aud, ids], dim=-1)
        video = torch.cat([torch.zeros_like(aud, dtype=torch.bool), video], dim=-1)
    return ids, video


def _attention_mask(c: Ctx, ids, S: int, vocab: int, mc: bool, placeholders: bool, tcfg):
    """All ones but the second sample's first (left padding) or last two positions, which also
    get the pad token in ``ids`` (in place). Left padding is skipped before placeholder tokens."""
    mask = torch.ones_like(ids)
    if c.B > 1 and not c.k.get("no_padding"):
        npad = min(2, S - 1)
        pad = getattr(tcfg, "pad_token_id", None)
        left = c.b.family in ("decoder-only", "multimodal") or c.k.get("padding_side") == "left"
        sl = (1, slice(0, npad)) if left else (1, slice(ids.shape[-1] - npad, None))
        if mc:
            sl = (1, slice(None)) + (sl[1],)
        if not (placeholders and left):
            mask[sl] = 0
            if isinstance(pad, int) and 0 <= pad < vocab:
                ids[sl] = pad
    return mask


def _side_inputs(c: Ctx, ids, vocab: int, tcfg) -> dict:
    """Token types, Q-Former ids and mask, global attention mask and language ids, when forward
    takes them."""
    sig, out = c.sig, {}
    if "token_type_ids" in sig and not c.dropped("token_type_ids"):
        tvs = _int(find_attr(tcfg, ["type_vocab_size"]), 0)
        if tvs:
            out["token_type_ids"] = c.randint(0, tvs, ids.shape)
    if "qformer_input_ids" in sig:
        qv = _int(find_attr(c.cfg, ["vocab_size"], prefer=("qformer_config",)), vocab)
        out["qformer_input_ids"] = c.randint(
            3 if qv > 10 else 0, qv, [ids.reshape(-1, ids.shape[-1]).shape[0], 5]
        )
        if "qformer_attention_mask" in sig:
            out["qformer_attention_mask"] = torch.ones_like(out["qformer_input_ids"])
    if "global_attention_mask" in sig:
        gm = torch.zeros_like(ids)
        gm[..., 0] = 1
        out["global_attention_mask"] = gm
    if "lang_ids" in sig:
        out["lang_ids"] = torch.zeros(ids.reshape(-1, ids.shape[-1]).shape[0], dtype=torch.long)
    return out


def _place_tokens(c: Ctx, ids) -> None:
    """The ``place_tokens`` knob: put each named config token at position 1 (in place)."""
    for name in c.k.get("place_tokens", []):
        tid = find_attr(c.cfg, [name])
        if isinstance(tid, int):
            ids[..., 1] = tid


def _boxes(c: Ctx, ids) -> torch.Tensor:
    """One (x0, y0, x1, y1) box per token, with x0 < x1 and y0 < y1 on a 0..1000 page."""
    t = c.rand(tuple(ids.shape) + (4,))
    lo = (t[..., :2] * 500).long()
    return torch.cat([lo, lo + (t[..., 2:] * 400).long() + 1], dim=-1)


def text_inputs(c: Ctx, mc: bool, n_img: int, n_aud: int = 0, n_vid: int = 0) -> dict:
    """``input_ids`` (``(B, num_choices, S)`` for multiple choice) behind ``n_img`` image,
    ``n_vid`` video and ``n_aud`` audio placeholder tokens, and the masks and side inputs forward
    takes (``mm_token_type_ids``: 1 at image tokens, 2 at video tokens)."""
    tcfg = text_cfg(c.cfg)
    vocab = _vocab(c)
    S = _seq_len(c, tcfg)
    allowed = _allowed_ids(c.cfg, vocab)
    shape = (c.B, int(c.k.get("num_choices", 2)), S) if mc else (c.B, S)
    ids = allowed[c.randint(0, len(allowed), shape)]
    ids, video = _with_placeholders(c, ids, shape, n_img, n_aud, n_vid)
    out = {"input_ids": ids}
    if "attention_mask" in c.sig:
        out["attention_mask"] = _attention_mask(
            c, ids, S, vocab, mc, bool(n_img or n_aud or n_vid), tcfg
        )
    out.update(_side_inputs(c, ids, vocab, tcfg))
    _place_tokens(c, ids)
    if "bbox" in c.sig and not c.dropped("bbox"):
        out["bbox"] = _boxes(c, ids)
    img_id = _placeholder_id(c, "image")
    if "mm_token_type_ids" in c.sig and img_id is not None:
        out["mm_token_type_ids"] = (ids == img_id).long()
        out["mm_token_type_ids"][video] = 2
    return out


def add_embeds(c: Ctx, main: str, out: dict) -> bool:
    """Embeddings for a forward whose main input is ``inputs_embeds``/``hidden_states`` (or with
    the ``embeds`` knob); True when they stand in for the text."""
    if not ((main in ("inputs_embeds", "hidden_states") and main not in out) or c.k.get("embeds")):
        return False
    hid = _int(find_attr(text_cfg(c.cfg), ["hidden_size", "d_model", "n_embd"]), 32)
    S = int(c.k.get("seq_len", SEQ))
    key = "inputs_embeds" if c.k.get("embeds") else main
    out[key] = c.randn([c.B, S, hid])
    if "attention_mask" in c.sig and key == "inputs_embeds":
        out["attention_mask"] = torch.ones(c.B, S, dtype=torch.long)
    return True


# --------------------------------------------------------------------------------------
# decoder


def _dec_vocab(c: Ctx) -> int:
    dc = sub(c.cfg, "decoder", "decoder_config", "text_config")
    v = _int(getattr(dc, "vocab_size", None), 0) if dc is not None else 0
    return v or _vocab(c)


def _decoder_ids(c: Ctx) -> torch.Tensor:
    T = int(c.k.get("decoder_len", DEC))
    allowed = _allowed_ids(c.cfg, _dec_vocab(c))
    return allowed[c.randint(0, len(allowed), [c.B, T])]


def add_decoder_inputs(c: Ctx, out: dict) -> None:
    """``decoder_input_ids`` for an encoder-decoder (or with the ``decoder`` knob), except for
    sequence classification, whose encoder-decoder heads instead pool at one <eos> per row."""
    cfg = c.cfg
    enc_dec = getattr(cfg, "is_encoder_decoder", False)
    seq_cls = c.b.label_task == "sequence_classification"
    if (
        "decoder_input_ids" in c.sig
        and (enc_dec or c.k.get("decoder"))
        and not c.dropped("decoder_input_ids")
    ):
        if not seq_cls:
            out["decoder_input_ids"] = _decoder_ids(c)
    if seq_cls and enc_dec and "input_ids" in out:
        # encoder-decoder classification heads pool at the <eos> token: one per row, no padding
        eos = getattr(text_cfg(cfg), "eos_token_id", None)
        if isinstance(eos, list):
            eos = eos[0] if eos else None
        if isinstance(eos, int):
            out["input_ids"][..., -1] = eos
            if "attention_mask" in out:
                out["attention_mask"].fill_(1)
