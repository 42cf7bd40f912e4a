"""SBINN-style baseline (Yu et al. 2021, "systems-biology informed deep learning").

An MLP of time, t ↦ (x_i(t) for every cell and species, ℓ_i(t) for every cell), is fitted jointly
with trainable log θ to: the observations (data term, scaled by σ), the ODE residual
‖dx/dt − f(x, ℓ; θ, u)‖² at collocation points (dx/dt by forward-mode AD through the network), the
known initial state, and the same Gaussian prior on log θ as the Bayesian fit. It has **no** PDE:
the membrane ligand ℓ_i(t) is a free network output, which is exactly the single-scale limitation
the PB-HNO paper attributes to SBINNs. Returns a point estimate of θ (no uncertainty).
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax


class _Net(eqx.Module):
    mlp: eqx.nn.MLP
    scale: jnp.ndarray

    def __call__(self, t):
        out = self.mlp(jnp.atleast_1d(t))
        return jax.nn.softplus(out) * self.scale  # states and ligand are non-negative


def fit_sbinn(pathway, obs, prior=None, *, steps=6000, n_colloc=256, width=64, depth=3, lr=3e-3,
              lam_ode=1.0, lam_ic=10.0, seed=0, control=None, verbose=False):
    """Fit the SBINN baseline; returns dict(theta_free (P_free,) natural, names, wall_s, loss)."""
    from pbhno_bayes.pathways.base import as_schedule

    prior = pathway.prior if prior is None else prior
    C, S = pathway.n_cells, pathway.n_species
    t_end = float(max(obs.times[-1], 1e-6))
    key = jax.random.PRNGKey(seed)
    # output scale: observed species from the data, others from the initial state (or 1)
    x0 = np.asarray(pathway.x0(pathway.params(jnp.asarray(pathway.nominal_values))))
    scale = np.maximum(np.abs(x0).max(0), 1.0) * np.ones((C, S))
    for j, s in enumerate(obs.species):
        m = np.nanmax(np.abs(obs.values[:, :, j]))
        scale[list(obs.cells), pathway.species.index(s)] = max(m, 1e-3)
    scale = np.concatenate([scale.ravel(), np.ones(C)])
    net = _Net(eqx.nn.MLP(1, C * S + C, width, depth, activation=jnp.tanh, key=key), jnp.asarray(scale))
    free_idx = np.array([pathway.param_names.index(n) for n in prior.names])
    base = jnp.asarray(pathway.nominal_values, float)
    params = (net, jnp.asarray(prior.mean))
    sched = as_schedule(pathway, control)
    ts_obs = jnp.asarray(obs.times / t_end)
    y = jnp.asarray(np.nan_to_num(obs.values))
    mask = jnp.asarray(obs.mask)
    sig = jnp.asarray(obs.sigma if obs.sigma is not None else np.ones_like(obs.values) * np.nanstd(obs.values))
    sig = jnp.where(mask, sig, 1.0)
    cells = np.asarray(obs.cells)
    sidx = np.array([pathway.species.index(s) for s in obs.species])
    tc = jnp.linspace(0.0, 1.0, n_colloc)
    Lchol = jnp.asarray(np.linalg.inv(prior.chol))

    def unpack(net, tau):
        out = net(tau)
        return out[: C * S].reshape(C, S), out[C * S:]

    def loss_fn(params):
        net, logth = params
        theta = base.at[free_idx].set(jnp.exp(logth))
        p = pathway.params(theta)
        pred = jax.vmap(lambda tau: unpack(net, tau)[0])(ts_obs)[:, cells][:, :, sidx]
        data = jnp.sum(jnp.where(mask, ((pred - y) / sig) ** 2, 0.0)) / jnp.maximum(mask.sum(), 1)

        def resid(tau):
            (x, ell), (dx, _) = jax.jvp(lambda s: unpack(net, s), (tau,), (jnp.ones_like(tau),))
            f = pathway.cell_rhs(x, ell, p, sched(tau * t_end))
            return (dx / t_end - f) / jnp.asarray(scale[: C * S]).reshape(C, S)

        ode = jnp.mean(jax.vmap(resid)(tc) ** 2)
        x_init, _ = unpack(net, jnp.asarray(0.0))
        ic = jnp.mean(((x_init - jnp.asarray(x0)) / jnp.asarray(scale[: C * S]).reshape(C, S)) ** 2)
        z = Lchol @ (logth - jnp.asarray(prior.mean))
        pri = 0.5 * jnp.sum(z**2) / jnp.maximum(mask.sum(), 1)
        return data + lam_ode * ode + lam_ic * ic + pri

    opt = optax.chain(optax.clip_by_global_norm(1.0),
                      optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.05)))
    state = opt.init(eqx.filter(params, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(params, state):
        loss, g = eqx.filter_value_and_grad(loss_fn)(params)
        upd, state = opt.update(g, state, params)
        return eqx.apply_updates(params, upd), state, loss

    t0 = time.perf_counter()
    for i in range(steps):
        params, state, loss = step(params, state)
        if verbose and i % 1000 == 0:
            print(f"  sbinn step {i}: loss {float(loss):.4g}")
    wall = time.perf_counter() - t0
    return {"theta_free": np.exp(np.asarray(params[1])), "names": prior.names, "wall_s": wall,
            "loss": float(loss)}


if __name__ == "__main__":  # smoke run on MAPK
    import pbhno_bayes as pb

    pw = pb.pathways.mapk()
    obs = pb.simulate(pw, times=12, noise=0.05, seed=0)
    r = fit_sbinn(pw, obs, verbose=True)
    print(dict(zip(r["names"], np.round(r["theta_free"], 3), strict=True)), f"{r['wall_s']:.1f}s")
