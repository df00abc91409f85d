"""The CI workflow example (docs/ci/github-actions.yml) is wired the way its README says, and every
``hftestgen`` command in it parses with the real command line (no command is executed)."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import pytest
import typer
import yaml

from hftestgen.cli import app
from hftestgen.run.shards import parse_shard, parse_workers

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "docs" / "ci" / "github-actions.yml"
SHELL_OPS = {"||", "&&", ";", "|", "&"}


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def hftestgen_commands(script: str, matrix: dict) -> list[list[str]]:
    """The ``hftestgen ...`` commands of a step's shell script, as argument lists, with the
    matrix values substituted (a command ends at the first shell operator; backslash
    continuations are joined)."""
    commands = []
    for line in expand(script, matrix).replace("\\\n", " ").splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        words = list(lex)
        for i, w in enumerate(words):
            if w == "hftestgen" and (i == 0 or words[i - 1] in SHELL_OPS | {"then", "do"}):
                cmd = []
                for x in words[i + 1 :]:
                    if x in SHELL_OPS:
                        break
                    cmd.append(x)
                commands.append(cmd)
    return commands


def expand(arg: str, matrix: dict) -> str:
    """Substitute ``${{ matrix.X }}`` by a value; any other expression is left for the test to
    see (it would not parse as the option's value)."""
    return re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m: str(matrix[m.group(1)]), arg)


def parse(args: list[str]) -> tuple[str, dict]:
    """(command name, parsed parameters) through the real click command: options, types and
    arity are checked; nothing runs."""
    group = typer.main.get_command(app)
    name, *rest = args
    assert name in group.commands, f"no hftestgen command {name!r}"
    ctx = group.commands[name].make_context(name, list(rest))
    return name, ctx.params


def steps_commands(job: dict, matrix: dict | None = None) -> list[tuple[str, dict]]:
    out = []
    for step in job["steps"]:
        for cmd in hftestgen_commands(step.get("run", ""), matrix or {}):
            out.append(parse(cmd))
    return out


def uploads(job: dict, matrix: dict | None = None) -> dict[str, str]:
    """Artifact name -> path of a job's upload-artifact steps."""
    got = {}
    for step in job["steps"]:
        if str(step.get("uses", "")).startswith("actions/upload-artifact@"):
            w = step["with"]
            got[expand(w["name"], matrix or {})] = expand(w["path"], matrix or {})
    return got


def downloads(job: dict) -> list[dict]:
    return [
        s["with"]
        for s in job["steps"]
        if str(s.get("uses", "")).startswith("actions/download-artifact@")
    ]


def needs(job: dict) -> list[str]:
    n = job.get("needs", [])
    return [n] if isinstance(n, str) else list(n)


def test_jobs_and_trigger():
    wf = workflow()
    assert {"history", "shard", "merge"} <= set(wf["jobs"])
    assert wf.get("on", wf.get(True))  # PyYAML reads the key `on` as True
    assert "shard" in needs(wf["jobs"]["merge"])
    assert "history" in needs(wf["jobs"]["shard"])


def test_every_hftestgen_command_parses_with_the_real_cli():
    wf = workflow()
    seen = set()
    for name, job in wf["jobs"].items():
        matrices = [{}]
        if "strategy" in job:
            key, values = next(iter(job["strategy"]["matrix"].items()))
            matrices = [{key: v} for v in values]
        for matrix in matrices:
            for cmd, params in steps_commands(job, matrix):
                seen.add((name, cmd))
                assert not any("${{" in str(v) for v in params.values()), params
    assert {("history", "check"), ("shard", "run"), ("merge", "report"), ("merge", "diff")} <= seen


def test_the_parser_check_can_fail():
    """A misspelled flag or a bad value does not parse (the test above is not vacuous)."""
    for bad in (
        ["run", "--all", "--shards", "1/4"],
        ["report", "--merge", "a", "--reports", "m"],
        ["diff", "a", "b", "--exit-codes"],
        ["run", "--timeout", "soon"],
    ):
        with pytest.raises(Exception) as e:
            parse(bad)
        assert getattr(e.value, "exit_code", None) == 2, repr(e.value)  # a click usage error


def test_shards_cover_1_to_n_with_distinct_report_folders_uploaded():
    job = workflow()["jobs"]["shard"]
    assert job["strategy"].get("fail-fast") is False
    values = job["strategy"]["matrix"]["shard"]
    parts, folders = [], {}
    for k in values:
        runs = [p for c, p in steps_commands(job, {"shard": k}) if c == "run"]
        assert len(runs) == 1
        params = runs[0]
        assert params["all_"] is True
        parse_workers(params["workers"])  # hftestgen's own validation of -n
        parts.append(parse_shard(params["shard"]))  # and of K/N
        folders[k] = str(params["report"])
        # the folder that this shard wrote is the artifact it uploads
        up = uploads(job, {"shard": k})
        assert any(p.rstrip("/") == folders[k] for p in up.values()), (up, folders[k])
    n = {n for _, n in parts}
    assert len(n) == 1, f"shards disagree on N: {parts}"
    (n,) = n
    assert sorted(k for k, _ in parts) == list(range(1, n + 1)) == sorted(values)
    assert len(set(folders.values())) == n


def test_shards_and_merge_see_the_same_history_and_the_merge_reads_every_shard():
    wf = workflow()
    shard, merge, history = wf["jobs"]["shard"], wf["jobs"]["merge"], wf["jobs"]["history"]
    # one baseline, fetched once by the history job and handed to the shards as an artifact
    (baseline,) = [
        name for name in uploads(history) if name in {d.get("name") for d in downloads(shard)}
    ]
    base_dir = next(d["path"] for d in downloads(shard) if d.get("name") == baseline)
    (run_params,) = [p for c, p in steps_commands(shard, {"shard": 1}) if c == "run"]
    assert str(run_params["history"]).startswith(base_dir + "/")
    # the merge downloads every shard's artifact and merges the folders they land in
    shard_names = list(uploads(shard, {"shard": k}) for k in shard["strategy"]["matrix"]["shard"])
    shard_names = [n for u in shard_names for n in u]
    pattern = next(d for d in downloads(merge) if "pattern" in d)
    assert all(fnmatch.fnmatch(n, pattern["pattern"]) for n in shard_names)
    (report,) = [p for c, p in steps_commands(merge) if c == "report"]
    assert report["merge"] is True
    assert [str(d) for d in report["dirs"]] == [pattern["path"] + "/*"]
    assert "if" in merge and "cancelled()" in merge["if"]  # runs when a shard job failed


def test_merged_html_report_is_an_artifact_and_the_diff_gate_uses_exit_code():
    wf = workflow()
    merge = wf["jobs"]["merge"]
    (report,) = [p for c, p in steps_commands(merge) if c == "report"]
    merged = str(report["report_dir"])
    up = uploads(merge)
    assert f"{merged}/coverage.html" in [p.rstrip("/") for p in up.values()]
    (diff,) = [p for c, p in steps_commands(merge) if c == "diff"]
    assert diff["exit_code"] is True
    # B is this run's merged report; A is the previous run's history, as downloaded
    assert diff["run_b"].rstrip("/") == merged
    prev_dir = next(d["path"] for d in downloads(merge) if d.get("name") == "previous-history")
    assert diff["run_a"] == f"{prev_dir}/history.sqlite"
    # the merged run is recorded into the history that becomes the next run's baseline
    assert any(p == str(report["history"]) for p in up.values())
    history_script = "\n".join(s.get("run", "") for s in wf["jobs"]["history"]["steps"])
    assert (
        "--name " + next(n for n, p in up.items() if p == str(report["history"])) in history_script
    )
    # the gate is the last step, and is skipped only when there is no baseline
    gate = merge["steps"][-1]
    assert "hftestgen diff" in gate["run"] and "previous/history.sqlite" in gate["if"]
