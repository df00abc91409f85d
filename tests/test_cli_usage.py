"""Usage errors: one line on stderr, exit 2, no traceback, under every supported typer/click
(typer 0.29 ships its own click copy; older typer uses click's exceptions: both are caught by
what they do, not by class). Both hftestgen's own checks (UsageError) and the command-line
parser's (bad option, bad value, unknown command)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "args, says",
    [
        (["run", "-n", "x", "gpt2"], "-n must be a number of workers or 'auto'"),
        (["run", "--shard", "3/2", "gpt2"], "--shard 3/2: need 1 <= K <= N"),
        (["run", "--shard", "half", "gpt2"], "--shard must look like K/N"),
        (["run", "--bogus"], ("No such option", "--bogus")),
        (["generate", "--bogus-flag"], ("No such option", "--bogus-flag")),
        (["bogus"], "No such command 'bogus'"),
        (["generate", "--out"], "Option '--out' requires an argument"),
        (["survey", "--jobs", "many"], "Invalid value for '--jobs'"),
        (["run", "--timeout", "soon"], "Invalid value for '--timeout'"),
        (["report", "somewhere"], "pass --merge to merge report folders"),
        (["report", "--merge"], "--merge needs report folders"),
        (["report", "--merge", "{tmp}/nope"], "report folder '{tmp}/nope' does not exist"),
        (["report", "--min-coverage", "101", "--report", "{tmp}"], "--min-coverage must be"),
        (["history", "--format", "yaml"], "--format must be 'table' or 'json'"),
        (["history", "--limit", "-1"], "--limit must be 0 (all runs) or more"),
        (["history", "--limit", "many"], "Invalid value for '--limit'"),
        (["diff", "1", "2", "--format", "yaml"], "--format must be 'text' or 'json'"),
        (["diff", "{tmp}/nope.sqlite"], "is not a run id"),
        (["diff", "1", "2", "3"], "unexpected extra argument"),
    ],
)
def test_usage_error_is_one_line_and_exit_2(tmp_path, args, says):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = subprocess.run(
        [sys.executable, "-m", "hftestgen", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    # click's wording differs between releases ("No such option: --x" / "No such option '--x'")
    for part in (says,) if isinstance(says, str) else says:
        assert part.replace("{tmp}", str(tmp_path)) in lines[0], lines[0]
    assert r.stdout == ""


def test_no_command_prints_the_help_and_exits_2(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "hftestgen"], cwd=tmp_path, capture_output=True, text=True
    )
    assert r.returncode == 2 and "Usage" in r.stdout and "diff" in r.stdout
    assert r.stderr == ""
