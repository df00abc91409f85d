"""The pre-commit hook (``.pre-commit-hooks.yaml``, id ``hftestgen-check``) refuses a hand edit of
a generated file at commit time, run the way users run it: ``pre-commit try-repo`` against this
repository, in a temporary git repository holding a small generated suite."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
HOOKS = REPO / ".pre-commit-hooks.yaml"


def _hook() -> dict:
    (hook,) = [h for h in yaml.safe_load(HOOKS.read_text()) if h["id"] == "hftestgen-check"]
    return hook


def test_hook_definition():
    hook = _hook()
    assert hook["language"] == "system"  # the project's own environment, no network
    assert hook["entry"] == "hftestgen check --hash-only"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for path in ("generated/test_hf_bert.py", "test_hf_gpt2.py", "tests/gen/conftest.py"):
        assert files.search(path), path
    for path in ("src/hftestgen/cli.py", "generated/test_hf_bert.pyc", "README.md"):
        assert not files.search(path), path


def _git(cwd: Path, *args: str, env: dict) -> str:
    p = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture
def hook_repo(tmp_path, cli_env):
    """This repository when it is a git checkout that tracks the hook file (``try-repo`` takes
    uncommitted changes of tracked files along); else a git repository holding a copy of it."""
    env = dict(cli_env, GIT_TERMINAL_PROMPT="0")
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", HOOKS.name],
        cwd=REPO,
        capture_output=True,
    )
    if tracked.returncode == 0:
        return REPO
    repo = tmp_path / "hook-repo"
    repo.mkdir()
    shutil.copy(HOOKS, repo / HOOKS.name)
    _git(repo, "init", "-q", env=env)
    _git(repo, "add", "-A", env=env)
    _git(repo, "commit", "-q", "-m", "hooks", env=env)
    return repo


@pytest.fixture
def env(tmp_path, cli_env):
    bin_dir = str(Path(sys.executable).parent)  # the project's environment: hftestgen is here
    return dict(
        cli_env,
        PATH=os.pathsep.join([bin_dir, cli_env.get("PATH", "")]),
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
        GIT_TERMINAL_PROMPT="0",
    )


@pytest.fixture
def project(tmp_path, env):
    """A user's git repository with a small generated suite, committed."""
    proj = tmp_path / "project"
    (proj / "gen").mkdir(parents=True)
    (proj / "pyproject.toml").write_text('[tool.hftestgen]\nout = "gen"\n')
    for name in ("conftest.py", "test_hf_bert.py"):
        shutil.copy(REPO / "generated" / name, proj / "gen" / name)
    _git(proj, "init", "-q", env=env)
    _git(proj, "add", "-A", env=env)
    _git(proj, "commit", "-q", "-m", "suite", env=env)
    return proj


def try_repo(project: Path, hook_repo: Path, env: dict, *args: str):
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "hftestgen-check", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_try_repo_passes_a_clean_suite_and_refuses_a_staged_hand_edit(project, hook_repo, env):
    pytest.importorskip("pre_commit", reason="pre-commit is in the dev extra (scripts/setup.sh)")
    p = try_repo(project, hook_repo, env, "--all-files")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"hftestgen check.*Passed", p.stdout), p.stdout

    f = project / "gen" / "test_hf_bert.py"
    f.write_text(f.read_text().replace("BertModel", "BertModell", 1))
    _git(project, "add", str(f), env=env)
    p = try_repo(project, hook_repo, env)  # staged files only: what a commit runs
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(r"hftestgen check.*Failed", p.stdout), p.stdout
    assert "hand-edited" in p.stdout and "test_hf_bert.py (bert)" in p.stdout
    assert "hftestgen generate bert --force" in p.stdout

    # the fix the message names: restore the generated file, stage it, and the hook passes
    _git(project, "checkout", "HEAD", "--", str(f), env=env)
    p = try_repo(project, hook_repo, env, "--files", str(f.relative_to(project)))
    assert p.returncode == 0, p.stdout + p.stderr
