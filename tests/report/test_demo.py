"""`pbhno demo`: the README's main job writes the full report (tiny settings by default; the
built-in defaults, with their 10-minute budget, as a slow test)."""

import re
import time

import arviz as az
import numpy as np
import pytest

from pbhno_bayes.cli import main

FILES = ("README.md", "data.csv", "data_and_bands.png", "prior_posterior.png", "control_plan.png",
         "posterior.nc", "plan_robust.json", "plan_nominal.json")


def _check(out):
    for f in FILES:
        assert (out / f).exists() and (out / f).stat().st_size > 0, f
    text = (out / "README.md").read_text()
    for name in ("k_on", "alpha_D", "alpha_N", "delta_N", "alpha_H", "D_L"):
        assert f"| {name} |" in text
    assert "## Identifiability" in text and "## Robust control" in text
    assert text.count("identifiable") >= 6
    # the report says how to regenerate it, when and where it ran
    assert "Regenerate: `pbhno demo --seed" in text
    assert re.search(r"Run on \d{4}-\d{2}-\d{2}, \S+ \S+, \d+ CPU cores, JAX [\d.]+ on \w+", text), text[:400]
    idata = az.from_netcdf(out / "posterior.nc")
    for g in ("posterior", "observed_data", "sample_stats"):
        assert g in idata.groups()
    assert np.all(np.isfinite(idata.posterior["log_theta"].values))
    return text


@pytest.mark.slow  # compiles fit, identify and control through the Notch surrogate: minutes
def test_demo_tiny(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path), "--chains", "1", "--warmup", "10", "--samples", "10",
               "--svi-steps", "10", "--draws", "4", "--iters", "3"])
    assert rc == 0
    printed = capsys.readouterr().out
    for k in range(1, 5):
        assert f"[{k}/4]" in printed          # progress for each stage
    _check(tmp_path)


def test_demo_bad_settings(capsys):
    assert main(["demo", "--chains", "0", "--out", "/tmp/never"]) == 2
    assert "chains" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_defaults_under_ten_minutes(tmp_path):
    t0 = time.perf_counter()
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    assert time.perf_counter() - t0 < 600
    text = _check(tmp_path)
    n_in = int(text.split("Truth inside the 90 % interval for ")[1].split("/")[0])
    assert n_in >= 4, text
