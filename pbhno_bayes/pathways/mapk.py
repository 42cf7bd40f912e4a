"""MAPK three-tier phosphorylation cascade (paper Appendix A, eqs A8–A10). ODE only, one cell.

    dX/dt = k1 U(t) (1 − X) − k2 X                (A8)   [with feedback: k1 U (1 − X) / (1 + k_fb Z)]
    dY/dt = k3 X (1 − Y) − k4 Y                   (A9)
    dZ/dt = k5 Y (1 − Z) − k6 Z                   (A10)

X, Y, Z are the phosphorylated fractions of each tier (dimensionless, in [0, 1]); rates in 1/time;
x(0) = 0; the stimulus U(t) ≥ 0 is the control channel (default U ≡ 1). Nominal k_j = 1 (so the
default prior is log k_j ~ N(0, 0.5²), the same as the Stan peer), horizon t ∈ [0, 10].
The feedback variant (negative feedback of Z on the first step, nominal k_fb = 2) is the
"true" system used to test model misspecification.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from .base import Pathway

__all__ = ["MAPK", "mapk"]


@dataclass(frozen=True, eq=False, repr=False)
class MAPK(Pathway):
    feedback: bool = False

    def x0(self, p):
        return jnp.zeros((1, 3))

    def cell_rhs(self, x, ell, p, u):
        X, Y, Z = x[:, 0], x[:, 1], x[:, 2]
        U = u[0]
        act1 = p["k1"] * U * (1.0 - X)
        if self.feedback:
            act1 = act1 / (1.0 + p["k_fb"] * Z)
        dX = act1 - p["k2"] * X
        dY = p["k3"] * X * (1.0 - Y) - p["k4"] * Y
        dZ = p["k5"] * Y * (1.0 - Z) - p["k6"] * Z
        return jnp.stack([dX, dY, dZ], axis=-1)


def mapk(feedback: bool = False, free=None, prior_sd: float = 0.5) -> MAPK:
    """The MAPK cascade. ``feedback=True`` adds Z ⊣ first step with strength ``k_fb`` (nominal 2)."""
    names = ("k1", "k2", "k3", "k4", "k5", "k6") + (("k_fb",) if feedback else ())
    values = (1.0,) * 6 + ((2.0,) if feedback else ())
    free = tuple(free) if free is not None else ("k1", "k2", "k3", "k4", "k5", "k6")
    return MAPK(
        name="mapk_feedback" if feedback else "mapk",
        species=("X", "Y", "Z"),
        param_names=names,
        nominal_values=values,
        free=free,
        control_channels=("U",),
        control_default=(1.0,),
        control_bounds=((0.0, 5.0),),
        t_end=10.0,
        n_cells=1,
        default_observe=("X", "Y", "Z"),
        prior_sd=prior_sd,
        kwargs={"feedback": feedback, "free": list(free), "prior_sd": prior_sd},
        description="three-tier phosphorylation cascade, eqs A8-A10",
        units={n: "1/time" for n in names if n != "k_fb"} | ({"k_fb": "1/(fraction)"} if feedback else {}),
        feedback=feedback,
    )
