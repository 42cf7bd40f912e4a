"""Neural-ODE reaction block (paper eq 5): f = f_mech(x, ℓ; θ, u) + g_ψ(x, ℓ).

g_ψ is a per-cell MLP (Table II: 3 hidden layers × 128, ReLU) on the normalised state and sensed
ligand, with a zero-initialised last layer so the block starts as the pathway's mechanistic
kinetics. It is integrated with diffrax (adaptive Tsit5, PID controller); the adjoint is
selectable: ``"recursive"`` (discretise-then-optimise, default), ``"backsolve"`` (the paper's
continuous adjoint, Appendix D) or ``"forward"``.
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = ["Correction", "ADJOINTS", "make_adjoint"]

ADJOINTS = ("recursive", "backsolve", "forward")


def make_adjoint(name: str):
    return {"recursive": diffrax.RecursiveCheckpointAdjoint, "backsolve": diffrax.BacksolveAdjoint,
            "forward": diffrax.ForwardMode}[name]()


class Correction(eqx.Module):
    """g_ψ: (S normalised state [+ 1 ligand] [+ extra]) -> S rates, applied cell by cell."""

    mlp: eqx.nn.MLP

    def __init__(self, n_in: int, n_out: int, *, width: int = 128, depth: int = 3, key):
        mlp = eqx.nn.MLP(n_in, n_out, width, depth, activation=jax.nn.relu, key=key)
        last = mlp.layers[-1]
        last = eqx.tree_at(lambda lin: (lin.weight, lin.bias), last,
                           (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)))
        self.mlp = eqx.tree_at(lambda m: m.layers[-1], mlp, last)

    def __call__(self, z):
        """z (C, n_in) -> (C, n_out)."""
        return jax.vmap(self.mlp)(z)
