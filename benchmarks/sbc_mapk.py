"""Simulation-based calibration (Talts et al. 2018) of pb.fit on MAPK.

Each replicate: log θ ~ the pathway prior (6 free parameters), data simulated at the 12 times of
tests/infer/data/mapk_example_data.json (3 species, known noise, ``--noise`` × peak amplitude),
short NUTS (``--chains`` × (``--warmup`` + ``--samples``), SVI-initialised), then the rank of the
true log θ_j among the draws (thinned to ``--thin`` ≈ independent draws) and whether the 50 % /
90 % central intervals cover it. All replicates share one compiled program (same forward model
and shapes; only the data change). Writes reports/figures/sbc_mapk_ranks.png and
reports/calibration.md (or --report / --figure paths).

    nice python benchmarks/sbc_mapk.py --replicates 100
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "infer" / "data" / "mapk_example_data.json"


def run(replicates=100, chains=2, warmup=300, samples=400, thin=4, noise=0.1, seed=0, log=print,
        resume: Path | None = None):
    """``resume``: a JSON-lines file; each finished replicate is appended to it, and replicates already
    in it (same settings) are not run again, so a killed study continues where it stopped."""
    import pbhno_bayes as pb

    pw = pb.pathways.mapk()
    fm = pb.MechanisticModel(pw)
    times = np.asarray(json.loads(DATA.read_text())["t"], float)
    prior = pw.prior
    names = list(prior.names)
    rng = np.random.default_rng(seed)
    ranks, cover50, cover90, divs, secs = [], [], [], [], []
    settings = dict(chains=chains, warmup=warmup, samples=samples, thin=thin, noise=noise, seed=seed)
    done = {}
    if resume is not None and Path(resume).exists():
        for line in Path(resume).read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line torn by a kill
                continue
            if rec["settings"] == settings:
                done[rec["r"]] = rec
    n_draws = None
    for r in range(replicates):
        log_theta = rng.multivariate_normal(prior.mean, prior.cov)  # drawn even when resumed: same stream
        theta = dict(zip(names, np.exp(log_theta), strict=True))
        if r in done:
            rec = done[r]
            ranks.append(np.asarray(rec["rank"]))
            cover50.append(np.asarray(rec["c50"]))
            cover90.append(np.asarray(rec["c90"]))
            divs.append(rec["div"])
            secs.append(rec["secs"])
            n_draws = rec["n_draws"]
            continue
        obs = pb.simulate(pw, theta=theta, times=times, noise=noise, seed=seed * 100003 + r)
        t0 = time.perf_counter()
        idata = pb.fit(fm, obs, chains=chains, warmup=warmup, samples=samples, seed=r, progress=False,
                       warn=False)
        secs.append(time.perf_counter() - t0)
        lt = idata.posterior["log_theta"].values  # (C, N, P)
        draws = lt[:, ::thin].reshape(-1, lt.shape[-1])
        ranks.append((draws < log_theta[None]).sum(axis=0))
        q = np.quantile(lt.reshape(-1, lt.shape[-1]), [0.05, 0.25, 0.75, 0.95], axis=0)
        cover50.append((q[1] <= log_theta) & (log_theta <= q[2]))
        cover90.append((q[0] <= log_theta) & (log_theta <= q[3]))
        divs.append(int(idata.sample_stats["diverging"].sum()))
        n_draws = draws.shape[0]
        if resume is not None:
            rec = dict(r=r, settings=settings, rank=ranks[-1].tolist(), c50=cover50[-1].tolist(),
                       c90=cover90[-1].tolist(), div=divs[-1], secs=secs[-1], n_draws=n_draws)
            with open(resume, "a") as f:  # one line per replicate; a torn last line is re-run
                f.write(json.dumps(rec) + "\n")
        log(f"replicate {r + 1}/{replicates}: {secs[-1]:.1f}s, {divs[-1]} divergences")
    return {"names": names, "ranks": np.asarray(ranks), "n_draws": n_draws,
            "cover50": np.asarray(cover50).mean(axis=0), "cover90": np.asarray(cover90).mean(axis=0),
            "divergences": int(np.sum(divs)), "seconds": secs,
            "settings": dict(replicates=replicates, chains=chains, warmup=warmup, samples=samples, thin=thin,
                             noise=noise, seed=seed)}


def write_outputs(res, report: Path, figure: Path, command: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pbhno_bayes._io import atomic_path, atomic_write_text

    names, ranks, L = res["names"], res["ranks"], res["n_draws"]
    R = ranks.shape[0]
    bins = min(20, max(5, R // 5))
    fig, axes = plt.subplots(1, len(names), figsize=(2.4 * len(names), 2.2), squeeze=False)
    for j, n in enumerate(names):
        ax = axes[0, j]
        ax.hist(ranks[:, j], bins=bins, range=(0, L + 1), color="C0", alpha=0.7)
        ax.axhline(R / bins, color="k", lw=1)
        ax.set_title(f"log {n}", fontsize=8)
        ax.set_yticks([])
    fig.suptitle(f"SBC ranks, MAPK, {R} replicates, {L} draws", fontsize=9)
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(figure) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    ok50 = np.abs(res["cover50"] - 0.5) <= 0.06
    ok90 = np.abs(res["cover90"] - 0.9) <= 0.06
    s = res["settings"]
    lines = ["# Calibration", "", "## Simulation-based calibration: MAPK", "",
             f"Command: `{command}`  ", f"Date: {datetime.date.today().isoformat()}; machine: 2-core CPU, no GPU "
             "(other benchmarks may have run at the same time: timings indicative only).", "",
             f"Settings: {R} replicates; per replicate θ ~ prior, 12 times × 3 species, noise {s['noise']} × peak; "
             f"pb.fit NUTS {s['chains']} chain(s) × ({s['warmup']} warmup + {s['samples']} draws), ranks over "
             f"every {s['thin']}th draw ({L} draws). Divergences in total: {res['divergences']}. "
             f"Mean time per replicate: {np.mean(res['seconds']):.1f}s.", "",
             f"![ranks](figures/{figure.name})", "",
             "| parameter | 50% coverage | 90% coverage | within ±6 points |", "|---|---|---|---|"]
    for j, n in enumerate(names):
        lines.append(f"| log {n} | {100 * res['cover50'][j]:.0f}% | {100 * res['cover90'][j]:.0f}% | "
                     f"{'yes' if ok50[j] and ok90[j] else 'NO'} |")
    verdict = "all parameters within ±6 points of nominal" if ok50.all() and ok90.all() else \
        "NOT all parameters within ±6 points of nominal"
    se = 100 * np.sqrt(0.9 * 0.1 / R)
    lines += ["", f"Verdict: {verdict}. Monte Carlo sd of a coverage estimate with {R} replicates: "
              f"±{100 * np.sqrt(0.25 / R):.1f} points (50%), ±{se:.1f} points (90%).", ""]
    atomic_write_text(report, "\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=100)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--thin", type=int, default=4)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report", default=str(ROOT / "reports" / "calibration.md"))
    ap.add_argument("--resume", default=None, help="JSON-lines file of finished replicates (appended to)")
    ap.add_argument("--figure", default=str(ROOT / "reports" / "figures" / "sbc_mapk_ranks.png"))
    a = ap.parse_args(argv)
    if a.replicates < 1:
        raise SystemExit("--replicates must be >= 1")
    res = run(a.replicates, a.chains, a.warmup, a.samples, a.thin, a.noise, a.seed,
              log=lambda s: print(s, flush=True), resume=Path(a.resume) if a.resume else None)
    write_outputs(res, Path(a.report), Path(a.figure), "python benchmarks/sbc_mapk.py " + " ".join(argv or sys.argv[1:]))
    print(f"coverage 50%: {np.round(res['cover50'], 2)}; 90%: {np.round(res['cover90'], 2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
