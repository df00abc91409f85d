"""Rules of the image-text-to-text / any-to-any pipeline checks (fake parts, no models)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from hftestgen.checks import pipelines as P
from hftestgen.preprocess import processors


def _prep(chat_template=None, image_processor=object(), feature_extractor=None):
    proc = SimpleNamespace(
        chat_template=chat_template,
        image_processor=image_processor,
        feature_extractor=feature_extractor,
    )
    return SimpleNamespace(
        processor=proc, feature_extractor=feature_extractor, tokenizer=None, image_processor=None
    )


def test_chatless_processor_gets_plain_form():
    xs = P._itt_inputs(_prep(chat_template=None))
    assert all(isinstance(x, dict) and set(x) == {"text", "images"} for x in xs)
    assert [x["text"] for x in xs] == list(P.TEXTS)


def test_processor_with_template_gets_chats():
    xs = P._itt_inputs(_prep(chat_template="{{ messages }}"))
    assert all(isinstance(x, list) and x[0]["role"] == "user" for x in xs)


def test_plain_batch_goes_as_generator():
    seen = []

    def pipe(inputs, **kw):
        seen.append(inputs)
        return [[{"generated_text": ""}] for _ in range(2)]

    xs = P._itt_plain(_prep())
    P._batch(pipe, xs, {})
    assert not isinstance(seen[0], list)  # a list of dicts would be read as one chat


class _WordPiece:
    """decode joins WordPiece tokens the BERT way: '##' continues the previous word."""

    vocab = {1: "hello", 2: "fox", 3: "##z", 4: "q"}

    def __call__(self, **kw):
        return {"input_ids": torch.tensor([[1, 2]]), "attention_mask": torch.ones(1, 2)}

    def decode(self, ids, skip_special_tokens=True):
        # BERT's convert_tokens_to_string: a leading "##" piece stays as it is
        return " ".join(self.vocab[i] for i in ids.tolist()).replace(" ##", "")


def test_new_text_is_full_decode_less_prompt():
    proc = _WordPiece()
    prep = SimpleNamespace(processor=proc)
    model = SimpleNamespace(generate=lambda **kw: torch.tensor([[1, 2, 3, 4]]))
    config = SimpleNamespace(is_encoder_decoder=False)
    got = P._itt_manual(model, prep, {"text": "hello fox", "images": None}, config)
    # the pipeline (return_full_text=False) decodes "hello foxz q" and cuts "hello fox";
    # decoding the new tokens alone gives "##z q"
    assert got == [{"generated_text": "z q"}]


def test_feature_extractor_pads_with_the_tokenizer():
    fe = SimpleNamespace(padding_side="right")
    tok = SimpleNamespace(padding_side="right")
    prep = SimpleNamespace(feature_extractor=fe, processor=SimpleNamespace(feature_extractor=fe))
    P._pad_left(prep, tok)
    assert (tok.padding_side, fe.padding_side) == ("left", "left")


def test_self_placed_processor_template_writes_no_placeholder():
    cls = type("Florence2Processor", (), {"image_token": "<image>"})
    assert "<image>" not in processors.chat_template_for(cls())
    other = type("LlavaProcessor", (), {"image_token": "<image>"})
    assert "<image>" in processors.chat_template_for(other())
