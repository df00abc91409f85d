"""The CLI contract: exit codes, one-line messages, plugins, determinism across processes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hftestgen import _io

RUFF = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")


def run(args, cwd, env, ok=(0,)):
    p = subprocess.run(
        [sys.executable, "-m", "hftestgen", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return p


@pytest.fixture
def proj(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.hftestgen]\nout = "gen"\n')
    return tmp_path


def test_version_and_help(proj, cli_env):
    p = run(["--version"], proj, cli_env)
    assert p.returncode == 0 and "hftestgen" in p.stdout
    p = run(["--help"], proj, cli_env)
    assert p.returncode == 0
    for cmd in ("list", "explain", "generate", "check", "survey"):
        assert cmd in p.stdout


def test_unknown_model_type_exits_2_with_suggestion(proj, cli_env):
    p = run(["explain", "gtp2"], proj, cli_env)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "unknown model type 'gtp2'" in p.stderr and "gpt2" in p.stderr
    assert len(p.stderr.strip().splitlines()) <= 2


def test_unknown_family_exits_2(proj, cli_env):
    p = run(["list", "--family", "vison"], proj, cli_env)
    assert p.returncode == 2 and "did you mean 'vision'" in p.stderr.lower()


def test_bad_overrides_exit_2(proj, cli_env):
    (proj / "hftestgen-overrides.toml").write_text('[types.gpt2]\nfamly = "other"\n')
    p = run(["generate", "gpt2"], proj, cli_env)
    assert p.returncode == 2
    assert "hftestgen-overrides.toml:2" in p.stderr and "famly" in p.stderr
    assert "Traceback" not in p.stderr
    assert not (proj / "gen").exists()


def test_bad_pyproject_key_exit_2(proj, cli_env):
    (proj / "pyproject.toml").write_text('[tool.hftestgen]\noutt = "gen"\n')
    p = run(["list"], proj, cli_env)
    assert p.returncode == 2 and "unknown key 'outt'" in p.stderr and "'out'" in p.stderr


def test_generate_check_cycle(proj, cli_env):
    p = run(["generate", "gpt2", "donut-swin"], proj, cli_env)
    assert p.returncode == 0, p.stderr
    assert (proj / "gen" / "test_hf_donut_swin.py").is_file()
    # 'check' looks at the whole registry: everything else is missing.
    p = run(["check"], proj, cli_env)
    assert p.returncode == 1
    assert "missing" in p.stdout and "hftestgen generate" in p.stdout
    p = run(["generate", "--all"], proj, cli_env)
    assert p.returncode == 0, p.stderr
    n = len(list((proj / "gen").glob("test_hf_*.py")))
    assert n > 700
    p = run(["check"], proj, cli_env)
    assert p.returncode == 0, p.stdout
    f = proj / "gen" / "test_hf_gpt2.py"
    f.write_text(f.read_text().replace("GPT2Model", "GPT2Modell"))
    p = run(["check"], proj, cli_env)
    assert p.returncode == 1 and "hand-edited" in p.stdout and "test_hf_gpt2.py" in p.stdout
    p = run(["generate", "gpt2"], proj, cli_env)
    assert p.returncode == 1 and "--force" in p.stderr
    assert "GPT2Modell" in f.read_text()
    p = run(["generate", "gpt2", "--force"], proj, cli_env)
    assert p.returncode == 0
    assert run(["check"], proj, cli_env).returncode == 0


def test_generated_output_is_ruff_clean_and_deterministic(proj, cli_env, tmp_path):
    outs = []
    for seed in ("1", "2"):
        env = dict(cli_env, PYTHONHASHSEED=seed)
        d = tmp_path / f"out{seed}"
        p = run(["generate", "--all", "--out", str(d)], proj, env)
        assert p.returncode == 0, p.stderr
        outs.append(d)
    a, b = outs
    assert sorted(x.name for x in a.iterdir()) == sorted(x.name for x in b.iterdir())
    for f in a.iterdir():
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name
    r = subprocess.run([RUFF, "check", "--no-cache", "--isolated", str(a)], capture_output=True)
    assert r.returncode == 0, r.stdout
    r = subprocess.run(
        [RUFF, "format", "--check", "--no-cache", "--isolated", "--line-length", "100", str(a)],
        capture_output=True,
    )
    assert r.returncode == 0, r.stdout


def test_plugin_type_is_generated(proj, cli_env):
    p = run(["--help"], proj, cli_env)
    p = run(
        ["explain", "hftestgen-toy", "--plugin", "hftestgen_toy_plugin", "--format", "json"],
        proj,
        cli_env,
    )
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["source"] == "plugin" and d["family"] == "encoder-only"
    p = run(["generate", "hftestgen-toy", "--plugin", "hftestgen_toy_plugin"], proj, cli_env)
    assert p.returncode == 0, p.stderr
    text = (proj / "gen" / "test_hf_hftestgen_toy.py").read_text()
    assert "ToyForSequenceClassification" in text


def test_plugin_type_suite_runs_under_plain_pytest(proj, cli_env):
    """The generated file of a plugin type names its plugin: plain ``pytest`` (no --plugin, no
    settings) runs it. Before, every test failed with "unknown model type"."""
    p = run(["generate", "hftestgen-toy", "--plugin", "hftestgen_toy_plugin"], proj, cli_env)
    assert p.returncode == 0, p.stderr
    text = (proj / "gen" / "test_hf_hftestgen_toy.py").read_text()
    assert 'use_plugins("hftestgen_toy_plugin")' in text
    assert "hftestgen generate hftestgen-toy --plugin hftestgen_toy_plugin" in text
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-rf"]
        + ["test_hf_hftestgen_toy.py", "-k", "forward or save_load or train_step"],
        cwd=proj / "gen",
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout


def test_plugin_settable_in_pyproject(proj, cli_env):
    (proj / "pyproject.toml").write_text(
        '[tool.hftestgen]\nout = "gen"\nplugins = ["hftestgen_toy_plugin"]\n'
    )
    p = run(["explain", "hftestgen-toy"], proj, cli_env)
    assert p.returncode == 0, p.stderr
    assert "ToyModel" in p.stdout


def test_missing_plugin_exit_2(proj, cli_env):
    p = run(["list", "--plugin", "no_such_plugin_mod"], proj, cli_env)
    assert p.returncode == 2 and "no_such_plugin_mod" in p.stderr and "Traceback" not in p.stderr


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "f.py"
    target.write_text("old\n")

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        _io.atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.py"]
