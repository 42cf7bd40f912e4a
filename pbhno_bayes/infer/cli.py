"""``pbhno fit PATHWAY DATA.csv --out POSTERIOR.nc``: posterior inference (thin wrapper over :func:`fit`).

The NetCDF written here is self-contained for the later stages: attrs name the pathway (and its
geometry kwargs) and the forward model, and ``observed_data`` holds the observations ``y`` and the
noise sd ``sigma`` (the data's own, or the posterior mean when inferred), so ``pbhno diagnose`` and
``pbhno control`` rebuild the problem from the file alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers) -> None:
    from ..cli import add_pathway_args

    p = subparsers.add_parser(
        "fit", help="posterior over a pathway's parameters from observations (SVI -> NUTS)",
        description="Fit the posterior of PATHWAY's free parameters (log-normal prior of the pathway) to the "
                    "observations in DATA (tidy CSV or NetCDF from `pbhno simulate`) and write an ArviZ "
                    "InferenceData NetCDF (atomically). Read it back with arviz.from_netcdf.")
    add_pathway_args(p)
    p.add_argument("data", help="observations: tidy CSV (time, [cell,] species, value[, sigma]) or .nc")
    p.add_argument("--forward", choices=("mechanistic", "surrogate"), default="mechanistic",
                   help="forward model: the reference solver (default) or the shipped hybrid surrogate")
    p.add_argument("--surrogate", default=None,
                   help="with --forward surrogate: which shipped surrogate (default: the pathway's, e.g. wnt; "
                        "notch_learned and wnt_learned have a trained kinetics correction)")
    p.add_argument("--method", choices=("nuts", "svi"), default="nuts",
                   help="nuts (SVI-initialised NUTS, default) or svi (Gaussian approximation only; fast)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=500, help="NUTS warmup iterations per chain (default 500)")
    p.add_argument("--samples", type=int, default=500, help="kept draws per chain (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--svi-steps", type=int, default=1000, help="SVI optimiser steps (default 1000)")
    p.add_argument("--svi-restarts", type=int, default=4, help="SVI restarts (default 4)")
    p.add_argument("--noise", choices=("auto", "known", "infer"), default="auto",
                   help="noise sd: auto (known when the data carry sigma, default), known, or infer")
    p.add_argument("--dense-mass", action="store_true", help="dense NUTS mass matrix")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--out", required=True, help="output InferenceData NetCDF (.nc), written atomically")
    p.set_defaults(func=run)


def _forward(args, pw):
    if args.forward == "surrogate":
        try:
            from ..surrogate import HybridSurrogate
        except ImportError:
            raise ValueError("--forward surrogate: no surrogate is installed in this build") from None
        try:
            return HybridSurrogate.pretrained(args.surrogate or pw.name, pathway=pw)
        except ValueError as e:
            raise ValueError(f"--surrogate: {e}") from None
    if args.surrogate:
        raise ValueError("--surrogate is used with --forward surrogate only")
    from ..simulate import MechanisticModel

    return MechanisticModel(pw)


def _read_observations(path: Path, pw):
    from ..data import Observations

    if not path.exists():
        raise ValueError(f"data file {str(path)!r} not found")
    if path.suffix == ".nc":
        return Observations.from_netcdf(path)
    return Observations.from_csv(path, pathway=pw)


def run(args) -> int:
    import numpy as np

    from .._io import atomic_path, check_out_path
    from ..cli import pathway_from_args
    from .fit import SamplingWarning, fit

    out = Path(args.out)
    if out.suffix != ".nc":
        raise ValueError(f"--out must end in .nc (NetCDF), got {str(out)!r}")
    check_out_path(out)  # before the fit, not after hours of sampling
    pw = pathway_from_args(args)
    obs = _read_observations(Path(args.data), pw)
    forward = _forward(args, pw)
    if not args.quiet:
        T, C, S = obs.shape
        print(f"data: {T} times x {C} cell(s) x {S} species = {T * C * S} entries: {obs.n_observed} observed, "
              f"{obs.n_missing} missing (NaN, masked out of the likelihood)")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SamplingWarning)
        idata = fit(forward, obs, chains=args.chains, warmup=args.warmup, samples=args.samples,
                    seed=args.seed, method=args.method, svi_steps=args.svi_steps,
                    svi_restarts=args.svi_restarts, noise=args.noise, dense_mass=args.dense_mass,
                    progress=not args.quiet)
    for w in caught:
        if issubclass(w.category, SamplingWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    if args.forward == "surrogate":  # which shipped surrogate, for pbhno diagnose / control
        idata.attrs["surrogate"] = args.surrogate or pw.name
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        idata.to_netcdf(str(tmp))
    lt = idata.posterior["log_theta"]
    m = lt.mean(("chain", "draw")).values
    s = lt.std(("chain", "draw")).values
    draws = (f"{lt.sizes['chain']} chain(s) x {lt.sizes['draw']} draws" if args.method == "nuts"
             else f"{lt.sizes['chain'] * lt.sizes['draw']} draws from the Gaussian approximation")
    print(f"wrote {out}: {args.method}, {draws}, {idata.attrs.get('n_failed_solves', 0)} failed solves")
    for n, a, b in zip(lt["param"].values, m, s, strict=True):
        print(f"  log {n}: {a:+.3f} +- {b:.3f}  (theta ~ {np.exp(a):.4g})")
    return 0
