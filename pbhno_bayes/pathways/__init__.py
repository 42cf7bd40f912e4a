"""Pathway library: MAPK (ODE), Notch (juxtacrine, field-coupled), Wnt (morphogen)."""

from .base import Pathway, Prior, Schedule, as_schedule
from .geometry import Geometry, laplacian_neumann, lattice, row, two_cell
from .mapk import mapk
from .notch import notch
from .wnt import wnt

__all__ = ["Pathway", "Prior", "Schedule", "as_schedule", "Geometry", "lattice", "laplacian_neumann",
           "row", "two_cell", "mapk", "notch", "wnt", "get"]


def get(name: str, **kwargs) -> Pathway:
    """Build a pathway by name (``mapk``, ``mapk_feedback``, ``notch``, ``wnt``)."""
    table = {"mapk": mapk, "notch": notch, "wnt": wnt}
    if name == "mapk_feedback":
        kwargs = {k: v for k, v in kwargs.items() if k != "feedback"}
        return mapk(feedback=True, **kwargs)
    if name not in table:
        raise ValueError(f"unknown pathway {name!r}; choose one of mapk, mapk_feedback, notch, wnt")
    return table[name](**kwargs)
