"""Which generated file tests which model type: ``CASE`` read with ``ast``, nothing imported."""

from __future__ import annotations

import ast
import re
from pathlib import Path


def case_model_type(path: Path) -> str | None:
    """``CASE.model_type`` of a generated file, read with ``ast`` (nothing is imported)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    try:
        tree = ast.parse(text, str(path))
    except (SyntaxError, ValueError):  # a broken file still names its type
        m = re.search(r"CASE\s*=\s*Case\(\s*model_type=([\"'])(.*?)\1", text)
        return m.group(2) if m else None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "CASE" for t in node.targets)
            and isinstance(node.value, ast.Call)
        ):
            for kw in node.value.keywords:
                if kw.arg == "model_type" and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value)
    return None


def generated_files(out_dir: Path) -> dict[str, Path]:
    """model_type -> generated test file, for every ``test_hf_*.py`` in ``out_dir``."""
    out = {}
    for p in sorted(Path(out_dir).glob("test_hf_*.py")):
        mt = case_model_type(p)
        if mt is not None:
            out[mt] = p
    return out
