"""Training the hybrid surrogate on reference-solver data (paper eq 7, Algorithm 1).

Data: θ drawn from the pathway prior (all free parameters), random piecewise-constant control
schedules with edges on the macro grid (train / validation / test), plus a *counterfactual* test
set of periodic on/off pulse trains (6 segments, amplitudes near the top of the control bounds)
that the training schedules (≤ 3 segments; opt-in ``schedules="mixed"``: 1–8 segments of random
length with extreme values, still never periodic) do not contain. ``n_val_counterfactual`` adds
pulse trains of another seed to the validation set, which then scores the worse of the two groups
relative to the physics predictor. Every trajectory is the reference
solver (:class:`pb.MechanisticModel`, same grid) saved at the macro nodes t_k = kΔt, including
the source-labelled field components.

Loss (eq 7) on a minibatch of B windows of r macro steps, teacher-forced from the true state at a
random node (r = 1 for the first ``curriculum`` fraction of steps, then r = ``rollout``; with
``rollout`` = K, the number of macro steps, and ``curriculum=0`` every window is the whole trajectory
from t = 0, which is what made the Wnt kinetics correction beat the physics predictor, see
reports/surrogate.md)::

    L = λ_y [ Σ_s w_s mean((x̂_s − x_s)/σ_s)² + mean((L̂ − L)/s_L)² ]
      + λ_PDE mean(R_PDE / s_L)²      R_PDE = (L̂_{k+1} − L̂_k)/Δt − ½(𝒩(L̂_k, x̂_k) + 𝒩(L̂_{k+1}, x̂_{k+1}))
      + λ_ODE mean(R_ODE / σ)²        R_ODE = (x̂_{k+1} − x̂_k)/Δt − ½(f_mech,k + f_mech,k+1)
      + λ_op R_op                     (eq 6, :class:`CouplingOperators`)

with 𝒩 the discrete PDE right-hand side, σ_s per-species scales, w_s the sensitivity weights
(``sens_weights``, uniform by default: the plug point for the identifiability stage). θ is not
trained here (the surrogate is amortised over the prior), so eq 7's λ_θ term is absent. The
trapezoidal residuals are not zero for the exact solution at macro step Δt (O(Δt²) truncation),
so λ_PDE, λ_ODE default to 1e-6 rather than Table II's 1: on Notch at Δt = 0.5 the reference
trajectory's own PDE residual is ~10³ × the data term, and λ_PDE = 1e-3 already made the PDE
term dominate and pulled the rollout off the solver (validation error 0.69 vs 0.05 untrained).

``physics=False`` (the "FNO without physics" baseline) is trained on data only: λ_PDE = λ_ODE = 0,
since both residuals use the mechanistic right-hand sides.

Steps with a non-finite gradient are skipped (``optax.apply_if_finite``). The model is evaluated
on the validation set before the first step, so early stopping never returns a surrogate worse
than its physics predictor.

Optimiser: Adam, cosine-decayed learning rate, global-norm gradient clipping. Early stopping on
the validation rollout loss (full horizon); the best parameters are returned. Checkpoints every
``checkpoint_every`` steps hold (params, optimiser state, RNG key, step, best params, best loss,
patience counter); the minibatch of step t uses ``fold_in(key, t)``, so a resumed run is
bit-identical to an uninterrupted one. ``settings.json`` beside them records every setting that
decides the result; a directory is refused when its cached datasets were made with other data
settings, or when a checkpoint would be resumed with other optimiser/model settings (it would
otherwise continue silently under the new ones).
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._io import atomic_path, atomic_write_text
from ..pathways.base import Pathway, Schedule
from ..pathways.geometry import laplacian_neumann
from ..simulate.solver import MechanisticModel
from .hybrid import EXCHANGES, HybridSurrogate, _exactly_zero, _with_static, default_dt

__all__ = ["train_surrogate", "make_dataset", "evaluate", "TrainResult"]

FREEZABLE = ("fno", "corr", "ops")
DATA_NORMS = ("global", "trajectory")


# ----------------------------------------------------------------------------- data
SCHEDULES = ("simple", "mixed")
_MIXED_J = 8


def _random_schedules(pw: Pathway, n, K, dt, rng, counterfactual=False, kind="simple"):
    """Piecewise-constant schedules with edges on the macro grid: (edges (n, J+1), values (n, J, ch)).

    ``kind="simple"``: ≤ 3 segments, each channel at its default or uniform in its bounds.
    ``kind="mixed"`` (training only, opt-in): 1–8 segments of random length (unused segments have
    zero length at the end), each channel per segment at its default (1/3), uniform in its bounds
    (1/3) or at an extreme (1/3: the lower bound, or within the top 20 % of the range). It
    covers switching rates and amplitudes the simple design rarely draws, but not the periodic
    pulse trains of the counterfactual set."""
    lo = np.array([b[0] for b in pw.control_bounds])
    hi = np.array([b[1] for b in pw.control_bounds])
    dflt = np.asarray(pw.control_default, float)
    nch = len(dflt)
    if kind not in SCHEDULES:
        raise ValueError(f"schedules must be one of {list(SCHEDULES)}, got {kind!r}")
    if kind == "mixed" and not counterfactual:
        J = _MIXED_J
        edges = np.zeros((n, J + 1))
        vals = np.zeros((n, J, nch))
        for i in range(n):
            j = int(rng.integers(1, min(J, K) + 1))
            cut = np.sort(rng.choice(np.arange(1, K), size=j - 1, replace=False)) if j > 1 else np.zeros(0)
            e = np.concatenate([[0], cut, np.full(J - j + 1, K)])
            edges[i] = e * dt
            pick = rng.integers(0, 3, size=(J, nch))
            unif = lo + rng.random((J, nch)) * (hi - lo)
            top = lo + (0.8 + 0.2 * rng.random((J, nch))) * (hi - lo)
            ext = np.where(rng.random((J, nch)) < 0.5, lo, top)
            vals[i] = np.where(pick == 0, dflt, np.where(pick == 1, unif, ext))
        return edges, vals
    if counterfactual:
        J = 6
        edges = np.zeros((n, J + 1))
        vals = np.zeros((n, J, nch))
        for i in range(n):
            period = rng.integers(2, max(3, K // 6))
            start = rng.integers(1, max(2, K // 6))
            e = np.minimum(start + period * np.arange(J + 1), K)
            e[0] = 0
            edges[i] = np.maximum.accumulate(e) * dt
            amp = lo + (0.8 + 0.2 * rng.random(nch)) * (hi - lo)
            base = np.where(rng.random(nch) < 0.5, dflt, lo)
            vals[i] = np.where((np.arange(J) % 2 == 1)[:, None], amp, base)
        return edges, vals
    J = 3
    edges = np.zeros((n, J + 1))
    vals = np.zeros((n, J, nch))
    for i in range(n):
        cut = np.sort(rng.choice(np.arange(1, K), size=J - 1, replace=False))
        edges[i] = np.concatenate([[0], cut, [K]]) * dt
        v = lo + rng.random((J, nch)) * (hi - lo)
        keep = rng.random((J, nch)) < 0.5  # half the time a channel stays at its default
        vals[i] = np.where(keep, dflt, v)
    return edges, vals


# Step budget of the reference solves that make the training / test data. The MOL system is stiff
# where the prior puts D_L (Notch) high: explicit Tsit5 needs ~D·8/h² stability-limited steps, and
# θ 2–3 prior sd out (e.g. D_L = 0.13 at grid 32) exceed MechanisticModel's default 16384 steps and
# came back NaN; those draws were then silently dropped from the data, biasing it. 2**18 covers the
# whole ±3 sd prior box (a while loop: unused budget costs nothing).
REFERENCE_MAX_STEPS = 2**18


def reference_model(pw: Pathway) -> MechanisticModel:
    """The reference solver used for surrogate data and accuracy checks (Tsit5, rtol 1e-6,
    atol 1e-8, ``REFERENCE_MAX_STEPS``)."""
    return MechanisticModel(pw, max_steps=REFERENCE_MAX_STEPS)


@functools.lru_cache(maxsize=16)
def _reference_nodes(pw: Pathway, dt: float, K: int):
    """jit(vmap) function (θ, edges, values) -> (L (K+1, F, n, n) or None, x (K+1, C, S), ok)."""
    fm = reference_model(pw)
    ts = jnp.arange(K + 1) * dt
    dflt = jnp.asarray(pw.control_default, float)

    def one(theta, edges, values):
        sched = Schedule(edges, values, dflt)
        y0 = fm.initial_state(theta)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(fm.vector_field), diffrax.Tsit5(), t0=0.0, t1=ts[-1], dt0=None, y0=y0,
            args=(theta, sched), saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=fm.rtol, atol=fm.atol, jump_ts=edges),
            max_steps=fm.max_steps, throw=False)
        ok = sol.result == diffrax.RESULTS.successful
        if pw.spatial:
            return sol.ys[0], sol.ys[1], ok
        return jnp.zeros((K + 1, 1, 1, 1)), sol.ys, ok

    return jax.jit(jax.vmap(one))


def make_dataset(pw: Pathway, n, *, dt=None, horizon=None, seed=0, counterfactual=False, chunk=16,
                 schedules="simple"):
    """Reference trajectories at the macro nodes. Returns a dict of numpy arrays:
    theta (n, P), edges (n, J+1), values (n, J, ch), L (n, K+1, F, n, n), x (n, K+1, C, S), and
    dt (the node spacing: node k is at t = k·dt).
    Failed solves are dropped (and counted in ``n_failed``). ``schedules``: the control design
    (see :func:`_random_schedules`; ignored for the counterfactual pulse trains)."""
    dt = float(dt if dt is not None else default_dt(pw))
    horizon = float(horizon if horizon is not None else pw.t_end)
    K = int(np.ceil(horizon / dt - 1e-9))
    rng = np.random.default_rng(seed)
    theta = np.tile(pw.theta_vector(None), (n, 1))
    idx = [pw.param_names.index(f) for f in pw.free]
    theta[:, idx] = np.exp(pw.prior.sample(n, rng=rng))
    edges, vals = _random_schedules(pw, n, K, dt, rng, counterfactual, schedules)
    f = _reference_nodes(pw, dt, K)
    Ls, xs, oks = [], [], []
    for s in range(0, n, chunk):
        L, x, ok = f(jnp.asarray(theta[s:s + chunk]), jnp.asarray(edges[s:s + chunk]), jnp.asarray(vals[s:s + chunk]))
        Ls.append(np.asarray(L))
        xs.append(np.asarray(x))
        oks.append(np.asarray(ok))
    L, x, ok = np.concatenate(Ls), np.concatenate(xs), np.concatenate(oks)
    ok &= np.all(np.isfinite(x.reshape(n, -1)), axis=1) & np.all(np.isfinite(L.reshape(n, -1)), axis=1)
    return {"theta": theta[ok], "edges": edges[ok], "values": vals[ok], "L": L[ok], "x": x[ok],
            "n_failed": int((~ok).sum()), "dt": dt}


# ----------------------------------------------------------------------------- loss
def _pde_rhs(model: HybridSurrogate, L, x, p, u):
    """Discrete right-hand side 𝒩(L, x) of the field PDE, (F, n, n)."""
    pw = model.pathway
    D, lam, kb, sink, src = model._field_inputs(x, p, u)
    lap = jax.vmap(laplacian_neumann, in_axes=(0, None))(L, pw.geometry.h)
    return D * lap - (lam + sink) * L + src


def _window_loss(model: HybridSurrogate, theta, edges, values, L, x, k0, r, weights, data_norm="global", out=None):
    """Loss terms for one trajectory window of r steps from node k0. L (K+1,F,n,n), x (K+1,C,S).
    ``out``: the window's rollout ``model.advance(...)`` if already computed (tests)."""
    pw = model.pathway
    sched = Schedule(edges, values, jnp.asarray(pw.control_default, theta.dtype))
    xs_ = jnp.asarray(model.x_scale, theta.dtype)
    Lw = jax.lax.dynamic_slice_in_dim(L, k0, r + 1)
    xw = jax.lax.dynamic_slice_in_dim(x, k0, r + 1)
    if out is None:
        out = model.advance(theta, sched, Lw[0], xw[0], k0, r)
    if data_norm == "trajectory":
        # each trajectory's own RMS per species (and of its field), as in the relative-L2 metric,
        # floored at 1e-3 of the global scale so a near-zero trajectory cannot dominate
        dx = jnp.maximum(jnp.sqrt(jnp.mean(x ** 2, axis=(0, 1))), 1e-3 * xs_)
        dL = jnp.maximum(jnp.sqrt(jnp.mean(L ** 2)), 1e-3 * model.field_scale)
    else:
        dx, dL = xs_, model.field_scale
    ex = ((out["x"] - xw[1:]) / dx) ** 2
    data = jnp.mean(jnp.mean(ex, axis=(0, 1)) * weights) + jnp.mean(((out["L"] - Lw[1:]) / dL) ** 2)
    p = pw.params(theta)
    Lp = jnp.concatenate([Lw[:1], out["L"]])
    xp = jnp.concatenate([xw[:1], out["x"]])
    ts = (k0 + jnp.arange(r + 1)) * model.dt
    us = jax.vmap(sched)(ts[:-1] + 0.5 * model.dt)
    N = jax.vmap(lambda L_, x_, u_: _pde_rhs(model, L_, x_, p, u_))
    N0, N1 = N(Lp[:-1], xp[:-1], us), N(Lp[1:], xp[1:], us)
    rpde = (Lp[1:] - Lp[:-1]) / model.dt - 0.5 * (N0 + N1)
    pde = jnp.mean((rpde / model.field_scale) ** 2)
    fm = jax.vmap(lambda L_, x_, u_: pw.cell_rhs(x_, model.ell(L_), p, u_))
    rode = (xp[1:] - xp[:-1]) / model.dt - 0.5 * (fm(Lp[:-1], xp[:-1], us) + fm(Lp[1:], xp[1:], us))
    ode = jnp.mean((rode / xs_) ** 2)
    return data, pde, ode


def _relative_errors(pred, true, species_idx):
    """Relative L2 error per trajectory and species over (time, cell): (N, len(species_idx))."""
    d = pred[..., species_idx] - true[..., species_idx]
    return np.linalg.norm(d, axis=(1, 2)) / np.maximum(np.linalg.norm(true[..., species_idx], axis=(1, 2)), 1e-12)


@eqx.filter_jit
def _roll(model, th, e, v, ts, dflt):
    return jax.vmap(lambda a, b, c: model._solve(a, ts, Schedule(b, c, dflt)))(th, e, v)


def evaluate(model: HybridSurrogate, data: dict, species=None, chunk=16) -> dict:
    """Full-horizon rollouts vs the reference at the data's nodes t = k·``data["dt"]`` (a dataset
    without ``dt``, cached before it was recorded, is taken to be on the model's own macro nodes).
    A model rolled out with another macro step (``with_macro_step``) is compared at the data's
    times, interpolated between its own nodes.

    Returns rel_err (N, S_obs) (relative L2 over time × cells per trajectory and species),
    field_err (N,) (relative L2 of the total field over time × space), and their median / p95.
    """
    pw = model.pathway
    species = tuple(species or pw.default_observe or pw.species)
    sidx = [pw.species.index(s) for s in species]
    K = data["x"].shape[1] - 1
    ts = jnp.arange(K + 1) * (float(data["dt"]) if "dt" in data else model.dt)
    if float(ts[-1]) > model.horizon + 1e-9:
        raise ValueError(f"evaluate: the data run to t = {float(ts[-1]):g}, beyond the model's horizon {model.horizon:g}")
    dflt = jnp.asarray(pw.control_default, float)
    preds, fields = [], []
    for s in range(0, len(data["theta"]), chunk):
        o = _roll(model, jnp.asarray(data["theta"][s:s + chunk]), jnp.asarray(data["edges"][s:s + chunk]),
                  jnp.asarray(data["values"][s:s + chunk]), ts, dflt)
        preds.append(np.asarray(o["states"]))
        fields.append(np.asarray(o["field"]) if o["field"] is not None else None)
    pred = np.concatenate(preds)
    rel = _relative_errors(pred, data["x"], sidx)
    res = {"species": list(species), "rel_err": rel, "median": float(np.nanmedian(rel)),
           "p95": float(np.nanpercentile(rel, 95)), "per_species_rms": np.sqrt(np.nanmean(rel**2, axis=0))}
    allidx = list(range(pw.n_species))
    res["per_species_rms_all"] = np.sqrt(np.nanmean(_relative_errors(pred, data["x"], allidx) ** 2, axis=0))
    if pw.spatial:
        field = np.concatenate(fields)
        true = data["L"].sum(axis=2)
        fe = np.linalg.norm((field - true).reshape(len(true), -1), axis=1) / np.linalg.norm(true.reshape(len(true), -1), axis=1)
        res.update(field_err=fe, field_median=float(np.nanmedian(fe)), field_p95=float(np.nanpercentile(fe, 95)))
    return res


# ----------------------------------------------------------------------------- training
@functools.lru_cache(maxsize=8)
def _optimizer(lr: float, steps: int, clip: float, warmup: int = 0):
    """(optax transformation, lr schedule), cached so repeated runs in one process share the
    compiled train step (:func:`_train_step` is keyed on the transformation's identity).
    ``warmup`` > 0: the rate rises linearly from 0 to ``lr`` over that many steps, then decays
    (cosine) to 0 at ``steps``; 0 is the plain cosine decay from ``lr``."""
    if warmup:
        sched_lr = optax.warmup_cosine_decay_schedule(0.0, lr, warmup, steps)
    else:
        sched_lr = optax.cosine_decay_schedule(lr, steps)
    opt = optax.apply_if_finite(optax.chain(optax.clip_by_global_norm(clip), optax.adam(sched_lr)), 10)
    return opt, sched_lr


def _loss_weights(physics: bool, lam_y, lam_pde, lam_ode, lam_op) -> tuple:
    """(λ_y, λ_PDE, λ_ODE, λ_op) as used; the no-physics baseline is trained on data only (its
    PDE / ODE residual weights are 0: both residuals use the mechanistic right-hand sides)."""
    if not physics:
        lam_pde = lam_ode = 0.0
    return (float(lam_y), float(lam_pde), float(lam_ode), float(lam_op))


def _loss_fn(params, static, data, idx, k0, r, weights, lams, data_norm="global"):
    m = eqx.combine(params, static)
    f = jax.vmap(lambda i, k: _window_loss(m, data["theta"][i], data["edges"][i], data["values"][i],
                                            data["L"][i], data["x"][i], k, r, weights, data_norm))
    d, pde, ode = (jnp.mean(v) for v in f(idx, k0))
    op = m.ops.regulariser()
    lam_y, lam_pde, lam_ode, lam_op = lams
    total = lam_y * d + lam_pde * pde + lam_ode * ode + lam_op * op
    return total, (d, pde, ode, op)


@eqx.filter_jit
def _train_step(params, static, opt, opt_state, key, t, data, weights, lams, batch_size, r, data_norm="global"):
    """One optimiser step on the minibatch drawn with ``fold_in(key, t)`` (windows of r steps).
    Module-level and filter-jitted: compiled once per (model structure, optimiser, shapes, r)."""
    N = data["theta"].shape[0]
    K = data["x"].shape[1] - 1
    kk = jax.random.fold_in(key, t)
    k1, k2 = jax.random.split(kk)
    idx = jax.random.randint(k1, (batch_size,), 0, N)
    k0 = jax.random.randint(k2, (batch_size,), 0, K - r + 1)
    (tot, parts), g = jax.value_and_grad(_loss_fn, has_aux=True)(params, static, data, idx, k0, r, weights, lams,
                                                                 data_norm)
    upd, opt_state = opt.update(g, opt_state, params)
    return optax.apply_updates(params, upd), opt_state, tot, parts


class TrainResult(eqx.Module):
    """``model`` (best validation), ``history`` (list of dicts), ``metrics`` (test/counterfactual)."""

    model: HybridSurrogate
    history: list = eqx.field(static=True)
    metrics: dict = eqx.field(static=True)


def _save_ckpt(path: Path, state):
    with atomic_path(path) as tmp:
        eqx.tree_serialise_leaves(tmp, state)


# settings that decide the cached datasets, and those that decide the optimisation trajectory
_DATA_KEYS = ("pathway", "pathway_kwargs", "n_train", "n_val", "n_test", "n_counterfactual", "seed", "dt", "horizon",
              "schedules", "n_val_counterfactual")


def _jsonable(v):
    if isinstance(v, (np.ndarray, jnp.ndarray)):
        return np.asarray(v).tolist()
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"train_surrogate: setting {v!r} ({type(v).__name__}) cannot be recorded")


def _settings_diff(old: dict, new: dict, keys) -> list[str]:
    return [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def _check_settings(ckdir: Path, settings: dict, resume: bool, log) -> None:
    """Refuse a checkpoint directory written with other settings (module docstring, "Checkpoints").

    Cached datasets are reused whenever they exist, so the data settings must always match; the
    optimiser/model settings must match when a checkpoint is resumed, except that ``patience`` may
    grow. ``resume=False`` starts over (the checkpoint is overwritten) and records the new settings."""
    path = ckdir / "settings.json"
    has_data = any((ckdir / f"{n}.npz").exists() for n in ("train", "val", "test", "counterfactual"))
    has_ck = (ckdir / "checkpoint.eqx").exists()
    if path.exists():
        old = json.loads(path.read_text())
        diff = _settings_diff(old, settings, _DATA_KEYS)
        if diff and has_data:
            raise ValueError(f"train_surrogate: checkpoint_dir {ckdir} holds datasets made with other settings "
                             f"({'; '.join(diff)}); use a new directory")
        if resume and has_ck:
            # a larger patience may continue an early-stopped run: up to its stop the trajectory is
            # the same as with the larger patience from the start
            keys = [k for k in sorted(set(old) | set(settings))
                    if not (k == "patience" and isinstance(old.get(k), int) and settings[k] >= old[k])]
            diff = _settings_diff(old, settings, keys)
            if diff:
                raise ValueError(f"train_surrogate: the checkpoint in {ckdir} was written with other settings "
                                 f"({'; '.join(diff)}); rerun with those, use a new directory, or start over "
                                 "(resume=False, pbhno train --restart)")
    elif has_data or has_ck:
        log(f"[train] {ckdir} has no settings.json (written by an older version): its settings are not checked")
    atomic_write_text(path, json.dumps(settings, indent=1, sort_keys=True) + "\n")


def _concat_datasets(a: dict, b: dict | None) -> dict:
    """Stack two datasets; schedules with fewer segments are padded with zero-length ones at the end."""
    if b is None:
        return a
    J = max(a["values"].shape[1], b["values"].shape[1])

    def pad(d):
        n, j = d["values"].shape[:2]
        if j == J:
            return d["edges"], d["values"]
        e = np.concatenate([d["edges"], np.repeat(d["edges"][:, -1:], J - j, axis=1)], axis=1)
        v = np.concatenate([d["values"], np.repeat(d["values"][:, -1:], J - j, axis=1)], axis=1)
        return e, v

    if "dt" in a and "dt" in b and float(a["dt"]) != float(b["dt"]):
        raise ValueError(f"cannot stack datasets on different time nodes (dt {a['dt']} and {b['dt']})")
    (ea, va), (eb, vb) = pad(a), pad(b)
    out = {k: np.concatenate([a[k], b[k]]) for k in ("theta", "L", "x")}
    out.update(edges=np.concatenate([ea, eb]), values=np.concatenate([va, vb]), n_failed=a["n_failed"] + b["n_failed"],
               group=np.concatenate([np.zeros(len(a["theta"]), int), np.ones(len(b["theta"]), int)]))
    if "dt" in a:
        out["dt"] = a["dt"]
    return out


def _clipped_rms(rel) -> float:
    # a failed rollout (NaN) counts as 100 % error instead of making the score inf, which would
    # freeze early stopping on whichever parameters came first
    return float(np.sqrt(np.mean(np.nan_to_num(np.minimum(rel, 1.0), nan=1.0) ** 2)))


def _cached_dataset(cache: Path | None, name, builder):
    if cache is not None and (cache / f"{name}.npz").exists():
        with np.load(cache / f"{name}.npz") as z:
            return {k: (int(z[k]) if k == "n_failed" else float(z[k]) if k == "dt" else z[k]) for k in z.files}
    d = builder()
    if cache is not None:
        with atomic_path(cache / f"{name}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **d)
    return d


def train_surrogate(pathway: Pathway, *, n_train=48, n_val=8, n_test=16, n_counterfactual=8, steps=800,
                    batch_size=8, lr=2e-4, seed=0, rollout=4, curriculum=0.5, lam_y=1.0, lam_pde=1e-6,
                    lam_ode=1e-6, lam_op=1e-2, sens_weights=None, physics=True, width=16, modes=8,
                    layers=4, mlp_width=128, mlp_depth=3, dt=None, horizon=None, clip=1.0,
                    eval_every=50, patience=6, checkpoint_dir=None, checkpoint_every=50, resume=True,
                    max_steps_this_run=None, log_every=25, log=print, model_kwargs=None,
                    freeze=(), data_norm="global", schedules="simple", n_val_counterfactual=0,
                    warmup=0, correction_scales=(1.0,), exchange="substeps") -> TrainResult:
    """Train a :class:`HybridSurrogate` of ``pathway`` on reference-solver data (see module docstring).

    Returns a :class:`TrainResult`; ``result.model.validation_error`` is set (per species RMS of the
    relative validation errors) so inference can add it to the likelihood variance
    (:func:`pb.surrogate.inflate_sigma`). ``max_steps_this_run`` stops early after that many
    steps of this call (to test resumption); the checkpoint then holds the state to continue.
    ``freeze`` names learned blocks kept at their initial values: "fno" (𝒢_φ), "corr" (g_ψ),
    "ops" (coupling stencils). A frozen 𝒢_φ or g_ψ starts with an exactly-zero output layer, so it
    is skipped outright (no cost, see :meth:`HybridSurrogate.pruned`); a checkpoint written with one
    ``freeze`` setting cannot be resumed with another. ``data_norm``: "global" divides the data
    term's errors by one scale per species (over all training data), "trajectory" by each
    trajectory's own RMS per species (the relative-L2 error the validation score uses).
    ``schedules``: control design of the *training* data, "simple" (≤ 3 segments, the default) or
    "mixed" (1–8 segments, extremes; :func:`_random_schedules`); validation and test data keep the
    simple design. ``n_val_counterfactual`` adds that many pulse-train trajectories (seed + 4, not
    the counterfactual test set's seed + 3) to the validation set, so early stopping and the
    choice of the best parameters also answer to control patterns outside the training design.
    ``warmup``: steps over which the learning rate rises linearly from 0 to ``lr`` before the cosine
    decay (0, the default, starts at ``lr``). Adam's first steps move every parameter by about the
    full rate whatever the gradient's size; from an exactly-zero correction that is a large random
    kick to an already accurate physics predictor (reports/surrogate.md, "Notch, fourth round").
    ``correction_scales``: at every validation the current parameters are scored with the kinetics
    correction's output layer multiplied by each s in this tuple (values in [0, 1]; with
    ``corr_bound`` the factor acts before the bound), and the best (s, step) pair is kept: the
    returned model carries the scaled layer, ``metrics["correction_scale"]`` the chosen s. The
    default ``(1.0,)`` is plain early stopping. Shrinking a trained correction toward zero moves the
    model toward the physics predictor along the direction training found; on Notch a quarter of
    the trained correction beat both the predictor and the full correction (reports/surrogate.md,
    "Notch, fifth round").
    ``exchange``: how the field and the cells exchange information inside a macro step (see
    :class:`HybridSurrogate`): "substeps" (default) or "endpoints", the scheme every model trained
    before 2026-12-01 (session 15) used; a checkpoint directory written then resumes only with
    ``exchange="endpoints"``.
    """
    if exchange not in EXCHANGES:
        raise ValueError(f"train_surrogate: exchange must be one of {list(EXCHANGES)}, got {exchange!r}")
    if "exchange" in (model_kwargs or {}):
        raise ValueError("train_surrogate: pass exchange= directly, not in model_kwargs")
    freeze = tuple(freeze)
    bad = [b for b in freeze if b not in FREEZABLE]
    if bad:
        raise ValueError(f"train_surrogate: freeze: unknown block(s) {bad}; choose from {list(FREEZABLE)}")
    if set(freeze) == set(FREEZABLE):
        raise ValueError("train_surrogate: freeze names every learned block; nothing would be trained")
    if not pathway.spatial:
        raise ValueError("train_surrogate: trains spatial pathways only (notch, wnt); "
                         f"{pathway.name} has no ligand field")
    for nm, v in (("n_train", n_train), ("n_val", n_val), ("steps", steps), ("batch_size", batch_size), ("rollout", rollout),
                  ("eval_every", eval_every), ("patience", patience)):
        if int(v) < 1:
            raise ValueError(f"train_surrogate: {nm} must be >= 1, got {v}")
    if not (np.isfinite(float(lr)) and float(lr) > 0):
        raise ValueError(f"train_surrogate: lr (the learning rate) must be finite and > 0, got {lr}")
    for nm, v in (("lam_y", lam_y), ("lam_pde", lam_pde), ("lam_ode", lam_ode), ("lam_op", lam_op)):
        if not (np.isfinite(float(v)) and float(v) >= 0):
            raise ValueError(f"train_surrogate: {nm} is a loss weight and must be finite and >= 0; got {v}")
    if schedules not in SCHEDULES:
        raise ValueError(f"train_surrogate: schedules must be one of {list(SCHEDULES)}, got {schedules!r}")
    if int(n_val_counterfactual) < 0:
        raise ValueError(f"train_surrogate: n_val_counterfactual must be >= 0, got {n_val_counterfactual}")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or not 0 <= int(warmup) < int(steps):
        raise ValueError(f"train_surrogate: warmup must be a whole number of steps in [0, steps={steps}), got {warmup!r}")
    correction_scales = _check_scales(correction_scales, physics, freeze)
    if data_norm not in DATA_NORMS:
        raise ValueError(f"train_surrogate: data_norm must be one of {list(DATA_NORMS)}, got {data_norm!r}")
    if not (0.0 <= float(curriculum) <= 1.0):
        raise ValueError(f"train_surrogate: curriculum is the fraction of one-step steps, in [0, 1]; got {curriculum}")
    dt = float(dt if dt is not None else default_dt(pathway))
    horizon = float(horizon if horizon is not None else pathway.t_end)
    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckdir is not None:
        ckdir.mkdir(parents=True, exist_ok=True)
        settings = {"pathway": pathway.name, "pathway_kwargs": dict(pathway.kwargs), "n_train": int(n_train),
                    "n_val": int(n_val), "n_test": int(n_test), "n_counterfactual": int(n_counterfactual),
                    "seed": int(seed), "dt": dt, "horizon": horizon, "steps": int(steps), "batch_size": int(batch_size),
                    "lr": float(lr), "rollout": int(rollout), "curriculum": float(curriculum), "lam_y": float(lam_y),
                    "lam_pde": float(lam_pde), "lam_ode": float(lam_ode), "lam_op": float(lam_op),
                    "sens_weights": None if sens_weights is None else [float(w) for w in np.ravel(sens_weights)],
                    "physics": bool(physics), "width": int(width), "modes": int(modes), "layers": int(layers),
                    "mlp_width": int(mlp_width), "mlp_depth": int(mlp_depth), "clip": float(clip),
                    "eval_every": int(eval_every), "patience": int(patience), "freeze": sorted(freeze),
                    "data_norm": data_norm, "model_kwargs": dict(model_kwargs or {})}
        # recorded only when not at their defaults, so directories written before they existed stay valid
        if schedules != "simple":
            settings["schedules"] = schedules
        if int(n_val_counterfactual):
            settings["n_val_counterfactual"] = int(n_val_counterfactual)
        if int(warmup):
            settings["warmup"] = int(warmup)
        if correction_scales != (1.0,):
            settings["correction_scales"] = list(correction_scales)
        if exchange != "endpoints":  # absent = the scheme of directories written before it existed
            settings["exchange"] = exchange
        settings = json.loads(json.dumps(settings, default=_jsonable))
        _check_settings(ckdir, settings, resume, log)
    t_start = time.time()
    ds = {
        "train": _cached_dataset(ckdir, "train", lambda: make_dataset(pathway, n_train, dt=dt, horizon=horizon, seed=seed,
                                                                      schedules=schedules)),
        "val": _cached_dataset(ckdir, "val", lambda: _concat_datasets(
            make_dataset(pathway, n_val, dt=dt, horizon=horizon, seed=seed + 1),
            make_dataset(pathway, int(n_val_counterfactual), dt=dt, horizon=horizon, seed=seed + 4, counterfactual=True)
            if int(n_val_counterfactual) else None)),
    }
    tr = ds["train"]
    K = tr["x"].shape[1] - 1
    if rollout > K:
        raise ValueError(f"train_surrogate: rollout={rollout} exceeds the {K} macro steps")
    x_scale = np.maximum(np.sqrt(np.mean(tr["x"] ** 2, axis=(0, 1, 2))), 1e-6)
    field_scale = float(max(np.sqrt(np.mean(tr["L"] ** 2)), 1e-6))
    model = HybridSurrogate(pathway, dt=dt, horizon=horizon, width=width, modes=modes, layers=layers,
                            mlp_width=mlp_width, mlp_depth=mlp_depth, physics=physics,
                            x_scale=x_scale, field_scale=field_scale, key=jax.random.PRNGKey(seed),
                            exchange=exchange, **(model_kwargs or {}))
    weights = jnp.ones(pathway.n_species) if sens_weights is None else jnp.asarray(sens_weights, float)
    if weights.shape != (pathway.n_species,):
        raise ValueError(f"train_surrogate: sens_weights must have one weight per species {pathway.species}")
    model = _with_static(model, skip_fno=model.skip_fno or ("fno" in freeze and model.fno is not None
                                                             and _exactly_zero(model.fno.proj)),
                         skip_corr=model.skip_corr or ("corr" in freeze and _exactly_zero(model.corr.mlp.layers[-1])))
    spec = jax.tree_util.tree_map(eqx.is_inexact_array, model)
    for b in freeze:
        if getattr(model, b) is not None:
            spec = eqx.tree_at(lambda m, b=b: getattr(m, b), spec,
                               replace=jax.tree_util.tree_map(lambda _: False, getattr(spec, b)))
    params, static = eqx.partition(model, spec)
    opt, sched_lr = _optimizer(float(lr), int(steps), float(clip), int(warmup))
    opt_state = opt.init(params)
    key = jax.random.PRNGKey(seed + 12345)
    state = {"params": params, "opt": opt_state, "step": jnp.asarray(0), "key": key,
             "best": params, "best_val": jnp.asarray(np.inf), "bad": jnp.asarray(0)}
    if correction_scales != (1.0,):  # only then, so checkpoints written without it keep their layout
        state["best_scale"] = jnp.asarray(1.0)
    ck = ckdir / "checkpoint.eqx" if ckdir is not None else None
    if ck is not None and resume and ck.exists():
        state = eqx.tree_deserialise_leaves(ck, state)
        log(f"[train] resumed from {ck} at step {int(state['step'])}")
    data = {k: jnp.asarray(tr[k]) for k in ("theta", "edges", "values", "L", "x")}
    N = data["theta"].shape[0]
    lams = _loss_weights(physics, lam_y, lam_pde, lam_ode, lam_op)

    def make_step(r):
        def step(params, opt_state, key, t):
            return _train_step(params, static, opt, opt_state, key, t, data, weights, lams, int(batch_size), int(r),
                               data_norm)
        return step

    steps_fns = {}
    val = ds["val"]
    history = []

    groups = np.asarray(val["group"]) if "group" in val else None
    base = ev_init = None
    if groups is not None:
        # validation with counterfactual pulse trains: the score is the worst group's rel-L2 rms
        # relative to the physics predictor's (the untrained model, rebuilt above from the seed,
        # so a resumed run gets the same reference), i.e. < 1 only if training helps on both the
        # simple schedules and the pulse trains
        ev_init = evaluate(eqx.combine(params, static), val)
        base = {g: _clipped_rms(ev_init["rel_err"][groups == g]) for g in np.unique(groups)}
        log(f"[train {pathway.name}] validation groups (0 simple, 1 pulse trains): predictor rel-L2 rms "
            + ", ".join(f"{g}: {b:.4f}" for g, b in base.items()))

    def score(params, ev=None):
        ev = evaluate(eqx.combine(params, static), val) if ev is None else ev
        if groups is None:
            return _clipped_rms(ev["rel_err"]), ev
        ev["group_rms"] = {int(g): _clipped_rms(ev["rel_err"][groups == g]) for g in base}
        return max(ev["group_rms"][g] / max(b, 1e-12) for g, b in base.items()), ev

    def validate(params, ev=None):
        """(score, evaluation, scaled params, s) of the best correction scale (``correction_scales``)."""
        if correction_scales == (1.0,) or _exactly_zero(params.corr.mlp.layers[-1]):
            v, ev = score(params, ev)
            return v, ev, params, 1.0
        tried = []
        for sc in correction_scales:
            p_s = _scale_correction(params, sc)
            tried.append((*score(p_s), p_s, sc))
        v, ev, p_s, sc = min(tried, key=lambda r: r[0])  # the first of equal scores
        ev["by_scale"] = {r[3]: r[0] for r in tried}
        return v, ev, p_s, sc

    if int(state["step"]) == 0 and not np.isfinite(float(state["best_val"])):
        # with validation groups the untrained model was just evaluated for the score's reference
        v0, ev0, _, _ = validate(state["params"], ev_init)
        state = dict(state, best_val=jnp.asarray(v0))
        history.append({"step": 0, "loss": float("nan"), "val_rel_rms": v0, "val_median": ev0["median"]})
        log(f"[train {pathway.name}] step 0 (physics predictor) validation {'score' if groups is not None else 'rel-L2 rms'} "
            f"{v0:.4f} median {ev0['median']:.4f}")
    n_done = 0
    stop = False
    while int(state["step"]) < steps and not stop:
        t = int(state["step"])
        if max_steps_this_run is not None and n_done >= max_steps_this_run:
            break
        r = 1 if t < curriculum * steps else rollout
        if r not in steps_fns:
            steps_fns[r] = make_step(r)
        params, opt_state, tot, parts = steps_fns[r](state["params"], state["opt"], state["key"], jnp.asarray(t))
        state = dict(state, params=params, opt=opt_state, step=jnp.asarray(t + 1))
        n_done += 1
        t += 1
        if t % log_every == 0 or t == steps:
            d, pde, ode, op = (float(v) for v in parts)
            log(f"[train {pathway.name}] step {t}/{steps} loss {float(tot):.3e} data {d:.3e} pde {pde:.3e} "
                f"ode {ode:.3e} op {op:.2e} lr {float(sched_lr(t)):.1e} r={r} {time.time() - t_start:.0f}s")
        if t % eval_every == 0 or t == steps:
            v, ev, p_best, sc = validate(state["params"])
            history.append({"step": t, "loss": float(tot), "val_rel_rms": v, "val_median": ev["median"],
                            **({"val_group_rms": ev["group_rms"]} if "group_rms" in ev else {}),
                            **({"correction_scale": sc, "val_by_scale": {str(k): float(x) for k, x in ev["by_scale"].items()}}
                               if "by_scale" in ev else {})})
            grp = ("" if "group_rms" not in ev else " groups " +
                   ", ".join(f"{g}: {gr:.4f}" for g, gr in ev["group_rms"].items()))
            scl = ("" if "by_scale" not in ev else f" at correction scale {sc:g} (" +
                   ", ".join(f"{k:g}: {x:.4f}" for k, x in ev["by_scale"].items()) + ")")
            log(f"[train {pathway.name}] step {t} validation {'score' if groups is not None else 'rel-L2 rms'} {v:.4f} "
                f"median {ev['median']:.4f}{grp}{scl}")
            if v < float(state["best_val"]):
                state = dict(state, best=p_best, best_val=jnp.asarray(v), bad=jnp.asarray(0),
                             **({"best_scale": jnp.asarray(float(sc))} if "best_scale" in state else {}))
            else:
                state = dict(state, bad=state["bad"] + 1)
                if int(state["bad"]) >= patience:
                    log(f"[train {pathway.name}] early stop at step {t} (no validation gain in {patience} evaluations)")
                    stop = True
        if ck is not None and (t % checkpoint_every == 0 or stop or t == steps):
            _save_ckpt(ck, state)
    finished = stop or int(state["step"]) >= steps
    best = state["best"] if np.isfinite(float(state["best_val"])) else state["params"]
    model = eqx.combine(best, static)
    metrics = {"finished": bool(finished), "step": int(state["step"]), "train_seconds": time.time() - t_start,
               "n_train": int(N), "n_val": int(val["theta"].shape[0])}
    if "best_scale" in state:
        metrics["correction_scale"] = float(state["best_scale"])
    if finished:
        ev_val = evaluate(model, val)
        model = _with_validation_error(model, ev_val["per_species_rms_all"])
        if n_test:
            test = _cached_dataset(ckdir, "test", lambda: make_dataset(pathway, n_test, dt=dt, horizon=horizon, seed=seed + 2))
            metrics["test"] = _summary(evaluate(model, test))
        if n_counterfactual:
            cf = _cached_dataset(ckdir, "counterfactual", lambda: make_dataset(
                pathway, n_counterfactual, dt=dt, horizon=horizon, seed=seed + 3, counterfactual=True))
            metrics["counterfactual"] = _summary(evaluate(model, cf))
        metrics["validation"] = _summary(ev_val)
    return TrainResult(model=model, history=history, metrics=metrics)


def _check_scales(scales, physics, freeze) -> tuple:
    """``correction_scales`` as a tuple of floats in [0, 1], refused with a one-line error otherwise."""
    try:
        out = tuple(float(v) for v in scales)
        ok = len(out) > 0 and not any(isinstance(v, (bool, str)) for v in scales)
    except (TypeError, ValueError):
        ok = False
    if not ok or not all(0.0 <= v <= 1.0 for v in out):  # NaN fails the range check
        raise ValueError(f"train_surrogate: correction_scales must be a non-empty sequence of numbers in [0, 1], "
                         f"got {scales!r}")
    if out != (1.0,) and (not physics or "corr" in freeze):
        raise ValueError("train_surrogate: correction_scales scale the trained kinetics correction added to the "
                         "mechanistic rates; it needs physics=True and g_psi not frozen")
    return out


def _scale_correction(params, s: float):
    """``params`` (the trainable partition) with g_ψ's output layer multiplied by ``s``."""
    last = params.corr.mlp.layers[-1]
    return eqx.tree_at(lambda p: (p.corr.mlp.layers[-1].weight, p.corr.mlp.layers[-1].bias), params,
                       (last.weight * s, last.bias * s))


def _summary(ev: dict) -> dict:
    out = {"species": ev["species"], "median": ev["median"], "p95": ev["p95"],
           "per_species_rms": [float(v) for v in ev["per_species_rms"]], "n": int(ev["rel_err"].shape[0])}
    if "field_median" in ev:
        out.update(field_median=ev["field_median"], field_p95=ev["field_p95"])
    return out


def _with_validation_error(model: HybridSurrogate, err) -> HybridSurrogate:
    # same array leaves and static fields (including skipped frozen blocks), new validation error
    return _with_static(model, validation_error=tuple(float(v) for v in err))


def write_metrics(path, metrics: dict):
    from .._io import atomic_write_text
    atomic_write_text(Path(path), json.dumps(metrics, indent=2, default=float))
