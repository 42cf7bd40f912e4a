"""pbhno_bayes: Bayesian parameter discovery and uncertainty-aware control of multi-scale
cell-signalling models with Physics–Biology Hybrid Neural Operators (PB-HNO).

Double precision is switched on at import (the reference solver is validated at 1e-10 tolerances);
set the environment variable ``PBHNO_X64=0`` before importing to keep JAX's float32 default.

On jaxlib 0.10 the import also adds ``--xla_cpu_use_fusion_emitters=false`` to ``XLA_FLAGS``
(XLA's CPU backend then generates code with its classic emitters instead of the MLIR fusion
emitters): most of a first ``pb.fit`` on a CPU is XLA compilation, and with the flag
``examples/quickstart.py --quick`` took 65-70 s instead of 81 s on a 2-core CPU (two runs each,
alternating: ``time env -u XLA_FLAGS PBHNO_XLA_DEFAULTS=1|0 python examples/quickstart.py --quick``,
2026-12-01); the generated code was not slower either (NUTS on MAPK, 4 × 1,500
iterations: 86 s instead of 121 s, reports/performance.md). Results are the same up to the order
of floating-point operations (draws of a short fit agree to ~1e-8; long chains drift apart draw by
draw but give the same posterior). It takes effect only if
JAX has not started its CPU backend yet (import pbhno_bayes before computing with JAX), is left
out if ``XLA_FLAGS`` already sets that flag, and ``PBHNO_XLA_DEFAULTS=0`` turns it off.
"""

import os as _os

import jax as _jax

if _os.environ.get("PBHNO_X64", "1") != "0":
    _jax.config.update("jax_enable_x64", True)


def _xla_defaults():
    """Add our XLA CPU flag to ``XLA_FLAGS`` (see the module docstring). Only for jaxlib 0.10,
    where it was measured: XLA aborts the process on a flag its version does not know."""
    import jaxlib

    if _os.environ.get("PBHNO_XLA_DEFAULTS", "1") == "0" or not jaxlib.__version__.startswith("0.10."):
        return
    flags = _os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_use_fusion_emitters" not in flags:
        _os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_use_fusion_emitters=false").strip()


_xla_defaults()

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
