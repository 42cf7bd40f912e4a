"""Laplace covariance: never wider than the prior, exact when ∇²U is already positive definite."""

import numpy as np

import pbhno_bayes as pb
from pbhno_bayes.infer.svi import laplace_covariance


def _loewner_le(a, b, tol=1e-10):
    """a ≤ b in the positive semi-definite order."""
    return np.linalg.eigvalsh(b - a).min() >= -tol * max(1.0, np.abs(b).max())


def test_pd_hessian_is_inverted_exactly():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    hp = np.diag([4.0, 4.0, 1.0, 2.0])
    hl = A @ A.T  # PSD likelihood curvature
    cov = laplace_covariance(hp + hl, hp)
    np.testing.assert_allclose(cov, np.linalg.inv(hp + hl), rtol=1e-10, atol=1e-12)


def test_indefinite_hessian_is_bounded_by_the_prior():
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    hp = np.diag([4.0, 4.0, 4.0, 1.0, 1.0])
    hl = Q @ np.diag([30.0, 5.0, 0.0, -3.9, -0.999]) @ Q.T  # negative curvature: not at a mode
    h = hp + hl
    cov = laplace_covariance(h, hp)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    assert _loewner_le(cov, np.linalg.inv(hp))
    # without the prior part, clipping H alone gives variances orders of magnitude beyond the prior
    naive = laplace_covariance(h)
    assert np.max(np.diag(naive)) > 100 * np.max(np.diag(np.linalg.inv(hp)))
    # the positive likelihood directions are kept: tighter than the prior along them
    v = Q[:, 0]
    assert v @ cov @ v < 0.5 * (v @ np.linalg.inv(hp) @ v)


def test_nonfinite_hessian_falls_back_to_the_prior():
    hp = np.diag([4.0, 2.0])
    cov = laplace_covariance(np.array([[np.nan, 0.0], [0.0, 1.0]]), hp)
    np.testing.assert_allclose(cov, np.linalg.inv(hp))


def test_short_svi_fit_stays_inside_the_prior():
    """One SVI step from the prior mean is far from the mode; the Laplace posterior must still not
    be wider than the prior (in log θ)."""
    pw = pb.pathways.mapk()
    obs = pb.simulate(pw, times=8, observe=("Z",), noise=0.1, seed=3)
    idata = pb.fit(pb.MechanisticModel(pw), obs, method="svi", svi_steps=1, svi_restarts=1,
                   samples=400, chains=1, seed=0, progress=False, warn=False)
    lt = idata.posterior["log_theta"].values.reshape(-1, len(pw.prior.names))
    sd_post = lt.std(axis=0)
    assert np.all(sd_post < 1.15 * np.asarray(pw.prior.sd)), (sd_post, pw.prior.sd)
