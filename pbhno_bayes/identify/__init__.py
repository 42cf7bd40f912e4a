"""Identifiability: Fisher information, sensitivity weights, structural rank test, posterior diagnostics."""

from .fisher import FisherResult, fisher_information, observation_jacobian, sensitivity_weights
from .practical import (
                        DEFAULT_THRESHOLDS,
                        IdentifiabilityTable,
                        ProfileResult,
                        attach_identifiability,
                        identifiability,
                        profile_likelihood,
)
from .structural import ODEModel, StructuralResult, structural_identifiability

__all__ = ["FisherResult", "fisher_information", "observation_jacobian", "sensitivity_weights",
           "DEFAULT_THRESHOLDS", "IdentifiabilityTable", "ProfileResult", "attach_identifiability",
           "identifiability", "profile_likelihood", "ODEModel", "StructuralResult",
           "structural_identifiability"]
