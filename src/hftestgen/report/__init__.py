"""Run reports: ``coverage.json``, ``coverage.md``, ``coverage.html`` and shard merging."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .coverage import SCHEMA, build_coverage, failed, universe_from_coverage, universe_from_registry
from .html import render_html
from .markdown import render_markdown
from .results import RESULTS_FILE, Results, Tail, load_results, parse_lines

COVERAGE_JSON = "coverage.json"
COVERAGE_MD = "coverage.md"
COVERAGE_HTML = "coverage.html"

__all__ = [
    "COVERAGE_HTML",
    "COVERAGE_JSON",
    "COVERAGE_MD",
    "RESULTS_FILE",
    "Results",
    "SCHEMA",
    "Tail",
    "build_coverage",
    "failed",
    "load_results",
    "merge_dirs",
    "parse_lines",
    "universe_from_coverage",
    "universe_from_registry",
    "write_reports",
]


def write_reports(cov: dict[str, Any], report_dir: Path) -> list[Path]:
    """Write the three coverage files into ``report_dir`` (atomically); returns their paths."""
    from .._io import atomic_write_text

    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (
        (COVERAGE_JSON, json.dumps(cov, indent=1, sort_keys=False) + "\n"),
        (COVERAGE_MD, render_markdown(cov)),
        (COVERAGE_HTML, render_html(cov)),
    ):
        p = report_dir / name
        atomic_write_text(p, text)
        paths.append(p)
    return paths


def read_coverage(report_dir: Path) -> dict[str, Any] | None:
    p = Path(report_dir) / COVERAGE_JSON
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{p}: not a readable coverage.json ({e})") from None
    return data if isinstance(data, dict) else None


def merge_dirs(dirs: Iterable[Path]) -> tuple[Results, dict[str, dict[str, Any]], dict[str, Any]]:
    """Combine the results of several report folders (shards).

    Returns (results, universe, info): the union of test records (a node id present in two
    folders keeps the later folder's record), the union of the model types their coverage.json
    files list, and info about the inputs (folders, shards, duplicate node ids, selected types).
    """
    results = Results()
    universe: dict[str, dict[str, Any]] = {}
    info: dict[str, Any] = {"merged_from": [], "shards": [], "duplicates": [], "selected": []}
    selected: set[str] = set()
    dirs = [Path(d) for d in dirs]
    if not dirs:
        raise UsageError("--merge needs at least one report folder")
    for d in dirs:
        if not d.is_dir():
            raise UsageError(f"report folder {str(d)!r} does not exist")
        res_path = d / RESULTS_FILE
        cov = read_coverage(d)
        if not res_path.is_file() and cov is None:
            raise UsageError(
                f"{str(d)!r} holds neither {RESULTS_FILE} nor {COVERAGE_JSON}; "
                "pass folders written by 'hftestgen run --report DIR'"
            )
        r = load_results(res_path)
        info["duplicates"] += results.merge(r)
        if cov is not None:
            for mt, meta in universe_from_coverage(cov).items():
                universe.setdefault(mt, meta)
            run = cov.get("run") or {}
            selected.update(run.get("selection") or run.get("selected") or [])
            if run.get("wall_s") is not None:
                info["wall_s"] = max(info.get("wall_s") or 0.0, float(run["wall_s"]))
            if run.get("shard"):
                info["shards"].append(run["shard"])
            info["shards"] += [x for x in run.get("shards") or [] if x not in info["shards"]]
        info["merged_from"].append(str(d))
    info["selected"] = sorted(selected)
    return results, universe, info
