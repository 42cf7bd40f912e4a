"""examples/notch_inference.py runs as a script at small settings (``--quick``) and prints sane results
(its own file so pytest-xdist gives it a worker of its own: ~1.6 min alone on a 2-core CPU)."""

import re


def test_notch_inference(tmp_path, run_example):
    out = run_example("notch_inference.py", "--quick", "--out", str(tmp_path))
    m = re.search(r"truth inside the 90% interval for (\d+)/(\d+)", out)
    assert m and int(m.group(2)) == 6
    assert int(m.group(1)) >= 3, out
    assert (tmp_path / "notch_bands.png").stat().st_size > 10_000
