"""Reading the per-test JSONL records the pytest plugin writes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.jsonl"


@dataclass
class Results:
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)  # nodeid -> record
    collect_errors: list[dict[str, Any]] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    collected: int | None = None
    finished: bool = False
    exitstatus: int | None = None
    bad_lines: int = 0

    def add(self, rec: dict[str, Any]) -> None:
        ev = rec.get("event")
        if ev == "test" and rec.get("nodeid"):
            self.tests[rec["nodeid"]] = rec
        elif ev == "collect_error":
            self.collect_errors.append(rec)
        elif ev == "worker":
            self.workers.append(rec)
        elif ev == "collected":
            self.collected = (self.collected or 0) + int(rec.get("count") or 0)
        elif ev == "finish":
            self.finished = True
            self.exitstatus = rec.get("exitstatus")

    def counts(self) -> dict[str, int]:
        c = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for r in self.tests.values():
            c[r.get("outcome") or "error"] = c.get(r.get("outcome") or "error", 0) + 1
        return c

    def merge(self, other: Results) -> list[str]:
        """Add ``other``'s records; returns node ids that were in both (later one wins)."""
        dup = [n for n in other.tests if n in self.tests]
        self.tests.update(other.tests)
        seen = {(e.get("nodeid"), e.get("message")) for e in self.collect_errors}
        for e in other.collect_errors:
            if (e.get("nodeid"), e.get("message")) not in seen:
                self.collect_errors.append(e)
        self.workers.extend(other.workers)
        if other.collected is not None:
            self.collected = (self.collected or 0) + other.collected
        return dup


def parse_lines(lines, results: Results | None = None) -> Results:
    res = results or Results()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            res.bad_lines += 1
            continue
        if isinstance(rec, dict):
            res.add(rec)
    return res


def load_results(path: Path) -> Results:
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        return Results()
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse_lines(f)


class Tail:
    """Incrementally reads complete lines appended to a JSONL file (for live progress)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.pos = 0
        self.buf = ""

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                f.seek(self.pos)
                chunk = f.read()
                self.pos = f.tell()
        except OSError:
            return []
        self.buf += chunk
        *lines, self.buf = self.buf.split("\n")
        out = []
        for ln in lines:
            try:
                rec = json.loads(ln)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out
