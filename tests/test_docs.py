"""The README's table of checks is the check table (``hftestgen.checks.table``), row by row."""

import re
from pathlib import Path

from hftestgen.checks.table import CHECKS_TABLE

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_check_table_matches_the_check_table():
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \|$", README.read_text(encoding="utf-8"), re.M)
    assert rows == [(c.name, c.asserts) for c in CHECKS_TABLE]
