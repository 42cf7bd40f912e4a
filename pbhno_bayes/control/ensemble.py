r"""Posterior ensembles: full natural-unit θ draws (S, P) from an InferenceData posterior.

The posterior holds ``log_theta`` (chain, draw, param) over the free parameters (coordinate
``param``); fixed parameters take the pathway's nominal values, so a full draw is
θ = nominal with θ_free ← exp(log θ_free).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

__all__ = ["Ensemble", "posterior_ensemble"]


@dataclass(frozen=True)
class Ensemble:
    """S parameter draws with normalised importance weights.

    theta : (S, P) natural units, ordered as ``pathway.param_names``.
    weights : (S,) ≥ 0, Σ = 1 (uniform for plain posterior draws).
    log_theta_free : (S, F) the free coordinates (log scale), F = len(free).
    """

    theta: np.ndarray
    weights: np.ndarray
    free: tuple[str, ...]
    free_index: np.ndarray

    @property
    def size(self) -> int:
        return self.theta.shape[0]

    @property
    def log_theta_free(self) -> np.ndarray:
        return np.log(self.theta[:, self.free_index])

    @property
    def ess(self) -> float:
        """Kish effective sample size 1 / Σ w²."""
        return float(1.0 / np.sum(self.weights**2))

    def mean_theta(self) -> np.ndarray:
        """The single 'nominal' draw: θ_free = exp(E_w[log θ_free]) (posterior mean of log θ)."""
        th = self.theta[0].copy()
        th[self.free_index] = np.exp(self.weights @ self.log_theta_free)
        return th[None, :]

    def reweighted(self, log_w) -> Ensemble:
        lw = np.log(np.maximum(self.weights, 1e-300)) + np.asarray(log_w, dtype=float)
        lw = np.where(np.isfinite(lw), lw, -np.inf)
        if not np.any(np.isfinite(lw)):
            raise ValueError("all ensemble draws have zero likelihood for the new data; "
                             "check the measurement noise or refit the posterior")
        w = np.exp(lw - lw.max())
        return Ensemble(self.theta, w / w.sum(), self.free, self.free_index)

    def subset(self, idx) -> Ensemble:
        w = self.weights[idx]
        return Ensemble(self.theta[idx], w / w.sum(), self.free, self.free_index)


def _check_pathway(pathway, idata) -> None:
    attrs = dict(getattr(idata, "attrs", {}) or {})
    if "posterior" in idata.groups():
        attrs = {**dict(idata.posterior.attrs), **attrs}
    name = attrs.get("pathway")
    if name is not None and str(name) != pathway.name:
        raise ValueError(f"the posterior was fitted for pathway {name!r}, but the forward model is "
                         f"{pathway.name!r}; use the matching pathway")
    kw = attrs.get("pathway_kwargs")
    if kw is not None and pathway.spatial:
        try:
            kw = json.loads(kw) if isinstance(kw, str) else dict(kw)
        except (ValueError, TypeError):
            return
        for k in ("cells", "grid"):
            if k in kw and k in pathway.kwargs and kw[k] != pathway.kwargs[k]:
                raise ValueError(f"the posterior was fitted with {k}={kw[k]}, the forward model has "
                                 f"{k}={pathway.kwargs[k]}; rebuild the pathway to match")


def posterior_ensemble(pathway, idata, draws: int | None = 64, seed: int = 0) -> Ensemble:
    """S = min(draws, available) posterior draws, a seeded random subset without replacement.

    ``idata`` may also be an :class:`Ensemble` (returned as is, subset if larger than ``draws``)
    or an array (S, P) of full natural-unit θ vectors.
    """
    free_index = np.array([pathway.param_names.index(n) for n in pathway.free], dtype=int)
    if isinstance(idata, Ensemble):
        ens = idata
    elif isinstance(idata, np.ndarray) or (hasattr(idata, "shape") and not hasattr(idata, "groups")):
        th = np.asarray(idata, dtype=float)
        if th.ndim != 2 or th.shape[1] != len(pathway.param_names):
            raise ValueError(f"an array ensemble must have shape (S, {len(pathway.param_names)}), got {th.shape}")
        if not np.all(np.isfinite(th)) or np.any(th <= 0):
            raise ValueError("ensemble θ draws must be finite and > 0")
        ens = Ensemble(th, np.full(th.shape[0], 1.0 / th.shape[0]), tuple(pathway.free), free_index)
    else:
        if not hasattr(idata, "groups") or "posterior" not in idata.groups():
            raise ValueError("idata must be an arviz.InferenceData with a posterior group "
                             "(from pb.fit), an Ensemble, or an (S, P) array of θ draws")
        _check_pathway(pathway, idata)
        post = idata.posterior
        if "log_theta" not in post:
            raise ValueError("the posterior has no 'log_theta' variable; was it produced by pb.fit?")
        lt = post["log_theta"]
        if "param" not in lt.dims:
            raise ValueError("posterior['log_theta'] needs a 'param' dimension named by the free parameters")
        names = [str(n) for n in lt["param"].values]
        unknown = [n for n in names if n not in pathway.param_names]
        if unknown:
            raise ValueError(f"posterior parameters {unknown} are not parameters of {pathway.name} "
                             f"({list(pathway.param_names)})")
        flat = lt.stack(sample=[d for d in lt.dims if d != "param"]).transpose("sample", "param").values
        flat = np.asarray(flat, dtype=float)
        flat = flat[np.all(np.isfinite(flat), axis=1)]
        if flat.shape[0] == 0:
            raise ValueError("the posterior has no finite log_theta draws")
        th = np.tile(np.asarray(pathway.nominal_values, dtype=float), (flat.shape[0], 1))
        for j, n in enumerate(names):
            th[:, pathway.param_names.index(n)] = np.exp(flat[:, j])
        free = tuple(names)
        fidx = np.array([pathway.param_names.index(n) for n in names], dtype=int)
        ens = Ensemble(th, np.full(th.shape[0], 1.0 / th.shape[0]), free, fidx)
    if draws is not None:
        draws = int(draws)
        if draws < 1:
            raise ValueError(f"draws must be >= 1, got {draws}")
        if ens.size > draws:
            idx = np.sort(np.random.default_rng(seed).choice(ens.size, size=draws, replace=False))
            ens = ens.subset(idx)
    return ens
