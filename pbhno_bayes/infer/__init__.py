"""Bayesian inference: NumPyro model over any forward model, SVI → NUTS, ArviZ output."""

from .fit import SamplingWarning, fit
from .model import FailureCounter, Problem, build_problem, make_model
from .svi import GaussianApprox, fit_gaussian
from .user import UserModel, UserPathway

__all__ = ["fit", "SamplingWarning", "UserModel", "UserPathway", "build_problem", "make_model",
           "Problem", "FailureCounter", "fit_gaussian", "GaussianApprox"]
