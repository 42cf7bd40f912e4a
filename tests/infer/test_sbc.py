"""Small SBC run on MAPK (the full study is benchmarks/sbc_mapk.py)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "sbc_mapk.py"


@pytest.mark.slow
def test_sbc_small(tmp_path):
    spec = importlib.util.spec_from_file_location("sbc_mapk", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.run(replicates=8, chains=1, warmup=200, samples=200, thin=2, log=lambda s: None)
    ranks = res["ranks"]
    assert ranks.shape == (8, 6) and ranks.min() >= 0 and ranks.max() <= res["n_draws"]
    # With 8 replicates the 90% interval must cover the truth in most of them for every parameter
    # (P(≤ 4 of 8 | p = 0.9) < 0.5%).
    assert np.all(res["cover90"] >= 5 / 8), res["cover90"]
    mod.write_outputs(res, tmp_path / "cal.md", tmp_path / "ranks.png", "test")
    assert (tmp_path / "ranks.png").stat().st_size > 0 and "50% coverage" in (tmp_path / "cal.md").read_text()
