"""Shared test helpers: the repo root, the Intel slice, and importing the dash-named scripts."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INTEL_SLICE = ROOT / "tests" / "data" / "intel_slice.npz"


def load_script(filename):
    """Import a script such as hw2-q2.py, whose name is not a valid module name."""
    spec = importlib.util.spec_from_file_location(filename.replace("-", "_").removesuffix(".py"), ROOT / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args, cwd=ROOT, stdin=None):
    """Run a repo script in a fresh interpreter, as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def intel_slice():
    return INTEL_SLICE
