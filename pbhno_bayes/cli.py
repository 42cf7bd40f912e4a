"""The ``pbhno`` command line: one entry point, each subcommand a thin wrapper over the API.

Subcommands: simulate, train, fit, diagnose, control, demo. Bad input exits with status 2 and a
single line ``pbhno <cmd>: error: <what is wrong>``; no traceback (set PBHNO_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

__all__ = ["main", "build_parser", "pathway_from_args", "add_pathway_args"]

# Stage modules that register their own subcommands (``register(subparsers)``), in CLI order.
_STAGE_CLIS = (
    "pbhno_bayes.surrogate.cli",
    "pbhno_bayes.infer.cli",
    "pbhno_bayes.identify.cli",
    "pbhno_bayes.control.cli",
    "pbhno_bayes.report.cli",
)


class _Parser(argparse.ArgumentParser):
    """argparse prints usage + error and exits 2; we keep exit 2 but print one line only."""

    def error(self, message):
        raise SystemExit(_fail(self.prog, message))


def _fail(prog: str, message: str) -> int:
    msg = " ".join(str(message).split())
    print(f"{prog}: error: {msg}", file=sys.stderr)
    return 2


def add_pathway_args(p: argparse.ArgumentParser) -> None:
    """Common pathway arguments: PATHWAY name plus geometry options."""
    p.add_argument("pathway", help="mapk, mapk_feedback, notch or wnt")
    p.add_argument("--cells", default=None,
                   help="number of cells (notch: 2 or a square number, or ROWSxCOLS; wnt: cells in the row)")
    p.add_argument("--grid", type=int, default=None, help="grid points per side for spatial pathways (default 32)")


def pathway_from_args(args):
    from . import pathways

    kwargs = {}
    if getattr(args, "cells", None) is not None:
        c = str(args.cells)
        if "x" in c:
            try:
                kwargs["cells"] = tuple(int(v) for v in c.split("x"))
            except ValueError:
                raise ValueError(f"--cells: expected an integer or ROWSxCOLS, got {c!r}") from None
        else:
            try:
                kwargs["cells"] = int(c)
            except ValueError:
                raise ValueError(f"--cells: expected an integer or ROWSxCOLS, got {c!r}") from None
    if getattr(args, "grid", None) is not None:
        kwargs["grid"] = args.grid
    if args.pathway in ("mapk", "mapk_feedback") and kwargs:
        raise ValueError(f"--cells/--grid do not apply to {args.pathway} (a single-cell ODE model)")
    return pathways.get(args.pathway, **kwargs)


def _parse_theta(items):
    theta = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--theta expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            theta[k.strip()] = float(v)
        except ValueError:
            raise ValueError(f"--theta {k}: {v!r} is not a number") from None
    return theta or None


def _run_simulate(args) -> int:
    from . import simulate
    from ._io import check_out_path

    if not args.out.endswith((".csv", ".nc")):
        raise ValueError(f"--out must end in .csv or .nc, got {args.out!r}")
    check_out_path(args.out)
    pw = pathway_from_args(args)
    observe = [s.strip() for s in args.observe.split(",")] if args.observe else None
    cells_obs = None
    if args.observe_cells:
        try:
            cells_obs = [int(c) for c in args.observe_cells.split(",")]
        except ValueError:
            raise ValueError(f"--observe-cells expects comma-separated cell indices, got {args.observe_cells!r}") from None
    control = None
    if args.control:
        control = {}
        for item in args.control.split(","):
            if "=" not in item:
                raise ValueError(f"--control expects CHANNEL=VALUE[,...], got {item!r}")
            k, v = item.split("=", 1)
            try:
                control[k.strip()] = float(v)
            except ValueError:
                raise ValueError(f"--control {k.strip()}: {v!r} is not a number") from None
    if args.times < 1:
        raise ValueError(f"--times must be a positive integer, got {args.times}")
    obs = simulate(pw, theta=_parse_theta(args.theta), times=args.times, observe=observe, noise=args.noise,
                   seed=args.seed, control=control, cells=cells_obs)
    if args.out.endswith(".nc"):
        obs.to_netcdf(args.out)
    else:
        obs.to_csv(args.out)
    print(f"wrote {args.out}: {obs!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pbhno", description="Bayesian parameter discovery and robust control for "
                     "multi-scale cell-signalling models (PB-HNO).")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("simulate", help="simulate noisy, sparse observations from the reference solver",
                       description="Simulate partial, noisy, irregular observations with the reference "
                       "ODE-PDE solver and write them as tidy CSV (time, cell, species, value, sigma) or NetCDF.")
    add_pathway_args(p)
    p.add_argument("--times", type=int, default=12, help="number of irregular observation times (default 12)")
    p.add_argument("--noise", type=float, default=0.2,
                   help="noise sd as a fraction of each species' peak amplitude (default 0.2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--observe", default=None, help="comma-separated species to observe (default: pathway's)")
    p.add_argument("--observe-cells", default=None, help="comma-separated cell indices to observe (default all)")
    p.add_argument("--theta", nargs="*", default=None, help="true parameters NAME=VALUE (default nominal)")
    p.add_argument("--control", default=None, help="constant controls CHANNEL=VALUE[,...] (default pathway's)")
    p.add_argument("--out", required=True, help="output file (.csv or .nc), written atomically")
    p.set_defaults(func=_run_simulate)

    for modname in _STAGE_CLIS:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:  # a stage not installed in this build
            if e.name is None or not modname.startswith(e.name):
                raise
            continue
        mod.register(sub)
    return parser


def _version() -> str:
    from . import __version__

    return f"pbhno {__version__}"


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    prog = f"pbhno {args.command}"
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what was asked, for records (pbhno train)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as e:
        if os.environ.get("PBHNO_DEBUG"):
            raise
        return _fail(prog, e)
    except KeyboardInterrupt:
        return _fail(prog, "interrupted")


if __name__ == "__main__":
    sys.exit(main())
