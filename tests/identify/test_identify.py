import arviz as az
import jax.numpy as jnp
import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.identify import (
    ODEModel,
    attach_identifiability,
    fisher_information,
    identifiability,
    observation_jacobian,
    profile_likelihood,
    sensitivity_weights,
    structural_identifiability,
)
from pbhno_bayes.identify.practical import IdentifiabilityTable


class Analytic(pb.ForwardModel):
    """X = exp(−k1 t), Y = 1 − exp(−k2 t), Z = 0·k3 (k3 unobservable)."""

    def predict(self, theta, times, control=None):
        t = jnp.asarray(times)
        X = jnp.exp(-theta[0] * t)
        Y = 1.0 - jnp.exp(-theta[1] * t)
        Z = 0.0 * theta[2] * t
        return jnp.stack([X, Y, Z], -1)[:, None, :]


PW = pb.pathways.mapk(free=["k1", "k2", "k3"])
TIMES = np.linspace(0.5, 6, 12)


def _obs(sig=(0.05, 0.05, 0.05)):
    vals = np.zeros((12, 1, 3))
    sigma = np.broadcast_to(np.asarray(sig), (12, 1, 3)).copy()
    return pb.Observations.from_arrays(TIMES, vals, species=["X", "Y", "Z"], cells=[0], sigma=sigma)


def test_fisher_analytic():
    fm = Analytic(PW)
    theta = PW.theta_vector({"k1": 0.7, "k2": 1.3})
    fr = fisher_information(fm, _obs(), theta)
    g1 = 0.7 * TIMES * np.exp(-0.7 * TIMES)        # ∂X/∂log k1
    g2 = 1.3 * TIMES * np.exp(-1.3 * TIMES)        # ∂Y/∂log k2
    F = np.array([[g1 @ g1, 0, 0], [0, g2 @ g2, 0], [0, 0, 0]]) / 0.05 ** 2
    np.testing.assert_allclose(fr.F, F, rtol=1e-10, atol=1e-8)
    assert np.isinf(fr.cr_sd[2]) and np.isinf(fr.condition)
    np.testing.assert_allclose(fr.cr_sd[:2], 0.05 / np.sqrt([g1 @ g1, g2 @ g2]), rtol=1e-8)
    assert "k3" in fr.sloppiest(1)[0][1]
    assert "| k1 |" in fr.table()


def test_fisher_matches_finite_differences(mapk_setup):
    pw, fm, obs, pred = mapk_setup
    theta = pw.theta_vector({"k1": 1.2, "k4": 0.8})
    fr = fisher_information(fm, obs, theta, sigma=0.05)
    z0 = np.log(theta)
    si = [pw.species.index(s) for s in obs.species]
    J = np.zeros((len(obs.times), len(si), 6))
    h = 1e-5
    for j in range(6):
        zp, zm = z0.copy(), z0.copy()
        zp[j] += h
        zm[j] -= h
        yp = np.asarray(pred(np.exp(zp)))[:, 0, si]
        ym = np.asarray(pred(np.exp(zm)))[:, 0, si]
        J[:, :, j] = (yp - ym) / (2 * h)
    np.testing.assert_allclose(fr.jacobian[:, 0], J, rtol=1e-5, atol=1e-8)
    # the model output comes back from the same (forward-mode) pass as the Jacobian
    _, y, _ = observation_jacobian(fm, obs, theta)
    np.testing.assert_allclose(y[:, 0], np.asarray(pred(theta))[:, 0, si], rtol=1e-10, atol=1e-12)
    Jf = J.reshape(-1, 6) / 0.05
    np.testing.assert_allclose(fr.F, Jf.T @ Jf, rtol=1e-5)
    # Y, Z only: upstream k1, k2 are worse determined than downstream k5, k6.
    cr = dict(zip(fr.names, fr.cr_sd, strict=True))
    assert min(cr["k1"], cr["k2"]) > max(cr["k5"], cr["k6"])


def test_sensitivity_weights_properties(mapk_setup):
    pw, fm, obs, _ = mapk_setup
    w = sensitivity_weights(fm, obs, None, sigma=0.05, clip=(0.2, 5.0))
    assert w.shape == obs.values.shape
    assert np.isclose(w[obs.mask].mean(), 1.0)
    assert w.min() >= 0.2 - 1e-9 and w.max() <= 5.0 + 1e-9
    np.testing.assert_array_equal(w, sensitivity_weights(fm, obs, None, sigma=0.05))
    with pytest.raises(ValueError, match="clip"):
        sensitivity_weights(fm, obs, None, sigma=0.05, clip=(2.0, 5.0))


def test_sensitivity_weights_favour_weak_direction():
    # X pins k1 (small noise); Y informs k2 only weakly (large noise): Y entries must weigh more.
    fm = Analytic(PW)
    obs = _obs((0.01, 0.5, 0.05)).select(species=["X", "Y"])
    w = sensitivity_weights(fm, obs, None, prior=PW.prior.subset(["k1", "k2"]))
    assert w[:, 0, 1].mean() > 2 * w[:, 0, 0].mean()
    # Within Y, the weight peaks where ∂Y/∂log k2 = k2 t e^{−k2 t} peaks (t = 1/k2 = 1).
    assert abs(TIMES[np.argmax(w[:, 0, 1])] - 1.0) < 0.6


def test_structural_textbook():
    summ = ODEModel(lambda x, p: jnp.stack([-(p[0] + p[1]) * x[0]]), lambda x, p: x[:1], ["x"], ["k1", "k2"])
    prod = ODEModel(lambda x, p: jnp.stack([-(p[0] * p[1]) * x[0]]), lambda x, p: x[:1], ["x"], ["k1", "k2"])
    rs, rp = structural_identifiability(summ), structural_identifiability(prod)
    for r in (rs, rp):
        assert r.rank == 2 and not any(r.identifiable.values()) and len(r.null_directions) == 1
    # Product: only log k1 + log k2 identifiable, so the null direction is (1, −1)/√2 on log θ.
    np.testing.assert_allclose(np.abs(rp.null_directions[0]), [2 ** -0.5] * 2, atol=1e-8)
    v = rs.null_directions[0]
    assert v[0] * v[1] < 0 and not np.allclose(np.abs(v), 2 ** -0.5, atol=1e-3)
    ok = ODEModel(lambda x, p: jnp.stack([-p[0] * x[0] + p[1]]), lambda x, p: x[:1], ["x"], ["k1", "k2"])
    assert all(structural_identifiability(ok).identifiable.values())


def test_structural_symbolic_textbook():
    prod = ODEModel(lambda x, p: [-(p[0] * p[1]) * x[0]], lambda x, p: [x[0]], ["x"], ["k1", "k2"])
    r = structural_identifiability(prod, method="symbolic")
    assert r.rank == 2 and not any(r.identifiable.values())
    ok = ODEModel(lambda x, p: [-p[0] * x[0] + p[1]], lambda x, p: [x[0]], ["x"], ["k1", "k2"])
    assert all(structural_identifiability(ok, method="auto").identifiable.values())


def test_structural_mapk_fully_observed():
    # Full rank already at order 2 proves identifiability (more derivatives cannot lower the rank).
    r = structural_identifiability(pb.pathways.mapk(), observe=["X", "Y", "Z"], order=2, n_points=2)
    assert r.rank == 9 and all(r.identifiable.values())
    with pytest.raises(ValueError, match="field-coupled"):
        structural_identifiability(pb.pathways.notch(cells=2, grid=16), observe=["N"])


def _fake_idata(sds, seed=0):
    rng = np.random.default_rng(seed)
    lt = rng.normal(0.0, sds, size=(4, 1000, len(sds)))
    idata = az.from_dict(posterior={"log_theta": lt, "theta": np.exp(lt)},
                         coords={"param": ["k1", "k2", "k3"]}, dims={"log_theta": ["param"], "theta": ["param"]})
    return idata


def test_practical_verdicts_and_storage(tmp_path):
    fm = Analytic(PW)
    # Prior sd 0.5: contraction 1 − (sd/0.5)²: 0.99, 0.64 (weak), 0.19 (not).
    idata = _fake_idata(np.array([0.05, 0.3, 0.45]))
    tab = identifiability(fm, _obs(), idata)
    assert tab.verdicts == {"k1": "identifiable", "k2": "weakly identifiable", "k3": "not identifiable"}
    r = {row["param"]: row for row in tab.rows}
    # MC error of a variance from 4000 draws is ~2.2%: contraction tolerance 0.03.
    assert abs(r["k2"]["contraction"] - 0.64) < 0.03
    assert abs(r["k1"]["hdi_ratio"] - 0.1) < 0.01
    assert r["k1"]["r_hat"] < 1.01 and r["k1"]["flag"] == ""
    assert "verdict" in tab.to_markdown()
    attach_identifiability(idata, tab)
    p = tmp_path / "post.nc"
    idata.to_netcdf(str(p))
    back = az.from_netcdf(str(p))
    t2 = IdentifiabilityTable.from_dataset(back.identifiability)
    assert t2.verdicts == tab.verdicts


def test_profile_likelihood_flat_and_peaked():
    fm = Analytic(PW)
    theta = PW.theta_vector({"k1": 1.0, "k2": 1.0})
    y = np.asarray(fm.predict(theta, TIMES))
    obs = pb.Observations.from_arrays(TIMES, y, species=["X", "Y", "Z"], cells=[0],
                                      sigma=np.full(y.shape, 0.05))
    p1 = profile_likelihood(fm, obs, "k1", n_grid=5, steps=150)
    p3 = profile_likelihood(fm, obs, "k3", n_grid=5, steps=50)
    assert not p1.flat and p3.flat
    assert np.argmin(p1.values) == 2 and p1.values[2] < 1e-3
