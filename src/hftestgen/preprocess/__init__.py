"""Tiny preprocessing, synthesized offline and sized to the tiny config.

The flow: ``mapping`` (which tokenizer / image processor / feature extractor / video processor /
processor classes the installed Transformers maps a model type to) -> ``tokenizers`` (tokenizers
trained on the shipped ``corpus.txt``, special tokens at the tiny config's ids) and
``vision_audio`` (image processors, feature extractors, video processors sized to the tiny
config) -> ``processors`` (composite processors assembled from those, with a minimal chat
template) -> ``build.preprocessing_for`` (all of a type's preprocessing, cached per process).

Every synthesizer raises ``PreprocessSkip`` (a named reason: a package that is not installed,
torchvision) or ``PreprocessError`` (it should have worked: a bug here or upstream).
"""

from __future__ import annotations


class PreprocessSkip(Exception):
    """This preprocessing class cannot be built here, for a named reason (a missing package)."""

    def __init__(self, reason: str, package: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.package = package


class PreprocessError(Exception):
    """Synthesizing this preprocessing class failed where it should have worked."""


KINDS = ("tokenizer", "image_processor", "feature_extractor", "video_processor", "processor")
"""The preprocessing kinds, in the order a composite processor is assembled from them."""

AUTO_CLASSES = {
    "tokenizer": "AutoTokenizer",
    "image_processor": "AutoImageProcessor",
    "feature_extractor": "AutoFeatureExtractor",
    "video_processor": "AutoVideoProcessor",
    "processor": "AutoProcessor",
}
"""Kind -> the ``transformers`` Auto class that loads it from a folder."""


def auto_class(kind: str):
    """The ``transformers`` Auto class of a preprocessing kind (``AUTO_CLASSES``)."""
    import transformers

    return getattr(transformers, AUTO_CLASSES[kind])


def unsupported_release() -> str | None:
    """Why the installed Transformers cannot take the synthesis, or None. Feature detection:
    the synthesis builds tokenizers through Transformers 5's ``TokenizersBackend`` (tokenizer
    classes constructible without files, from a vocabulary) and image processors through their
    PIL backends; a 4.x release has neither (its fast tokenizers need files)."""
    import transformers

    if not hasattr(transformers, "TokenizersBackend"):
        return (
            f"Transformers {transformers.__version__} has no TokenizersBackend (tokenizers "
            "built without files, Transformers 5): hftestgen synthesizes preprocessing for 5.x "
            "releases only"
        )
    return None
