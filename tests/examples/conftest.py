"""Shared by the example tests: run an example script as a user would (a subprocess)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _run_example(name, *args, timeout=600):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True,
                       text=True, timeout=timeout, cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"})
    assert r.returncode == 0, f"{name} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture
def run_example():
    """``run_example(name, *args)`` -> the script's stdout (asserts exit status 0)."""
    return _run_example
