"""Observation data: loading, validation and serialisation."""

from .observations import Observations

__all__ = ["Observations"]
