"""Where two Fig 1 fits of one data set landed: each method's posterior mean under the reference
solver and under the shipped Notch surrogate — χ² against the data (known σ) and the prior
Mahalanobis distance² — next to the true θ.

    python benchmarks/fig1_fit_check.py --seed 3 --noise 0.05,0.1 [--methods oracle,pbhno] [--also CACHE.json ...]

Reads the fits from reports/data/paper_runs.json (``benchmarks/paper_reproduction.py fig1``), and
from each ``--also`` cache (e.g. refits of the same data with more SVI steps, labelled by the
file's name), and rebuilds their data with the same ``problem(seed, noise)``. −½(χ² + Mahalanobis²) is the log
posterior density (in log θ) up to a constant shared by all rows of one data set, so the rows say
which of these points the posterior favours. The estimates are posterior means *in θ* (what the
MAPE of Fig 1 is computed on), not modes: a wide posterior along a weakly identified direction puts
the mean away from the high-density region, so a row's value is not its fit's objective.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_reproduction import problem  # noqa: E402

import pbhno_bayes as pb  # noqa: E402

RUNS = Path(__file__).resolve().parents[1] / "reports" / "data" / "paper_runs.json"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--noise", default="0.05")
    ap.add_argument("--methods", default="oracle,pbhno")
    ap.add_argument("--also", nargs="*", default=[], help="further fit caches of paper_reproduction.py")
    a = ap.parse_args(argv)
    runs = json.loads(RUNS.read_text())
    extra = [(Path(p).stem, json.loads(Path(p).read_text())) for p in a.also]
    sur = pb.HybridSurrogate.pretrained("notch")
    for noise in (float(v) for v in a.noise.split(",")):
        pw, truth, obs = problem(a.seed, noise)
        ref = pb.MechanisticModel(pw)
        names = list(pw.prior.names)
        y = np.asarray(obs.values)
        mask = np.isfinite(y)
        sigma = np.broadcast_to(np.asarray(obs.sigma), y.shape)
        sidx = [pw.species.index(s) for s in obs.species]
        rows = {"truth": np.array([truth[n] for n in names])}
        for m in a.methods.split(","):
            key = f"{m}|{noise:g}|{a.seed}|svi"
            if key not in runs:
                raise SystemExit(f"no fit {key!r} in {RUNS}")
            rows[m] = np.asarray(runs[key]["est"], float)
        for stem, cache in extra:
            for key, r in cache.items():
                if key.split("|")[1:3] == [f"{noise:g}", str(a.seed)]:
                    rows[f"{r['method']} ({stem})"] = np.asarray(r["est"], float)
        print(f"seed {a.seed}, noise {noise:g}: {mask.sum()} observations; free θ {names}")
        for lab, th in rows.items():
            theta = pw.theta_vector({n: float(v) for n, v in zip(names, th, strict=True)})
            chi2 = []
            for fm in (ref, sur):
                p = np.asarray(fm.predict(theta, np.asarray(obs.times)))[:, list(obs.cells)][..., sidx]
                chi2.append(float(np.sum((((y - p) / sigma)[mask]) ** 2)))
            z = np.linalg.solve(np.asarray(pw.prior.chol), np.log(th) - np.asarray(pw.prior.mean))
            maha = float(z @ z)
            print(f"  {lab:7s}\n          θ {np.array2string(th, precision=3)}  χ² reference {chi2[0]:.1f} surrogate {chi2[1]:.1f}"
                  f"  Mahalanobis² {maha:.2f}  −½(χ²_ref + M²) {-0.5 * (chi2[0] + maha):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
