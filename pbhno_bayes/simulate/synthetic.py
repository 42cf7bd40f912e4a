"""Synthetic data: partial, noisy, irregularly sampled observations from the reference solver."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from ..data import Observations
from ..pathways.base import Pathway
from .solver import ForwardModel, MechanisticModel

__all__ = ["simulate", "sample_times", "signal_scale"]


def sample_times(n: int, t_end: float, seed: int = 0) -> np.ndarray:
    """``n`` irregular times in (0, t_end]: one uniform draw in each of n equal strata (seeded)."""
    if int(n) != n or n < 1:
        raise ValueError(f"times: a count must be a positive integer, got {n}")
    rng = np.random.default_rng([seed, 7])
    k = np.arange(n)
    t = t_end * (k + rng.uniform(0.05, 1.0, n)) / n
    return np.sort(t)


def signal_scale(states: np.ndarray) -> np.ndarray:
    """Per-species signal scale: max over time and cells of |x_s(t)| on a dense grid, (S,)."""
    return np.nanmax(np.abs(states), axis=(0, 1))


def simulate(pathway: Pathway, theta=None, times=12, observe: Sequence[str] | None = None,
             noise: float = 0.2, seed: int = 0, control=None, *, cells: Sequence[int] | None = None,
             forward: ForwardModel | None = None, t_end: float | None = None,
             report_sigma: bool = True) -> Observations:
    r"""Simulate noisy partial observations.

    Noise model: y = x + ε, ε ~ N(0, σ_s²) with σ_s = ``noise`` × scale_s, where scale_s is the
    largest |x_s(t)| over the cells and a dense 201-point grid on [0, max(times)] (the species'
    peak amplitude). So ``noise=0.2`` is "20 % noise" relative to each species' own range.

    Parameters
    ----------
    pathway : Pathway
    theta : None (nominal), mapping or (P,) array in natural units.
    times : int (count of irregular seeded times in (0, t_end]) or explicit 1-D array.
    observe : species to observe (default: the pathway's default observables).
    noise : float ≥ 0, noise level as a fraction of each species' signal scale.
    seed : int; the same seed gives identical data.
    control : None, Schedule, mapping or array (see :func:`pbhno_bayes.pathways.as_schedule`).
    cells : which cells are observed (default all).
    forward : forward model to simulate with (default the reference solver).
    report_sigma : store σ_s with the data (known noise); otherwise σ is left to inference.
    """
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    fm = forward if forward is not None else MechanisticModel(pathway)
    th = pathway.theta_vector(theta)
    if np.any(th <= 0) or not np.all(np.isfinite(th)):
        raise ValueError(f"theta must be finite and > 0 (rates are positive); got {th.tolist()}")
    t_end = pathway.t_end if t_end is None else float(t_end)
    if np.ndim(times) == 0:
        ts = sample_times(int(times), t_end, seed)
    else:
        ts = np.asarray(times, dtype=np.float64)
        if ts.ndim != 1 or ts.size == 0:
            raise ValueError("times must be a positive count or a non-empty 1-D array")
        if not np.all(np.isfinite(ts)) or np.any(ts < 0):
            raise ValueError("times must be finite and >= 0")
        if np.any(np.diff(ts) <= 0):
            raise ValueError("times must be strictly increasing")
    observe = tuple(pathway.default_observe or pathway.species) if observe is None else tuple(observe)
    unknown = [s for s in observe if s not in pathway.species]
    if unknown:
        raise ValueError(f"unknown species {unknown} for {pathway.name}; known: {list(pathway.species)}")
    cells = tuple(range(pathway.n_cells)) if cells is None else tuple(int(c) for c in cells)
    bad = [c for c in cells if not 0 <= c < pathway.n_cells]
    if bad:
        raise ValueError(f"unknown cell(s) {bad}; {pathway.name} has cells 0..{pathway.n_cells - 1}")

    dense = np.linspace(0.0, ts[-1], 201)
    grid = np.union1d(dense, ts)
    states = np.asarray(fm.predict(jnp.asarray(th), jnp.asarray(grid), control))
    if not np.all(np.isfinite(states)):
        raise ValueError("the forward model failed at this theta (non-finite states); check theta and control")
    si = [pathway.species.index(s) for s in observe]
    states = states[:, list(cells)][:, :, si]
    scale = signal_scale(states)
    sigma_s = noise * np.where(scale > 0, scale, 1.0)
    x = states[np.searchsorted(grid, ts)]
    rng = np.random.default_rng(seed)
    y = x + rng.standard_normal(x.shape) * sigma_s
    sigma = np.broadcast_to(sigma_s, y.shape) if (report_sigma and noise > 0) else None
    return Observations.from_arrays(ts, y, observe, sigma=sigma, cells=cells, pathway=pathway)
