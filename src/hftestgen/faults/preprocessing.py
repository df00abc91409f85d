"""Faults in the preprocessing and pipeline code paths (tokenizers, image processors, feature
extractors, composite processors, pipelines' postprocessing and batching).

Each patches a general Transformers code path (the ``tokenizers`` wrapper, the PIL image backend,
``FeatureExtractionMixin``, ``pipelines.base``) or one processor class, so that raw input reaches
the model, or the model's output reaches the user, wrongly. Their checks are the two end-to-end
checks of ``hftestgen.checks.pipelines``: ``preprocessing`` (a kind's save/load round trip and
the facts of its output) and ``pipeline`` (the pipeline against the model called by hand on the
preprocessing's output, alone and in a padded batch).
"""

from __future__ import annotations

from . import Patcher, fault

# ---------------------------------------------------------------------------------------------
# tokenizer


def _drop_final_special(self, d: dict, encodings: list) -> None:
    """Remove, in place, the last real (unpadded) special token of every encoding in ``d``; where
    the batch is padded, one more pad position is appended so the rows stay rectangular."""
    padded = self._tokenizer.padding is not None
    fill = {
        "input_ids": self.pad_token_id if self.pad_token_id is not None else 0,
        "attention_mask": 0,
        "token_type_ids": getattr(self, "pad_token_type_id", 0),
        "special_tokens_mask": 1,
        "offset_mapping": (0, 0),
    }
    for j, e in enumerate(encodings):
        real = [
            i
            for i, (s, m) in enumerate(zip(e.special_tokens_mask, e.attention_mask, strict=False))
            if m
        ]
        if not real or not e.special_tokens_mask[real[-1]]:
            continue  # the sequence does not end with a special token: nothing to drop
        at = real[-1]
        for key, rows in d.items():
            if key == "length":
                if not padded:
                    rows[j] -= 1
                continue
            row = list(rows[j])
            del row[at]
            if padded:
                row.append(fill.get(key, 0))
            rows[j] = row


@fault(
    model_type="bert",
    family="encoder-only",
    check="preprocessing",
    bug_class="a tokenizer whose Python wrapper drops the final special token ([SEP] / EOS) the "
    "backend's post-processor added (an off-by-one when the wrapper converts or truncates the "
    "backend's encoding); the model then sees sequences it was never trained on",
    subset=True,
)
def bert_tokenizer_drops_final_sep(p: Patcher) -> None:
    """TokenizersBackend._convert_encoding drops the last special token ([SEP]) of every sequence."""
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    def make(orig):
        def _convert_encoding(self, *args, **kwargs):
            d, encodings = orig(self, *args, **kwargs)
            _drop_final_special(self, d, encodings)
            return d, encodings

        return _convert_encoding

    p.wrap(TokenizersBackend, "_convert_encoding", make)


# ---------------------------------------------------------------------------------------------
# image processor


@fault(
    model_type="vit",
    family="vision",
    check="preprocessing",
    bug_class="an image processor that skips normalization (do_normalize honoured in one backend "
    "and not the other, as in several slow/fast image-processor divergences): pixel values stay "
    "in [0, 1] where the model was trained on (x - mean) / std",
)
def vit_image_processor_skips_normalize(p: Patcher) -> None:
    """PilBackend.normalize returns the image it is given (no (x - mean) / std)."""
    from transformers.image_processing_backends import PilBackend

    def normalize(self, image, mean, std, **kwargs):
        return image

    p.setattr(PilBackend, "normalize", normalize)


# ---------------------------------------------------------------------------------------------
# feature extractor


def _to_dict_without(p: Patcher, key: str) -> None:
    from transformers.feature_extraction_utils import FeatureExtractionMixin

    def make(orig):
        def to_dict(self):
            out = orig(self)
            out.pop(key, None)
            return out

        return to_dict

    p.wrap(FeatureExtractionMixin, "to_dict", make)


@fault(
    model_type="audio-spectrogram-transformer",
    family="audio",
    check="preprocessing",
    bug_class="a feature-extractor setting that save_pretrained does not write (missing from "
    "preprocessor_config.json): from_pretrained falls back to the class default, here 128 mel "
    "bins instead of the model's own",
)
def audio_spectrogram_transformer_mel_bins_not_saved(p: Patcher) -> None:
    """FeatureExtractionMixin.to_dict leaves out num_mel_bins: a reloaded extractor has the default."""
    _to_dict_without(p, "num_mel_bins")


@fault(
    model_type="wav2vec2",
    family="audio",
    check="preprocessing",
    bug_class="a feature extractor whose sampling rate is not saved (missing from "
    "preprocessor_config.json): from_pretrained falls back to the class default, and audio is "
    "then resampled to, or rejected at, the wrong rate",
)
def wav2vec2_sampling_rate_not_saved(p: Patcher) -> None:
    """FeatureExtractionMixin.to_dict leaves out sampling_rate: a reloaded extractor has the default."""
    _to_dict_without(p, "sampling_rate")


@fault(
    model_type="wav2vec2",
    family="audio",
    check="preprocessing",
    bug_class="a feature extractor normalizing with the wrong statistic (divides by the variance "
    "instead of the standard deviation): input values are not zero-mean unit-variance",
)
def wav2vec2_normalizes_by_variance(p: Patcher) -> None:
    """Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm divides by the variance, not the std."""
    import numpy as np
    from transformers.models.wav2vec2.feature_extraction_wav2vec2 import (
        Wav2Vec2FeatureExtractor,
    )

    def zero_mean_unit_var_norm(input_values, attention_mask, padding_value=0.0):
        if attention_mask is None:
            return [(x - x.mean()) / (x.var() + 1e-7) for x in input_values]
        out = []
        for x, n in zip(input_values, np.array(attention_mask, np.int32).sum(-1), strict=False):
            y = (x - x[:n].mean()) / (x[:n].var() + 1e-7)
            y[n:] = padding_value
            out.append(y)
        return out

    p.setattr(
        Wav2Vec2FeatureExtractor, "zero_mean_unit_var_norm", staticmethod(zero_mean_unit_var_norm)
    )


# ---------------------------------------------------------------------------------------------
# composite processor


@fault(
    model_type="llava",
    family="multimodal",
    check="preprocessing",
    bug_class="a processor that expands an image placeholder into one image token too few (the "
    "CLS token subtracted twice: vision_feature_select_strategy='default' and "
    "num_additional_image_tokens miscounted); the model's image features no longer fit",
)
def llava_processor_one_image_token_short(p: Patcher) -> None:
    """LlavaProcessor.replace_image_token expands <image> into one image token fewer than needed."""
    from transformers.models.llava.processing_llava import LlavaProcessor

    def make(orig):
        def replace_image_token(self, *args, **kwargs):
            return orig(self, *args, **kwargs)[len(self.image_token) :]

        return replace_image_token

    p.wrap(LlavaProcessor, "replace_image_token", make)


@fault(
    model_type="llava",
    family="multimodal",
    check="preprocessing",
    bug_class="a processor that misplaces the image tokens: the expanded placeholder ends up "
    "after the prompt's text instead of where the text put it (the model then reads the text "
    "before it has seen the image)",
)
def llava_processor_image_tokens_after_text(p: Patcher) -> None:
    """ProcessorMixin.get_text_with_replacements moves the expanded image tokens to the text's end."""
    from transformers.processing_utils import ProcessorMixin

    def make(orig):
        def get_text_with_replacements(self, *args, **kwargs):
            texts, offsets = orig(self, *args, **kwargs)
            token = getattr(self, "image_token", None)
            if token and isinstance(texts, list):
                texts = [
                    s.replace(token, "") + token * s.count(token) if isinstance(s, str) else s
                    for s in texts
                ]
            return texts, offsets

        return get_text_with_replacements

    p.wrap(ProcessorMixin, "get_text_with_replacements", make)


# ---------------------------------------------------------------------------------------------
# pipelines


@fault(
    model_type="bert",
    family="encoder-only",
    check="pipeline",
    bug_class="a pipeline postprocessor that mislabels: each score is reported under the label "
    "of the next class index (an off-by-one into config.id2label)",
    subset=True,
)
def bert_text_classification_labels_shifted(p: Patcher) -> None:
    """TextClassificationPipeline.postprocess labels score i with id2label[i + 1]."""
    from transformers.pipelines.text_classification import TextClassificationPipeline

    def make(orig):
        def postprocess(self, *args, **kwargs):
            out = orig(self, *args, **kwargs)
            id2label = self.model.config.id2label
            label2id = {v: k for k, v in id2label.items()}
            n = len(id2label)
            for r in out if isinstance(out, list) else [out]:
                r["label"] = id2label[(int(label2id[r["label"]]) + 1) % n]
            return out

        return postprocess

    p.wrap(TextClassificationPipeline, "postprocess", make)


@fault(
    model_type="qwen3_5_text",
    family="decoder-only",
    check="pipeline",
    bug_class="a decision pipeline postprocessor that permutes option probabilities: each "
    "option of a choice / score question is reported with another option's probability",
)
def qwen3_5_text_decision_probabilities_permuted(p: Patcher) -> None:
    """DecisionPipeline.postprocess reverses the probabilities over a question's options (its
    choice then follows the permuted probabilities, so the answer stays self-consistent)."""
    from transformers.pipelines.decision import DecisionPipeline

    def make(orig):
        def postprocess(self, *args, **kwargs):
            answers = orig(self, *args, **kwargs)
            for a in answers.values():
                probs = a.get("probabilities")
                if probs:
                    a["probabilities"] = dict(
                        zip(probs, reversed(list(probs.values())), strict=True)
                    )
                    if a["type"] == "choice":
                        a["choice"] = max(a["probabilities"], key=a["probabilities"].get)
            return answers

        return postprocess

    p.wrap(DecisionPipeline, "postprocess", make)


@fault(
    model_type="bert",
    family="encoder-only",
    check="pipeline",
    bug_class="a pipeline's batch collation that pads attention_mask with ones: padded positions "
    "are attended to, so a batched result differs from the same input alone",
)
def bert_pipeline_pads_mask_with_ones(p: Patcher) -> None:
    """transformers.pipelines.base._pad pads attention_mask with 1 instead of 0."""
    _pad_mask_with_ones(p)


@fault(
    model_type="llama",
    family="decoder-only",
    check="pipeline",
    bug_class="batched generation whose left padding is attended to (the batch collation pads "
    "attention_mask with ones): a prompt's continuation in a batch differs from the prompt alone; "
    "the check must not excuse it as a near-tie (rule NEAR_TIE)",
)
def llama_generation_pads_mask_with_ones(p: Patcher) -> None:
    """transformers.pipelines.base._pad pads attention_mask with 1 instead of 0 (text-generation
    pads on the left)."""
    _pad_mask_with_ones(p)


def _pad_mask_with_ones(p: Patcher) -> None:
    from transformers.pipelines import base

    def make(orig):
        def _pad(items, key, padding_value, padding_side):
            if key == "attention_mask":
                padding_value = 1
            return orig(items, key, padding_value, padding_side)

        return _pad

    p.wrap(base, "_pad", make)
