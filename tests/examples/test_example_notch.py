"""examples/notch_inference.py runs as a script at small settings (``--quick``) and prints sane results
(its own file so pytest-xdist gives it a worker of its own when run with ``-m slow``)."""

import re

import pytest


# 2.2-2.4 min on a 2-core CPU (141 s inside the parallel default run): a minute of compilation for
# SVI and predictive rollouts through the horizon-48 Notch surrogate; the default run cannot carry it
# and stay under 10 minutes (measured 726 s with all five example runs in it, 2026-12-01)
@pytest.mark.slow
def test_notch_inference(tmp_path, run_example):
    out = run_example("notch_inference.py", "--quick", "--out", str(tmp_path))
    m = re.search(r"truth inside the 90% interval for (\d+)/(\d+)", out)
    assert m and int(m.group(2)) == 6
    assert int(m.group(1)) >= 3, out
    assert (tmp_path / "notch_bands.png").stat().st_size > 10_000
