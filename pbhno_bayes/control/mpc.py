r"""Robust model-predictive control over posterior ensembles (paper Algorithm 2, Table II).

Decision: a piecewise-constant control u_{0:T−1} (T × m, m = number of control channels), u_t held
on [t_s + t dt, t_s + (t+1) dt); outside the plan the control is the pathway default, except on
[0, t_s) where it is the control *applied so far* (``past``), so each draw's state at t_s is its
own propagation of the known history. Rollouts are predicted at the T+1 plan edges
t_s, t_s + dt, …, t_s + T dt (``Plan.times``); x_0 = x(t_s) does not depend on u.

Cost of one draw θ_s (states after each interval, t = 1..T, so the last interval's control is
paid for and the final state x_T counts; Algorithm 2's Σ_{t=0}^{T−1} counts x_0 instead, which
the controls cannot change)::

    J_s(u) = Σ_{t=1}^{T} Σ_k q_k d(x_{t,k}(θ_s, u), [lo_k, hi_k])² + Σ_{t=0}^{T−1} u_tᵀ R u_t

with k over the targeted (species, cell) pairs, d the distance to the target interval (a value
target has lo = hi = x*, so the term is ‖x_t − x*‖²_Q), Q = diag(q) (default I) and R = 1e-2 I
(Table II). The robust objective is a risk measure ρ of {J_s} over the ensemble of S posterior
draws (× K surrogate members when the forward model has ``members``): mean, mean + κ sd or CVaR_α
(:mod:`.risk`). Nominal MPC is the same code with one draw, the posterior mean of log θ.

Optimiser (a pure ``(init, step)`` pair over :class:`MPCState`, compiled once per problem shape):
Adam directions on the normalised controls z ∈ [0,1]^{T×m}, a projected step
z ← Π_𝒰(z − η s Adam(∇_z ρ)) with the exact projection of :mod:`.constraints`. A step whose
rollout or gradient is not finite is rejected: z backs off half-way to the last finite iterate
and the step multiplier s halves (it recovers ×1.25 per accepted step, up to 1). The plan
returned is the best finite iterate, so controls are never NaN.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._io import atomic_write_text
from ..pathways.base import Schedule
from .constraints import Constraints, make_constraints, project
from .ensemble import Ensemble, posterior_ensemble
from .risk import Risk, make_risk, risk_value
from .target import parse_target, target_from_json, target_to_json

__all__ = ["Plan", "robust_mpc", "MPCProblem", "MPCState", "make_mpc", "TRACE_COUNTS", "rollout"]

# Incremented in the Python body of the jitted functions, i.e. once per (re)compilation; tests use
# it to check that an MPC step compiles once.
TRACE_COUNTS = {"step": 0, "rollout": 0}

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


# ----------------------------------------------------------------------------------------- problem
class MPCProblem(eqx.Module):
    """Everything the cost needs except u and the ensemble (which are arguments, so that a new
    posterior or a re-plan with the same shapes reuses the compiled step)."""

    forward: object
    edges_past: jnp.ndarray    # (Kp,) left edges of the past intervals (padded with negative times)
    values_past: jnp.ndarray   # (Kp, m)
    plan_edges: jnp.ndarray    # (T+1,)
    default: jnp.ndarray       # (m,)
    lo: jnp.ndarray            # (m,) box in natural units
    width: jnp.ndarray         # (m,)
    zbudget: jnp.ndarray       # (m,) budget in z units, inf = none
    R: jnp.ndarray             # (m,) diagonal of R
    t_lo: jnp.ndarray          # (k,) target intervals
    t_hi: jnp.ndarray
    q: jnp.ndarray             # (k,) diagonal of Q
    cell_idx: tuple = eqx.field(static=True)
    species_idx: tuple = eqx.field(static=True)
    risk: Risk = eqx.field(static=True)
    # () or (k0,): roll every draw to macro node k0 = t_start/dt without gradients and differentiate
    # only the plan window (forward models with ``predict_from``; robust_mpc(warm_start=True))
    warm: tuple = eqx.field(static=True, default=())

    def schedule(self, u) -> Schedule:
        edges = jnp.concatenate([self.edges_past, self.plan_edges])
        values = jnp.concatenate([self.values_past, u], axis=0)
        return Schedule(edges, values, self.default)


def _members(forward):
    m = getattr(forward, "members", None)
    if isinstance(m, (tuple, list)) and len(m) > 0:
        return tuple(m)
    return (forward,)


def rollout(problem: MPCProblem, u, thetas):
    """States at the plan edges for every ensemble member: (K·S, T+1, C, n_species)."""
    sched = problem.schedule(u)
    outs = []
    for f in _members(problem.forward):
        if problem.warm:
            # the state at t_start does not depend on the plan: no tangents, no stored residuals
            start = jax.lax.stop_gradient(jax.vmap(lambda th, f=f, k0=problem.warm[0]: f.state_at_node(th, k0, sched))(thetas))
            outs.append(jax.vmap(lambda th, s0, f=f, k0=problem.warm[0]: f.predict_from(th, s0, k0, problem.plan_edges, sched))(
                thetas, start))
        else:
            outs.append(jax.vmap(lambda th, f=f: f.predict(th, problem.plan_edges, sched))(thetas))
    return jnp.concatenate(outs, axis=0)


def draw_costs(problem: MPCProblem, u, thetas):
    """J_s for every ensemble member (K·S,): tracking over t = 1..T plus the control cost."""
    X = rollout(problem, u, thetas)
    x = X[:, 1:, problem.cell_idx, problem.species_idx]  # (KS, T, k)
    d = jnp.maximum(problem.t_lo - x, 0.0) + jnp.maximum(x - problem.t_hi, 0.0)
    track = jnp.sum(problem.q * d**2, axis=(1, 2))
    ctrl = jnp.sum(problem.R * u**2)
    return track + ctrl


def _objective(z, problem: MPCProblem, thetas, w):
    u = problem.lo + z * problem.width
    J = draw_costs(problem, u, thetas)
    K = len(_members(problem.forward))
    return risk_value(problem.risk, J, jnp.tile(w, K) / K)


# ---------------------------------------------------------------------------------------- optimiser
class MPCState(NamedTuple):
    z: jnp.ndarray          # (T, m) current iterate (normalised controls)
    z_good: jnp.ndarray     # last iterate whose objective and gradient were finite
    adam: optax.OptState
    scale: jnp.ndarray      # step multiplier s (back-off)
    best_z: jnp.ndarray
    best_J: jnp.ndarray
    J: jnp.ndarray          # objective at the iterate evaluated in the last step (NaN if rejected)
    n_rejected: jnp.ndarray
    lr: jnp.ndarray


_ADAM = optax.scale_by_adam()


def _init(problem: MPCProblem, z0, lr) -> MPCState:
    z0 = project(jnp.asarray(z0, float), problem.zbudget)
    f = jnp.asarray(0.0, z0.dtype)
    return MPCState(z=z0, z_good=z0, adam=_ADAM.init(z0), scale=f + 1.0, best_z=z0, best_J=f + jnp.inf,
                    J=f + jnp.nan, n_rejected=jnp.asarray(0), lr=f + lr)


@eqx.filter_jit
def _step(problem: MPCProblem, state: MPCState, thetas, w) -> MPCState:
    TRACE_COUNTS["step"] += 1
    J, g = jax.value_and_grad(_objective)(state.z, problem, thetas, w)
    good = jnp.isfinite(J) & jnp.all(jnp.isfinite(g))
    g = jnp.where(good, g, 0.0)
    upd, adam_new = _ADAM.update(g, state.adam, state.z)
    z_acc = project(state.z - state.lr * state.scale * upd, problem.zbudget)
    z_rej = project(state.z_good + 0.5 * (state.z - state.z_good), problem.zbudget)
    better = good & (J < state.best_J)
    pick = lambda a, b: jax.tree_util.tree_map(lambda x, y: jnp.where(good, x, y), a, b)  # noqa: E731
    return MPCState(
        z=jnp.where(good, z_acc, z_rej),
        z_good=jnp.where(good, state.z, state.z_good),
        adam=pick(adam_new, state.adam),
        scale=jnp.where(good, jnp.minimum(1.0, 1.25 * state.scale), 0.5 * state.scale),
        best_z=jnp.where(better, state.z, state.best_z),
        best_J=jnp.where(better, J, state.best_J),
        J=jnp.where(good, J, jnp.nan),
        n_rejected=state.n_rejected + jnp.where(good, 0, 1),
        lr=state.lr,
    )


def make_mpc(problem: MPCProblem, lr: float = 0.05):
    """Algorithm 2 as a pure pair: ``init(z0) -> state``, ``step(state, thetas (S,P), w (S,)) -> state``.

    ``step`` is compiled once per problem structure and ensemble shape (see ``TRACE_COUNTS``).
    """
    return (lambda z0: _init(problem, z0, lr)), (lambda state, thetas, w: _step(problem, state, thetas, w))


@eqx.filter_jit
def _rollout_jit(problem: MPCProblem, u, thetas):
    TRACE_COUNTS["rollout"] += 1
    return rollout(problem, u, thetas)


def _costs_from_states(problem: MPCProblem, X, u):
    """:func:`draw_costs` from rollout states X (K·S, T+1, C, n) already computed (NumPy; saves
    compiling a second solver program next to ``_rollout_jit``)."""
    X = np.asarray(X)
    x = X[:, 1:][:, :, list(problem.cell_idx), list(problem.species_idx)]  # (KS, T, k)
    lo, hi, q = (np.asarray(a) for a in (problem.t_lo, problem.t_hi, problem.q))
    with np.errstate(invalid="ignore"):
        d = np.maximum(lo - x, 0.0) + np.maximum(x - hi, 0.0)
        track = np.sum(q * d**2, axis=(1, 2))
    return track + float(np.sum(np.asarray(problem.R) * np.asarray(u) ** 2))


# ---------------------------------------------------------------------------------------------- plan
@dataclass
class Plan:
    """A control plan and its predicted outcome under the posterior.

    times : (T+1,) absolute interval edges; ``u`` (T, m) holds on [times[t], times[t+1]).
    success_probability : P(every target term is inside its tolerance at times[-1]), the weighted
        fraction of ensemble rollouts (failed rollouts count as failures).
    bands : {"species@cell": {"q05", "q25", "q50", "q75", "q95", "mean": (T+1,) lists}}.
    energy : Σ_t ‖u_t‖² dt = ∫ ‖u(t)‖² dt over the horizon (in units of u² · time).
    dose : per-channel Σ_t u_t dt.
    cost_history : the risk objective at each optimiser iterate (None where the step was rejected).
    n_failed : ensemble rollouts that fail (NaN) under the returned plan (counted as failures).
    n_rejected : optimiser steps rejected for a non-finite objective/gradient (backed off).
    n_dropped : optimisation draws given weight 0 because their rollout failed (under the initial
        controls, or at a rejected iterate while other draws still solved).
    """

    times: np.ndarray
    u: np.ndarray
    channels: tuple
    success_probability: float
    bands: dict
    energy: float
    dose: dict
    cost_history: list
    risk: dict
    target: tuple
    mode: str = "robust"
    objective: float = float("nan")
    expected_cost: float = float("nan")
    n_draws: int = 0
    n_members: int = 1
    n_failed: int = 0
    n_rejected: int = 0
    n_dropped: int = 0
    iterations: int = 0
    dt: float = float("nan")
    bounds: dict = field(default_factory=dict)
    budget: dict = field(default_factory=dict)
    final_values: dict = field(default_factory=dict)
    pathway: str = ""

    @property
    def horizon(self) -> int:
        return int(self.u.shape[0])

    @property
    def t_start(self) -> float:
        return float(self.times[0])

    def schedule(self, default) -> Schedule:
        return Schedule(jnp.asarray(self.times), jnp.asarray(self.u), jnp.asarray(default, float))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["times"] = np.asarray(self.times).tolist()
        d["u"] = np.asarray(self.u).tolist()
        d["channels"] = list(self.channels)
        d["target"] = target_to_json(self.target)
        d["cost_history"] = [None if (v is None or not np.isfinite(v)) else float(v) for v in self.cost_history]
        d["budget"] = {k: (None if not np.isfinite(v) else float(v)) for k, v in self.budget.items()}
        return _finite_or_none(d)

    def to_json(self, path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_json(cls, path) -> Plan:
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
        d["times"] = np.asarray(d["times"], float)
        d["u"] = np.asarray(d["u"], float)
        d["channels"] = tuple(d["channels"])
        d["target"] = target_from_json(d["target"])
        d["budget"] = {k: (np.inf if v is None else v) for k, v in d["budget"].items()}
        for k in ("objective", "expected_cost", "success_probability", "energy"):
            d[k] = float("nan") if d[k] is None else d[k]
        d["bands"] = {lab: {q: [np.nan if v is None else v for v in vals] for q, vals in b.items()}
                      for lab, b in d["bands"].items()}
        d["final_values"] = {lab: [np.nan if v is None else v for v in vals] for lab, vals in d["final_values"].items()}
        return cls(**d)


# ------------------------------------------------------------------------------------------ helpers
def _finite_or_none(obj):
    """Strict JSON has no NaN/inf: map them to null (failed rollouts, an absent budget)."""
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _t_start_from(idata) -> float:
    obs = getattr(idata, "observed_data", None) if hasattr(idata, "groups") else None
    if obs is not None and "time" in obs.coords and obs.sizes.get("time", 0) > 0:
        return float(np.max(obs["time"].values))
    return 0.0


def past_arrays(pathway, t_start: float, past=None, capacity: int | None = None):
    """Left edges (Kp,) and values (Kp, m) of the control applied on [0, t_start).

    ``past``: None (pathway default), a constant (dict channel -> value or (m,) array), or a pair
    (edges (K+1,), values (K, m)) with edges[0] ≥ 0 and edges[-1] == t_start. The history is
    padded (with default-valued intervals at negative times, which the solver never visits) to
    ``capacity`` intervals (default: the next power of two ≥ 4) so that re-plans with a growing
    history reuse one compilation; ``capacity=0`` disables padding.
    """
    m = len(pathway.control_channels)
    default = np.asarray(pathway.control_default, float)
    if past is None or isinstance(past, dict) or (not isinstance(past, tuple) and np.ndim(past) == 1):
        if past is None:
            v = default
        elif isinstance(past, dict):
            v = default.copy()
            for k, val in past.items():
                if k not in pathway.control_channels:
                    raise ValueError(f"past: unknown control channel {k!r}; {pathway.name} has "
                                     f"{list(pathway.control_channels)}")
                v[pathway.control_channels.index(k)] = float(val)
        else:
            v = np.asarray(past, float)
            if v.shape != (m,):
                raise ValueError(f"past: a constant control has shape ({m},), got {v.shape}")
        edges = np.array([0.0, t_start]) if t_start > 0 else np.array([0.0])
        values = v[None, :] if t_start > 0 else np.zeros((0, m))
    else:
        edges, values = (np.asarray(a, float) for a in past)
        if edges.ndim != 1 or values.shape != (edges.size - 1, m):
            raise ValueError(f"past: expected edges (K+1,) and values (K, {m}); got {edges.shape}, {values.shape}")
        if edges.size > 1 and (edges[0] < 0 or np.any(np.diff(edges) <= 0) or abs(edges[-1] - t_start) > 1e-9):
            raise ValueError(f"past: edges must increase from >= 0 to t_start={t_start}; got {edges.tolist()}")
    left = edges[:-1]
    if capacity is None:
        # Round the history length up to a power of two (≥ 4) so that plans with short or
        # growing histories share one compiled step.
        capacity = max(4, 1 << int(np.ceil(np.log2(max(left.size, 1)))))
    if capacity:
        pad = int(capacity) - left.size
        if pad < 0:
            raise ValueError(f"past: {left.size} intervals exceed capacity {capacity}")
        left = np.concatenate([-1.0 - np.arange(pad, 0, -1, dtype=float), left])
        values = np.concatenate([np.tile(default, (pad, 1)), values], axis=0)
    return left, values


def build_problem(forward, target, *, horizon: int, dt: float, t_start: float, past=None,
                  past_capacity=None, bounds=None, budget=None, risk="mean", kappa=1.0, alpha=0.9,
                  R=1e-2, warm_start=False):
    """Validate the control settings and assemble the :class:`MPCProblem` and its constraints."""
    pw = forward.pathway
    horizon = int(horizon)
    if horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon}")
    dt = float(dt)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0, got {dt}")
    t_start = float(t_start)
    if not (np.isfinite(t_start) and t_start >= 0):
        raise ValueError(f"t_start must be finite and >= 0, got {t_start}")
    terms = parse_target(pw, target)
    cons = make_constraints(pw, horizon, dt, bounds, budget)
    rsk = make_risk(risk, kappa, alpha)
    m = len(pw.control_channels)
    Rv = np.broadcast_to(np.asarray(R, float), (m,)) if np.ndim(R) <= 1 else None
    if Rv is None or not np.all(np.isfinite(Rv)) or np.any(Rv < 0):
        raise ValueError(f"R must be a number or a ({m},) vector of finite values >= 0 (diagonal of R)")
    left, values = past_arrays(pw, t_start, past, past_capacity)
    warm = ()
    if warm_start:
        members = _members(forward)
        if not all(hasattr(f, "predict_from") and hasattr(f, "node_of") for f in members):
            raise ValueError("warm_start=True needs a forward model that can restart from a stored state "
                             "(HybridSurrogate of a spatial pathway)")
        warm = (members[0].node_of(t_start),)
    problem = MPCProblem(
        forward=forward,
        edges_past=jnp.asarray(left), values_past=jnp.asarray(values),
        plan_edges=jnp.asarray(t_start + dt * np.arange(horizon + 1)),
        default=jnp.asarray(pw.control_default, float),
        lo=jnp.asarray(cons.lo), width=jnp.asarray(cons.width), zbudget=jnp.asarray(cons.zbudget),
        R=jnp.asarray(np.array(Rv)),
        t_lo=jnp.asarray([t.lo for t in terms]), t_hi=jnp.asarray([t.hi for t in terms]),
        q=jnp.asarray([t.weight for t in terms]),
        cell_idx=tuple(t.cell for t in terms),
        species_idx=tuple(pw.species.index(t.species) for t in terms),
        risk=rsk,
        warm=warm,
    )
    return problem, cons, terms


def evaluate_plan(problem: MPCProblem, u, ens: Ensemble, terms):
    """Outcome distribution of controls ``u`` over the ensemble: bands, success probability, costs."""
    X = np.asarray(_rollout_jit(problem, jnp.asarray(u), jnp.asarray(ens.theta)))  # (KS, T+1, C, S)
    K = len(_members(problem.forward))
    w = np.tile(ens.weights, K) / K
    ok = np.all(np.isfinite(X), axis=(1, 2, 3))
    bands, finals = {}, {}
    success = ok.copy()
    for t in terms:
        x = X[:, :, t.cell, problem.forward.pathway.species.index(t.species)]  # (KS, T+1)
        xf = x[ok]
        wf = w[ok] / max(w[ok].sum(), 1e-300)
        b = {f"q{int(round(100 * q)):02d}": _wquantile(xf, wf, q).tolist() for q in QUANTILES}
        b["mean"] = (wf @ xf).tolist() if xf.size else [float("nan")] * x.shape[1]
        bands[t.label] = b
        finals[t.label] = x[:, -1].tolist()
        with np.errstate(invalid="ignore"):
            success &= (x[:, -1] >= t.ok_lo - 1e-12) & (x[:, -1] <= t.ok_hi + 1e-12)
    J = _costs_from_states(problem, X, u)
    Jok = np.isfinite(J)
    exp_cost = float(np.sum(w[Jok] * J[Jok]) / max(w[Jok].sum(), 1e-300)) if Jok.any() else float("nan")
    return dict(success_probability=float(np.sum(w * success)), bands=bands, final_values=finals,
                n_failed=int(np.sum(~ok)), expected_cost=exp_cost, states=X, weights=w)


def _wquantile(x, w, q):
    """Weighted quantile along axis 0 of x (N, T) (inverse of the weighted empirical CDF)."""
    if x.shape[0] == 0:
        return np.full(x.shape[1:], np.nan)
    order = np.argsort(x, axis=0)
    xs = np.take_along_axis(x, order, axis=0)
    cw = np.cumsum(w[order], axis=0)
    idx = np.argmax(cw >= q - 1e-12, axis=0)
    return xs[idx, np.arange(x.shape[1])]


def optimise(problem: MPCProblem, cons: Constraints, thetas, w, *, u0, iters: int, lr: float):
    """Run Algorithm 2; returns (best u (T, m), history (iters,), n_rejected, n_dropped).

    A rejected step (non-finite objective or gradient) backs off (see :func:`_step`). If the failure
    comes from some draws only (a forward model that fails for part of the posterior under these
    controls, e.g. a surrogate outside its training range), those draws are dropped from the
    optimisation (weight 0) so the remaining ensemble can still make progress; the plan's outcome
    evaluation still counts them as failures.
    """
    init, step = make_mpc(problem, lr)
    state = init(cons.to_z(u0))
    thetas, w = np.asarray(thetas, float).copy(), np.asarray(w, float).copy()
    K = len(_members(problem.forward))
    hist, n_dropped = [], 0
    for _ in range(int(iters)):
        z_eval = state.z
        state = step(state, jnp.asarray(thetas), jnp.asarray(w))
        J = float(state.J)
        hist.append(J)
        if not np.isfinite(J) and np.count_nonzero(w) > 1:
            u_bad = np.asarray(cons.to_u(z_eval))
            Jd = _costs_from_states(problem, _rollout_jit(problem, jnp.asarray(u_bad), jnp.asarray(thetas)), u_bad)
            okd = np.all(np.isfinite(Jd.reshape(K, -1)), axis=0)
            bad = (~okd) & (w > 0)
            if bad.any() and (okd & (w > 0)).any():
                thetas[bad] = thetas[np.flatnonzero(okd & (w > 0))[0]]
                w = np.where(bad, 0.0, w)
                w = w / w.sum()
                n_dropped += int(bad.sum())
    if not np.isfinite(float(state.best_J)):
        # every iterate failed: fall back to the (finite, projected) starting point
        best = state.z_good
    else:
        best = state.best_z
    u = np.asarray(cons.to_u(best))
    u = np.clip(u, cons.lo, cons.hi)
    return u, hist, int(state.n_rejected), n_dropped


def _usable(problem, thetas, w, u0):
    """Give weight 0 to draws whose rollout fails under the initial controls (and replace their θ by
    a working draw so the ensemble keeps its shape; 0 × NaN would still poison the objective)."""
    X = _rollout_jit(problem, jnp.asarray(u0), jnp.asarray(thetas))
    J = _costs_from_states(problem, X, u0)
    K = len(_members(problem.forward))
    okd = np.all(np.isfinite(J.reshape(K, -1)), axis=0)
    if not okd.any():
        raise ValueError("every ensemble draw fails to solve under the initial controls; "
                         "check the posterior, the bounds and the forward model's max_steps")
    th = np.asarray(thetas).copy()
    th[~okd] = th[np.flatnonzero(okd)[0]]
    w = np.where(okd, w, 0.0)
    return th, w / w.sum(), int(np.sum(~okd))


# --------------------------------------------------------------------------------------- public API
def robust_mpc(forward, idata, target, horizon: int = 20, dt: float | None = None, *,
               risk: str = "mean", kappa: float = 1.0, alpha: float = 0.9, draws: int = 64,
               nominal: bool = False, bounds=None, budget=None, R=1e-2, iters: int = 200,
               lr: float = 0.05, t_start: float | None = None, past=None, u0=None, seed: int = 0,
               warm_start: bool = False, _past_capacity: int | None = None) -> Plan:
    r"""Robust MPC plan (Algorithm 2 over a posterior ensemble); see the module docstring for J.

    Parameters
    ----------
    forward : ForwardModel (mechanistic or surrogate; a ``members`` tuple adds K surrogate members).
    idata : arviz.InferenceData from ``pb.fit`` (or an :class:`Ensemble`, or (S, P) θ draws).
    target : dict, see :mod:`pbhno_bayes.control.target` (``{"Z": 0.3}``, ``{"H@1": (1.5, 2.5)}``).
    horizon : T, number of control intervals (Table II: 20).
    dt : interval length; default ``pathway.t_end / horizon``.
    risk : "mean", "mean_std" (κ = ``kappa``) or "cvar" (α = ``alpha``).
    draws : S, posterior draws used (seeded random subset).
    nominal : optimise on the posterior mean of log θ only (nominal MPC); the plan's outcome
        distribution is still evaluated on the S draws, so both kinds of plan are comparable.
    bounds : dict channel -> (lo, hi) inside the pathway's ``control_bounds`` (default those).
    budget : total dose Σ_t u_t dt ≤ B per channel (dict channel -> B; a number for one channel).
    R : diagonal of R (number or (m,)); Q is set per target term via its ``weight``.
    iters, lr : projected-Adam iterations and step size (in units of each channel's range).
    t_start : start of the horizon; default the last observation time in ``idata`` (0 without).
    past : control applied on [0, t_start) (see :func:`past_arrays`); default the pathway default.
    u0 : initial controls (T, m); default the pathway default clipped into the bounds.
    seed : selects the draws.
    warm_start : for a surrogate of a spatial pathway (``predict_from``) with ``t_start`` on its
        time grid: each iteration rolls the draws to ``t_start`` without gradients and
        differentiates only the plan window (about half the cost of an iteration when
        t_start = T/2). The compiled step is then specific to this ``t_start`` (a re-plan at another
        start recompiles), so it is off by default. The objective values are identical; the gradient
        drops the path through the last pre-plan macro step, whose end-point stage reads u_0 (a
        discretisation artefact: the true state at t_start does not depend on the plan), so plans
        agree closely but not bit for bit.

    Returns
    -------
    Plan
    """
    pw = forward.pathway
    horizon = int(horizon)
    if horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon}")
    dt = pw.t_end / horizon if dt is None else dt
    iters = int(iters)
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr}")
    if t_start is None:
        t_start = _t_start_from(idata)
    problem, cons, terms = build_problem(forward, target, horizon=horizon, dt=dt, t_start=t_start, past=past,
                                         past_capacity=_past_capacity, bounds=bounds, budget=budget,
                                         risk=risk, kappa=kappa, alpha=alpha, R=R, warm_start=warm_start)
    t_end_plan = float(problem.plan_edges[-1])
    for f in (forward, *_members(forward)):
        h = getattr(f, "horizon", None)
        if isinstance(h, (int, float)) and t_end_plan > h + 1e-9:
            raise ValueError(f"the plan ends at t = {t_end_plan:g}, beyond the forward model's horizon {h:g} "
                             "(a surrogate cannot extrapolate in time); use an earlier t_start, a smaller "
                             "horizon or dt, or a surrogate trained on a longer horizon")
    ens = posterior_ensemble(pw, idata, draws=draws, seed=seed)
    m = len(pw.control_channels)
    if u0 is None:
        u0 = np.tile(np.clip(np.asarray(pw.control_default, float), cons.lo, cons.hi), (horizon, 1))
    else:
        u0 = np.asarray(u0, float)
        if u0.shape != (horizon, m) or not np.all(np.isfinite(u0)):
            raise ValueError(f"u0 must be a finite ({horizon}, {m}) array, got shape {u0.shape}")
    u0 = np.asarray(cons.to_u(project(cons.to_z(u0), cons.zbudget)))
    if nominal:
        opt_theta, opt_w = ens.mean_theta(), np.ones(1)
    else:
        opt_theta, opt_w = ens.theta, ens.weights
    opt_theta, opt_w, n_unusable = _usable(problem, opt_theta, opt_w, u0)
    u, hist, n_rej, n_drop = optimise(problem, cons, opt_theta, opt_w, u0=u0, iters=iters, lr=lr)
    ev = evaluate_plan(problem, u, ens, terms)
    finite = [h for h in hist if np.isfinite(h)]
    return Plan(
        times=np.asarray(problem.plan_edges), u=u, channels=tuple(pw.control_channels),
        success_probability=ev["success_probability"], bands=ev["bands"],
        energy=float(np.sum(u**2) * dt), dose={c: float(u[:, i].sum() * dt) for i, c in enumerate(pw.control_channels)},
        cost_history=hist, risk=problem.risk.to_json(), target=terms, mode="nominal" if nominal else "robust",
        objective=float(min(finite)) if finite else float("nan"), expected_cost=ev["expected_cost"],
        n_draws=ens.size, n_members=len(_members(forward)), n_failed=ev["n_failed"], n_rejected=n_rej,
        n_dropped=n_unusable + n_drop,
        iterations=iters, dt=float(dt),
        bounds={c: [float(cons.lo[i]), float(cons.hi[i])] for i, c in enumerate(pw.control_channels)},
        budget={c: float(cons.budget[i]) for i, c in enumerate(pw.control_channels)},
        final_values=ev["final_values"], pathway=pw.name,
    )
