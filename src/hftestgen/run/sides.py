"""The two sides of ``hftestgen diff``: one recorded run each, from wherever it was kept.

A side is named by a reference (``resolve``):

* ``N`` (digits): run N of the default history database (``--history``);
* a history file (SQLite): its last complete (not single-shard) run; ``FILE@N``: run N of it;
* a report folder: its ``coverage.json``, else its ``results.jsonl``, else its
  ``history.sqlite`` (last complete run);
* a ``coverage.json`` file, or a ``results.jsonl`` file (the plugin's records; a run's type
  statuses are then computed from the records, and types without records are unknown).

Every side becomes a ``Side``: the run's facts, its per-type statuses and its tests, keyed by
node id with the folder stripped (``test_hf_gpt2.py::test_forward[GPT2Model]``), each with its
``state`` (``states.state_of``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..report import COVERAGE_JSON, RESULTS_FILE, build_coverage, load_results
from .history import History
from .states import state_of

HISTORY_FILE = "history.sqlite"
_RUN_FACTS = ("started_at", "finished_at", "wall_s", "command", "shard", "exit_code")
_VERSIONS = ("python", "torch", "transformers", "hftestgen")


@dataclass
class Side:
    label: str  # "run 3", "run 3 of PATH", "report PATH", "results PATH"
    meta: dict[str, Any]  # the run's facts (a history ``runs`` row, or the report's run)
    types: dict[str, dict[str, Any]]  # model_type -> {status, reason, family}
    tests: dict[str, dict[str, Any]]  # test key -> record with "state"
    complete: bool = True  # False: only types with records are known (a results.jsonl alone)

    def describe(self) -> str:
        when = self.meta.get("started_at") or "time unknown"
        tf = self.meta.get("transformers") or "unknown"
        return f"{self.label} ({when}, Transformers {tf})"


def node_key(nodeid: str) -> str:
    """The node id without its folder: runs from different --out folders still match."""
    path, sep, rest = str(nodeid).partition("::")
    return path.replace("\\", "/").rsplit("/", 1)[-1] + sep + rest


def keyed_tests(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for r in records:
        key = node_key(r["nodeid"])
        out[key] = {
            "nodeid": key,
            "model_type": r.get("model_type"),
            "check": r.get("check"),
            "param": r.get("param") or "",
            "outcome": r.get("outcome"),
            "mode": r.get("mode"),
            "category": r.get("category"),
            "message": r.get("message"),
            "state": state_of(
                r.get("outcome"),
                category=r.get("category"),
                message=r.get("message"),
                mode=r.get("mode"),
            ),
        }
    return out


def from_history(path: Path, run_id: int | None = None, label: str | None = None) -> Side:
    h = History(path)
    if run_id is None:
        run_id = h.latest_complete_id()
    meta = {"source": str(path), "kind": "history", **h.run(run_id)}
    types = {
        mt: {"status": t["status"], "reason": t["reason"], "family": t["family"]}
        for mt, t in h.type_statuses(run_id).items()
    }
    tests = keyed_tests(h.test_results(run_id).values())
    return Side(label or f"run {run_id} of {path}", meta, types, tests)


def from_coverage(
    cov: dict[str, Any], path: Path, kind: str = "coverage", complete: bool = True
) -> Side:
    if not isinstance(cov.get("types"), dict):
        raise UsageError(f"{path} is not a coverage.json written by hftestgen (no 'types')")
    run = cov.get("run") or {}
    versions = cov.get("versions") or {}
    meta: dict[str, Any] = {"source": str(path), "kind": kind, "id": None}
    meta.update({k: run.get(k) for k in _RUN_FACTS})
    meta.update({k: versions.get(k) for k in _VERSIONS})
    types = {}
    records = []
    for mt, t in cov["types"].items():
        types[mt] = {
            "status": t.get("status"),
            "reason": t.get("reason"),
            "family": t.get("family"),
        }
        for check, ch in (t.get("checks") or {}).items():
            records += [{**te, "model_type": mt, "check": check} for te in ch.get("tests") or []]
    for mt, row in (cov.get("backends") or {}).items():  # the backend matrix's cells
        for be, e in row.items():
            for cls, c in (e.get("classes") or {}).items():
                if c.get("nodeid"):
                    records.append(
                        {
                            "nodeid": c["nodeid"],
                            "model_type": mt,
                            "check": "backend",
                            "param": f"{be}-{cls}",
                            "outcome": c.get("outcome"),
                            "category": c.get("test_category"),
                            "message": c.get("reason"),
                        }
                    )
    label = "report" if kind == "coverage" else "results"
    return Side(f"{label} {path}", meta, types, keyed_tests(records), complete)


def from_results(path: Path) -> Side:
    """A ``results.jsonl`` alone: statuses computed from its records, as ``coverage.json`` would."""
    results = load_results(path)
    cov = build_coverage(results, {}, None, {}, {"transformers": None})
    return from_coverage(cov, path, kind="results", complete=False)


def _read_coverage(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a readable coverage.json ({e})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a coverage.json written by hftestgen")
    return data


def from_path(path: Path) -> Side:
    """A report folder, a coverage.json, a results.jsonl or a history file."""
    if path.is_dir():
        if (path / COVERAGE_JSON).is_file():
            return from_coverage(_read_coverage(path / COVERAGE_JSON), path / COVERAGE_JSON)
        if (path / RESULTS_FILE).is_file():
            return from_results(path / RESULTS_FILE)
        if (path / HISTORY_FILE).is_file():
            return from_history(path / HISTORY_FILE)
        raise UsageError(
            f"{str(path)!r} holds neither {COVERAGE_JSON}, {RESULTS_FILE} nor {HISTORY_FILE}"
        )
    if path.suffix == ".jsonl":
        return from_results(path)
    if path.suffix == ".json":
        return from_coverage(_read_coverage(path), path)
    return from_history(path)


def resolve(ref: str, history: Callable[[], Path]) -> Side:
    """The side a command-line reference names (see the module docstring)."""
    ref = ref.strip()
    if ref.isdigit():
        return from_history(history(), int(ref), label=f"run {int(ref)}")
    path = Path(ref)
    if path.exists():
        return from_path(path)
    m = re.fullmatch(r"(.+)@(\d+)", ref)
    if m and Path(m.group(1)).is_file():
        return from_history(Path(m.group(1)), int(m.group(2)))
    raise UsageError(
        f"{ref!r} is not a run id, nor an existing history file (FILE or FILE@RUN_ID), report "
        "folder, coverage.json or results.jsonl"
    )


def resolve_pair(
    a_ref: str | None, b_ref: str | None, history: Callable[[], Path]
) -> tuple[Side, Side]:
    """Both sides. No reference: the last two complete runs of the default history; only A:
    B is the last run of the default history."""
    if a_ref is None and b_ref is None:
        path = history()
        a_id, b_id = History(path).default_pair()
        return (
            from_history(path, a_id, label=f"run {a_id}"),
            from_history(path, b_id, label=f"run {b_id}"),
        )
    if a_ref is None:
        raise UsageError("name the older run too: hftestgen diff A B")
    a = resolve(a_ref, history)
    if b_ref is None:
        path = history()
        b_id = History(path).latest_id()
        return a, from_history(path, b_id, label=f"run {b_id}")
    return a, resolve(b_ref, history)
