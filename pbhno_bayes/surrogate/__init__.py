"""PB-HNO hybrid surrogate: FNO ligand operator + neural-ODE kinetics, training, shipped weights."""

from .fno import FNO2d, SpectralConv2d
from .hybrid import HybridSurrogate, SurrogateEnsemble, inflate_sigma
from .operators import CouplingOperators
from .train import TrainResult, evaluate, make_dataset, train_surrogate

__all__ = ["HybridSurrogate", "SurrogateEnsemble", "inflate_sigma", "FNO2d", "SpectralConv2d",
           "CouplingOperators", "train_surrogate", "TrainResult", "make_dataset", "evaluate"]
