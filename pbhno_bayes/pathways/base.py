"""Pathway description, prior on log θ, and piecewise-constant control schedules.

A :class:`Pathway` is a *description* of a mechanistic model: its species, parameters,
nominal values, default prior, intracellular right-hand side f(x, ℓ; θ, u), initial state,
control channels and (for spatial pathways) the ligand-field PDE terms. It computes nothing on
its own; :mod:`pbhno_bayes.simulate` turns it into a solver and :mod:`pbhno_bayes.surrogate`
into a learned surrogate. Every modelling choice the paper leaves open lives in the concrete
pathway module (``mapk.py``, ``notch.py``, ``wnt.py``) and nowhere else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .geometry import Geometry

__all__ = ["Prior", "Pathway", "Schedule", "as_schedule"]


class Prior:
    r"""Multivariate normal prior on the log of the free parameters, log θ ~ N(μ, Σ).

    Parameters
    ----------
    mean : array (P,) or mapping name -> value
        μ, the prior mean of **log** θ.
    sd : float or array (P,), optional
        Prior standard deviations of log θ; gives Σ = diag(sd²). Default 0.5 (paper Table II).
    cov : array (P, P), optional
        Full covariance Σ; must be symmetric positive definite. Mutually exclusive with ``sd``.
    names : sequence of str, optional
        The free parameters, in order. Required when ``mean`` is an array.
    """

    def __init__(self, mean, sd=None, cov=None, names=None):
        if isinstance(mean, Mapping):
            if names is None:
                names = tuple(mean.keys())
            mean = [mean[n] for n in names]
        mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        if mean.ndim != 1:
            raise ValueError(f"Prior: mean must be a vector, got shape {mean.shape}")
        if not np.all(np.isfinite(mean)):
            raise ValueError("Prior: mean contains NaN or inf")
        p = mean.shape[0]
        if names is None:
            raise ValueError("Prior: give names=[...] for the free parameters (one per mean entry)")
        names = tuple(str(n) for n in names)
        if len(names) != p:
            raise ValueError(f"Prior: {len(names)} names for {p} means")
        if len(set(names)) != p:
            raise ValueError(f"Prior: duplicate parameter names in {names}")
        if sd is not None and cov is not None:
            raise ValueError("Prior: give either sd or cov, not both")
        if cov is None:
            sd = 0.5 if sd is None else sd
            sd = np.broadcast_to(np.asarray(sd, dtype=np.float64), (p,)).copy()
            if not np.all(np.isfinite(sd)) or np.any(sd <= 0):
                raise ValueError(f"Prior: sd must be finite and > 0, got {sd.tolist()}")
            cov = np.diag(sd**2)
        cov = np.asarray(cov, dtype=np.float64)
        if cov.shape != (p, p):
            raise ValueError(f"Prior: cov must have shape ({p}, {p}), got {cov.shape}")
        if not np.all(np.isfinite(cov)):
            raise ValueError("Prior: cov contains NaN or inf")
        if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
            raise ValueError("Prior: cov is not symmetric")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            eig = np.linalg.eigvalsh(cov).min()
            raise ValueError(
                f"Prior: cov is not positive definite (smallest eigenvalue {eig:.3g}); "
                "fix it or pass sd= for a diagonal prior"
            ) from None
        self.mean = mean
        self.cov = cov
        self.names = names
        self.chol = chol

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"Prior(names={self.names}, mean={np.round(self.mean, 4).tolist()}, sd={np.round(self.sd, 4).tolist()})"

    def sample(self, n: int, *, seed: int | None = None, rng=None) -> np.ndarray:
        """Draw ``n`` samples of log θ, shape (n, P)."""
        rng = np.random.default_rng(seed) if rng is None else rng
        z = rng.standard_normal((n, len(self.names)))
        return self.mean + z @ self.chol.T

    def log_prob(self, log_theta) -> jnp.ndarray:
        """log N(log θ; μ, Σ), differentiable, broadcasting over leading dims."""
        d = jnp.asarray(log_theta) - self.mean
        sol = jnp.linalg.solve(jnp.asarray(self.chol), d[..., None])[..., 0]
        logdet = 2.0 * np.sum(np.log(np.diag(self.chol)))
        return -0.5 * jnp.sum(sol**2, -1) - 0.5 * logdet - 0.5 * len(self.names) * np.log(2 * np.pi)

    def subset(self, names: Sequence[str]) -> Prior:
        """Marginal prior of a subset of parameters (the marginal of a Gaussian is Gaussian)."""
        idx = [self.names.index(n) for n in names]
        return Prior(self.mean[idx], cov=self.cov[np.ix_(idx, idx)], names=names)


class Schedule(eqx.Module):
    """Piecewise-constant control u(t): ``values[k]`` on ``[edges[k], edges[k+1])``, ``default`` elsewhere.

    edges : (K+1,) increasing times; values : (K, n_channels); default : (n_channels,).
    Differentiable in ``values`` (what MPC optimises) and vmappable.
    """

    edges: jnp.ndarray
    values: jnp.ndarray
    default: jnp.ndarray

    def __call__(self, t):
        k = self.values.shape[0]
        idx = jnp.searchsorted(self.edges, t, side="right") - 1
        inside = (idx >= 0) & (idx < k)
        v = self.values[jnp.clip(idx, 0, k - 1)]
        return jnp.where(inside, v, self.default)

    @staticmethod
    def constant(values, default=None) -> Schedule:
        """A schedule holding ``values`` (n_channels,) for all t."""
        v = jnp.atleast_1d(jnp.asarray(values, dtype=float))
        return Schedule(jnp.asarray([-1.0, 1e30]), v[None, :], v if default is None else jnp.asarray(default, float))


def as_schedule(pathway: Pathway, control) -> Schedule:
    """Normalise ``control`` (None, Schedule, mapping channel -> constant, or (n_ch,) array)."""
    default = jnp.asarray(pathway.control_default, dtype=float)
    if control is None:
        return Schedule.constant(default)
    if isinstance(control, Schedule):
        if control.values.shape[-1] != len(pathway.control_channels):
            raise ValueError(
                f"control schedule has {control.values.shape[-1]} channels; "
                f"{pathway.name} has {len(pathway.control_channels)}: {pathway.control_channels}"
            )
        return control
    if isinstance(control, Mapping):
        unknown = set(control) - set(pathway.control_channels)
        if unknown:
            raise ValueError(
                f"unknown control channel(s) {sorted(unknown)}; {pathway.name} has {pathway.control_channels}"
            )
        v = np.array(pathway.control_default, dtype=float)
        for k, val in control.items():
            j = pathway.control_channels.index(k)
            lo, hi = pathway.control_bounds[j]
            x = float(val)
            if not lo <= x <= hi:  # also refuses NaN
                raise ValueError(f"control {k}={x:g} is outside its admissible range [{lo:g}, {hi:g}] for {pathway.name}")
            v[j] = x
        return Schedule.constant(v)
    arr = jnp.asarray(control, dtype=float)
    if arr.shape != (len(pathway.control_channels),):
        raise ValueError(
            f"control must be None, a Schedule, a dict over {pathway.control_channels}, or an array of "
            f"shape ({len(pathway.control_channels)},); got shape {arr.shape}"
        )
    return Schedule.constant(arr)


@dataclass(frozen=True, eq=False, repr=False)
class Pathway(ABC):
    """Description of a signalling pathway (see module docstring).

    Subclasses implement :meth:`cell_rhs`, :meth:`x0` and, when ``geometry`` is set, the field
    terms :meth:`field_terms`. Parameters reach those methods as a dict name -> scalar in natural
    units; ``u`` is the control vector (n_channels,) at time t.
    """

    name: str
    species: tuple[str, ...]
    param_names: tuple[str, ...]
    nominal_values: tuple[float, ...]
    free: tuple[str, ...]
    control_channels: tuple[str, ...]
    control_default: tuple[float, ...]
    control_bounds: tuple[tuple[float, float], ...]
    t_end: float
    n_cells: int = 1
    geometry: Geometry | None = None
    default_observe: tuple[str, ...] = ()
    prior_sd: float = 0.5
    description: str = ""
    units: Mapping[str, str] = field(default_factory=dict)
    kwargs: Mapping[str, object] = field(default_factory=dict)  # factory arguments, to rebuild it

    # ----- derived -------------------------------------------------------------------------
    @property
    def nominal(self) -> dict[str, float]:
        return dict(zip(self.param_names, self.nominal_values, strict=True))

    @property
    def prior(self) -> Prior:
        """Default prior: log θ_free ~ N(log nominal, diag(prior_sd²)) (paper Table II)."""
        nom = self.nominal
        return Prior(np.log([nom[n] for n in self.free]), sd=self.prior_sd, names=self.free)

    @property
    def spatial(self) -> bool:
        return self.geometry is not None

    @property
    def n_species(self) -> int:
        return len(self.species)

    def theta_vector(self, theta=None) -> np.ndarray:
        """Full natural-unit parameter vector ordered as ``param_names``.

        ``theta`` may be None (nominal), a mapping (missing entries take nominal values) or an
        array of length ``len(param_names)``.
        """
        if theta is None:
            return np.asarray(self.nominal_values, dtype=np.float64)
        if isinstance(theta, Mapping):
            unknown = set(theta) - set(self.param_names)
            if unknown:
                raise ValueError(f"unknown parameter(s) {sorted(unknown)} for {self.name}; known: {self.param_names}")
            nom = self.nominal
            nom.update({k: float(v) for k, v in theta.items()})
            return np.asarray([nom[n] for n in self.param_names], dtype=np.float64)
        arr = np.asarray(theta, dtype=np.float64)
        if arr.shape != (len(self.param_names),):
            raise ValueError(
                f"theta must have shape ({len(self.param_names)},) ordered as {self.param_names}; got {arr.shape}"
            )
        return arr

    def params(self, theta) -> dict:
        """Map a (P,) natural-unit vector to a dict name -> scalar (jax-traceable)."""
        return {n: theta[i] for i, n in enumerate(self.param_names)}

    # ----- to be provided by subclasses -----------------------------------------------------
    @abstractmethod
    def x0(self, p) -> jnp.ndarray:
        """Initial intracellular state, shape (n_cells, n_species)."""

    @abstractmethod
    def cell_rhs(self, x, ell, p, u) -> jnp.ndarray:
        """f(x, ℓ; θ, u): (n_cells, n_species) rates; ``ell`` is (n_cells,) membrane-averaged ligand."""

    def field_terms(self, x, p, u):
        """Spatial pathways: ``(D, lam, kappa_b, receptor (C,), cell_secretion (C,), external_source (n, n))``.

        The ligand PDE solved is ∂L/∂t = D ∇²L − λ L − Σ_i κ_b 1_{Γ_i} L R_i + Σ_i s_i 1_{Γ_i} + S_ext.
        """
        raise TypeError(f"{self.name} has no ligand field (it is an ODE-only pathway)")

    labelled_field: bool = False  # class-level switch, see ``sensing_matrix``

    @property
    def n_fields(self) -> int:
        return self.n_cells if self.labelled_field else 1

    @property
    def sensing_matrix(self) -> np.ndarray:
        """W (n_cells, n_fields): cell i senses Σ_f W[i, f] A_i[L_f].

        One shared field: W = 1. Source-labelled fields (Notch): L_f is the ligand shed by cell f and
        W = 1 − I, i.e. only *trans* ligand activates; the total L = Σ_f L_f obeys eq (1) exactly,
        because the PDE is linear in L for given receptor levels.
        """
        if self.labelled_field:
            return 1.0 - np.eye(self.n_cells)
        return np.ones((self.n_cells, 1))

    def L0(self, p) -> jnp.ndarray:
        """Initial ligand field components (n_fields, n, n); zero unless a pathway says otherwise."""
        n = self.geometry.n
        return jnp.zeros((self.n_fields, n, n))

    def __hash__(self):
        return id(self)

    def __repr__(self) -> str:
        geo = f", grid={self.geometry.n}" if self.geometry is not None else ""
        return f"<Pathway {self.name}: cells={self.n_cells}{geo}, species={self.species}, free={self.free}>"
