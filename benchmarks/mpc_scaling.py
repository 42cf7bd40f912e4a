"""Cost of robust MPC versus ensemble size (MAPK, mechanistic forward model).

For S in {1, 4, 16, 64, 256, 1024} posterior-like draws (log θ ~ N(0, 0.25²)), T = 20 intervals,
200 projected-Adam iterations of Algorithm 2 (expected-cost risk, window target Z ∈ [0.12, 0.18],
horizon starting at t = 10): the compile time of the step and the wall time of the 200 compiled
steps. A least-squares line time = a + b·S checks linear scaling.

    nice python benchmarks/mpc_scaling.py [--sizes 1 4 16 64 256 1024] [--iters 200]
        [--out reports/figures/control_scaling.json] [--figure reports/figures/control_scaling.png]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import pbhno_bayes as pb  # noqa: E402
from pbhno_bayes._io import atomic_path, atomic_write_text  # noqa: E402
from pbhno_bayes.control.mpc import build_problem, make_mpc  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16, 64, 256, 1024])
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--horizon", type=int, default=20)
    ap.add_argument("--out", default="reports/figures/control_scaling.json")
    ap.add_argument("--figure", default="reports/figures/control_scaling.png")
    args = ap.parse_args(argv)

    pw = pb.pathways.mapk()
    fm = pb.MechanisticModel(pw)
    prob, cons, _ = build_problem(fm, {"Z": (0.12, 0.18)}, horizon=args.horizon, dt=0.5, t_start=10.0)
    rows = []
    for S in args.sizes:
        th = jnp.asarray(np.exp(np.random.default_rng(S).normal(0.0, 0.25, (S, 6))))
        w = jnp.full(S, 1.0 / S)
        init, step = make_mpc(prob, 0.05)
        state = init(cons.to_z(np.ones((args.horizon, 1))))
        t0 = time.perf_counter()
        state = step(state, th, w)
        jax.block_until_ready(state.z)
        compile_s = time.perf_counter() - t0
        state = init(cons.to_z(np.ones((args.horizon, 1))))
        t0 = time.perf_counter()
        for _ in range(args.iters):
            state = step(state, th, w)
        jax.block_until_ready(state.z)
        run_s = time.perf_counter() - t0
        rows.append(dict(draws=S, compile_s=compile_s, run_s=run_s, per_iter_ms=1e3 * run_s / args.iters,
                         final_objective=float(state.best_J), rejected=int(state.n_rejected)))
        print(json.dumps(rows[-1]), flush=True)

    S = np.array([r["draws"] for r in rows], float)
    y = np.array([r["run_s"] for r in rows])
    A = np.stack([np.ones_like(S), S], 1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    r2 = 1 - np.sum((A @ coef - y) ** 2) / np.sum((y - y.mean()) ** 2)
    out = dict(rows=rows, fit=dict(intercept_s=coef[0], per_draw_s=coef[1], r2=r2), iters=args.iters,
               horizon=args.horizon, device=str(jax.devices()[0]), machine=platform.machine(),
               command="nice python benchmarks/mpc_scaling.py")
    atomic_write_text(args.out, json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["fit"]))

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    ax[0].plot(S, y, "o-", label="measured")
    ss = np.linspace(0, S.max(), 50)
    ax[0].plot(ss, coef[0] + coef[1] * ss, "--", label=f"a + b·S, R² = {r2:.4f}")
    ax[0].set_xlabel("ensemble size S")
    ax[0].set_ylabel(f"wall time of {args.iters} iterations [s]")
    ax[0].legend(fontsize=8)
    ax[1].loglog(S, y, "o-")
    ax[1].set_xlabel("ensemble size S")
    ax[1].set_title("log-log", fontsize=9)
    fig.suptitle(f"robust MPC cost, MAPK, T = {args.horizon}, CPU ({jax.devices()[0].platform})", fontsize=10)
    fig.tight_layout()
    with atomic_path(args.figure) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


if __name__ == "__main__":
    main()
