r"""``pbhno demo``: the whole workflow on built-in defaults, written to ``reports/demo/``.

1. **Data.** Two-cell Notch (default grid), a true θ drawn from the prior (seeded), 12 irregular
   observation times in (0, 24], N and H observed in both cells, 20 % noise (sd = 0.2 × each
   species' peak), simulated with the reference ODE–PDE solver.
2. **Fit.** The shipped PB-HNO surrogate (``HybridSurrogate.pretrained("notch")``, rolled out only
   to the last observation time) as forward model, its validation error added to the likelihood
   variance (:func:`inflate_sigma`). SVI (Laplace) always; NUTS started from it when ``nuts`` is
   True, by default only on a GPU: one gradient through the Notch surrogate costs ≈ 0.15–0.3 s on
   a 2-core CPU (horizon 24, idle to busy; ``benchmarks/surrogate_cost.py``), so even a short NUTS
   run (2 × (200 + 200) iterations, ≈ 10,000 gradients) takes an estimated 30–60 minutes there.
3. **Identifiability.** :func:`pb.identifiability` (contraction, HDI ratio, z-shift, ESS, r_hat,
   Cramér–Rao bound, verdict) and the Fisher spectrum at the posterior mean.
4. **Control.** Robust MPC (CVaR over posterior draws) of the inhibitor/ligand schedule on
   [24, 48] so that the receiver cell (cell 1) settles at an intermediate Hes level
   H ∈ [4, 6] while the sender cell (cell 0) stays off (H ≤ 1), compared with nominal MPC
   (posterior mean only); both plans are then applied to the *true* system (reference solver).

Everything is seeded: the same seed writes the same numbers.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from pathlib import Path

import numpy as np

__all__ = ["run_demo", "DEMO_TARGET"]

DEMO_TARGET = {"H@1": (4.0, 6.0), "H@0": (0.0, 1.0)}
T_OBS = 24.0
MPC_LR = 0.3


class _Progress:
    def __init__(self, n: int, enabled: bool = True):
        self.n, self.k, self.enabled = n, 0, enabled
        self.t0 = time.perf_counter()
        self.times: dict[str, float] = {}
        self._t = None
        self._name = None

    def stage(self, name: str, what: str):
        self._close()
        self.k += 1
        self._name, self._t = name, time.perf_counter()
        if self.enabled:
            print(f"[{self.k}/{self.n}] {what} ...", flush=True)

    def _close(self):
        if self._name is not None:
            dt = time.perf_counter() - self._t
            self.times[self._name] = dt
            if self.enabled:
                print(f"      done in {dt:.1f} s", flush=True)
        self._name = None

    def finish(self):
        self._close()
        self.times["total"] = time.perf_counter() - self.t0


def _machine() -> str:
    """Where the demo ran, for the report: OS, architecture, CPU cores, JAX backend and device."""
    import jax

    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", "") or dev.platform
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, JAX {jax.__version__} "
            f"on {jax.default_backend()} ({kind})")


def _fmt(x, nd=3):
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{nd}g}"


def run_demo(out="reports/demo", *, seed: int = 0, nuts: bool | None = None, chains: int = 2,
             warmup: int = 200, samples: int = 200, svi_steps: int = 100, draws: int = 4,
             iters: int = 24, progress: bool = True) -> dict:
    """Run the demo and write ``out``/README.md plus figures; returns a summary dict."""
    import jax.numpy as jnp

    import pbhno_bayes as pb
    from pbhno_bayes._io import atomic_write_text
    from pbhno_bayes.control.figures import plot_plan
    from pbhno_bayes.report.figures import (
        plot_data_and_bands,
        plot_prior_posterior,
        posterior_theta_draws,
        predictive_bands,
    )
    from pbhno_bayes.surrogate import HybridSurrogate, inflate_sigma

    for name, v in (("chains", chains), ("warmup", warmup), ("samples", samples), ("draws", draws),
                    ("iters", iters), ("svi_steps", svi_steps)):
        if int(v) < 1:
            raise ValueError(f"{name} must be a positive integer, got {v}")
    import jax

    if nuts is None:
        nuts = jax.default_backend() != "cpu"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prog = _Progress(4, progress)

    # 1. data ---------------------------------------------------------------------------------
    prog.stage("simulate", "simulating sparse noisy Notch data with the reference solver")
    pw = pb.pathways.notch()
    prior = pw.prior
    log_true = prior.sample(1, seed=seed)[0]
    truth = {n: float(np.exp(v)) for n, v in zip(prior.names, log_true, strict=True)}
    obs = pb.simulate(pw, theta=truth, times=12, observe=("N", "H"), noise=0.2, seed=seed, t_end=T_OBS)
    obs.to_csv(out / "data.csv")
    ref = pb.MechanisticModel(pw)

    # 2. fit ----------------------------------------------------------------------------------
    how = (f"SVI -> NUTS, {chains} chains x {warmup}+{samples}" if nuts
           else f"SVI (Laplace), {svi_steps} steps; NUTS off on CPU, see --nuts")
    prog.stage("fit", f"fitting the PB-HNO surrogate posterior ({how})")
    sur = HybridSurrogate.pretrained("notch")
    sur_fit = sur.with_horizon(T_OBS)  # the data end at T_OBS: half the rollout of the full horizon
    obs_fit = inflate_sigma(obs, sur)
    # SVI mode: ``samples`` independent draws from the Laplace approximation (one "chain")
    idata = pb.fit(sur_fit, obs_fit, prior, method="nuts" if nuts else "svi", chains=chains if nuts else 1,
                   warmup=warmup, samples=samples, seed=seed, svi_steps=svi_steps, svi_restarts=1,
                   progress=progress, warn=False)
    lt = idata.posterior["log_theta"]
    flat = np.asarray(lt.values).reshape(-1, len(prior.names))
    q05, q50, q95 = np.quantile(flat, [0.05, 0.5, 0.95], axis=0)
    covered = [(lo <= v <= hi) for lo, v, hi in zip(q05, log_true, q95, strict=True)]

    # 3. identifiability -------------------------------------------------------------------------
    prog.stage("identify", "diagnosing identifiability (posterior contraction, Fisher information)")
    table = pb.identifiability(sur_fit, obs_fit, idata)
    fr = table.fisher  # at the posterior mean, computed once by identifiability
    fisher_md = fr.table() if fr is not None else "Fisher information not computed (the solve failed at the posterior mean)"
    pb.attach_identifiability(idata, table, fisher=fr)
    idata.to_netcdf(out / "posterior.nc")

    # 4. control ------------------------------------------------------------------------------
    prog.stage("control", f"planning robust and nominal MPC on {draws} posterior draws")
    # warm_start: roll each draw to t = 24 once per iteration without gradients and differentiate only
    # the plan window (half the cost); lr 0.3 (of each channel's range) converges in ~20 iterations here
    kw = dict(horizon=20, dt=(pw.t_end - T_OBS) / 20, t_start=T_OBS, draws=draws, iters=iters, lr=MPC_LR,
              seed=seed, warm_start=True)
    robust = pb.robust_mpc(sur, idata, DEMO_TARGET, risk="cvar", alpha=0.8, **kw)
    nominal = pb.robust_mpc(sur, idata, DEMO_TARGET, nominal=True, **kw)
    robust.to_json(out / "plan_robust.json")
    nominal.to_json(out / "plan_nominal.json")
    plot_plan(robust, out / "control_plan.png", title=None)
    th_true = jnp.asarray(pw.theta_vector(truth))
    H = pw.species.index("H")
    realised = {}
    for lab, plan in (("robust", robust), ("nominal", nominal)):
        sched = plan.schedule(pw.control_default)
        yT = np.asarray(ref.predict(th_true, jnp.asarray([pw.t_end]), sched))[0, :, H]
        ok = all(lo <= yT[int(k.split("@")[1])] <= hi for k, (lo, hi) in DEMO_TARGET.items())
        realised[lab] = (yT, ok)
    prog.finish()

    # figures + report --------------------------------------------------------------------------
    dense = np.linspace(0.0, pw.t_end, 97)
    th_draws = posterior_theta_draws(idata, pw, n=min(64, flat.shape[0]), seed=seed)
    bands = predictive_bands(sur_fit, th_draws, dense[dense <= T_OBS])
    truth_traj = np.asarray(ref.predict(th_true, jnp.asarray(dense[dense <= T_OBS])))
    plot_data_and_bands(obs, pw, dense[dense <= T_OBS], bands, out / "data_and_bands.png", truth=truth_traj,
                        title="Notch: data, 90 % posterior predictive band (surrogate), truth dashed")
    plot_prior_posterior(idata, prior, out / "prior_posterior.png", truth=truth)

    ss = idata.sample_stats
    n_div = int(ss["diverging"].sum()) if "diverging" in ss else 0
    n_fail = int(idata.attrs.get("n_failed_solves", 0))
    if nuts:  # chain diagnostics; the Laplace fit's independent draws have none (ArviZ warns on 1 chain)
        import arviz as az
        summ = az.summary(idata, var_names=["log_theta"], kind="diagnostics")
    lines = [
        "# pbhno demo: Notch two-cell, surrogate posterior, identifiability, robust control", "",
        f"Regenerate: `pbhno demo --seed {seed} {'--nuts ' if nuts else ''}--chains {chains} --warmup {warmup} "
        f"--samples {samples} --svi-steps {svi_steps} --draws {draws} --iters {iters} --out {out}`. "
        f"Run on {_dt.date.today().isoformat()}, {_machine()}. Timings are from this run.", "",
        "| stage | seconds |", "|---|---:|",
        *[f"| {k} | {v:.1f} |" for k, v in prog.times.items()], "",
        "## Data", "",
        f"Two-cell Notch, grid {pw.kwargs.get('grid', 32)}×{pw.kwargs.get('grid', 32)}; true θ "
        f"drawn from the prior (seed {seed}); 12 times in (0, {T_OBS:g}]; N and H observed in both cells; "
        "20 % noise (sd = 0.2 × species peak). Data: `data.csv`.", "",
        "![data](data_and_bands.png)", "",
        f"## Posterior (PB-HNO surrogate, {'SVI → NUTS' if nuts else 'SVI, Laplace approximation'})", "",
        (f"{chains} chains × {samples} draws after {warmup} warmup; divergences {n_div}; failed solves "
         f"{n_fail}; max r_hat {float(summ['r_hat'].max()):.3f}; min bulk ESS {float(summ['ess_bulk'].min()):.0f}. "
         if nuts else
         f"Laplace approximation (Gaussian in log θ at the MAP, {svi_steps} Adam steps, then quasi-Newton steps to the mode), "
         f"{samples} independent draws; failed solves {n_fail}. **NUTS was not run**: one "
         "gradient through the Notch surrogate costs 0.15–0.3 s on a 2-core CPU, so NUTS "
         "(`--nuts`) would take an estimated 30–60 minutes there; it is the default on a GPU. A Gaussian approximation "
         "understates skewed or banana-shaped posteriors, so read the intervals below with that in mind"
         + (f" — here the importance-sampling check gives PSIS k̂ = {idata.attrs['svi_pareto_k']:.2f} "
            f"({'below 0.7: the Gaussian is usable' if idata.attrs['svi_pareto_k'] <= 0.7 else 'above 0.7: the Gaussian misses the posterior shape, treat the intervals as rough'}). "
            if "svi_pareto_k" in idata.attrs else ". "))
        + "Likelihood sd = observation sd inflated by the surrogate's validation error.", "",
        "| parameter | true | posterior median | 90 % interval | truth inside |", "|---|---:|---:|---:|:-:|",
    ]
    for j, n in enumerate(prior.names):
        lines.append(f"| {n} | {truth[n]:.3g} | {np.exp(q50[j]):.3g} | [{np.exp(q05[j]):.3g}, "
                     f"{np.exp(q95[j]):.3g}] | {'yes' if covered[j] else 'no'} |")
    lines += ["", f"Truth inside the 90 % interval for {sum(covered)}/{len(covered)} parameters.", "",
              "![prior vs posterior](prior_posterior.png)", "",
              "## Identifiability", "", table.to_markdown(), "",
              "Verdict thresholds: " + ", ".join(f"{k} = {v}" for k, v in table.thresholds.items()), "",
              "### Fisher information at the posterior mean", "", fisher_md, "",
              "## Robust control", "",
              f"Target at t = {pw.t_end:g}: " + ", ".join(f"{k} ∈ [{lo:g}, {hi:g}]" for k, (lo, hi) in DEMO_TARGET.items())
              + f"; controls on [{T_OBS:g}, {pw.t_end:g}] in 20 intervals; {draws} posterior draws; "
              f"projected Adam, {iters} iterations, step {MPC_LR:g} of each channel's range. Success is judged "
              "on the *true* system (reference solver, true θ), which the controller never sees. With "
              f"{draws} draws the predicted P(success) is coarse (steps of {1 / draws:g}).", "",
              "| plan | P(success) predicted | energy | H@0 on the true system | H@1 on the true system | reached |",
              "|---|---:|---:|---:|---:|:-:|"]
    for lab, plan in (("robust (CVaR 0.8)", robust), ("nominal (posterior mean)", nominal)):
        yT, ok = realised[lab.split()[0]]
        lines.append(f"| {lab} | {_fmt(plan.success_probability, 2)} | {_fmt(plan.energy)} | {yT[0]:.3g} | "
                     f"{yT[1]:.3g} | {'yes' if ok else 'no'} |")
    lines += ["", "![control plan](control_plan.png)", "",
              "Files: `posterior.nc` (arviz.from_netcdf; identifiability in its attrs), "
              "`plan_robust.json`, `plan_nominal.json`.", ""]
    atomic_write_text(out / "README.md", "\n".join(lines))
    if progress:
        print(f"wrote {out}/README.md ({prog.times['total']:.0f} s in total)")
    return {"truth": truth, "covered": covered, "times": prog.times, "robust": robust, "nominal": nominal,
            "realised": {k: (v[0].tolist(), v[1]) for k, v in realised.items()}, "idata": idata,
            "table": table}
