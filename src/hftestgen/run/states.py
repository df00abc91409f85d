"""The state of one test and of one model type, as ``hftestgen diff`` compares them.

A test's **state** is derived from what the pytest plugin recorded (``outcome``, ``category``,
``message`` and ``mode``; see docs/coverage-schema.md):

=========  ======  ================================================================================
state      class   recorded as
=========  ======  ================================================================================
passed     ok      outcome ``passed``
xfailed    ok      outcome ``skipped`` with category ``known-bug``: a known upstream bug
                   (``checks/known/``) that still reproduces. Rows without a category (history
                   files written before it was stored) are recognised by the plugin's skip reason
                   ``xfail`` / ``xfail: ...`` with mode ``skipped``.
skipped    ok      any other outcome ``skipped``
xpassed    bad     a known upstream bug that no longer reproduces: the check fails with
                   ``[Failed: ]known upstream bug no longer reproduces ...``
                   (``hftestgen.checks``); also a strict xfail marker that passed
                   (``[XPASS(strict)] ...``). (A non-strict xfail marker that passes is recorded
                   as passed; generated tests use no xfail markers.)
failed     bad     any other outcome ``failed`` (timeouts and worker crashes included)
error      bad     outcome ``error`` (setup / teardown failed, or the test never completed)
=========  ======  ================================================================================

Between two runs a test **regressed** when it moved from an ok state to a bad one (e.g.
passed / xfailed / skipped -> failed / error, xfailed -> xpassed), was **fixed** when it moved
from bad to ok, and **changed** when it moved within a class (passed -> skipped, failed ->
error, ...). ``TEST_STATES`` lists the states in that order, best first.

A model type's status (``coverage.json``) is compared the same way: ``passed``,
``known-issue``, ``incomplete`` (an applicable check was not covered), ``skipped`` and
``nothing-ran`` are ok, ``failed`` is bad; ``component``, ``not-testable`` and ``not-run`` are
not compared (only whether the type appeared or disappeared). So a type moving from
``passed`` to ``incomplete`` is **changed**, not regressed: nothing failed, but it no longer
earns its pass.
"""

from __future__ import annotations

import re

TEST_STATES = ("passed", "xfailed", "skipped", "xpassed", "failed", "error")
OK_TEST_STATES = frozenset({"passed", "xfailed", "skipped"})
BAD_TEST_STATES = frozenset({"xpassed", "failed", "error"})

TYPE_STATUSES = ("passed", "known-issue", "incomplete", "skipped", "nothing-ran", "failed")
OK_TYPE_STATUSES = frozenset({"passed", "known-issue", "incomplete", "skipped", "nothing-ran"})
BAD_TYPE_STATUSES = frozenset({"failed"})

KNOWN_BUG = "known-bug"
# The failure hftestgen.checks raises when a known upstream bug stops reproducing.
NO_LONGER_REPRODUCES = "known upstream bug no longer reproduces"
_XFAIL_REASON = re.compile(r"^xfail(?::|$)")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")


def state_of(
    outcome: str | None,
    *,
    category: str | None = None,
    message: str | None = None,
    mode: str | None = None,
) -> str:
    """One of ``TEST_STATES`` for a recorded test (see the module docstring)."""
    msg = (message or "").lstrip()
    if outcome == "passed":
        return "passed"
    if outcome == "skipped":
        if category == KNOWN_BUG:
            return "xfailed"
        if category is None and mode in (None, "skipped") and _XFAIL_REASON.match(msg):
            return "xfailed"
        return "skipped"
    if outcome == "failed":
        msg = msg.removeprefix("Failed: ")  # pytest.fail()'s message as pytest reports it
        if msg.startswith(NO_LONGER_REPRODUCES) or msg.startswith("[XPASS(strict)]"):
            return "xpassed"
        return "failed"
    return "error"  # 'error', or no outcome at all: the test did not complete


def change_kind(before: str, after: str, ok: frozenset[str], bad: frozenset[str]) -> str | None:
    """'regressed', 'fixed' or 'changed' for a state change; None when nothing changed."""
    if before == after:
        return None
    if before in ok and after in bad:
        return "regressed"
    if before in bad and after in ok:
        return "fixed"
    return "changed"


def same_reason(a: str | None, b: str | None) -> bool:
    """Whether two reason texts say the same, ignoring whitespace and object addresses."""
    return _norm(a) == _norm(b)


def _norm(text: str | None) -> str:
    return _ADDRESS.sub("0x…", " ".join((text or "").split()))
