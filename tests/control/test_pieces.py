"""Fast checks of the control building blocks: targets, the projection onto 𝒰, risk measures and
posterior ensembles (no ODE solves)."""

import arviz as az
import jax.numpy as jnp
import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.control import (
    Ensemble,
    make_constraints,
    make_risk,
    parse_target,
    posterior_ensemble,
    project,
    risk_value,
)
from pbhno_bayes.control.cli import parse_target_arg


@pytest.fixture(scope="module")
def notch():
    return pb.pathways.notch(cells=2, grid=16)


@pytest.fixture(scope="module")
def mapk():
    return pb.pathways.mapk()


# ------------------------------------------------------------------------------------------ targets
def test_target_forms(notch):
    terms = parse_target(notch, {"H": (1.5, 2.5)})
    assert [(t.species, t.cell, t.lo, t.hi, t.kind) for t in terms] == [
        ("H", 0, 1.5, 2.5, "window"), ("H", 1, 1.5, 2.5, "window")]
    (t,) = parse_target(notch, {"N": {"value": 2.0, "cell": 1}})
    assert (t.cell, t.lo, t.hi, t.ok_lo, t.ok_hi) == (1, 2.0, 2.0, pytest.approx(1.8), pytest.approx(2.2))
    (t,) = parse_target(notch, {"H@0": {"value": 3.0, "tol": 0.5, "weight": 2.0}})
    assert (t.cell, t.ok_lo, t.ok_hi, t.weight) == (0, 2.5, 3.5, 2.0)
    assert parse_target_arg(["H=1.5:2.5,cell=0", "N=2,tol=0.1"]) == {
        "H@0": {"window": (1.5, 2.5)}, "N": {"value": 2.0, "tol": 0.1}}


@pytest.mark.parametrize("target, msg", [
    ({"Q": 1.0}, "unknown species 'Q'"),
    ({"H": {"value": 1.0, "cell": 5}}, "unknown cell 5"),
    ({"H@7": 1.0}, "unknown cell 7"),
    ({"H": (2.0, 1.0)}, "inverted"),
    ({"H": 0.0}, "explicit tol"),
    ({"H": {"value": 1.0, "window": (0, 2)}}, "exactly one"),
    ({}, "non-empty"),
    ({"H": float("nan")}, "finite"),
])
def test_bad_targets(notch, target, msg):
    with pytest.raises(ValueError, match=msg):
        parse_target(notch, target)


# -------------------------------------------------------------------------------------- constraints
def test_bad_bounds_and_budget(notch):
    with pytest.raises(ValueError, match="inverted"):
        make_constraints(notch, 5, 1.0, bounds={"ligand": (1.0, 0.5)})
    with pytest.raises(ValueError, match="admissible range"):
        make_constraints(notch, 5, 1.0, bounds={"inhibitor": (0.0, 1.5)})
    with pytest.raises(ValueError, match="unknown control channel"):
        make_constraints(notch, 5, 1.0, bounds={"drug": (0.0, 1.0)})
    with pytest.raises(ValueError, match="infeasible"):
        # lower bound 0.5 held for 5 intervals of 2 time units is a dose of 5 > 4
        make_constraints(notch, 5, 2.0, bounds={"ligand": (0.5, 2.0)}, budget={"ligand": 4.0})
    c = make_constraints(notch, 5, 2.0, bounds={"ligand": (0.5, 2.0)}, budget={"ligand": 5.0})
    assert c.zbudget[0] == pytest.approx(0.0) and np.isinf(c.zbudget[1])


def test_projection_is_exact():
    """Π(z) is feasible and satisfies the variational inequality ⟨z − Π(z), q − Π(z)⟩ ≤ 0 for every
    feasible q (the characterisation of the Euclidean projection onto a convex set)."""
    rng = np.random.default_rng(1)
    for b in (0.7, 2.5, np.inf):
        zb = jnp.asarray([b, 1.3])
        z = jnp.asarray(rng.normal(0.5, 0.8, (6, 2)))
        p = np.asarray(project(z, zb))
        assert np.all(p >= -1e-12) and np.all(p <= 1 + 1e-12)
        assert np.all(p.sum(0) <= np.asarray(zb) + 1e-9)
        for _ in range(200):
            q = rng.uniform(0, 1, (6, 2))
            q = q * np.minimum(1.0, np.asarray(zb) / q.sum(0))  # scale into the budget
            assert np.sum((np.asarray(z) - p) * (q - p)) <= 1e-9
    # a point already feasible is left alone
    z = jnp.full((4, 1), 0.2)
    np.testing.assert_allclose(project(z, jnp.asarray([1.0])), z, atol=1e-14)


# --------------------------------------------------------------------------------------------- risk
def test_risk_measures_match_definitions():
    rng = np.random.default_rng(2)
    J = rng.gamma(2.0, 1.0, 37)
    w = rng.uniform(0.1, 1.0, 37)
    w /= w.sum()
    Jj, wj = jnp.asarray(J), jnp.asarray(w)
    m = np.sum(w * J)
    assert float(risk_value(make_risk("mean"), Jj, wj)) == pytest.approx(m, rel=1e-12)
    sd = np.sqrt(np.sum(w * (J - m) ** 2))
    assert float(risk_value(make_risk("mean_std", kappa=2.0), Jj, wj)) == pytest.approx(m + 2 * sd, rel=1e-10)
    # CVaR via the Rockafellar–Uryasev minimisation; the minimiser is one of the J values
    alpha = 0.8
    ru = min(c + np.sum(w * np.maximum(J - c, 0.0)) / (1 - alpha) for c in J)
    assert float(risk_value(make_risk("cvar", alpha=alpha), Jj, wj)) == pytest.approx(ru, rel=1e-10)
    assert float(risk_value(make_risk("cvar", alpha=0.0), Jj, wj)) == pytest.approx(m, rel=1e-10)
    for bad in (dict(risk="var"), dict(risk="cvar", alpha=1.0), dict(risk="mean_std", kappa=-1)):
        with pytest.raises(ValueError):
            make_risk(**bad)


# ----------------------------------------------------------------------------------------- ensemble
def test_posterior_ensemble(notch):
    rng = np.random.default_rng(3)
    draws = rng.normal(np.log([notch.nominal[n] for n in notch.free]), 0.1, (2, 30, len(notch.free)))
    idata = az.from_dict(posterior={"log_theta": draws}, coords={"param": list(notch.free)},
                         dims={"log_theta": ["param"]})
    ens = posterior_ensemble(notch, idata, draws=10, seed=4)
    assert ens.theta.shape == (10, len(notch.param_names))
    fixed = [i for i, n in enumerate(notch.param_names) if n not in notch.free]
    np.testing.assert_array_equal(ens.theta[:, fixed], np.tile(np.asarray(notch.nominal_values)[fixed], (10, 1)))
    flat = draws.reshape(-1, len(notch.free))
    for row in ens.log_theta_free:  # every draw is one of the posterior draws
        assert np.min(np.abs(flat - row).sum(1)) < 1e-12
    np.testing.assert_array_equal(posterior_ensemble(notch, idata, draws=10, seed=4).theta, ens.theta)
    assert ens.ess == pytest.approx(10.0)
    idata.posterior.attrs["pathway"] = "mapk"
    with pytest.raises(ValueError, match="fitted for pathway 'mapk'"):
        posterior_ensemble(notch, idata)
    with pytest.raises(ValueError, match="InferenceData"):
        posterior_ensemble(notch, {"log_theta": 1})


def test_reweighting_is_bayes_rule(mapk):
    """Reweighting by a likelihood equals the normalised prior-weight × likelihood product, and the
    Kish ESS is 1/Σw²."""
    th = np.exp(np.random.default_rng(5).normal(0, 0.3, (20, 6)))
    ens = posterior_ensemble(mapk, th, draws=None)
    ll = -0.5 * ((th[:, 0] - 1.0) / 0.2) ** 2
    new = ens.reweighted(ll)
    w = np.exp(ll - ll.max())
    np.testing.assert_allclose(new.weights, w / w.sum(), rtol=1e-12)
    assert new.ess == pytest.approx(1.0 / np.sum(new.weights**2))
    two = new.reweighted(ll)  # sequential updates multiply
    w2 = np.exp(2 * (ll - ll.max()))
    np.testing.assert_allclose(two.weights, w2 / w2.sum(), rtol=1e-10)
    assert isinstance(new, Ensemble)
    with pytest.raises(ValueError, match="zero likelihood"):
        ens.reweighted(np.full(20, -np.inf))
