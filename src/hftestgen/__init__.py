"""hftestgen: generated, offline tests for every HuggingFace Transformers architecture."""

__version__ = "0.1.0"
