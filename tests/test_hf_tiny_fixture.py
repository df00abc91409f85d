"""The ``hf_tiny`` pytest fixture (``hftestgen.pytest_tiny``): cached tiny checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hftestgen import pytest_tiny as pt

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
MODULE = "hftestgen.pytest_tiny"


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFTESTGEN")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def _fake_builder(log: Path, delay: float = 0.0):
    """A builder writing a one-file folder and logging each build (no torch)."""

    def build(model_type, cls, out):
        import time

        with open(log, "a") as f:
            f.write(f"{os.getpid()} {model_type} {cls}\n")
        time.sleep(delay)
        out.mkdir()
        (out / "config.json").write_text(json.dumps({"model_type": model_type}))
        return {"class": cls or "Primary"}

    return build


# ---------------------------------------------------------------------------------------------
# a light plugin, declared as a pytest11 entry point


def test_importing_the_plugin_imports_neither_torch_nor_transformers():
    code = (
        f"import sys, {MODULE};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'numpy', 'filelock') or m.startswith('hftestgen.')))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"[{MODULE!r}]"


def test_pyproject_declares_the_plugin_as_a_pytest11_entry_point_named_like_the_module():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    eps = data["project"]["entry-points"]["pytest11"]
    # named like the module: an explicit -p / pytest_plugins of it is then not a 2nd register
    assert eps == {MODULE: MODULE}


# ---------------------------------------------------------------------------------------------
# cache key, cache folder


def test_the_cache_key_changes_with_each_version_and_with_type_and_class(monkeypatch):
    base = {"hftestgen": "0.1.0", "transformers": "5.0", "torch": "2.1", "tokenizers": "0.2"}
    key = pt.cache_key("bert", None, base)
    assert key.startswith("bert-primary-")
    assert pt.cache_key("bert", None, dict(base)) == key  # stable
    for name in pt.VERSIONED:
        assert pt.cache_key("bert", None, {**base, name: "9.9"}) != key, name
    assert pt.cache_key("bert", "BertForMaskedLM", base) != key
    assert pt.cache_key("llama", None, base) != key
    # without explicit versions: the installed ones, read from package metadata
    seen = dict(base)
    monkeypatch.setattr(pt.metadata, "version", lambda name: seen[name])
    assert pt.versions() == base and pt.cache_key("bert", None) == key
    seen["transformers"] = "5.1"
    assert pt.cache_key("bert", None) != key


def test_the_cache_root_is_the_env_var_then_the_ini_option_then_the_user_cache(
    monkeypatch, tmp_path
):
    monkeypatch.delenv(pt.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pt.default_cache_root() == tmp_path / "xdg" / "hftestgen" / "tiny"
    assert pt.default_cache_root(str(tmp_path / "ini")) == tmp_path / "ini"
    monkeypatch.setenv(pt.CACHE_ENV, str(tmp_path / "env"))
    assert pt.default_cache_root(str(tmp_path / "ini")) == tmp_path / "env"


def test_a_second_call_reuses_the_folder_and_a_new_version_builds_anew(tmp_path, monkeypatch):
    log = tmp_path / "builds.log"
    build = _fake_builder(log)
    first = pt.tiny_checkpoint("bert", None, tmp_path / "c", builder=build)
    mtime = (first / pt.META).stat().st_mtime_ns
    again = pt.tiny_checkpoint("bert", None, tmp_path / "c", builder=build)
    assert again == first and (first / pt.META).stat().st_mtime_ns == mtime
    assert len(log.read_text().splitlines()) == 1
    meta = json.loads((first / pt.META).read_text())
    assert meta["model_type"] == "bert" and meta["versions"] == pt.versions()
    # another Transformers: another folder, built once more
    real = pt.versions()
    monkeypatch.setattr(pt, "versions", lambda: {**real, "transformers": "0.0.0-other"})
    other = pt.tiny_checkpoint("bert", None, tmp_path / "c", builder=build)
    assert other != first and (other / "config.json").is_file()
    assert len(log.read_text().splitlines()) == 2
    assert not list((tmp_path / "c").glob("*.tmp"))  # temporary folders went


def test_a_failed_build_leaves_nothing_and_leftovers_of_a_crash_are_cleared(tmp_path):
    root = tmp_path / "c"

    def broken(model_type, cls, out):
        out.mkdir()
        (out / "half.bin").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        pt.tiny_checkpoint("bert", None, root, builder=broken)
    key = pt.cache_key("bert", None)
    assert not (root / key).exists() and not list(root.glob("*.tmp"))
    # a crashed process's temporary folder and a folder without metadata are not reused
    (root / f".{key}.99999999.tmp").mkdir()
    (root / key).mkdir()
    (root / key / "half.bin").write_text("x")
    path = pt.tiny_checkpoint("bert", None, root, builder=_fake_builder(tmp_path / "log"))
    assert sorted(p.name for p in path.iterdir()) == ["config.json", pt.META]
    assert not list(root.glob("*.tmp"))


RACE = """
import contextlib, json, sys, time
from pathlib import Path
import hftestgen.pytest_tiny as pt
root, log, start, lock = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
if lock == "off":  # the same code without the file lock: shows what the lock prevents
    pt._lock = lambda path, timeout: contextlib.nullcontext()
def build(model_type, cls, out):
    with open(log, "a") as f:
        f.write("built\\n")
    time.sleep(1.5)
    out.mkdir()
    (out / "config.json").write_text("{}")
    return {}
while time.time() < start:
    time.sleep(0.01)
try:
    print(pt.tiny_checkpoint("bert", None, root, builder=build))
except OSError as e:  # without the lock, the losing rename fails
    print("error", e)
"""


@pytest.mark.parametrize("lock", ["on", "off"])
def test_two_processes_racing_for_one_key_build_it_once(tmp_path, lock):
    import time

    log = tmp_path / "builds.log"
    start = str(time.time() + 2.0)  # both processes start building at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(tmp_path / "c"), str(log), start, lock],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    builds = log.read_text().count("built")
    if lock == "on":
        assert builds == 1
        assert outs[0][0] == outs[1][0] and Path(outs[0][0].strip()).is_dir()
    else:  # the control: without the lock both build (the check above can fail)
        assert builds == 2


# ---------------------------------------------------------------------------------------------
# end to end: a downstream test file, the plugin loaded through its entry point


def _entry_point_dist(where: Path) -> Path:
    """A distribution on ``where`` declaring the pytest11 entry point of pyproject.toml, so a
    pytest started with ``where`` on PYTHONPATH loads the plugin as an installed hftestgen
    would (the shared env's editable install may predate the entry point)."""
    eps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    info = where / "hftestgen_tiny_entry_point-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hftestgen-tiny-entry-point\nVersion: 0.0\n"
    )
    lines = ["[pytest11]", *(f"{k} = {v}" for k, v in eps["pytest11"].items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return where


DOWNSTREAM = """
import json, os
from pathlib import Path

def _record(name, path):
    meta = json.loads((path / "hftestgen-tiny.json").read_text())
    out = Path(os.environ["RECORDS"]) / name
    out.write_text(json.dumps([str(path), meta["built_by_pid"], meta["built_at"]]))

def test_engine_a(hf_tiny):
    from transformers import AutoModel
    path = hf_tiny("bert")
    assert type(AutoModel.from_pretrained(path)).__name__ == "BertModel"
    _record("a", path)

def test_engine_b(hf_tiny):
    _record("b", hf_tiny("bert"))

def test_bad_type(hf_tiny):
    hf_tiny("not-a-model-type")
"""


@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    """One pytest run of a downstream test file on two xdist workers, the plugin auto-loaded
    through the entry point; a fresh cache folder."""
    tmp = tmp_path_factory.mktemp("downstream")
    (tmp / "test_engine.py").write_text(textwrap.dedent(DOWNSTREAM))
    (tmp / "records").mkdir()
    eps = _entry_point_dist(tmp / "site")
    env = _env(HFTESTGEN_TINY_CACHE=str(tmp / "cache"), RECORDS=str(tmp / "records"))
    env["PYTHONPATH"] = os.pathsep.join([str(eps), env["PYTHONPATH"]])
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-rA"]
    run = subprocess.run(
        [*cmd, "test_engine.py"], cwd=tmp, env=env, capture_output=True, text=True, timeout=600
    )
    return tmp, run


def test_a_downstream_suite_gets_the_fixture_from_the_entry_point_under_xdist(downstream):
    tmp, run = downstream
    assert "1 failed, 2 passed" in run.stdout, run.stdout + run.stderr
    a = json.loads((tmp / "records" / "a").read_text())
    b = json.loads((tmp / "records" / "b").read_text())
    assert a == b  # one folder, built once (same builder process, same time)
    built = [p for p in (tmp / "cache").iterdir() if not p.name.startswith(".")]
    assert [p.name for p in built] == [Path(a[0]).name]
    assert {"config.json", "model.safetensors", pt.META} <= {p.name for p in built[0].iterdir()}


def test_an_unknown_model_type_fails_with_one_message_not_a_traceback(downstream):
    _, run = downstream
    out = run.stdout
    failure = out[out.index("_ test_bad_type _") : out.index("short test summary")]
    assert "hf_tiny('not-a-model-type', cls=None): unknown model type 'not-a-model-type'" in (
        failure
    )
    assert "Run 'hftestgen list' to see all" in failure
    assert failure.count("unknown model type") == 1  # one message, no chained exception
    assert "Traceback" not in failure and "raise " not in failure and ".py:" not in failure


def test_the_plugin_coexists_with_the_generated_suite_plugin(tmp_path):
    """``pytest generated/test_hf_bert.py`` collects the same with the fixture plugin
    auto-loaded, also loaded once more with -p (no double registration), or turned off; and the
    generated suite sees ``hf_tiny``."""
    eps = _entry_point_dist(tmp_path / "site")
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([str(eps), env["PYTHONPATH"]])

    def collect(*opts: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        return subprocess.run(
            [*cmd, *opts, "generated/test_hf_bert.py"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    off = collect("-p", f"no:{MODULE}")
    on = collect()
    twice = collect("-p", MODULE)
    for run in (off, on, twice):
        assert run.returncode == 0, run.stdout + run.stderr
    ids = [line for line in off.stdout.splitlines() if "::" in line]
    assert len(ids) > 5
    assert [line for line in on.stdout.splitlines() if "::" in line] == ids
    assert [line for line in twice.stdout.splitlines() if "::" in line] == ids
    fixtures = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider"]
        + ["generated/test_hf_bert.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "hf_tiny" in fixtures.stdout, fixtures.stdout + fixtures.stderr
