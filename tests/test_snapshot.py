"""Golden outputs across releases: ``hftestgen snapshot`` and the ``golden`` check.

One small selection (bert, llama, vit, gpt2) is recorded once per module; the tests compare the
recording with itself (round trip), with a second recording (determinism) and with models whose
code was changed in a self-consistent way (an attention scale doubled), which only the golden
check can see.
"""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hftestgen import checks, snapshot
from hftestgen.checks import Case
from hftestgen.faults import Patcher
from hftestgen.render.files import case_fields

HERE = Path(__file__).parent
REPO = HERE.parent
SELECTION = ("bert", "llama", "vit", "gpt2")


def _cases(registry, types=SELECTION):
    return [Case(**case_fields(registry[t])) for t in types]


@pytest.fixture(scope="module")
def snap(registry, tmp_path_factory):
    from hftestgen.snapshot.record import record_snapshot

    root = tmp_path_factory.mktemp("snap")
    record_snapshot(_cases(registry), root)
    checks.clear_cache()
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _golden(case: Case, root: Path, monkeypatch) -> str | None:
    """None when the golden check passes, else its failure message."""
    monkeypatch.setenv(snapshot.ENV, str(root))
    checks.clear_cache()
    try:
        checks.golden(case, case.primary_class)
    except pytest.fail.Exception as e:
        return str(e)
    finally:
        checks.clear_cache()
    return None


def double_llama_attention_scale(p: Patcher) -> None:
    """LlamaAttention runs with twice its softmax scale (an attention scale applied twice):
    every self-consistency check still holds, only the numbers change."""
    from transformers.models.llama import modeling_llama as m

    def make(orig):
        def forward(self, *args, **kwargs):
            scaling = self.scaling
            self.scaling = scaling * 2.0
            try:
                return orig(self, *args, **kwargs)
            finally:
                self.scaling = scaling

        return forward

    p.wrap(m.LlamaAttention, "forward", make)


@contextlib.contextmanager
def doubled_llama_attention_scale():
    """``double_llama_attention_scale`` while the block runs."""
    p = Patcher()
    double_llama_attention_scale(p)
    try:
        yield
    finally:
        p.undo()


# ---------------------------------------------------------------------------------------------
# the format


def test_manifest_records_versions_and_entries(snap):
    m = json.loads((snap / snapshot.MANIFEST).read_text())
    assert m["format"] == snapshot.FORMAT and m["format_version"] == snapshot.FORMAT_VERSION
    assert set(m["versions"]) >= {"hftestgen", "transformers", "torch"}
    assert sorted(m["types"]) == sorted(SELECTION)
    bert = m["types"]["bert"]
    assert bert["config_class"] == "BertConfig"
    rec = bert["classes"]["BertModel"]
    assert rec["weights"] and rec["precision"] == "float64-promoted"
    assert "last_hidden_state" in rec["outputs"]
    folder = snap / rec["path"]
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "config.json",
        "inputs.json",
        "inputs.safetensors",
        "model.safetensors",
        "outputs.safetensors",
    ]
    from safetensors.torch import load_file

    outs = load_file(str(folder / "outputs.safetensors"))
    assert str(outs["last_hidden_state"].dtype) == "torch.float64"


def test_snapshot_is_deterministic(registry, snap, tmp_path):
    from hftestgen.snapshot.record import record_snapshot

    record_snapshot(_cases(registry), tmp_path / "again")
    assert _files(tmp_path / "again") == _files(snap)


def test_round_trip_passes(registry, snap, monkeypatch):
    for case in _cases(registry):
        assert _golden(case, snap, monkeypatch) is None, case.model_type


def test_scaled_attention_is_drift_for_llama_only(registry, snap, monkeypatch):
    with doubled_llama_attention_scale():
        got = {c.model_type: _golden(c, snap, monkeypatch) for c in _cases(registry)}
    assert [t for t, msg in got.items() if msg] == ["llama"], got
    msg = got["llama"]
    assert "golden: outputs of LlamaModel drifted" in msg
    assert "last_hidden_state: max abs diff" in msg


def test_scaled_attention_escapes_the_self_consistency_checks(registry):
    """Why the golden check exists: the same fault passes the checks that compare a model with
    itself."""
    case = Case(**case_fields(registry["llama"]))
    try:
        with doubled_llama_attention_scale():
            for check in ("forward", "batch_independence", "save_load", "causality"):
                checks.clear_cache()
                getattr(checks, check)(case, "LlamaModel")
    finally:
        checks.clear_cache()


def test_outputs_only_entry_over_the_cap(registry, tmp_path, monkeypatch):
    from hftestgen.snapshot.record import record_snapshot

    m = record_snapshot(_cases(registry, ("llama",)), tmp_path, cap=1000)
    rec = m["types"]["llama"]["classes"]["LlamaModel"]
    assert rec["weights"] is False and "over the cap" in rec["weights_note"]
    assert not (tmp_path / rec["path"] / "model.safetensors").exists()
    case = _cases(registry, ("llama",))[0]
    assert _golden(case, tmp_path, monkeypatch) is None
    with doubled_llama_attention_scale():
        msg = _golden(case, tmp_path, monkeypatch)
    assert msg and "weights rebuilt from seed 0" in msg


# ---------------------------------------------------------------------------------------------
# refusals


def _copy_manifest(snap: Path, dst: Path, edit) -> Path:
    import shutil

    shutil.copytree(snap, dst)
    m = json.loads((dst / snapshot.MANIFEST).read_text())
    edit(m)
    (dst / snapshot.MANIFEST).write_text(json.dumps(m))
    return dst


def test_newer_format_version_is_refused(registry, snap, tmp_path, monkeypatch):
    def newer(m):
        m["format_version"] = snapshot.FORMAT_VERSION + 1

    root = _copy_manifest(snap, tmp_path / "newer", newer)
    with pytest.raises(snapshot.SnapshotError, match="newer than this hftestgen reads"):
        snapshot.read_manifest(root)
    msg = _golden(_cases(registry, ("bert",))[0], root, monkeypatch)
    assert msg and "format version 2 is newer" in msg


def test_run_against_a_newer_format_is_a_usage_error(snap, tmp_path, cli_env):
    def newer(m):
        m["format_version"] = snapshot.FORMAT_VERSION + 1

    root = _copy_manifest(snap, tmp_path / "newer", newer)
    (tmp_path / "pyproject.toml").write_text('[tool.hftestgen]\nout = "gen"\n')
    p = subprocess.run(
        [sys.executable, "-m", "hftestgen", "run", "bert", "--against", str(root)],
        cwd=tmp_path,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert p.returncode == 2, p.stderr
    assert "newer than this hftestgen reads" in p.stderr


def test_other_config_class_fails_and_missing_type_is_not_covered(
    registry, snap, tmp_path, monkeypatch
):
    def renamed(m):
        m["types"]["bert"]["config_class"] = "OldBertConfig"

    root = _copy_manifest(snap, tmp_path / "renamed", renamed)
    msg = _golden(_cases(registry, ("bert",))[0], root, monkeypatch)
    assert msg and "'OldBertConfig'" in msg and "does not describe this type" in msg
    with pytest.raises(pytest.skip.Exception, match=r"^not-covered: t5 is not in the snapshot"):
        _golden(_cases(registry, ("t5",))[0], snap, monkeypatch)


# ---------------------------------------------------------------------------------------------
# pytest: deselected without a snapshot, consulted from [tool.hftestgen] snapshots


def _pytest(cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """pytest in the suite folder, as ``hftestgen run`` and ``pytest generated/`` run it (the
    pyproject is found above it)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q", "-rs"]
        + [f"--rootdir={cwd}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("configured", [False, True], ids=["no-snapshot", "pyproject"])
def test_pytest_consults_the_configured_snapshot(snap, tmp_path, cli_env, configured):
    gen = tmp_path / "generated"
    gen.mkdir()
    (gen / "conftest.py").write_text((REPO / "generated" / "conftest.py").read_text())
    text = (REPO / "generated" / "test_hf_llama.py").read_text()
    golden_only = text.split("\n\n\n@pytest.mark")[0] + (
        '\n\n\n@pytest.mark.parametrize("model_class", CASE.primary_params)\n'
        "def test_golden(model_class):\n    checks.golden(CASE, model_class)\n"
        "\n\ndef test_other():\n    pass\n"
    )
    (gen / "test_hf_llama.py").write_text(golden_only)
    table = f'snapshots = "{snap}"\n' if configured else ""
    (tmp_path / "pyproject.toml").write_text(f"[tool.hftestgen]\n{table}")
    env = {k: v for k, v in cli_env.items() if k != snapshot.ENV}
    p = _pytest(gen, env)
    assert p.returncode == 0, p.stdout[-2000:]
    if configured:
        assert "2 passed" in p.stdout, p.stdout[-1000:]
    else:
        assert "1 passed, 1 deselected" in p.stdout, p.stdout[-1000:]
    assert os.environ.get(snapshot.ENV) is None


def test_another_attention_kernel_is_not_drift(registry, snap, monkeypatch):
    """The same weights on the eager attention kernel instead of SDPA: other arithmetic for the
    same maths, within the tolerance (measured: <= 9.1e-15), so long as padded query positions,
    whose values are each kernel's own choice (O(1) apart for left-padded decoders), stay out of
    the comparison."""
    from hftestgen.checks import golden_outputs

    load = golden_outputs._load_model

    def eager(*args, **kwargs):
        model = load(*args, **kwargs)
        model.set_attn_implementation("eager")
        return model

    monkeypatch.setattr(golden_outputs, "_load_model", eager)
    for case in _cases(registry, ("llama", "gpt2")):
        assert _golden(case, snap, monkeypatch) is None, case.model_type


def test_real_positions_drop_padded_positions_only():
    import torch

    from hftestgen.snapshot.record import real_positions

    mask = torch.tensor([[1, 1, 1], [0, 1, 1]])
    outs = {"h": torch.arange(12.0).reshape(2, 3, 2), "pooled": torch.ones(2, 4)}
    got = real_positions(outs, {"attention_mask": mask})
    assert got["h"].shape == (5, 2) and torch.equal(got["pooled"], outs["pooled"])
    assert real_positions(outs, {"attention_mask": torch.ones(2, 3)}) is outs


def test_outputs_over_their_cap_are_strided_and_still_catch_drift(registry, tmp_path, monkeypatch):
    from hftestgen.snapshot import record
    from hftestgen.snapshot.record import record_snapshot

    monkeypatch.setattr(record, "OUTPUTS_CAP_BYTES", 256)
    m = record_snapshot(_cases(registry, ("llama",)), tmp_path)
    rec = m["types"]["llama"]["classes"]["LlamaModel"]
    assert rec["outputs_stride"] > 1 and rec["weights"]
    from safetensors.torch import load_file

    outs = load_file(str(tmp_path / rec["path"] / "outputs.safetensors"))
    assert sum(v.numel() * v.element_size() for v in outs.values()) <= 256
    case = _cases(registry, ("llama",))[0]
    assert _golden(case, tmp_path, monkeypatch) is None
    with doubled_llama_attention_scale():
        msg = _golden(case, tmp_path, monkeypatch)
    assert msg and "last_hidden_state: max abs diff" in msg


def test_a_precision_this_release_cannot_run_falls_back_at_its_own_tolerance(
    registry, snap, monkeypatch
):
    """A release where the recorded float64-promoted run raises (4.57.6's CLIP overflows a
    float32 constant) is compared in the next precision that runs, at that precision's
    tolerance, in the recorded dtype. Old behaviour: a failure, 'no longer runs'."""
    from hftestgen.snapshot import record

    real = record.outputs_in

    def no_promoted(model, inputs, precision):
        if precision != "float32":
            raise RuntimeError("value cannot be converted to type float without overflow")
        return real(model, inputs, precision)

    monkeypatch.setattr(record, "outputs_in", no_promoted)
    case = _cases(registry, ("bert",))[0]
    assert _golden(case, snap, monkeypatch) is None
    with doubled_llama_attention_scale():
        got = _golden(_cases(registry, ("llama",))[0], snap, monkeypatch)
    assert got is not None and "float32, recorded float64-promoted" in got, got
