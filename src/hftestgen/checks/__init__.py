"""Checks that generated tests call: ``checks.<name>(CASE, model_class)``.

Importing this package needs neither torch nor transformers (a generated file must import, and
skip cleanly, where the model stack is absent); each check imports the machinery on first call.

Every check builds its tiny model through ``hftestgen.tiny.build`` once per
(model type, class, tiny overrides) per process (a small LRU cache, ``clear_cache()`` empties
it), seeds Python/NumPy/torch with 0 before each forward pass, and feeds
``built.inputs(batch_size=2, seed=0)``. A ``TinyError`` of category ``missing-package`` (or an
import of an absent package) skips the test as ``missing package: <pkg>``; any other build or
input failure fails it with ``cannot build tiny <type>/<class> [<category>]: <message>``: a
model we cannot build is a failure, not a pass. Checks that do not apply skip with a concrete
reason; none passes without having compared something.

Checks
------
forward(case, cls)
    Outputs contain floating tensors, all finite, and the fields the task promises have the
    shapes derived from config + task (never per-model code): base text models
    ``last_hidden_state`` batch x seq x hidden_size; LM heads (causal, masked, seq2seq, VLM)
    ``logits`` batch x seq x vocab_size (text config); sequence / image / audio / video
    classification ``logits`` batch x num_labels; token classification batch x seq x num_labels;
    QA ``start_logits``/``end_logits`` batch x seq; multiple choice batch x num_choices; NSP
    batch x 2; CTC batch x time x vocab_size; audio frame classification batch x time x
    num_labels; semantic segmentation batch x num_labels x H x W; zero-shot image classification
    ``logits_per_image`` images x texts. Other tasks: finiteness and structure only.
eval_determinism(case, cls)
    Two eval-mode passes, RNG seeded once before the first: bitwise equal.
batch_independence(case, cls)
    Row i of a batch-of-2 run vs. sample i run alone, for every output whose leading dim is the
    batch: ``BATCH`` tolerance.
attention_mask_padding(case, cls)
    Pads the token sequence by 3 masked positions (left, with ``position_ids`` over real tokens,
    for causal stacks whose forward takes ``position_ids``; right otherwise) and compares outputs
    at real positions: ``PADDING`` tolerance. Pooled outputs (batch x features) are compared only
    for heads without per-position outputs. Skips "no attention_mask in forward".
save_load(case, cls)
    ``save_pretrained`` (must write .safetensors) into a temp dir, ``from_pretrained`` through the
    task's Auto class (the class itself where none maps it): same class, same config (minus
    ``_name_or_path``/``transformers_version``), no missing/unexpected/mismatched keys, tied
    parameters still share storage (``data_ptr``), bitwise identical state dict, outputs within
    ``SAVE_LOAD``.
train_step(case, cls)
    Head classes taking ``labels``: train-mode forward on labelled inputs gives a finite scalar
    loss; backward gives finite gradients; every trainable parameter that was an operand of a
    grad-enabled torch op during the forward (observed with a ``TorchFunctionMode``) has a
    gradient. Parameters the head never touched may keep ``grad=None``.
generate(case, cls)
    Greedy, ``max_new_tokens=4``: exactly 4 new tokens unless every shorter row hit EOS;
    deterministic; step-0 logits == plain forward on the prompt (``GENERATE_LOGITS``) and the
    first new token == its argmax (or the argmax of the processed scores when a logits processor
    of the model's generation config changed step 0); identical tokens, and step logits within
    ``GENERATE_LOGITS``, with ``use_cache=False``.
device_parity(case, cls, device)
    For each of ``ACCELERATORS``: skips "<device> not available"; otherwise forward on the
    device (TF32 off) vs. CPU within ``DEVICE``.

Tolerances (float32; rationale in ``hftestgen.checks.tolerances``)
------------------------------------------------------------------
=================  ==========  ==========
check              atol        rtol
=================  ==========  ==========
eval_determinism   0 (exact)   0
save_load weights  0 (exact)   0           every state-dict tensor bitwise
save_load outputs  1e-6        1e-6
batch_independence 1e-4        1e-4
padding            1e-4        1e-4
generate (logits)  1e-4        1e-4        token ids compared exactly
device_parity      1e-4        1e-4
=================  ==========  ==========
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from . import tolerances
from .case import Case

ACCELERATORS = ("cuda", "mps")


def _impl() -> Any:
    from . import _checks

    return _checks


def _run(check: str, case: Case, model_class: str | None, *args: Any) -> None:
    """Run one check, honouring ``known/*.toml`` (see known/README.md)."""
    entry = known_issue(case.model_type, check, model_class)
    fn = getattr(_impl(), check)
    if entry is None:
        fn(case, model_class, *args)
        return
    import pytest

    reason = f"{entry['kind']}: {entry['reason']}"
    if entry["kind"] == "not-applicable":
        pytest.skip(reason)
    try:
        fn(case, model_class, *args)
    except (Exception, pytest.fail.Exception) as e:
        pytest.xfail(f"{reason} [{str(e).splitlines()[0][:200] if str(e) else type(e).__name__}]")
    pytest.fail(
        f"known upstream bug no longer reproduces for {case.model_type}/{model_class} "
        f"({check}): remove its entry from hftestgen/checks/known/"
    )


KNOWN_DIR = "known"
"""Folder (inside this package) of TOML files with explained exceptions; see its README."""


@lru_cache(maxsize=1)
def _known() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every ``known/*.toml`` entry, validated: ``{type: {check: [entry, ...]}}``.

    A (type, check) holds one table, or an array of tables narrowed by disjoint ``classes``
    (one reason per set of classes). Two entries that could both apply to one class are an
    error, whichever files they are in: the files are split by topic so that several people can
    edit them at once."""
    import sys
    from pathlib import Path

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    claimed: dict[tuple[str, str], dict[str, str]] = {}  # (type, check) -> {class or "*": file}
    for path in sorted((Path(__file__).parent / KNOWN_DIR).glob("*.toml")):
        rel = f"hftestgen/checks/{KNOWN_DIR}/{path.name}"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{rel}: {e}") from e
        for mt, per_check in data.items():
            for check, entries in per_check.items():
                where = f"{rel}: [{mt}.{check}]"
                if check not in CHECKS:
                    raise ValueError(f"{where} is not a check ({', '.join(CHECKS)})")
                for entry in entries if isinstance(entries, list) else [entries]:
                    if entry.get("kind") not in ("not-applicable", "upstream-bug") or not entry.get(
                        "reason"
                    ):
                        raise ValueError(f"{where} needs kind and reason")
                    owners = claimed.setdefault((mt, check), {})
                    for cls in entry.get("classes") or ["*"]:
                        # "*" (every class) clashes with any earlier entry, and any with a "*"
                        prior = owners.get(cls) or owners.get("*")
                        if cls == "*" and owners:
                            prior = next(iter(owners.values()))
                        if prior:
                            raise ValueError(
                                f"{where}: an entry for {'every class' if cls == '*' else cls} "
                                f"is already defined in {prior}; keep one entry per "
                                "(type, check, class)"
                            )
                        owners[cls] = rel
                    out.setdefault(mt, {}).setdefault(check, []).append(entry)
    return out


def known_issue(model_type: str, check: str, model_class: str | None) -> dict[str, Any] | None:
    for entry in _known().get(model_type, {}).get(check, ()):
        classes = entry.get("classes")
        if not classes or model_class in classes:
            return entry
    return None


def forward(case: Case, model_class: str | None) -> None:
    _run('forward', case, model_class)


def eval_determinism(case: Case, model_class: str | None) -> None:
    _run('eval_determinism', case, model_class)


def batch_independence(case: Case, model_class: str | None) -> None:
    _run('batch_independence', case, model_class)


def attention_mask_padding(case: Case, model_class: str | None) -> None:
    _run('attention_mask_padding', case, model_class)


def save_load(case: Case, model_class: str | None) -> None:
    _run('save_load', case, model_class)


def train_step(case: Case, model_class: str | None) -> None:
    _run('train_step', case, model_class)


def generate(case: Case, model_class: str | None) -> None:
    _run('generate', case, model_class)


def device_parity(case: Case, model_class: str | None, device: str) -> None:
    _run("device_parity", case, model_class, device)


def clear_cache() -> None:
    """Forget the tiny models built in this process (no-op when none were)."""
    import sys

    support = sys.modules.get(__name__ + "._support")
    if support is not None:
        support.clear_cache()


CHECKS = (
    "forward",
    "eval_determinism",
    "batch_independence",
    "attention_mask_padding",
    "save_load",
    "train_step",
    "generate",
    "device_parity",
)

__all__ = ["ACCELERATORS", "CHECKS", "Case", "clear_cache", "tolerances", *CHECKS]
