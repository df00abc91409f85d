"""The warm server: runs pytest in a fork of a process that already imported torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hftestgen.run import warm

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("warm")
    d.chmod(0o700)
    path = d / "w.sock"
    info = warm.start(path, idle=300)
    yield path, info
    warm.stop(path)


def client(path: Path, *args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "hftestgen", "warm", "pytest", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "HFTESTGEN_WARM_SOCKET": str(path), **(env or {})},
        timeout=120,
    )


def test_server_preloads_torch_but_no_hftestgen_code(server):
    path, info = server
    assert not info["already"]
    assert info["transformers"] != "absent" and info["torch"] != "absent"
    assert warm.ping(path)["pid"] == info["pid"]


def test_outcomes_output_cwd_and_env_reach_the_client(server, tmp_path):
    path, _ = server
    (tmp_path / "test_x.py").write_text(
        "import os, sys\n"
        "def test_env():\n"
        "    assert os.environ['HFTG_PROBE'] == 'yes'\n"
        "    assert os.getcwd() == " + repr(str(tmp_path)) + "\n"
        "    assert 'torch' in sys.modules  # imported by the server, not by this test\n"
        "def test_fails():\n"
        "    assert 1 + 1 == 3, 'arithmetic'\n"
    )
    r = client(
        path, "-q", "-p", "no:cacheprovider", "test_x.py", cwd=tmp_path, env={"HFTG_PROBE": "yes"}
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 failed, 1 passed" in r.stdout
    assert "arithmetic" in r.stdout
    r = client(
        path,
        "-q",
        "-p",
        "no:cacheprovider",
        "test_x.py::test_env",
        cwd=tmp_path,
        env={"HFTG_PROBE": "yes"},
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_each_run_is_a_fresh_fork_that_sees_edited_code(server, tmp_path):
    path, _ = server
    (tmp_path / "mod.py").write_text("VALUE = 1\n")
    (tmp_path / "test_m.py").write_text(
        "import os, mod\ndef test_v():\n    assert mod.VALUE == int(os.environ['WANT'])\n"
    )
    args = ("-q", "-p", "no:cacheprovider", "test_m.py")
    assert client(path, *args, cwd=tmp_path, env={"WANT": "1"}).returncode == 0
    (tmp_path / "mod.py").write_text("VALUE = 2\n")
    r = client(path, *args, cwd=tmp_path, env={"WANT": "2"})
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_crashing_run_is_reported_and_the_server_survives(server, tmp_path):
    path, info = server
    (tmp_path / "test_crash.py").write_text(
        "import os, signal\ndef test_boom():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    r = client(path, "-q", "-p", "no:cacheprovider", "test_crash.py", cwd=tmp_path)
    assert r.returncode == 128 + 9
    assert "killed by signal 9" in r.stderr
    assert warm.ping(path)["pid"] == info["pid"]


def test_without_a_server_the_client_says_so_and_runs_pytest_itself(tmp_path):
    (tmp_path / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    r = client(tmp_path / "absent.sock", "-q", "-p", "no:cacheprovider", "test_ok.py", cwd=tmp_path)
    assert r.returncode == 0
    assert "no warm server" in r.stderr and "running pytest in a new process" in r.stderr
    assert "1 passed" in r.stdout


def test_socket_directory_must_be_private(tmp_path):
    d = tmp_path / "shared"
    d.mkdir(mode=0o777)
    d.chmod(0o777)
    with pytest.raises(warm.WarmError, match="only you can access"):
        warm.start(d / "w.sock")


def test_hftestgen_run_warm_matches_a_cold_run(server, registry, tmp_path):
    """The same generated file through the server and through a new process: same outcomes."""
    path, _ = server
    out = tmp_path / "gen"
    env = {**os.environ, "HFTESTGEN_WARM_SOCKET": str(path)}
    base = [sys.executable, "-m", "hftestgen"]
    subprocess.run(
        [*base, "generate", "bert", "--out", str(out)], check=True, env=env, capture_output=True
    )
    outcomes = {}
    for mode in ("cold", "warm"):
        extra = ["--warm"] if mode == "warm" else ["-n", "0"]
        r = subprocess.run(
            [*base, "run", "bert", "--out", str(out), "--report", str(tmp_path / mode), *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert "warm:" not in r.stderr  # no fallback
        cov = json.loads((tmp_path / mode / "coverage.json").read_text())
        assert cov["run"]["warm"] is (mode == "warm")
        outcomes[mode] = {
            t["nodeid"]: t["outcome"]
            for c in cov["types"]["bert"]["checks"].values()
            for t in c["tests"]
        }
    assert outcomes["warm"] == outcomes["cold"]
    assert sum(o == "passed" for o in outcomes["warm"].values()) > 20


def test_ctrl_c_in_the_client_reaches_the_run(server, tmp_path):
    import signal
    import time

    path, _ = server
    started = tmp_path / "started"
    (tmp_path / "test_slow.py").write_text(
        f"import pathlib, time\ndef test_slow():\n    pathlib.Path({str(started)!r}).touch()\n    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hftestgen",
            "warm",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_slow.py",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HFTESTGEN_WARM_SOCKET": str(path)},
    )
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:  # the run is under way
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err  # pytest's "interrupted"
    assert "KeyboardInterrupt" in out
