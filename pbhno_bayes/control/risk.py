r"""Risk measures of a weighted cost ensemble {(J_s, w_s)}, Σ w_s = 1 (all differentiable in J).

* ``"mean"``      E[J] = Σ_s w_s J_s.
* ``"mean_std"``  E[J] + κ · sd[J], sd² = Σ_s w_s (J_s − E[J])²  (κ ≥ 0, default 1).
* ``"cvar"``      CVaR_α[J] = E[J | J in the worst (1 − α) probability mass]
                  = min_c { c + E[(J − c)_+] / (1 − α) }  (Rockafellar & Uryasev 2000);
                  computed exactly on the discrete distribution by sorting J in decreasing order
                  and taking weight from the top until 1 − α is reached (the last draw
                  fractionally). α ∈ [0, 1) (default 0.9); α = 0 gives the mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

__all__ = ["Risk", "make_risk", "risk_value"]

RISKS = ("mean", "mean_std", "cvar")


@dataclass(frozen=True)
class Risk:
    measure: str = "mean"
    kappa: float = 1.0
    alpha: float = 0.9

    def to_json(self) -> dict:
        out = {"measure": self.measure}
        if self.measure == "mean_std":
            out["kappa"] = self.kappa
        if self.measure == "cvar":
            out["alpha"] = self.alpha
        return out


def make_risk(risk="mean", kappa: float = 1.0, alpha: float = 0.9) -> Risk:
    if isinstance(risk, Risk):
        return risk
    if risk not in RISKS:
        raise ValueError(f"risk must be one of {RISKS}, got {risk!r}")
    kappa, alpha = float(kappa), float(alpha)
    if not (kappa >= 0 and kappa < float("inf")):
        raise ValueError(f"kappa must be a finite number >= 0, got {kappa}")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1) (CVaR tail mass is 1 - alpha), got {alpha}")
    return Risk(risk, kappa, alpha)


def risk_value(risk: Risk, J, w):
    """Risk of costs ``J`` (S,) with weights ``w`` (S,) summing to one."""
    mean = jnp.sum(w * J)
    if risk.measure == "mean":
        return mean
    if risk.measure == "mean_std":
        var = jnp.sum(w * (J - mean) ** 2)
        # sqrt has an infinite derivative at 0 (a single draw, or all costs equal)
        return mean + risk.kappa * jnp.sqrt(var + 1e-30)
    tail = 1.0 - risk.alpha
    order = jnp.argsort(-J)
    Js, ws = J[order], w[order]
    before = jnp.cumsum(ws) - ws
    take = jnp.clip(tail - before, 0.0, ws)
    return jnp.sum(take * Js) / tail
