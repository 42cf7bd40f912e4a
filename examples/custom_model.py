"""A user-written ODE model through ``pb.fit``: the posteriordb Lotka–Volterra posterior.

Hudson's Bay lynx–hare pelts (1900–1920), the Stan example model ``lotka_volterra``:

    du/dt = (α − β v) u,   dv/dt = (−γ + δ u) v,   z(0) = z_init (unknown)
    α, γ ~ N(1, 0.5);  β, δ ~ N(0.05, 0.05)  (all > 0);  z_init ~ LogNormal(log 10, 1)
    y_k(t) ~ LogNormal(log z_k(t), σ_k),  σ_k ~ LogNormal(−1, 1),  t = 0 (y_init), 1, …, 20

8 parameters (4 rates, 2 initial states, 2 noise scales). The script fits it with
:class:`pbhno_bayes.UserModel` + ``pb.fit`` and compares every posterior mean and sd with the
posteriordb reference draws (``examples/data/lotka_volterra/``): pass if all 8 means are within
0.15 reference sd and all sds within 15 %.

    python examples/custom_model.py                 # full: 4 chains x (500 warmup + 1000 draws)
    python examples/custom_model.py --quick         # small settings (a smoke run; no pass/fail)
    python examples/custom_model.py --quick --method svi   # Laplace approximation only (fastest)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

import pbhno_bayes as pb

DATA = Path(__file__).parent / "data" / "lotka_volterra"
# our name -> posteriordb name
NAMES = {"alpha": "theta[1]", "beta": "theta[2]", "gamma": "theta[3]", "delta": "theta[4]",
         "u0": "z_init[1]", "v0": "z_init[2]", "sigma_hare": "sigma[1]", "sigma_lynx": "sigma[2]"}


def lotka_volterra(t, z, p):
    u, v = z[0], z[1]
    return jnp.stack([(p["alpha"] - p["beta"] * v) * u, (-p["gamma"] + p["delta"] * u) * v])


def build_model():
    prior = {"alpha": dist.TruncatedNormal(1.0, 0.5, low=0.0), "gamma": dist.TruncatedNormal(1.0, 0.5, low=0.0),
             "beta": dist.TruncatedNormal(0.05, 0.05, low=0.0), "delta": dist.TruncatedNormal(0.05, 0.05, low=0.0),
             "u0": dist.LogNormal(np.log(10.0), 1.0), "v0": dist.LogNormal(np.log(10.0), 1.0)}
    # Stan's rk45 with rtol 1e-5, atol 1e-3 in the reference; tighter here (the reference
    # posterior is insensitive to this).
    return pb.UserModel(lotka_volterra, species=("hare", "lynx"),
                        param_names=("alpha", "beta", "gamma", "delta", "u0", "v0"), init=("u0", "v0"),
                        prior=prior, likelihood="lognormal", rtol=1e-6, atol=1e-6, max_steps=2000,
                        name="lotka_volterra")


def load_data() -> pb.Observations:
    d = json.loads((DATA / "hudson_lynx_hare.json").read_text())
    times = np.concatenate([[0.0], np.asarray(d["ts"], float)])
    y = np.vstack([np.asarray(d["y_init"], float)[None], np.asarray(d["y"], float)])
    return pb.Observations.from_arrays(times, y, ("hare", "lynx"))


def noise_prior():
    return {"hare": dist.LogNormal(-1.0, 1.0), "lynx": dist.LogNormal(-1.0, 1.0)}


def summarise(idata) -> dict:
    """Posterior means and sds of the 8 parameters, keyed by the posteriordb names."""
    th = idata.posterior["theta"]
    out = {}
    for n in ("alpha", "beta", "gamma", "delta", "u0", "v0"):
        v = th.sel(param=n).values.ravel()
        out[NAMES[n]] = (float(v.mean()), float(v.std(ddof=1)))
    sig = idata.posterior["sigma"]
    for sp in ("hare", "lynx"):
        v = sig.sel(species=sp).values.ravel()
        out[NAMES[f"sigma_{sp}"]] = (float(v.mean()), float(v.std(ddof=1)))
    return out


def compare(est: dict, ref: dict, mean_tol: float = 0.15, sd_tol: float = 0.15):
    """Rows (name, mean, ref mean, |Δ|/ref sd, sd, ref sd, sd ratio) and the overall verdict."""
    rows, ok = [], True
    for name in ref["params"]:
        m, s = est[name]
        rm, rs = ref["mean"][name], ref["sd"][name]
        z, r = abs(m - rm) / rs, s / rs
        ok &= z < mean_tol and abs(r - 1) < sd_tol
        rows.append((name, m, rm, z, s, rs, r))
    return rows, bool(ok)


def run(chains=4, warmup=500, samples=1000, seed=0, progress=True, method="nuts"):
    model = build_model()
    obs = load_data()
    t0 = time.perf_counter()
    idata = pb.fit(model, obs, chains=chains, warmup=warmup, samples=samples, seed=seed, method=method,
                   noise="infer", noise_prior=noise_prior(), progress=progress, warn=False)
    return idata, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small settings (2 chains x (100 + 100)); no pass/fail")
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", choices=("nuts", "svi"), default="nuts",
                    help="nuts (default) or svi (Laplace approximation only; fastest smoke run)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    c, w, s = (2, 100, 100) if a.quick else (4, 500, 1000)
    c, w, s = a.chains or c, a.warmup if a.warmup is not None else w, a.samples or s
    idata, secs = run(c, w, s, a.seed, progress=not a.quiet, method=a.method)
    ref = json.loads((DATA / "reference_summary.json").read_text())
    rows, ok = compare(summarise(idata), ref)
    print(f"Lotka-Volterra (posteriordb hudson_lynx_hare): {c} chains x ({w} warmup + {s} draws), {secs:.1f}s")
    print(f"{'param':>10} {'mean':>10} {'ref mean':>10} {'|d|/ref sd':>10} {'sd':>9} {'ref sd':>9} {'sd/ref':>7}")
    for name, m, rm, z, sd, rs, r in rows:
        print(f"{name:>10} {m:10.4g} {rm:10.4g} {z:10.3f} {sd:9.3g} {rs:9.3g} {r:7.3f}")
    if a.method == "nuts":
        print(f"divergences: {int(idata.sample_stats['diverging'].sum())}, failed solves: {idata.attrs['n_failed_solves']}")
    if a.quick or a.method == "svi":
        print("quick / svi run: not the NUTS reference comparison (no verdict)")
        return 0
    print("PASS: all means within 0.15 ref sd, sds within 15%" if ok else "FAIL: see table")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
