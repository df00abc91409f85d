"""``hftestgen check --hash-only``: hand edits found from the banner hashes alone, without
importing Transformers or torch (for pre-commit hooks and environments that lack them)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hftestgen.render.sync import HAND_EDITED, check, check_hashes

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "generated"
FILES = ("conftest.py", "test_hf_bert.py", "test_hf_gpt2.py")
HEAVY = re.compile(r"\|\s*(transformers|torch)(\.\S*)?\s*$", re.M)


def run(args, cwd, env, *py_flags):
    return subprocess.run(
        [sys.executable, *py_flags, "-m", "hftestgen", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture
def proj(tmp_path):
    """A project whose generated folder holds three files of the committed suite."""
    (tmp_path / "pyproject.toml").write_text('[tool.hftestgen]\nout = "gen"\n')
    (tmp_path / "gen").mkdir()
    for name in FILES:
        shutil.copy(SUITE / name, tmp_path / "gen" / name)
    return tmp_path


def _hand_edit(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    edited = text.replace("BertModel", "BertModell", 1)
    assert edited != text
    path.write_text(edited, encoding="utf-8")


def test_clean_suite_passes_and_imports_neither_transformers_nor_torch(proj, cli_env):
    p = run(["check", "--hash-only"], proj, cli_env, "-X", "importtime")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok: 3 generated files" in p.stdout
    assert "import time:" in p.stderr  # the import log was written ...
    assert not HEAVY.findall(p.stderr)  # ... and names neither package
    # control: the same log shows the full check importing Transformers (with an empty registry
    # cache: a cached registry is read without importing it)
    env = dict(cli_env, HFTESTGEN_CACHE_DIR=str(proj / "cache"))
    p = run(["check"], proj, env, "-X", "importtime")
    assert any(m[0] == "transformers" for m in HEAVY.findall(p.stderr))


def test_runs_where_transformers_and_torch_cannot_be_imported(proj, cli_env, tmp_path):
    broken = tmp_path / "broken"
    for pkg in ("transformers", "torch"):
        (broken / pkg).mkdir(parents=True)
        (broken / pkg / "__init__.py").write_text(f"raise ImportError('no {pkg} here')\n")
    env = dict(cli_env, PYTHONPATH=os.pathsep.join([str(broken), cli_env.get("PYTHONPATH", "")]))
    p = run(["check", "--hash-only"], proj, env)
    assert p.returncode == 0, p.stdout + p.stderr
    _hand_edit(proj / "gen" / "test_hf_bert.py")
    p = run(["check", "--hash-only"], proj, env)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    # control: the full check needs them
    assert run(["check"], proj, env).returncode != 0


def test_hand_edit_exits_1_naming_the_file_and_the_command(proj, cli_env):
    _hand_edit(proj / "gen" / "test_hf_bert.py")
    p = run(["check", "--hash-only"], proj, cli_env)
    assert p.returncode == 1
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 2, p.stdout  # one line per file, then the summary
    assert lines[0].startswith("hand-edited") and "test_hf_bert.py (bert)" in lines[0]
    assert "hftestgen generate bert --force" in lines[0]
    assert "1 hand-edited" in lines[1] and "hftestgen generate" in lines[1]
    assert "test_hf_gpt2.py" not in p.stdout and "conftest.py" not in p.stdout


def test_edits_anywhere_in_the_file_are_found(proj, cli_env):
    gen = proj / "gen"
    # an edit of the stored hash itself
    f = gen / "test_hf_gpt2.py"
    f.write_text(re.sub(r"sha256:(\w)", r"sha256:0\1", f.read_text(), count=1))
    # a generated name whose banner was removed
    c = gen / "conftest.py"
    c.write_text("\n".join(c.read_text().splitlines()[4:]) + "\n")
    # a file that is not ours is left alone
    (gen / "helpers.py").write_text("X = 1\n")
    p = run(["check", "--hash-only"], proj, cli_env)
    assert p.returncode == 1
    flagged = [ln.split()[1] for ln in p.stdout.splitlines() if ln.startswith("hand-edited")]
    assert [Path(x).name for x in flagged] == ["conftest.py", "test_hf_gpt2.py"]


def test_hand_edited_files_are_those_the_full_check_finds(proj, registry):
    gen = proj / "gen"
    _hand_edit(gen / "test_hf_bert.py")
    (gen / "test_hf_gpt2.py").write_text("# no banner\n")
    full = sorted(p.path for p in check(registry, gen) if p.kind == HAND_EDITED)
    assert full == sorted(p.path for p in check_hashes(gen))
    assert [p.name for p in full] == ["test_hf_bert.py", "test_hf_gpt2.py"]


@pytest.mark.parametrize(
    "args, says",
    [
        (["--out", "{tmp}/nope"], "output folder '{tmp}/nope' does not exist"),
        (["--plugin", "my_plugin"], "--hash-only reads no registry: --plugin does not apply"),
        (["--overrides", "o.toml"], "--hash-only reads no registry: --overrides does not apply"),
    ],
)
def test_usage_errors_exit_2_with_one_line(proj, cli_env, args, says):
    args = [a.replace("{tmp}", str(proj)) for a in args]
    p = run(["check", "--hash-only", *args], proj, cli_env)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {says.replace('{tmp}', str(proj))}")
