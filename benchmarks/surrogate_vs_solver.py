"""Surrogate vs reference solver: batched rollout throughput, gradient cost, and held-out accuracy.

    nice python benchmarks/surrogate_vs_solver.py speed --pathway notch --batches 1 64 1024 [--out r.json]
    nice python benchmarks/surrogate_vs_solver.py accuracy --pathway notch --n 32 [--out a.json] [--figures DIR]

speed: for each batch size B, θ_b drawn from the prior (seed 0), jit(vmap(predict)) of both models
over the full horizon (25 output times, default control), compiled once, timed as the best of
``--repeat`` runs; the throughput ratio is (solver seconds)/(surrogate seconds). With
``--surrogate-dtype float32`` the surrogate runs in single precision (θ cast; ``predict`` runs in
θ's precision) against the float64 reference, and each row also reports the float32 rollouts'
relative L2 difference from the float64 surrogate, the float64 surrogate's time and ratio (same
run), and the float32 rollouts' error vs the solver. The reference is
:func:`pbhno_bayes.surrogate.train.reference_model` (Tsit5, rtol 1e-6, atol 1e-8, 2**18 steps: the
default 16384 fails on stiff prior draws). Batches above ``--solver-max-batch`` time the surrogate
only. Gradient: jit(grad) of a Gaussian log-likelihood Σ (y − ŷ(θ))²/(2σ²) w.r.t. θ at batch 1
(what NUTS pays per leapfrog step), reverse mode (default adjoints) and forward mode (jacfwd, what
``pb.fit`` uses for models with an adjoint switch, i.e. both of these).

accuracy: ``--n`` held-out θ from the prior (seed 2026) with random control schedules, and n/2
counterfactual pulse-train schedules (seed 2027), all reference-solved at the macro nodes
(:func:`pbhno_bayes.surrogate.make_dataset`; training used seeds 0–3); relative L2 error of the
observed species (time × cells, per θ and species) and of the total ligand field (time × space).
Writes error-distribution and example-trajectory/field figures to ``--figures``.
The pretrained surrogate is loaded pruned (its exactly-zero FNO and g_ψ blocks skipped, see
``HybridSurrogate.pruned``); ``--also-unpruned`` times the unpruned model (``prune=False``, both
blocks evaluated) in the same run and records its time, ratio and difference from the pruned one.
``--surrogate NAME`` benchmarks another shipped surrogate of the pathway (e.g. ``wnt_learned``, whose
trained g_ψ is evaluated); ``--compare NAME`` runs a second shipped surrogate on the same θ and
schedules in the same run (speed: its time and ratio; accuracy: its errors and, per θ, which of the
two is closer to the reference). ``--predictor-substeps M`` runs the surrogate under test (not the
``--compare`` one) with M sub-steps in its predictor pass (``HybridSurrogate.with_predictor_substeps``),
so ``--predictor-substeps 2 --compare notch`` measures the cheaper pass against the default in one run.
``--predictor-without-correction`` likewise drops g_ψ from the surrogate's predictor cell solve
(``HybridSurrogate.with_predictor_correction(False)``; matters only for a trained g_ψ, ``wnt_learned``).
``--macro-step DT`` rolls a physics-only surrogate out with macro step DT
(``HybridSurrogate.with_macro_step``), e.g. ``--macro-step 0.125 --compare notch``; in accuracy mode
the data sets are then built on the DT nodes and the ``--compare`` model is evaluated at those times
(``evaluate`` interpolates between its own nodes; before 2026-12-02 it compared at the wrong times, so
this combination was refused). That comparison includes what a coarser model does between its nodes:
its interpolation, and control switches inside its steps (the schedules are drawn on the finer grid;
``--pathway wnt --macro-step 0.25 --compare wnt --n 4``: ``wnt`` at its own Δt 0.5 on the
0.25 grid, pulse trains, β 4.8 % / field 14 % against 0.40 % / 1.0 % on its own nodes).
``--exchange E`` / ``--field-substeps M`` run a physics-only surrogate under test with another
field–cell exchange or sub-step count (``HybridSurrogate.with_exchange`` / ``with_field_substeps``);
``--compare-exchange E`` does the same to the ``--compare`` one, so
``--compare notch --compare-exchange endpoints`` measures the shipped Notch model against its scheme
before 2026-12-01 in one run.
Prints one JSON object; same seed → same numbers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from pbhno_bayes.infer.fit import _with_adjoint
from pbhno_bayes.surrogate import HybridSurrogate
from pbhno_bayes.surrogate.train import evaluate, make_dataset, reference_model


def _time(f, *args, repeat=3, keep=False):
    """(best seconds over ``repeat`` runs, compile + first run seconds[, the output if ``keep``])."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(f(*args))  # compile + first run
    first = time.perf_counter() - t0
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t0)
    return (best, first, out) if keep else (best, first)


def _machine():
    return {"device": jax.devices()[0].device_kind, "platform": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "jax": jax.__version__,
            "date": datetime.date.today().isoformat()}


def _load(a):
    """(surrogate under test, comparison surrogate or None), both as shipped (pruned)."""
    out = []
    for name in (a.surrogate or a.pathway, a.compare):
        if name is None:
            out.append(None)
            continue
        out.append(HybridSurrogate.pretrained(name, pathway=a.pathway))
    out[0] = _variant(out[0], a)
    if out[1] is not None and a.compare_exchange is not None:
        out[1] = out[1].with_exchange(a.compare_exchange)
    return out


def _variant(sur, a):
    """The surrogate under test with the scheme options of the command line."""
    if a.exchange is not None:
        sur = sur.with_exchange(a.exchange)
    if a.field_substeps is not None:
        sur = sur.with_field_substeps(a.field_substeps)
    if a.predictor_substeps is not None:
        sur = sur.with_predictor_substeps(a.predictor_substeps)
    if a.predictor_without_correction:
        sur = sur.with_predictor_correction(False)
    if a.macro_step is not None:
        sur = sur.with_macro_step(a.macro_step)
    return sur


def speed(a):
    sur, cmp_ = _load(a)
    pw = sur.pathway
    ref = reference_model(pw)
    ts = jnp.linspace(0.0, pw.t_end, 25)
    rng = np.random.default_rng(0)
    idx = [pw.param_names.index(n) for n in pw.free]
    res = {"pathway": pw.name, "surrogate": a.surrogate or a.pathway, "compare": a.compare,
           "predictor_substeps": sur.predictor_substeps,
           "predictor_correction": sur.predictor_correction, "macro_step": sur.dt, "grid": pw.geometry.n,
           "exchange": sur.exchange, "field_substeps": sur.field_substeps,
           "compare_exchange": None if cmp_ is None else cmp_.exchange,
           "n_cells": pw.n_cells, **_machine(), "skipped_blocks": list(sur.skipped_blocks), "rollout": []}
    fs = eqx.filter_jit(jax.vmap(lambda t: sur.predict(t, ts)))
    fc = None if cmp_ is None else eqx.filter_jit(jax.vmap(lambda t: cmp_.predict(t, ts)))
    if a.also_unpruned:
        full = _variant(HybridSurrogate.pretrained(a.surrogate or a.pathway, prune=False), a)
        fu = eqx.filter_jit(jax.vmap(lambda t: full.predict(t, ts)))
    fr = jax.jit(jax.vmap(lambda t: ref.predict(t, ts)))
    for B in a.batches:
        th = np.tile(pw.theta_vector(None), (B, 1))
        th[:, idx] = np.exp(pw.prior.sample(B, rng=rng))
        th = jnp.asarray(th)
        ths = th.astype(a.surrogate_dtype)  # the surrogate runs in θ's precision
        s_best, s_first, ys = _time(fs, ths, repeat=a.repeat, keep=True)
        ys = np.asarray(ys, float)
        row = {"batch": B, "surrogate_dtype": a.surrogate_dtype, "surrogate_s": s_best,
               "surrogate_compile_and_first_s": s_first, "surrogate_finite": bool(np.all(np.isfinite(ys)))}
        if a.surrogate_dtype != "float64":
            s64, _, y64 = _time(fs, th, repeat=a.repeat, keep=True)
            row["surrogate_float64_s"] = s64
            y64 = np.asarray(y64)
            d = np.linalg.norm((ys - y64).reshape(B, -1), axis=1) / np.linalg.norm(y64.reshape(B, -1), axis=1)
            row["rel_diff_vs_float64_surrogate_max"] = float(np.max(d))
        if a.also_unpruned:
            su, _, yu = _time(fu, ths, repeat=a.repeat, keep=True)
            yu = np.asarray(yu, float)
            row["unpruned_s"] = su
            row["max_abs_diff_pruned_vs_unpruned"] = float(np.nanmax(np.abs(ys - yu)))
        if fc is not None:
            sc, _, yc = _time(fc, ths, repeat=a.repeat, keep=True)
            yc = np.asarray(yc, float)
            row["compare_s"] = sc
            dc = np.linalg.norm((ys - yc).reshape(B, -1), axis=1) / np.linalg.norm(yc.reshape(B, -1), axis=1)
            row["rel_diff_vs_compare_max"] = float(np.max(dc))
        if B <= a.solver_max_batch:
            r_best, r_first, yr = _time(fr, th, repeat=a.repeat, keep=True)
            yr = np.asarray(yr)
            e = np.linalg.norm((ys - yr).reshape(B, -1), axis=1) / np.linalg.norm(yr.reshape(B, -1), axis=1)
            if fc is not None:
                ec = np.linalg.norm((yc - yr).reshape(B, -1), axis=1) / np.linalg.norm(yr.reshape(B, -1), axis=1)
                row.update(speedup_compare=r_best / row["compare_s"], compare_rel_err_vs_solver_median=float(np.median(ec)),
                           compare_rel_err_vs_solver_max=float(np.max(ec)), closer_than_compare=int(np.sum(e < ec)))
            if "surrogate_float64_s" in row:
                row["speedup_float64_surrogate"] = r_best / row["surrogate_float64_s"]
            if "unpruned_s" in row:
                row["speedup_unpruned"] = r_best / row["unpruned_s"]
            row.update(solver_s=r_best, solver_compile_and_first_s=r_first, speedup=r_best / s_best,
                       solver_finite=bool(np.all(np.isfinite(yr))),
                       rel_err_vs_solver_median=float(np.median(e)), rel_err_vs_solver_max=float(np.max(e)))
        res["rollout"].append(row)
        print(json.dumps(row), flush=True)
    if a.no_grad:
        return res
    th0 = jnp.asarray(pw.theta_vector(None))
    y = ref.predict(th0, ts)

    def loglik(model):
        return lambda t: -0.5 * jnp.sum((model.predict(t, ts) - y) ** 2) / 0.05**2

    g = {}
    for mode, tr in (("reverse", jax.grad), ("forward", jax.jacfwd)):
        # forward mode needs diffrax's ForwardMode adjoint (pb.fit switches it the same way)
        s_m, r_m = (sur, ref) if mode == "reverse" else (_with_adjoint(sur, "forward"), _with_adjoint(ref, "forward"))
        gs = eqx.filter_jit(tr(loglik(s_m)))
        gr = eqx.filter_jit(tr(loglik(r_m)))
        s_best, s_first = _time(gs, th0 * 1.05, repeat=a.repeat)
        r_best, r_first = _time(gr, th0 * 1.05, repeat=a.repeat)
        g[mode] = {"surrogate_s": s_best, "solver_s": r_best, "speedup": r_best / s_best,
                   "surrogate_compile_and_first_s": s_first, "solver_compile_and_first_s": r_first}
        if a.also_unpruned:
            u_m = full if mode == "reverse" else _with_adjoint(full, "forward")
            u_best, _ = _time(eqx.filter_jit(tr(loglik(u_m))), th0 * 1.05, repeat=a.repeat)
            g[mode].update(unpruned_s=u_best, speedup_unpruned=r_best / u_best)
        print(json.dumps({"grad": mode, **g[mode]}), flush=True)
    res["grad"] = g
    return res


def accuracy(a):
    sur, cmp_ = _load(a)
    pw = sur.pathway
    res = {"pathway": pw.name, "surrogate": a.surrogate or a.pathway, "compare": a.compare,
           "predictor_substeps": sur.predictor_substeps,
           "predictor_correction": sur.predictor_correction, "exchange": sur.exchange,
           "field_substeps": sur.field_substeps, "compare_exchange": None if cmp_ is None else cmp_.exchange,
           **_machine(), "n": a.n}
    t0 = time.time()
    sets = {"held_out": make_dataset(pw, a.n, dt=sur.dt, horizon=sur.horizon, seed=2026),
            "counterfactual": make_dataset(pw, max(a.n // 2, 1), dt=sur.dt, horizon=sur.horizon, seed=2027,
                                           counterfactual=True)}
    evs = {}
    for k, d in sets.items():
        ev = evaluate(sur, d)
        evs[k] = ev
        res[k] = {"n": int(len(d["theta"])), "n_reference_failed": d["n_failed"], "species": ev["species"],
                  "median": ev["median"], "p95": ev["p95"], "max": float(np.nanmax(ev["rel_err"])),
                  "n_nan": int(np.isnan(ev["rel_err"]).sum()),
                  "per_species_median": np.nanmedian(ev["rel_err"], axis=0).tolist(),
                  "field_median": ev["field_median"], "field_p95": ev["field_p95"],
                  "meets_bar": bool(ev["median"] <= 0.02 and ev["p95"] <= 0.05 and ev["field_median"] <= 0.05)}
        if cmp_ is not None:
            ec = evaluate(cmp_, d)
            e1, e0 = np.nanmax(ev["rel_err"], axis=1), np.nanmax(ec["rel_err"], axis=1)
            res[k]["compare"] = {"median": ec["median"], "p95": ec["p95"], "max": float(np.nanmax(ec["rel_err"])),
                                 "field_median": ec["field_median"], "field_p95": ec["field_p95"],
                                 "closer_on": int(np.sum(e1 < e0)), "farther_on": int(np.sum(e1 > e0)),
                                 "field_closer_on": int(np.sum(ev["field_err"] < ec["field_err"]))}
        print(k, json.dumps(res[k]), flush=True)
    res["seconds"] = time.time() - t0
    if a.figures:
        _figures(Path(a.figures), sur, sets, evs, a.surrogate or a.pathway)
    return res


def _figures(outdir, sur, sets, evs, name):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pbhno_bayes._io import atomic_path
    from pbhno_bayes.pathways.base import Schedule

    pw = sur.pathway
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    for k, c in (("held_out", "C0"), ("counterfactual", "C1")):
        e = evs[k]["rel_err"].ravel()
        ax[0].hist(np.log10(np.maximum(e, 1e-5)), bins=20, alpha=0.6, color=c, label=f"{k} (n={e.size})")
        ax[1].hist(np.log10(np.maximum(evs[k]["field_err"], 1e-5)), bins=15, alpha=0.6, color=c, label=k)
    for axi, bars in ((ax[0], ((0.02, "2 % median bar"), (0.05, "5 % p95 bar"))), (ax[1], ((0.05, "5 % median bar"),))):
        for v, lab in bars:
            axi.axvline(np.log10(v), color="k", ls="--", lw=1)
            axi.text(np.log10(v), axi.get_ylim()[1] * 0.9, lab, rotation=90, fontsize=7, ha="right")
    ax[0].set(xlabel="log10 relative L2 error (observed species)", ylabel="count", title=f"{name}: observed species")
    ax[1].set(xlabel="log10 relative L2 error (ligand field)", title=f"{name}: ligand field")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(outdir / f"surrogate_{name}_errors.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)

    # worst and median held-out example: trajectories and final field vs the reference
    d, ev = sets["held_out"], evs["held_out"]
    per = np.nanmax(ev["rel_err"], axis=1)
    picks = [int(np.argsort(per)[len(per) // 2]), int(np.nanargmax(per))]
    K = d["x"].shape[1] - 1
    ts = jnp.arange(K + 1) * sur.dt
    dflt = jnp.asarray(pw.control_default, float)
    sidx = [pw.species.index(s) for s in ev["species"]]
    fig, ax = plt.subplots(2, 3, figsize=(12, 6.5))
    for row, i in enumerate(picks):
        out = sur.solve(jnp.asarray(d["theta"][i]), ts, Schedule(jnp.asarray(d["edges"][i]), jnp.asarray(d["values"][i]), dflt))
        y, f = np.asarray(out["states"]), np.asarray(out["field"])
        for j, s in enumerate(sidx):
            for c in range(pw.n_cells):
                ax[row, 0].plot(ts, d["x"][i, :, c, s], "k-", lw=1.2, label="reference" if (j, c) == (0, 0) else None)
                ax[row, 0].plot(ts, y[:, c, s], f"C{j}--", lw=1.2, label=f"surrogate {pw.species[s]}" if c == 0 else None)
        ax[row, 0].set(xlabel="t", title=f"{'median' if row == 0 else 'worst'} held-out θ: err {per[i]:.3f}")
        ax[row, 0].legend(fontsize=7)
        true_f = d["L"][i, -1].sum(axis=0)
        vmax = float(true_f.max())
        im = ax[row, 1].imshow(true_f, vmin=0, vmax=vmax, cmap="viridis")
        ax[row, 1].set_title(f"reference field t={float(ts[-1]):g}")
        plt.colorbar(im, ax=ax[row, 1], fraction=0.046)
        im = ax[row, 2].imshow(f[-1] - true_f, cmap="RdBu_r", vmin=-0.1 * vmax, vmax=0.1 * vmax)
        ax[row, 2].set_title(f"surrogate − reference (field err {ev['field_err'][i]:.3f})")
        plt.colorbar(im, ax=ax[row, 2], fraction=0.046)
    fig.tight_layout()
    with atomic_path(outdir / f"surrogate_{name}_examples.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["speed", "accuracy"])
    ap.add_argument("--pathway", default="notch", choices=["notch", "wnt"])
    ap.add_argument("--surrogate", default=None, help="shipped surrogate to test (default: the pathway's, e.g. wnt)")
    ap.add_argument("--compare", default=None, help="a second shipped surrogate run on the same θ (e.g. wnt)")
    ap.add_argument("--predictor-substeps", type=int, default=None,
                    help="sub-steps of the surrogate's predictor pass (default: its field_substeps)")
    ap.add_argument("--predictor-without-correction", action="store_true",
                    help="the surrogate's predictor cell solve without g_psi (default: with it)")
    ap.add_argument("--macro-step", type=float, default=None,
                    help="roll the surrogate out with this macro step (HybridSurrogate.with_macro_step; "
                         "physics-only models); in accuracy mode the data sets are built on its nodes and a "
                         "--compare model is evaluated at them")
    ap.add_argument("--exchange", default=None, choices=["substeps", "endpoints"],
                    help="field-cell exchange of the surrogate under test (physics-only models; default: as shipped)")
    ap.add_argument("--field-substeps", type=int, default=None,
                    help="field sub-steps per macro step of the surrogate under test (physics-only models)")
    ap.add_argument("--compare-exchange", default=None, choices=["substeps", "endpoints"],
                    help="field-cell exchange of the --compare surrogate (default: as shipped)")
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 64, 1024],
                    help="rollout batch sizes (none: gradient timing only)")
    ap.add_argument("--solver-max-batch", type=int, default=64,
                    help="largest batch the reference solver is timed at (CPU time budget)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--surrogate-dtype", default="float64", choices=["float64", "float32"],
                    help="precision of the surrogate's rollouts (speed mode; the reference stays float64)")
    ap.add_argument("--no-grad", action="store_true", help="speed mode: skip the gradient timing")
    ap.add_argument("--also-unpruned", action="store_true",
                    help="speed mode: also time the surrogate with its zero learned blocks evaluated")
    ap.add_argument("--n", type=int, default=32, help="held-out θ for the accuracy mode")
    ap.add_argument("--figures", default=None, help="directory for the accuracy figures")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    res = speed(a) if a.mode == "speed" else accuracy(a)
    print(json.dumps(res, indent=1))
    if a.out:
        from pbhno_bayes._io import atomic_write_text
        atomic_write_text(a.out, json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
