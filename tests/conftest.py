"""Shared test helpers: the repo root, the Intel slice, and importing the dash-named scripts."""
import subprocess
import sys
from pathlib import Path

import pytest

import utils

ROOT = Path(__file__).resolve().parents[1]
INTEL_SLICE = ROOT / "tests" / "data" / "intel_slice.npz"


def load_script(filename):
    """Import a script of the repo root such as hw2-q2.py."""
    return utils.load_script(ROOT / filename)


def run_script(*args, cwd=ROOT, stdin=None):
    """Run a repo script in a fresh interpreter, as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def intel_slice():
    return INTEL_SLICE
