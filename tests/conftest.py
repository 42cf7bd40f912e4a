"""Shared test set-up: float64 on (importing pbhno_bayes does it), fixed seeds, headless plots."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pbhno_bayes  # noqa: E402,F401  (enables float64 before any test builds arrays)


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    yield
