"""Rendering the generated suite (``files``: templates, ``CASE`` literal, banner and hash) and
keeping it in sync with the generator (``sync``: generate / check, the four drift kinds)."""

from .files import (
    BANNER_FIRST,
    CONFTEST,
    HASH_PREFIX,
    Parsed,
    case_fields,
    expected_files,
    parse_generated,
    py_literal,
    regenerate_command,
    render_conftest,
    render_spec,
    template_for,
    test_filename,
)

__all__ = [
    "BANNER_FIRST",
    "CONFTEST",
    "HASH_PREFIX",
    "Parsed",
    "case_fields",
    "expected_files",
    "parse_generated",
    "py_literal",
    "regenerate_command",
    "render_conftest",
    "render_spec",
    "template_for",
    "test_filename",
]
