"""Nominal vs robust MPC in closed loop on true systems drawn from a posterior fitted to sparse data.

MAPK (mechanistic forward model):
1. data: ``pb.simulate(mapk, times=6, noise=0.1, seed=0)`` (6 irregular times in (0, 10], X, Y, Z);
2. posterior: ``fit`` NUTS, 2 chains × 300 warmup + 300 draws, seed 0;
3. planning ensemble: S posterior draws (seed 1); true systems: N other posterior draws (seed 2);
4. each true system is controlled for ``--steps`` intervals of dt = 0.5 from the last observation
   time (horizon T = 20) by each controller — nominal MPC (posterior mean of log θ), robust MPC
   (expected cost) and robust CVaR_0.9 — with a noisy measurement (sd ``--noise``) of X, Y, Z after
   every interval and an importance-reweighting posterior update;
5. metrics: success (final true Z inside the target window), target error (distance of the final
   true Z to the window), applied energy Σ u² dt, constraint violations, minimum ESS;
6. faithfulness of the update: for the first ``--faithful`` systems, the reweighted ensemble's mean
   and sd of log θ vs a fresh NUTS fit (and an SVI fit) on all data (original + closed-loop).

    nice python benchmarks/control_closed_loop.py [--systems 12] [--draws 64] [--steps 10]
        [--out reports/figures/control_closed_loop.json]

Notch (``--pathway notch``; planning on the pretrained hybrid surrogate, 2 cells, grid 32; the true
systems are the reference solver ``MechanisticModel(pathway)``):
1. data: the reference solver at the nominal θ, N and H in both cells at t = 6, 12, 18, 24, noise sd
   0.1 (absolute), seed 0 — sparse: 16 numbers for 6 free parameters;
2. posterior (``--posterior-method``): ``laplace`` (default) — Adam (40 steps, lr 0.02) on the
   negative log posterior through the surrogate, Hessian by central differences of the exact
   gradient, 400 draws from N(mode, H⁻¹) (seed 0); ``--start`` starts Adam at the first draw of
   another posterior file (the run reported used the collapsed importance-sampling result). ``is``:
   adaptive importance sampling (256 prior + 768 Gaussian-proposal draws); with 16 data of sd 0.1
   it collapsed to ESS 1 (recorded in reports/control.md). ``svi``: pb.fit(method="svi") — one
   Laplace-SVI step takes ≈ 10 s through the surrogate here (≈ 50 min for 300 steps). NUTS through
   the surrogate is out of reach on this CPU;
3. planning ensemble: S posterior draws (seed 1); true systems: N other posterior draws (seed 2);
4. target (lateral-inhibition fate with a set point): the receiving cell 1 at H = 5 ± 1 and cell 0
   low, H = 0 ± 0.5; controls ligand ∈ [0, 2], inhibitor ∈ [0, 1] from t = 24, T = 4 intervals of
   dt = 3, each plan's first ``--replan-every`` intervals applied before re-planning (the surrogate
   is trained to t = 48, so every plan must end by then), ``--steps`` intervals in all; noisy N, H
   measurements (sd 0.1) after every interval with importance reweighting;
5. metrics as for MAPK, success judged on the true system at the end of the applied intervals.

    nice python benchmarks/control_closed_loop.py --pathway notch --systems 10 --draws 4 --steps 4 \
        --iters 10 --replan-iters 4 --posterior-method is --posterior /tmp/notch_is.nc   # (collapsed; start)
    nice python benchmarks/control_closed_loop.py --pathway notch --systems 10 --draws 4 --steps 4 \
        --iters 10 --replan-iters 4 --start /tmp/notch_is.nc --posterior /tmp/notch_laplace.nc \
        --out reports/figures/control_closed_loop_notch.json \
        --figure reports/figures/control_closed_loop_notch.png --plan-figure reports/figures/control_plan_notch.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import pbhno_bayes as pb  # noqa: E402
from pbhno_bayes._io import atomic_path, atomic_write_text  # noqa: E402
from pbhno_bayes.control import closed_loop, posterior_ensemble  # noqa: E402
from pbhno_bayes.control.figures import plot_plan  # noqa: E402
from pbhno_bayes.infer import fit  # noqa: E402

WINDOW = (0.12, 0.18)
CONTROLLERS = {"nominal": dict(nominal=True), "robust": dict(risk="mean"), "robust_cvar": dict(risk="cvar", alpha=0.9)}


def _posterior_stats(pw, idata):
    lt = idata.posterior["log_theta"]
    flat = lt.stack(s=("chain", "draw")).transpose("s", "param").values
    return flat.mean(0), flat.std(0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", type=int, default=12)
    ap.add_argument("--draws", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--replan-iters", type=int, default=50)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--faithful", type=int, default=2)
    ap.add_argument("--controllers", nargs="+", default=list(CONTROLLERS))
    ap.add_argument("--posterior", default=None, help="reuse/save the fitted posterior NetCDF here")
    ap.add_argument("--target-weight", type=float, default=None,
                    help="mapk: write the window as a value target at its centre (tol = half its width) "
                         "with this weight q, instead of the bare window (success is judged on the window either way)")
    ap.add_argument("--out", default="reports/figures/control_closed_loop.json")
    ap.add_argument("--figure", default="reports/figures/control_closed_loop.png")
    ap.add_argument("--plan-figure", default="reports/figures/control_plan_mapk.png")
    ap.add_argument("--pathway", choices=("mapk", "notch"), default="mapk")
    ap.add_argument("--merge", nargs="+", default=None,
                    help="notch: merge the JSON files of runs split with --first into --out and redraw --figure")
    ap.add_argument("--replan-every", type=int, default=2, help="notch: intervals applied per plan")
    ap.add_argument("--svi-steps", type=int, default=300, help="notch: SVI steps of the posterior fit")
    ap.add_argument("--warm-start", action="store_true",
                    help="notch: restart the surrogate at each plan start (robust_mpc warm_start)")
    ap.add_argument("--posterior-method", choices=("laplace", "is", "svi"), default="svi",
                    help="notch: posterior approximation")
    ap.add_argument("--first", type=int, default=0, help="notch: skip true systems before this index "
                    "(to split the systems over processes; the draws are the same)")
    ap.add_argument("--start", default=None, help="notch laplace: start from the first draw of this NetCDF posterior")
    args = ap.parse_args(argv)
    # the command as run (recorded in the JSON), whether from the shell or main(argv)
    command = " ".join(["python benchmarks/control_closed_loop.py"] + list(sys.argv[1:] if argv is None else argv))
    if args.merge:
        return merge_notch(args.merge, args.out, args.figure)
    if args.pathway == "notch":
        return notch_main(args, command)
    t_all = time.perf_counter()

    pw = pb.pathways.mapk()
    fm = pb.MechanisticModel(pw)
    obs = pb.simulate(pw, times=6, noise=0.1, seed=0)
    import os

    import arviz as az

    if args.posterior and os.path.exists(args.posterior):
        idata = az.from_netcdf(args.posterior)
        fit_s = float("nan")
    else:
        t0 = time.perf_counter()
        idata = fit(fm, obs, chains=2, warmup=300, samples=300, seed=0, progress=False)
        fit_s = time.perf_counter() - t0
        if args.posterior:
            idata.to_netcdf(args.posterior)
    post_mean, post_sd = _posterior_stats(pw, idata)
    print("posterior log θ mean", np.round(post_mean, 3), "sd", np.round(post_sd, 3), flush=True)

    ens = posterior_ensemble(pw, idata, draws=args.draws, seed=1)
    all_lt = idata.posterior["log_theta"].stack(s=("chain", "draw")).transpose("s", "param").values
    used = {tuple(np.round(r, 12)) for r in ens.log_theta_free}
    pool = [i for i in range(all_lt.shape[0]) if tuple(np.round(all_lt[i], 12)) not in used]
    truth_idx = np.random.default_rng(2).choice(pool, size=args.systems, replace=False)
    truths = np.exp(all_lt[truth_idx])

    if args.target_weight is None:
        target = {"Z": WINDOW}
    else:
        target = {"Z": {"value": 0.5 * (WINDOW[0] + WINDOW[1]), "tol": 0.5 * (WINDOW[1] - WINDOW[0]),
                        "weight": args.target_weight}}
    runs = {c: [] for c in args.controllers}
    keep = {}
    for i, th_free in enumerate(truths):
        theta = pw.theta_vector(dict(zip(pw.free, th_free, strict=True)))
        for c in args.controllers:
            res = closed_loop(fm, theta, ens, target, n_steps=args.steps, obs=obs, horizon=20, dt=0.5,
                              draws=args.draws, noise=args.noise, iters=args.iters, replan_iters=args.replan_iters,
                              seed=100 + i, keep_plans=(i == 0), **CONTROLLERS[c])
            row = res.summary() | dict(system=i, wall_s=res.wall_s, planned_success_first=res.planned_success[0],
                                       u=res.u[:, 0].tolist(), z=res.true_states[:, 0, 2].tolist())
            runs[c].append(row)
            if i == 0:
                keep[c] = res
            if c == "robust" and i < args.faithful:
                keep[f"faithful_{i}"] = res
            print(json.dumps({k: row[k] for k in ("system", "success", "target_error", "energy", "violations",
                                                  "min_ess", "wall_s")} | {"controller": c, "z": np.round(row["z"], 4).tolist(),
                                                  "u": np.round(row["u"], 3).tolist()}), flush=True)

    summary = {}
    for c, rows in runs.items():
        err = np.array([r["target_error"] for r in rows])
        summary[c] = dict(n=len(rows), success_rate=float(np.mean([r["success"] for r in rows])),
                          successes=int(np.sum([r["success"] for r in rows])),
                          target_error_mean=float(err.mean()), target_error_median=float(np.median(err)),
                          energy_mean=float(np.mean([r["energy"] for r in rows])),
                          violations=int(np.sum([r["violations"] for r in rows])),
                          min_ess_median=float(np.median([r["min_ess"] for r in rows])),
                          planned_success_first_mean=float(np.mean([r["planned_success_first"] for r in rows])),
                          wall_s_mean=float(np.mean([r["wall_s"] for r in rows])))
    print(json.dumps(summary, indent=1), flush=True)

    # Faithfulness of importance reweighting: compare with fresh fits on all data.
    faithful = []
    for i in range(min(args.faithful, args.systems)):
        res = keep.get(f"faithful_{i}")
        if res is None:
            continue
        all_obs = res.observations(obs)
        sched = res.schedule(pw)
        t0 = time.perf_counter()
        ref = fit(fm, all_obs, chains=2, warmup=300, samples=300, seed=7, control=sched, progress=False, warn=False)
        nuts_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        svi = fit(fm, all_obs, method="svi", samples=500, chains=1, seed=7, control=sched, progress=False, warn=False)
        svi_s = time.perf_counter() - t0
        rm, rs = _posterior_stats(pw, ref)
        sm, ss = _posterior_stats(pw, svi)
        faithful.append(dict(system=i, ess_final=res.ess[-1], nuts_mean=rm.tolist(), nuts_sd=rs.tolist(),
                             reweight_mean=res.posterior_mean.tolist(), reweight_sd=res.posterior_sd.tolist(),
                             svi_mean=sm.tolist(), svi_sd=ss.tolist(),
                             reweight_z=float(np.max(np.abs(res.posterior_mean - rm) / rs)),
                             svi_z=float(np.max(np.abs(sm - rm) / rs)),
                             reweight_sd_ratio=(res.posterior_sd / rs).tolist(), svi_sd_ratio=(ss / rs).tolist(),
                             nuts_s=nuts_s, svi_s=svi_s, true_log_theta=np.log(truths[i]).tolist()))
        print(json.dumps(faithful[-1]), flush=True)

    out = dict(summary=summary, runs=runs, faithful=faithful, fit_s=fit_s, posterior_mean=post_mean.tolist(),
               posterior_sd=post_sd.tolist(), settings=vars(args), window=WINDOW,
               total_s=time.perf_counter() - t_all,
               command=command)
    atomic_write_text(args.out, json.dumps(out, indent=1) + "\n")

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for j, c in enumerate(args.controllers):
        zf = [r["z"][-1] for r in runs[c]]
        ax[0].plot(np.arange(len(zf)) + 0.15 * j, zf, "o", label=f"{c}: {summary[c]['successes']}/{summary[c]['n']}")
    ax[0].axhspan(*WINDOW, color="C2", alpha=0.2, label="target window")
    ax[0].set_xlabel("true system")
    ax[0].set_ylabel("final true Z")
    ax[0].legend(fontsize=7)
    for j, c in enumerate(args.controllers):
        r = keep[c]
        ax[1].plot(r.times, r.true_states[:, 0, 2], "o-", color=f"C{j}", label=f"{c} Z")
    ax[1].axhspan(*WINDOW, color="C2", alpha=0.2)
    ax[1].set_xlabel("time")
    ax[1].set_ylabel("true Z, system 0")
    ax[1].legend(fontsize=7)
    fig.suptitle("MAPK closed loop: nominal vs robust MPC (importance-reweighted posterior)", fontsize=10)
    fig.tight_layout()
    with atomic_path(args.figure) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    if "robust" in keep and keep["robust"].plans:
        plot_plan(keep["robust"].plans[0], args.plan_figure)


NOTCH_TARGET = {"H@1": {"value": 5.0, "tol": 1.0}, "H@0": {"value": 0.0, "tol": 0.5}}
NOTCH_CONTROLLERS = {"nominal": dict(nominal=True), "robust": dict(risk="mean")}


def _summarise(runs):
    summary = {}
    for c, rows in runs.items():
        if not rows:
            continue
        err = np.array([r["target_error"] for r in rows])
        summary[c] = dict(n=len(rows), success_rate=float(np.mean([r["success"] for r in rows])),
                          successes=int(np.sum([r["success"] for r in rows])),
                          target_error_mean=float(err.mean()), target_error_median=float(np.median(err)),
                          energy_mean=float(np.mean([r["energy"] for r in rows])),
                          violations=int(np.sum([r["violations"] for r in rows])),
                          min_ess_median=float(np.median([r["min_ess"] for r in rows])),
                          planned_success_first_mean=float(np.mean([r["planned_success_first"] for r in rows])),
                          wall_s_mean=float(np.mean([r["wall_s"] for r in rows])))
    return summary


def _importance_posterior(forward, obs, seed=0, n1=256, n2=768, keep=400, chunk=64):
    """Adaptive importance sampling of p(log θ_free | obs) with ``forward``'s Gaussian likelihood
    (known σ); returns an InferenceData like pb.fit's (posterior.log_theta, attrs ess / n_nan)."""
    import arviz as az
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    pw = forward.pathway
    pr = pw.prior
    mu0, sd0 = np.asarray(pr.mean, float), np.asarray(pr.sd, float)
    fi = np.array([pw.param_names.index(n) for n in pw.free])
    si = [pw.species.index(s) for s in obs.species]
    ci = list(obs.cells)
    base = np.asarray(pw.nominal_values, float)

    @eqx.filter_jit
    def loglik(f, Z):
        def one(z):
            th = jnp.asarray(base).at[fi].set(jnp.exp(z))
            x = f.predict(th, jnp.asarray(obs.times))[:, ci][:, :, si]
            r = (x - obs.values) / obs.sigma
            return -0.5 * jnp.nansum(r**2)
        return jax.vmap(one)(Z)

    def ll(Z):
        out = np.concatenate([np.asarray(loglik(forward, jnp.asarray(Z[i:i + chunk]))) for i in range(0, len(Z), chunk)])
        return np.where(np.isfinite(out), out, -np.inf)

    def lprior(Z):
        return -0.5 * np.sum(((Z - mu0) / sd0) ** 2, axis=1)

    rng = np.random.default_rng(seed)
    Z1 = mu0 + sd0 * rng.standard_normal((n1, len(fi)))
    L1 = ll(Z1)
    w1 = np.exp(L1 - L1.max())
    w1 /= w1.sum()
    m = w1 @ Z1
    C = (Z1 - m).T @ ((Z1 - m) * w1[:, None]) + 1e-4 * np.eye(len(fi))
    Cp = 1.5**2 * C
    Lc = np.linalg.cholesky(Cp)
    n_prior = int(0.1 * n2)
    Z2 = np.concatenate([m + rng.standard_normal((n2 - n_prior, len(fi))) @ Lc.T,
                         mu0 + sd0 * rng.standard_normal((n_prior, len(fi)))])
    L2 = ll(Z2)
    Ci = np.linalg.inv(Cp)
    lq_g = -0.5 * np.einsum("ij,jk,ik->i", Z2 - m, Ci, Z2 - m) - 0.5 * np.linalg.slogdet(2 * np.pi * Cp)[1]
    lq_p = lprior(Z2) - 0.5 * np.sum(np.log(2 * np.pi * sd0**2))
    lq = np.logaddexp(np.log(0.9) + lq_g, np.log(0.1) + lq_p)
    lw = L2 + lprior(Z2) - 0.5 * np.sum(np.log(2 * np.pi * sd0**2)) - lq
    w = np.exp(lw - lw[np.isfinite(lw)].max())
    w = np.where(np.isfinite(w), w, 0.0)
    w /= w.sum()
    ess = float(1.0 / np.sum(w**2))
    u = (rng.random() + np.arange(keep)) / keep  # systematic resampling
    idx = np.minimum(np.searchsorted(np.cumsum(w), u), len(w) - 1)
    draws = Z2[idx]
    idata = az.from_dict(posterior={"log_theta": draws[None]}, coords={"param": list(pw.free)},
                         dims={"log_theta": ["param"]})
    idata.posterior.attrs.update(pathway=pw.name, method="adaptive importance sampling", ess=ess,
                                 n_nan_round1=int(np.sum(~np.isfinite(L1))), n_nan_round2=int(np.sum(~np.isfinite(L2))),
                                 n_unique=int(np.unique(idx).size))
    print(f"importance posterior: ESS {ess:.1f} of {n2}, {np.unique(idx).size} unique draws, NaN rollouts "
          f"{int(np.sum(~np.isfinite(L1)))}/{n1} + {int(np.sum(~np.isfinite(L2)))}/{n2}", flush=True)
    return idata


def _laplace_posterior(forward, obs, z_start, seed=0, steps=40, lr=0.02, keep=400):
    """Laplace approximation of p(log θ_free | obs) with ``forward``'s Gaussian likelihood: Adam
    from ``z_start`` on the negative log posterior, Hessian by central differences of the exact
    gradient, ``keep`` draws from N(mode, H⁻¹) (seed)."""
    import arviz as az
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    pw = forward.pathway
    mu0, sd0 = np.asarray(pw.prior.mean, float), np.asarray(pw.prior.sd, float)
    fi = np.array([pw.param_names.index(n) for n in pw.free])
    si = [pw.species.index(s) for s in obs.species]
    ci = list(obs.cells)
    base = np.asarray(pw.nominal_values, float)

    @eqx.filter_jit
    def vg(f, z):
        def nlp(z):
            th = jnp.asarray(base).at[fi].set(jnp.exp(z))
            x = f.predict(th, jnp.asarray(obs.times))[:, ci][:, :, si]
            r = (x - obs.values) / obs.sigma
            return 0.5 * jnp.nansum(r**2) + 0.5 * jnp.sum(((z - mu0) / sd0) ** 2)
        return jax.value_and_grad(nlp)(z)

    opt = optax.adam(lr)
    z = jnp.asarray(z_start, float)
    st = opt.init(z)
    best = (np.inf, np.asarray(z))
    for _ in range(steps):
        v, g = vg(forward, z)
        if np.isfinite(float(v)) and float(v) < best[0]:
            best = (float(v), np.asarray(z))
        if not (np.isfinite(float(v)) and np.all(np.isfinite(np.asarray(g)))):
            z = jnp.asarray(best[1])
            continue
        upd, st = opt.update(g, st, z)
        z = z + upd
    m = best[1]
    h = 1e-3
    H = np.zeros((len(m), len(m)))
    for j in range(len(m)):
        e = np.zeros(len(m))
        e[j] = h
        H[:, j] = (np.asarray(vg(forward, jnp.asarray(m + e))[1]) - np.asarray(vg(forward, jnp.asarray(m - e))[1])) / (2 * h)
    H = 0.5 * (H + H.T)
    lam, V = np.linalg.eigh(H)
    lam = np.maximum(lam, 1.0 / sd0.max() ** 2)  # never wider than the prior along any direction
    C = (V / lam) @ V.T
    draws = m + np.random.default_rng(seed).standard_normal((keep, len(m))) @ np.linalg.cholesky(C).T
    idata = az.from_dict(posterior={"log_theta": draws[None]}, coords={"param": list(pw.free)},
                         dims={"log_theta": ["param"]})
    idata.posterior.attrs.update(pathway=pw.name, method="Laplace (Adam + finite-difference Hessian)",
                                 neg_log_post=best[0], steps=steps)
    print(f"Laplace posterior: -log p = {best[0]:.2f}, sd {np.round(np.sqrt(np.diag(C)), 3)}", flush=True)
    return idata


def merge_notch(paths, out_path, fig_path):
    """Combine Notch runs split over processes (``--first``): each system is taken from the first
    file that has it."""
    docs = [json.load(open(p)) for p in paths]
    runs, seen = {}, set()
    for d in docs:
        for c, rows in d["runs"].items():
            for r in rows:
                if (c, r["system"]) not in seen:
                    seen.add((c, r["system"]))
                    runs.setdefault(c, []).append(r)
    for rows in runs.values():
        rows.sort(key=lambda r: r["system"])
    out = dict(docs[0], runs=runs, summary=_summarise(runs), merged_from=list(paths),
               failures=sum((d["failures"] for d in docs), []), total_s=sum(d["total_s"] for d in docs))
    atomic_write_text(out_path, json.dumps(out, indent=1) + "\n")
    summary = out["summary"]
    print(json.dumps(summary, indent=1))
    fig, ax = plt.subplots(figsize=(5, 3.8))
    for j, c in enumerate(runs):
        h = np.array([r["H"][-1] for r in runs[c]])
        ax.plot(h[:, 0], h[:, 1], "os"[j % 2], color=f"C{j}", alpha=0.8,
                label=f"{c}: {summary[c]['successes']}/{summary[c]['n']} in target")
    ax.add_patch(plt.Rectangle((-0.5, 4.0), 1.0, 2.0, color="C2", alpha=0.2, label="target (H₀ ≤ 0.5, H₁ ∈ [4, 6])"))
    ax.set_xlabel("final true H, cell 0")
    ax.set_ylabel("final true H, cell 1")
    ax.legend(fontsize=7)
    ax.set_title("Notch closed loop (surrogate plans, reference truth)", fontsize=9)
    fig.tight_layout()
    with atomic_path(fig_path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def notch_main(args, command):
    import os

    import arviz as az
    import jax.numpy as jnp

    t_all = time.perf_counter()
    sur = pb.HybridSurrogate.pretrained("notch")
    pw = sur.pathway
    ref = pb.MechanisticModel(pw)
    t_obs = np.array([6.0, 12.0, 18.0, 24.0])
    x = np.asarray(ref.predict(jnp.asarray(pw.nominal_values), jnp.asarray(t_obs)))
    si = [pw.species.index(sp) for sp in ("N", "H")]
    y = x[:, :, si] + 0.1 * np.random.default_rng(0).standard_normal((t_obs.size, pw.n_cells, 2))
    obs = pb.Observations.from_arrays(t_obs, y, species=["N", "H"], cells=list(range(pw.n_cells)),
                                      sigma=np.full(y.shape, 0.1))
    if args.posterior and os.path.exists(args.posterior):
        idata = az.from_netcdf(args.posterior)
        fit_s = float("nan")
    else:
        t0 = time.perf_counter()
        if args.posterior_method == "svi":
            idata = fit(sur, obs, method="svi", samples=400, chains=1, seed=0, svi_steps=args.svi_steps,
                        svi_restarts=1, progress=False, warn=False)
        elif args.posterior_method == "laplace":
            z0 = np.asarray(pw.prior.mean, float)
            if args.start and os.path.exists(args.start):
                z0 = az.from_netcdf(args.start).posterior["log_theta"].values.reshape(-1, len(pw.free))[0]
            idata = _laplace_posterior(sur, obs, z0, seed=0)
        else:
            idata = _importance_posterior(sur, obs, seed=0)
        fit_s = time.perf_counter() - t0
        if args.posterior:
            idata.to_netcdf(args.posterior)
    post_mean, post_sd = _posterior_stats(pw, idata)
    print(f"posterior ({args.posterior_method}) {fit_s:.0f} s; posterior log θ mean", np.round(post_mean, 3), "sd", np.round(post_sd, 3), flush=True)
    ens = posterior_ensemble(pw, idata, draws=args.draws, seed=1)
    all_lt = idata.posterior["log_theta"].stack(s=("chain", "draw")).transpose("s", "param").values
    used = {tuple(np.round(r, 12)) for r in ens.log_theta_free}
    pool = [i for i in range(all_lt.shape[0]) if tuple(np.round(all_lt[i], 12)) not in used]
    truth_idx = np.random.default_rng(2).choice(pool, size=args.systems, replace=False)
    truths = np.exp(all_lt[truth_idx])

    controllers = [c for c in args.controllers if c in NOTCH_CONTROLLERS] or list(NOTCH_CONTROLLERS)
    runs = {c: [] for c in controllers}
    keep, failures = {}, []
    out_path = args.out if args.out != "reports/figures/control_closed_loop.json" else \
        "reports/figures/control_closed_loop_notch.json"

    def dump():
        out = dict(summary=_summarise(runs), runs=runs, failures=failures, fit_s=fit_s, posterior_mean=post_mean.tolist(),
                   posterior_sd=post_sd.tolist(), settings=vars(args), target=NOTCH_TARGET, t_obs=t_obs.tolist(),
                   total_s=time.perf_counter() - t_all, machine="2-core shared CPU, no GPU",
                   command=command)
        atomic_write_text(out_path, json.dumps(out, indent=1) + "\n")

    for i, th_free in enumerate(truths):
        if i < args.first:
            continue
        theta = pw.theta_vector(dict(zip(pw.free, th_free, strict=True)))
        for c in controllers:
            try:
                res = closed_loop(sur, theta, ens, NOTCH_TARGET, n_steps=args.steps, obs=obs, truth=ref, horizon=4,
                                  dt=3.0, draws=args.draws, noise=0.1, iters=args.iters,
                                  replan_iters=args.replan_iters, replan_every=args.replan_every, seed=100 + i,
                                  warm_start=args.warm_start,
                                  keep_plans=(i == 0), **NOTCH_CONTROLLERS[c])
            except ValueError as e:  # reported, never hidden
                failures.append(dict(system=i, controller=c, error=str(e)))
                print(json.dumps(failures[-1]), flush=True)
                continue
            row = res.summary() | dict(system=i, wall_s=res.wall_s, planned_success_first=res.planned_success[0],
                                       u=res.u.tolist(), H=res.true_states[:, :, pw.species.index("H")].tolist())
            runs[c].append(row)
            if i == 0:
                keep[c] = res
            print(json.dumps({k: row[k] for k in ("system", "success", "target_error", "energy", "violations",
                                                  "min_ess", "wall_s", "final_values")}
                             | {"controller": c, "u": np.round(row["u"], 3).tolist()}), flush=True)
        dump()
    dump()
    summary = _summarise(runs)
    print(json.dumps(summary, indent=1), flush=True)

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for j, c in enumerate(controllers):
        h = np.array([r["H"][-1] for r in runs[c]])
        if h.size:
            ax[0].plot(h[:, 0], h[:, 1], "o", color=f"C{j}", label=f"{c}: {summary[c]['successes']}/{summary[c]['n']}")
    ax[0].add_patch(plt.Rectangle((-0.5, 4.0), 1.0, 2.0, color="C2", alpha=0.2, label="target"))
    ax[0].set_xlabel("final true H, cell 0")
    ax[0].set_ylabel("final true H, cell 1")
    ax[0].legend(fontsize=7)
    for j, c in enumerate(controllers):
        if c in keep:
            r = keep[c]
            hs = r.true_states[:, :, pw.species.index("H")]
            ax[1].plot(r.times, hs[:, 1], "o-", color=f"C{j}", label=f"{c} H cell 1")
            ax[1].plot(r.times, hs[:, 0], "s--", color=f"C{j}", label=f"{c} H cell 0")
    ax[1].axhspan(4.0, 6.0, color="C2", alpha=0.2)
    ax[1].set_xlabel("time")
    ax[1].set_ylabel("true H, system 0")
    ax[1].legend(fontsize=7)
    fig.suptitle("Notch closed loop (surrogate planning, reference-solver truth): nominal vs robust", fontsize=10)
    fig.tight_layout()
    fig_path = args.figure if args.figure != "reports/figures/control_closed_loop.png" else \
        "reports/figures/control_closed_loop_notch.png"
    with atomic_path(fig_path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    if "robust" in keep and keep["robust"].plans:
        plan_fig = args.plan_figure if args.plan_figure != "reports/figures/control_plan_mapk.png" else \
            "reports/figures/control_plan_notch.png"
        plot_plan(keep["robust"].plans[0], plan_fig)


if __name__ == "__main__":
    main()
