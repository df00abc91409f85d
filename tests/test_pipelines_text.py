"""Text pipelines: the PADDING_LEAK rule and the model's own config (hftestgen.checks.pipelines)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hftestgen.checks import pipelines as P  # noqa: E402
from hftestgen.checks.case import Case  # noqa: E402
from hftestgen.registry.records import Known  # noqa: E402

GENERATED = Path(__file__).resolve().parents[1] / "generated"


def _case(model_type: str) -> Case:
    spec = importlib.util.spec_from_file_location(
        f"_gen_{model_type}", GENERATED / f"test_hf_{model_type}.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.CASE


class _Masked(torch.nn.Module):
    def forward(self, input_ids=None, attention_mask=None):  # pragma: no cover - signature only
        return input_ids


class _Unmasked(torch.nn.Module):
    def forward(self, input_ids=None):  # pragma: no cover - signature only
        return input_ids


def _bare_case(known=()) -> Case:
    return Case("x", "x", "XConfig", {"base": ("_Masked",)}, known=tuple(known))


def test_padding_leak_without_attention_mask():
    built = SimpleNamespace(model=_Unmasked())
    assert "no attention_mask" in P._padding_leak(_bare_case(), built)


def test_padding_leak_from_the_padding_checks_record():
    known = Known(("attention_mask_padding",), "not-applicable", "pools over padding", ("_Masked",))
    built = SimpleNamespace(model=_Masked())
    assert P._padding_leak(_bare_case(), built) is None
    assert "pools over padding" in P._padding_leak(_bare_case([known]), built)
    other = Known(("attention_mask_padding",), "not-applicable", "other class", ("Other",))
    assert P._padding_leak(_bare_case([other]), built) is None


def test_padding_leak_for_left_padded_generation_without_position_ids():
    """A decoder that takes no position_ids numbers positions from slot 0: left padding (batched
    generation) shifts them; the same class is compared batched for other tasks."""
    decoder_config = SimpleNamespace(is_encoder_decoder=False)
    built = SimpleNamespace(model=_Masked(), config=decoder_config)
    assert "position_ids" in P._padding_leak(_bare_case(), built, "text-generation")
    assert P._padding_leak(_bare_case(), built, "text-classification") is None


def test_model_config_is_the_models_own():
    own = SimpleNamespace(is_encoder_decoder=False)
    built = SimpleNamespace(model=SimpleNamespace(config=own), config=object())
    assert P._model_config(built) is own


def test_fnet_feature_extraction_pipeline_passes():
    """FNet mixes tokens by a Fourier transform with no attention mask: a padded batch differs
    from its inputs alone (max abs diff 3.33 before the rule); the unbatched comparison still
    runs and passes."""
    P.pipeline(_case("fnet"), "feature-extraction")


def test_padding_leak_does_not_hide_a_broken_single_comparison(monkeypatch):
    """The rule drops only the batch comparison: a wrong by-hand result still fails."""
    spec = P.TASKS["feature-extraction"]
    broken = P.TaskSpec(
        spec.inputs,
        spec.options,
        spec.structure,
        lambda m, p, x, c: spec.manual(m, p, x, c) + 1.0,
        spec.compare,
    )
    monkeypatch.setitem(P.TASKS, "feature-extraction", broken)
    with pytest.raises(BaseException, match="pipeline vs by hand"):
        P.pipeline(_case("fnet"), "feature-extraction")
