"""Checks that generated tests call. Placeholder: being filled in (issue 4)."""

from .case import Case

ACCELERATORS = ("cuda", "mps")

__all__ = ["Case", "ACCELERATORS"]
