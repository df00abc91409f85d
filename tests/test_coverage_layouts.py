"""Checks on input layouts other than one 2-D token sequence: audio time series (padding with a
frame mask, position sensitivity of audio encoders), multiple-choice rows, packed pixels and
generation with every modality. Each fault is monkeypatched into the code path a real tiny
model runs; the check, called as a generated test calls it, must fail with it and pass without
it. Before these layouts were handled, each check skipped (counted as an error here)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hftestgen import checks  # noqa: E402
from hftestgen.checks import Case  # noqa: E402
from hftestgen.render.files import case_fields  # noqa: E402


def _case(registry, model_type: str) -> Case:
    return Case(**case_fields(registry[model_type]))


def _verdict(check: str, case: Case, model_class: str) -> str | None:
    """None when the check passes, else its failure message; a skip fails the test (the layout
    is not checked)."""
    checks.clear_cache()
    try:
        getattr(checks, check)(case, model_class)
    except pytest.fail.Exception as e:
        return str(e)
    except pytest.skip.Exception as e:
        pytest.fail(f"{check} skipped {model_class}: {e}")
    finally:
        checks.clear_cache()
    return None


# --------------------------------------------------------------------------------------------
# faults


def fault_ctc_loss_ignores_mask(monkeypatch):
    """CTC loss with every sequence taken as unpadded (input_lengths = T)."""
    from torch.nn import functional as F

    orig = F.ctc_loss

    def ctc_loss(log_probs, targets, input_lengths, target_lengths, *args, **kwargs):
        full = torch.full_like(torch.as_tensor(input_lengths), log_probs.shape[0])
        return orig(log_probs, targets, full, target_lengths, *args, **kwargs)

    monkeypatch.setattr(F, "ctc_loss", ctc_loss)


def fault_wav2vec2_encoder_ignores_mask(monkeypatch):
    """Wav2Vec2's encoder attends to padded frames (the mask is dropped before the encoder)."""
    from transformers.models.wav2vec2 import modeling_wav2vec2 as m

    orig = m.Wav2Vec2Encoder.forward

    def forward(self, hidden_states, attention_mask=None, *args, **kwargs):
        return orig(self, hidden_states, None, *args, **kwargs)

    monkeypatch.setattr(m.Wav2Vec2Encoder, "forward", forward)


def fault_whisper_encoder_positions_dropped(monkeypatch):
    """WhisperEncoder adds zeros instead of its sinusoidal position table."""
    from transformers.models.whisper import modeling_whisper as m

    orig = m.WhisperEncoder.forward

    def forward(self, *args, **kwargs):
        table = self.embed_positions.weight.data.clone()
        self.embed_positions.weight.data.zero_()
        try:
            return orig(self, *args, **kwargs)
        finally:
            self.embed_positions.weight.data.copy_(table)

    monkeypatch.setattr(m.WhisperEncoder, "forward", forward)


def fault_moonshine_rotary_dropped(monkeypatch):
    """Moonshine's attention no longer rotates queries and keys (its only positions)."""
    from transformers.models.moonshine import modeling_moonshine as m

    monkeypatch.setattr(m, "apply_rotary_pos_emb", lambda q, k, cos, sin, *a, **kw: (q, k))


def fault_bert_choices_ignore_mask(monkeypatch):
    """BERT's multiple-choice head runs its encoder without the attention mask."""
    from transformers.models.bert import modeling_bert as m

    orig = m.BertModel.forward

    def forward(self, input_ids=None, attention_mask=None, *args, **kwargs):
        return orig(self, input_ids, None, *args, **kwargs)

    monkeypatch.setattr(m.BertModel, "forward", forward)


def fault_llava_generate_drops_pixels(monkeypatch):
    """LLaVA's generate loses pixel_values on its way to the model: the image placeholder
    tokens are embedded as plain tokens (a generation-only path dropping a modality)."""
    import functools

    from transformers.models.llava import modeling_llava as m

    orig = m.LlavaForConditionalGeneration.generate

    @functools.wraps(orig)
    def generate(self, *args, **kwargs):
        kwargs.pop("pixel_values", None)
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(m.LlavaForConditionalGeneration, "generate", generate)


def fault_qwen2_vl_vision_attends_across_images(monkeypatch):
    """Qwen2-VL's vision tower runs its packed patches as one sequence (the per-image
    ``cu_seqlens`` boundaries dropped): every image attends to the others' patches."""
    from transformers.models.qwen2_vl import modeling_qwen2_vl as m

    orig = m.get_vision_attention_seqlens

    def seqlens(grid_thw, *args, **kwargs):
        cu, _ = orig(grid_thw, *args, **kwargs)
        total = int(cu[-1])
        return torch.tensor([0, total], dtype=cu.dtype), total

    monkeypatch.setattr(m, "get_vision_attention_seqlens", seqlens)


# (fault, model type, check, model class, text the failure must contain)
FAULTS = [
    pytest.param(
        fault_ctc_loss_ignores_mask,
        "wav2vec2",
        "attention_mask_padding",
        "Wav2Vec2ForCTC",
        "loss: max abs diff",
        id="ctc-loss-ignores-mask",
    ),
    pytest.param(
        fault_wav2vec2_encoder_ignores_mask,
        "wav2vec2",
        "attention_mask_padding",
        "Wav2Vec2Model",
        "padded (masked) input_values steps change outputs at real steps",
        id="wav2vec2-encoder-ignores-mask",
    ),
    pytest.param(
        fault_whisper_encoder_positions_dropped,
        "whisper",
        "position_sensitivity",
        "WhisperModel",
        "no positional information reaches the outputs",
        id="whisper-encoder-positions-dropped",
    ),
    pytest.param(
        fault_moonshine_rotary_dropped,
        "moonshine",
        "position_sensitivity",
        "MoonshineModel",
        "no positional information reaches the outputs",
        id="moonshine-rotary-dropped",
    ),
    pytest.param(
        fault_bert_choices_ignore_mask,
        "bert",
        "attention_mask_padding",
        "BertForMultipleChoice",
        "padded (masked) positions change outputs at real positions of each choice",
        id="bert-multiple-choice-ignores-mask",
    ),
    pytest.param(
        fault_qwen2_vl_vision_attends_across_images,
        "qwen2_vl",
        "batch_independence",
        "Qwen2VLModel",
        "a sample's output changes with the rest of the batch",
        id="qwen2-vl-vision-attends-across-images",
    ),
    pytest.param(
        fault_llava_generate_drops_pixels,
        "llava",
        "generate",
        "LlavaForConditionalGeneration",
        "first-step logits of generate differ from a plain forward",
        id="llava-generate-drops-pixels",
    ),
]


@pytest.mark.parametrize("fault, model_type, check, model_class, message", FAULTS)
def test_layout_check_catches_fault(
    registry, monkeypatch, fault, model_type, check, model_class, message
):
    case = _case(registry, model_type)
    assert _verdict(check, case, model_class) is None, f"{check} fails without the fault"
    fault(monkeypatch)
    got = _verdict(check, case, model_class)
    assert got is not None, f"{check} did not catch {fault.__name__}"
    assert message in got, got


def test_group_norm_feature_encoder_is_padded_in_its_mask_taking_variant(registry):
    """Wav2Vec2's tiny config has feat_extract_norm="group" (a GroupNorm over the whole time
    axis: its checkpoints take no attention_mask); the check pads the "layer" variant, leaving
    the built model as it is."""
    from hftestgen.checks import _checks, _support

    case = _case(registry, "wav2vec2")
    built = _support.get_forward_model(case, "Wav2Vec2ForCTC")
    assert built.config.feat_extract_norm == "group"
    model, note = _checks._mask_ready_model(built)
    assert model is not built.model and model.config.feat_extract_norm == "layer"
    assert built.config.feat_extract_norm == "group" and "feat_extract_norm='layer'" in note
    checks.clear_cache()


def test_grid_rows_split_packed_pixels_per_sample():
    """Packed patches (rows of every image, one after another) split by the per-sample grid;
    a packed tensor no grid accounts for is not split (the check then skips)."""
    from hftestgen.checks import _checks

    grid = torch.tensor([[1, 2, 2], [1, 2, 3]])
    inputs = {
        "input_ids": torch.arange(10).reshape(2, 5),
        "pixel_values": torch.arange(10).reshape(10, 1),
        "image_grid_thw": grid,
    }
    row = _checks._grid_rows(inputs, 2)
    assert row(inputs, 1, 2)["pixel_values"].flatten().tolist() == [4, 5, 6, 7, 8, 9]
    assert row(inputs, 0, 2)["image_grid_thw"].tolist() == [[1, 2, 2]]
    assert row(inputs, 1, 2)["input_ids"].tolist() == [[5, 6, 7, 8, 9]]
    assert _checks._grid_rows(dict(inputs, pixel_values=torch.zeros(9, 1)), 2) is None


def test_per_frame_label_heads_are_padded_without_labels(registry):
    """A head whose labels have one row per output frame (audio frame classification) cannot
    take the same labels for a padded input: the check compares it without labels instead of
    failing with the head's own shape error (it did: "Expected input batch_size (48) to match
    target batch_size (38)")."""
    from hftestgen.tiny.inputs import PER_FRAME_LABEL_TASKS

    assert "audio_frame_classification" in PER_FRAME_LABEL_TASKS
    case = _case(registry, "wav2vec2")
    assert _verdict("attention_mask_padding", case, "Wav2Vec2ForAudioFrameClassification") is None
