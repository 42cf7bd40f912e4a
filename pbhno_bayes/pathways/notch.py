"""Notch juxtacrine signalling on a ligand field (paper eqs 1–3 and A1–A5).

Per cell i (states R receptor, D Delta ligand, C trans complex, N NICD, H Hes repressor):

    dR/dt = α_R − k_on R ℓ + k_off C − k_on R D − δ_R R                          (A1 + cis loss)
    dD/dt = α_D (1 + η / (1 + Hⁿ)) − k_on D R + k_off C − δ_D D                   (A2)
    dC/dt = k_on R ℓ − (k_off + δ_C) C                                           (A3)
    dN/dt = α_N (1 − u_inh) C − δ_N N                                            (A4)
    dH/dt = α_H Nᵐ / (K_Hᵐ + Nᵐ) − δ_H H                                        (A5)

with ℓ_i = A_i[L], the mean of the ligand field over the membrane band Γ_i (eq 3). The field obeys

    ∂L/∂t = D_L ∇²L − λ_L L − Σ_i κ_b 1_{Γ_i} L R_i + Σ_i s_L D_i 1_{Γ_i} + u_lig       (eq 1)

with zero flux on ∂Ω (eq 2 with Ψ ≡ 0: membrane exchange is volumetric on the band Γ_i).

Choices the paper leaves open, all made here and only here:
* Φ(L, x_i) = L R_i (mass-action binding of free ligand to free receptor), consumption rate κ_b.
* Cells shed Delta into the field at rate s_L D_i per unit membrane area (source term).
* A2's −k_on D_i R_i is cis binding of a cell's own ligand to its own receptor (cis-inhibition,
  Sprinzak et al. 2010); we remove the receptor too (−k_on R D in A1) so that mass action is
  consistent. Cis-inhibition is what lets two cells sharing one diffusive field break symmetry.
* Controls: ``ligand`` adds a spatially uniform source u_lig ≥ 0 (a bath ligand pulse); ``inhibitor``
  u_inh ∈ [0, 1] is a γ-secretase inhibitor scaling NICD release from the complex.
Time and concentrations are dimensionless (time unit ≈ 1 h for typical Notch kinetics).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from .base import Pathway
from .geometry import lattice, two_cell

__all__ = ["Notch", "notch"]

NOTCH_PARAMS = {
    "alpha_R": 0.8, "k_on": 0.7, "k_off": 0.3, "delta_R": 0.07,
    "alpha_D": 0.75, "eta": 8.0, "n_hill": 2.0, "delta_D": 1.6,
    "delta_C": 0.5, "alpha_N": 6.0, "delta_N": 1.0,
    "alpha_H": 5.0, "m_hill": 2.0, "K_H": 0.3, "delta_H": 0.5,
    "D_L": 0.03, "kappa_b": 1.8, "s_L": 0.9, "lambda_L": 0.6,
}
NOTCH_FREE = ("k_on", "alpha_D", "alpha_N", "delta_N", "alpha_H", "D_L")


@dataclass(frozen=True, eq=False, repr=False)
class Notch(Pathway):
    labelled_field: bool = True

    def x0(self, p):
        # Receptor at its ligand-free steady state, a little Delta, no signal. The deterministic
        # ±5 % asymmetry in D is what seeds lateral inhibition (cells are otherwise identical).
        c = self.n_cells
        R = jnp.full((c,), 1.0) * p["alpha_R"] / p["delta_R"]
        tilt = 1.0 + 0.05 * jnp.cos(jnp.pi * jnp.arange(c))
        D = 0.5 * tilt
        z = jnp.zeros((c,))
        return jnp.stack([R, D, z, z, z], axis=-1)

    def cell_rhs(self, x, ell, p, u):
        R, D, C, N, H = (x[:, j] for j in range(5))
        inh = u[1]
        dR = p["alpha_R"] - p["k_on"] * R * ell + p["k_off"] * C - p["k_on"] * R * D - p["delta_R"] * R
        dD = (p["alpha_D"] * (1.0 + p["eta"] / (1.0 + jnp.maximum(H, 0.0) ** p["n_hill"]))
              - p["k_on"] * D * R + p["k_off"] * C - p["delta_D"] * D)
        dC = p["k_on"] * R * ell - (p["k_off"] + p["delta_C"]) * C
        dN = p["alpha_N"] * (1.0 - inh) * C - p["delta_N"] * N
        Nm = jnp.maximum(N, 0.0) ** p["m_hill"]
        dH = p["alpha_H"] * Nm / (p["K_H"] ** p["m_hill"] + Nm) - p["delta_H"] * H
        return jnp.stack([dR, dD, dC, dN, dH], axis=-1)

    def field_terms(self, x, p, u):
        n = self.geometry.n
        ext = jnp.full((n, n), 1.0) * u[0]
        return p["D_L"], p["lambda_L"], p["kappa_b"], x[:, 0], p["s_L"] * x[:, 1], ext


def notch(cells: int | tuple[int, int] = 2, grid: int = 32, free=None, prior_sd: float = 0.5,
          t_end: float = 48.0) -> Notch:
    """Notch pathway. ``cells=2``: two-cell geometry; ``cells=(r, c)`` or a square number: lattice."""
    if isinstance(cells, (tuple, list)):
        cells = tuple(int(c) for c in cells)
        if len(cells) != 2 or min(cells) < 1:
            raise ValueError(f"notch: a lattice is given as (rows, cols) with both >= 1; got {cells}")
        geo = lattice(cells[0], cells[1], n=grid)
    elif cells == 2:
        geo = two_cell(n=grid)
    elif cells >= 1 and int(round(cells**0.5)) ** 2 == cells:
        k = int(round(cells**0.5))
        geo = lattice(k, k, n=grid)
    else:
        raise ValueError(f"notch: cells must be 2, a square number (4, 9, ...) or (rows, cols); got {cells}")
    free = tuple(free) if free is not None else NOTCH_FREE
    unknown = set(free) - set(NOTCH_PARAMS)
    if unknown:
        raise ValueError(f"notch: unknown free parameter(s) {sorted(unknown)}")
    return Notch(
        name="notch",
        species=("R", "D", "C", "N", "H"),
        param_names=tuple(NOTCH_PARAMS),
        nominal_values=tuple(NOTCH_PARAMS.values()),
        free=free,
        control_channels=("ligand", "inhibitor"),
        control_default=(0.0, 0.0),
        control_bounds=((0.0, 2.0), (0.0, 1.0)),
        t_end=t_end,
        n_cells=geo.n_cells,
        geometry=geo,
        default_observe=("N", "H"),
        prior_sd=prior_sd,
        kwargs={"cells": list(cells) if isinstance(cells, tuple) else cells, "grid": grid, "free": list(free), "prior_sd": prior_sd, "t_end": t_end},
        description="juxtacrine Notch-Delta lateral inhibition on a diffusive ligand field, eqs A1-A5 + (1)",
    )
