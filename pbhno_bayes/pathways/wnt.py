"""Wnt morphogen gradient (paper eqs A6–A7).

Ligand field (Ω = [0, 1]², zero flux on ∂Ω):

    ∂L/∂t = D ∇²L − λ L − Σ_i κ_b 1_{Γ_i} L R_i + s_W u_src 1_{S}                     (A6)

where S = {x < 0.1} is the source strip and u_src (default 1) the control on source amplitude.
Per cell i (R free receptor, B ligand-bound / internalised receptor, β β-catenin), eq (A7):

    dR/dt = α_R − k_on R ℓ − δ_R R
    dB/dt = k_on R ℓ − k_int B
    dβ/dt = k_β B − δ_β β

with ℓ_i = A_i[L]. Φ(L, x_i) = L R_i (mass-action binding), as for Notch. Cells sit in a row at
increasing distance from the source, so β-catenin reads out the gradient. Dimensionless units.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from .base import Pathway
from .geometry import row

__all__ = ["Wnt", "wnt"]

WNT_PARAMS = {
    "D": 0.02, "lambda_": 0.5, "s_W": 2.0, "kappa_b": 0.5,
    "alpha_R": 1.0, "k_on": 1.0, "delta_R": 0.5, "k_int": 0.5,
    "k_beta": 1.0, "delta_beta": 0.5,
}
WNT_FREE = ("D", "lambda_", "s_W", "k_on", "k_int", "k_beta")


@dataclass(frozen=True, eq=False, repr=False)
class Wnt(Pathway):
    def x0(self, p):
        c = self.n_cells
        R = jnp.full((c,), 1.0) * p["alpha_R"] / p["delta_R"]
        z = jnp.zeros((c,))
        return jnp.stack([R, z, z], axis=-1)

    def cell_rhs(self, x, ell, p, u):
        R, B, beta = x[:, 0], x[:, 1], x[:, 2]
        bind = p["k_on"] * R * ell
        dR = p["alpha_R"] - bind - p["delta_R"] * R
        dB = bind - p["k_int"] * B
        dbeta = p["k_beta"] * B - p["delta_beta"] * beta
        return jnp.stack([dR, dB, dbeta], axis=-1)

    def field_terms(self, x, p, u):
        ext = p["s_W"] * u[0] * jnp.asarray(self.geometry.source_mask, x.dtype)
        return p["D"], p["lambda_"], p["kappa_b"], x[:, 0], jnp.zeros((self.n_cells,)), ext


def wnt(cells: int = 4, grid: int = 32, free=None, prior_sd: float = 0.5, t_end: float = 12.0) -> Wnt:
    """Wnt morphogen pathway with ``cells`` cells in a row away from a source strip."""
    if cells < 1:
        raise ValueError(f"wnt: cells must be >= 1, got {cells}")
    geo = row(cells, n=grid)
    free = tuple(free) if free is not None else WNT_FREE
    unknown = set(free) - set(WNT_PARAMS)
    if unknown:
        raise ValueError(f"wnt: unknown free parameter(s) {sorted(unknown)}")
    return Wnt(
        name="wnt",
        species=("R", "B", "beta"),
        param_names=tuple(WNT_PARAMS),
        nominal_values=tuple(WNT_PARAMS.values()),
        free=free,
        control_channels=("source",),
        control_default=(1.0,),
        control_bounds=((0.0, 5.0),),
        t_end=t_end,
        n_cells=cells,
        geometry=geo,
        default_observe=("beta",),
        prior_sd=prior_sd,
        kwargs={"cells": cells, "grid": grid, "free": list(free), "prior_sd": prior_sd, "t_end": t_end},
        description="morphogen gradient with receptor binding/internalisation and beta-catenin, eqs A6-A7",
    )
