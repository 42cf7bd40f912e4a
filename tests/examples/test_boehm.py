"""The Boehm JAK2/STAT5 real-data example (examples/boehm_jak2_stat5.py)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "boehm_jak2_stat5.py"


def _load():
    spec = importlib.util.spec_from_file_location("boehm_jak2_stat5", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def boehm():
    return _load()


def test_data_ships_with_the_example(boehm):
    names = {p.name for p in boehm.DATA.iterdir()}
    for f in ("measurementData_Boehm_JProteomeRes2014.tsv", "parameters_Boehm_JProteomeRes2014.tsv",
              "observables_Boehm_JProteomeRes2014.tsv", "model_Boehm_JProteomeRes2014.xml", "README.md"):
        assert f in names
    assert "BSD-3" in (boehm.DATA / "README.md").read_text()
    assert "../shared" not in SCRIPT.read_text() and "/work/shared" not in SCRIPT.read_text()


def test_nll_at_petab_nominal(boehm):
    import jax

    params, obs = boehm.load_problem()
    assert obs.values.shape == (16, 1, 3) and np.isfinite(obs.values).all()
    q = np.log10([float(params[n]["nominalValue"]) for n in boehm.ESTIMATED])
    for rtol, atol in ((1e-6, 1e-8), (1e-8, 1e-10)):
        nll = boehm.make_nll(boehm.make_model(params, rtol=rtol, atol=atol), obs, params)
        assert abs(float(jax.jit(nll)(q)) - 138.222) < 0.01
    # a worse point is worse
    assert float(jax.jit(nll)(q + 0.3)) > 140.0


def test_quick_run_writes_report(tmp_path):
    out = tmp_path / "boehm.md"
    r = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    text = out.read_text()
    assert "NLL at the PEtab nominal parameters: **138.2220**" in text
    best = float(text.split("Best NLL reached: **")[1].split("**")[0])
    assert best <= 138.23
    assert "pb.identifiability" in text and "identifiable" in text
    assert (tmp_path / "figures" / "boehm_fit.png").exists()
    assert not list(tmp_path.glob(".boehm.md.*"))  # atomic write left no temporary file


@pytest.mark.slow
def test_full_run_reaches_best_known_nll(tmp_path):
    out = tmp_path / "boehm.md"
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=3 * 3600)
    assert r.returncode == 0, r.stdout + r.stderr
    text = out.read_text()
    best = float(text.split("Best NLL reached: **")[1].split("**")[0])
    assert abs(best - 138.22) <= 0.01
    assert "| k_phos |" in text


def test_quick_run_never_replaces_the_committed_report(boehm):
    assert boehm.default_out(False) == ROOT / "reports" / "boehm.md"
    quick = boehm.default_out(True)
    assert quick.parent != ROOT / "reports" and quick.is_relative_to(ROOT / "reports" / "examples")
