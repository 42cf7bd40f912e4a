"""MAPK hybrid (mechanistic kinetics + neural correction) vs the plain mechanistic model on data
from the cascade *with* the unmodelled negative feedback (issue 4).

    nice python benchmarks/surrogate_mapk_feedback.py [--steps 1500] [--seed 0] [--out results.json]
                                                     [--figure reports/figures/surrogate_mapk_feedback.png]

Truth: ``mapk(feedback=True)`` at its nominal θ (k_j = 1, k_fb = 2), solved by the reference solver
under random piecewise-constant stimuli U(t) (3 segments, U ∈ [0, 5], edges on a 0.5 grid):
16 training schedules, 16 held-out schedules (other seed) and 8 counterfactual pulse trains
(6 alternating segments, U near 4–5, a pattern never in training). X, Y, Z are observed at 40
times on (0, 10] with 1 % Gaussian noise (training data only; errors are against the noise-free truth).

Both models assume the cascade *without* feedback (``mapk()``):
* plain: θ (6 rates) fitted by least squares (Adam on log θ, weak N(0, 0.5²) prior term);
* hybrid: :class:`pb.HybridSurrogate` f = f_mech(x; θ, U) + g_ψ(x, U) (g_ψ: 2×32 ReLU MLP seeing
  the state and the stimulus, zero-initialised), θ started at the plain fit and trained jointly with ψ.

Reported: relative L2 error (over time × species, per schedule) on held-out and counterfactual
schedules, and how well g_ψ recovers the missing term Δf = f_true(x) − f_mech(x; θ̂) along the
held-out true trajectories (relative L2 of g_ψ − Δf, and correlation of the X components).
Same seed → same numbers.
"""

from __future__ import annotations

import argparse
import json
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import pbhno_bayes as pb
from pbhno_bayes.pathways.base import Schedule
from pbhno_bayes.surrogate import HybridSurrogate

T_END, DT_GRID, NOISE = 10.0, 0.5, 0.01


def schedules(n, rng, counterfactual=False):
    K = int(T_END / DT_GRID)
    if counterfactual:
        J = 6
        E, V = np.zeros((n, J + 1)), np.zeros((n, J, 1))
        for i in range(n):
            period = rng.integers(2, 4)
            e = np.minimum(rng.integers(1, 3) + period * np.arange(J + 1), K)
            e[0] = 0
            E[i] = np.maximum.accumulate(e) * DT_GRID
            amp = 4.0 + rng.random()
            V[i, :, 0] = np.where(np.arange(J) % 2 == 1, amp, 0.2 * rng.random())
        return E, V
    J = 3
    E, V = np.zeros((n, J + 1)), np.zeros((n, J, 1))
    for i in range(n):
        cut = np.sort(rng.choice(np.arange(1, K), size=J - 1, replace=False))
        E[i] = np.concatenate([[0], cut, [K]]) * DT_GRID
        V[i, :, 0] = 5.0 * rng.random(J)
    return E, V


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500, help="hybrid training steps (Adam)")
    ap.add_argument("--plain-steps", type=int, default=400, help="plain least-squares steps (Adam)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--figure", default=None)
    a = ap.parse_args(argv)
    t_start = time.time()

    pw_true, pw = pb.pathways.mapk(feedback=True), pb.pathways.mapk()
    truth = pb.MechanisticModel(pw_true)
    th_true = jnp.asarray(pw_true.theta_vector(None))
    ts = jnp.linspace(0.0, T_END, 41)[1:]
    rng = np.random.default_rng(a.seed)
    sets = {"train": schedules(16, rng), "test": schedules(16, np.random.default_rng(a.seed + 1)),
            "counterfactual": schedules(8, np.random.default_rng(a.seed + 2), counterfactual=True)}
    dflt = jnp.asarray(pw.control_default, float)

    def sched(e, v):
        return Schedule(e, v, dflt)

    Y = {k: np.asarray(jax.jit(jax.vmap(lambda e, v: truth.predict(th_true, ts, sched(e, v))))(
        jnp.asarray(E), jnp.asarray(V))) for k, (E, V) in sets.items()}
    assert all(np.all(np.isfinite(y)) for y in Y.values())
    scale = np.max(np.abs(Y["train"]), axis=(0, 1, 2))
    y_obs = Y["train"] + NOISE * scale * rng.standard_normal(Y["train"].shape)
    E_tr, V_tr = (jnp.asarray(x) for x in sets["train"])
    free_idx = jnp.asarray([pw.param_names.index(n) for n in pw.free])
    base = jnp.asarray(pw.theta_vector(None))
    prior_sd = pw.prior_sd

    def theta_of(z):
        return base.at[free_idx].set(jnp.exp(z))

    def loss_with(predict, z):
        yhat = jax.vmap(lambda e, v: predict(theta_of(z), sched(e, v)))(E_tr, V_tr)
        r = (yhat - y_obs) / scale
        return jnp.mean(jnp.where(jnp.isfinite(r), r, 1e3) ** 2) + 1e-4 * jnp.sum(z**2) / prior_sd**2

    # ---- plain mechanistic least squares
    plain = pb.MechanisticModel(pw)

    def plain_loss(z):
        return loss_with(lambda th, s: plain.predict(th, ts, s), z)

    opt = optax.adam(0.05)
    z = jnp.zeros(len(pw.free))
    st = opt.init(z)

    @jax.jit
    def plain_step(z, st):
        loss, g = jax.value_and_grad(plain_loss)(z)
        u, st = opt.update(g, st, z)
        return optax.apply_updates(z, u), st, loss

    for _ in range(a.plain_steps):
        z, st, lp = plain_step(z, st)
    z_plain = z
    print(f"plain fit loss {float(lp):.3e} θ̂ {np.round(np.exp(np.asarray(z_plain)), 3).tolist()}", flush=True)

    # ---- hybrid: f_mech + g_ψ(x, U), θ from the plain fit, trained jointly
    model = HybridSurrogate(pw, mlp_width=32, mlp_depth=2, x_scale=scale, key=a.seed)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    hp = {"net": params, "z": z_plain}

    def hyb_loss(hp):
        m = eqx.combine(hp["net"], static)
        return loss_with(lambda th, s: m.predict(th, ts, s), hp["z"])

    sched_lr = optax.cosine_decay_schedule(3e-3, a.steps)
    hopt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(sched_lr))
    hst = hopt.init(hp)

    @jax.jit
    def hyb_step(hp, hst):
        loss, g = jax.value_and_grad(hyb_loss)(hp)
        u, hst = hopt.update(g, hst, hp)
        return optax.apply_updates(hp, u), hst, loss

    hist = []
    for i in range(a.steps):
        hp, hst, lh = hyb_step(hp, hst)
        if (i + 1) % max(1, a.steps // 10) == 0:
            hist.append({"step": i + 1, "loss": float(lh)})
            print(f"hybrid step {i + 1} loss {float(lh):.3e} {time.time() - t_start:.0f}s", flush=True)
    hyb = eqx.combine(hp["net"], static)
    th_h = theta_of(hp["z"])
    th_p = theta_of(z_plain)

    # ---- evaluation against the noise-free truth
    def rel(yhat, y):
        return np.linalg.norm((yhat - y).reshape(len(y), -1), axis=1) / np.linalg.norm(y.reshape(len(y), -1), axis=1)

    import sys
    res = {"command": "python benchmarks/surrogate_mapk_feedback.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "seed": a.seed, "steps": a.steps, "plain_steps": a.plain_steps, "noise": NOISE,
           "theta_plain": dict(zip(pw.free, np.exp(np.asarray(z_plain)).tolist(), strict=True)),
           "theta_hybrid": dict(zip(pw.free, np.exp(np.asarray(hp["z"])).tolist(), strict=True)),
           "final_loss": {"plain": float(lp), "hybrid": float(lh)}, "history": hist, "sets": {}}
    preds = {}
    for k, (E, V) in sets.items():
        E, V = jnp.asarray(E), jnp.asarray(V)
        yp = np.asarray(jax.jit(jax.vmap(lambda e, v: plain.predict(th_p, ts, sched(e, v))))(E, V))
        yh = np.asarray(eqx.filter_jit(jax.vmap(lambda e, v: hyb.predict(th_h, ts, sched(e, v))))(E, V))
        preds[k] = (yp, yh)
        ep, eh = rel(yp, Y[k]), rel(yh, Y[k])
        res["sets"][k] = {"n": len(ep), "plain_median": float(np.median(ep)), "plain_p95": float(np.percentile(ep, 95)),
                          "hybrid_median": float(np.median(eh)), "hybrid_p95": float(np.percentile(eh, 95)),
                          "hybrid_better_fraction": float(np.mean(eh < ep))}
        print(k, json.dumps(res["sets"][k]), flush=True)

    # ---- does g_ψ recover the missing feedback term along the held-out true trajectories?
    E, V = (jnp.asarray(x) for x in sets["test"])
    p_true, p_mech = pw_true.params(th_true), pw.params(th_h)

    def terms(e, v):
        s = sched(e, v)
        x = truth.predict(th_true, ts, s)  # (T, 1, 3)
        us = jax.vmap(s)(ts)
        zero = jnp.zeros((1,))
        df = jax.vmap(lambda x_, u_: pw_true.cell_rhs(x_, zero, p_true, u_) - pw.cell_rhs(x_, zero, p_mech, u_))(x, us)
        g = jax.vmap(lambda x_, u_: hyb._rhs(x_, zero, p_mech, u_, None) - pw.cell_rhs(x_, zero, p_mech, u_))(x, us)
        return df, g

    df, g = (np.asarray(v) for v in eqx.filter_jit(jax.vmap(terms))(E, V))
    res["feedback_recovery"] = {
        "rel_l2_g_vs_missing_term": float(np.linalg.norm(g - df) / np.linalg.norm(df)),
        "rel_l2_zero_vs_missing_term": 1.0,
        "corr_X": float(np.corrcoef(g[..., 0].ravel(), df[..., 0].ravel())[0, 1]),
        "missing_term_rms_per_species": np.sqrt(np.mean(df**2, axis=(0, 1, 2))).tolist(),
        "g_rms_per_species": np.sqrt(np.mean(g**2, axis=(0, 1, 2))).tolist()}
    print("feedback recovery", json.dumps(res["feedback_recovery"]), flush=True)
    res["seconds"] = time.time() - t_start
    res["device"] = jax.devices()[0].device_kind
    if a.out:
        from pbhno_bayes._io import atomic_write_text
        atomic_write_text(a.out, json.dumps(res, indent=1))
    if a.figure:
        _figure(a.figure, np.asarray(ts), Y, preds, sets, df, g, res)
    print(json.dumps({k: res[k] for k in ("sets", "feedback_recovery", "seconds")}, indent=1))
    return res


def _figure(path, ts, Y, preds, sets, df, g, res):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pbhno_bayes._io import atomic_path

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    i = 0
    for s in range(3):
        ax[0].plot(ts, Y["counterfactual"][i, :, 0, s], "k-", lw=1.5, label="truth (feedback)" if s == 0 else None)
        ax[0].plot(ts, preds["counterfactual"][0][i, :, 0, s], "C3--", label="plain mechanistic" if s == 0 else None)
        ax[0].plot(ts, preds["counterfactual"][1][i, :, 0, s], "C0:", lw=2, label="hybrid" if s == 0 else None)
    ax[0].set(title="counterfactual pulse train (X, Y, Z)", xlabel="t")
    ax[0].legend(fontsize=7)
    for j, k in enumerate(("test", "counterfactual")):
        d = res["sets"][k]
        ax[1].bar([2 * j, 2 * j + 0.8], [d["plain_median"], d["hybrid_median"]], width=0.7,
                  color=["C3", "C0"], label=["plain", "hybrid"] if j == 0 else None)
    ax[1].set_xticks([0.4, 2.4], ["held-out", "counterfactual"])
    ax[1].set(ylabel="median relative L2 error", yscale="log", title="trajectory error vs truth")
    ax[1].legend(fontsize=7)
    ax[2].scatter(df[..., 0].ravel(), g[..., 0].ravel(), s=3, alpha=0.5)
    lim = [min(df[..., 0].min(), g[..., 0].min()), max(df[..., 0].max(), g[..., 0].max())]
    ax[2].plot(lim, lim, "k--", lw=1)
    ax[2].set(xlabel="missing term Δf_X (true feedback)", ylabel="learned g_ψ,X",
              title=f"feedback recovery (corr {res['feedback_recovery']['corr_X']:.3f})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


if __name__ == "__main__":
    main()
