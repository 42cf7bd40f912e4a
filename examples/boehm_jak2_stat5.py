"""Real signalling data: the Boehm et al. (2014) JAK2/STAT5 PEtab problem with ``pb.UserModel``.

EPO-stimulated BaF3 cells: STAT5A/STAT5B are phosphorylated and dimerise (pApA, pApB, pBpB) in the
cytoplasm, the dimers are imported into the nucleus and exported back as monomers. 48 measurements
(3 relative phospho/total observables x 16 times). The data and the SBML model ship in
``examples/data/boehm_jproteomeres2014/`` (BSD-3, see its README); this script reads only that copy.

Stages
1. the ODE model (8 states, 9 mass-action reactions, compartments cyt = 1.4, nuc = 0.45,
   EPO(t) = 1.25e-7 exp(-Epo_degradation_BaF3 t)) and the 3 PEtab observables as a ``pb.UserModel``
   solved with the stiff Kvaerno5 method;
2. the PEtab negative log-likelihood at the nominal (best-fit) parameters: must be 138.222;
3. maximum likelihood = MAP under the PEtab flat priors (uniform on log10 θ within [1e-5, 1e5], for
   the 6 rates and the 3 noise sds): L-BFGS-B (scipy) on log10 θ with exact JAX gradients, from the
   nominal point and from random starts in the bounds;
4. the posterior with ``pb.fit`` (SVI/Laplace -> NUTS; flat log-uniform priors as numpyro
   ``LogUniform``), and ``pb.identifiability`` verdicts;
5. ``reports/boehm.md`` (written atomically) and ``reports/figures/boehm_*.png``.

    python examples/boehm_jak2_stat5.py             # full run (see reports/boehm.md for the timing)
    python examples/boehm_jak2_stat5.py --quick     # 1 start from nominal, SVI only (the test);
                                                    # writes reports/examples/boehm/, not reports/boehm.md
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

import pbhno_bayes as pb  # switches JAX to float64 (before any array is made)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "boehm_jproteomeres2014"
BEST_KNOWN_NLL = 138.22  # Hass et al. 2019 benchmark collection (138.2220 at the PEtab nominal values)

STATES = ("STAT5A", "STAT5B", "pApB", "pApA", "pBpB", "nucpApA", "nucpApB", "nucpBpB")
RATES = ("Epo_degradation_BaF3", "k_exp_hetero", "k_exp_homo", "k_imp_hetero", "k_imp_homo", "k_phos")
FIXED = ("ratio", "specC17")
OBSERVABLES = ("pSTAT5A_rel", "pSTAT5B_rel", "rSTAT5A_rel")
SDS = tuple(f"sd_{o}" for o in OBSERVABLES)
ESTIMATED = RATES + SDS  # the 9 PEtab-estimated parameters, all on log10 scale
CYT, NUC = 1.4, 0.45
EPO0 = 1.25e-7


# --------------------------------------------------------------------------------------- PEtab files
def read_tsv(name):
    with open(DATA / name, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def load_problem():
    """(parameter table dict id -> row, pb.Observations (16 times x 3 observables))."""
    params = {r["parameterId"]: r for r in read_tsv("parameters_Boehm_JProteomeRes2014.tsv")}
    meas = read_tsv("measurementData_Boehm_JProteomeRes2014.tsv")
    obs_tab = read_tsv("observables_Boehm_JProteomeRes2014.tsv")
    assert tuple(r["observableId"] for r in obs_tab) == OBSERVABLES
    assert all(r["noiseDistribution"] == "normal" and r["observableTransformation"] == "lin" for r in obs_tab)
    assert set(params) == set(ESTIMATED + FIXED)
    for n in ESTIMATED:
        assert params[n]["parameterScale"] == "log10" and params[n]["estimate"] == "1", n
    times = np.array(sorted({float(r["time"]) for r in meas}))
    values = np.full((times.size, len(OBSERVABLES)), np.nan)
    for r in meas:
        assert r["noiseParameters"] == f"sd_{r['observableId']}" and r["simulationConditionId"] == "model1_data1"
        values[np.searchsorted(times, float(r["time"])), OBSERVABLES.index(r["observableId"])] = float(r["measurement"])
    assert np.isfinite(values).all() and len(meas) == 48
    obs = pb.Observations.from_arrays(times, values, OBSERVABLES)
    return params, obs


# --------------------------------------------------------------------------------------- the model
def rhs(t, x, p):
    A, B, pApB, pApA, pBpB, nA, nAB, nB = (x[i] for i in range(8))
    epo = EPO0 * jnp.exp(-p["Epo_degradation_BaF3"] * t)
    v0 = CYT * epo * A**2 * p["k_phos"]            # 2 STAT5A -> pApA
    v1 = CYT * epo * A * B * p["k_phos"]           # STAT5A + STAT5B -> pApB
    v2 = CYT * epo * B**2 * p["k_phos"]            # 2 STAT5B -> pBpB
    v3 = CYT * p["k_imp_homo"] * pApA              # import of the dimers
    v4 = CYT * p["k_imp_hetero"] * pApB
    v5 = CYT * p["k_imp_homo"] * pBpB
    v6 = NUC * p["k_exp_homo"] * nA                # export as monomers
    v7 = NUC * p["k_exp_hetero"] * nAB
    v8 = NUC * p["k_exp_homo"] * nB
    return jnp.stack([(-2 * v0 - v1 + 2 * v6 + v7) / CYT, (-v1 - 2 * v2 + v7 + 2 * v8) / CYT,
                      (v1 - v4) / CYT, (v0 - v3) / CYT, (v2 - v5) / CYT,
                      (v3 - v6) / NUC, (v4 - v7) / NUC, (v5 - v8) / NUC])


def init(p):
    a = 207.6 * p["ratio"]
    z = jnp.zeros_like(a)
    return jnp.stack([a, 207.6 - a, z, z, z, z, z, z])


def observe(x, p):
    A, B, pApB, pApA, pBpB = (x[i] for i in range(5))
    s = p["specC17"]
    return jnp.stack([
        (100 * pApB + 200 * pApA * s) / (pApB + A * s + 2 * pApA * s),
        -(100 * pApB - 200 * pBpB * (s - 1)) / ((B * (s - 1) - pApB) + 2 * pBpB * (s - 1)),
        (100 * pApB + 100 * A * s + 200 * pApA * s)
        / (2 * pApB + A * s + 2 * pApA * s - B * (s - 1) - 2 * pBpB * (s - 1)),
    ])


def make_model(params, rtol=1e-6, atol=1e-8, adjoint="forward"):
    lo = {n: float(params[n]["lowerBound"]) for n in ESTIMATED}
    hi = {n: float(params[n]["upperBound"]) for n in ESTIMATED}
    nominal = {n: float(params[n]["nominalValue"]) for n in RATES + FIXED}
    prior = {n: dist.LogUniform(lo[n], hi[n]) for n in RATES}  # flat in log10 θ on the PEtab bounds
    with warnings.catch_warnings():  # UserModel keeps the prior (jax arrays inside) as a static field
        warnings.filterwarnings("ignore", message="A JAX array is being set as static")
        return pb.UserModel(rhs, species=STATES, param_names=RATES + FIXED, init=init, observe=observe,
                            observables=OBSERVABLES, nominal=nominal, prior=prior, likelihood="normal",
                            solver="kvaerno5", rtol=rtol, atol=atol, max_steps=20000, adjoint=adjoint,
                            name="boehm_jak2_stat5")


def make_nll(model, obs, params):
    """PEtab negative log-likelihood as a function of the 9 estimated parameters on log10 scale."""
    times = jnp.asarray(obs.times)
    y = jnp.asarray(obs.values[:, 0, :])  # (T, 3)
    fixed = jnp.asarray([float(params[n]["nominalValue"]) for n in FIXED])

    def nll(q):  # q = log10 of ESTIMATED
        th = 10.0 ** q
        pred, ok = model.predict_status(jnp.concatenate([th[:6], fixed]), times)
        sd = th[6:]
        r = (y - pred[:, 0, :]) / sd
        val = jnp.sum(0.5 * r**2 + jnp.log(sd) + 0.5 * jnp.log(2 * jnp.pi))
        return jnp.where(ok, val, jnp.inf)

    return nll


def maximise_likelihood(nll, params, starts, seed=0, maxiter=1000):
    """L-BFGS-B on log10 θ within the PEtab bounds; exact gradients by forward-mode JAX."""
    from scipy.optimize import minimize

    lo = np.log10([float(params[n]["lowerBound"]) for n in ESTIMATED])
    hi = np.log10([float(params[n]["upperBound"]) for n in ESTIMATED])
    f = jax.jit(nll)
    g = jax.jit(jax.jacfwd(nll))

    def fg(q):
        v = float(f(q))
        if not np.isfinite(v):
            return 1e10, np.zeros_like(q)
        gr = np.asarray(g(q))
        return v, np.where(np.isfinite(gr), gr, 0.0)

    rng = np.random.default_rng(seed)
    q_nom = np.log10([float(params[n]["nominalValue"]) for n in ESTIMATED])
    x0s = [q_nom] + [rng.uniform(lo, hi) for _ in range(starts - 1)]
    runs = []
    for i, x0 in enumerate(x0s):
        t0 = time.perf_counter()
        r = minimize(fg, x0, jac=True, method="L-BFGS-B", bounds=list(zip(lo, hi, strict=True)),
                     options=dict(maxiter=maxiter, ftol=1e-13, gtol=1e-8))
        runs.append(dict(start=i, x0=x0, q=r.x, nll=float(r.fun), nit=int(r.nit), seconds=time.perf_counter() - t0))
        print(f"  start {i:2d} ({'nominal' if i == 0 else 'random'}): NLL {r.fun:.4f} after {r.nit} "
              f"iterations, {runs[-1]['seconds']:.1f} s", flush=True)
    return runs



def profiles(nll, params, q_best, nll_best, offsets=(-2.0, -1.0, -0.5, 0.5, 1.0, 2.0), names=RATES):
    """Bounded profile likelihoods: for each rate, fix log10 θ_j at q̂_j + offset (inside the PEtab
    bounds; the bound itself if an offset passes it) and re-optimise the other 8 parameters with
    L-BFGS-B, warm-started from the neighbouring point. Returns name -> list of (log10 θ_j, 2ΔNLL)."""
    from scipy.optimize import minimize

    lo = np.log10([float(params[n]["lowerBound"]) for n in ESTIMATED])
    hi = np.log10([float(params[n]["upperBound"]) for n in ESTIMATED])
    f = jax.jit(nll)
    g = jax.jit(jax.jacfwd(nll))
    out = {}
    for n in names:
        j = ESTIMATED.index(n)
        rest = [k for k in range(len(ESTIMATED)) if k != j]
        pts = []
        for side in (-1, 1):
            x = q_best.copy()
            done = False
            for off in sorted((o for o in offsets if np.sign(o) == side), key=abs):
                v = q_best[j] + off
                if done:
                    break
                if v <= lo[j] or v >= hi[j]:
                    v, done = (lo[j] if side < 0 else hi[j]), True
                    if abs(v - q_best[j]) < 1e-3:
                        break

                def fg(z, v=v, x=x, rest=rest, j=j):
                    full = x.copy()
                    full[rest] = z
                    full[j] = v
                    val = float(f(full))
                    if not np.isfinite(val):
                        return 1e10, np.zeros_like(z)
                    gr = np.asarray(g(full))[rest]
                    return val, np.where(np.isfinite(gr), gr, 0.0)

                r = minimize(fg, x[rest], jac=True, method="L-BFGS-B",
                             bounds=list(zip(lo[rest], hi[rest], strict=True)),
                             options=dict(maxiter=300, ftol=1e-12, gtol=1e-7))
                x = x.copy()
                x[rest] = r.x
                x[j] = v
                pts.append((float(v), float(2 * (r.fun - nll_best))))
        out[n] = sorted(pts)
        print(f"  profile {n}: " + ", ".join(f"{v:.2f}:{d:.2f}" for v, d in out[n]), flush=True)
    return out


def profile_verdict(pts, q_hat, chi2=3.84):
    """'identifiable' if 2ΔNLL exceeds chi2 on both sides, 'one-sided (bound)' if only one side, else
    'not identifiable' (over the probed range)."""
    left = [d for v, d in pts if v < q_hat]
    right = [d for v, d in pts if v > q_hat]
    ok_l = bool(left) and max(left) > chi2
    ok_r = bool(right) and max(right) > chi2
    if ok_l and ok_r:
        return "identifiable"
    if ok_l or ok_r:
        return ("only a lower limit (flat up to the upper bound)" if ok_l
                else "only an upper limit (flat down to the lower bound)")
    return "not identifiable"


# --------------------------------------------------------------------------------------- posterior
UNIFORM_LOG_SD = 10 * np.log(10) / np.sqrt(12)  # sd of ln θ under the flat prior on [1e-5, 1e5]


class _StartAtEngine:
    """Proxy of pb.fit's inference engine whose prior *median* (pb.fit's first SVI start) is replaced
    by given site values; everything else is delegated unchanged."""

    def __init__(self, engine, values):
        self._engine, self._values = engine, values

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def prior_draws(self, key, n, data, median=False):
        out = self._engine.prior_draws(key, n, data, median=median)
        if median:
            out = dict(out)
            out.update({k: np.asarray(v)[None] for k, v in self._values.items() if k in out})
        return out


@contextlib.contextmanager
def _fit_starts_at(values):
    """Make pb.fit's first SVI restart start at ``values`` (site name -> value) instead of the prior
    median (θ = 1 and σ = 1 under LogUniform(1e-5, 1e5), far from this problem's optimum in a stiff
    region where each solve is slow).

    Workaround for a missing ``pb.fit(..., init_values=...)``: pb.fit takes its first start from a
    helper it looks up in its own module (``init_to_median`` in the numpyro-MCMC version,
    ``get_engine(...).prior_draws(median=True)`` in the engine version); that helper is swapped for
    the duration of the call. Raises if neither hook exists (the package changed again).
    """
    import importlib

    from numpyro.infer.initialization import init_to_value

    fit_mod = importlib.import_module("pbhno_bayes.infer.fit")  # the module (pb.infer.fit is the function)
    if hasattr(fit_mod, "get_engine"):
        name, saved = "get_engine", fit_mod.get_engine
        patched = lambda problem, fm, _orig=saved: _StartAtEngine(_orig(problem, fm), values)  # noqa: E731
    elif hasattr(fit_mod, "init_to_median"):
        name, saved = "init_to_median", fit_mod.init_to_median
        patched = lambda num_samples=15: init_to_value(values=values)  # noqa: E731
    else:
        raise RuntimeError("pb.fit has neither get_engine nor init_to_median to start it at the MLE; "
                           "update _fit_starts_at (or use pb.fit(init_values=...) once it exists)")
    setattr(fit_mod, name, patched)
    try:
        yield
    finally:
        setattr(fit_mod, name, saved)


def posterior(model, obs, q_start, *, method, chains, warmup, samples, svi_steps, svi_restarts, seed,
              progress):
    """pb.fit with the PEtab flat priors: θ_j ~ LogUniform(1e-5, 1e5), σ_s ~ LogUniform(1e-5, 1e5),
    SVI (Laplace) started at ``q_start`` (log10 of ESTIMATED, e.g. the maximum-likelihood point)."""
    noise_prior = {o: dist.LogUniform(1e-5, 1e5) for o in OBSERVABLES}
    # Start strictly inside the bounds (an MLE on a bound maps to ±inf in numpyro's unconstrained z).
    q = np.clip(np.asarray(q_start, dtype=float), -5 + 0.05, 5 - 0.05)
    values = {n: jnp.asarray(10.0 ** q[j]) for j, n in enumerate(RATES)}
    values.update({f"sigma_{o}": jnp.asarray(10.0 ** q[6 + k]) for k, o in enumerate(OBSERVABLES)})
    with _fit_starts_at(values):
        return pb.fit(model, obs, noise="infer", noise_prior=noise_prior, method=method, chains=chains,
                      warmup=warmup, samples=samples, svi_steps=svi_steps, svi_restarts=svi_restarts,
                      svi_lr=0.01, seed=seed, progress=progress, dense_mass=True, target_accept=0.9)


def identifiability_prior():
    """Moment-matched stand-in for the flat prior (pb.identifiability wants a pb.Prior on ln θ):
    mean 0 = mid-point of [ln 1e-5, ln 1e5], sd = width/√12 (the uniform's sd)."""
    return pb.Prior(mean=np.zeros(len(RATES)), sd=UNIFORM_LOG_SD, names=RATES)


# --------------------------------------------------------------------------------------- report
def _atomic_write(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def figures(model, obs, params, q_best, idata, figdir: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figdir.mkdir(parents=True, exist_ok=True)
    fixed = [float(params[n]["nominalValue"]) for n in FIXED]
    tt = np.linspace(0, float(obs.times[-1]), 200)
    fit_curve = np.asarray(model.predict(np.r_[10 ** q_best[:6], fixed], tt))[:, 0, :]
    mu = idata.posterior_predictive["mu"].values[:, :, :, 0, :].reshape(-1, obs.times.size, 3)
    lo, hi = np.nanpercentile(mu, [3, 97], axis=0)
    sd_best = 10 ** q_best[6:]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for k, ax in enumerate(axes):
        ax.fill_between(obs.times, lo[:, k], hi[:, k], color="C0", alpha=0.3, label="posterior 94% band (mean)")
        ax.plot(tt, fit_curve[:, k], "C0", label="maximum likelihood")
        ax.errorbar(obs.times, obs.values[:, 0, k], yerr=sd_best[k], fmt="ko", ms=3, label="data ± σ̂")
        ax.set_title(OBSERVABLES[k])
        ax.set_xlabel("time [min]")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figdir / "boehm_fit.png", dpi=110)
    plt.close(fig)

    lt = idata.posterior["log_theta"].values.reshape(-1, len(RATES)) / np.log(10)
    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    for j, ax in enumerate(axes.ravel()):
        ax.hist(lt[:, j], bins=40, density=True, color="C0", alpha=0.7, label="posterior")
        ax.axvline(np.log10(float(params[RATES[j]]["nominalValue"])), color="k", ls="--", label="PEtab nominal")
        ax.axvline(q_best[j], color="C3", label="our MLE")
        ax.set_title(f"log10 {RATES[j]}")
        ax.set_yticks([])
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figdir / "boehm_posterior.png", dpi=110)
    plt.close(fig)
    return ["boehm_fit.png", "boehm_posterior.png"]


def default_out(quick: bool) -> Path:
    """The committed full report, or (``--quick``) a scratch copy that never replaces it."""
    return ROOT / "reports" / ("examples/boehm/boehm.md" if quick else "boehm.md")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 optimiser start from nominal, SVI only")
    ap.add_argument("--starts", type=int, default=None, help="optimiser starts (nominal + random)")
    ap.add_argument("--method", choices=("nuts", "svi"), default=None)
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-profiles", action="store_true", help="skip the bounded profile likelihoods")
    ap.add_argument("--out", default=None,
                    help="report path (default reports/boehm.md; with --quick reports/examples/boehm/boehm.md, "
                         "so a quick run never replaces the committed full report)")
    args = ap.parse_args(argv)
    q = args.quick
    if args.out is None:
        args.out = str(default_out(q))
    starts = args.starts or (1 if q else 8)
    method = args.method or ("svi" if q else "nuts")
    chains = args.chains or (1 if q else 2)
    warmup = args.warmup if args.warmup is not None else (0 if q else 100)
    samples = args.samples or (100 if q else 100)
    svi = dict(svi_steps=30 if q else 400, svi_restarts=1)
    out = Path(args.out)
    t_all = time.perf_counter()
    timings = {}

    params, obs = load_problem()
    model = make_model(params)
    nll = make_nll(model, obs, params)
    q_nom = np.log10([float(params[n]["nominalValue"]) for n in ESTIMATED])
    t0 = time.perf_counter()
    nll_nom = float(jax.jit(nll)(q_nom))
    timings["nominal NLL (incl. compile)"] = time.perf_counter() - t0
    print(f"[1/4] NLL at the PEtab nominal parameters: {nll_nom:.4f} (reference 138.2220)", flush=True)

    print(f"[2/4] maximum likelihood (flat priors): L-BFGS-B from {starts} start(s)", flush=True)
    t0 = time.perf_counter()
    runs = maximise_likelihood(nll, params, starts, seed=args.seed, maxiter=60 if q else 1000)
    timings["maximum likelihood"] = time.perf_counter() - t0
    best = min(runs, key=lambda r: r["nll"])
    q_best = best["q"]
    best["nll_tight"] = None
    if not q:  # re-check the optimum with 100x tighter solver tolerances
        best["nll_tight"] = float(jax.jit(make_nll(make_model(params, rtol=1e-8, atol=1e-10), obs, params))(q_best))
        print(f"  best NLL {best['nll']:.4f}; at rtol 1e-8 / atol 1e-10: {best['nll_tight']:.4f}", flush=True)

    prof = {}
    if not (q or args.no_profiles):
        print("  profile likelihoods (bounded, L-BFGS-B)", flush=True)
        t0 = time.perf_counter()
        prof = profiles(nll, params, q_best, best["nll"])
        timings["profile likelihoods"] = time.perf_counter() - t0

    print(f"[3/4] posterior: pb.fit(method={method!r})", flush=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pb.SamplingWarning)
        idata = posterior(model, obs, q_best, method=method, chains=chains, warmup=warmup, samples=samples,
                          seed=args.seed, progress=not q, **svi)
    fit_warnings = [str(w.message) for w in caught if issubclass(w.category, pb.SamplingWarning)]
    timings[f"pb.fit ({method})"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = pb.identifiability(model, obs, idata, prior=identifiability_prior())
    timings["pb.identifiability"] = time.perf_counter() - t0

    print("[4/4] report", flush=True)
    figs = figures(model, obs, params, q_best, idata, out.parent / "figures")
    timings["total"] = time.perf_counter() - t_all
    text = render(args, params, nll_nom, runs, best, idata, table, prof, figs, fit_warnings, timings, method,
                  chains, warmup, samples, svi)
    _atomic_write(out, text)
    print(f"NLL nominal {nll_nom:.4f}; best NLL {best['nll']:.4f}; report {out}", flush=True)
    return dict(nll_nominal=nll_nom, nll_best=best["nll"], q_best=q_best, idata=idata, table=table)


def render(args, params, nll_nom, runs, best, idata, table, prof, figs, fit_warnings, timings, method, chains,
           warmup, samples, svi):
    import arviz as az

    argv = sys.argv[1:]
    if "--out" in argv:  # where the report goes does not change it
        i = argv.index("--out")
        argv = argv[:i] + argv[i + 2:]
    cmd = " ".join(["python examples/boehm_jak2_stat5.py"] + argv)
    verdicts = {r["param"]: r for r in table.rows}
    lt = idata.posterior["log_theta"].values.reshape(-1, len(RATES)) / np.log(10)
    hdi = np.asarray([az.hdi(lt[:, j], hdi_prob=0.94) for j in range(len(RATES))])
    sig = idata.posterior["sigma"].values.reshape(-1, len(OBSERVABLES))
    lsig = np.log10(sig)
    hdi_s = np.asarray([az.hdi(lsig[:, k], hdi_prob=0.94) for k in range(len(OBSERVABLES))])
    ok = abs(best["nll"] - BEST_KNOWN_NLL) <= 0.01 or best["nll"] <= BEST_KNOWN_NLL
    L = []
    L.append("# Boehm et al. 2014 JAK2/STAT5: maximum likelihood, posterior and identifiability\n")
    L.append(f"Generated by `{cmd}` (`examples/boehm_jak2_stat5.py`) on {platform.node() or 'unknown host'} "
             f"({platform.machine()}, {os.cpu_count()} CPU cores, no GPU; Python {platform.python_version()}, "
             f"JAX {jax.__version__}), date 2026-11-22 (run at {datetime.datetime.now():%Y-%m-%d %H:%M}), seed {args.seed}.\n")
    L.append("Data: the PEtab problem `Boehm_JProteomeRes2014` shipped in `examples/data/boehm_jproteomeres2014/` "
             "(48 measurements, 3 observables x 16 times; BSD-3, source in its README). Model: `pb.UserModel` "
             "with the 8-state, 9-reaction mass-action ODE of the SBML file, solved by diffrax Kvaerno5 "
             "(rtol 1e-6, atol 1e-8; the best point is re-checked at rtol 1e-8, atol 1e-10); `ratio` = 0.693 and `specC17` = 0.107 fixed as in PEtab.\n")
    L.append("## Maximum likelihood (MAP under the PEtab flat priors)\n")
    L.append(f"- NLL at the PEtab nominal parameters: **{nll_nom:.4f}** (reference 138.2220).")
    L.append(f"- Best NLL reached: **{best['nll']:.4f}** (best known {BEST_KNOWN_NLL:.2f}; within 0.01: "
             f"{'yes' if ok else 'NO'}), from start {best['start']} "
             f"({'the nominal point' if best['start'] == 0 else 'a random start'})"
             + (f"; {best['nll_tight']:.4f} with 100x tighter solver tolerances." if best["nll_tight"] is not None else "."))
    L.append(f"- Optimiser: scipy L-BFGS-B on log10 θ within the PEtab bounds [1e-5, 1e5], gradient by "
             f"`jax.jacfwd` through the diffrax solve; {len(runs)} start(s): the nominal point and "
             f"{len(runs) - 1} uniform random start(s) in the log10 box.\n")
    L.append("| start | NLL | iterations | seconds |")
    L.append("|---|---|---|---|")
    for r in runs:
        L.append(f"| {r['start']}{' (nominal)' if r['start'] == 0 else ''} | {r['nll']:.4f} | {r['nit']} | {r['seconds']:.1f} |")
    n_hit = sum(r["nll"] <= BEST_KNOWN_NLL + 0.01 for r in runs)
    L.append(f"\n{n_hit} of {len(runs)} starts reach NLL ≤ {BEST_KNOWN_NLL + 0.01:.2f}.\n")
    L.append("## Parameters (log10 scale)\n")
    L.append(f"Posterior: `pb.fit(method={method!r})`"
             + (f", {chains} chain(s) x ({warmup} warmup + {samples} draws), dense mass matrix, SVI-initialised"
                if method == "nuts" else f", {chains * samples} draws from the SVI Laplace (Gaussian) approximation")
             + f" ({svi['svi_restarts']} SVI restart(s) x {svi['svi_steps']} steps). Priors: θ_j ~ LogUniform(1e-5, 1e5) "
             "and σ_s ~ LogUniform(1e-5, 1e5), i.e. flat in log10 on the PEtab bounds.\n")
    L.append("| parameter | PEtab nominal | our MLE | posterior mean | 94% HDI | pb.identifiability | profile (2ΔNLL > 3.84) |")
    L.append("|---|---|---|---|---|---|---|")
    for j, n in enumerate(RATES):
        v = verdicts[n]
        L.append(f"| {n} | {np.log10(float(params[n]['nominalValue'])):.3f} | {best['q'][j]:.3f} | {lt[:, j].mean():.3f} | "
                 f"[{hdi[j, 0]:.2f}, {hdi[j, 1]:.2f}] | {v['verdict']}{' (' + v['flag'] + ')' if v['flag'] else ''} | "
                 f"{profile_verdict(prof[n], best['q'][j]) if n in prof else 'not run'} |")
    for k, n in enumerate(SDS):
        L.append(f"| {n} | {np.log10(float(params[n]['nominalValue'])):.3f} | {best['q'][6 + k]:.3f} | {lsig[:, k].mean():.3f} | "
                 f"[{hdi_s[k, 0]:.2f}, {hdi_s[k, 1]:.2f}] | (noise sd) | |")
    L.append("")
    L.append("## Identifiability (`pb.identifiability`)\n")
    L.append("`pb.identifiability` measures contraction against a pb.Prior on ln θ; the flat prior is "
             f"represented by its moment match N(0, {UNIFORM_LOG_SD:.2f}²) on ln θ (uniform on [ln 1e-5, ln 1e5]). "
             "Columns are on ln θ.\n")
    L.append(table.to_markdown())
    L.append("")
    if prof:
        L.append("## Profile likelihoods (bounded)\n")
        L.append("Each rate fixed at its MLE ± 0.5, 1, 2 decades (or at the PEtab bound if closer), the other 8 "
                 "parameters re-optimised by L-BFGS-B within the bounds; entries are log10 θ_j : 2ΔNLL "
                 "(95% threshold 3.84). A side that stays below 3.84 all the way to the bound has no limit there. "
                 "Each value is an upper bound on the true profile (a local re-optimisation); a run of equal "
                 "values (2ΔNLL ≈ 223, NLL ≈ 249.75) is the no-signal plateau where the re-optimisation got "
                 "stuck, so read the verdicts from the points nearest the MLE.\n")
        for n, pts in prof.items():
            L.append(f"- {n} (MLE {best['q'][ESTIMATED.index(n)]:.2f}): " + ", ".join(f"{v:.2f} : {d:.2f}" for v, d in pts))
        L.append("")
    if fit_warnings:
        L.append("Sampling diagnostics flagged by `pb.fit`: " + "; ".join(fit_warnings) + "\n")
    L.append("## Notes\n")
    L.append("- Against a prior that spans 10 decades, `pb.identifiability`'s contraction test (posterior vs "
             "prior variance) passes easily: a rate pinned only on one side by the data (the other side "
             "running flat into a PEtab bound) still contracts the posterior by >90 %. The profile column is "
             "the stricter, bound-aware check; where the two disagree, trust the profile.")
    L.append("- Rates at a bound (k_exp_hetero at 1e-5, k_imp_homo near 1e5 in the PEtab best fit) have "
             "posteriors that pile up against the bound; the Laplace/SVI Gaussian lives in numpyro's "
             "unconstrained coordinates (logit of the bounded interval), so its draws stay inside the bounds.")
    L.append("- `pb.fit` is started at the maximum-likelihood point: it has no `init_values=` argument, so "
             "the example temporarily swaps `init_to_median` in `pbhno_bayes.infer.fit` for numpyro's "
             "`init_to_value` (see `_fit_starts_at`). From the prior median (all rates = 1) SVI does not "
             "reach the optimum within a practical number of steps.")
    L.append("- `pb.identifiability` covers the 6 rates (`log_theta`); the noise sds are reported above from "
             "`posterior.sigma`.\n")
    L.append("## Figures\n")
    for f in figs:
        L.append(f"![{f}](figures/{f})")
    L.append("")
    L.append("## Timings (s)\n")
    L.append("| stage | seconds |")
    L.append("|---|---|")
    for k, v in timings.items():
        L.append(f"| {k} | {v:.1f} |")
    L.append("")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
