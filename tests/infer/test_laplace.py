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
    """One Adam step from the prior mean (then the quasi-Newton finish); wherever the optimisation
    ends, the Laplace posterior must not be wider than the prior (in log θ)."""
    pw = pb.pathways.mapk()
    obs = pb.simulate(pw, times=8, observe=("Z",), noise=0.1, seed=3)
    idata = pb.fit(pb.MechanisticModel(pw), obs, method="svi", svi_steps=1, svi_restarts=1,
                   samples=400, chains=1, seed=0, progress=False, warn=False)
    lt = idata.posterior["log_theta"].values.reshape(-1, len(pw.prior.names))
    sd_post = lt.std(axis=0)
    assert np.all(sd_post < 1.15 * np.asarray(pw.prior.sd)), (sd_post, pw.prior.sd)


def _quartic_problem():
    """U(z) = ½ (z − a)ᵀ H (z − a) + ¼ Σ (z − a)⁴ (mode a, ∇²U(a) = H), curvature 10⁴ : 1 : 0.1."""
    import jax
    import jax.numpy as jnp

    a = np.array([1.0, -2.0, 0.5])
    H = np.diag([1e4, 1.0, 0.1])

    def U(z):
        d = z - jnp.asarray(a)
        return 0.5 * d @ jnp.asarray(H) @ d + 0.25 * jnp.sum(d**4)

    vg = jax.jit(jax.vmap(jax.value_and_grad(U)))
    hess = jax.jit(jax.hessian(U))

    def batched_vg(z):
        u, g = vg(jnp.asarray(z))
        return np.asarray(u), np.asarray(g)

    return a, H, U, batched_vg, lambda m: np.asarray(hess(jnp.asarray(m)))


def test_laplace_reaches_the_mode_where_adam_alone_stops_short():
    """From a far start (|∇U| ~ 10⁴) 100 Adam steps leave the flat directions far from the mode
    (the Notch case in reports/paper.md: U 70 after Adam, −102 at the mode); the quasi-Newton
    polish ends at the mode, and the covariance is the inverse Hessian there."""
    import jax

    from pbhno_bayes.infer.svi import fit_gaussian, newton_polish

    a, H, U, batched_vg, hessian = _quartic_problem()
    z0 = np.array([[4.0, 3.0, -2.5]])
    q = fit_gaussian(U, z0, key=jax.random.PRNGKey(0), steps=100, lr=0.05, guide="laplace",
                     batched_vg=batched_vg, hessian=hessian, progress=False)
    # at the mode to a small fraction of the posterior sd, U within 10⁻⁶ of its minimum (the
    # polish stops on the Newton decrement, 10⁻⁶)
    sd = np.sqrt(np.diag(np.linalg.inv(H)))
    assert np.all(np.abs(q.loc - a) / sd < 1e-3), (q.loc - a) / sd
    assert 0.0 <= q.loss < 1e-6
    np.testing.assert_allclose(q.cov, np.linalg.inv(H), rtol=1e-3)
    # Adam's own end point (what the fit returned before the polish) is far off in the flat directions
    adam_end = float(q.trace[-1][0])
    assert adam_end > 1.0, adam_end
    # the same through the generic path (fit_gaussian builds its own gradient and Hessian)
    q2 = fit_gaussian(lambda z, d: U(z), z0, key=jax.random.PRNGKey(0), steps=100, lr=0.05, guide="laplace",
                      data=(), progress=False)
    assert np.all(np.abs(q2.loc - a) / sd < 1e-3), (q2.loc - a) / sd
    assert 0.0 <= q2.loss < 1e-6
    np.testing.assert_allclose(q2.cov, np.linalg.inv(H), rtol=1e-3)
    # at a mode already reached the polish takes no step and returns the Hessian there
    z, u, Hm, n = newton_polish(batched_vg, hessian, a, 0.0)
    assert n == 0 and u == 0.0
    np.testing.assert_allclose(Hm, H)
