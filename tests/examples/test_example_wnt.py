"""examples/wnt_field_reconstruction.py runs as a script at small settings (``--quick``) and prints sane results
(its own file so pytest-xdist gives it a worker of its own; 68 s alone on a 2-core CPU)."""

import re


def test_wnt_field_reconstruction(tmp_path, run_example):
    out = run_example("wnt_field_reconstruction.py", "--quick", "--out", str(tmp_path))
    m = re.search(r"relative L2 error ([\d.]+); 90% band covers the truth at (\d+)%", out)
    assert m, out
    assert float(m.group(1)) < 0.25, out       # field reconstructed from beta-catenin alone
    assert (tmp_path / "wnt_field.png").stat().st_size > 10_000
