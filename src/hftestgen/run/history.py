"""Run history in SQLite: one row per run, per model type and per test.

The database lives at ``Settings.history_path`` (default ``<report dir>/history.sqlite``).
Schema version 2 added ``test_results.category`` (the plugin's category, e.g. ``known-bug``);
a version 1 file gains the column on its next write, and its old rows keep NULL there.
Every failure to open, read or write it (corrupted file, locked by another process, read-only
folder) raises ``HistoryError`` whose message is one line naming the file and the fix.
``hftestgen run`` writes its reports *before* touching the history, so a broken database never
costs a run report.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import HftestgenError

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT, finished_at TEXT, wall_s REAL,
    python TEXT, torch TEXT, transformers TEXT, hftestgen TEXT,
    command TEXT, shard TEXT, report_dir TEXT, exit_code INTEGER,
    types INTEGER, passed INTEGER, failed INTEGER, skipped INTEGER,
    component INTEGER, not_testable INTEGER, not_run INTEGER,
    tests_passed INTEGER, tests_failed INTEGER, tests_error INTEGER, tests_skipped INTEGER,
    coverage_pct REAL
);
CREATE TABLE IF NOT EXISTS type_results (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    model_type TEXT NOT NULL, family TEXT, status TEXT, reason TEXT,
    duration_s REAL, classes INTEGER,
    PRIMARY KEY (run_id, model_type)
);
CREATE TABLE IF NOT EXISTS test_results (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    nodeid TEXT NOT NULL, model_type TEXT, check_name TEXT, param TEXT,
    outcome TEXT, mode TEXT, duration_s REAL, message TEXT, category TEXT,
    PRIMARY KEY (run_id, nodeid)
);
CREATE INDEX IF NOT EXISTS type_results_mt ON type_results(model_type, run_id);
"""

RUN_COLUMNS = (
    "started_at",
    "finished_at",
    "wall_s",
    "python",
    "torch",
    "transformers",
    "hftestgen",
    "command",
    "shard",
    "report_dir",
    "exit_code",
    "types",
    "passed",
    "failed",
    "skipped",
    "component",
    "not_testable",
    "not_run",
    "tests_passed",
    "tests_failed",
    "tests_error",
    "tests_skipped",
    "coverage_pct",
)
TEST_COLUMNS = (
    "run_id",
    "nodeid",
    "model_type",
    "check_name",
    "param",
    "outcome",
    "mode",
    "duration_s",
    "message",
    "category",
)


class HistoryError(HftestgenError):
    """The history database cannot be used; the message is one line with the fix."""


def _explain(path: Path, e: BaseException) -> HistoryError:
    msg = " ".join(str(e).split()) or type(e).__name__
    low = msg.lower()
    if "locked" in low or "busy" in low:
        return HistoryError(
            f"history database {path} is locked by another process ({msg}); "
            "retry when the other hftestgen run has finished"
        )
    if "not a database" in low or "malformed" in low or "corrupt" in low or "no such table" in low:
        return HistoryError(
            f"history database {path} is corrupted ({msg}); move it aside or delete it to "
            "start a new history"
        )
    if "unable to open" in low or "readonly" in low or "read-only" in low:
        return HistoryError(f"history database {path} cannot be opened for writing ({msg})")
    return HistoryError(f"history database {path} cannot be used ({msg})")


def _migrate(con: sqlite3.Connection) -> None:
    """Bring a file written by an older hftestgen to ``SCHEMA_VERSION`` (adds columns only)."""
    cols = {r["name"] for r in con.execute("PRAGMA table_info(test_results)")}
    if "category" not in cols:
        try:
            con.execute("ALTER TABLE test_results ADD COLUMN category TEXT")
        except sqlite3.OperationalError as e:  # another process added it meanwhile
            if "duplicate column" not in str(e).lower():
                raise
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or not str(row["value"]).isdigit() or int(row["value"]) < SCHEMA_VERSION:
        con.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
    con.commit()


def _run_row(cov: dict[str, Any], report_dir: Path | None, exit_code: int | None) -> tuple:
    """The ``runs`` row of a coverage document, in ``RUN_COLUMNS`` order."""
    v = cov.get("versions", {})
    run = cov.get("run", {})
    t = cov["totals"]
    bs = t["by_status"]
    return (
        run.get("started_at") or cov.get("generated_at"),
        run.get("finished_at") or cov.get("generated_at"),
        run.get("wall_s"),
        v.get("python"),
        v.get("torch"),
        v.get("transformers"),
        v.get("hftestgen"),
        run.get("command"),
        run.get("shard"),
        str(report_dir) if report_dir else None,
        exit_code,
        t["types"],
        bs.get("passed", 0),
        bs.get("failed", 0),
        bs.get("skipped", 0),
        bs.get("component", 0),
        bs.get("not-testable", 0),
        bs.get("not-run", 0),
        t["tests"]["passed"],
        t["tests"]["failed"],
        t["tests"]["error"],
        t["tests"]["skipped"],
        t["coverage_pct"],
    )


class History:
    def __init__(self, path: Path, timeout: float = 5.0):
        self.path = Path(path)
        self.timeout = timeout

    @contextmanager
    def _connect(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        if not create and not self.path.exists():
            raise HistoryError(
                f"no run history at {self.path}; 'hftestgen run' records one after each run"
            )
        con = None
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(str(self.path), timeout=self.timeout)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA foreign_keys = ON")
            if create:
                con.executescript(SCHEMA)
                _migrate(con)
            else:
                con.execute("SELECT count(*) FROM runs").fetchone()
            yield con
        except sqlite3.Error as e:
            raise _explain(self.path, e) from None
        except OSError as e:
            raise _explain(self.path, e) from None
        finally:
            if con is not None:
                con.close()

    # writing ----------------------------------------------------------------------------------

    def record(
        self, cov: dict[str, Any], report_dir: Path | None = None, exit_code: int | None = None
    ) -> int:
        """Append one run (from a coverage document); returns its run id."""
        with self._connect(create=True) as con:
            con.execute("BEGIN IMMEDIATE")
            cur = con.execute(
                f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                _run_row(cov, report_dir, exit_code),
            )
            run_id = int(cur.lastrowid)
            con.executemany(
                "INSERT INTO type_results VALUES (?,?,?,?,?,?,?)",
                [
                    (run_id, mt, ty["family"], ty["status"], ty["reason"], ty["duration_s"])
                    + (ty["classes"],)
                    for mt, ty in cov["types"].items()
                ],
            )
            con.executemany(
                f"INSERT OR REPLACE INTO test_results ({', '.join(TEST_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(TEST_COLUMNS))})",
                [
                    (run_id, te["nodeid"], mt, check, te["param"], te["outcome"], te["mode"])
                    + (te["duration_s"], te["message"], te.get("category"))
                    for mt, ty in cov["types"].items()
                    for check, ch in ty["checks"].items()
                    for te in ch["tests"]
                ],
            )
            con.commit()
            return run_id

    # reading ----------------------------------------------------------------------------------

    def runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        with self._connect() as con:
            q = "SELECT * FROM runs ORDER BY id DESC"
            rows = con.execute(q + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
            return [dict(r) for r in rows][::-1]

    def run(self, run_id: int) -> dict[str, Any]:
        with self._connect() as con:
            row = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise HistoryError(f"no run {run_id} in {self.path}; 'hftestgen history' lists runs")
        return dict(row)

    def type_statuses(self, run_id: int) -> dict[str, dict[str, Any]]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT model_type, family, status, reason, duration_s FROM type_results "
                "WHERE run_id = ?",
                (run_id,),
            ).fetchall()
        return {r["model_type"]: dict(r) for r in rows}

    def test_results(self, run_id: int) -> dict[str, dict[str, Any]]:
        """nodeid -> {nodeid, model_type, check, param, outcome, mode, duration_s, message,
        category} of one run (``category`` is None in rows written by schema version 1)."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM test_results WHERE run_id = ?", (run_id,)).fetchall()
        out = {}
        for r in rows:
            d = dict(r)
            d.pop("run_id", None)
            d["check"] = d.pop("check_name", None)
            d.setdefault("category", None)
            out[d["nodeid"]] = d
        return out

    def type_durations(self) -> dict[str, float]:
        """Latest recorded positive duration per model type (for shard balancing)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT t.model_type, t.duration_s FROM type_results t JOIN ("
                "  SELECT model_type, max(run_id) AS rid FROM type_results"
                "  WHERE duration_s > 0 AND status IN ('passed','failed','skipped')"
                "  GROUP BY model_type) m ON t.model_type = m.model_type AND t.run_id = m.rid"
            ).fetchall()
        return {r["model_type"]: float(r["duration_s"]) for r in rows}

    def default_pair(self) -> tuple[int, int]:
        """The last two complete (not single-shard) runs."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT id FROM runs WHERE shard IS NULL OR shard = '' ORDER BY id DESC LIMIT 2"
            ).fetchall()
        if len(rows) < 2:
            raise HistoryError(
                f"{self.path} holds {len(rows)} complete run(s); 'hftestgen diff' needs two "
                "(or name the runs: hftestgen diff RUN_A RUN_B)"
            )
        return int(rows[1]["id"]), int(rows[0]["id"])

    def latest_complete_id(self) -> int:
        """The last complete (not single-shard) run."""
        with self._connect() as con:
            row = con.execute(
                "SELECT max(id) AS m FROM runs WHERE shard IS NULL OR shard = ''"
            ).fetchone()
        if row is None or row["m"] is None:
            raise HistoryError(
                f"{self.path} holds no complete run (only single shards, or none); name one: "
                f"{self.path}@RUN_ID"
            )
        return int(row["m"])

    def latest_id(self) -> int:
        with self._connect() as con:
            row = con.execute("SELECT max(id) AS m FROM runs").fetchone()
        if row is None or row["m"] is None:
            raise HistoryError(f"{self.path} holds no runs yet")
        return int(row["m"])

    def latest_complete_for(self, transformers: str) -> int:
        """The last complete (not single-shard) run under this Transformers release."""
        with self._connect() as con:
            row = con.execute(
                "SELECT max(id) AS m FROM runs WHERE (shard IS NULL OR shard = '') "
                "AND transformers = ?",
                (transformers,),
            ).fetchone()
        if row is None or row["m"] is None:
            raise HistoryError(
                f"{self.path} holds no complete run under Transformers {transformers}; "
                "'hftestgen history' lists the runs"
            )
        return int(row["m"])
