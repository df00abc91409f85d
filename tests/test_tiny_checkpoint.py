"""`hftestgen tiny MODEL_TYPE --save DIR`: a tiny checkpoint plain Transformers loads offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hftestgen", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_saved_tiny_checkpoint_loads_offline_and_is_the_suite_model(tmp_path, cli_env):
    out = tmp_path / "bert-mlm"
    proc = _cli(cli_env, "tiny", "bert", "--class", "BertForMaskedLM", "--save", str(out))
    assert proc.returncode == 0, proc.stderr
    assert {"config.json", "model.safetensors"} <= {p.name for p in out.iterdir()}
    assert not list(out.glob("*.bin"))  # safetensors only
    # a fresh process with only Transformers, offline
    code = (
        "import torch, transformers;"
        f"m = transformers.AutoModelForMaskedLM.from_pretrained({str(out)!r}).eval();"
        "ids = torch.tensor([[2, 5, 7, 11, 3]]);"
        "print(type(m).__name__, tuple(m(input_ids=ids).logits.shape))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFTESTGEN")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    name, shape = run.stdout.split(" ", 1)
    assert name == "BertForMaskedLM"
    # the same weights as the suite's tiny model (seed 0, records applied)
    import torch
    import transformers

    from hftestgen.tiny import build

    built = build("bert", "BertForMaskedLM")
    loaded = transformers.AutoModelForMaskedLM.from_pretrained(out).eval()
    ids = torch.tensor([[2, 5, 7, 11, 3]])
    with torch.no_grad():
        assert torch.equal(built.model(input_ids=ids).logits, loaded(input_ids=ids).logits)
    assert f"(1, 5, {built.config.vocab_size})" in shape


def test_an_existing_folder_is_never_overwritten(tmp_path, cli_env):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    proc = _cli(cli_env, "tiny", "bert", "--save", str(out))
    assert proc.returncode == 2
    assert "not an empty folder" in proc.stderr and "nothing was written" in proc.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_an_unknown_class_is_a_usage_error(tmp_path, cli_env):
    proc = _cli(cli_env, "tiny", "bert", "--class", "GPT2Model", "--save", str(tmp_path / "x"))
    assert proc.returncode == 2
    assert "has no model class 'GPT2Model'" in proc.stderr
    assert not (tmp_path / "x").exists()
