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
causality, chunked_prefill, position_sensitivity, weight_tying (case, cls)
    Model invariants, in ``hftestgen.checks.invariants`` (its docstring says what each asserts
    and where it applies), compared in float64 where the model runs in float64.

Every comparison goes through one ``_support.Comparison``: integer and boolean outputs are
compared exactly, and a check that compared nothing fails (or skips, naming why, where it
decides so). batch_independence, attention_mask_padding, save_load (outputs) and generate
(step logits) compare on a float64 copy of the model where it runs in float64, else in float32
(the message names the precision, and why float64 was unusable).

Tolerances (float64 / float32 fallback; rationale and measurements in
``hftestgen.checks.tolerances``)
------------------------------------------------------------------
=================  ==================  ==========  ==========
check              float64 atol, rtol  atol        rtol
=================  ==================  ==========  ==========
eval_determinism   (float32 only)      0 (exact)   0
save_load weights  (own dtype)         0 (exact)   0           every state-dict tensor bitwise
save_load outputs  1e-12, 1e-12        1e-6        1e-6
batch_independence 1e-6, 1e-7          1e-4        1e-4
padding            1e-6, 1e-7          1e-4        1e-4
generate (logits)  3e-5, 3e-5          1e-4        1e-4        token ids compared exactly
=================  ==================  ==========  ==========
"""

from __future__ import annotations

from typing import Any

from ..registry.records import CHECK_FAILURE, Known, Matcher
from . import tolerances
from .case import Case
from .table import BY_NAME, CHECKS, CHECKS_TABLE, Check, checks_for


def _impl(module: str = "_checks") -> Any:
    """The module of this package implementing checks (a table row names it)."""
    from importlib import import_module

    return import_module(f"{__name__}.{module}")


def _function(check: str) -> Any:
    module = BY_NAME[check].module
    # ``_impl()`` without an argument is the self-consistency checks' module (tests replace it)
    return getattr(_impl() if module == "_checks" else _impl(module), check)


def _failure(e: BaseException) -> tuple[str, str]:
    """(exception class name, first line of the message) of a failed check; a check's own
    verdict (``pytest.fail``) is ``CheckFailure``."""
    import pytest

    name = CHECK_FAILURE if isinstance(e, pytest.fail.Exception) else type(e).__name__
    text = str(e)
    return name, text.splitlines()[0] if text else ""


def _run(check: str, case: Case, model_class: str | None, *args: Any) -> None:
    """Run one check, honouring the type's known entries (``case.known``): a not-applicable
    entry skips with its reason; an upstream-bug entry expects a failure its matcher matches
    (xfail), fails on any other failure, and fails when the check passes (fixed upstream)."""
    row = BY_NAME[check]
    # one column of a parametrized check: an entry for the column ("backend:sdpa",
    # "pipeline:fill-mask") before one for them all; the class is the one the column stands for
    value = args[0] if row.params == "backend_params" else model_class
    subject = case.subject_of(row.params, model_class)
    column = case.known_for(f"{check}:{value}", subject) if row.columns else None
    entry = column or case.known_for(check, subject)
    fn = _function(check)
    if entry is None:
        fn(case, model_class, *args)
        return
    import pytest

    reason = f"{entry.kind}: {entry.reason}"
    if entry.kind == "not-applicable":
        pytest.skip(reason)
    try:
        fn(case, model_class, *args)
    except (Exception, pytest.fail.Exception) as e:
        exc, message = _failure(e)
        if entry.match is not None and not entry.match.matches(exc, message):
            pytest.fail(
                f"{exc}: {message[:300]} -- does not match the known upstream-bug entry of "
                f"{case.model_type} ({check}; expected {entry.match.describe()}): a new failure, "
                "not the known bug",
                pytrace=False,
            )
        expected = f"{reason} [{exc}: {message[:200] or type(e).__name__}]"
    else:
        pytest.fail(
            f"known upstream bug no longer reproduces for {case.model_type}/{model_class} "
            f"({check}): remove its [[known]] entry from hftestgen/registry/ (types/ or classes/)"
        )
    # Outside the except block: an xfail raised there would carry the matched failure as its
    # context, and pytest formats that chain in full (every frame's source file parsed, ~0.1 s
    # per xfail) for a report that shows only the reason.
    pytest.xfail(expected)


def _wrapper(c: Check) -> Any:
    if c.params == "backend_params":

        def check(case: Case, model_class: str | None, backend: str) -> None:
            _run(c.name, case, model_class, backend)

    else:

        def check(case: Case, model_class: str | None) -> None:
            _run(c.name, case, model_class)

    check.__name__ = check.__qualname__ = c.name
    check.__doc__ = f"{c.name}: {c.asserts}"
    return check


for _c in CHECKS_TABLE:
    globals()[_c.name] = _wrapper(_c)
del _c


def backend_params(case: Case) -> list[tuple[str, str]]:
    """(backend, model class) pairs for ``test_backend``: the backends this run selects
    (``$HFTESTGEN_BACKENDS``; none by default), ``hftestgen.checks.backends.params``."""
    from .backends import params

    return params(case)


def clear_cache() -> None:
    """Forget the tiny models built in this process (no-op when none were)."""
    import sys

    support = sys.modules.get(__name__ + "._support")
    if support is not None:
        support.clear_cache()


__all__ = [
    "BY_NAME",
    "CHECKS",
    "CHECKS_TABLE",
    "Case",
    "Check",
    "Known",
    "Matcher",
    "backend_params",
    "checks_for",
    "clear_cache",
    "tolerances",
    *CHECKS,
]
