"""``pbhno diagnose POSTERIOR.nc --out DIR``: identifiability report (markdown + figures)."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["register", "run", "diagnose"]


def register(subparsers):
    p = subparsers.add_parser(
        "diagnose", help="identifiability report for a posterior (table + figures)",
        description="Rebuild the pathway/forward model from POSTERIOR.nc attrs, compute Fisher information, "
                    "posterior identifiability verdicts and (optionally) profile likelihoods; write "
                    "DIR/identifiability.md and DIR/identify_*.png, and store the table in the posterior.")
    p.add_argument("posterior", help="InferenceData netCDF written by `pbhno fit`")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--data", default=None, help="observations CSV (default: the posterior's observed_data)")
    p.add_argument("--sigma", type=float, default=None, help="noise sd if neither data nor posterior carry one")
    p.add_argument("--profiles", action="store_true", help="also compute profile likelihoods (slow)")
    p.set_defaults(func=run)
    return p


def _forward_from_idata(idata):
    import pbhno_bayes as pb

    attrs = dict(idata.posterior.attrs) | dict(getattr(idata, "attrs", {}) or {})
    if "pathway" not in attrs:
        raise ValueError("posterior has no 'pathway' attribute; was it written by pbhno fit?")
    kwargs = json.loads(attrs.get("pathway_kwargs", "{}") or "{}")
    pw = pb.pathways.get(attrs["pathway"], **kwargs)
    if attrs.get("forward", "mechanistic") == "surrogate":
        from pbhno_bayes.surrogate import HybridSurrogate  # lazy: heavy import

        return HybridSurrogate.pretrained(attrs.get("surrogate", pw.name), pathway=pw)
    return pb.MechanisticModel(pw)


def diagnose(idata, forward, obs, out, *, sigma=None, profiles=False):
    """Write ``out``/identifiability.md and figures; return the IdentifiabilityTable."""
    import matplotlib

    matplotlib.use("Agg")
    import arviz as az
    import matplotlib.pyplot as plt
    import numpy as np

    from .._io import atomic_path, atomic_write_text
    from .practical import attach_identifiability, identifiability, profile_likelihood

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = identifiability(forward, obs, idata, sigma=sigma)
    names = [r["param"] for r in table.rows]
    pw = forward.pathway
    full = np.asarray(pw.nominal_values, dtype=float).copy()
    for r in table.rows:
        full[pw.param_names.index(r["param"])] = np.exp(r["post_mean"])
    fr = None
    sig = sigma
    if sig is None and obs.sigma is None and "sigma" in idata.posterior:
        ps = idata.posterior["sigma"]
        sig = {str(s): float(ps.sel(species=s).mean()) for s in ps["species"].values}
    fr = table.fisher  # computed once, by identifiability, at the same posterior mean
    fisher_note = ("Fisher information not computed: no noise level known (pass --sigma)" if fr is None
                   and sig is None and obs.sigma is None else
                   "Fisher information not computed: the solve failed at the posterior mean")
    noise_known = sig is not None or obs.sigma is not None
    profs = [profile_likelihood(forward, obs, n, sigma=sig, theta0=full) for n in names] \
        if profiles and noise_known else []

    def save(fig, name):
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)

    lt = idata.posterior["log_theta"]
    pr = pw.prior.subset(names)
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.4), squeeze=False)
    for j, n in enumerate(names):
        ax = axes[0, j]
        ax.hist(lt.sel(param=n).values.ravel(), bins=40, density=True, alpha=0.6, label="posterior")
        g = np.linspace(pr.mean[j] - 3 * pr.sd[j], pr.mean[j] + 3 * pr.sd[j], 200)
        ax.plot(g, np.exp(-0.5 * ((g - pr.mean[j]) / pr.sd[j]) ** 2) / (pr.sd[j] * np.sqrt(2 * np.pi)), label="prior")
        ax.set_title(f"log {n}: {table.verdicts[n]}", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, "identify_prior_posterior.png")
    axs = az.plot_pair(idata, var_names=["log_theta"], kind="scatter", marginals=False,
                       scatter_kwargs={"alpha": 0.2, "s": 2})
    save(np.ravel(axs)[0].figure, "identify_pair.png")
    lines = ["# Identifiability report", "", table.to_markdown(), "",
             "Verdicts: identifiable if contraction ≥ {identifiable_contraction} and HDI ratio ≤ "
             "{identifiable_hdi_ratio}; weakly identifiable if contraction ≥ {weak_contraction}; "
             "flag 'unconverged' if r_hat > {rhat} or ESS < {ess}.".format(**table.thresholds), ""]
    if fr is not None:
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.semilogy(np.arange(1, len(names) + 1), np.maximum(fr.eigenvalues, 1e-300), "o-")
        ax.set_xlabel("eigen-direction (sloppiest first)")
        ax.set_ylabel("Fisher eigenvalue (log θ)")
        fig.tight_layout()
        save(fig, "identify_fisher_spectrum.png")
        lines += ["## Fisher information at the posterior mean", "", fr.table(), ""]
    else:
        lines += [fisher_note, ""]
    if profs:
        fig, axes = plt.subplots(1, len(profs), figsize=(2.6 * len(profs), 2.4), squeeze=False)
        for ax, p in zip(axes[0], profs, strict=True):
            ax.plot(p.grid, p.delta, "o-")
            ax.axhline(3.84, ls="--", c="k")
            ax.set_title(f"log {p.param}{' (flat)' if p.flat else ''}", fontsize=8)
        fig.tight_layout()
        save(fig, "identify_profiles.png")
        lines += ["## Profile likelihoods", "", "| parameter | max Δ(−2 log L) | flat |", "|---|---|---|"]
        lines += [f"| {p.param} | {np.nanmax(p.delta):.3g} | {p.flat} |" for p in profs]
    atomic_write_text(out / "identifiability.md", "\n".join(lines) + "\n")
    attach_identifiability(idata, table, fisher=fr, profiles=profs)
    return table


def run(args) -> int:
    import numpy as np

    import pbhno_bayes as pb

    from .._io import check_out_path, read_inference_data

    check_out_path(args.out, directory=True)
    if args.sigma is not None and not (np.isfinite(args.sigma) and args.sigma > 0):
        raise ValueError(f"--sigma must be a positive number, got {args.sigma}")
    idata = read_inference_data(args.posterior)
    forward = _forward_from_idata(idata)
    if args.data:
        obs = pb.Observations.from_csv(args.data, pathway=forward.pathway)
    else:
        if "observed_data" not in idata.groups():
            raise ValueError("posterior has no observed_data; pass --data DATA.csv")
        ds = idata.observed_data
        if "y" in ds and "value" not in ds:
            ds = ds.rename({"y": "value"})
        obs = pb.Observations.from_dataset(ds)
    if args.sigma is not None and (obs.sigma is not None or "sigma" in idata.posterior):
        where = "the observations" if obs.sigma is not None else "the posterior (inferred noise)"
        raise ValueError(f"--sigma is for data without a noise level, but {where} carry one; drop --sigma")
    table = diagnose(idata, forward, obs, args.out, sigma=args.sigma, profiles=args.profiles)
    print(f"wrote {Path(args.out) / 'identifiability.md'}")
    print(table.to_markdown())
    return 0
