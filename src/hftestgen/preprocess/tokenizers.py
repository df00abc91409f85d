"""Tiny tokenizers, trained offline on the shipped ``corpus.txt`` and laid out on a tiny config.

``synthesize_tokenizer(class_name, config)`` builds a working instance of a Transformers
tokenizer class whose every id fits the tiny config's vocabulary and whose special tokens sit at
the config's special ids. The class's own pipeline (normalizer, pre-tokenizer, decoder,
post-processor) comes from constructing the class empty; a model of the same kind (BPE /
WordPiece / Unigram / WordLevel) is trained on the corpus through that pipeline with an alphabet
limited to the corpus's characters (``train_new_from_iterator`` would force byte-level BPE's 256
initial bytes, more than the tiny vocabulary), and the class is then constructed from the trained
vocabulary with the special tokens placed at the config's ids. Classes that read vocabulary files
get those files written into a temporary folder. Per-class knowledge (constructor arguments,
file kinds, missing packages) is data: ``tokenizer_classes.toml``.

Named rules:

``SPECIAL_ROLES``: a config's ``<role>_token_id`` is the id of the tokenizer's ``<role>_token``.

``EXTRA_TOKEN_FIELD``: every other ``*_token_id`` / ``*_token_index`` a config sets (image,
video, audio placeholders, ``boi`` / ``eoi``, ``decoder_start`` when it names no role token)
becomes an added special token at that id, named ``<stem>`` (``image_token_index`` ->
``<image>``) unless ``extra_special_tokens`` names it; it is registered as the named extra
special token ``<stem>_token`` (``tok.image_token``).

``VOCAB_OVERRIDE_RULE``: a tokenizer whose ids do not fit the config's ``vocab_size`` (a fixed
byte / code-point vocabulary, or required tokens the tiny vocabulary cannot hold) returns
``{"vocab_size": N}`` (N = its largest id + 1) as config overrides; the caller rebuilds the
model with them.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import PreprocessError, PreprocessSkip

HERE = Path(__file__).parent
CORPUS = HERE / "corpus.txt"
TABLE = HERE / "tokenizer_classes.toml"

SPECIAL_ROLES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")
"""Roles whose config id field (``<role>_token_id``) names the tokenizer's ``<role>_token``."""
ID_FIELD = re.compile(r"^(?P<stem>[a-z0-9_]+?)_token_(id|index)$")
EXTRA_TOKEN_FIELD = ID_FIELD
"""Config fields that name a token only by id (``image_token_index``, ``boi_token_id``)."""
IGNORED_ID_FIELD = re.compile(r"^(_|forced_|t2u_|(yes|no)_token)")
"""Id fields that name no token of the text vocabulary: private copies (``_pad_token_id``),
generation constraints (``forced_eos_token_id``), a second vocabulary (SeamlessM4T's ``t2u_``
unit vocabulary), ordinary words scored by a head (``yes_token_index``)."""
VOCAB_OVERRIDE_RULE = (
    "tokenizer ids exceed the config's vocab_size: rebuild with vocab_size = largest id + 1"
)
DEFAULT_VOCAB = 99
"""The vocabulary of a config that has none (an audio / vision encoder whose processor still
has a tokenizer): the tiny engine's ``VOCAB``."""
MODEL_KINDS = ("BPE", "WordPiece", "Unigram", "WordLevel")


# ---------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class ClassEntry:
    """One ``tokenizer_classes.toml`` table."""

    reason: str
    ctor: dict[str, Any] = field(default_factory=dict)
    pipeline_from: str | None = None
    pipeline_from_encoder_decoder: str | None = None
    """``pipeline_from`` for an encoder-decoder config (``ENCODER_DECODER_PIPELINE_RULE``)."""
    files: str | None = None
    fixed: bool = False
    package: str | None = None
    spaces: bool = True
    """False: decoding joins characters with spaces, the round trip compares without spaces."""
    lowercase: bool = False
    """``bpe_at``: the class lowercases words before its BPE (train on lowercased text)."""
    isolate: str | None = None
    """``bpe_at``: a regex of characters the class splits off words before its BPE."""
    drops: str | None = None
    """A regex of characters the class removes from text before encoding (the round trip
    expects the text without them)."""
    specials_from: str | None = None
    """A mapping attribute of the built tokenizer whose tokens its checkpoints list as extra
    special tokens in tokenizer_config.json (``SPECIALS_FROM`` rule)."""
    unk_maps: tuple[str, ...] = ()
    """Constructor file arguments written as a JSON table holding only the unknown token at
    index 0 (per-token side tables indexed by characters the corpus lacks: every token takes
    the unknown token's entry)."""


@functools.cache
def class_table() -> dict[str, ClassEntry]:
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    raw = tomllib.loads(TABLE.read_text(encoding="utf-8"))
    return {
        name: ClassEntry(**{k: tuple(v) if k == "unk_maps" else v for k, v in entry.items()})
        for name, entry in raw.items()
    }


def entry_for(class_name: str) -> ClassEntry:
    return class_table().get(class_name) or ClassEntry(reason="")


@functools.cache
def corpus_lines() -> tuple[str, ...]:
    return tuple(
        line.strip() for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()
    )


def corpus_chars() -> list[str]:
    return sorted({c for line in corpus_lines() for c in line if not c.isspace()})


# ---------------------------------------------------------------------------------------------
# the config's special ids


@dataclass
class Layout:
    """Where the config wants tokens: role -> id, extra token string -> (field, id)."""

    vocab_size: int
    roles: dict[str, int]
    extras: dict[str, tuple[str, int]]


TEXT_VOCAB_FIELD = "text_vocab_size"
"""Rule TEXT_VOCAB_FIELD: a config that declares ``text_vocab_size`` embeds text tokens with it;
its ``vocab_size`` is another vocabulary (CSM: the audio codebook, ``attribute_map``
``codebook_size -> vocab_size``; ``modeling_csm.py`` ``embed_text_tokens =
nn.Embedding(config.text_vocab_size, ...)``). The tokenizer is sized by it, and a grown
vocabulary is pinned on it (``processors.nested_vocab_override``)."""


def text_vocab_field(config: Any) -> str:
    """The field of ``config`` (itself its text config) that sizes its text vocabulary."""
    v = getattr(config, TEXT_VOCAB_FIELD, None)
    return TEXT_VOCAB_FIELD if isinstance(v, int) and not isinstance(v, bool) else "vocab_size"


def _vocab_size(config: Any) -> int | None:
    from ..configs import text_config

    for c in (text_config(config), config):
        v = getattr(c, text_vocab_field(c), None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def layout_for(config: Any, extra_special_tokens: dict[str, str] | None = None) -> Layout:
    """The config's special ids (``SPECIAL_ROLES``, ``EXTRA_TOKEN_FIELD``) inside its vocab."""
    from ..configs import text_config, token_ids

    size = _vocab_size(config) or DEFAULT_VOCAB
    ids = dict(token_ids(text_config(config)))
    for k, v in token_ids(config).items():
        ids.setdefault(k, v)
    names = dict(extra_special_tokens or {})
    for c in (config, text_config(config)):  # aliases (image_token_id -> image_token_index)
        amap = getattr(type(c), "attribute_map", None) or {}
        names.update({amap[k]: v for k, v in (extra_special_tokens or {}).items() if k in amap})
    roles: dict[str, int] = {}
    extras: dict[str, tuple[str, int]] = {}
    for name in sorted(ids, key=lambda n: (n not in _role_fields(), n)):
        v = ids[name]
        if IGNORED_ID_FIELD.match(name) or not (0 <= v < size):
            continue
        m = ID_FIELD.match(name)
        if not m:
            continue
        stem = m.group("stem")
        if stem in SPECIAL_ROLES and name.endswith("_id"):
            roles[stem] = v
        elif v not in roles.values() and v not in [i for _, i in extras.values()]:
            extras[names.get(name) or f"<{stem}>"] = (name, v)
    return Layout(size, roles, extras)


@functools.cache
def _role_fields() -> frozenset[str]:
    return frozenset(f"{r}_token_id" for r in SPECIAL_ROLES)


def _class_role_tokens(cls: type, ctor: dict[str, Any]) -> dict[str, str]:
    """The class's default ``*_token`` arguments (roles and others like Wav2Vec2's
    ``word_delimiter_token``), from its constructor signature."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            continue
        for p in params.values():
            if p.name.endswith("_token") and p.default is not inspect.Parameter.empty:
                if p.default is None:
                    out.pop(p.name[: -len("_token")], None)
                else:
                    out[p.name[: -len("_token")]] = str(p.default)
    for k, v in ctor.items():
        if k.endswith("_token") and v is not None:
            out[k[: -len("_token")]] = str(v)
    return out


def _placements(
    cls: type, entry: ClassEntry, layout: Layout, defaults: dict[str, str]
) -> tuple[dict[str, int], dict[str, str], dict[str, str]]:
    """(token -> config id, role kwargs to construct with, extra special tokens name -> token)."""
    wanted: dict[str, int] = {}
    role_kwargs: dict[str, str] = {}
    by_id: dict[int, str] = {}
    for role, i in layout.roles.items():
        tok = defaults.get(role)
        if i in by_id:
            tok = by_id[i]
        elif tok is None or tok in wanted:
            tok = f"<{role}>"
        by_id.setdefault(i, tok)
        wanted.setdefault(tok, i)
        role_kwargs[f"{role}_token"] = tok
    extra_named: dict[str, str] = {}
    for tok, (name, i) in layout.extras.items():
        if i in by_id:
            continue
        by_id[i] = tok
        wanted[tok] = i
        stem = ID_FIELD.match(name).group("stem")
        extra_named[f"{stem}_token"] = tok
    return wanted, role_kwargs, extra_named


# ---------------------------------------------------------------------------------------------
# training (cached per pipeline, model kind and size)


@functools.cache
def _train(kind: str, pipeline: str, params: str, size: int) -> tuple[tuple, tuple]:
    """Train a ``kind`` model on the corpus through ``pipeline`` (normalizer + pre-tokenizer
    JSON). Returns (tokens in trained order, as (token, score) for Unigram, merges). Unigram
    pieces come from SentencePiece (``_unigram_pieces``), BPE and WordPiece from
    ``_bpe_train`` (DETERMINISTIC_BPE), WordLevel from the ``tokenizers`` trainer."""
    from tokenizers import Tokenizer, models, trainers

    p = json.loads(params)
    pipe = json.loads(pipeline)
    unk = p.get("unk_token")
    if kind not in ("BPE", "WordPiece", "Unigram", "WordLevel"):
        raise PreprocessError(f"no trainer for a {kind} model")
    if kind == "Unigram":
        return _unigram_pieces(size, unk), ()
    shell = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": pipe["normalizer"],
        "pre_tokenizer": pipe["pre_tokenizer"],
        "post_processor": None,
        "decoder": None,
    }
    # BPE / WordPiece read only the shell's normalizer and pre-tokenizer; WordLevel trains it
    model = models.WordLevel(unk_token=unk) if kind == "WordLevel" else models.BPE()
    tk = Tokenizer.from_str(_with_model(json.loads(Tokenizer(model).to_str()), shell))
    if kind == "WordLevel":
        trainer = trainers.WordLevelTrainer(
            vocab_size=size, min_frequency=0, show_progress=False, special_tokens=[]
        )
        tk.train_from_iterator(list(corpus_lines()), trainer=trainer)
        vocab = json.loads(tk.to_str())["model"]["vocab"]
        tokens, merges = tuple(sorted(vocab, key=vocab.get)), ()
    else:
        prefix = p.get("continuing_subword_prefix") or ("##" if kind == "WordPiece" else "")
        suffix = p.get("end_of_word_suffix") or ""
        tokens, merges = _bpe_train(_word_counts(tk), size, prefix, suffix)
    if kind == "BPE":
        return tokens, merges  # ids follow the merge order
    # rule CANONICAL_ORDER: WordPiece / WordLevel ids carry no meaning (the WordLevel trainer
    # numbers tokens in hash-map order, which differs between processes), so they are ordered by
    # (length, token)
    return tuple(sorted(tokens, key=lambda t: (len(t.removeprefix("##")), t))), ()


def _word_counts(tk: Any) -> dict[str, int]:
    """The corpus's words as the tokenizer's own normalizer and pre-tokenizer split them, with
    their counts."""
    counts: Counter = Counter()
    for line in corpus_lines():
        text = tk.normalizer.normalize_str(line) if tk.normalizer is not None else line
        words = (
            tk.pre_tokenizer.pre_tokenize_str(text)
            if tk.pre_tokenizer is not None
            else [(text, None)]
        )
        counts.update(w for w, _ in words if w)
    return dict(counts)


def _bpe_train(
    words: dict[str, int], size: int, prefix: str = "", suffix: str = ""
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Rule DETERMINISTIC_BPE: BPE training (WordPiece's too: the ``tokenizers`` WordPiece trainer
    is a BPE trainer) with ties broken by the pair's text. The ``tokenizers`` trainers number
    words and symbols in Rust hash-map order, a new order per process, and take the first of
    equally frequent pairs in that order: the same corpus gave CLIP, OpenAI-GPT or GIT a
    different vocabulary in about one process in six (two tokens swapped at the size cut), and
    the same test a different prompt. Same algorithm otherwise: the sorted alphabet (a word's
    later symbols carry the continuing ``prefix``, its last the end-of-word ``suffix``), then the
    most frequent adjacent pair merged, until ``size`` tokens. Returns (tokens in id order,
    merges)."""
    seqs = []
    for word, n in sorted(words.items()):
        syms = [c if i == 0 else prefix + c for i, c in enumerate(word)]
        if suffix:
            syms[-1] += suffix
        seqs.append([syms, n])
    vocab = sorted({s for syms, _ in seqs for s in syms})
    seen = set(vocab)
    merges: list[tuple[str, str]] = []
    while len(vocab) < size:
        pairs: Counter = Counter()
        for syms, n in seqs:
            for a, b in zip(syms, syms[1:], strict=False):
                pairs[(a, b)] += n
        if not pairs:
            break
        (a, b), _ = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        new = a + (b[len(prefix) :] if prefix and b.startswith(prefix) else b)
        merges.append((a, b))
        if new not in seen:
            seen.add(new)
            vocab.append(new)
        for item in seqs:
            syms, out, i = item[0], [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            item[0] = out
    return tuple(vocab), tuple(merges)


def _unigram_pieces(size: int, unk: str | None) -> tuple[tuple[str, float], ...]:
    """(piece, score) of a Unigram model trained by SentencePiece (one thread: the same pieces in
    every process; the ``tokenizers`` Unigram trainer picks among ties differently per process)."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=_spm_bytes("unigram", size + 1, unk or "<unk>"))
    # id 0 is the unknown piece (``_spm_bytes``: unk_id=0); the caller places its own unk
    return tuple((sp.id_to_piece(i), float(sp.get_score(i))) for i in range(1, sp.get_piece_size()))


def _with_model(model_json: dict, shell: dict) -> str:
    out = dict(shell)
    out["model"] = model_json["model"]
    return json.dumps(out)


def _model_params(model: dict) -> dict[str, Any]:
    keys = ("unk_token", "continuing_subword_prefix", "end_of_word_suffix", "byte_fallback")
    return {k: model.get(k) for k in keys if model.get(k) is not None}


# ---------------------------------------------------------------------------------------------
# laying a vocabulary out


def _lay_out(
    wanted: dict[str, int], reserved: list[str], trained: list, size: int, filler: Any
) -> list:
    """Slots 0..N-1: ``wanted`` tokens at their ids, other ``reserved`` tokens and then the
    ``trained`` entries in the lowest free slots, ``filler(i)`` in holes below the largest
    wanted id."""
    slots: dict[int, Any] = {}
    for tok, i in wanted.items():
        slots[i] = tok
    taken = set(wanted)
    queue = [t for t in dict.fromkeys(reserved) if t not in taken]
    seen = set(taken) | set(queue)
    queue += [t for t in trained if _name(t) not in seen]
    nxt = 0
    for item in queue:
        while nxt in slots:
            nxt += 1
        slots[nxt] = item
    n = max(slots, default=-1) + 1
    return [slots.get(i, filler(i)) for i in range(n)]


def _name(item: Any) -> str:
    return item[0] if isinstance(item, tuple) else item


# ---------------------------------------------------------------------------------------------
# the entry point


def synthesize_tokenizer(
    class_name: str, config: Any, extra_special_tokens: dict[str, str] | None = None
) -> tuple[Any, dict[str, Any]]:
    """A working ``class_name`` tokenizer for ``config`` and the config overrides it needs
    (``VOCAB_OVERRIDE_RULE``). ``extra_special_tokens`` maps a config id field
    (``image_token_id``) to the token string to put there (``"<image>"``)."""
    from transformers.models.auto.tokenization_auto import tokenizer_class_from_name

    entry = _for_config(entry_for(class_name), config)
    if entry.package:
        installable = entry.package if PACKAGE_NAME.match(entry.package) else None
        if installable and _importable(installable):
            # installed, but the table has no recipe for the class's files: not a missing package
            raise PreprocessSkip(
                f"{class_name}: {entry.reason}; {installable} is installed, but hftestgen has no "
                "file recipe for this class yet"
            )
        raise PreprocessSkip(_skip_reason(class_name, entry), package=installable)
    try:
        cls = tokenizer_class_from_name(class_name)
    except Exception as e:
        raise PreprocessError(f"{class_name}: cannot import: {e}") from e
    if cls is None:
        raise PreprocessError(f"{class_name}: not importable from this Transformers")
    layout = layout_for(config, extra_special_tokens)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if entry.fixed:
                tok = _fixed(cls, entry, layout)
            elif entry.files:
                tok = _from_files(cls, entry, layout)
            else:
                tok = _from_backend(cls, entry, layout)
        except ImportError as e:
            raise PreprocessSkip(f"{class_name}: {e}", package=_package_in(str(e))) from e
    if entry.specials_from:
        _register_specials(tok, entry.specials_from)
    top = max_id(tok) + 1
    overrides = {"vocab_size": top} if top > layout.vocab_size else {}
    if not entry.fixed:
        check_special_ids(tok, config, extra_special_tokens)
    return tok, overrides


PACKAGE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _importable(package: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(package.replace("-", "_")) is not None
    except (ImportError, ValueError):
        return False


def _skip_reason(class_name: str, entry: ClassEntry) -> str:
    """The skip's reason; it ends with ``needs <package>`` where the table's ``package`` is an
    installable package name, so the checks report the skip as that missing package (a data
    file the class needs, such as an emoji table, stays an unsupported skip)."""
    why = f"{class_name}: {entry.reason}"
    if entry.package and PACKAGE_NAME.match(entry.package):
        why += f"; needs {entry.package}"
    return why


ENCODER_DECODER_PIPELINE_RULE = (
    "a class without a pipeline of its own borrows pipeline_from_encoder_decoder for an "
    "encoder-decoder config (its checkpoints' tokenizer.json appends </s> to the encoder input)"
)


def _for_config(entry: ClassEntry, config: Any) -> ClassEntry:
    """``ENCODER_DECODER_PIPELINE_RULE``: the generic class's borrowed pipeline follows the
    config: encoder-decoder checkpoints (UMT5, BigBirdPegasus, PegasusX) end every input with
    ``</s>``, which their sequence-classification heads pool at."""
    from dataclasses import replace

    if entry.pipeline_from_encoder_decoder and getattr(config, "is_encoder_decoder", False):
        return replace(entry, pipeline_from=entry.pipeline_from_encoder_decoder)
    return entry


def _package_in(msg: str) -> str | None:
    m = re.search(r"install (\w[\w\-]*)", msg)
    return m.group(1) if m else None


def _register_specials(tok: Any, attr: str) -> None:
    """Rule SPECIALS_FROM: tokens a class makes up in ``__init__`` beyond its vocabulary files
    (M2M100's ~100 language codes at ids after vocab.json) are special only where
    tokenizer_config.json lists them, as every checkpoint's does (M2M100Tokenizer.__init__ means
    to add them itself, but its test ``lang_code not in str(token) not in
    self.added_tokens_encoder`` is always false: tokenization_m2m_100.py). Registered the same
    way, they keep their ids, decode(skip_special_tokens=True) drops them, ``get_vocab`` (and so
    the vocab-size override) counts them, and ``save_pretrained`` writes them."""
    table = getattr(tok, attr, None)
    if not isinstance(table, dict) or not table:
        raise PreprocessError(f"{type(tok).__name__}: no token table {attr!r} (specials_from)")
    tokens = [str(t) for t in table.values()]
    new = [t for t in tokens if t not in set(map(str, tok.all_special_tokens))]
    if new:
        tok.add_special_tokens({"extra_special_tokens": new}, replace_extra_special_tokens=False)


def max_id(tok: Any) -> int:
    """The largest id ``tok`` can emit (its vocab and added tokens)."""
    ids = list(tok.get_vocab().values())
    return max(ids) if ids else len(tok) - 1


def _backend_of(cls: type, entry: ClassEntry) -> Any:
    from transformers.models.auto.tokenization_auto import tokenizer_class_from_name

    source = tokenizer_class_from_name(entry.pipeline_from) if entry.pipeline_from else cls
    src_entry = entry_for(entry.pipeline_from) if entry.pipeline_from else entry
    try:
        empty = source(**_ctor_args(src_entry.ctor))
    except ImportError:
        raise
    except Exception as e:
        raise PreprocessError(f"{cls.__name__}: empty constructor failed: {e}") from e
    return empty


def _ctor_args(ctor: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments from the table: TOML has no tuples, so a ``vocab`` written as
    ``[[piece, score], ...]`` is passed as the list of ``(piece, score)`` tuples a Unigram
    vocabulary is."""
    args = dict(ctor)
    vocab = args.get("vocab")
    if isinstance(vocab, list) and all(isinstance(v, list) and len(v) == 2 for v in vocab):
        args["vocab"] = [(str(p), float(sc)) for p, sc in vocab]
    return args


def _from_backend(cls: type, entry: ClassEntry, layout: Layout) -> Any:
    """A ``TokenizersBackend`` class: train its own model kind through its own pipeline."""
    from tokenizers import Tokenizer

    if not hasattr(cls, "backend_tokenizer"):
        raise PreprocessError(f"{cls.__name__}: no tokenizers backend and no files recipe")
    empty = _backend_of(cls, entry)
    backend = json.loads(empty.backend_tokenizer.to_str())
    model = backend["model"]
    kind = model.get("type") or type(empty.backend_tokenizer.model).__name__
    if kind not in MODEL_KINDS:
        raise PreprocessError(f"{cls.__name__}: unknown model kind {kind}")
    defaults = _class_role_tokens(cls, entry.ctor)
    for role in SPECIAL_ROLES:
        v = getattr(empty, f"{role}_token", None)
        if v is not None and role not in defaults:
            defaults[role] = str(v)
    wanted, role_kwargs, extra_named = _placements(cls, entry, layout, defaults)
    reserved = [str(t) for t in empty.added_tokens_decoder.values()]
    reserved += [
        role_kwargs.get(f"{r}_token") or defaults[r] for r in SPECIAL_ROLES if r in defaults
    ]
    reserved = list(dict.fromkeys(reserved))
    n_reserved = len(set(reserved) | set(wanted))
    free = max(layout.vocab_size - n_reserved, 8)
    pipeline = json.dumps(
        {"normalizer": backend.get("normalizer"), "pre_tokenizer": backend.get("pre_tokenizer")},
        sort_keys=True,
    )
    params = _model_params(model)
    trained, merges = _train(kind, pipeline, json.dumps(params, sort_keys=True), free)
    if kind == "Unigram":
        slots = _lay_out(
            wanted,
            reserved,
            list(trained),
            layout.vocab_size,
            lambda i: (f"<unused{i}>", -100.0),
        )
        slots = [s if isinstance(s, tuple) else (s, 0.0) for s in slots]
        vocab: Any = slots
    else:
        slots = _lay_out(
            wanted, reserved, list(trained), layout.vocab_size, lambda i: f"<unused{i}>"
        )
        vocab = {t: i for i, t in enumerate(slots)}
    kwargs = dict(entry.ctor)
    if entry.pipeline_from:  # the borrowed pipeline's special tokens too (its post-processor)
        kwargs.update({f"{r}_token": t for r, t in defaults.items() if r in SPECIAL_ROLES})
    kwargs.update(role_kwargs)
    if extra_named:
        kwargs["extra_special_tokens"] = extra_named
    takes_vocab = "vocab" in inspect.signature(cls.__init__).parameters
    if takes_vocab and not entry.pipeline_from:
        kwargs["vocab"] = vocab
        if kind == "BPE":
            kwargs["merges"] = [tuple(m) for m in merges]
        if kind == "Unigram" and params.get("unk_token") in [t for t, _ in vocab]:
            kwargs.setdefault("unk_id", [t for t, _ in vocab].index(params["unk_token"]))
        try:
            return cls(**kwargs)
        except TypeError:
            kwargs.pop("unk_id", None)
            return cls(**kwargs)
    # no vocab argument (or a borrowed pipeline): the same pipeline around the trained model
    model_json = dict(model)
    model_json["vocab"] = vocab if kind != "Unigram" else [list(x) for x in vocab]
    if kind == "BPE":
        model_json["merges"] = [list(m) for m in merges]
    if kind == "Unigram":
        names = [t for t, _ in vocab]
        unk = params.get("unk_token")
        model_json["unk_id"] = names.index(unk) if unk in names else None
    backend["model"] = model_json
    backend["added_tokens"] = []
    return cls(tokenizer_object=Tokenizer.from_str(json.dumps(backend)), **kwargs)


def _from_files(cls: type, entry: ClassEntry, layout: Layout) -> Any:
    """A class that reads vocabulary files: write them from the corpus, construct from them."""
    defaults = _class_role_tokens(cls, entry.ctor)
    wanted, role_kwargs, extra_named = _placements(cls, entry, layout, defaults)
    reserved = list(dict.fromkeys([*wanted, *(role_kwargs.values()), *defaults.values()]))
    d = Path(tempfile.mkdtemp(prefix="hftestgen-tok-"))
    names = dict(getattr(cls, "vocab_files_names", {}))
    kwargs = dict(entry.ctor)
    kwargs.update(role_kwargs)
    if extra_named:
        kwargs["extra_special_tokens"] = extra_named
    if entry.files in ("char_json", "char_txt"):
        slots = _lay_out(
            wanted, reserved, corpus_chars(), layout.vocab_size, lambda i: f"<unused{i}>"
        )
        path = d / names.get("vocab_file", "vocab.json")
        if entry.files == "char_json":
            path.write_text(json.dumps({t: i for i, t in enumerate(slots)}), encoding="utf-8")
        else:
            path.write_text("\n".join(slots) + "\n", encoding="utf-8")
        return cls(vocab_file=str(path), **kwargs)
    if entry.files == "wordpiece_txt":
        trained = _wordpiece_tokens(layout.vocab_size - len(set(reserved) | set(wanted)))
        slots = _lay_out(wanted, reserved, trained, layout.vocab_size, lambda i: f"[unused{i}]")
        path = d / names.get("vocab_file", "vocab.txt")
        path.write_text("\n".join(slots) + "\n", encoding="utf-8")
        _write_unk_maps(d, names, entry, defaults, kwargs)
        return cls(vocab_file=str(path), **kwargs)
    if entry.files == "bpe_at":
        vocab_tokens, merges = _bpe_at(entry, layout.vocab_size - len(set(reserved) | set(wanted)))
        slots = _lay_out(
            wanted, reserved, vocab_tokens, layout.vocab_size, lambda i: f"<unused{i}>"
        )
        return cls(**_bpe_files(d, names, slots, merges), **kwargs)
    if entry.files == "bpe_bytes":
        free = max(layout.vocab_size - len(set(reserved) | set(wanted)), 8)
        vocab_tokens, merges = _train("BPE", BYTE_LEVEL_PIPELINE, "{}", free)
        slots = _lay_out(
            wanted, reserved, list(vocab_tokens), layout.vocab_size, lambda i: f"<unused{i}>"
        )
        return cls(**_bpe_files(d, names, slots, merges), **kwargs)
    if entry.files == "spm_json":
        return cls(**_spm_json_files(d, names, wanted, reserved, layout, defaults), **kwargs)
    if entry.files.startswith("spm_"):
        path = d / names.get("vocab_file", "spiece.model")
        _write_spm(path, entry.files[4:], wanted, reserved, layout.vocab_size, defaults)
        return cls(vocab_file=str(path), **kwargs)
    raise PreprocessError(f"{cls.__name__}: unknown files recipe {entry.files!r}")


BYTE_LEVEL_PIPELINE = json.dumps(
    {
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
    },
    sort_keys=True,
)
"""``bpe_bytes``: GPT-2's byte-level BPE as the Python classes that read vocab.json + merges.txt
apply it (bytes mapped to printable characters, GPT-2's split regex, no prefix space)."""


def _bpe_at(entry: ClassEntry, size: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Subword-nmt BPE as CTRL / BlenderbotSmall read it: a word's last symbol carries
    ``</w>`` in the merges; in the vocabulary a word-final piece is bare and every other piece
    ends with ``@@``. Trained on the corpus split as the class splits (whitespace, ``isolate``
    characters, ``lowercase``); every corpus character is in the vocabulary in both forms, so no
    word falls back to the unknown token."""
    norm = {"type": "Lowercase"} if entry.lowercase else None
    splits: list[dict] = [{"type": "WhitespaceSplit"}]
    if entry.isolate:
        splits.append(
            {
                "type": "Split",
                "pattern": {"Regex": entry.isolate},
                "behavior": "Isolated",
                "invert": False,
            }
        )
    pipeline = json.dumps(
        {"normalizer": norm, "pre_tokenizer": {"type": "Sequence", "pretokenizers": splits}},
        sort_keys=True,
    )
    chars = sorted({c.lower() if entry.lowercase else c for c in corpus_chars()})
    alphabet = [f"{c}@@" for c in chars] + chars
    params = json.dumps({"end_of_word_suffix": "</w>"}, sort_keys=True)
    trained, merges = _train("BPE", pipeline, params, max(size - len(alphabet), 8) + 2 * len(chars))

    def piece(t: str) -> str:
        return t[: -len("</w>")] if t.endswith("</w>") else f"{t}@@"

    pieces = [piece(t) for t in trained]
    kept = [p for p in dict.fromkeys(alphabet + pieces)][: max(size, len(alphabet))]
    known = set(kept)
    ok = [m for m in merges if piece(m[0] + m[1]) in known]
    return kept, ok


SPM_JSON_ARGS = {"vocab_file", "vocab", "spm_file", "source_spm", "target_spm"}
"""The file arguments the ``spm_json`` recipe writes (a target vocabulary of a class with
``separate_vocabs`` stays unset: one vocabulary serves both sides)."""


def _bpe_files(d: Path, names: dict, slots: list[str], merges: list) -> dict[str, str]:
    """Write a BPE vocabulary (token -> its slot) and merges file; their ``__init__`` arguments."""
    vocab_path = d / names.get("vocab_file", "vocab.json")
    vocab_path.write_text(json.dumps({t: i for i, t in enumerate(slots)}), encoding="utf-8")
    merges_path = d / names.get("merges_file", "merges.txt")
    lines = ["#version: 0.2", *(" ".join(m) for m in merges)]
    merges_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"vocab_file": str(vocab_path), "merges_file": str(merges_path)}


def _spm_json_files(
    d: Path, names: dict, wanted: dict, reserved: list, layout: Layout, defaults: dict
) -> dict[str, str]:
    """``spm_json``: a SentencePiece BPE model segments the text and a vocab.json maps its
    pieces to ids (Speech2Text, M2M100, Marian); the specials sit at the config's ids in the
    json, so the model file's own piece order is free."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    unk = defaults.get("unk", "<unk>")
    n_reserved = len(set(reserved) | set(wanted) | {unk})
    model = _spm_bytes("bpe", max(layout.vocab_size - n_reserved, 8), unk)
    proto = pb.ModelProto()
    proto.ParseFromString(model)
    pieces = [p.piece for p in proto.pieces if p.piece != unk]
    slots = _lay_out(wanted, [unk, *reserved], pieces, layout.vocab_size, lambda i: f"<unused{i}>")
    args: dict[str, str] = {}
    for arg, filename in names.items():
        if arg not in SPM_JSON_ARGS:
            continue
        path = d / filename
        if filename.endswith(".json"):
            path.write_text(json.dumps({t: i for i, t in enumerate(slots)}), encoding="utf-8")
        else:
            path.write_bytes(model)
        args[arg] = str(path)
    return args


def _write_unk_maps(
    d: Path, names: dict, entry: ClassEntry, defaults: dict, kwargs: dict[str, Any]
) -> None:
    """``entry.unk_maps``: each file argument gets a JSON table ``{unk_token: 0}``."""
    unk = kwargs.get("unk_token") or defaults.get("unk", "[UNK]")
    for arg in entry.unk_maps:
        path = d / names.get(arg, f"{arg}.json")
        path.write_text(json.dumps({str(unk): 0}), encoding="utf-8")
        kwargs[arg] = str(path)


def _wordpiece_tokens(size: int) -> list[str]:
    """WordPiece tokens trained through BERT's pipeline (lowercasing, punctuation split)."""
    from transformers import BertTokenizer

    backend = json.loads(BertTokenizer().backend_tokenizer.to_str())
    pipeline = json.dumps(
        {"normalizer": backend["normalizer"], "pre_tokenizer": backend["pre_tokenizer"]},
        sort_keys=True,
    )
    params = json.dumps(_model_params(backend["model"]), sort_keys=True)
    return list(_train("WordPiece", pipeline, params, max(size, 8))[0])


@functools.cache
def _spm_bytes(model_type: str, size: int, unk: str) -> bytes:
    import io

    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus_lines()),
        model_writer=buf,
        model_type=model_type,
        vocab_size=size,
        hard_vocab_limit=False,
        unk_id=0,
        unk_piece=unk,
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        character_coverage=1.0,
        minloglevel=2,
        num_threads=1,
        seed_sentencepiece_size=1000,
    )
    return buf.getvalue()


def _write_spm(
    path: Path, model_type: str, wanted: dict, reserved: list, size: int, defaults: dict
) -> None:
    """A SentencePiece model trained on the corpus, its pieces permuted so ``wanted`` tokens sit
    at their ids (piece order is free: SentencePiece encodes by piece scores)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    unk = defaults.get("unk", "<unk>")
    n_reserved = len(set(reserved) | set(wanted) | {unk})
    proto = pb.ModelProto()
    proto.ParseFromString(_spm_bytes(model_type, max(size - n_reserved + 1, 8), unk))
    pieces = {p.piece: p for p in proto.pieces}
    trained = [p.piece for p in proto.pieces if p.piece != unk]
    specials = [t for t in reserved if t not in pieces or t == unk]
    order = _lay_out(wanted, [unk, *specials], trained, size, lambda i: f"<unused{i}>")
    new = pb.ModelProto()
    new.CopyFrom(proto)
    del new.pieces[:]
    for tok in order:
        p = new.pieces.add()
        if tok in pieces:
            p.CopyFrom(pieces[tok])
        else:
            p.piece, p.score = tok, 0.0
            p.type = pb.ModelProto.SentencePiece.CONTROL
        if tok == unk:
            p.type = pb.ModelProto.SentencePiece.UNKNOWN
    spec = new.trainer_spec
    spec.unk_id = order.index(unk)
    for role in ("bos", "eos", "pad"):
        tok = defaults.get(role)
        setattr(spec, f"{role}_id", order.index(tok) if tok in order else -1)
        if tok in order:
            setattr(spec, f"{role}_piece", tok)
    path.write_bytes(new.SerializeToString())


def _fixed(cls: type, entry: ClassEntry, layout: Layout) -> Any:
    """A fixed vocabulary (bytes, code points): built as is; ``VOCAB_OVERRIDE_RULE`` sizes the
    model to it."""
    if getattr(cls, "vocab_files_names", {}).get("vocab_file") == "byte_maps.json":
        raise PreprocessSkip(
            f"{cls.__name__}: {entry.reason}; needs its byte_maps.json", package="byte_maps.json"
        )
    return cls(**entry.ctor)


# ---------------------------------------------------------------------------------------------
# checks


def check_special_ids(
    tok: Any, config: Any, extra_special_tokens: dict[str, str] | None = None
) -> None:
    """Raise ``PreprocessError`` unless every special id the config names is the id of the
    tokenizer's token for that role (``SPECIAL_ROLES``, ``EXTRA_TOKEN_FIELD``) and every id the
    tokenizer emits fits the config's vocabulary."""
    layout = layout_for(config, extra_special_tokens)
    bad: list[str] = []
    for role, i in layout.roles.items():
        t = getattr(tok, f"{role}_token", None)
        got = tok.convert_tokens_to_ids(t) if t is not None else None
        if got != i:
            bad.append(f"{role}_token {t!r} is id {got}, the config says {i}")
    for t, (name, i) in layout.extras.items():
        got = tok.convert_tokens_to_ids(t)
        if got != i and not _shares_role(layout, i):
            bad.append(f"{name} token {t!r} is id {got}, the config says {i}")
    if bad:
        raise PreprocessError(f"{type(tok).__name__}: " + "; ".join(bad))


def _shares_role(layout: Layout, i: int) -> bool:
    return i in layout.roles.values()


def normalize_for_roundtrip(tok: Any, text: str) -> str:
    """``text`` as ``tok`` gives it back from ``decode(encode(text))``: the backend normalizer
    applied (lowercasing, accent stripping, Unicode forms: whatever the backend declares), or
    ``do_lower_case`` for Python tokenizers; whitespace collapsed and spaces before
    punctuation dropped (decoders join word pieces with spaces)."""
    backend = getattr(tok, "backend_tokenizer", None)
    norm = getattr(backend, "normalizer", None) if backend is not None else None
    if norm is not None:
        text = norm.normalize_str(text)
    elif getattr(tok, "do_lower_case", False) or getattr(
        getattr(tok, "basic_tokenizer", None), "do_lower_case", False
    ):
        text = text.lower()
    return _canon_spaces(text)


def _canon_spaces(text: str) -> str:
    text = " ".join(text.replace("▁", " ").split())
    return re.sub(r"\s+([.,!?;:'])", r"\1", re.sub(r"(')\s+", r"\1", text))


def roundtrip(tok: Any, text: str, class_name: str | None = None) -> tuple[str, str]:
    """(expected, decoded) for ``text``, both through ``normalize_for_roundtrip``'s
    whitespace rule; equal when the tokenizer round-trips."""
    entry = entry_for(class_name or type(tok).__name__)
    ids = tok.encode(text)
    decoded = tok.decode(ids, skip_special_tokens=True, **ctc_decode_kwargs(tok))
    if entry.drops:
        text = re.sub(entry.drops, "", text)
    want, got = normalize_for_roundtrip(tok, text), normalize_for_roundtrip(tok, decoded)
    if not entry.spaces:
        want, got = want.replace(" ", ""), got.replace(" ", "")
    return want, got


def ctc_decode_kwargs(tok: Any) -> dict[str, Any]:
    """``CTC_DECODE`` rule: a tokenizer whose decoding takes ``group_tokens`` (CTC: repeated
    ids merge, as a CTC head emits them) decodes a plain encoding with ``group_tokens=False``,
    else "hello" comes back "helo"."""
    for fn in (getattr(tok, "decode", None), getattr(tok, "_decode", None)):
        try:
            if fn is not None and "group_tokens" in inspect.signature(fn).parameters:
                return {"group_tokens": False}
        except (TypeError, ValueError):
            continue
    return {}


# ---------------------------------------------------------------------------------------------
# survey


def survey(types: list[str] | None = None, verbose: bool = False) -> dict[str, Any]:
    """Every type the tokenizer mapping and the registry share: build the tiny config of the
    type's primary class and synthesize its tokenizer. Returns per-class and per-type outcomes."""
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES

    from ..registry import load_registry
    from ..tiny import engine

    reg = load_registry()
    per_class: dict[str, str] = {}
    per_type: dict[str, str] = {}
    for mt, cname in sorted(TOKENIZER_MAPPING_NAMES.items()):
        if not cname or mt not in reg or (types and mt not in types):
            continue
        names = reg[mt].all_classes()
        if not names:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cfg = engine.build(mt, names[0]).config
        except Exception:
            per_type[mt] = "model not buildable"
            continue
        try:
            tok, over = synthesize_tokenizer(cname, cfg)
            ok, got = roundtrip(tok, "hello world, the test.", cname)
            outcome = "built" if ok == got or over else f"failed: roundtrip {got!r}"
        except PreprocessSkip as e:
            outcome = f"skipped: {e.package}"
        except Exception as e:
            outcome = f"failed: {type(e).__name__}: {str(e)[:120]}"
        per_type[mt] = outcome
        prev = per_class.get(cname)
        if prev is None or (prev == "built" and outcome != "built"):
            per_class[cname] = outcome
        if verbose:
            print(f"{mt:28} {cname:28} {outcome}")
    return {"classes": per_class, "types": per_type}


def summarize(result: dict[str, Any]) -> str:
    classes = Counter(
        v if not v.startswith("failed") else "failed" for v in result["classes"].values()
    )
    types = Counter(v.split(":")[0] for v in result["types"].values())
    lines = [f"classes: {dict(classes)}", f"types: {dict(types)}"]
    for c, v in sorted(result["classes"].items()):
        if v != "built":
            lines.append(f"  {c}: {v}")
    return "\n".join(lines)
