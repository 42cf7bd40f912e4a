r"""Receding-horizon control of a "true" system with posterior updates between steps.

Loop (k = 0 … n_steps−1), starting at t_0 (default: the last observation time):

1. plan u_{0:T−1} on [t_k, t_k + T dt) with :func:`robust_mpc` (or nominal MPC) over the current
   posterior ensemble, warm-started from the previous plan shifted by one interval;
2. apply the first interval's control u_0 to the true system (reference solver at the true θ, with
   the whole applied history) and measure y = x(t_k + dt) + ε, ε ~ N(0, noise²), on the measured
   species of every cell;
3. update the posterior with y:

   * ``"reweight"``: importance reweighting of the fixed draws, w_s ∝ w_s · p(y | θ_s), where
     p(y | θ_s) is the Gaussian likelihood of y around draw s's rollout under the same applied
     history. Cheap and exact in the limit S → ∞ but degenerates when the new data are
     informative; the Kish ESS 1 / Σ w² is recorded after every update.
   * ``"svi"``: refit on all data (the original ``obs`` plus every closed-loop measurement) with
     ``pb.fit(method="svi")`` warm-started from nothing but the same prior, and draw a fresh
     ensemble. Needs ``obs``.
   * ``"none"``: keep the posterior (open-loop replanning).

The state itself is not fed back directly: the model is deterministic given θ and the control
history, so learning θ *is* the state estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..data import Observations
from ..pathways.base import Schedule
from ..simulate.solver import MechanisticModel
from .constraints import make_constraints
from .ensemble import posterior_ensemble
from .mpc import _t_start_from, robust_mpc
from .target import parse_target

__all__ = ["closed_loop", "ClosedLoopResult", "augment_observations"]

UPDATES = ("reweight", "svi", "none")


@dataclass
class ClosedLoopResult:
    """Outcome of :func:`closed_loop`.

    times : (n+1,) applied interval edges; ``u`` (n, m) the applied controls.
    true_states : (n+1, C, S) the true system at ``times``; ``measurements`` (n, C, M) what was seen.
    success : every target term inside its tolerance at times[-1] (the paper's control success).
    target_error : max over terms of the distance of the final true value to the target (0 inside
        a window; |x − x*| for a value target).
    energy : Σ ‖u_t‖² dt of the applied controls; ``violations``: applied entries outside the
        bounds plus channels over the dose budget (0 when the constraints hold).
    ess : Kish ESS after each update ("reweight"; the ensemble size for "svi"/"none").
    planned_success : each plan's predicted success probability (at its own horizon end).
    posterior_mean / posterior_sd : weighted mean and sd of log θ_free of the final ensemble.
    """

    times: np.ndarray
    u: np.ndarray
    channels: tuple
    true_states: np.ndarray
    measurements: np.ndarray
    measured_species: tuple
    success: bool
    target_error: float
    final_values: dict
    energy: float
    violations: int
    ess: list
    planned_success: list
    posterior_mean: np.ndarray
    posterior_sd: np.ndarray
    free: tuple
    update: str
    mode: str
    t_start: float = 0.0
    noise: float = float("nan")
    wall_s: float = float("nan")
    plans: list = field(default_factory=list)

    def schedule(self, pathway) -> Schedule:
        """The whole applied control history as a Schedule (default on [0, t_start) and after)."""
        m = len(pathway.control_channels)
        default = np.asarray(pathway.control_default, float)
        edges = ([0.0] if self.t_start > 0 else []) + list(np.asarray(self.times, float))
        values = ([default] if self.t_start > 0 else []) + list(np.asarray(self.u).reshape(-1, m))
        return Schedule(jnp.asarray(edges), jnp.asarray(np.asarray(values)), jnp.asarray(default))

    def observations(self, obs: Observations) -> Observations:
        """``obs`` plus every closed-loop measurement (σ = ``noise`` where ``obs`` carries σ)."""
        return augment_observations(obs, self.times[1:], self.measurements, self.measured_species, self.noise)

    def summary(self) -> dict:
        return dict(success=bool(self.success), target_error=float(self.target_error), energy=float(self.energy),
                    violations=int(self.violations), min_ess=float(min(self.ess)) if self.ess else float("nan"),
                    final_values=self.final_values, update=self.update, mode=self.mode)


@eqx.filter_jit
def _predict_ensemble(forward, thetas, times, sched):
    return jax.vmap(lambda th: forward.predict(th, times, sched))(thetas)


@eqx.filter_jit
def _predict_one(forward, theta, times, sched):
    return forward.predict(theta, times, sched)


def _history_schedule(pw, edges, values, capacity):
    """Applied control so far as a fixed-size Schedule (padded at negative times, never visited)."""
    m = len(pw.control_channels)
    default = np.asarray(pw.control_default, float)
    left = np.asarray(edges[:-1], float)
    pad = capacity - left.size
    all_edges = np.concatenate([-1.0 - np.arange(pad, 0, -1, dtype=float), np.asarray(edges, float)])
    vals = np.concatenate([np.tile(default, (pad, 1)), np.asarray(values, float).reshape(-1, m)], axis=0)
    return Schedule(jnp.asarray(all_edges), jnp.asarray(vals), jnp.asarray(default))


def closed_loop(forward, true_theta, posterior, target, n_steps: int = 5, *, obs: Observations | None = None,
                truth=None, update: str = "reweight", horizon: int = 20, dt: float | None = None,
                draws: int = 64, nominal: bool = False, risk: str = "mean", kappa: float = 1.0,
                alpha: float = 0.9, noise: float = 0.05, measure=None, iters: int = 200,
                replan_iters: int | None = None, lr: float = 0.05, bounds=None, budget=None, R=1e-2,
                t_start: float | None = None, seed: int = 0, svi_kwargs: dict | None = None,
                keep_plans: bool = False, replan_every: int = 1, warm_start: bool = False) -> ClosedLoopResult:
    r"""Receding-horizon MPC of the true system θ* (see module docstring).

    Parameters
    ----------
    forward : the model used for planning (mechanistic or surrogate).
    true_theta : θ* of the true system: None (nominal), dict or (P,) natural units.
    posterior : arviz.InferenceData (from ``pb.fit``), an :class:`Ensemble`, or ``Observations``
        (then a posterior is fitted first with ``pb.fit(method="svi")``).
    target : as for :func:`robust_mpc`.
    n_steps : control intervals applied (each followed by a measurement and an update).
    replan_every : apply this many consecutive intervals of each plan before re-planning (default 1,
        classic receding horizon; must be ≤ horizon). Useful when the forward model has a hard time
        horizon (a surrogate) or planning is expensive; the posterior is still updated after every
        interval, so each re-plan uses every measurement so far.
    obs : the data behind the posterior (needed for ``update="svi"``; sets t_0 when given).
    truth : forward model simulating the true system (default ``MechanisticModel(pathway)``).
    update : "reweight", "svi" or "none".
    noise : measurement sd (absolute, same for every measured species).
    measure : species measured after each interval (default the pathway's default observables).
    iters, replan_iters : optimiser iterations for the first plan and for the warm-started re-plans
        (default iters // 2).
    warm_start : passed to every :func:`robust_mpc` call (a spatial surrogate restarted at each plan
        start, which must then lie on its macro grid; each distinct start compiles once).
    Other arguments as for :func:`robust_mpc`.
    """
    import time

    t_wall = time.perf_counter()
    pw = forward.pathway
    n_steps = int(n_steps)
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if update not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
    if update == "svi" and obs is None and not isinstance(posterior, Observations):
        raise ValueError("update='svi' refits on all data: pass obs= (the data behind the posterior)")
    noise = float(noise)
    if not (np.isfinite(noise) and noise > 0):
        raise ValueError(f"noise must be a finite number > 0 (measurement sd), got {noise}")
    measure = tuple(pw.default_observe or pw.species) if measure is None else tuple(measure)
    bad = [s for s in measure if s not in pw.species]
    if bad:
        raise ValueError(f"measure: unknown species {bad}; {pw.name} has {list(pw.species)}")
    terms = parse_target(pw, target)
    theta_star = pw.theta_vector(true_theta)
    if not np.all(np.isfinite(theta_star)) or np.any(theta_star <= 0):
        raise ValueError("true_theta must be finite and > 0")
    truth = MechanisticModel(pw) if truth is None else truth
    replan_iters = max(1, int(iters) // 2) if replan_iters is None else int(replan_iters)
    replan_every = int(replan_every)
    if not 1 <= replan_every <= int(horizon):
        raise ValueError(f"replan_every must be between 1 and horizon={int(horizon)}, got {replan_every}")
    svi_kwargs = dict(svi_kwargs or {})

    if isinstance(posterior, Observations):
        from ..infer import fit

        obs = posterior if obs is None else obs
        posterior = fit(forward, obs, method="svi", samples=max(draws, 64), chains=1, seed=seed,
                        progress=False, warn=False, **svi_kwargs)
    if t_start is None:
        t_start = float(np.max(obs.times)) if obs is not None else _t_start_from(posterior)
    ens = posterior_ensemble(pw, posterior, draws=draws, seed=seed)
    dt = pw.t_end / int(horizon) if dt is None else float(dt)
    m = len(pw.control_channels)
    default = np.asarray(pw.control_default, float)
    capacity = max(4, 1 << int(np.ceil(np.log2(n_steps + 1))))  # same bucketing as robust_mpc

    edges = [0.0, t_start] if t_start > 0 else [0.0]
    values = [default] if t_start > 0 else []
    # The true system is always solved at the same n_steps+1 edges (one compilation for the whole
    # loop): the state at t_{k+1} depends only on the control applied before it (causality), so
    # the not-yet-applied future (the default) does not change it.
    all_times = jnp.asarray(t_start + dt * np.arange(n_steps + 1))
    rng = np.random.default_rng([seed, 23])
    mi = [pw.species.index(s) for s in measure]
    u_prev, ess, planned, plans, meas = None, [], [], [], []
    new_obs_t, new_obs_y = [], []
    t = t_start
    plan = None
    for k in range(n_steps):
        j = k % replan_every  # index of the interval of the current plan applied now
        if j == 0:
            past = (np.asarray(edges), np.asarray(values).reshape(-1, m))
            if u_prev is None:
                u0 = None
            else:  # warm start: the previous plan shifted by the intervals applied since
                u0 = np.concatenate([u_prev[replan_every:], np.repeat(u_prev[-1:], replan_every, axis=0)], axis=0)
            plan = robust_mpc(forward, ens, target, horizon=horizon, dt=dt, risk=risk, kappa=kappa, alpha=alpha,
                              draws=None, nominal=nominal, bounds=bounds, budget=budget, R=R,
                              iters=iters if k == 0 else replan_iters, lr=lr, t_start=t, past=past, u0=u0,
                              seed=seed, warm_start=warm_start, _past_capacity=capacity)
            planned.append(plan.success_probability)
            if keep_plans:
                plans.append(plan)
            u_prev = plan.u
        edges.append(t + dt)
        values.append(plan.u[j])
        t = t + dt
        sched = _history_schedule(pw, edges, values, capacity)
        x_true = np.asarray(_predict_one(truth, jnp.asarray(theta_star), all_times, sched))[k + 1]
        if not np.all(np.isfinite(x_true)):
            raise ValueError("the true system failed to solve under the applied controls; check true_theta")
        y = x_true[:, mi] + noise * rng.standard_normal((pw.n_cells, len(mi)))
        meas.append(y)
        new_obs_t.append(t)
        new_obs_y.append(y)
        if update == "reweight":
            X = np.asarray(_predict_ensemble(forward, jnp.asarray(ens.theta), jnp.asarray([t]), sched))[:, 0][:, :, mi]
            ll = -0.5 * np.sum(((y[None] - X) / noise) ** 2, axis=(1, 2))
            ens = ens.reweighted(np.where(np.isfinite(ll), ll, -np.inf))
            ess.append(ens.ess)
        elif update == "svi":
            ens = _svi_update(forward, obs, new_obs_t, new_obs_y, measure, noise, sched, ens, draws,
                              seed + k + 1, svi_kwargs)
            ess.append(float(ens.size))
        else:
            ess.append(ens.ess)

    sched = _history_schedule(pw, edges, values, capacity)
    times = np.asarray(edges[-n_steps - 1:])
    X_true = np.asarray(_predict_one(truth, jnp.asarray(theta_star), all_times, sched))
    u_applied = np.asarray(values[-n_steps:])
    finals, errs, ok = {}, [], True
    for term in terms:
        x = float(X_true[-1, term.cell, pw.species.index(term.species)])
        finals[term.label] = x
        errs.append(max(term.lo - x, x - term.hi, 0.0))
        ok &= term.ok_lo - 1e-12 <= x <= term.ok_hi + 1e-12
    # The dose budget is per plan horizon; the applied n_steps intervals are checked against it too.
    cons = make_constraints(pw, horizon, dt, bounds, budget)
    lt = ens.log_theta_free
    mean = ens.weights @ lt
    sd = np.sqrt(ens.weights @ (lt - mean) ** 2)
    return ClosedLoopResult(
        times=times, u=u_applied, channels=tuple(pw.control_channels), true_states=X_true,
        measurements=np.asarray(meas), measured_species=measure, success=bool(ok), target_error=float(max(errs)),
        final_values=finals, energy=float(np.sum(u_applied**2) * dt),
        violations=cons.violations(u_applied),
        ess=ess, planned_success=planned, posterior_mean=mean, posterior_sd=sd, free=ens.free,
        update=update, mode="nominal" if nominal else "robust", t_start=t_start, noise=noise, wall_s=time.perf_counter() - t_wall, plans=plans)


def augment_observations(obs: Observations, new_t, new_y, measure, noise) -> Observations:
    """Append measurements ``new_y`` (n, C, M) at times ``new_t`` to ``obs`` (same species/cells;
    species not measured stay missing)."""
    species, cells = tuple(obs.species), tuple(obs.cells)
    T0, Tn = obs.times.size, len(new_t)
    vals = np.full((T0 + Tn, len(cells), len(species)), np.nan)
    vals[:T0] = obs.values
    for j, y in enumerate(new_y):
        y = np.asarray(y)
        for si, s in enumerate(species):
            if s in measure:
                vals[T0 + j, :, si] = y[list(cells), list(measure).index(s)]
    sig = None
    if obs.sigma is not None:
        sig = np.full(vals.shape, float(noise))
        sig[:T0] = np.where(np.isfinite(obs.sigma), obs.sigma, noise)
        sig = np.where(np.isfinite(vals), sig, np.nan)
    times = np.concatenate([obs.times, np.asarray(new_t, float)])
    return Observations.from_arrays(times, vals, species, sigma=sig, cells=cells)


def _svi_update(forward, obs, new_t, new_y, measure, noise, sched, ens, draws, seed, svi_kwargs):
    """Refit with pb.fit(method="svi") on the original data plus the closed-loop measurements."""
    from ..infer import fit

    all_obs = augment_observations(obs, new_t, new_y, measure, noise)
    idata = fit(forward, all_obs, method="svi", samples=max(draws, 64), chains=1, seed=seed, control=sched,
                progress=False, warn=False, **svi_kwargs)
    return posterior_ensemble(forward.pathway, idata, draws=draws, seed=seed)
