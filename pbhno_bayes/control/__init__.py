"""Robust model-predictive control over posterior ensembles (paper Algorithm 2)."""

from .closed_loop import ClosedLoopResult, closed_loop
from .constraints import Constraints, make_constraints, project
from .ensemble import Ensemble, posterior_ensemble
from .mpc import MPCProblem, MPCState, Plan, make_mpc, robust_mpc
from .risk import Risk, make_risk, risk_value
from .target import TargetTerm, parse_target

__all__ = ["robust_mpc", "Plan", "closed_loop", "ClosedLoopResult", "Ensemble", "posterior_ensemble", "make_mpc", "MPCProblem", "MPCState",
           "Constraints", "make_constraints", "project", "Risk", "make_risk", "risk_value", "TargetTerm",
           "parse_target"]
