r"""``fit``: SVI → NUTS posterior inference over any forward model, returning ArviZ InferenceData.

Pipeline (all in NumPyro's unconstrained space z = (log θ_F, log σ)):

1. SVI (:mod:`.svi`): a Gaussian approximation N(m, C) of p(z | y) from ``svi_restarts``
   optimisations (Laplace by default), with the per-observation ``weights`` applied.
2. NUTS (``method="nuts"``): every chain starts at its own draw from N(m, C); the initial inverse
   mass matrix is diag(C) (or C with ``dense_mass=True``) and stays adapted during warmup, so
   warmup starts in the typical set with a sensible metric. Chains run ``vectorized`` on one
   device, ``parallel`` when there are at least as many devices as chains.
   ``method="svi"`` skips NUTS and returns draws from N(m, C).
3. Diagnostics: divergences, tree depth, failed solves (rejected proposals, counted on the host),
   R-hat and bulk ESS; :class:`SamplingWarning` when R-hat > 1.01, min bulk ESS < 100 per chain
   (Vehtari et al. 2021), any divergence or any failed solve.
"""

from __future__ import annotations

import copy
import json
import sys
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro

from ..data import Observations
from .engine import VG_BATCH, get_engine, nuts_progress_start
from .model import build_problem, log_density_terms, problem_data
from .svi import fit_gaussian

__all__ = ["fit", "SamplingWarning", "forward_label"]


class SamplingWarning(UserWarning):
    """Posterior sampling diagnostics flag a problem (R-hat, ESS, divergences, failed solves)."""


_START_ROUNDS = 4  # rounds of fresh NUTS start draws when the starts and the fallback fail


def forward_label(forward) -> str:
    from ..simulate.solver import MechanisticModel
    from .user import UserModel

    if isinstance(forward, MechanisticModel):
        return "mechanistic"
    if isinstance(forward, UserModel):
        return "user"
    if "surrogate" in type(forward).__name__.lower():
        return "surrogate"
    return type(forward).__name__.lower()


def _with_adjoint(forward, adjoint: str):
    """Copy of a diffrax-backed forward model with another adjoint (a static field)."""
    if getattr(forward, "adjoint", None) == adjoint:
        return forward
    new = copy.copy(forward)
    object.__setattr__(new, "adjoint", adjoint)
    return new


_ADJ_COPIES: dict = {}


def _cached_with_adjoint(forward, adjoint: str):
    """:func:`_with_adjoint`, returning the same copy for the same model (so compiled kernels,
    cached per forward model, are reused across fits)."""
    key = (id(forward), adjoint)
    hit = _ADJ_COPIES.get(key)
    if hit is not None and hit[0] is forward:
        return hit[1]
    new = _with_adjoint(forward, adjoint)
    if len(_ADJ_COPIES) >= 16:
        _ADJ_COPIES.pop(next(iter(_ADJ_COPIES)))
    _ADJ_COPIES[key] = (forward, new)
    return new


def _resolve_gradient(forward, gradient: str):
    """Pick forward- or reverse-mode differentiation and a matching forward model.

    diffrax's ForwardMode adjoint only supports forward-mode autodiff and the checkpointed
    adjoints only reverse mode, so the model's adjoint is switched to match.
    """
    if gradient not in ("auto", "forward", "reverse"):
        raise ValueError(f"gradient must be 'auto', 'forward' or 'reverse', got {gradient!r}")
    has_adj = hasattr(forward, "adjoint")
    if gradient == "auto":
        gradient = getattr(forward, "preferred_gradient", None) or ("forward" if has_adj else "reverse")
    if gradient == "forward":
        return (_cached_with_adjoint(forward, "forward") if has_adj else forward), True
    if has_adj and forward.adjoint == "forward":
        return _cached_with_adjoint(forward, "recursive"), False
    return forward, False


def _check_int(name, v, lo):
    if isinstance(v, bool) or int(v) != v or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _check_weights(weights, obs: Observations):
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 2 and obs.values.shape[1] == 1:
        w = w[:, None, :]
    try:
        w = np.broadcast_to(w, obs.values.shape).copy()
    except ValueError:
        raise ValueError(f"weights of shape {np.shape(weights)} do not match the observations "
                         f"{obs.values.shape} (time, cell, species)") from None
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    return w


def fit(forward, observations: Observations, prior=None, *, chains: int = 4, warmup: int = 500,
        samples: int = 500, seed: int = 0, method: str = "nuts", svi_steps: int = 1000,
        svi_restarts: int = 4, svi_lr: float = 0.05, guide: str = "laplace", svi_particles: int = 4,
        dense_mass: bool = False, weights=None, weights_in_nuts: bool = False, noise: str = "auto",
        noise_prior=None, likelihood: str | None = None, control=None, gradient: str = "auto",
        target_accept: float = 0.8, max_tree_depth: int = 10, chain_method: str | None = None,
        init: str = "svi", progress: bool = True, warn: bool = True,
        count_failures: bool = True, fixed=None):
    r"""Posterior over the free parameters of ``forward`` given ``observations``.

    Model: log θ_F ~ N(μ, Σ) (``prior`` a pb.Prior; default ``forward.pathway.prior``) or θ_j ~ p_j
    (``prior`` a dict name -> numpyro distribution, e.g. for a :class:`UserModel`); fixed
    parameters at their nominal values; y_tcs ~ N(m_tcs(θ), σ_tcs²) (or LogNormal(log m, σ)) on
    the observed (non-NaN) entries, each term weighted by ``weights`` (T, C, S).

    Parameters
    ----------
    forward : ForwardModel (``MechanisticModel``, a surrogate, or ``UserModel``).
    observations : pb.Observations; its species and cells index the forward model's outputs.
    prior : None, pb.Prior (on log θ) or dict name -> numpyro distribution (on θ > 0).
    chains, warmup, samples : NUTS chains and per-chain warmup / kept draws.
    seed : int; the same seed gives identical draws.
    method : "nuts" (SVI init + NUTS) or "svi" (draws from the SVI Gaussian only; fast).
    svi_steps, svi_restarts, svi_lr, guide, svi_particles : SVI settings (see :mod:`.svi`).
    dense_mass : full (dense) NUTS mass matrix instead of diagonal.
    weights : optional (T, C, S) likelihood weights (default ones); used in SVI, and in NUTS only
        when ``weights_in_nuts=True``.
    noise : "auto" (known if the data carry sigma, else inferred), "known" or "infer".
    noise_prior : prior of σ_s when inferred: a numpyro distribution (batch () or (S,)) or dict
        species -> distribution; default log σ_s ~ N(log(0.1·max|y_s|), 1).
    likelihood : "normal" / "lognormal"; default ``forward.likelihood`` or "normal".
    control : control input passed to ``forward.predict``.
    gradient : "auto" (the model's ``preferred_gradient`` if it has one, else forward-mode
        sensitivities when the model has an ``adjoint`` switch),
        "forward" or "reverse".
    target_accept, max_tree_depth : NUTS settings.
    chain_method : None (auto), "vectorized", "parallel" or "sequential".
    init : "svi" (SVI-informed start and metric) or "prior" (NumPyro's median init, unit metric).
    progress : print SVI / NUTS progress to stderr.
    warn : emit :class:`SamplingWarning` on bad diagnostics.
    count_failures : count failed solves on the host (a callback per density evaluation).
    fixed : optional dict name -> value (natural units) for parameters held fixed (not in the
        prior); default their nominal values.

    Returns
    -------
    arviz.InferenceData with groups posterior (``log_theta``, ``theta`` (chain, draw, param),
    ``sigma`` (chain, draw, species) when inferred), prior, posterior_predictive (``y``, ``mu``;
    dims time, cell, species), observed_data, log_likelihood (``y`` over observed entries, dim
    ``obs``), sample_stats (``diverging``, ``tree_depth``, ``n_steps``, ``lp``, ``step_size``,
    ``n_failed_solves`` (chain,)); attrs pathway, pathway_kwargs (JSON), forward, seed, timings.
    With ``method="svi"`` the attrs also carry ``svi_pareto_k`` and ``svi_importance_ess``: a
    Pareto-smoothed importance-sampling check of the Gaussian posterior against the exact one
    (k̂ > 0.7: the Gaussian misses the posterior's shape; a :class:`SamplingWarning` says so).
    """
    t_start = time.perf_counter()
    chains = _check_int("chains", chains, 1)
    samples = _check_int("samples", samples, 1)
    warmup = _check_int("warmup", warmup, 0)
    svi_steps = _check_int("svi_steps", svi_steps, 1)
    svi_restarts = _check_int("svi_restarts", svi_restarts, 1)
    svi_particles = _check_int("svi_particles", svi_particles, 1)
    seed = _check_int("seed", seed, 0)
    if method not in ("nuts", "svi"):
        raise ValueError(f"method must be 'nuts' or 'svi', got {method!r}")
    if init not in ("svi", "prior"):
        raise ValueError(f"init must be 'svi' or 'prior', got {init!r}")
    if method == "svi" and init != "svi":
        raise ValueError("method='svi' needs init='svi'")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept}")
    if chain_method not in (None, "vectorized", "parallel", "sequential"):
        raise ValueError(f"chain_method must be None, 'vectorized', 'parallel' or 'sequential', got {chain_method!r}")
    fwd, fm = _resolve_gradient(forward, gradient)
    problem = build_problem(fwd, observations, prior, noise=noise, noise_prior=noise_prior,
                            likelihood=likelihood, control=control, count_failures=count_failures,
                            fixed=fixed)
    w = _check_weights(weights, observations)
    engine = get_engine(problem, fm)
    key = jax.random.PRNGKey(seed)
    k_init, k_restart, k_svi, k_draw, k_nuts, k_prior = jax.random.split(key, 6)
    data_svi = problem_data(problem, w)
    data_nuts = data_svi if (w is None or weights_in_nuts) else problem_data(problem, None)
    timings = {}
    D = engine.dim
    # First start: the prior median (of 15 draws) of every site; restarts: prior draws.
    flat0 = engine.flat_from_draws(engine.prior_draws(k_init, 1, data_svi, median=True))[0]
    # One SVI restart compiles only the one-row gradient program; the Hessian, the NUTS starts and
    # few-draw post-processing then reuse it rather than compiling a VG_BATCH-row one.
    vgb = 1 if (init == "svi" and svi_restarts == 1) else VG_BATCH

    approx = None
    if init == "svi":
        t0 = time.perf_counter()
        inits = [flat0]
        if svi_restarts > 1:
            inits += list(engine.flat_from_draws(engine.prior_draws(k_restart, svi_restarts - 1, data_svi)))
        problem.counter.reset(1)
        approx = fit_gaussian(engine.potential, jnp.asarray(np.stack(inits)), key=k_svi, steps=svi_steps,
                              lr=svi_lr, guide=guide, particles=svi_particles, forward_mode=fm,
                              progress=progress, data=data_svi, cache=engine._jits,
                              batched_vg=lambda z: engine.batched_vg(z, data_svi, vgb),
                              hessian=lambda m: engine.hessian_fd(m, data_svi, batch=vgb),
                              prior_hessian=lambda m: engine.prior_hessian(m, data_svi))
        timings["svi_s"] = time.perf_counter() - t0
        svi_failed = problem.counter.total

    if method == "svi":
        t0 = time.perf_counter()
        flat = np.asarray(approx.sample(k_draw, chains * samples))
        problem.counter.reset(1)
        raw = engine.postprocess_draws(flat, data_nuts, vgb)
        psis = _psis_check(raw.pop("U"), flat, approx)
        raw = {k: v.reshape((chains, samples) + v.shape[1:]) for k, v in raw.items()}
        stats = {}
        timings["draw_s"] = time.perf_counter() - t0
        failed_chain = np.zeros(chains, dtype=np.int64)
    else:
        if chain_method is None:
            chain_method = "parallel" if jax.device_count() >= chains > 1 else "vectorized"
        if chain_method == "parallel" and jax.device_count() < chains:
            raise ValueError(f"chain_method='parallel' needs {chains} devices, found {jax.device_count()}")
        if approx is not None:
            imm = approx.cov if dense_mass else np.diag(approx.cov).copy()
            starts = np.asarray(approx.sample(k_draw, chains))
            fallback = np.asarray(approx.loc)
        else:
            imm = np.eye(D) if dense_mass else np.ones(D)
            starts = engine.flat_from_draws(engine.prior_draws(k_draw, chains, data_nuts))
            fallback = flat0
        run_nuts = engine.nuts(warmup=warmup, samples=samples, dense_mass=dense_mass,
                               target_accept=target_accept, max_tree_depth=max_tree_depth,
                               parallel=chain_method == "parallel", progress=progress)
        problem.counter.reset(chains)
        t0 = time.perf_counter()
        if progress:
            print(f"  NUTS: {chains} chain(s) x ({warmup} warmup + {samples} draws), {chain_method} ...",
                  file=sys.stderr, flush=True)
        # U and ∇U at the starts, from the program SVI compiled (handed to NUTS, which then does
        # not compile its own copy). A start where the solve fails (or the density or its
        # gradient is not finite) goes to the fallback.
        u0, g0, _ = engine.batched_vg(starts, data_nuts, vgb)
        bad = ~(np.isfinite(u0) & np.all(np.isfinite(g0), axis=1))
        if bad.any():
            starts, u0, g0 = starts.copy(), u0.copy(), g0.copy()
            uf, gf, _ = engine.batched_vg(np.asarray(fallback)[None], data_nuts, vgb)
            if np.isfinite(uf[0]) and np.all(np.isfinite(gf[0])):
                starts[bad], u0[bad], g0[bad] = np.asarray(fallback), uf[0], gf[0]
                bad[:] = False
        for r in range(_START_ROUNDS):
            # the fallback failed too: fresh draws (from the Gaussian approximation, or the prior
            # without one) until every chain has a start where the density and its gradient are finite
            if not bad.any():
                break
            kr = jax.random.fold_in(k_draw, r + 1)
            cand = (np.asarray(approx.sample(kr, chains)) if approx is not None
                    else engine.flat_from_draws(engine.prior_draws(kr, chains, data_nuts)))
            uc, gc, _ = engine.batched_vg(cand, data_nuts, vgb)
            ok = np.flatnonzero(np.isfinite(uc) & np.all(np.isfinite(gc), axis=1))
            slots = np.flatnonzero(bad)[:len(ok)]
            starts[slots], u0[slots], g0[slots] = cand[ok[:len(slots)]], uc[ok[:len(slots)]], gc[ok[:len(slots)]]
            bad[slots] = False
        if bad.any():
            raise ValueError(
                f"pb.fit: no NUTS start with a finite log density and gradient for {int(bad.sum())} of {chains} "
                f"chain(s): the starts, the fallback ({'the approximation mean' if approx is not None else 'the prior median'}) "
                f"and {_START_ROUNDS * chains} further {'approximation' if approx is not None else 'prior'} draws all failed "
                f"(failed solves so far: {problem.counter.total}); check the model, its solver settings and the prior")
        keys = jax.random.split(k_nuts, chains)
        args = (jnp.asarray(imm), data_nuts)
        cids = jnp.arange(chains)
        init = (jnp.asarray(starts), jnp.asarray(u0), jnp.asarray(g0))
        nuts_progress_start()
        if chain_method == "sequential":  # one chain at a time (same program, batch of one)
            outs = [run_nuts(keys[i:i + 1], *(a[i:i + 1] for a in init), cids[i:i + 1], *args)
                    for i in range(chains)]
            out = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *outs)
        else:
            out = run_nuts(keys, *init, cids, *args)
        zs, div, nsteps, pe, step = jax.block_until_ready(out)
        timings["nuts_s"] = time.perf_counter() - t0
        if progress:
            print(f"  NUTS done in {timings['nuts_s']:.1f}s", file=sys.stderr, flush=True)
        counter = problem.counter
        failed_chain = counter.per_chain.copy() if counter.attributable else None
        failed_total = counter.total
        t0 = time.perf_counter()
        zs = np.asarray(zs)
        raw = engine.postprocess_draws(zs.reshape(chains * samples, D), data_nuts, vgb)
        raw.pop("U")
        raw = {k: v.reshape((chains, samples) + v.shape[1:]) for k, v in raw.items()}
        timings["draw_s"] = time.perf_counter() - t0
        n_steps = np.asarray(nsteps).astype(np.int64)
        stats = {
            "diverging": np.asarray(div).astype(bool),
            "n_steps": n_steps,
            "tree_depth": np.ceil(np.log2(n_steps + 1)).astype(np.int64),
            "lp": -np.asarray(pe),
            "step_size": np.asarray(step),
        }
        if failed_chain is None:
            failed_chain = np.full(chains, -1, dtype=np.int64)
        timings["failed_total"] = failed_total

    idata = _to_inference_data(problem, raw, stats, failed_chain, engine=engine, data=data_nuts,
                               k_prior=k_prior, seed=seed, chains=chains, samples=samples)
    timings["total_s"] = time.perf_counter() - t_start
    pw = forward.pathway
    attrs = {
        "pathway": str(pw.name),
        "pathway_kwargs": json.dumps(dict(getattr(pw, "kwargs", {}) or {}), default=list),
        "forward": forward_label(forward),
        "seed": int(seed),
        "method": method,
        "likelihood": problem.likelihood,
        "noise": "inferred" if problem.infer_noise else "known",
        "gradient": "forward" if fm else "reverse",
        "chain_method": "" if method == "svi" else str(chain_method),
        "dense_mass": int(bool(dense_mass)),
        "weights_in_nuts": int(bool(weights_in_nuts and w is not None)),
        "n_failed_solves": int(failed_chain.sum()) if method == "nuts" and failed_chain.min() >= 0
        else int(timings.get("failed_total", 0)),
        "inference_library": f"numpyro {numpyro.__version__}",
        # the (time, cell, species) grid: observed entries enter the likelihood, NaN ones are masked
        "n_observed": int(observations.n_observed),
        "n_missing": int(observations.n_missing),
    }
    for k, v in timings.items():
        if k.endswith("_s"):
            attrs[f"time_{k}"] = float(v)
    if approx is not None:
        attrs["svi_guide"] = approx.guide
        attrs["svi_loss"] = float(approx.loss)
        attrs["svi_restart_losses"] = json.dumps([float(x) for x in approx.losses])
        attrs["svi_failed_solves"] = int(svi_failed)
    if method == "svi":
        attrs.update(psis)
    idata.attrs.update(attrs)
    idata.posterior.attrs.update(attrs)
    if warn:
        _warn_diagnostics(idata, method, chains)
    return idata


def _psis_check(U, flat, approx) -> dict:
    """How far the Gaussian (SVI / Laplace) posterior is from the exact one: Pareto-smoothed
    importance sampling (Vehtari et al. 2024) with log w = −U(z) − log q(z) over the draws, from
    quantities the post-processing computed anyway (no extra solves). k̂ < 0.5: q is close; 0.5–0.7:
    usable with care; > 0.7: q misses the posterior's shape (intervals and means unreliable; use NUTS).
    Draws whose solve failed have w = 0 and are counted."""
    import arviz as az
    from scipy.stats import multivariate_normal

    U = np.asarray(U, dtype=np.float64)
    logq = multivariate_normal(mean=np.asarray(approx.loc), cov=np.asarray(approx.cov),
                               allow_singular=True).logpdf(np.asarray(flat))
    logw = -U - np.atleast_1d(logq)
    ok = np.isfinite(logw)
    out = {"svi_psis_failed_draws": int((~ok).sum())}
    if ok.sum() < 10:
        out.update(svi_pareto_k=float("inf"), svi_importance_ess=0.0)
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lw, k = az.psislw(logw[ok].copy())
    w = np.exp(np.asarray(lw) - np.max(lw))
    w = w / w.sum()
    out.update(svi_pareto_k=float(np.asarray(k)), svi_importance_ess=float(1.0 / np.sum(w**2)))
    return out


def _to_inference_data(problem, raw, stats, failed_chain, *, engine, data, k_prior, seed, chains, samples):
    import arviz as az
    import xarray as xr

    names = list(problem.names)
    species = list(problem.species)
    C, N = chains, samples
    coords = {"chain": np.arange(C), "draw": np.arange(N), "param": names, "species": species,
              "time": problem.times, "cell": list(problem.cells)}
    post = {"log_theta": (("chain", "draw", "param"), raw["log_theta"]),
            "theta": (("chain", "draw", "param"), raw["theta"])}
    if problem.infer_noise:
        post["sigma"] = (("chain", "draw", "species"), raw["sigma"])
    posterior = xr.Dataset(post, coords={k: coords[k] for k in ("chain", "draw", "param", "species")
                                         if k != "species" or problem.infer_noise})

    mu = raw["mu"]  # (C, N, T, Cc, S)
    if problem.infer_noise:
        sig = raw["sigma"][:, :, None, None, :]
    else:
        sig = np.asarray(problem.sigma_known)[None, None]
    rng = np.random.default_rng([seed, 11])
    eps = rng.standard_normal(mu.shape)
    y_rep = mu + sig * eps if problem.likelihood == "normal" else mu * np.exp(sig * eps)
    dims_obs = ("chain", "draw", "time", "cell", "species")
    pp_coords = {k: coords[k] for k in ("chain", "draw", "time", "cell", "species")}
    posterior_predictive = xr.Dataset({"y": (dims_obs, y_rep), "mu": (dims_obs, mu)}, coords=pp_coords)

    y_obs = np.asarray(problem.observations.values)
    # The noise sd next to the data, so later stages (pbhno diagnose / control) rebuild the
    # Observations from the file alone: the data's own σ, or the posterior mean of the inferred σ_s.
    if problem.infer_noise:
        sig_obs = np.broadcast_to(raw["sigma"].mean(axis=(0, 1))[None, None, :], y_obs.shape).copy()
        sig_src = "posterior_mean"
    else:
        sig_obs = np.asarray(problem.observations.sigma, dtype=np.float64)
        sig_src = "known"
    tcs = ("time", "cell", "species")
    observed = xr.Dataset({"y": (tcs, y_obs), "sigma": (tcs, np.where(np.isfinite(y_obs), sig_obs, np.nan))},
                          coords={k: coords[k] for k in tcs})
    observed["sigma"].attrs["source"] = sig_src
    lp = np.asarray(log_density_terms(jnp.asarray(mu), jnp.asarray(problem.y), jnp.asarray(np.broadcast_to(sig, mu.shape)),
                                      jnp.asarray(problem.mask), problem.likelihood))
    ti, ci, si = np.nonzero(problem.mask)
    log_lik = xr.Dataset(
        {"y": (("chain", "draw", "obs"), lp[:, :, ti, ci, si])},
        coords={"chain": coords["chain"], "draw": coords["draw"], "obs": np.arange(ti.size),
                "obs_time": ("obs", problem.times[ti]), "obs_cell": ("obs", np.asarray(problem.cells)[ci]),
                "obs_species": ("obs", np.asarray(species)[si])})

    pr = engine.prior_draws(k_prior, N, data)
    prior_vars = {"log_theta": (("chain", "draw", "param"), np.asarray(pr["log_theta"])[None]),
                  "theta": (("chain", "draw", "param"), np.asarray(pr["theta"])[None])}
    if problem.infer_noise:
        prior_vars["sigma"] = (("chain", "draw", "species"), np.asarray(pr["sigma"])[None])
    prior_ds = xr.Dataset(prior_vars, coords={"chain": [0], "draw": np.arange(N), "param": names,
                                              **({"species": species} if problem.infer_noise else {})})

    ss = {k: (("chain", "draw"), v) for k, v in stats.items()}
    ss["n_failed_solves"] = (("chain",), np.asarray(failed_chain, dtype=np.int64))
    sample_stats = xr.Dataset(ss, coords={"chain": coords["chain"], "draw": coords["draw"]})
    return az.InferenceData(posterior=posterior, prior=prior_ds, posterior_predictive=posterior_predictive,
                            observed_data=observed, log_likelihood=log_lik, sample_stats=sample_stats)


def _warn_diagnostics(idata, method, chains):
    import arviz as az

    ss = idata.sample_stats
    msgs = []
    if method == "nuts":
        n_div = int(ss["diverging"].sum())
        if n_div:
            msgs.append(f"{n_div} divergent transitions")
        nf = idata.attrs.get("n_failed_solves", 0)
        if nf:
            msgs.append(f"{nf} failed forward solves (rejected proposals)")
        summ = az.summary(idata, var_names=["log_theta"], kind="diagnostics")
        ess = float(summ["ess_bulk"].min())
        if ess < 100 * chains:
            msgs.append(f"min bulk ESS {ess:.0f} < {100 * chains} (100 per chain)")
        if chains > 1:
            rhat = float(summ["r_hat"].max())
            if not rhat <= 1.01:
                msgs.append(f"max R-hat {rhat:.3f} > 1.01")
    if msgs:
        warnings.warn("pb.fit: " + "; ".join(msgs) + "; inspect with arviz.summary / plot_trace and "
                      "consider more warmup/samples, dense_mass=True or a higher target_accept",
                      SamplingWarning, stacklevel=3)
    k = idata.attrs.get("svi_pareto_k")
    if method == "svi" and k is not None and not k <= 0.7:
        warnings.warn(f"pb.fit: the Gaussian (SVI) posterior is a poor fit to the exact one (PSIS k-hat "
                      f"{k:.2f} > 0.7, importance ESS {idata.attrs.get('svi_importance_ess', 0):.0f}); its "
                      "means and intervals may be off — run method='nuts' for this model", SamplingWarning,
                      stacklevel=3)
