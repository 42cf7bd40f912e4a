r"""The NumPyro model behind :func:`pbhno_bayes.fit`, for any :class:`~pbhno_bayes.ForwardModel`.

Generative model (free parameters θ_F, fixed ones held at ``base``)::

    log θ_F ~ N(μ, Σ)                    (pathway path; a pb.Prior)
      or  θ_j ~ p_j  independently       (user path; a dict name -> numpyro distribution on θ_j > 0)
    θ = exp(log θ_F)                      deterministic site "theta", natural units
    σ_s  known (from the data) or ~ noise prior (default log σ_s ~ N(log(0.1·scale_s), 1))
    m   = forward.predict(θ_full, times, control)[:, cells, species]          (T, C, S)
    log p(y | θ, σ) = Σ_{observed (t,c,s)} w_tcs · log 𝒩(y_tcs; m_tcs, σ_tcs²)        ("normal")
                   or Σ w_tcs · log LogNormal(y_tcs; log m_tcs, σ_tcs)                   ("lognormal")

NaN entries of the data are missing and contribute nothing. A failed solve (``ok = False``) makes
the log density −∞ — NUTS then treats the proposal as divergent and rejects it — while the
predictions are replaced by a finite dummy so no NaN reaches a gradient. Each failed solve is
counted on the host (:class:`FailureCounter`), because a rejected proposal leaves no trace in
the stored draws.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ..data import Observations
from ..pathways.base import Prior

__all__ = ["Problem", "build_problem", "make_model", "problem_data", "FailureCounter", "RESERVED_SITES"]

RESERVED_SITES = ("log_theta", "theta", "sigma", "mu", "ok", "loglik", "solve_failed")
_LOG_2PI = float(np.log(2.0 * np.pi))


class FailureCounter:
    """Host-side tally of failed forward solves seen by the model (thread-safe).

    ``per_chain`` is filled when the callback receives one ``ok`` flag per chain (vectorised
    chains); otherwise only ``total`` is known.
    """

    def __init__(self, n_chains: int = 1):
        self._lock = threading.Lock()
        self.reset(n_chains)

    def reset(self, n_chains: int = 1):
        with self._lock:
            self.total = 0
            self.calls = 0
            self.per_chain = np.zeros(n_chains, dtype=np.int64)
            self.attributable = True
            self.n_chains = n_chains

    def __call__(self, ok):
        bad = ~np.asarray(ok, dtype=bool)
        with self._lock:
            self.calls += 1
            self.total += int(bad.sum())
            if self.n_chains == 1:
                self.per_chain[0] += int(bad.sum())
            elif bad.ndim >= 1 and bad.shape[0] == self.n_chains:
                self.per_chain += bad.reshape(self.n_chains, -1).sum(axis=1)
            elif bad.any():
                self.attributable = False
        return np.zeros(np.shape(ok), dtype=np.float64)


@dataclass
class Problem:
    """Everything the model needs, resolved and validated once (numpy, not traced)."""

    forward: object
    names: tuple[str, ...]  # free parameter names (the ``param`` coordinate)
    free_idx: np.ndarray  # positions of ``names`` in forward.pathway.param_names
    base: np.ndarray  # (P,) full natural θ; free entries overwritten per draw
    prior_kind: str  # "mvn" | "dict"
    prior: object  # pb.Prior or dict name -> Distribution
    times: np.ndarray  # (T,)
    cell_idx: np.ndarray  # (C,) into forward output axis 1
    species_idx: np.ndarray  # (S,) into forward output axis 2
    species: tuple[str, ...]
    cells: tuple[int, ...]
    y: np.ndarray  # (T, C, S), missing filled with 1 (safe for log)
    mask: np.ndarray  # (T, C, S) bool, observed
    sigma_known: np.ndarray | None  # (T, C, S) or None when inferred
    noise_prior: object | None  # Distribution with batch shape (S,), dict species -> dist, or None
    likelihood: str  # "normal" | "lognormal"
    control: object = None
    observations: Observations | None = None
    counter: FailureCounter = field(default_factory=FailureCounter)
    count_failures: bool = True
    noise_loc: np.ndarray | None = None  # (S,) location of the default log-normal noise prior

    @property
    def infer_noise(self) -> bool:
        return self.sigma_known is None


def check_parameter_prior(name: str, d) -> None:
    """Refuse a per-parameter prior that is not a scalar numpyro distribution on θ > 0."""
    if not isinstance(d, dist.Distribution):
        raise ValueError(f"prior[{name!r}] must be a numpyro distribution, got {type(d).__name__}")
    if d.batch_shape != () or d.event_shape != ():
        raise ValueError(f"prior[{name!r}] must be a scalar distribution, got batch {d.batch_shape}")
    if not _positive_support(d):
        raise ValueError(f"prior[{name!r}] has support {d.support}; parameters are positive: use e.g. "
                         "dist.TruncatedNormal(m, s, low=0.0) or dist.LogNormal(...)")


def _positive_support(d) -> bool:
    s = d.support
    if s in (constraints.positive, constraints.softplus_positive):
        return True
    lb = getattr(s, "lower_bound", None)
    if lb is None:
        return False
    return bool(np.all(np.asarray(lb) >= 0))


def build_problem(forward, observations: Observations, prior=None, *, noise: str = "auto",
                  noise_prior=None, likelihood: str | None = None, control=None,
                  count_failures: bool = True, fixed=None) -> Problem:
    """Validate the inputs of :func:`fit` and resolve them into a :class:`Problem`."""
    pw = getattr(forward, "pathway", None)
    if pw is None or not hasattr(forward, "predict"):
        raise ValueError("forward must be a pb.ForwardModel (e.g. pb.MechanisticModel(pw) or pb.UserModel(...))")
    if not isinstance(observations, Observations):
        raise ValueError("observations must be a pb.Observations (use Observations.from_csv / from_arrays)")
    obs = observations
    param_names = tuple(pw.param_names)

    if prior is None:
        prior = getattr(forward, "default_prior", None)
        prior = dict(prior) if prior else pw.prior
    if isinstance(prior, Prior):
        unknown = [n for n in prior.names if n not in param_names]
        if unknown:
            raise ValueError(f"prior names {unknown} are not parameters of {pw.name}; known: {list(param_names)}")
        names, kind = tuple(prior.names), "mvn"
    elif isinstance(prior, Mapping):
        unknown = [n for n in prior if n not in param_names]
        if unknown:
            raise ValueError(f"prior names {unknown} are not parameters of {pw.name}; known: {list(param_names)}")
        names = tuple(n for n in param_names if n in prior)
        for n in names:
            check_parameter_prior(n, prior[n])
        clash = [n for n in names if n in RESERVED_SITES]
        if clash:
            raise ValueError(f"parameter names {clash} clash with model sites {RESERVED_SITES}; rename them")
        kind = "dict"
    else:
        raise ValueError("prior must be None, a pb.Prior (on log θ) or a dict name -> numpyro distribution")
    if not names:
        raise ValueError("the prior covers no parameters; nothing to infer")
    free_idx = np.asarray([param_names.index(n) for n in names], dtype=np.int64)
    base = _apply_fixed(pw.theta_vector(None), param_names, names, fixed)

    # Observed species/cells -> forward output indices.
    unknown = [s for s in obs.species if s not in pw.species]
    if unknown:
        raise ValueError(f"observed species {unknown} are not outputs of {pw.name}; known: {list(pw.species)}")
    bad = [c for c in obs.cells if not 0 <= c < pw.n_cells]
    if bad:
        raise ValueError(f"observed cell(s) {bad} out of range for {pw.name} with {pw.n_cells} cell(s)")
    horizon = getattr(forward, "horizon", None)
    t_last = float(np.max(obs.times))
    if isinstance(horizon, (int, float)) and t_last > float(horizon) + 1e-9:
        raise ValueError(f"observation time {t_last:g} is beyond the forward model's horizon {float(horizon):g} "
                         "(a surrogate cannot extrapolate in time); drop the later rows or use the reference "
                         "solver (pb.MechanisticModel)")
    species_idx = np.asarray([pw.species.index(s) for s in obs.species], dtype=np.int64)
    cell_idx = np.asarray(obs.cells, dtype=np.int64)
    mask = np.asarray(obs.mask, dtype=bool)
    if not mask.any():
        raise ValueError("observations contain no observed (non-NaN) value")

    likelihood = likelihood or getattr(forward, "likelihood", "normal")
    if likelihood not in ("normal", "lognormal"):
        raise ValueError(f"likelihood must be 'normal' or 'lognormal', got {likelihood!r}")
    values = np.asarray(obs.values, dtype=np.float64)
    if likelihood == "lognormal" and np.any(values[mask] <= 0):
        raise ValueError("likelihood='lognormal' needs strictly positive observations; use 'normal'")
    y = np.where(mask, values, 1.0)

    if noise not in ("auto", "known", "infer"):
        raise ValueError(f"noise must be 'auto', 'known' or 'infer', got {noise!r}")
    if noise == "known" and obs.sigma is None:
        raise ValueError("noise='known' but the observations carry no sigma; use noise='infer'")
    known = noise == "known" or (noise == "auto" and obs.sigma is not None)
    noise_loc = None
    sigma_known = np.where(mask, np.asarray(obs.sigma), 1.0) if known else None
    S = len(obs.species)
    if known:
        if noise_prior is not None:
            raise ValueError("noise_prior is given but the noise is known from the data; pass noise='infer'")
        nprior = None
    elif noise_prior is None:
        # Weakly informative: log σ_s ~ N(log(0.1 · scale_s), 1); scale_s = the species' largest
        # observed |y| (a relative 10 % error for the log-normal family).
        if likelihood == "lognormal":
            loc = np.full(S, np.log(0.1))
        else:
            scale = np.nanmax(np.abs(np.where(mask, values, np.nan)), axis=(0, 1))
            scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
            loc = np.log(0.1 * scale)
        nprior = dist.LogNormal(jnp.asarray(loc), jnp.ones(S))
        noise_loc = np.asarray(loc, dtype=np.float64)
    else:
        if isinstance(noise_prior, Mapping):
            missing = [s for s in obs.species if s not in noise_prior]
            if missing:
                raise ValueError(f"noise_prior has no entry for species {missing}")
            nprior = {s: noise_prior[s] for s in obs.species}
            for s, d in nprior.items():
                if not isinstance(d, dist.Distribution) or d.batch_shape != () or d.event_shape != ():
                    raise ValueError(f"noise_prior[{s!r}] must be a scalar numpyro distribution")
                if not _positive_support(d):
                    raise ValueError(f"noise_prior[{s!r}] must have positive support (e.g. dist.LogNormal)")
        elif isinstance(noise_prior, dist.Distribution):
            nprior = noise_prior
        else:
            raise ValueError("noise_prior must be a numpyro distribution or a dict species -> distribution")
        if isinstance(nprior, dist.Distribution):
            if nprior.event_shape != ():
                raise ValueError("noise_prior must be univariate (batch shape () or (S,))")
            try:
                nprior = nprior.expand((S,))
            except (ValueError, TypeError):
                raise ValueError(f"noise_prior batch shape {nprior.batch_shape} does not broadcast to ({S},)") from None
            if not _positive_support(nprior):
                raise ValueError("noise_prior must have positive support (e.g. dist.LogNormal, dist.HalfNormal)")

    return Problem(forward=forward, names=names, free_idx=free_idx, base=base, prior_kind=kind,
                   prior=prior, times=np.asarray(obs.times, dtype=np.float64), cell_idx=cell_idx,
                   species_idx=species_idx, species=tuple(obs.species), cells=tuple(obs.cells), y=y,
                   mask=mask, sigma_known=sigma_known, noise_prior=nprior, likelihood=likelihood,
                   control=control, observations=obs, counter=FailureCounter(),
                   count_failures=count_failures, noise_loc=noise_loc)


def _apply_fixed(base, param_names, names, fixed):
    base = np.array(base, dtype=np.float64)
    for k, v in (fixed or {}).items():
        if k not in param_names:
            raise ValueError(f"fixed names {k!r}, which is not a parameter; known: {list(param_names)}")
        if k in names:
            raise ValueError(f"fixed names {k!r}, which is a free (prior) parameter")
        v = float(v)
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"fixed[{k!r}] must be finite and > 0, got {v}")
        base[list(param_names).index(k)] = v
    return base


@jax.custom_vjp
def _finite_cotangent(x):
    """Identity whose reverse-mode cotangent has non-finite entries replaced by 0.

    A failed solve contributes a zero cotangent, but 0 · (inf Jacobian) = NaN inside the solver's
    backward pass would still poison NUTS; this stops it at the parameter vector.
    """
    return x


def _fc_fwd(x):
    return x, None


def _fc_bwd(_, g):
    return (jnp.where(jnp.isfinite(g), g, 0.0),)


_finite_cotangent.defvjp(_fc_fwd, _fc_bwd)


def log_density_terms(pred, y, sigma, mask, likelihood):
    """Pointwise log-likelihood (…, T, C, S); masked entries are 0."""
    if likelihood == "normal":
        z = (y - pred) / sigma
        lp = -0.5 * z**2 - jnp.log(sigma) - 0.5 * _LOG_2PI
    else:
        z = (jnp.log(y) - jnp.log(pred)) / sigma
        lp = -0.5 * z**2 - jnp.log(sigma) - jnp.log(y) - 0.5 * _LOG_2PI
    return jnp.where(mask, lp, 0.0)


def problem_data(problem: Problem, weights=None) -> dict:
    """The arrays the model reads, as a pytree (jit arguments, so compiled kernels are reused
    across fits of the same forward model and shapes): data, mask, known σ, times, nominal θ,
    weights (default ones), the MVN prior and the default noise-prior location."""
    y = np.asarray(problem.y, dtype=np.float64)
    d = {"y": y, "mask": np.asarray(problem.mask, dtype=bool),
         "times": np.asarray(problem.times, dtype=np.float64),
         "base": np.asarray(problem.base, dtype=np.float64),
         "w": np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)}
    if problem.sigma_known is not None:
        d["sigma"] = np.asarray(problem.sigma_known, dtype=np.float64)
    if problem.prior_kind == "mvn":
        d["prior_mean"] = np.asarray(problem.prior.mean, dtype=np.float64)
        d["prior_chol"] = np.asarray(problem.prior.chol, dtype=np.float64)
    if problem.noise_loc is not None:
        d["noise_loc"] = np.asarray(problem.noise_loc, dtype=np.float64)
    return {k: jnp.asarray(v) for k, v in d.items()}


def make_model(problem: Problem, *, forward_mode: bool = False):
    """Return the NumPyro model ``model(data, prior_only=False)``; ``data`` from :func:`problem_data`.

    ``data["w"]`` (T, C, S) multiplies the pointwise log-likelihood; ``prior_only`` stops after the
    prior sites (no solve), for prior draws. Everything that varies between data sets of the same
    shape lives in ``data``, so the model's structure depends only on the forward model, the
    parameter/observation layout, the likelihood family and the (non-default) priors.
    """
    pb_ = problem
    fwd = pb_.forward
    names = pb_.names
    free_idx = jnp.asarray(pb_.free_idx)
    cidx = jnp.asarray(pb_.cell_idx)
    sidx = jnp.asarray(pb_.species_idx)
    infer_noise = pb_.sigma_known is None
    lik = pb_.likelihood
    counter = pb_.counter
    noise_prior = pb_.noise_prior
    default_noise = pb_.noise_loc is not None

    # The solve as a jit of its own inside the model: every program built from the model (SVI's
    # value-and-gradient, the NUTS chain, the predictions) then reuses one trace of it and JAX's
    # cached jvp / vmap transforms of that trace instead of tracing the solver again (a 2-parameter
    # ODE fit: tracing the NUTS program 5.1 -> 3.3 s). XLA inlines it; the numbers are unchanged.
    solve = jax.jit(lambda th, t: fwd.predict_status(th, t, pb_.control))

    def model(data, prior_only=False):
        y, mask = data["y"], data["mask"]
        if pb_.prior_kind == "mvn":
            mvn = dist.MultivariateNormal(data["prior_mean"], scale_tril=data["prior_chol"])
            log_theta = numpyro.sample("log_theta", mvn)
            theta_free = jnp.exp(log_theta)
        else:
            theta_free = jnp.stack([numpyro.sample(n, pb_.prior[n]) for n in names])
            log_theta = numpyro.deterministic("log_theta", jnp.log(theta_free))
        numpyro.deterministic("theta", theta_free)
        if infer_noise:
            if default_noise:
                sigma_s = numpyro.sample("sigma", dist.LogNormal(data["noise_loc"], 1.0).to_event(1))
            elif isinstance(noise_prior, Mapping):
                sigma_s = numpyro.deterministic("sigma", jnp.stack(
                    [numpyro.sample(f"sigma_{s}", d) for s, d in noise_prior.items()]))
            else:
                sigma_s = numpyro.sample("sigma", noise_prior.to_event(1))
            sigma = jnp.broadcast_to(sigma_s, y.shape)
        else:
            sigma = data["sigma"]
        if prior_only:
            return
        th = theta_free if forward_mode else _finite_cotangent(theta_free)
        theta_full = data["base"].at[free_idx].set(th)
        states, ok = solve(theta_full, data["times"])
        pred = states[:, cidx][:, :, sidx]
        ok = ok & jnp.all(jnp.where(mask, jnp.isfinite(pred), True))
        if lik == "lognormal":
            ok = ok & jnp.all(jnp.where(mask, pred > 0, True))
        # A positive finite stand-in for failed predictions (log-normal needs > 0).
        dummy = jnp.where(mask, jnp.abs(y), 1.0) + 1e-3
        pred = jnp.where(ok, pred, dummy)
        tick = 0.0
        if pb_.count_failures:
            # One host call per density evaluation; expand_dims hands the callback the whole
            # batch of vectorised chains at once, so failures can be attributed per chain. The
            # (zero) result feeds the density so the call is not dead code.
            tick = jax.pure_callback(counter, jax.ShapeDtypeStruct((), jnp.float64), ok,
                                     vmap_method="expand_dims")
        numpyro.deterministic("mu", pred)
        lp = log_density_terms(pred, y, sigma, mask, lik) * data["w"]
        numpyro.factor("loglik", jnp.sum(lp))
        numpyro.factor("solve_failed", jnp.where(ok, 0.0, -jnp.inf) + tick)
        del log_theta

    return model
