r"""The admissible control set 𝒰 and the exact Euclidean projection onto it.

Controls are optimised in normalised coordinates z ∈ [0, 1]^{T×m}, u = lo + z (hi − lo), so one
learning rate fits channels with different ranges. 𝒰 per channel c is

    { z : 0 ≤ z_t ≤ 1,  Σ_t u_t dt ≤ B_c }  ⇔  { z : 0 ≤ z_t ≤ 1,  Σ_t z_t ≤ b_c },
    b_c = (B_c / dt − T lo_c) / (hi_c − lo_c),

a box intersected with one half-space. Its projection is z ↦ clip(z − λ, 0, 1) with the KKT
multiplier λ = 0 when the clipped point already meets the budget and otherwise the root of the
monotone function Σ_t clip(z_t − λ, 0, 1) = b_c, found by bisection (60 halvings of [0, max z]:
exact to machine precision). Projection is done channel by channel (the channels are decoupled).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Constraints", "make_constraints", "project"]


@dataclass(frozen=True)
class Constraints:
    lo: np.ndarray       # (m,)
    hi: np.ndarray       # (m,)
    budget: np.ndarray   # (m,) total dose Σ u dt allowed per channel; inf = none
    zbudget: np.ndarray  # (m,) the budget in z units (inf = none)
    dt: float
    horizon: int

    @property
    def width(self) -> np.ndarray:
        return self.hi - self.lo

    def to_u(self, z):
        return jnp.asarray(self.lo) + z * jnp.asarray(self.width)

    def to_z(self, u):
        w = np.where(self.width > 0, self.width, 1.0)
        return (jnp.asarray(u) - jnp.asarray(self.lo)) / jnp.asarray(w)

    def violations(self, u, tol: float = 1e-9) -> int:
        """Number of (interval, channel) entries outside the box plus channels over budget."""
        u = np.asarray(u)
        n = int(np.sum(u < self.lo - tol) + np.sum(u > self.hi + tol))
        dose = u.sum(0) * self.dt
        n += int(np.sum(dose > self.budget + tol * np.maximum(1.0, np.abs(self.budget))))
        return n


def make_constraints(pathway, horizon: int, dt: float, bounds=None, budget=None) -> Constraints:
    """Validate ``bounds`` (dict channel -> (lo, hi)) and ``budget`` (dict channel -> B, or a number
    for a one-channel pathway) against the pathway's admissible ranges."""
    ch = pathway.control_channels
    adm = np.asarray(pathway.control_bounds, dtype=float)  # (m, 2)
    lo, hi = adm[:, 0].copy(), adm[:, 1].copy()
    if bounds is not None:
        if not isinstance(bounds, Mapping):
            raise ValueError(f"bounds must be a dict channel -> (lo, hi) over {list(ch)}")
        for k, b in bounds.items():
            if k not in ch:
                raise ValueError(f"bounds: unknown control channel {k!r}; {pathway.name} has {list(ch)}")
            try:
                b_lo, b_hi = (float(v) for v in b)
            except (TypeError, ValueError):
                raise ValueError(f"bounds[{k!r}]: expected a pair (lo, hi), got {b!r}") from None
            i = ch.index(k)
            if not (np.isfinite(b_lo) and np.isfinite(b_hi)):
                raise ValueError(f"bounds[{k!r}]: must be finite, got ({b_lo}, {b_hi})")
            if b_lo > b_hi:
                raise ValueError(f"bounds[{k!r}] = ({b_lo}, {b_hi}) is inverted; give (lo, hi) with lo <= hi")
            if b_lo < adm[i, 0] or b_hi > adm[i, 1]:
                raise ValueError(f"bounds[{k!r}] = ({b_lo}, {b_hi}) leaves the admissible range "
                                 f"[{adm[i, 0]}, {adm[i, 1]}] of {pathway.name}; tighten it")
            lo[i], hi[i] = b_lo, b_hi
    bud = np.full(len(ch), np.inf)
    if budget is not None:
        if not isinstance(budget, Mapping):
            if len(ch) != 1:
                raise ValueError(f"budget: give a dict channel -> total dose over {list(ch)}")
            budget = {ch[0]: budget}
        for k, b in budget.items():
            if k not in ch:
                raise ValueError(f"budget: unknown control channel {k!r}; {pathway.name} has {list(ch)}")
            try:
                b = float(b)
            except (TypeError, ValueError):
                raise ValueError(f"budget[{k!r}]: expected a number, got {b!r}") from None
            if np.isnan(b):
                raise ValueError(f"budget[{k!r}] is NaN")
            bud[ch.index(k)] = b
    min_dose = lo * horizon * dt
    bad = np.flatnonzero(bud < min_dose - 1e-12)
    if bad.size:
        i = bad[0]
        raise ValueError(f"budget[{ch[i]!r}] = {bud[i]} is infeasible: the lower bound {lo[i]} held for "
                         f"{horizon} x {dt} time units already gives a dose of {min_dose[i]:.6g}; "
                         "raise the budget or lower the bound")
    w = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        zb = np.where(w > 0, (bud / dt - horizon * lo) / np.where(w > 0, w, 1.0), np.inf)
    zb = np.where(np.isfinite(bud), zb, np.inf)
    return Constraints(lo=lo, hi=hi, budget=bud, zbudget=zb, dt=float(dt), horizon=int(horizon))


def _project_channel(z, b):
    """Project z (T,) onto {0 ≤ z ≤ 1, Σ z ≤ b} (b may be inf)."""
    zc = jnp.clip(z, 0.0, 1.0)
    over = jnp.sum(zc) > b

    def body(_, bracket):
        a, c = bracket
        mid = 0.5 * (a + c)
        too_big = jnp.sum(jnp.clip(z - mid, 0.0, 1.0)) > b
        return jnp.where(too_big, mid, a), jnp.where(too_big, c, mid)

    # Σ clip(z − λ) is 0 at λ = max z, so [0, max z + 1] brackets the root whenever b ≥ 0.
    hi0 = jnp.maximum(jnp.max(z), 0.0) + 1.0
    _, lam = jax.lax.fori_loop(0, 60, body, (jnp.zeros_like(hi0), hi0))
    return jnp.where(over, jnp.clip(z - lam, 0.0, 1.0), zc)


def project(z, zbudget):
    """Project z (T, m) onto 𝒰 (normalised coordinates); ``zbudget`` (m,) with inf for no budget."""
    return jax.vmap(_project_channel, in_axes=(1, 0), out_axes=1)(z, jnp.asarray(zbudget, z.dtype))
