"""Pretrained mode: checkpoint ids derived from Transformers' docs, and ``run --pretrained``
loading them from the local Hugging Face cache (a fake one here: offline, tiny weights)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hftestgen.checks.case import Case
from hftestgen.checks.pretrained import PRETRAINED_ENV
from hftestgen.registry import checkpoints as C
from hftestgen.render.files import case_fields

FAKE_ID = "hftestgen-test/tiny-bert"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# The fake checkpoint differs from the suite's tiny bert, so a check that loads it is seen to.
FAKE_TINY = {"num_hidden_layers": 3}


# ---------------------------------------------------------------------------------------------
# deriving the ids


def test_bert_gets_the_checkpoint_its_config_docstring_names():
    import transformers

    assert (
        "[google-bert/bert-base-uncased](https://huggingface.co/google-bert/bert-base-uncased)"
        in (transformers.BertConfig.__doc__)
    )
    assert C.checkpoint_for("bert") == "google-bert/bert-base-uncased"
    assert C.checkpoint_source("bert") == C.CONFIG_DOCSTRING
    assert C.checkpoints()["gpt2"] == "openai-community/gpt2"


def test_a_wrapper_type_without_a_checkpoint_gets_none():
    # EncoderDecoderConfig is documented with @auto_docstring(checkpoint=""): no id anywhere
    assert C.checkpoint_for("encoder-decoder") is None
    assert "encoder-decoder" not in C.checkpoints()
    assert C.resolve("encoder-decoder") == (None, None)


def test_docstring_links_must_name_their_own_url():
    doc = (
        "similar to that of the [None](https://huggingface.co/None) and "
        "[the paper](https://huggingface.co/papers/1234) or [a/b](https://huggingface.co/c/d); "
        "see [org/model-1](https://huggingface.co/org/model-1/)"
    )
    assert C.from_docstring(doc) == "org/model-1"
    assert C.from_docstring("no link") is None
    # 4.57's d_fine / deepseek_v2 quote the id inside the link; Transformers' own reader misses it
    quoted = 'that of X "[org/m-x"](https://huggingface.co/org/m-x").'
    assert C.from_docstring(quoted) == "org/m-x"


def test_auto_docstring_sources_are_read_when_the_docstring_names_none():
    # 5.x configs with their own intro text carry the id in @auto_docstring(checkpoint=...)
    assert C.checkpoint_for("bamba") == "ibm-fms/Bamba-9.8b-2.2T-hf"
    assert C.checkpoint_source("bamba") == C.AUTO_DOCSTRING
    src = '@auto_docstring(\n    custom_intro="""\nA (b).\n\nC\n""",\n    checkpoint="o/x",\n)\nclass XConfig(P):\n'
    assert C._class_decorator_checkpoint(src, "XConfig") == "o/x"
    assert (
        C._class_decorator_checkpoint(
            '@auto_docstring(checkpoint="o/x")\nclass A:\n    pass\n\nclass B:\n', "B"
        )
        is None
    )


def test_checkpoint_for_doc_constant_is_read():
    got = C._CHECKPOINT_FOR_DOC.search('x = 1\n_CHECKPOINT_FOR_DOC = "google/vit-base"\n')
    assert got and got.group(1) == "google/vit-base"


def test_an_override_wins_over_the_derived_id():
    assert C.resolve("bert", "me/my-bert") == ("me/my-bert", C.OVERRIDES)
    assert C.resolve("bert") == ("google-bert/bert-base-uncased", C.CONFIG_DOCSTRING)


def test_most_types_get_an_id(registry):
    ids = C.checkpoints()
    testable = [s.model_type for s in registry.testable()]
    # 5.24: 727 of 734 testable types; the rest are wrappers (encoder-decoder, rag, timm, ...)
    assert sum(1 for t in testable if t in ids) >= 0.95 * len(testable)


# ---------------------------------------------------------------------------------------------
# a fake local hub cache


def _fake_hub(root: Path) -> Path:
    """``root/hub`` laid out as Hugging Face's cache with FAKE_ID's snapshot (a tiny bert)."""
    from hftestgen.tiny.checkpoint import save_tiny

    hub = root / "hub"
    repo = hub / ("models--" + FAKE_ID.replace("/", "--"))
    save_tiny("bert", "BertModel", repo / "snapshots" / COMMIT, tiny=FAKE_TINY)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    return _fake_hub(tmp_path_factory.mktemp("hf"))


def test_pretrained_path_resolves_the_snapshot_offline(hub):
    assert C.pretrained_path("bert", FAKE_ID, cache_dir=hub) == hub / (
        f"models--hftestgen-test--tiny-bert/snapshots/{COMMIT}"
    )
    assert C.pretrained_path("bert", cache_dir=hub) is None  # google-bert/... is not cached
    assert C.pretrained_path("encoder-decoder", cache_dir=hub) is None  # no id at all


def _bert_case(registry, checkpoint: str | None) -> Case:
    return dataclasses.replace(Case(**case_fields(registry["bert"])), checkpoint=checkpoint)


def test_get_built_loads_the_cached_checkpoint_in_pretrained_mode(registry, hub, monkeypatch):
    import torch

    from hftestgen import checks
    from hftestgen.checks._support import get_built

    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    case = _bert_case(registry, FAKE_ID)
    checks.clear_cache()
    tiny = get_built(case, "BertForMaskedLM")  # without the variable: the suite's tiny model
    assert tiny.config.num_hidden_layers != FAKE_TINY["num_hidden_layers"]
    monkeypatch.setenv(PRETRAINED_ENV, "1")
    built = get_built(case, "BertForMaskedLM")
    checks.clear_cache()
    assert built.config.num_hidden_layers == FAKE_TINY["num_hidden_layers"]
    assert COMMIT in built.config._name_or_path
    assert not built.model.training
    assert all(p.dtype == torch.float32 for p in built.model.parameters())
    assert built.tasks == ("masked_lm",) and built.family == "encoder-only"
    ids = built.inputs()["input_ids"]  # inputs from the loaded config, as for tiny models
    assert int(ids.max()) < built.config.vocab_size


def test_pipeline_checks_use_the_checkpoints_own_preprocessing(registry, hub, monkeypatch):
    from hftestgen import checks
    from hftestgen.checks import pipelines

    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(PRETRAINED_ENV, "1")
    case = _bert_case(registry, FAKE_ID)
    checks.clear_cache()
    pipelines._PRETRAINED.clear()
    prep, config = pipelines._prep(case)
    assert COMMIT in prep.tokenizer.name_or_path  # loaded from the snapshot, not synthesized
    assert config.num_hidden_layers == FAKE_TINY["num_hidden_layers"]
    pipelines.pipeline(case, "fill-mask")  # raises on a failure
    checks.clear_cache()
    pipelines._PRETRAINED.clear()


def test_an_absent_checkpoint_is_a_skip_naming_it(registry, hub, monkeypatch):
    from hftestgen.checks._support import get_built

    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv(PRETRAINED_ENV, "1")
    with pytest.raises(pytest.skip.Exception) as info:
        get_built(_bert_case(registry, "nobody/absent-model"), "BertModel")
    msg = str(info.value)
    assert msg.startswith("not-covered: pretrained: checkpoint nobody/absent-model is not in")
    assert "hf download nobody/absent-model" in msg


# ---------------------------------------------------------------------------------------------
# hftestgen run --pretrained, end to end


def _cli(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hftestgen", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_run_pretrained_passes_on_the_cached_checkpoint_and_skips_an_absent_one(
    tmp_path, cli_env, hub
):
    (tmp_path / "pyproject.toml").write_text('[tool.hftestgen]\nout = "gen"\n')
    (tmp_path / "hftestgen-overrides.toml").write_text(f'[types.bert]\ncheckpoint = "{FAKE_ID}"\n')
    env = {k: v for k, v in cli_env.items() if k != PRETRAINED_ENV}
    env.update(HF_HUB_CACHE=str(hub), HF_HOME=str(tmp_path / "hf-home"), HF_HUB_OFFLINE="1")
    gen = _cli(tmp_path, env, "generate", "bert", "gpt2")
    assert gen.returncode == 0, gen.stderr
    assert FAKE_ID in (tmp_path / "gen" / "test_hf_bert.py").read_text()
    run = _cli(tmp_path, env, "run", "--pretrained", "bert", "gpt2", "-n", "0")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = (tmp_path / "reports" / "results.jsonl").read_text().splitlines()
    rows = [r for r in map(json.loads, lines) if r.get("event") == "test"]
    bert = [r for r in rows if r.get("model_type") == "bert"]
    gpt2 = [r for r in rows if r.get("model_type") == "gpt2"]
    assert bert and gpt2
    assert any(r["outcome"] == "passed" for r in bert)
    assert not [r for r in bert if r["outcome"] == "failed"]
    # the end-to-end checks ran on the checkpoint's own tokenizer (save_tiny wrote one)
    passed = {(r["check"], r["param"]) for r in bert if r["outcome"] == "passed"}
    assert {("preprocessing", "tokenizer"), ("pipeline", "fill-mask")} <= passed
    pretrained_skips = [r for r in bert if "pretrained" in (r.get("skip_reason") or "")]
    assert not pretrained_skips  # every bert class loaded the fake checkpoint
    # gpt2's checkpoint is not in the fake cache: every check that builds skips, naming it
    assert not [r for r in gpt2 if r["outcome"] in ("passed", "failed")]
    reasons = {r.get("skip_reason") or "" for r in gpt2 if r["outcome"] == "skipped"}
    assert any(
        "checkpoint openai-community/gpt2 is not in the local Hugging Face cache" in x
        and "hf download openai-community/gpt2" in x
        for x in reasons
    )
    cov = json.loads((tmp_path / "reports" / "coverage.json").read_text())
    assert cov["run"].get("pretrained") is True
    assert os.environ.get(PRETRAINED_ENV) is None  # the CLI's variable stayed in its process
