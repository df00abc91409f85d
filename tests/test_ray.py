"""``hftestgen run --ray``: the suite on a local Ray cluster (2 CPUs).

Without Ray installed only the install hint and the pure helpers are tested; the cluster tests
are skipped with the reason. Cluster tests start one local cluster per run (~5 s) plus two actors
that import torch (~5 s each on 2 cores).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from importlib.util import find_spec
from pathlib import Path

import pytest
from rich.console import Console

from hftestgen.cli import optional_ray_value
from hftestgen.errors import UsageError
from hftestgen.registry import ModelSpec, Registry
from hftestgen.run import ray_exec
from hftestgen.run.runner import run_command
from hftestgen.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
needs_ray = pytest.mark.skipif(
    find_spec("ray") is None, reason="ray is not installed: pip install 'hftestgen[ray]'"
)

# ---------------------------------------------------------------------------------------------
# helpers without a cluster


@pytest.mark.parametrize(
    "args, want",
    [
        (["run", "bert", "--ray"], ["run", "bert", "--ray", "local"]),
        (["run", "--ray", "bert"], ["run", "--ray", "local", "bert"]),
        (["run", "--ray", "-n", "2"], ["run", "--ray", "local", "-n", "2"]),
        (["run", "--ray", "auto", "x"], ["run", "--ray", "auto", "x"]),
        (["run", "--ray", "ray://head:10001"], ["run", "--ray", "ray://head:10001"]),
        (["run", "--ray", "10.0.0.5:6379", "x"], ["run", "--ray", "10.0.0.5:6379", "x"]),
        (["run", "x", "--", "--ray"], ["run", "x", "--", "--ray"]),
    ],
)
def test_bare_ray_flag_means_a_local_cluster(args, want):
    assert optional_ray_value(args) == want


def test_bad_address_is_a_usage_error():
    assert ray_exec.check_address("ray://h:1") == "ray://h:1"
    with pytest.raises(UsageError, match="not a Ray address"):
        ray_exec.check_address("bert")


def test_units_longest_first_and_actor_env(tmp_path):
    files = []
    for name in ("a", "b", "c"):
        f = tmp_path / f"test_hf_{name}.py"
        f.write_text(f"# {name}\n")
        files.append(f)
    units = ray_exec.plan_units(files, {files[0]: 2.0, files[1]: 30.0})
    assert [u.name for u in units] == ["test_hf_b.py", "test_hf_a.py", "test_hf_c.py"]
    assert units[0].text == "# b\n" and units[0].attempt == 1
    env = ray_exec.actor_env(
        {"HFTESTGEN_BACKENDS": "sdpa", "HOME": "/root", "OMP_NUM_THREADS": "4"}
    )
    assert env["HFTESTGEN_BACKENDS"] == "sdpa" and "HOME" not in env
    assert env["OMP_NUM_THREADS"] == "4" and env["MKL_NUM_THREADS"] == "1"
    assert ray_exec.needs_gpu({"HFTESTGEN_BACKENDS": "sdpa,cuda"})
    assert not ray_exec.needs_gpu({"HFTESTGEN_BACKENDS": "sdpa"})


def test_combined_exit_code():
    assert ray_exec.combine_exit_codes([0, 5, 0]) == 0
    assert ray_exec.combine_exit_codes([0, 1]) == 1
    assert ray_exec.combine_exit_codes([1, 2, 0]) == 2
    assert ray_exec.combine_exit_codes([5, 5]) == 5
    assert ray_exec.combine_exit_codes([]) is None


def test_settings_ray_key(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.hftestgen]\nray = "auto"\n')
    assert load_settings(tmp_path).ray == "auto"
    (tmp_path / "pyproject.toml").write_text("[tool.hftestgen]\n")
    assert load_settings(tmp_path).ray is None


def test_without_ray_the_flag_says_how_to_install(tmp_path):
    """A ``ray`` package that cannot be imported stands in for an environment without Ray."""
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(SRC)])}
    r = subprocess.run(
        [sys.executable, "-m", "hftestgen", "run", "bert", "--ray"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "pip install 'hftestgen[ray]'" in lines[0], r.stderr


# ---------------------------------------------------------------------------------------------
# fake suites on a local cluster

CONFTEST = 'pytest_plugins = ["hftestgen.run.pytest_plugin"]\n'

FILE = """
import os
import time

from hftestgen.checks import Case

CASE = Case(
    model_type={mt!r},
    family="decoder-only",
    config_class="FakeConfig",
    classes={{"base": ({cls!r},)}},
    skip=None,
)


def test_forward():
    behavior = {behavior!r}
    marker = {marker!r}
    if behavior == "die-once" and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)
    if behavior == "die":
        os._exit(3)
    if behavior == "hang":
        time.sleep(60)
    if behavior == "sleep":
        time.sleep(20)


def test_save_load():
    pass
"""


def fake_suite(out: Path, behaviors: dict[str, str]) -> tuple[Registry, list[ModelSpec]]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "conftest.py").write_text(CONFTEST)
    specs = []
    for mt, behavior in behaviors.items():
        cls = mt.title() + "Model"
        marker = str(out / f".{mt}.died")
        text = FILE.format(mt=mt, cls=cls, behavior=behavior, marker=marker)
        (out / f"test_hf_{mt}.py").write_text(textwrap.dedent(text))
        specs.append(
            ModelSpec(
                model_type=mt,
                identifier=mt,
                config_class="FakeConfig",
                family="decoder-only",
                family_reason="test",
                modality="text",
                classes={"base": (cls,)},
                source="auto-mapping",
                status="testable",
                reason="",
            )
        )
    return Registry(specs, "9.9.9"), specs


def records(report: Path) -> list[dict]:
    lines = (report / "results.jsonl").read_text().splitlines()
    return [json.loads(ln) for ln in lines if ln.strip()]


@needs_ray
def test_dead_worker_is_retried_once_then_reported_naming_the_node(tmp_path):
    out = tmp_path / "gen"
    behaviors = {"alpha": "pass", "once": "die-once", "twice": "die", "slow": "hang"}
    reg, specs = fake_suite(out, behaviors)
    con = Console(record=True, width=200)
    err = Console(record=True, width=200, stderr=True)
    code = run_command(
        reg,
        specs,
        out_dir=out,
        report_dir=tmp_path / "rep",
        workers="2",
        timeout=3.0,
        history=tmp_path / "h.sqlite",
        console=con,
        err_console=err,
        ray="local",
    )
    assert code == 1, con.export_text() + err.export_text()
    recs = records(tmp_path / "rep")
    tests = {r["nodeid"]: r for r in recs if r["event"] == "test"}
    # died once, passed on a new actor: passed, and marked retried
    once = tests["test_hf_once.py::test_forward"]
    assert once["outcome"] == "passed" and once["retried"] is True
    assert tests["test_hf_once.py::test_save_load"]["retried"] is True
    assert not any(r.get("retried") for n, r in tests.items() if not n.startswith("test_hf_once"))
    # died twice: an error of its file that names the node
    lost = [r for r in recs if r["event"] == "collect_error"]
    assert [r["file"] for r in lost] == ["test_hf_twice.py"]
    assert "died twice" in lost[0]["message"] and "node " in lost[0]["message"]
    assert lost[0]["node"]
    # a hang hits the per-test timeout as in a local run; the unit's other test still runs
    assert tests["test_hf_slow.py::test_forward"]["category"] == "timeout"
    assert tests["test_hf_slow.py::test_save_load"]["outcome"] == "passed"
    cov = json.loads((tmp_path / "rep" / "coverage.json").read_text())
    status = {mt: t["status"] for mt, t in cov["types"].items()}
    assert status == {"alpha": "passed", "once": "passed", "twice": "failed", "slow": "failed"}
    assert "died twice" in cov["types"]["twice"]["reason"]
    assert cov["run"]["ray"] == "local" and cov["run"]["ray_retried"] == [
        "test_hf_once.py",
        "test_hf_twice.py",
    ]
    assert (tmp_path / "h.sqlite").is_file()
    assert [r for r in recs if r["event"] == "finish"] and recs[0]["event"] == "start"


def _tagged_processes(tag: str) -> list[int]:
    """Live processes whose environment holds ``tag`` (the driver's and every Ray process it
    started: they inherit it)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes()
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if tag.encode() in env and stat.split(") ", 1)[-1][:1] != "Z":
            found.append(int(d.name))
    return found


DRIVER = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from rich.console import Console
from test_ray import fake_suite
from hftestgen.run.runner import run_command

out = Path({out!r})
reg, specs = fake_suite(out, {{"aaa": "pass", "bbb": "sleep", "ccc": "sleep", "ddd": "sleep"}})
sys.exit(run_command(reg, specs, out_dir=out, report_dir=out.parent / "rep", workers="2",
    timeout=60.0, history=out.parent / "h.sqlite", console=Console(), err_console=Console(stderr=True),
    ray="local"))
"""


@needs_ray
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_ctrl_c_cancels_the_work_and_leaves_no_ray_process(tmp_path):
    tag = f"HFTESTGEN_TEST_TAG=ray-{uuid.uuid4().hex}"
    env = {**os.environ, "PYTHONPATH": str(SRC), tag.split("=")[0]: tag.split("=")[1]}
    env["RAY_TMPDIR"] = tempfile_short()
    out = tmp_path / "gen"
    script = DRIVER.format(tests=str(Path(__file__).parent), out=str(out))
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    results = tmp_path / "rep" / "results.jsonl"
    deadline = time.monotonic() + 120
    # wait until one unit finished: the other actor is busy with a 20 s test
    while time.monotonic() < deadline and proc.poll() is None:
        if results.is_file() and '"outcome": "passed"' in results.read_text():
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[0]
    assert len(_tagged_processes(tag.split("=")[1])) > 2  # driver, raylet, gcs, actors...
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, text
    assert time.monotonic() - t0 < 20, "Ctrl-C must not wait for the sleeping tests"
    # nothing of the cluster is left (allow Ray's processes a moment to exit)
    left = _tagged_processes(tag.split("=")[1])
    for _ in range(50):
        if not left:
            break
        time.sleep(0.2)
        left = _tagged_processes(tag.split("=")[1])
    assert not left, [Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in left]
    cov = json.loads((tmp_path / "rep" / "coverage.json").read_text())
    assert cov["run"]["interrupted"] is True
    status = {mt: t["status"] for mt, t in cov["types"].items()}
    assert status["aaa"] == "passed"
    assert status["ddd"] == "not-run"  # never started: cancelled with the rest


def tempfile_short() -> str:
    """A short temp dir for Ray (its socket paths must fit in ~107 bytes)."""
    import tempfile

    return tempfile.mkdtemp(prefix="hfr-", dir="/tmp")


# ---------------------------------------------------------------------------------------------
# real generated files: a Ray run reports what a local (xdist) run reports

REAL_TYPES = ["bert", "gpt2", "vit"]


@needs_ray
@pytest.mark.slow
def test_ray_run_equals_local_run_per_test(tmp_path):
    pytest.importorskip("torch")
    gen = REPO / "generated"
    if not all((gen / f"test_hf_{t}.py").is_file() for t in REAL_TYPES):
        pytest.skip("generated suite missing: hftestgen generate --all")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    outcomes = {}
    for name, extra in (("local", []), ("ray", ["--ray"])):
        rep = tmp_path / name
        r = subprocess.run(
            [sys.executable, "-m", "hftestgen", "run", *REAL_TYPES, "-n", "2", *extra]
            + ["--out", str(gen), "--report", str(rep), "--history", str(tmp_path / "h.sqlite")],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=600,
        )
        assert r.returncode in (0, 1), r.stdout + r.stderr
        outcomes[name] = {
            r["nodeid"]: (r["outcome"], r["category"]) for r in records(rep) if r["event"] == "test"
        }
        cov = json.loads((rep / "coverage.json").read_text())
        outcomes[name + "-status"] = {mt: cov["types"][mt]["status"] for mt in REAL_TYPES}
    assert outcomes["ray"] == outcomes["local"]
    assert outcomes["ray-status"] == outcomes["local-status"]
    assert len(outcomes["ray"]) > 100
