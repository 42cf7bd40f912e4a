"""Reference solver: method of lines + diffrax, behind the :class:`ForwardModel` interface.

Spatial pathways are discretised on the pathway's grid with the second-order, zero-flux
five-point Laplacian (:func:`pbhno_bayes.pathways.laplacian_neumann`); the field and the per-cell
ODEs form one coupled ODE system integrated by an adaptive diffrax solver. Everything is a pure
JAX function of (θ, control), so it can be jit-compiled, vmapped over θ and differentiated.

Failure is a value: a solve that hits ``max_steps`` or produces a non-finite state returns NaN
states and ``ok = False`` instead of raising, so samplers can reject it and count it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..pathways.base import Pathway, as_schedule
from ..pathways.geometry import laplacian_neumann

__all__ = ["ForwardModel", "MechanisticModel", "SOLVERS", "ADJOINTS"]

SOLVERS = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "kvaerno5": diffrax.Kvaerno5,
    "kencarp4": diffrax.KenCarp4,
}
ADJOINTS = ("recursive", "forward", "backsolve", "direct")


class ForwardModel(eqx.Module):
    """Anything that maps (θ, times, control) to intracellular trajectories.

    ``predict(theta, times, control=None) -> (T, n_cells, n_species)`` with θ in natural units,
    ordered as ``pathway.param_names``. Must be jit/vmap/grad-able in θ (and in control values).
    Inference, identifiability and control only ever see this interface.
    """

    pathway: Pathway = eqx.field(static=True)

    @abstractmethod
    def predict(self, theta, times, control=None) -> jnp.ndarray:
        """Trajectories at ``times``: (T, n_cells, n_species); NaN where the solve failed."""

    def predict_status(self, theta, times, control=None):
        """``(states, ok)``; ``ok`` is a scalar bool, False when the rollout failed (NaN/inf/max steps)."""
        ys = self.predict(theta, times, control)
        return ys, jnp.all(jnp.isfinite(ys))

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.pathway.param_names

    def theta_array(self, theta) -> jnp.ndarray:
        """Accept None / mapping / array and return the full (P,) natural-unit vector."""
        if theta is None or isinstance(theta, Mapping):
            return jnp.asarray(self.pathway.theta_vector(theta))
        theta = jnp.asarray(theta)
        if theta.shape != (len(self.pathway.param_names),):
            raise ValueError(
                f"theta must have shape ({len(self.pathway.param_names)},) ordered as "
                f"{self.pathway.param_names}; got {theta.shape}"
            )
        return theta


class SolveBackedModel(ForwardModel):
    """A forward model whose ``solve(theta, times, control)`` returns dict(states, field, ok,
    num_steps); ``predict``, ``predict_status`` and ``field`` are read off it (shared by the
    reference solver and the hybrid surrogate)."""

    @abstractmethod
    def solve(self, theta, times, control=None) -> dict:
        """dict(states (T, C, S), field (T, n, n) or None, ok, num_steps)."""

    def predict(self, theta, times, control=None):
        return self.solve(theta, times, control)["states"]

    def predict_status(self, theta, times, control=None):
        out = self.solve(theta, times, control)
        return out["states"], out["ok"]

    def field(self, theta, times, control=None):
        """Ligand field (total over ligand species) at ``times``: (T, n, n); spatial pathways only."""
        if not self.pathway.spatial:
            raise ValueError(f"{self.pathway.name} has no ligand field")
        return self.solve(theta, times, control)["field"]


class MechanisticModel(SolveBackedModel):
    """The reference ODE–PDE solver as a forward model.

    Parameters
    ----------
    pathway : Pathway
    solver : {"tsit5", "dopri5", "dopri8", "kvaerno5", "kencarp4"}
        Explicit (default Tsit5) or stiff (Kvaerno5) Runge–Kutta, adaptive steps.
    rtol, atol : float
        PID step-size controller tolerances.
    max_steps : int
        A solve needing more steps fails (returned as NaN, ``ok=False``), it does not raise.
    adjoint : {"recursive", "forward", "backsolve", "direct"}
        How gradients are taken: discretise-then-optimise reverse mode (default), forward-mode
        sensitivities (fastest for few parameters with ``jax.jacfwd``), continuous adjoint.
    """

    solver: str = eqx.field(static=True, default="tsit5")
    rtol: float = eqx.field(static=True, default=1e-6)
    atol: float = eqx.field(static=True, default=1e-8)
    max_steps: int = eqx.field(static=True, default=16384)
    adjoint: str = eqx.field(static=True, default="recursive")

    def __check_init__(self):
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {self.solver!r}")
        if self.adjoint not in ADJOINTS:
            raise ValueError(f"adjoint must be one of {ADJOINTS}, got {self.adjoint!r}")
        if not (self.rtol > 0 and self.atol > 0):
            raise ValueError("rtol and atol must be > 0")

    # ------------------------------------------------------------------ system
    def initial_state(self, theta):
        pw = self.pathway
        p = pw.params(theta)
        x0 = pw.x0(p).astype(theta.dtype)
        if pw.spatial:
            return (pw.L0(p).astype(theta.dtype), x0)
        return x0


    def vector_field(self, t, y, args):
        theta, schedule = args
        pw = self.pathway
        p = pw.params(theta)
        u = schedule(t)
        if not pw.spatial:
            return pw.cell_rhs(y, jnp.zeros((pw.n_cells,), y.dtype), p, u)
        L, x = y  # L: (F, n, n) ligand components (F = 1, or one per secreting cell)
        geo = pw.geometry
        A = jnp.asarray(geo.averaging, L.dtype)
        masks = jnp.asarray(geo.masks, L.dtype)
        # ℓ_i = Σ_f W[i, f] A_i[L_f]: W is all ones for one field, 1 − I for source-labelled
        # fields (a cell's own ligand binds its receptors in cis and does not activate them).
        W = jnp.asarray(pw.sensing_matrix, L.dtype)
        ell = jnp.sum(W * jnp.einsum("cij,fij->cf", A, L), axis=-1)
        D, lam, kb, R, sec, ext = pw.field_terms(x, p, u)
        lap = jax.vmap(laplacian_neumann, in_axes=(0, None))(L, geo.h)
        sink = kb * jnp.einsum("c,cij->ij", R, masks)
        if pw.labelled_field:
            src = sec[:, None, None] * masks + ext[None] / L.shape[0]
        else:
            src = (jnp.einsum("c,cij->ij", sec, masks) + ext)[None]
        dL = D * lap - lam * L - sink[None] * L + src
        dx = pw.cell_rhs(x, ell, p, u)
        return (dL, dx)

    def _adjoint(self):
        return {
            "recursive": diffrax.RecursiveCheckpointAdjoint,
            "forward": diffrax.ForwardMode,
            "backsolve": diffrax.BacksolveAdjoint,
            "direct": diffrax.DirectAdjoint,
        }[self.adjoint]()

    # ------------------------------------------------------------------ solve
    def solve(self, theta, times, control=None):
        """Full solution: dict with ``states`` (T, C, S), ``field`` (T, n, n) or None, ``ok``, ``num_steps``."""
        theta = self.theta_array(theta)
        if not jnp.issubdtype(theta.dtype, jnp.floating):
            theta = theta.astype(float)
        times = jnp.asarray(times, dtype=theta.dtype)
        if times.ndim != 1:
            raise ValueError(f"times must be a 1-D array, got shape {times.shape}")
        schedule = as_schedule(self.pathway, control)
        y0 = self.initial_state(theta)
        t1 = jnp.maximum(times[-1], 1e-9)
        controller = diffrax.PIDController(rtol=self.rtol, atol=self.atol,
                                           jump_ts=jnp.asarray(schedule.edges, theta.dtype))
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(self.vector_field), SOLVERS[self.solver](), t0=0.0, t1=t1, dt0=None,
            y0=y0, args=(theta, schedule), saveat=diffrax.SaveAt(ts=times),
            stepsize_controller=controller, max_steps=self.max_steps, throw=False,
            adjoint=self._adjoint(),
        )
        if self.pathway.spatial:
            field, states = sol.ys
            field = field.sum(axis=1)  # total ligand L = Σ_f L_f, (T, n, n)
        else:
            field, states = None, sol.ys
        ok = (sol.result == diffrax.RESULTS.successful) & jnp.all(jnp.isfinite(states))
        states = jnp.where(ok, states, jnp.nan)
        if field is not None:
            field = jnp.where(ok, field, jnp.nan)
        return {"states": states, "field": field, "ok": ok, "num_steps": sol.stats["num_steps"]}



def dense_times(t_end: float, n: int = 201) -> np.ndarray:
    return np.linspace(0.0, float(t_end), n)
