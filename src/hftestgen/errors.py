"""Errors that reach the user as one clear message and an exit code, never a traceback."""

from __future__ import annotations


class HftestgenError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(HftestgenError):
    """The user asked for something that cannot be done as asked (bad name, bad file, ...)."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration or overrides file is invalid: message names file, line/key and the fix."""
