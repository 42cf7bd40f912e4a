"""posteriordb Lotka–Volterra through the user-model path (examples/custom_model.py)."""

import importlib.util
import json
from pathlib import Path

import pytest

EX = Path(__file__).parents[2] / "examples" / "custom_model.py"


def _example():
    spec = importlib.util.spec_from_file_location("custom_model", EX)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_runs_small(capsys):
    # The script at its smallest settings (Laplace approximation, 2 x 100 draws), checked loosely
    # against the reference from the table it prints: the mode-centred Gaussian lands within 1
    # reference sd and its sds within a factor 2, for the 6 ODE parameters. One fit: the numbers are
    # read back from the printed table (4 significant digits are plenty for these bounds).
    ex = _example()
    assert ex.main(["--quick", "--method", "svi", "--quiet"]) == 0
    out = capsys.readouterr().out
    ref = json.loads((ex.DATA / "reference_summary.json").read_text())
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 7 and f[0] in ref["params"]:
            rows[f[0]] = [float(v) for v in f[1:]]
    assert sorted(rows) == sorted(ref["params"]), out
    for name, (m, rm, z, sd, rs, r) in rows.items():
        assert abs(rm - ref["mean"][name]) <= 1e-3 * abs(ref["mean"][name]) + 1e-12, (name, rm)
        assert abs(z - abs(m - rm) / rs) < 0.03 + 1e-2 * z, (name, z)  # the printed column is what it says
        assert abs(r - sd / rs) < 0.01 + 1e-2 * r, (name, r)
    assert "theta[1]" in out and "sigma[2]" in out
    # The 6 ODE parameters only: the Laplace approximation of σ_lynx is known to be off
    # (mode-based; see reports/performance.md); the NUTS comparison (slow test) covers all 8.
    msg = "; ".join(f"{n}: |d|/sd={v[2]:.2f} sd ratio={v[5]:.2f}" for n, v in rows.items())
    assert all(v[2] < 1.0 and 0.5 < v[5] < 2.0 for n, v in rows.items() if not n.startswith("sigma")), msg


@pytest.mark.slow
def test_matches_posteriordb_reference():
    ex = _example()
    idata, _ = ex.run(chains=4, warmup=500, samples=1000, seed=0, progress=False)
    ref = json.loads((ex.DATA / "reference_summary.json").read_text())
    rows, ok = ex.compare(ex.summarise(idata), ref)
    assert ok, rows
