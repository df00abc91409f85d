"""``hftestgen run --ray [ADDRESS]``: the generated suite on a Ray cluster.

Work unit: one generated file (one model type, with its backend-matrix cells when backends are
selected: they are tests in the file). The driver (this process):

* starts a local cluster (``--ray`` alone: ``ray.init(num_cpus=<workers>)``) or connects to one
  (``--ray auto``: Ray's own ``RAY_ADDRESS`` / running-cluster lookup; ``--ray ADDRESS``:
  ``ray://host:10001`` or ``host:6379``);
* starts N long-lived actors (:class:`SuiteWorker`, ``num_cpus=1`` and a declared ``memory``
  each, ``num_gpus=1`` when a device backend such as ``cuda`` is selected). Each imports torch and
  Transformers once, then runs ``pytest.main`` in-process for every unit it is given, with the
  same options as a local run (``--timeout S --timeout-method signal``: Ray runs a plain actor's
  methods in the process's main thread, so pytest-timeout works as today);
* hands units out longest first (the history's recorded per-type durations, else an estimate from
  the class count: ``shards.shard_weights``), one at a time per actor, and collects them as they
  finish (``ray.wait``), appending the records to ``<report>/results.jsonl``; the runner then
  builds the same coverage reports and history entry as a local run.

The generated file's text travels with the unit (the actor writes it into its own folder beside
the suite's ``conftest.py``), so the workers need hftestgen and the model stack installed but no
shared file system. The driver's ``HFTESTGEN_*`` variables (backend selection, snapshot, fault)
reach the actors through ``runtime_env``.

Failures: a unit whose actor dies (a segfault, ``os._exit``, the OOM killer, a lost node) is run
once more on a new actor; the records of that second run carry ``"retried": true``. A unit that
loses its actor twice is recorded as a collection error of its file, naming the node. Ctrl-C in
the driver cancels what is outstanding, kills the actors, shuts a local cluster down, and the
run ends as interrupted (exit 130) with the reports of the units that finished.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .warm import PRELOAD as WARM_PRELOAD

INSTALL_HINT = "pip install 'hftestgen[ray]'"
LOCAL = "local"  # --ray without an address: start a local cluster
DEFAULT_MEMORY_MB = 2048  # declared per actor; HFTESTGEN_RAY_MEMORY_MB overrides
MEMORY_ENV = "HFTESTGEN_RAY_MEMORY_MB"
DEVICE_BACKENDS = ("cuda",)  # backend columns that need one GPU per actor
PRELOAD = (*WARM_PRELOAD, "hftestgen.run.pytest_plugin", "hftestgen.checks")
"""What an actor imports before its first unit (an actor lives for one run, so unlike the warm
server it may import hftestgen itself)."""
PASS_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED", "TOKENIZERS_PARALLELISM")


def require_ray() -> Any:
    """The ``ray`` module, or a usage error (exit 2) saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def looks_like_address(value: str) -> bool:
    """``local``, ``auto``, or HOST:PORT / ray://HOST:PORT (a model type never has a colon)."""
    return value in (LOCAL, "auto") or (":" in value and not value.startswith("-"))


def check_address(value: str) -> str:
    """``value`` when it :func:`looks_like_address`, else a usage error."""
    if looks_like_address(value):
        return value
    raise UsageError(
        f"--ray {value}: not a Ray address (local, auto, ray://HOST:10001 or HOST:6379); "
        "a bare --ray starts a local cluster"
    )


@dataclass
class Unit:
    """One generated file to run; ``attempt`` 2 is the retry after its actor died."""

    name: str
    text: str
    weight: float
    attempt: int = 1


def plan_units(files: Sequence[Path], weights: dict[Path, float] | None = None) -> list[Unit]:
    """Units longest first (ties by name); files without a weight count as 1 s."""
    weights = weights or {}
    units = [Unit(f.name, f.read_text(encoding="utf-8"), float(weights.get(f, 1.0))) for f in files]
    return sorted(units, key=lambda u: (-u.weight, u.name))


def actor_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The driver's variables the actors must see: ``HFTESTGEN_*`` and the thread caps."""
    environ = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in environ.items() if k.startswith("HFTESTGEN_") or k in PASS_ENV}
    # One actor per CPU: intra-op threads would oversubscribe it (the user's setting wins).
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def needs_gpu(environ: dict[str, str] | None = None) -> bool:
    from ..checks.backends import BACKENDS_ENV

    backends = (environ if environ is not None else os.environ).get(BACKENDS_ENV, "")
    return any(b.strip() in DEVICE_BACKENDS for b in backends.split(","))


def combine_exit_codes(codes: Sequence[int]) -> int | None:
    """One pytest exit code for many units: a usage/internal error first, then a failure, 5 only
    when every unit collected nothing."""
    if not codes:
        return None
    for bad in (3, 2, 4):
        if bad in codes:
            return bad
    if any(c not in (0, 5) for c in codes):
        return 1
    return 5 if all(c == 5 for c in codes) else 0


# ------------------------------------------------------------------------------ the actor


class SuiteWorker:
    """A long-lived worker process (a Ray actor): imports the model stack once, then runs one
    generated file per call with ``pytest.main`` in this process."""

    def __init__(self, conftest: str, timeout: float, preload: Sequence[str] = PRELOAD):
        import gc
        import importlib

        t0 = time.monotonic()
        self.dir = Path(tempfile.mkdtemp(prefix="hftestgen-ray-"))
        (self.dir / "conftest.py").write_text(conftest, encoding="utf-8")
        self.ini = self.dir / "pytest.ini"
        self.ini.write_text("[pytest]\njunit_suite_name = hftestgen\n")
        self.timeout = timeout
        for name in preload:
            try:
                importlib.import_module(name)
            except ImportError:  # an optional piece: the tests skip (or fail) on it themselves
                pass
        # The imported modules live as long as the process: move them out of the collector's
        # way. pytest collects garbage several times per session (its unraisable-exception
        # check at unconfigure); over the whole torch + Transformers heap that is ~0.15 s a
        # time, about half of a small type's run.
        gc.collect()
        gc.freeze()
        self.ready_s = round(time.monotonic() - t0, 3)

    def where(self) -> dict[str, Any]:
        node_id = None
        try:
            import ray

            node_id = ray.get_runtime_context().get_node_id()
        except Exception:  # outside Ray (tests of the class itself)
            pass
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "node_id": node_id,
            "ready_s": self.ready_s,
        }

    def run(self, name: str, text: str) -> dict[str, Any]:
        import gc

        import pytest

        path = self.dir / name
        path.write_text(text, encoding="utf-8")
        results = self.dir / (path.stem + ".jsonl")
        results.unlink(missing_ok=True)
        args = [
            "-c",
            str(self.ini),
            "--rootdir",
            str(self.dir),
            "-p",
            "hftestgen.run.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            "--hftestgen-results",
            str(results),
            "--timeout",
            str(self.timeout),
            "--timeout-method",
            "signal",
            "-q",
            "-rfE",
            "--color=no",
            str(path),
        ]
        log = io.StringIO()
        t0 = time.monotonic()
        old_cwd = os.getcwd()
        freeze = gc.freeze
        try:
            os.chdir(self.dir)
            # The plugin freezes the heap at unconfigure, for a fast interpreter exit; this
            # process lives on, and this unit's garbage must stay collectable.
            gc.freeze = lambda: None
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                rc = int(pytest.main(args))
        finally:
            gc.freeze = freeze
            os.chdir(old_cwd)
            # The next unit must import its own test module, not find this one's.
            sys.modules.pop(path.stem, None)
            # Collect this unit's garbage, then freeze what survives (the modules and cached
            # tiny models it added): every later collection, pytest's own included, walks only
            # the objects made since. Without the freeze the walked heap grows with each unit
            # (734 units: +52% wall on the whole suite, measured), with it the cost stays flat.
            gc.collect()
            freeze()
        records = []
        if results.is_file():
            for line in results.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
            results.unlink()
        path.unlink(missing_ok=True)
        return {
            "rc": rc,
            "records": records,
            "log": log.getvalue(),
            "wall_s": round(time.monotonic() - t0, 3),
            "pid": os.getpid(),
        }


# ------------------------------------------------------------------------------ the driver


@dataclass
class RayOutcome:
    returncode: int | None
    wall_s: float
    interrupted: bool
    actors: int
    cluster: str  # "local" or the address connected to
    retried: list[str]
    lost: list[str]


def _memory_bytes() -> int:
    try:
        mb = int(os.environ.get(MEMORY_ENV, DEFAULT_MEMORY_MB))
    except ValueError:
        raise UsageError(f"${MEMORY_ENV} must be a number of megabytes") from None
    return max(1, mb) * 2**20


def _actor_count(ray: Any, workers: str, local: bool, n_units: int) -> int:
    if workers.isdigit() and int(workers) > 0:
        n = int(workers)
    elif local:
        n = os.cpu_count() or 1
    else:
        n = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(n, n_units))


def _init(ray: Any, address: str, workers: str) -> bool:
    """Start or connect to the cluster; True when this process started it (local)."""
    common = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if address == LOCAL:
        n = int(workers) if workers.isdigit() and int(workers) > 0 else (os.cpu_count() or 1)
        ray.init(num_cpus=n, **common)
        return True
    common.pop("include_dashboard")
    ray.init(address=address, **common)
    return False


def _describe(where: dict[str, Any] | None) -> str:
    if not where:
        return "an unknown node"
    node = (where.get("node_id") or "?")[:12]
    return f"node {node} (host {where.get('host')}, pid {where.get('pid')})"


def run_on_ray(
    units: list[Unit],
    *,
    address: str,
    workers: str,
    timeout: float,
    conftest: str,
    emit: Callable[[dict[str, Any]], None],
    log: Callable[[str], None],
    note: Callable[[str], None] | None = None,
) -> RayOutcome:
    """Run ``units`` on Ray; every record goes to ``emit`` as its unit finishes."""
    ray = require_ray()
    from ray.exceptions import RayActorError, RayTaskError

    t0 = time.monotonic()
    started_local = _init(ray, address, workers)
    cluster = LOCAL if started_local else address
    n = _actor_count(ray, workers, started_local, len(units))
    options: dict[str, Any] = {
        "num_cpus": 1,
        "memory": _memory_bytes(),
        "max_restarts": 0,
        "max_task_retries": 0,
        "runtime_env": {"env_vars": actor_env()},
    }
    if needs_gpu():
        options["num_gpus"] = 1
    Remote = ray.remote(SuiteWorker).options(**options)
    actors: list[Any] = []
    wheres: list[Any] = []
    where_cache: dict[int, dict[str, Any]] = {}

    def new_actor(i: int) -> None:
        a = Remote.remote(conftest, timeout)
        ref = a.where.remote()
        if i < len(actors):
            actors[i], wheres[i] = a, ref
            where_cache.pop(i, None)
        else:
            actors.append(a)
            wheres.append(ref)

    def where_of(i: int) -> dict[str, Any] | None:
        if i not in where_cache:
            try:
                where_cache[i] = ray.get(wheres[i], timeout=5)
            except Exception:
                return None
        return where_cache[i]

    pending: deque[Unit] = deque(units)
    inflight: dict[Any, tuple[int, Unit]] = {}
    codes: list[int] = []
    retried: list[str] = []
    lost: list[str] = []
    interrupted = False

    def submit(i: int) -> None:
        if pending:
            u = pending.popleft()
            inflight[actors[i].run.remote(u.name, u.text)] = (i, u)

    if note is not None:
        note(f"{n} actor(s) on {'a local cluster' if started_local else address}")
    try:
        for i in range(n):
            new_actor(i)
            submit(i)
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
            for ref in ready:
                i, u = inflight.pop(ref)
                try:
                    out = ray.get(ref)
                except RayActorError as e:
                    where = where_of(i)
                    new_actor(i)
                    if u.attempt == 1:
                        retried.append(u.name)
                        if note is not None:
                            note(f"{u.name}: its worker died on {_describe(where)}; retrying")
                        pending.appendleft(Unit(u.name, u.text, u.weight, attempt=2))
                    else:
                        lost.append(u.name)
                        codes.append(1)
                        msg = (
                            f"the Ray worker running {u.name} died twice, last on "
                            f"{_describe(where)}: {_first_line(e)}"
                        )
                        log(f"=== {u.name}: {msg}\n")
                        emit(_lost_record(u.name, msg, where))
                except RayTaskError as e:  # pytest itself raised in the actor
                    codes.append(3)
                    msg = f"running {u.name} on Ray failed: {_first_line(e)}"
                    log(f"=== {u.name}: {msg}\n{e}\n")
                    emit(_lost_record(u.name, msg, where_of(i)))
                else:
                    codes.append(out["rc"])
                    where = where_of(i) or {}
                    log(
                        f"=== {u.name} on ray-{i} ({_describe(where)}), attempt {u.attempt}, "
                        f"{out['wall_s']} s, pytest exit {out['rc']}\n{out['log']}"
                    )
                    for rec in out["records"]:
                        if rec.get("event") in ("start", "finish"):
                            continue  # the driver writes one pair for the whole run
                        rec = _tag(rec, i, where, u.attempt)
                        emit(rec)
                submit(i)
    except KeyboardInterrupt:
        interrupted = True
        for ref in inflight:
            with contextlib.suppress(Exception):
                ray.cancel(ref)
    finally:
        for a in actors:
            with contextlib.suppress(Exception):
                ray.kill(a, no_restart=True)
        with contextlib.suppress(Exception):
            ray.shutdown()
    return RayOutcome(
        returncode=None if interrupted else combine_exit_codes(codes),
        wall_s=round(time.monotonic() - t0, 3),
        interrupted=interrupted,
        actors=n,
        cluster=cluster,
        retried=retried,
        lost=lost,
    )


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def _tag(rec: dict[str, Any], i: int, where: dict[str, Any], attempt: int) -> dict[str, Any]:
    rec = dict(rec)
    if rec.get("event") in ("test", "worker"):
        rec["worker"] = f"ray-{i}"
        rec["node"] = where.get("node_id")
        rec["host"] = where.get("host")
    if attempt > 1 and rec.get("event") == "test":
        rec["retried"] = True
    return rec


def _lost_record(name: str, message: str, where: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "event": "collect_error",
        "nodeid": name,
        "file": name,
        "message": message,
        "category": "crash",
        "node": (where or {}).get("node_id"),
        "host": (where or {}).get("host"),
    }
