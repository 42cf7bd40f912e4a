r"""User-defined ODE models behind the same ``fit`` → InferenceData workflow.

A user writes the right-hand side dx/dt = f(t, x; θ), the initial state (fixed numbers, parameter
names, or a function of the parameters), an optional observation function h(x; θ), a prior and a
likelihood family; :class:`UserModel` turns that into a :class:`~pbhno_bayes.ForwardModel` so
:func:`~pbhno_bayes.fit` treats it like any pathway::

    def lv(t, z, p):
        u, v = z
        return jnp.stack([(p["alpha"] - p["beta"] * v) * u, (-p["gamma"] + p["delta"] * u) * v])

    model = pb.UserModel(lv, species=("u", "v"),
                         param_names=("alpha", "beta", "gamma", "delta", "u0", "v0"),
                         init=("u0", "v0"), likelihood="lognormal",
                         prior={"alpha": dist.TruncatedNormal(1, 0.5, low=0), ...})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..pathways.base import Pathway
from ..simulate.solver import ADJOINTS, SOLVERS, ForwardModel
from .model import check_parameter_prior

__all__ = ["UserModel", "UserPathway"]


def _prior_centre(name: str, d) -> float:
    """Nominal value of a parameter from its prior: the mean when it is finite and positive, else
    the median of 4001 draws with a fixed key (deterministic). Priors are on θ with positive support,
    so a non-scalar prior or one without positive support is refused."""
    check_parameter_prior(name, d)
    try:
        m = float(np.asarray(d.mean))
    except NotImplementedError:  # numpyro distributions without a closed-form mean (Cauchy-like)
        m = float("nan")
    if np.isfinite(m) and m > 0:
        return m
    med = float(np.median(np.asarray(d.sample(jax.random.PRNGKey(0), (4001,)))))
    if not (np.isfinite(med) and med > 0):
        raise ValueError(f"prior[{name!r}] has no positive finite centre (median of draws {med:g})")
    return med


@dataclass(frozen=True, eq=False, repr=False)
class UserPathway(Pathway):
    """Metadata of a user model (names, nominal values) so it fits the Pathway contract.

    ``species`` are the observable outputs; the ODE state names are ``state_names``. It has no
    ``cell_rhs``: the dynamics live in :class:`UserModel`, which is the forward model to use.
    """

    state_names: tuple[str, ...] = ()

    def x0(self, p):
        raise TypeError("a user pathway's dynamics live in its UserModel; call UserModel.predict")

    def cell_rhs(self, x, ell, p, u):
        raise TypeError("a user pathway's dynamics live in its UserModel; call UserModel.predict")


class _Opaque:
    """Static-field holder compared by identity (distributions hold arrays, which must not be
    hashed or compared as static jit data)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class UserModel(ForwardModel):
    r"""A user ODE model as a forward model: ``predict(θ, times) -> (T, 1, n_observables)``.

    Parameters
    ----------
    rhs : callable ``rhs(t, x, p) -> dx/dt``
        ``x`` is the state vector (n_states,), ``p`` a dict name -> scalar (natural units).
    species : sequence of str
        Names of the ODE states, in the order of ``x``.
    param_names : sequence of str
        All parameters (including any initial-state parameters).
    init : array (n_states,), sequence of floats / parameter names, or callable ``p -> x0``
        Initial state at t = 0. A name makes that state's initial value a parameter.
    observe : callable ``observe(x, p) -> (n_obs,)``, optional
        Observation function h (default: the states themselves).
    observables : sequence of str, optional
        Names of the outputs of ``observe`` (required with ``observe``); default ``species``.
    nominal : mapping name -> value, optional
        Values for parameters not given a prior (held fixed; default 1). A parameter with a prior
        and no value here gets the prior's mean, or where that is not finite the median of
        fixed-seed draws.
    prior : mapping name -> numpyro distribution, or pb.Prior, optional
        Default prior used by ``fit`` when it gets ``prior=None``. Distributions are on θ itself
        and must have positive support (e.g. ``TruncatedNormal(m, s, low=0)``, ``LogNormal``).
    likelihood : {"normal", "lognormal"}
        Additive Gaussian noise or multiplicative (log-normal) noise.
    solver, rtol, atol, max_steps, adjoint :
        As for :class:`~pbhno_bayes.MechanisticModel`. A solve needing more than ``max_steps``
        steps returns NaN (``ok=False``), which ``fit`` counts and rejects.
    name : str
        Model name (stored in the InferenceData attrs).
    """

    rhs: Callable = eqx.field(static=True)
    init: object = eqx.field(static=True)
    observe: Callable | None = eqx.field(static=True)
    likelihood: str = eqx.field(static=True)
    _default_prior: object = eqx.field(static=True)
    solver: str = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    adjoint: str = eqx.field(static=True)

    def __init__(self, rhs, *, species: Sequence[str], param_names: Sequence[str], init,
                 observe: Callable | None = None, observables: Sequence[str] | None = None,
                 nominal: Mapping[str, float] | None = None, prior=None, likelihood: str = "normal",
                 solver: str = "dopri5", rtol: float = 1e-6, atol: float = 1e-8,
                 max_steps: int = 4096, adjoint: str = "forward", name: str = "user"):
        if not callable(rhs):
            raise ValueError("rhs must be a callable rhs(t, x, p) -> dx/dt")
        species = tuple(str(s) for s in species)
        param_names = tuple(str(s) for s in param_names)
        if not species or len(set(species)) != len(species):
            raise ValueError(f"species must be distinct non-empty names, got {species}")
        if not param_names or len(set(param_names)) != len(param_names):
            raise ValueError(f"param_names must be distinct non-empty names, got {param_names}")
        if likelihood not in ("normal", "lognormal"):
            raise ValueError(f"likelihood must be 'normal' or 'lognormal', got {likelihood!r}")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {solver!r}")
        if adjoint not in ADJOINTS:
            raise ValueError(f"adjoint must be one of {ADJOINTS}, got {adjoint!r}")
        if observe is not None and observables is None:
            raise ValueError("with observe=..., also give observables=(names of its outputs)")
        if observe is not None and not callable(observe):
            raise ValueError("observe must be a callable observe(x, p) -> outputs")
        outputs = tuple(str(s) for s in (observables if observables is not None else species))
        if not callable(init):
            init = tuple(init) if not isinstance(init, np.ndarray) else tuple(init.tolist())
            if len(init) != len(species):
                raise ValueError(f"init has {len(init)} entries for {len(species)} states {species}")
            for v in init:
                if isinstance(v, str):
                    if v not in param_names:
                        raise ValueError(f"init names {v!r}, which is not in param_names {param_names}")
                elif not np.isfinite(float(v)):
                    raise ValueError(f"init values must be finite, got {v!r}")
        nominal = dict(nominal or {})
        unknown = set(nominal) - set(param_names)
        if unknown:
            raise ValueError(f"nominal names {sorted(unknown)} are not in param_names")
        if isinstance(prior, Mapping):
            unknown = set(prior) - set(param_names)
            if unknown:
                raise ValueError(f"prior names {sorted(unknown)} are not in param_names")
            # Unspecified nominal values of prior parameters: the prior's centre (see _prior_centre).
            for k, d in prior.items():
                if k not in nominal:
                    nominal[k] = _prior_centre(k, d)
            default_prior = _Opaque(tuple(prior.items()))
        elif prior is None:
            default_prior = None
        else:
            default_prior = prior  # a pb.Prior; fit validates it
        values = tuple(float(nominal.get(n, 1.0)) for n in param_names)
        free = tuple(n for n in param_names if (isinstance(prior, Mapping) and n in prior)) or param_names
        self.pathway = UserPathway(
            name=name, species=outputs, param_names=param_names, nominal_values=values, free=free,
            control_channels=(), control_default=(), control_bounds=(), t_end=1.0, n_cells=1,
            default_observe=outputs, kwargs={}, description="user-defined ODE model",
            state_names=species)
        self.rhs = rhs
        self.init = init
        self.observe = observe
        self.likelihood = likelihood
        self._default_prior = default_prior
        self.solver = solver
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.max_steps = int(max_steps)
        self.adjoint = adjoint

    @property
    def default_prior(self):
        """The prior given at construction (tuple of (name, distribution)), a pb.Prior, or None."""
        p = self._default_prior
        return p.value if isinstance(p, _Opaque) else p

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.pathway.state_names

    def initial_state(self, p, dtype):
        if callable(self.init):
            return jnp.asarray(self.init(p), dtype=dtype)
        return jnp.stack([p[v] if isinstance(v, str) else jnp.asarray(float(v), dtype) for v in self.init]).astype(dtype)

    def _adjoint(self):
        return {"recursive": diffrax.RecursiveCheckpointAdjoint, "forward": diffrax.ForwardMode,
                "backsolve": diffrax.BacksolveAdjoint, "direct": diffrax.DirectAdjoint}[self.adjoint]()

    def solve(self, theta, times, control=None):
        """dict(states (T, 1, n_obs), ok, num_steps). Initial time is 0."""
        if control is not None:
            raise ValueError("a UserModel has no control channels; pass control=None")
        theta = self.theta_array(theta)
        if not jnp.issubdtype(theta.dtype, jnp.floating):
            theta = theta.astype(float)
        times = jnp.asarray(times, dtype=theta.dtype)
        if times.ndim != 1:
            raise ValueError(f"times must be a 1-D array, got shape {times.shape}")
        p = self.pathway.params(theta)
        y0 = self.initial_state(p, theta.dtype)
        rhs = self.rhs

        def vf(t, x, args):
            return jnp.asarray(rhs(t, x, self.pathway.params(args)), dtype=x.dtype)

        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(vf), SOLVERS[self.solver](), t0=0.0, t1=jnp.maximum(times[-1], 1e-9),
            dt0=None, y0=y0, args=theta, saveat=diffrax.SaveAt(ts=times),
            stepsize_controller=diffrax.PIDController(rtol=self.rtol, atol=self.atol),
            max_steps=self.max_steps, throw=False, adjoint=self._adjoint())
        xs = sol.ys  # (T, n_states)
        if self.observe is not None:
            obs_fn = self.observe
            out = jax.vmap(lambda x: jnp.asarray(obs_fn(x, p), dtype=xs.dtype))(xs)
        else:
            out = xs
        ok = (sol.result == diffrax.RESULTS.successful) & jnp.all(jnp.isfinite(out))
        out = jnp.where(ok, out, jnp.nan)[:, None, :]
        return {"states": out, "ok": ok, "num_steps": sol.stats["num_steps"]}

    def predict(self, theta, times, control=None):
        return self.solve(theta, times, control)["states"]

    def predict_status(self, theta, times, control=None):
        out = self.solve(theta, times, control)
        return out["states"], out["ok"]

