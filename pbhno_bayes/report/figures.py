"""Figures shared by the demo and the reports (matplotlib, Agg; each writes one PNG atomically)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .._io import atomic_path  # noqa: E402

__all__ = ["posterior_theta_draws", "predictive_bands", "plot_data_and_bands", "plot_prior_posterior",
           "save"]


def save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def posterior_theta_draws(idata, pathway, n: int | None = None, seed: int = 0) -> np.ndarray:
    """Full natural-unit θ draws (n, P): free parameters from the posterior, the rest nominal."""
    lt = idata.posterior["log_theta"]
    names = [str(v) for v in lt["param"].values]
    flat = np.asarray(lt.values).reshape(-1, len(names))
    if n is not None and n < flat.shape[0]:
        flat = flat[np.random.default_rng(seed).choice(flat.shape[0], n, replace=False)]
    full = np.tile(np.asarray(pathway.nominal_values, float), (flat.shape[0], 1))
    for j, name in enumerate(names):
        full[:, pathway.param_names.index(name)] = np.exp(flat[:, j])
    return full


def predictive_bands(forward, theta_draws, times, quantiles=(0.05, 0.5, 0.95), control=None):
    """Quantiles over draws of the forward model's states at ``times``: (Q, T, C, S), NaN-safe."""
    f = jax.jit(jax.vmap(lambda th: forward.predict(th, jnp.asarray(times), control)))
    ys = np.asarray(f(jnp.asarray(theta_draws)))
    return np.nanquantile(ys, quantiles, axis=0)


def plot_data_and_bands(obs, pathway, times, bands, path, truth=None, title=None) -> None:
    """Observed points with the 90 % posterior predictive band and median, one panel per species."""
    species = obs.species
    fig, axes = plt.subplots(1, len(species), figsize=(4.2 * len(species), 3.2), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, s in enumerate(species):
        ax = axes[0, j]
        si = pathway.species.index(s)
        for k, c in enumerate(obs.cells):
            col = colors[k % len(colors)]
            ax.fill_between(times, bands[0, :, c, si], bands[-1, :, c, si], color=col, alpha=0.25, lw=0)
            ax.plot(times, bands[len(bands) // 2, :, c, si], color=col, lw=1.5, label=f"cell {c} median")
            if truth is not None:
                ax.plot(times, truth[:, c, si], color=col, lw=1, ls="--")
            ax.errorbar(obs.times, obs.values[:, k, j],
                        yerr=None if obs.sigma is None else obs.sigma[:, k, j],
                        fmt="o", ms=3.5, color=col, alpha=0.9)
        ax.set_xlabel("time")
        ax.set_title(s)
    axes[0, 0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    save(fig, path)


def plot_prior_posterior(idata, prior, path, truth: dict | None = None) -> None:
    """Marginal prior (curve) vs posterior (histogram) of each free log-parameter."""
    lt = idata.posterior["log_theta"]
    names = [str(v) for v in lt["param"].values]
    draws = np.asarray(lt.values).reshape(-1, len(names))
    ncol = min(3, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.6 * nrow), squeeze=False)
    for j, name in enumerate(names):
        ax = axes.flat[j]
        k = prior.names.index(name)
        mu, sd = prior.mean[k], prior.sd[k]
        grid = np.linspace(mu - 4 * sd, mu + 4 * sd, 200)
        ax.plot(grid, np.exp(-0.5 * ((grid - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)), color="0.4",
                label="prior")
        ax.hist(draws[:, j], bins=40, density=True, alpha=0.6, label="posterior")
        if truth is not None and name in truth:
            ax.axvline(np.log(truth[name]), color="k", ls="--", lw=1, label="truth")
        ax.set_title(f"log {name}", fontsize=9)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    save(fig, path)
