"""pytest plugin loaded by the generated suite's ``conftest.py``.

What it does, per generated test (a test whose module defines ``CASE``):

* skips the test with ``unsupported: <CASE.skip>`` when the overrides file marked the type
  skipped (a declared unsupported build);
* skips it with ``missing package: torch`` / ``missing package: transformers`` when the model
  stack is not installed (checked with ``importlib.util.find_spec``: nothing here imports torch);
* turns an import of a missing optional package (``ModuleNotFoundError`` for a package that is
  not installed, or ``TinyError("missing-package", ...)``) into a skip naming the package;
* records one JSON line per test into the results file given by ``--hftestgen-results PATH``
  (or the ``HFTESTGEN_RESULTS`` environment variable): model type, family, check, param,
  outcome, skip reason and its ``category`` (the reason's prefix, ``hftestgen.checks.skips``:
  not-applicable, not-covered, missing-package, unsupported, no-device; an xfail is
  known-bug), short failure message, duration and mode;
* injects a fault of ``hftestgen.faults`` for the whole session when ``HFTESTGEN_FAULT`` names
  one (an unknown name is a usage error listing the valid ones);
* deselects ``test_backend`` (the backend matrix) unless backends are selected
  (``$HFTESTGEN_BACKENDS``, or ``[tool.hftestgen] backends`` of the rootdir's pyproject, which it
  exports the same way), and attaches each cell's data (``hftestgen.checks.matrix.LAST_CELL``)
  to the test's record as ``cell``; with ``$HFTESTGEN_MATRIX_ONLY=1`` (``run --matrix-only``)
  every other generated test is deselected;
* deselects ``test_golden`` unless a snapshot is configured (``$HFTESTGEN_SNAPSHOT``, or
  ``[tool.hftestgen] snapshots`` of the rootdir's pyproject, which it then exports to
  ``HFTESTGEN_SNAPSHOT`` so every process compares with the same one; ``hftestgen.snapshot``).

Under pytest-xdist the records are written by the controller process only: workers attach the
per-test data to their reports (``report.hftestgen``), which xdist transfers to the controller.
A worker crash (xdist's "worker crashed while running ...") is recorded too, without CASE data.
Records are flushed line by line so ``hftestgen run`` can show progress while tests run.

Record kinds (``"event"`` key): ``start``, ``collected`` (count), ``collect_error``, ``test``,
``worker`` (peak RSS per worker process), ``finish``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any

import pytest

RESULTS_ENV = "HFTESTGEN_RESULTS"
FAULT_ENV = "HFTESTGEN_FAULT"  # a fault of hftestgen.faults to inject for the session
REQUIRED_PACKAGES = ("torch", "transformers")
MISSING_PREFIX = "missing package: "
UNSUPPORTED_PREFIX = "unsupported: "  # hftestgen.checks.skips.PREFIXES (this module stays light)
_MESSAGE_MAX = 400

# ---------------------------------------------------------------------------------------------
# helpers usable without pytest state


def package_missing(name: str) -> bool:
    """True when top-level package ``name`` cannot be found. Never imports it."""
    if name in sys.modules:
        return sys.modules[name] is None
    from importlib.util import find_spec

    try:
        return find_spec(name) is None
    except (ImportError, ValueError):
        return True


_missing_cache: list[str] | None = None


def missing_required() -> list[str]:
    global _missing_cache
    if _missing_cache is None:
        _missing_cache = [p for p in REQUIRED_PACKAGES if package_missing(p)]
    return _missing_cache


def _real_module(name: str) -> bool:
    m = sys.modules.get(name)
    return m is not None and getattr(m, "__file__", None) is not None


def current_mode() -> str:
    """'real' when genuine torch and transformers modules are loaded in this process."""
    return "real" if all(_real_module(p) for p in REQUIRED_PACKAGES) else "no-model"


def split_nodeid(nodeid: str) -> tuple[str, str, str]:
    """(file basename, check name, param) from a node id like 'd/test_hf_x.py::test_forward[A]'."""
    path, _, rest = nodeid.partition("::")
    name = rest.rsplit("::", 1)[-1]
    param = ""
    m = re.match(r"^([^\[]*)\[(.*)\]$", name)
    if m:
        name, param = m.group(1), m.group(2)
    check = name[5:] if name.startswith("test_") else name
    return os.path.basename(path), check, param


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 3] + "..."


def _skip_reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr or "")
    if reason.startswith("Skipped: "):
        reason = reason[len("Skipped: ") :]
    return _short(reason)


def _skip_category(reason: str) -> str | None:
    """The category a skip reason's prefix names (``hftestgen.checks.skips``), else None."""
    from hftestgen.checks.skips import category_of

    return category_of(reason)


def _failure_message(report: Any) -> str:
    lr = report.longrepr
    crash = getattr(lr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        msg = crash.message
    elif isinstance(lr, tuple) and len(lr) == 3:
        msg = str(lr[2])
    else:
        lines = [ln for ln in str(lr or "").splitlines() if ln.strip()]
        errs = [ln for ln in lines if ln.startswith("E ")]
        msg = (errs[-1][2:] if errs else lines[-1]) if lines else "failed"
    return _short(msg.strip())


def _missing_package_of(excinfo: Any) -> str | None:
    """The package a failure needs when it is a missing (not merely broken) optional package."""
    if excinfo is None:
        return None
    exc = excinfo.value
    if type(exc).__name__ == "TinyError" and getattr(exc, "category", None) == "missing-package":
        msg = str(getattr(exc, "message", "") or exc)
        m = re.search(r"(?:needs|missing package:?)\s+([A-Za-z0-9_.\-]+)", msg)
        return m.group(1) if m else msg
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        if top and package_missing(top):
            return top
    return None


# ---------------------------------------------------------------------------------------------
# per-test behaviour (runs in every process that executes tests)


def _case_of(item: pytest.Item) -> Any:
    mod = getattr(item, "module", None)
    return getattr(mod, "CASE", None) if mod is not None else None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hftestgen")
    group.addoption(
        "--hftestgen-results",
        default=None,
        metavar="PATH",
        help=f"Append one JSON line per test to PATH (default: ${RESULTS_ENV}).",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    case = _case_of(item)
    if case is None:
        return
    skip = getattr(case, "skip", None)
    if skip:
        pytest.skip(UNSUPPORTED_PREFIX + str(skip))
    missing = missing_required()
    if missing:
        pytest.skip(MISSING_PREFIX + ", ".join(missing))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    pkg = _missing_package_of(call.excinfo) if report.failed and call.when == "call" else None
    if pkg is not None:
        report.outcome = "skipped"
        path, lineno, _ = item.location
        report.longrepr = (str(item.path), (lineno or 0) + 1, f"Skipped: {MISSING_PREFIX}{pkg}")
    case = _case_of(item)
    _, check, param = split_nodeid(report.nodeid)
    orig = getattr(item, "originalname", None)
    if orig:
        check = orig[5:] if orig.startswith("test_") else orig
    mode = None
    for k, v in getattr(item, "user_properties", ()):
        if k == "hftestgen_mode":
            mode = str(v)
    if mode is None:
        mode = "skipped" if report.skipped else current_mode()
    report.hftestgen = {
        "model_type": getattr(case, "model_type", None),
        "family": getattr(case, "family", None),
        "check": check,
        "param": param,
        "mode": mode,
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        # The worker's peak RSS so far: where it jumps names the test that grew the process.
        "maxrss_mb": round(_maxrss_kb() / 1024, 1),
    }
    if check == "backend" and call.when in ("setup", "call"):
        matrix = sys.modules.get("hftestgen.checks.matrix")
        cell = getattr(matrix, "LAST_CELL", None) if matrix is not None else None
        if cell is not None and call.when == "call":
            report.hftestgen["cell"] = dict(cell)
            matrix.LAST_CELL = None
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        config.workeroutput["hftestgen_maxrss_kb"] = _maxrss_kb()
        config.workeroutput["hftestgen_pid"] = os.getpid()


def pytest_report_header(config: pytest.Config) -> str | None:
    fault = os.environ.get(FAULT_ENV)
    return f"hftestgen: fault injected: {fault} ({FAULT_ENV})" if fault else None


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # Shutting down an interpreter that imported torch and transformers spends ~1 s in its
    # final garbage collections, walking millions of objects that the OS frees anyway. Freezing
    # them (gc.freeze) skips that walk; atexit handlers and module teardown still run.
    import gc

    gc.freeze()


def _maxrss_kb() -> int:
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    except Exception:  # pragma: no cover - non-POSIX
        return 0


# ---------------------------------------------------------------------------------------------
# the recorder (controller / single process only)


class Recorder:
    def __init__(self, path: str):
        self.path = path
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        self._f = open(path, "a", encoding="utf-8", buffering=1)
        self._pending: dict[str, dict[str, Any]] = {}
        self._collected_written = False
        self._xdist = False

    def write(self, rec: dict[str, Any]) -> None:
        self._f.write(json.dumps(rec, sort_keys=True) + "\n")
        self._f.flush()

    def close(self) -> None:
        try:
            self._f.close()
        except Exception:  # pragma: no cover
            pass

    # hooks ------------------------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.write({"event": "start", "time": time.time(), "pid": os.getpid()})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self._collected_written and not self._xdist:
            self._collected_written = True
            self.write({"event": "collected", "count": len(session.items)})

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self._collected_written:
            self._collected_written = True
            self.write({"event": "collected", "count": len(ids)})

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        self._xdist = True

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        out = getattr(node, "workeroutput", None) or {}
        self.write(
            {
                "event": "worker",
                "worker": getattr(getattr(node, "gateway", None), "id", "?"),
                "pid": out.get("hftestgen_pid"),
                "maxrss_kb": out.get("hftestgen_maxrss_kb"),
                "error": _short(error) if error else None,
            }
        )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.write(
                {
                    "event": "collect_error",
                    "nodeid": report.nodeid,
                    "file": os.path.basename(report.nodeid.split("::")[0]),
                    "message": _failure_message(report),
                }
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rec = self._pending.get(report.nodeid)
        if rec is None:
            file, check, param = split_nodeid(report.nodeid)
            rec = {
                "event": "test",
                "nodeid": report.nodeid,
                "file": file,
                "check": check,
                "param": param,
                "model_type": None,
                "family": None,
                "outcome": None,
                "category": None,
                "skip_reason": None,
                "message": None,
                "duration_s": 0.0,
                "mode": None,
                "worker": None,
                "maxrss_mb": None,
            }
            self._pending[report.nodeid] = rec
        info = getattr(report, "hftestgen", None)
        if isinstance(info, dict):
            for k in ("model_type", "family", "check", "param", "worker", "maxrss_mb", "cell"):
                if info.get(k) is not None:
                    rec[k] = info[k]
            if report.when in ("setup", "call") and info.get("mode"):
                rec["mode"] = info["mode"]
        rec["duration_s"] = round(rec["duration_s"] + float(report.duration or 0.0), 6)
        when = report.when
        if when not in ("setup", "call", "teardown"):  # xdist crash report ("???")
            rec.update(outcome="failed", category="crash", message=_failure_message(report))
            rec["mode"] = "crashed"
            self._finish(report.nodeid)
            return
        if report.failed:
            msg = _failure_message(report)
            if "Timeout" in msg and "pytest-timeout" in msg:
                rec.update(outcome="failed", category="timeout", message=f"timeout: {msg}")
            elif when == "call":
                rec.update(outcome="failed", category="failed", message=msg)
            elif rec["outcome"] in (None, "passed", "skipped"):
                rec.update(outcome="error", category=f"{when}-error", message=msg)
        elif report.skipped:
            if rec["outcome"] is None:
                reason = _skip_reason(report.longrepr)
                xfail = getattr(report, "wasxfail", None) is not None
                if xfail:
                    reason = f"xfail: {report.wasxfail}" if report.wasxfail else "xfail"
                rec.update(outcome="skipped", skip_reason=reason, mode="skipped")
                if xfail:  # a known upstream bug that still reproduces (a record's [[known]])
                    rec["category"] = "known-bug"
                else:  # the reason's prefix (hftestgen.checks.skips); None: an untyped skip
                    rec["category"] = _skip_category(reason)
        elif when == "call" and rec["outcome"] is None:
            rec["outcome"] = "passed"
        if when == "teardown":
            self._finish(report.nodeid)

    def _finish(self, nodeid: str, interrupted: bool = False) -> None:
        rec = self._pending.pop(nodeid, None)
        if rec is None:
            return
        if rec["outcome"] is None and interrupted:  # Ctrl-C while it ran: not a failure
            rec.update(outcome="skipped", skip_reason="interrupted", category="interrupted")
        elif rec["outcome"] is None:
            rec["outcome"] = "error"
            rec["message"] = rec["message"] or "test did not complete"
        if rec["outcome"] == "skipped":
            rec["mode"] = "skipped"
        if rec["mode"] is None:
            rec["mode"] = "no-model"
        self.write(rec)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for nodeid in list(self._pending):
            self._finish(nodeid, interrupted=int(exitstatus) == int(pytest.ExitCode.INTERRUPTED))
        if not self._xdist:
            self.write(
                {"event": "worker", "worker": "main", "pid": os.getpid(), "maxrss_kb": _maxrss_kb()}
            )
        self.write({"event": "finish", "exitstatus": int(exitstatus), "time": time.time()})

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.close()


GOLDEN_TEST = "test_golden"


def _snapshot_dir(config: pytest.Config) -> str | None:
    """The configured snapshot folder (exported to ``$HFTESTGEN_SNAPSHOT``), or None."""
    from hftestgen.snapshot import ENV, configured

    found = configured(getattr(config, "rootpath", None))
    if found is not None:
        os.environ[ENV] = str(found)
    return None if found is None else str(found)


BACKEND_TEST = "test_backend"


def _backends_configured(config: pytest.Config) -> bool:
    """Whether this run selects backends: ``$HFTESTGEN_BACKENDS``, else ``[tool.hftestgen]
    backends`` of the rootdir's pyproject (exported to the variable, so xdist workers and the
    generated files' parametrization see the same selection)."""
    from hftestgen.checks.backends import BACKENDS_ENV

    if os.environ.get(BACKENDS_ENV, "").strip():
        return True
    root = getattr(config, "rootpath", None)
    try:
        from hftestgen.settings import load_settings

        chosen = load_settings(root).backends if root is not None else []
    except Exception:
        return False
    if chosen:
        os.environ[BACKENDS_ENV] = ",".join(chosen)
    return bool(chosen)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    from hftestgen.checks.backends import BACKENDS_ENV, MATRIX_ONLY_ENV

    drop: set[str] = set()
    backend_tests = any(getattr(i, "originalname", None) == BACKEND_TEST for i in items)
    if backend_tests and not os.environ.get(BACKENDS_ENV, "").strip():
        drop.add(BACKEND_TEST)  # no backend selected: the empty parameter set's placeholder
    golden = any(getattr(i, "originalname", None) == GOLDEN_TEST for i in items)
    if golden and _snapshot_dir(config) is None:
        drop.add(GOLDEN_TEST)
    matrix_only = os.environ.get(MATRIX_ONLY_ENV, "").strip() not in ("", "0")

    def dropped(item: Any) -> bool:
        name = getattr(item, "originalname", None)
        if matrix_only and _case_of(item) is not None and name != BACKEND_TEST:
            return True
        return name in drop

    gone = [i for i in items if dropped(i)]
    if not gone:
        return
    config.hook.pytest_deselected(items=gone)
    items[:] = [i for i in items if not dropped(i)]


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("HFTESTGEN_SNAPSHOT") is None:
        _snapshot_dir(config)
    _backends_configured(config)
    fault = os.environ.get(FAULT_ENV)
    if fault:  # in every process that runs tests (xdist workers too); imports nothing otherwise
        from hftestgen import faults

        try:
            faults.activate(fault)
        except faults.UnknownFault as e:
            raise pytest.UsageError(str(e)) from None
    if hasattr(config, "workerinput"):
        return  # xdist worker: the controller records
    path = config.getoption("hftestgen_results", None) or os.environ.get(RESULTS_ENV)
    if path and not config.pluginmanager.has_plugin("hftestgen-recorder"):
        config.pluginmanager.register(Recorder(path), "hftestgen-recorder")
