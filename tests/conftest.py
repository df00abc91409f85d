import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / "plugins"))


@pytest.fixture(scope="session")
def registry():
    from hftestgen.registry import load_registry

    return load_registry()


@pytest.fixture
def cli_env(tmp_path):
    """Environment for running the CLI in a subprocess, isolated from the repo's pyproject."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE / "plugins"), env.get("PYTHONPATH", "")])
    return env
