"""pbhno_bayes: Bayesian parameter discovery and uncertainty-aware control of multi-scale
cell-signalling models with Physics–Biology Hybrid Neural Operators (PB-HNO).

Double precision is switched on at import (the reference solver is validated at 1e-10 tolerances);
set the environment variable ``PBHNO_X64=0`` before importing to keep JAX's float32 default.
"""

import os as _os

import jax as _jax

if _os.environ.get("PBHNO_X64", "1") != "0":
    _jax.config.update("jax_enable_x64", True)

from . import (  # noqa: E402
    control,
    identify,
    infer,
    pathways,  # noqa: E402
    surrogate,
)
from .control import ClosedLoopResult, Plan, closed_loop, robust_mpc  # noqa: E402
from .data import Observations  # noqa: E402
from .identify import (  # noqa: E402
    attach_identifiability,
    fisher_information,
    identifiability,
    profile_likelihood,
    sensitivity_weights,
    structural_identifiability,
)
from .infer import SamplingWarning, UserModel, fit  # noqa: E402
from .pathways import Prior, Schedule  # noqa: E402
from .simulate import ForwardModel, MechanisticModel, simulate  # noqa: E402
from .surrogate import HybridSurrogate, SurrogateEnsemble, train_surrogate  # noqa: E402

__version__ = "0.1.0"

__all__ = ["pathways", "Observations", "Prior", "Schedule", "ForwardModel", "MechanisticModel",
           "simulate", "infer", "identify", "control", "surrogate", "fit", "UserModel",
           "SamplingWarning", "fisher_information", "sensitivity_weights",
           "structural_identifiability", "identifiability", "profile_likelihood",
           "attach_identifiability", "robust_mpc", "closed_loop", "Plan", "ClosedLoopResult",
           "HybridSurrogate", "SurrogateEnsemble", "train_surrogate", "__version__"]
