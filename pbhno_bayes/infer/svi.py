r"""Variational stage: a Gaussian approximation q(z) = N(m, C) of the posterior in NumPyro's
unconstrained space z (log θ, log σ, …), used to start NUTS and as the "svi" fitting method.

Two autoguides, both optimised with Adam (exponentially decaying step size) from several
starting points (restarts run vectorised; the best final objective wins):

* ``"laplace"`` (AutoLaplaceApproximation): minimise the potential U(z) = −log p(z, y) to the
  MAP ẑ — Adam, then quasi-Newton steps on the best restart (:func:`newton_polish`; Adam alone
  can stop far short of the mode) —, then C = H⁻¹ with H = ∇²U(ẑ) (eigenvalues clipped to stay
  positive definite).
* ``"mvn"`` (AutoMultivariateNormal): maximise the ELBO
  E_q[−U(m + Lε)] + Σ log L_ii with K reparameterised particles per step; C = L Lᵀ.

Gradients use forward mode (``jax.jacfwd``) when the forward model is differentiated with
forward-mode sensitivities, reverse mode otherwise. A non-finite objective (failed solve) skips
that update (``optax.apply_if_finite``).
"""

from __future__ import annotations

import sys
import time
from typing import NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["GaussianApprox", "fit_gaussian", "newton_polish"]


class GaussianApprox(NamedTuple):
    """q(z) = N(loc, cov) over the flat unconstrained vector z (D,)."""

    loc: np.ndarray  # (D,)
    cov: np.ndarray  # (D, D)
    loss: float  # final objective of the best restart (U(ẑ) or −ELBO)
    losses: np.ndarray  # (R,) final objective of every restart
    trace: np.ndarray  # (n_chunks, R) objective along the optimisation
    guide: str

    def sample(self, key, n: int) -> jnp.ndarray:
        chol = np.linalg.cholesky(self.cov)
        eps = jax.random.normal(key, (n, self.loc.shape[0]), dtype=jnp.float64)
        return jnp.asarray(self.loc) + eps @ jnp.asarray(chol).T


def _pd_inverse(h: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """Inverse of a symmetric matrix with eigenvalues clipped below at floor·max|λ| (PD)."""
    h = 0.5 * (h + h.T)
    lam, vec = np.linalg.eigh(h)
    big = max(float(np.max(np.abs(lam))), 1e-12)
    lam = np.maximum(lam, floor * big)
    return (vec / lam) @ vec.T


def laplace_covariance(hess, prior_hess=None) -> np.ndarray:
    """Laplace covariance from ∇²U at the mode, never wider than the prior allows.

    Away from an exact mode (a short optimisation, a ridge) ∇²U can have negative or tiny
    eigenvalues, and inverting it blindly puts draws hundreds of prior sd away — where a forward
    model is meaningless and stiff. With the prior part ``prior_hess`` = −∇² log p(z) known, the
    likelihood part H − H_prior is projected onto the positive semi-definite cone (the
    Gauss–Newton view: the data can only add information) and the prior added back, so the
    covariance is at most the prior's curvature-implied one. Without it (or if the prior part is
    not finite) eigenvalues are clipped as in :func:`_pd_inverse`.
    """
    hess = np.asarray(hess, dtype=np.float64)
    D = hess.shape[0]
    ph = None if prior_hess is None else np.asarray(prior_hess, dtype=np.float64)
    ph_ok = ph is not None and np.all(np.isfinite(ph))
    if not np.all(np.isfinite(hess)):
        return _pd_inverse(ph) if ph_ok else np.eye(D) * 1e-2
    if not ph_ok:
        return _pd_inverse(hess)
    ph = 0.5 * (ph + ph.T)
    lik = 0.5 * ((hess - ph) + (hess - ph).T)
    lam, vec = np.linalg.eigh(lik)
    return _pd_inverse(ph + (vec * np.maximum(lam, 0.0)) @ vec.T)


def _progress(msg: str, enabled: bool):
    if enabled:
        print(msg, file=sys.stderr, flush=True)


def _make_runner(potential, *, D, guide, particles, lr, total, forward_mode):
    """jit(vmap(chunk)): ``per_chunk`` optimiser steps for every restart; data is an argument."""
    tril = np.tril_indices(D, -1)
    sched = optax.exponential_decay(lr, transition_steps=total, decay_rate=0.05)
    opt = optax.apply_if_finite(optax.adam(sched), max_consecutive_errors=10**9)

    def unpack(params):
        L = jnp.zeros((D, D)).at[tril].set(params["off"]) + jnp.diag(jnp.exp(params["logd"]))
        return params["m"], L

    if guide == "laplace":
        def objective(params, k, data):
            return potential(params["m"], data)
    else:
        def objective(params, k, data):
            m, L = unpack(params)
            eps = jax.random.normal(k, (particles, D), dtype=m.dtype)
            u = jax.vmap(lambda z: potential(z, data))(m + eps @ L.T)
            # A failed solve makes U = inf: the ELBO estimate is then inf and the step is skipped.
            return jnp.mean(u) - jnp.sum(params["logd"])

    if forward_mode:
        def value_and_grad(params, k, data):
            flat, unravel = jax.flatten_util.ravel_pytree(params)
            f = lambda x: objective(unravel(x), k, data)
            g = jax.jacfwd(f)(flat)
            return f(flat), unravel(g)
    else:
        value_and_grad = jax.value_and_grad(objective)

    def run_chunk(params, state, keys, data):
        def step(carry, k):
            params, state = carry
            val, g = value_and_grad(params, k, data)
            upd, state = opt.update(g, state, params)
            return (optax.apply_updates(params, upd), state), val

        (params, state), vals = jax.lax.scan(step, (params, state), keys)
        return params, state, vals

    def init_params(z0):
        p = {"m": z0}
        if guide == "mvn":
            p["off"] = jnp.zeros(len(tril[0]), z0.dtype)
            p["logd"] = jnp.full((D,), np.log(0.1), z0.dtype)
        return p

    def init(z_inits):
        params = jax.vmap(init_params)(z_inits)
        return params, jax.vmap(opt.init)(params)

    return jax.jit(init), jax.jit(jax.vmap(run_chunk, in_axes=(0, 0, 0, None))), unpack


def _fit_laplace_loop(batched_vg, hessian, z_inits, *, steps, lr, progress, cache, prior_hessian=None):
    z = np.asarray(z_inits, dtype=np.float64)
    R, D = z.shape
    ckey = ("adam", float(lr), int(steps))
    upd = None if cache is None else cache.get(ckey)
    if upd is None:
        sched = optax.exponential_decay(lr, transition_steps=steps, decay_rate=0.05)
        opt = optax.adam(sched)

        def update(m, g, state):
            u, state = jax.vmap(opt.update)(g, state, m)
            return m + u, state

        upd = (jax.jit(jax.vmap(opt.init)), jax.jit(update))
        if cache is not None:
            cache[ckey] = upd
    init, update = upd
    m = jnp.asarray(z)
    state = init(m)
    n_chunks = max(1, min(10, steps))
    every = int(np.ceil(steps / n_chunks))
    trace, buf = [], []
    t0 = time.perf_counter()
    u = None
    for i in range(steps):
        u, g, *_ = batched_vg(np.asarray(m))
        ok = np.isfinite(u) & np.all(np.isfinite(g), axis=1)
        # A failed solve (non-finite U or ∇U) skips that restart's update.
        g = np.where(ok[:, None], g, 0.0)
        m_new, state_new = update(m, jnp.asarray(g), state)
        okj = jnp.asarray(ok)
        m = jnp.where(okj[:, None], m_new, m)
        state = jax.tree_util.tree_map(lambda a, b, okj=okj: jnp.where(okj.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
                                       if a.ndim >= 1 and a.shape[0] == R else a, state_new, state)
        buf.append(np.where(ok, u, np.inf))
        if (i + 1) % every == 0 or i + 1 == steps:
            last = np.mean(np.asarray(buf[-max(1, every // 5):]), axis=0)
            trace.append(last)
            _progress(f"  SVI (laplace, {R} restarts) step {i + 1}/{steps}  best objective "
                      f"{np.min(last):.4g}  ({time.perf_counter() - t0:.1f}s)", progress)
    final, g_final, *_ = batched_vg(np.asarray(m))
    final = np.where(np.isfinite(final), final, np.inf)
    if not np.isfinite(final).any():
        raise FloatingPointError("every SVI restart ended at a point where the forward model fails "
                                 "or the density is not finite")
    best = int(np.argmin(final))
    loc, u_best, hess, n_newton = newton_polish(batched_vg, hessian, np.asarray(m)[best], float(final[best]),
                                             g=np.asarray(g_final)[best])
    final = final.copy()
    final[best] = u_best
    if n_newton:
        _progress(f"  SVI (laplace) Newton polish: {n_newton} step(s), objective {u_best:.6g}  "
                  f"({time.perf_counter() - t0:.1f}s)", progress)
    cov = laplace_covariance(hess, None if prior_hessian is None else prior_hessian(loc))
    return GaussianApprox(loc=loc, cov=cov, loss=u_best, losses=final,
                          trace=np.asarray(trace), guide="laplace")


def newton_polish(batched_vg, hessian, z, u, *, g=None, max_iter: int = 50, tol: float = 1e-6):
    """Quasi-Newton from ``z`` (U(z) = ``u``) to the mode of U; returns (ẑ, U(ẑ), ∇²U(ẑ), steps).

    Adam can stall far from the MAP: when the start is far out (|∇U| ~ 10⁵ at a prior median that
    does not fit the data) its second-moment estimate keeps those gradients for ~10³ steps, so once
    the gradient has shrunk the steps are ~10⁻⁴ and the optimisation ends where U is still falling
    (seen on a Notch problem: U = 70 after 100 Adam steps, −102 at the mode). In the few dimensions
    a Laplace fit has, Newton-type steps finish the job: the finite-difference Hessian at the start,
    BFGS updates after each step (skipped when the curvature condition fails), direction
    −|B|⁻¹∇U (eigenvalues by absolute value, floored: a descent direction at a saddle too), Armijo
    backtracking on U. Stops when the Newton decrement ∇Uᵀ|B|⁻¹∇U/2 < ``tol`` or no step decreases
    U; ∇²U is then recomputed at ẑ (the Laplace covariance needs the true curvature). A point where
    the model fails (non-finite U) is never accepted. At a mode already reached this costs one
    gradient (none when ``g`` = ∇U(z) is passed) and the Hessian.
    """
    z = np.asarray(z, dtype=np.float64)
    H0 = np.asarray(hessian(z), dtype=np.float64)
    if not np.all(np.isfinite(H0)):
        return z, u, H0, 0
    B = 0.5 * (H0 + H0.T)
    if g is None:
        _, g, *_ = batched_vg(z[None])
        g = np.asarray(g)[0]
    g = np.asarray(g, dtype=np.float64)
    steps = 0
    for _ in range(max_iter):
        if not np.all(np.isfinite(g)):
            break
        lam, vec = np.linalg.eigh(B)
        lam = np.maximum(np.abs(lam), 1e-8 * max(float(np.max(np.abs(lam))), 1e-12))
        d = -(vec / lam) @ (vec.T @ g)
        slope = float(g @ d)
        if -slope / 2 < tol:
            break
        t, accepted = 1.0, False
        while t > 1e-6:
            u_new, g_new, *_ = batched_vg((z + t * d)[None])
            u_new = float(np.asarray(u_new)[0])
            if np.isfinite(u_new) and u_new <= u + 1e-4 * t * slope:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            break
        g_new = np.asarray(g_new, dtype=np.float64)[0]
        sv, yv = t * d, g_new - g
        sy = float(sv @ yv)
        if np.all(np.isfinite(yv)) and sy > 1e-12 * float(np.linalg.norm(sv) * np.linalg.norm(yv)):
            Bs = B @ sv
            B = B - np.outer(Bs, Bs) / float(sv @ Bs) + np.outer(yv, yv) / sy
            B = 0.5 * (B + B.T)
        z, u, g, steps = z + sv, u_new, g_new, steps + 1
    H = H0 if steps == 0 else np.asarray(hessian(z), dtype=np.float64)
    return z, u, H, steps


def fit_gaussian(potential, z_inits, *, key, steps: int = 1000, lr: float = 0.05,
                 guide: str = "laplace", particles: int = 4, forward_mode: bool = False,
                 progress: bool = True, data=None, cache: dict | None = None,
                 hessian=None, batched_vg=None, prior_hessian=None) -> GaussianApprox:
    """Fit q(z) from starting points ``z_inits`` (R, D) (one optimisation per row).

    potential : flat U(z) -> scalar (jax), or U(z, data) when ``data`` is given (then the
        compiled optimiser is kept in ``cache`` and reused for new data of the same shapes).
    hessian : optional compiled (z, data) -> ∇²U (Laplace); default: jax.hessian / jacfwd².
    batched_vg : optional ``(N, D) -> (U (N,), ∇U (N, D), ...)`` (host arrays). With the Laplace
        guide the optimisation then runs as a host loop over this one compiled function, and
        ``hessian(m)`` (one argument) gives ∇²U at the mode — the fit shares its compiled
        program with the Hessian and the post-processing instead of compiling its own.
    prior_hessian : optional ``m -> −∇² log p(z)`` at the mode (the prior part of ∇²U); the
        Laplace covariance then never exceeds what the prior allows (:func:`laplace_covariance`).
    Returns the best restart's :class:`GaussianApprox`.
    """
    if guide not in ("laplace", "mvn"):
        raise ValueError(f"guide must be 'laplace' or 'mvn', got {guide!r}")
    if guide == "laplace" and batched_vg is not None:
        return _fit_laplace_loop(batched_vg, hessian, z_inits, steps=steps, lr=lr, progress=progress,
                                 cache=cache, prior_hessian=prior_hessian)
    if data is None:
        unary = potential
        potential = lambda z, d: unary(z)
        data = ()
    z_inits = jnp.asarray(z_inits, dtype=jnp.float64)
    R, D = z_inits.shape
    n_chunks = max(1, min(10, steps))
    per_chunk = int(np.ceil(steps / n_chunks))
    total = per_chunk * n_chunks
    ckey = ("svi", guide, int(particles), float(lr), total, bool(forward_mode), D)
    runner = None if cache is None else cache.get(ckey)
    if runner is None:
        runner = _make_runner(potential, D=D, guide=guide, particles=particles, lr=lr, total=total,
                              forward_mode=forward_mode)
        if cache is not None:
            cache[ckey] = runner
    init, vrun, unpack = runner
    params, state = init(z_inits)
    keys = jax.random.split(key, R * total).reshape(R, n_chunks, per_chunk, -1)
    trace = []
    t0 = time.perf_counter()
    for c in range(n_chunks):
        params, state, vals = vrun(params, state, keys[:, c], data)
        last = np.asarray(vals[:, -max(1, per_chunk // 5):]).mean(axis=1)
        trace.append(last)
        _progress(f"  SVI ({guide}, {R} restarts) [{'#' * (c + 1)}{'.' * (n_chunks - c - 1)}] "
                  f"step {(c + 1) * per_chunk}/{total}  best objective {np.nanmin(np.where(np.isfinite(last), last, np.nan)) if np.isfinite(last).any() else float('inf'):.4g}"
                  f"  ({time.perf_counter() - t0:.1f}s)", progress)
    trace = np.asarray(trace)
    # Rank restarts by the objective at the end of the optimisation: for Laplace the exact U at
    # the last iterate before the final (decayed, tiny) update; for the ELBO the average over
    # the last fifth of the steps, which is what the noise allows.
    final = np.asarray(vals[:, -1]) if guide == "laplace" else trace[-1]
    final = np.where(np.isfinite(final), final, np.inf)
    if not np.isfinite(final).any():
        raise FloatingPointError("every SVI restart ended at a point where the forward model fails "
                                 "or the density is not finite")
    best = int(np.argmin(final))
    m = jnp.asarray(params["m"][best])
    if guide == "laplace":
        f = lambda z: potential(z, data)
        if hessian is None:
            hfun = jax.jit(jax.jacfwd(jax.jacfwd(f)) if forward_mode else jax.hessian(f))
        else:
            hfun = lambda z: hessian(z, data)
        vg = jax.jit(jax.vmap((lambda z: (f(z), jax.jacfwd(f)(z))) if forward_mode else jax.value_and_grad(f)))

        def bvg(zs):
            u, g = vg(jnp.asarray(zs, dtype=jnp.float64))
            return np.asarray(u), np.asarray(g)

        u0, g0 = bvg(np.asarray(m)[None])
        u0 = float(u0[0])
        # Adam can stop short of the mode: finish with quasi-Newton steps (see newton_polish); the
        # gradient of this evaluation is handed over, not recomputed
        m, u_best, hess, _ = newton_polish(bvg, lambda z: np.asarray(hfun(jnp.asarray(z))), np.asarray(m),
                                           u0 if np.isfinite(u0) else float(final[best]), g=g0[0])
        final = final.copy()
        final[best] = u_best
        cov = laplace_covariance(np.asarray(hess), None if prior_hessian is None else prior_hessian(m))
    else:
        _, L = unpack(jax.tree_util.tree_map(lambda a: a[best], params))
        cov = np.asarray(L @ L.T)
    return GaussianApprox(loc=np.asarray(m), cov=cov, loss=float(final[best]), losses=final,
                          trace=trace, guide=guide)
