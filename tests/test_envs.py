"""``hftestgen env`` and ``hftestgen run --transformers V``: environments, the run per release,
the combined report and ``diff --transformers``. Offline: the environment is a fake venv whose
``bin/python`` is a wrapper around this interpreter, so it "is" the installed Transformers
release while every step of the machinery (record, probe, refusal, child commands) runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from hftestgen.errors import UsageError
from hftestgen.report import build_coverage, parse_lines, write_reports
from hftestgen.report.coverage import package_version
from hftestgen.run import envs
from hftestgen.run.history import History
from hftestgen.run.versions import (
    combined,
    render_markdown,
    run_versions,
    write_combined,
)

SRC = Path(__file__).resolve().parents[1] / "src"
HERE_TF = package_version("transformers")
HERE_TORCH = package_version("torch")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("HFTESTGEN_CACHE_DIR", str(d))
    return d


def fake_venv(path: Path) -> Path:
    """A venv-like folder whose bin/python runs this interpreter."""
    (path / "bin").mkdir(parents=True)
    py = path / "bin" / "python"
    py.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    py.chmod(0o755)
    return path


def cli(args, env_over=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC)
    env.update(env_over or {})
    return subprocess.run(
        [sys.executable, "-m", "hftestgen", *args], capture_output=True, text=True, env=env
    )


def quiet() -> Console:
    return Console(file=open(os.devnull, "w"), width=200)  # noqa: SIM115


# ---------------------------------------------------------------------------------------------
# environments


def test_adopt_records_versions_and_list_shows_them(cache, tmp_path):
    venv = fake_venv(tmp_path / "venv")
    env = envs.adopt(venv, HERE_TF)
    assert env.name == f"tf-{HERE_TF}-torch-{envs.public_version(HERE_TORCH)}"
    assert env.folder == cache / "envs" / env.name
    rec = json.loads((env.folder / envs.ENV_FILE).read_text())
    assert rec["kind"] == "adopted" and rec["venv"] == str(venv)
    assert rec["python"] == envs.running_python()
    assert rec["packages"]["transformers"] == HERE_TF and rec["packages"]["torch"] == HERE_TORCH
    assert [e.name for e in envs.list_envs()] == [env.name]
    assert envs.find_env(HERE_TF) is not None and envs.find_env("1.0.0") is None
    # the venv is registered, never touched
    assert sorted(p.name for p in venv.rglob("*")) == ["bin", "python"]


def test_adopt_refuses_a_venv_with_another_transformers(cache, tmp_path):
    venv = fake_venv(tmp_path / "venv")
    with pytest.raises(envs.EnvError, match=f"has Transformers {HERE_TF}, not 4.57.6"):
        envs.adopt(venv, "4.57.6")
    assert envs.list_envs() == []


def test_probe_refuses_another_python(cache, tmp_path):
    env = envs.adopt(fake_venv(tmp_path / "venv"), HERE_TF)
    info = envs.probe(env.python)
    envs.check_probe(env, info)  # as recorded: accepted
    with pytest.raises(envs.EnvError, match="has Python 3.9.1 .* recreate it"):
        envs.check_probe(env, {**info, "python": "3.9.1"})


def test_probe_refuses_missing_core_dependency(cache, tmp_path):
    env = envs.adopt(fake_venv(tmp_path / "venv"), HERE_TF)
    info = envs.probe(env.python)
    pk = {k: v for k, v in info["packages"].items() if k != "pytest-xdist"}
    with pytest.raises(envs.EnvError, match="lacks hftestgen's dependencies pytest-xdist"):
        envs.check_probe(env, {**info, "packages": pk})


def test_recorded_python_mismatch_refused_before_running(cache, tmp_path):
    env = envs.adopt(fake_venv(tmp_path / "venv"), HERE_TF)
    p = env.folder / envs.ENV_FILE
    rec = json.loads(p.read_text())
    p.write_text(json.dumps({**rec, "python": "3.9.1"}))
    calls = []
    with pytest.raises(envs.EnvError, match="made with Python 3.9.1.*recreate it"):
        run_versions(
            [HERE_TF],
            ["bert"],
            torch=None,
            report_dir=tmp_path / "r",
            history=tmp_path / "r" / "h.sqlite",
            workers="1",
            timeout=None,
            shard=None,
            min_coverage=None,
            overrides=None,
            plugins=None,
            console=quiet(),
            err_console=quiet(),
            runner=lambda *a, **k: calls.append(a),
        )
    assert calls == []


def test_missing_env_is_one_line_exit_2(cache):
    r = cli(["run", "--transformers", "4.0.1", "bert"], {"HFTESTGEN_CACHE_DIR": str(cache)})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "hftestgen env create --transformers 4.0.1" in lines[0]
    assert r.stdout == ""


def test_python_mismatch_cli_exit_2(cache, tmp_path):
    env = envs.adopt(fake_venv(tmp_path / "venv"), HERE_TF)
    p = env.folder / envs.ENV_FILE
    p.write_text(json.dumps({**json.loads(p.read_text()), "python": "3.9.1"}))
    r = cli(["run", "--transformers", HERE_TF, "bert"], {"HFTESTGEN_CACHE_DIR": str(cache)})
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "recreate it" in r.stderr


def test_remove_adopted_keeps_the_venv(cache, tmp_path):
    venv = fake_venv(tmp_path / "venv")
    env = envs.adopt(venv, HERE_TF)
    envs.suite_dir(HERE_TF).mkdir(parents=True)
    lines = envs.remove(HERE_TF)
    assert not env.folder.exists() and not envs.suite_dir(HERE_TF).exists()
    assert (venv / "bin" / "python").is_file()
    assert "left as it is" in lines[0]
    with pytest.raises(envs.EnvError):
        envs.remove(HERE_TF)


def test_create_pins_torch_exactly_and_never_installs_hftestgen(cache):
    cmds = envs.create_commands(Path("/x/env"), "4.57.6", "2.13.0+cpu")
    assert cmds[0][1:] == ["-m", "venv", "/x/env"]
    flat = [a for c in cmds[1:] for a in c]
    assert "torch==2.13.0+cpu" in flat and "transformers==4.57.6" in flat
    assert not any(a.startswith("torch") and a != "torch==2.13.0+cpu" for a in flat)
    assert not any(a.startswith("hftestgen") or a in (".", "-e") for a in flat)
    assert any(a.startswith("pytest-xdist") for a in flat)  # a core dependency


def test_create_runs_the_commands_then_records(cache):
    """``env create`` with a runner standing in for venv / pip: the venv step makes the fake
    venv, pip does nothing; the record is made from the probe of what is there."""
    seen = []

    def runner(cmd):
        seen.append(cmd)
        if cmd[1:3] == ["-m", "venv"]:
            fake_venv(Path(cmd[3]))
        return subprocess.CompletedProcess(cmd, 0)

    env = envs.create(HERE_TF, runner=runner)
    assert len(seen) == 3 and env.kind == "created"
    assert env.folder == env.venv == cache / "envs" / env.name
    assert json.loads((env.folder / envs.ENV_FILE).read_text())["torch"] == HERE_TORCH
    with pytest.raises(envs.EnvError, match="exists"):
        envs.create(HERE_TF, runner=runner)
    again = envs.create(HERE_TF, runner=runner, reuse=True)  # CI: kept, nothing installed
    assert len(seen) == 3 and again.folder == env.folder


def test_native_when_the_running_release_is_asked(cache):
    env = envs.resolve_env(HERE_TF)
    assert env.kind == "native" and env.python == Path(sys.executable)
    with pytest.raises(envs.EnvError, match="env create --transformers 4.0.1"):
        envs.resolve_env("4.0.1")


# ---------------------------------------------------------------------------------------------
# run --transformers: the child commands


def test_run_versions_child_commands(cache, tmp_path):
    env = envs.adopt(fake_venv(tmp_path / "venv"), HERE_TF)
    calls = []

    def runner(cmd, env=None):
        calls.append((cmd, env))
        return subprocess.CompletedProcess(cmd, 0)

    code = run_versions(
        [HERE_TF],
        ["bert", "--family", "vision"],
        torch=None,
        report_dir=tmp_path / "r",
        history=tmp_path / "r" / "history.sqlite",
        workers="1",
        timeout=30.0,
        shard="1/2",
        min_coverage=50.0,
        overrides=None,
        plugins=["toy"],
        console=quiet(),
        err_console=quiet(),
        runner=runner,
    )
    assert code == 0
    (gen, genv), (run, renv) = calls
    suite = str(cache / "suites" / f"tf-{HERE_TF}")
    assert gen[:4] == [str(env.python), "-m", "hftestgen", "generate"]
    assert gen[4:] == ["bert", "--family", "vision", "--out", suite, "--plugin", "toy"]
    assert run[3] == "run" and run[run.index("--out") + 1] == suite
    assert run[run.index("--report") + 1] == str(tmp_path / "r" / f"tf-{HERE_TF}")
    assert run[run.index("--history") + 1] == str(tmp_path / "r" / "history.sqlite")
    for opt, val in (("-n", "1"), ("--timeout", "30.0"), ("--shard", "1/2")):
        assert run[run.index(opt) + 1] == val
    assert run[run.index("--min-coverage") + 1] == "50.0"
    assert "generated" not in " ".join(gen + run)
    assert genv["PYTHONPATH"].split(os.pathsep)[0] == str(SRC)  # this source, never a copy
    assert renv["HFTESTGEN_ENV"] == env.name and renv["HF_HUB_OFFLINE"] == "1"
    assert renv["PATH"].split(os.pathsep)[0] == str(env.python.parent)


def test_run_versions_generate_failure_skips_the_run(cache, tmp_path):
    envs.adopt(fake_venv(tmp_path / "venv"), HERE_TF)
    calls = []

    def runner(cmd, env=None):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 2)

    code = run_versions(
        [HERE_TF],
        ["nope"],
        torch=None,
        report_dir=tmp_path / "r",
        history=tmp_path / "h.sqlite",
        workers="1",
        timeout=None,
        shard=None,
        min_coverage=None,
        overrides=None,
        plugins=None,
        console=quiet(),
        err_console=quiet(),
        runner=runner,
    )
    assert code == 2 and len(calls) == 1


def test_cli_rejects_out_and_warm_with_transformers(cache):
    for extra in (["--out", "generated"], ["--warm"]):
        r = cli(["run", "--transformers", HERE_TF, "bert", *extra])
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.slow
def test_run_transformers_end_to_end_with_fake_env(cache, tmp_path):
    """The real thing on one small type: the adopted fake env generates into the cache's suite
    folder, runs, reports into <report>/tf-V/ and records the run with the env's name."""
    envs.adopt(fake_venv(tmp_path / "venv"), HERE_TF)
    rep = tmp_path / "rep"
    r = cli(
        ["run", "--transformers", HERE_TF, "vit", "-n", "0", "--report", str(rep)],
        {"HFTESTGEN_CACHE_DIR": str(cache)},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (cache / "suites" / f"tf-{HERE_TF}" / "test_hf_vit.py").is_file()
    cov = json.loads((rep / f"tf-{HERE_TF}" / "coverage.json").read_text())
    assert cov["versions"]["transformers"] == HERE_TF
    assert cov["run"]["env"].startswith(f"tf-{HERE_TF}-torch-")
    assert cov["types"]["vit"]["status"] == "passed"
    runs = History(rep / "history.sqlite").runs()
    assert [x["transformers"] for x in runs] == [HERE_TF]


# ---------------------------------------------------------------------------------------------
# the combined report and diff --transformers


def rec(mt, check, param, outcome, msg=None):
    r = {
        "event": "test",
        "nodeid": f"test_hf_{mt}.py::test_{check}[{param}]",
        "file": f"test_hf_{mt}.py",
        "model_type": mt,
        "family": "decoder-only",
        "check": check,
        "param": param,
        "outcome": outcome,
        "category": None,
        "skip_reason": None,
        "message": None,
        "duration_s": 0.1,
        "mode": "real",
    }
    if outcome == "failed":
        r.update(category="failed", message=msg or "AssertionError: boom")
    elif outcome == "skipped":
        r.update(skip_reason=msg or "not-applicable: no", mode="skipped")
    return r


UNIVERSE = {
    mt: {"family": "decoder-only", "registry_status": "testable", "classes": 1}
    for mt in ("a", "b", "c", "unselected")
}


def cov_of(records, tf, selected, universe=UNIVERSE):
    res = parse_lines(json.dumps(r) for r in records)
    versions = {"python": "3.11", "torch": "2.0", "transformers": tf, "hftestgen": "0"}
    run = {"selected": selected, "started_at": "T", "env": f"tf-{tf}"}
    return build_coverage(res, universe, selected, run, versions)


OLD = [
    rec("a", "forward", "AModel", "passed"),
    rec("a", "save_load", "AModel", "passed"),
    rec("b", "forward", "BModel", "failed"),
    rec("c", "forward", "CModel", "passed"),
]
NEW = [
    rec("a", "forward", "AModel", "passed"),
    rec("a", "save_load", "AModel", "failed", "AssertionError: reloaded differs"),
    rec("b", "forward", "BModel", "passed"),
    rec("new", "forward", "NewModel", "passed"),
]
NEW_UNIVERSE = {
    **{k: v for k, v in UNIVERSE.items() if k != "c"},
    "new": {"family": "decoder-only", "registry_status": "testable", "classes": 1},
}


@pytest.fixture
def two_releases(tmp_path):
    dirs = {"4.57.6": tmp_path / "tf-4.57.6", "5.24.0": tmp_path / "tf-5.24.0"}
    write_reports(cov_of(OLD, "4.57.6", ["a", "b", "c"]), dirs["4.57.6"])
    write_reports(cov_of(NEW, "5.24.0", ["a", "b", "new"], NEW_UNIVERSE), dirs["5.24.0"])
    return dirs


def test_combined_report_per_type_and_changes(two_releases, tmp_path):
    # given newest first: the report orders releases by version
    doc = combined(dict(reversed(list(two_releases.items()))), codes={"4.57.6": 1, "5.24.0": 1})
    assert [r["transformers"] for r in doc["releases"]] == ["4.57.6", "5.24.0"]
    assert doc["types"]["a"]["status"] == {"4.57.6": "passed", "5.24.0": "failed"}
    assert doc["types"]["a"]["checks"]["save_load"] == {"4.57.6": "passed", "5.24.0": "failed"}
    assert doc["types"]["c"]["status"] == {"4.57.6": "passed", "5.24.0": "absent"}
    assert doc["types"]["new"]["status"] == {"4.57.6": "absent", "5.24.0": "passed"}
    assert "unselected" not in doc["types"]
    (ch,) = doc["changes"]
    assert (ch["from"], ch["to"]) == ("4.57.6", "5.24.0")
    assert [e["model_type"] for e in ch["types"]["regressed"]] == ["a"]
    assert [e["model_type"] for e in ch["types"]["fixed"]] == ["b"]
    assert [e["model_type"] for e in ch["types"]["appeared"]] == ["new"]
    assert [e["model_type"] for e in ch["types"]["disappeared"]] == ["c"]
    assert [(e["model_type"], e["check"]) for e in ch["tests"]["regressed"]] == [("a", "save_load")]
    md = render_markdown(doc)
    assert "## Changed between releases: 4.57.6 -> 5.24.0" in md
    assert "| regressed | a | save_load | AModel | passed | failed | AssertionError:" in md
    assert "| fixed | b | (type) |" in md
    assert "| a | passed | failed |" in md
    paths = write_combined(doc, tmp_path)
    assert json.loads(paths[0].read_text())["schema"] == "hftestgen-versions/1"


def test_combined_report_names_a_release_without_report(two_releases, tmp_path):
    dirs = {**two_releases, "4.52.4": tmp_path / "tf-4.52.4"}
    doc = combined(dirs, codes={"4.52.4": 2})
    assert doc["releases"][0]["missing"].startswith("no coverage.json")
    assert doc["types"]["a"]["status"]["4.52.4"] == "absent"
    assert len(doc["changes"]) == 1  # only releases with a report are compared


def test_diff_selects_runs_by_transformers(tmp_path):
    h = tmp_path / "history.sqlite"
    History(h).record(cov_of(OLD, "4.57.6", ["a", "b", "c"]), exit_code=1)
    History(h).record(cov_of(NEW, "5.24.0", ["a", "b", "new"], NEW_UNIVERSE), exit_code=1)
    History(h).record(cov_of(OLD, "9.9.9", ["a", "b", "c"]), exit_code=1)  # the last run
    r = cli(
        ["diff", str(h), "--transformers", "4.57.6", "--transformers", "5.24.0", "--format", "json"]
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["a"]["transformers"], d["b"]["transformers"]) == ("4.57.6", "5.24.0")
    assert [e["model_type"] for e in d["regressed"]] == ["a"]
    assert [e["model_type"] for e in d["appeared"]] == ["new"]
    # "unselected" is not-run in both: not listed as appeared or disappeared
    assert [e["model_type"] for e in d["disappeared"]] == ["c"]
    r = cli(["diff", str(h), "--transformers", "4.57.6", "--transformers", "1.0"])
    assert r.returncode == 1 and "no complete run under Transformers 1.0" in r.stderr
    r = cli(["diff", str(h), "--transformers", "4.57.6"])
    assert r.returncode == 2


def test_run_versions_writes_the_combined_report(cache, tmp_path, two_releases, monkeypatch):
    """Two releases: the per-release reports (written here by a fake runner) are combined."""
    from hftestgen.run import versions as versions_mod

    def fake_env(v, torch=None):
        return envs.Env(f"tf-{v}", tmp_path, tmp_path, v, "2.0", envs.running_python(), "native")

    monkeypatch.setattr(versions_mod, "resolve_env", fake_env)
    monkeypatch.setattr(versions_mod, "ready", lambda e: e)

    def runner(cmd, env=None):
        return subprocess.CompletedProcess(cmd, 1 if cmd[3] == "run" else 0)

    code = run_versions(
        ["5.24.0", "4.57.6"],
        ["a"],
        torch=None,
        report_dir=tmp_path,
        history=tmp_path / "history.sqlite",
        workers="1",
        timeout=None,
        shard=None,
        min_coverage=None,
        overrides=None,
        plugins=None,
        console=quiet(),
        err_console=quiet(),
        runner=runner,
    )
    assert code == 1
    doc = json.loads((tmp_path / "versions.json").read_text())
    assert [r["exit_code"] for r in doc["releases"]] == [1, 1]
    assert (tmp_path / "versions.md").read_text().startswith("# hftestgen: Transformers")
    with pytest.raises(UsageError, match="once"):
        run_versions(
            ["5.24.0", "5.24.0"],
            ["a"],
            torch=None,
            report_dir=tmp_path,
            history=tmp_path / "h",
            workers="1",
            timeout=None,
            shard=None,
            min_coverage=None,
            overrides=None,
            plugins=None,
            console=quiet(),
            err_console=quiet(),
            runner=runner,
        )


def test_lowest_pins_each_floor_and_names_what_is_off():
    assert envs.lowest(["typer>=0.15.4", "rich>=13", "tomli>=2.0; python_version < '3.11'"]) == [
        "typer==0.15.4",
        "rich==13",
        'tomli==2.0; python_version < "3.11"',
    ]
    assert envs.lowest(["packaging"]) == ["packaging"]  # no floor: left to the resolver
    floors = {
        r.split("==")[0]: r.split("==")[1].split(";")[0]
        for r in envs.lowest(envs.core_requirements())
    }
    assert "typer 0.16.0" in envs._off_floor({**floors, "typer": "0.16.0"})
    assert envs._off_floor(floors) == []
