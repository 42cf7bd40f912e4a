"""``pbhno train``: train a PB-HNO surrogate on reference-solver data and write its weights."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers) -> None:
    from ..cli import add_pathway_args

    p = subparsers.add_parser(
        "train", help="train a hybrid surrogate (FNO + neural ODE) on reference-solver data",
        description="Train a PB-HNO hybrid surrogate of a spatial pathway on trajectories of the reference "
                    "solver (θ from the prior, random control schedules) and write PREFIX.eqx + PREFIX.json.")
    add_pathway_args(p)
    p.add_argument("--out", required=True, help="weights prefix: writes OUT.eqx and OUT.json (atomically)")
    p.add_argument("--steps", type=int, default=800, help="optimiser steps (default 800)")
    p.add_argument("--n-train", type=int, default=48, help="training trajectories (default 48)")
    p.add_argument("--n-val", type=int, default=8, help="validation trajectories (default 8)")
    p.add_argument("--n-test", type=int, default=16, help="held-out test trajectories (default 16)")
    p.add_argument("--n-counterfactual", type=int, default=8, help="counterfactual-control trajectories (default 8)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=0,
                   help="steps of linear learning-rate warmup from 0 before the cosine decay (default 0)")
    p.add_argument("--rollout", type=int, default=4,
                   help="rollout window in macro steps after the one-step curriculum (t_end/dt = the full horizon)")
    p.add_argument("--curriculum", type=float, default=0.5,
                   help="fraction of the steps trained on one-step windows before --rollout (default 0.5; "
                        "0 trains on --rollout windows from the start)")
    p.add_argument("--width", type=int, default=16, help="FNO width")
    p.add_argument("--modes", type=int, default=8, help="FNO Fourier modes per axis")
    p.add_argument("--mlp-width", type=int, default=128)
    p.add_argument("--ode-steps", type=int, default=None,
                   help="Tsit5 steps per macro step (default: notch 0, otherwise 2); 0 = adaptive step size")
    p.add_argument("--dt", type=float, default=None,
                   help="macro step Δt (default: notch 0.25, wnt 0.5, otherwise t_end/48)")
    p.add_argument("--field-substeps", type=int, default=None,
                   help="Strang sub-steps of the field physics predictor per macro step (default notch 10, wnt 5)")
    p.add_argument("--exchange", choices=("substeps", "endpoints"), default="substeps",
                   help="how field and cells exchange information inside a macro step: at every field sub-step "
                        "(default) or through the step's end points only (the scheme of models trained before "
                        "2026-12-01; needed to resume their checkpoints)")
    p.add_argument("--no-physics", action="store_true", help="FNO-without-physics baseline")
    p.add_argument("--corr-theta", action="store_true",
                   help="the kinetics correction g_psi also sees the normalised log parameters (log theta - prior mean)/sd")
    p.add_argument("--corr-control", action="store_true",
                   help="the kinetics correction g_psi also sees the control u(t)")
    p.add_argument("--corr-bound", type=float, default=None,
                   help="bound the kinetics correction: b*tanh(g/b), b in x_scale units per unit time (default: unbounded)")
    p.add_argument("--lam-pde", type=float, default=1e-6, help="weight of the PDE residual term (default 1e-6)")
    p.add_argument("--lam-ode", type=float, default=1e-6, help="weight of the ODE residual term (default 1e-6)")
    p.add_argument("--data-norm", choices=("global", "trajectory"), default="global",
                   help="scale of the data term's errors: one per species over all data (default) or each "
                        "trajectory's own RMS (the relative error the validation score uses)")
    p.add_argument("--schedules", choices=("simple", "mixed"), default="simple",
                   help="control design of the training data: <= 3 segments (default) or 1-8 segments with "
                        "extreme values (validation and test keep the simple design)")
    p.add_argument("--n-val-counterfactual", type=int, default=0,
                   help="pulse-train trajectories added to the validation set; the score is then the worst of "
                        "the two groups' error relative to the physics predictor's (default 0)")
    p.add_argument("--correction-scales", nargs="+", type=float, default=(1.0,), metavar="S",
                   help="at each validation also score the kinetics correction scaled by each S in [0, 1] and keep "
                        "the best (scale, step); default 1 (plain early stopping)")
    p.add_argument("--freeze", nargs="+", default=(), choices=("fno", "corr", "ops"),
                   help="learned blocks kept at their initial values (a frozen FNO or g_psi is exactly zero and skipped)")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--patience", type=int, default=6,
                   help="early stopping: validations without a new best before training stops (default 6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-dir", default=None,
                   help="checkpoint + data cache directory (resumes from it; refused when its settings.json "
                        "differs from this run's settings)")
    p.add_argument("--restart", action="store_true",
                   help="ignore the checkpoint in --checkpoint-dir and start over (its cached datasets are reused; "
                        "they must have been made with this run's data settings)")
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.set_defaults(func=run)


def run(args) -> int:
    from .._io import check_out_path
    from ..cli import pathway_from_args
    from .train import train_surrogate

    out = Path(args.out)
    for p in (out.with_suffix(".eqx"), out.with_suffix(".json")):
        check_out_path(p)
    pw = pathway_from_args(args)
    if not pw.spatial:
        raise ValueError(f"{pw.name} has no ligand field; the surrogate trainer needs notch or wnt")
    res = train_surrogate(
        pw, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, n_counterfactual=args.n_counterfactual,
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, rollout=args.rollout,
        curriculum=args.curriculum, freeze=tuple(args.freeze), data_norm=args.data_norm,
        schedules=args.schedules, n_val_counterfactual=args.n_val_counterfactual, warmup=args.warmup,
        correction_scales=tuple(args.correction_scales), exchange=args.exchange, lam_pde=args.lam_pde, lam_ode=args.lam_ode,
        physics=not args.no_physics, width=args.width, modes=args.modes, mlp_width=args.mlp_width,
        eval_every=args.eval_every, patience=args.patience, checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
        resume=not args.restart, dt=args.dt, log=lambda s: print(s, flush=True),
        model_kwargs={k: v for k, v in (("ode_steps", args.ode_steps), ("field_substeps", args.field_substeps),
                                        ("corr_theta", args.corr_theta or None),
                                        ("corr_control", args.corr_control or None),
                                        ("corr_bound", args.corr_bound))
                      if v is not None} or None)
    argv = getattr(args, "argv", None)
    argv = sys.argv[1:] if argv is None else argv
    meta = {"command": "pbhno " + " ".join(shlex.quote(a) for a in argv), "metrics": res.metrics,
            "history": res.history}
    eqx_path, json_path = res.model.save(Path(args.out), meta=meta)
    print(json.dumps({k: v for k, v in res.metrics.items() if k in ("test", "counterfactual", "validation")}, default=float))
    print(f"wrote {eqx_path} and {json_path}")
    return 0
