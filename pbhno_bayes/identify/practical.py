r"""Practical identifiability from a posterior (ArviZ) and profile likelihoods.

Per free parameter j on log θ_j (prior N(μ_j, s_j²)):
  contraction c_j = 1 − Var_post/Var_prior;  HDI ratio h_j = width(94% HDI_post)/width(94% HDI_prior)
  (prior width 2·1.881·s_j); z-shift = |E_post − μ_j| / s_j; ESS (bulk) and r̂ from ArviZ; the
  strongest posterior correlation; Cramér–Rao sd at the posterior mean (when sigma is known).
Verdict (thresholds overridable by ``thresholds=``):
  identifiable         if c_j ≥ 0.75 and h_j ≤ 0.5   (posterior sd at most half the prior's)
  weakly identifiable  if c_j ≥ 0.25                  (data moved the prior, but not decisively)
  not identifiable     otherwise.
A row is flagged ``unconverged`` when r̂ > 1.01 or bulk ESS < 100 (verdict then untrustworthy).
"""

from __future__ import annotations

import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .fisher import SensitivityError, _free_names, _indices, _sigma_array, fisher_information

__all__ = ["IdentifiabilityTable", "identifiability", "profile_likelihood", "ProfileResult",
           "attach_identifiability", "DEFAULT_THRESHOLDS"]

DEFAULT_THRESHOLDS = {"identifiable_contraction": 0.75, "identifiable_hdi_ratio": 0.5,
                      "weak_contraction": 0.25, "rhat": 1.01, "ess": 100.0, "profile_chi2": 3.84}
_Z94 = 1.8807936081512509  # Φ⁻¹(0.97)

COLUMNS = ("param", "prior_sd", "post_mean", "post_sd", "contraction", "hdi_ratio", "z_shift", "ess_bulk",
           "r_hat", "max_corr_with", "max_corr", "cr_sd", "verdict", "flag")


class IdentifiabilityTable:
    """Rows (list of dicts, keys ``COLUMNS``); ``.to_markdown()``, ``.to_dataset()``, ``.verdicts``."""

    def __init__(self, rows, thresholds, fisher=None):
        self.rows = rows
        self.thresholds = dict(thresholds)
        self.fisher = fisher  # the FisherResult behind cr_sd (None when it was not computed); not stored

    @property
    def verdicts(self):
        return {r["param"]: r["verdict"] for r in self.rows}

    def to_markdown(self) -> str:
        head = "| " + " | ".join(COLUMNS) + " |"
        out = [head, "|" + "---|" * len(COLUMNS)]
        for r in self.rows:
            out.append("| " + " | ".join(f"{r[c]:.3g}" if isinstance(r[c], float) else str(r[c]) for c in COLUMNS) + " |")
        return "\n".join(out)

    def to_dataset(self):
        """The table as an ``xarray.Dataset`` (one variable per column, coordinate ``param``)."""
        import xarray as xr

        params = [r["param"] for r in self.rows]
        data = {c: ("param", [r[c] for r in self.rows]) for c in COLUMNS if c != "param"}
        return xr.Dataset(data, coords={"param": params}, attrs={"thresholds": json.dumps(self.thresholds)})

    @classmethod
    def from_dataset(cls, ds):
        rows = []
        for i, p in enumerate(ds["param"].values):
            row = {"param": str(p)}
            for c in COLUMNS[1:]:
                v = ds[c].values[i]
                row[c] = str(v) if ds[c].dtype.kind in "OUS" else float(v)
            rows.append(row)
        return cls(rows, json.loads(ds.attrs.get("thresholds", "{}")))


def identifiability(forward, observations, idata, *, prior=None, thresholds=None, sigma=None):
    """Table of practical-identifiability diagnostics (module docstring) from ``idata.posterior``.

    ``sigma`` for the Cramér–Rao column: default observations.sigma, else the posterior mean of
    ``posterior.sigma`` when noise was inferred; without either the column is NaN.
    """
    # arviz (and with it matplotlib and scipy.stats) is imported here, not at module level: it was
    # half the cost of `import pbhno_bayes` (≈ 2.5 of ≈ 4.8 s), which every CLI call paid
    import arviz as az

    th = dict(DEFAULT_THRESHOLDS, **(thresholds or {}))
    if "log_theta" not in idata.posterior:
        raise ValueError("idata.posterior has no 'log_theta' (expected pb.fit output)")
    lt = idata.posterior["log_theta"]
    names = [str(n) for n in lt["param"].values]
    pr = prior if prior is not None else forward.pathway.prior
    pr_names = list(pr.names)
    missing = [n for n in names if n not in pr_names]
    if missing:
        raise ValueError(f"posterior parameters {missing} are not in the prior {pr_names}")
    mu = np.asarray(pr.mean)[[pr_names.index(n) for n in names]]
    sd = np.asarray(pr.sd)[[pr_names.index(n) for n in names]]
    draws = lt.values.reshape(-1, len(names))
    ess = az.ess(idata, var_names=["log_theta"], method="bulk")["log_theta"].values
    rhat = az.rhat(idata, var_names=["log_theta"])["log_theta"].values if lt.sizes["chain"] > 1 \
        else np.full(len(names), np.nan)
    hdi = az.hdi(idata, var_names=["log_theta"], hdi_prob=0.94)["log_theta"].values  # (P, 2)
    corr = np.corrcoef(draws.T) if len(names) > 1 else np.ones((1, 1))
    cr = np.full(len(names), np.nan)
    fr = None
    _indices(forward, observations)  # species / cells the model does not have: refused, as pb.fit does
    if sigma is None and observations.sigma is None and "sigma" in idata.posterior:
        ps = idata.posterior["sigma"]
        sigma = {str(s): float(ps.sel(species=s).mean()) for s in ps["species"].values}
    if sigma is not None or observations.sigma is not None:  # else no noise level: the column stays NaN
        full = np.asarray(forward.pathway.nominal_values, dtype=np.float64).copy()
        for j, n in enumerate(names):
            full[forward.pathway.param_names.index(n)] = np.exp(draws[:, j].mean())
        try:
            fr = fisher_information(forward, observations, full, sigma=sigma, prior=pr.subset(names))
            cr = fr.cr_sd
        except SensitivityError as e:
            warnings.warn(f"identifiability: Cramér–Rao column left empty: {e}", RuntimeWarning, stacklevel=2)
    rows = []
    for j, n in enumerate(names):
        v = draws[:, j]
        c = 1.0 - v.var(ddof=1) / sd[j] ** 2
        h = float(hdi[j, 1] - hdi[j, 0]) / (2 * _Z94 * sd[j])
        k = int(np.argmax(np.where(np.arange(len(names)) == j, -1, np.abs(corr[j])))) if len(names) > 1 else j
        if c >= th["identifiable_contraction"] and h <= th["identifiable_hdi_ratio"]:
            verdict = "identifiable"
        elif c >= th["weak_contraction"]:
            verdict = "weakly identifiable"
        else:
            verdict = "not identifiable"
        flag = "unconverged" if (rhat[j] > th["rhat"] or ess[j] < th["ess"]) else ""
        rows.append({"param": n, "prior_sd": float(sd[j]), "post_mean": float(v.mean()), "post_sd": float(v.std(ddof=1)),
                     "contraction": float(c), "hdi_ratio": h, "z_shift": float(abs(v.mean() - mu[j]) / sd[j]),
                     "ess_bulk": float(ess[j]), "r_hat": float(rhat[j]), "max_corr_with": names[k],
                     "max_corr": float(corr[j, k]), "cr_sd": float(cr[j]), "verdict": verdict, "flag": flag})
    return IdentifiabilityTable(rows, th, fisher=fr)


class ProfileResult:
    """Profile of −2 log L over ``grid`` (log θ_param); ``delta`` = value − min; ``flat`` if
    max(delta) < chi2 (3.84, the 95% χ²₁ quantile) over the grid."""

    def __init__(self, param, grid, values, chi2):
        self.param, self.grid, self.values = param, np.asarray(grid), np.asarray(values)
        self.delta = self.values - np.nanmin(self.values)
        self.flat = bool(np.nanmax(self.delta) < chi2)

    def __repr__(self):
        return f"ProfileResult({self.param}, flat={self.flat}, max Δ={np.nanmax(self.delta):.3g})"


def profile_likelihood(forward, observations, param, grid=None, *, n_grid=9, sigma=None, prior=None,
                       theta0=None, steps=300, lr=0.05, chi2=3.84, control=None):
    """Profile −2 log L(θ) = Σ_i ((y_i − m_i)/σ_i)² over a grid of log θ_param (default prior mean ±
    3 prior sd), optimising the other free log-parameters with Adam (``steps``, ``lr``) from
    ``theta0`` (default nominal); all grid points are optimised in one vmapped run.
    """
    names = _free_names(forward, prior)
    if param not in names:
        raise ValueError(f"{param!r} is not a free parameter; choose one of {names}")
    pr = prior if prior is not None else forward.pathway.prior
    j = names.index(param)
    if grid is None:
        grid = pr.mean[j] + pr.sd[j] * np.linspace(-3, 3, n_grid)
    grid = jnp.asarray(grid, dtype=jnp.float64)
    sig = jnp.asarray(_sigma_array(observations, sigma))
    y = np.asarray(observations.values)
    mask = jnp.asarray(np.isfinite(y))
    y = jnp.asarray(np.nan_to_num(y))
    ci, si = _indices(forward, observations)
    full0 = jnp.asarray(forward.theta_array(theta0), dtype=jnp.float64)
    idx = jnp.asarray([forward.pathway.param_names.index(n) for n in names])
    others = jnp.asarray([k for k in range(len(names)) if k != j], dtype=jnp.int32)
    times = jnp.asarray(observations.times, dtype=jnp.float64)

    def nll(z_other, g):
        z = jnp.log(full0[idx]).at[others].set(z_other).at[j].set(g)
        m = forward.predict(full0.at[idx].set(jnp.exp(z)), times, control)[:, ci][:, :, si]
        r = jnp.where(mask, (y - m) / sig, 0.0)
        return jnp.sum(r ** 2)

    opt = optax.adam(lr)

    def run(g):
        z = jnp.log(full0[idx])[others]
        state = opt.init(z)

        def step(carry, _):
            z, state = carry
            val, gr = jax.value_and_grad(nll)(z, g)
            gr = jnp.where(jnp.isfinite(gr), gr, 0.0)
            upd, state = opt.update(gr, state)
            return (optax.apply_updates(z, upd), state), val

        (z, _), _ = jax.lax.scan(step, (z, state), None, length=steps)
        return nll(z, g)

    vals = jax.jit(jax.vmap(run))(grid)
    return ProfileResult(param, np.asarray(grid), np.asarray(vals), chi2)


def attach_identifiability(idata, table, *, fisher=None, profiles=None):
    """Store ``table`` (and optionally a FisherResult and ProfileResults) as an ``identifiability``
    group of ``idata`` (survives to_netcdf/from_netcdf). Returns idata (modified in place)."""
    ds = table.to_dataset()
    if fisher is not None:
        ds = ds.assign(fisher=(("param", "param2"), fisher.F),
                       fisher_eigenvalues=("eig", fisher.eigenvalues))
        ds.attrs["fisher_condition"] = float(fisher.condition)
    if profiles:
        for p in profiles:
            ds[f"profile_grid_{p.param}"] = (f"grid_{p.param}", p.grid)
            ds[f"profile_{p.param}"] = (f"grid_{p.param}", p.values)
    if "identifiability" in idata.groups():
        idata.identifiability = ds
    else:
        idata.add_groups({"identifiability": ds})
    return idata
