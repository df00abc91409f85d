"""Rules of the raw-input processor pass (checks.pipelines._through_models / _processor_call)."""

import torch

from hftestgen.checks import pipelines as P
from hftestgen.checks.processor_calls import call_kwargs


class _Cfg:
    decoder_start_token_id = 5
    pad_token_id = 1


def test_decoder_start_for_audio_or_image_input():
    feed = {"input_features": torch.zeros(2, 4, 3)}
    got = P._decoder_inputs(_Cfg(), {"input_features", "decoder_input_ids"}, feed)
    assert got["decoder_input_ids"].tolist() == [[5], [5]]


def test_encoder_decoder_text_gets_ids_shifted_behind_the_start_token():
    cfg = _Cfg()
    cfg.is_encoder_decoder = True
    feed = {"input_ids": torch.tensor([[7, 8, 9], [3, 4, 6]])}
    got = P._decoder_inputs(cfg, {"input_ids", "decoder_input_ids"}, feed)
    assert got["decoder_input_ids"].tolist() == [[5, 7, 8], [5, 3, 4]]
    # a decoder-only config fed text is not shifted: one start token per sample
    got = P._decoder_inputs(_Cfg(), {"input_ids", "decoder_input_ids"}, feed)
    assert got["decoder_input_ids"].tolist() == [[5], [5]]


class _PadCfg:
    pad_token_id = 0

    def get_text_config(self):
        return self


def test_pad_id_for_model_is_set_during_the_check_and_restored_after_a_failure():
    cfg = _PadCfg()
    tok = type("Tok", (), {"pad_token_id": 4})()
    try:
        with P._pad_id_for_model(cfg, tok):
            assert cfg.pad_token_id == 4
            raise RuntimeError("the check failed")
    except RuntimeError:
        pass
    assert cfg.pad_token_id == 0


def test_decoder_start_leaves_given_decoder_ids_and_labels():
    names = {"input_features", "decoder_input_ids", "labels"}
    for key in ("decoder_input_ids", "labels"):
        feed = {"input_features": torch.zeros(1, 4), key: torch.zeros(1, 3, dtype=torch.long)}
        assert P._decoder_inputs(_Cfg(), names, feed) == {}
    assert P._decoder_inputs(_Cfg(), {"input_features"}, {"input_features": torch.zeros(1)}) == {}


def test_masks_and_labels_alone_feed_no_class():
    assert not P._carries_input({"labels": torch.zeros(1, 2)})
    assert not P._carries_input({"attention_mask": torch.ones(1, 2)})
    assert P._carries_input({"pixel_values": torch.zeros(1, 3), "labels": torch.zeros(1, 2)})


def test_all_ignored_labels_are_not_targets():
    assert P._no_targets("labels", torch.full((1, 4), -100))
    assert not P._no_targets("labels", torch.tensor([[-100, 3]]))
    assert not P._no_targets("input_ids", torch.full((1, 4), -100))


class OneFormerProcessor:
    pass


class ColPaliProcessor:
    pass


class SubColPali(ColPaliProcessor):
    pass


def test_call_values_apply_by_class_and_base():
    got = call_kwargs(OneFormerProcessor(), {"text": ["x"], "images": [1]})
    assert got == {"images": [1], "task_inputs": ["semantic"]}
    assert "text" not in call_kwargs(SubColPali(), {"text": ["x"], "images": [1]})
    assert call_kwargs(object(), {"text": ["x"]}) == {"text": ["x"]}


def test_image_seq_length_follows_num_image_tokens():
    from transformers import PaliGemmaConfig

    from hftestgen.preprocess import vision_audio as va

    rule = next(r for r in va.RULES if r.attr == "image_seq_length")
    cfg = PaliGemmaConfig(vision_config={"image_size": 32, "patch_size": 8})
    assert rule.derive(cfg, None) == cfg.text_config.num_image_tokens == 16


def _want(full, scores):
    return {"generated_token_ids": full, P.STEP_SCORES: [torch.tensor(r) for r in scores]}


def test_near_tie_accepts_a_flip_within_the_tolerance_only():
    t = P.tol.PIPELINE_BATCH
    # prompt [1, 2]; new tokens 3, 4; at new token 1 the by-hand side scored 4 and 5 alike
    want = _want([1, 2, 3, 4], [[0.0, 0, 0, 9, 0, 0], [0.0, 0, 0, 0, 2.0, 2.0 - 1e-6]])
    assert P._near_tie([1, 2, 3, 5], [1, 2, 3, 4], want, t, None) is not None
    # the same flip where the by-hand side had a clear winner is no tie
    want = _want([1, 2, 3, 4], [[0.0, 0, 0, 9, 0, 0], [0.0, 0, 0, 0, 2.0, 1.5]])
    assert P._near_tie([1, 2, 3, 5], [1, 2, 3, 4], want, t, None) is None
    # a difference inside the prompt, or a length difference, is never a tie
    assert P._near_tie([1, 7, 3, 4], [1, 2, 3, 4], want, t, None) is None
    assert P._near_tie([1, 2, 3], [1, 2, 3, 4], want, t, None) is None
    # without step scores nothing is excused
    assert (
        P._near_tie([1, 2, 3, 5], [1, 2, 3, 4], {"generated_token_ids": [1, 2, 3, 4]}, t, None)
        is None
    )


def test_near_tie_counts_steps_from_the_full_ids_when_the_prompt_starts_with_pad():
    t = P.tol.PIPELINE_BATCH
    # pad 0 starts the prompt (a pad-from-BOS tokenizer): stripped from both sides, the step
    # index still comes from the by-hand side's full ids
    want = _want([0, 2, 3, 4], [[0.0, 0, 0, 9, 0, 0], [0.0, 0, 0, 0, 2.0, 2.0]])
    g, w = P._strip([0, 2, 3, 5], 0), P._strip([0, 2, 3, 4], 0)
    assert "new token 1" in P._near_tie(g, w, want, t, 0)
