"""Every example runs as a script at small settings (``--quick``) and prints sane results."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def run_example(name, *args, timeout=600):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True,
                       text=True, timeout=timeout, cwd=ROOT, env={**__import__("os").environ, "MPLBACKEND": "Agg"})
    assert r.returncode == 0, f"{name} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def test_quickstart():
    out = run_example("quickstart.py", "--quick")
    # arviz summary of all six rates, then the identifiability table with a verdict per rate
    for k in range(1, 7):
        assert re.search(rf"theta\[k{k}\]\s+\d", out)
    assert out.count("identifiable") >= 6


@pytest.mark.slow  # minutes on a 2-core CPU (surrogate rollouts / MPC compile)
def test_notch_inference(tmp_path):
    out = run_example("notch_inference.py", "--quick", "--out", str(tmp_path))
    m = re.search(r"truth inside the 90% interval for (\d+)/(\d+)", out)
    assert m and int(m.group(2)) == 6
    assert int(m.group(1)) >= 3, out
    assert (tmp_path / "notch_bands.png").stat().st_size > 10_000


@pytest.mark.slow  # minutes on a 2-core CPU (surrogate rollouts / MPC compile)
def test_wnt_field_reconstruction(tmp_path):
    out = run_example("wnt_field_reconstruction.py", "--quick", "--out", str(tmp_path))
    m = re.search(r"relative L2 error ([\d.]+); 90% band covers the truth at (\d+)%", out)
    assert m, out
    assert float(m.group(1)) < 0.25, out       # field reconstructed from beta-catenin alone
    assert (tmp_path / "wnt_field.png").stat().st_size > 10_000


@pytest.mark.slow  # minutes on a 2-core CPU (surrogate rollouts / MPC compile)
def test_mapk_control(tmp_path):
    out = run_example("mapk_control.py", "--quick", "--out", str(tmp_path))
    assert re.search(r"robust: P\(success\) predicted [\d.]+", out), out
    assert re.search(r"nominal: P\(success\) predicted [\d.]+", out), out
    assert (tmp_path / "plan_robust.json").exists() and (tmp_path / "mapk_plan.png").exists()
