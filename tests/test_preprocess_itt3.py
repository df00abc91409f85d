"""Rules and data of the itt3 triage (image-text-to-text / processor failures)."""

from __future__ import annotations

import transformers
from transformers import MgpstrConfig

from hftestgen.preprocess.build import synthesize


def test_hub_bound_processor_is_a_named_skip_without_a_hub_lookup(monkeypatch):
    """MgpstrProcessor loads GPT-2 / BERT tokenizers by fixed Hub ids in ``__init__``: the
    synthesis skips it by name (HUB_BOUND) and never calls ``from_pretrained`` (before: an
    offline Hub lookup, then a synthesis error)."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("no Hub here")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    names = {
        "tokenizer": "MgpstrTokenizer",
        "image_processor": "ViTImageProcessorPil",
        "processor": "MgpstrProcessor",
    }
    config = MgpstrConfig(hidden_size=32, num_hidden_layers=1, image_size=[32, 128])
    out = synthesize("mgp-str", config, names)
    assert out.tokenizer is not None and out.image_processor is not None
    assert "processor" not in out.errors, out.errors
    assert "Hub" in out.skipped["processor"]
    assert calls == []
