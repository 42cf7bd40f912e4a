"""``pbhno control``: robust MPC plan from a fitted posterior (thin wrapper over :func:`robust_mpc`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["register", "run", "parse_target_arg"]


def parse_target_arg(items) -> dict:
    """``SPECIES=VALUE[,cell=i][,tol=x][,weight=q]`` or ``SPECIES=LO:HI[,cell=i]`` (one per --target)."""
    target = {}
    for item in items:
        head, *opts = [p.strip() for p in item.split(",")]
        if "=" not in head:
            raise ValueError(f"--target expects SPECIES=VALUE[,cell=i] or SPECIES=LO:HI, got {item!r}")
        sp, val = (s.strip() for s in head.split("=", 1))
        spec: dict = {}
        try:
            if ":" in val:
                lo, hi = val.split(":", 1)
                spec["window"] = (float(lo), float(hi))
            else:
                spec["value"] = float(val)
        except ValueError:
            raise ValueError(f"--target {sp}: {val!r} is not a number or LO:HI window") from None
        for o in opts:
            if "=" not in o:
                raise ValueError(f"--target {sp}: option {o!r} must be cell=i, tol=x or weight=q")
            k, v = (s.strip() for s in o.split("=", 1))
            if k not in ("cell", "tol", "weight"):
                raise ValueError(f"--target {sp}: unknown option {k!r}; use cell=, tol= or weight=")
            try:
                spec[k] = int(v) if k == "cell" else float(v)
            except ValueError:
                raise ValueError(f"--target {sp}: {k}={v!r} is not a number") from None
        key = sp if "cell" not in spec else f"{sp}@{spec.pop('cell')}"
        if key in target:
            raise ValueError(f"--target {key} given twice")
        target[key] = spec
    return target


def _pairs(items, what, parse):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--{what} expects CHANNEL=..., got {item!r}")
        k, v = (s.strip() for s in item.split("=", 1))
        try:
            out[k] = parse(v)
        except ValueError:
            raise ValueError(f"--{what} {k}: cannot read {v!r}") from None
    return out


def register(subparsers) -> None:
    from ..cli import add_pathway_args

    p = subparsers.add_parser(
        "control", help="robust MPC: plan interventions over a fitted posterior",
        description="Plan piecewise-constant controls that steer PATHWAY to a target, robustly over "
        "posterior draws (paper Algorithm 2). Writes the plan as JSON and a figure (schedule + outcome "
        "bands + target window) next to it.")
    add_pathway_args(p)
    p.add_argument("posterior", help="posterior InferenceData NetCDF written by `pbhno fit`")
    p.add_argument("--target", action="append", required=True,
                   help="SPECIES=VALUE[,cell=i][,tol=x][,weight=q] or SPECIES=LO:HI[,cell=i][,weight=q] (repeatable); "
                        "q weights the squared miss (default 1; about 1/size^2 of the species)")
    p.add_argument("--horizon", type=int, default=20, help="number of control intervals T (default 20)")
    p.add_argument("--dt", type=float, default=None, help="interval length (default t_end / horizon)")
    p.add_argument("--t-start", type=float, default=None, help="horizon start (default last observation time)")
    p.add_argument("--risk", choices=("mean", "mean_std", "cvar"), default="mean", help="risk measure (default mean)")
    p.add_argument("--kappa", type=float, default=1.0, help="κ of mean_std (default 1)")
    p.add_argument("--alpha", type=float, default=0.9, help="α of cvar (default 0.9: worst 10 %%)")
    p.add_argument("--draws", type=int, default=64, help="posterior draws in the ensemble (default 64)")
    p.add_argument("--iters", type=int, default=200, help="optimiser iterations (default 200)")
    p.add_argument("--lr", type=float, default=0.05, help="step size in units of each channel's range")
    p.add_argument("--bounds", action="append", default=None, help="CHANNEL=LO:HI (repeatable)")
    p.add_argument("--budget", action="append", default=None, help="CHANNEL=B total dose Σ u dt (repeatable)")
    p.add_argument("--nominal", action="store_true", help="nominal MPC on the posterior mean only")
    p.add_argument("--forward", choices=("mechanistic", "surrogate"), default=None,
                   help="forward model used for planning (default: the one the posterior was fitted with, "
                        "from its 'forward' attribute; mechanistic if absent)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="plan JSON, written atomically")
    p.add_argument("--figure", default=None, help="figure path (default: PLAN.png next to --out)")
    p.set_defaults(func=run)


def _pathway(args, idata):
    from .. import pathways
    from ..cli import pathway_from_args

    if args.cells is None and args.grid is None:
        kw = idata.attrs.get("pathway_kwargs") or idata.posterior.attrs.get("pathway_kwargs")
        name = idata.attrs.get("pathway") or idata.posterior.attrs.get("pathway")
        if kw and name == args.pathway:
            kw = json.loads(kw) if isinstance(kw, str) else dict(kw)
            if "cells" in kw and isinstance(kw["cells"], list):
                kw["cells"] = tuple(kw["cells"])
            if name == "mapk_feedback":
                kw.pop("feedback", None)
            return pathways.get(args.pathway, **kw)
    return pathway_from_args(args)


def run(args) -> int:
    from .._io import check_out_path, read_inference_data
    from ..simulate import MechanisticModel
    from .figures import plot_plan
    from .mpc import robust_mpc

    check_out_path(args.out)
    fig = args.figure or str(Path(args.out).with_suffix(".png"))
    check_out_path(fig, what="--figure")
    idata = read_inference_data(args.posterior)
    pw = _pathway(args, idata)
    kind = args.forward
    if kind is None:
        kind = str(idata.attrs.get("forward") or idata.posterior.attrs.get("forward") or "mechanistic")
        kind = "surrogate" if kind == "surrogate" else "mechanistic"
    if kind == "surrogate":
        try:
            from ..surrogate import HybridSurrogate
        except ImportError:
            raise ValueError("--forward surrogate: no surrogate is installed in this build; use mechanistic") from None
        attrs = dict(idata.posterior.attrs) | dict(getattr(idata, "attrs", {}) or {})
        forward = HybridSurrogate.pretrained(str(attrs.get("surrogate") or pw.name), pathway=pw)
    else:
        forward = MechanisticModel(pw)
    target = parse_target_arg(args.target)
    bounds = _pairs(args.bounds, "bounds", lambda v: tuple(float(x) for x in v.split(":")))
    budget = _pairs(args.budget, "budget", float)
    plan = robust_mpc(forward, idata, target, horizon=args.horizon, dt=args.dt, risk=args.risk, kappa=args.kappa,
                      alpha=args.alpha, draws=args.draws, nominal=args.nominal, bounds=bounds or None,
                      budget=budget or None, iters=args.iters, lr=args.lr, t_start=args.t_start, seed=args.seed)
    plan.to_json(args.out)
    plot_plan(plan, fig)
    print(f"wrote {args.out} and {fig}: P(success) = {plan.success_probability:.3f}, "
          f"energy = {plan.energy:.4g}, {plan.n_draws} draws, {plan.n_rejected} rejected steps")
    if plan.success_probability < 0.5:
        print("note: most outcomes miss the target. A target's weight q is in its species' units and the "
              "input cost R*u^2 is not: weight it about 1/size^2 (e.g. --target Z=0.15,tol=0.03,weight=100 "
              "for Z near 0.1), or relax --bounds/--budget/--horizon", file=sys.stderr)
    return 0
