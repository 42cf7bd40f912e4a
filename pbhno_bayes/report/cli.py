"""``pbhno demo``: the README's "run the main job" command (see :mod:`pbhno_bayes.report.demo`)."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="run the whole workflow on Notch with built-in defaults (writes reports/demo/)",
        description="Simulate sparse noisy two-cell Notch data, fit the shipped PB-HNO surrogate "
        "(SVI, then NUTS on a GPU or with --nuts), diagnose identifiability, plan a robust intervention "
        "and write a markdown report with figures. A few minutes on a 2-core CPU.")
    p.add_argument("--out", default="reports/demo", help="output folder (default reports/demo)")
    p.add_argument("--seed", type=int, default=0)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--nuts", dest="nuts", action="store_true", default=None,
                   help="run NUTS after SVI (default: only when JAX runs on a GPU; hours on a CPU)")
    g.add_argument("--no-nuts", dest="nuts", action="store_false", help="SVI (Laplace) only")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--svi-steps", type=int, default=100)
    p.add_argument("--draws", type=int, default=4, help="posterior draws in the robust MPC ensemble")
    p.add_argument("--iters", type=int, default=24, help="MPC optimiser iterations (projected Adam, step 0.3 of each channel range)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from .._io import check_out_path
    from .demo import run_demo

    check_out_path(args.out, directory=True)

    run_demo(args.out, seed=args.seed, nuts=args.nuts, chains=args.chains, warmup=args.warmup, samples=args.samples,
             svi_steps=args.svi_steps, draws=args.draws, iters=args.iters, progress=not args.quiet)
    return 0
