"""Reference ODE–PDE solver and synthetic data."""

from .solver import ADJOINTS, SOLVERS, ForwardModel, MechanisticModel
from .synthetic import sample_times, signal_scale, simulate

__all__ = ["ForwardModel", "MechanisticModel", "SOLVERS", "ADJOINTS", "simulate", "sample_times",
           "signal_scale"]
