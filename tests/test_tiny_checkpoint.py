"""`hftestgen tiny MODEL_TYPE --save DIR`: a tiny checkpoint plain Transformers loads offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_an_unknown_model_type_is_one_usage_error(tmp_path, cli_env):
    proc = _cli(cli_env, "tiny", "nope-bert", "--save", str(tmp_path / "x"))
    assert proc.returncode == 2
    assert "unknown model type 'nope-bert'" in proc.stderr and "hftestgen list" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------------------------
# preprocessing files: save_tiny writes what hftestgen.preprocess.build.preprocessing_for built

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the", "a", "cat"]
VOCAB += [chr(c) for c in range(ord("a"), ord("z") + 1) if chr(c) != "a"]


def _offline_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFTESTGEN")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def _fake_preprocessing(monkeypatch, **parts):
    """Make ``preprocessing_for`` return these parts (the lead's build.py, until merged)."""
    from hftestgen.preprocess import build as pre_build

    calls = []

    def preprocessing_for(model_type, config):
        calls.append((model_type, config.vocab_size))
        return pre_build.Preprocessing(model_type=model_type, **parts)

    monkeypatch.setattr(pre_build, "preprocessing_for", preprocessing_for, raising=False)
    return calls


def test_save_tiny_writes_the_tokenizer_and_builds_the_model_with_its_overrides(
    tmp_path, monkeypatch
):
    import transformers

    from hftestgen.tiny.checkpoint import save_tiny

    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tok = transformers.BertTokenizer(vocab_file=str(tmp_path / "vocab.txt"))
    calls = _fake_preprocessing(
        monkeypatch,
        tokenizer=tok,
        config_overrides={"vocab_size": len(VOCAB)},
        skipped={"image_processor": "not mapped here"},
    )
    out = tmp_path / "ckpt"
    saved = save_tiny("bert", "BertForMaskedLM", out)
    assert calls and calls[0][0] == "bert"
    assert saved.preprocessing == ("tokenizer",)
    assert saved.skipped == {"image_processor": "not mapped here"} and saved.errors == {}
    assert "tokenizer_config.json" in saved.files
    assert json.loads((out / "config.json").read_text())["vocab_size"] == len(VOCAB)
    # raw text in, top-k out: a fresh offline process with only Transformers
    code = (
        "import sys, transformers;"
        f"p = transformers.pipeline('fill-mask', model={str(out)!r});"
        "r = p('hello ' + p.tokenizer.mask_token);"
        "assert 'hftestgen' not in sys.modules;"
        "print(json.dumps([(d['token'], d['token_str'], d['score']) for d in r]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", "import json;" + code],
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    top = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(top) == 5  # over the tokenizer's vocabulary (the model was built with its size)
    assert all(0 <= i < len(VOCAB) and isinstance(t, str) and 0.0 <= s <= 1.0 for i, t, s in top)


class _Part:
    def __init__(self, name: str, log: list):
        self.name, self.log = name, log

    def save_pretrained(self, out):
        self.log.append(self.name)
        (Path(out) / f"{self.name}.json").write_text("{}")


def test_a_composite_processor_is_saved_instead_of_its_parts(tmp_path, monkeypatch):
    from hftestgen.tiny.checkpoint import save_tiny

    log: list = []
    parts = {k: _Part(k, log) for k in ("tokenizer", "image_processor", "processor")}
    _fake_preprocessing(monkeypatch, errors={"video_processor": "boom"}, **parts)
    saved = save_tiny("bert", "BertModel", tmp_path / "with-processor")
    assert log == ["processor"] and saved.preprocessing == ("processor",)
    assert saved.errors == {"video_processor": "boom"}
    # without a processor: each built part
    log.clear()
    del parts["processor"]
    _fake_preprocessing(monkeypatch, **parts)
    saved = save_tiny("bert", "BertModel", tmp_path / "parts")
    assert log == ["tokenizer", "image_processor"]
    assert saved.preprocessing == ("tokenizer", "image_processor")
    assert {"tokenizer.json", "image_processor.json"} <= set(saved.files)
    # asked for none: nothing is synthesized
    log.clear()
    saved = save_tiny("bert", "BertModel", tmp_path / "none", preprocessing=False)
    assert log == [] and saved.preprocessing == ()


# ---------------------------------------------------------------------------------------------
# End to end from raw input, through the real synthesis.
# Each: `hftestgen tiny TYPE --class C --save D`,
# then a FRESH offline process importing only Transformers runs pipeline(task, model=D) on raw
# input (text / PIL image / numpy waveform / image + chat text).

E2E = {
    "fill-mask": (
        "bert",
        "BertForMaskedLM",
        "r = p('hello [MASK]')\n"
        "assert len(r) == 5 and all({'token_str', 'score', 'token'} <= set(d) for d in r), r\n",
    ),
    "image-classification": (
        "vit",
        "ViTForImageClassification",
        "img = Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))\n"
        "r = p(img)\n"
        "assert r and all({'label', 'score'} <= set(d) for d in r), r\n",
    ),
    "automatic-speech-recognition": (
        "wav2vec2",
        "Wav2Vec2ForCTC",
        "r = p(rng.standard_normal(16000).astype(np.float32))\n"
        "assert isinstance(r['text'], str), r\n",
    ),
    "image-text-to-text": (
        "llava",
        "LlavaForConditionalGeneration",
        "img = Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))\n"
        "msgs = [{'role': 'user', 'content': [{'type': 'image', 'image': img},"
        " {'type': 'text', 'text': 'What is this?'}]}]\n"
        "r = p(text=msgs, max_new_tokens=3)\n"
        "assert r and 'generated_text' in r[0], r\n",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(E2E))
def test_end_to_end_a_saved_checkpoint_runs_its_pipeline_on_raw_input(task, tmp_path, cli_env):
    model_type, cls, body = E2E[task]
    out = tmp_path / model_type
    proc = _cli(cli_env, "tiny", model_type, "--class", cls, "--save", str(out))
    assert proc.returncode == 0, proc.stderr
    script = (
        "import sys\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from transformers import pipeline\n"
        "rng = np.random.default_rng(0)\n"
        f"p = pipeline({task!r}, model={str(out)!r})\n"
        f"{body}"
        "assert not [m for m in sys.modules if m.startswith('hftestgen')]\n"
        "print('ok')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout + run.stderr
