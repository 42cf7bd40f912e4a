"""One MAPK set-up shared by the identify tests (test_identify.py and test_cli.py), so the
forward-mode Jacobian through the ODE solver is compiled once per session rather than per test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pbhno_bayes as pb


@pytest.fixture(scope="session")
def mapk_setup():
    """(pathway, forward model, observations of Y, Z at 12 times with σ = 0.05, jitted predict)."""
    pw = pb.pathways.mapk()
    fm = pb.MechanisticModel(pw, rtol=1e-10, atol=1e-12)
    times = np.linspace(10 / 12, 10.0, 12)
    pred = jax.jit(lambda th: fm.predict(th, jnp.asarray(times)))
    si = [pw.species.index(s) for s in ("Y", "Z")]
    y = np.asarray(pred(jnp.asarray(pw.nominal_values)))[:, :, si]
    y = y + 0.05 * np.random.default_rng(1).standard_normal(y.shape)
    obs = pb.Observations.from_arrays(times, y, species=["Y", "Z"], cells=[0], sigma=np.full(y.shape, 0.05))
    return pw, fm, obs, pred
