"""More pipeline task specifications (``checks.pipelines.TaskSpec``), merged into
``checks.pipelines.TASKS``."""

from __future__ import annotations

TASKS: dict = {}
