"""Effect of W_sens (sensitivity weights) on parameter error and credible-interval coverage.

MAPK, Y and Z observed at 12 times, pb.simulate noise=0.05 (relative to each species amplitude: sd
0.0167 for Y, 0.0125 for Z, stored with the data and known to the fit). For each replicate r the true
log θ is drawn from the prior, data are simulated, W_sens is computed at the prior mean (the truth is
unknown to a user), and the posterior is fitted four ways:

* ``svi``            : the SVI stage alone (``method="svi"``), unweighted likelihood;
* ``svi_wsens``      : the SVI stage alone with W_sens in its likelihood (what pb.fit's SVI stage does
                       when given ``weights``);
* ``nuts``           : SVI init + NUTS, unweighted (pb.fit default);
* ``nuts_wsens``     : W_sens in SVI *and* NUTS (``weights_in_nuts=True``).

Reported per variant: RMSE of the posterior mean of log θ (upstream k1,k2; downstream k3..k6) and the
fraction of 90 % (and 94 %) central intervals covering the true log θ, with the binomial Monte Carlo
sd sqrt(p(1−p)/n). A calibrated posterior covers ≈ 90 % (94 %) when the truth is drawn from the prior.

    nice /work/venv/bin/python benchmarks/sensitivity_weighting.py --reps 8 --out reports/sensitivity_weighting.json
"""

import argparse
import json
import time

import numpy as np

import pbhno_bayes as pb
import pbhno_bayes.infer  # noqa: F401
from pbhno_bayes._io import atomic_write_text
from pbhno_bayes.identify import sensitivity_weights

VARIANTS = ("svi", "svi_wsens", "nuts", "nuts_wsens")


def _summary(res, levels=(0.90, 0.94)):
    out = {}
    for k, v in res.items():
        if not v["err"]:
            continue
        e = np.asarray(v["err"])
        out[k] = {"rmse_upstream": float(np.sqrt((e[:, :2] ** 2).mean())),
                  "rmse_downstream": float(np.sqrt((e[:, 2:] ** 2).mean())),
                  "rmse_all": float(np.sqrt((e ** 2).mean())),
                  "mean_width90": float(np.mean(v["width90"])), "n_reps": int(e.shape[0])}
        for lev in levels:
            c = np.asarray(v[f"cover{int(lev * 100)}"], dtype=float)
            out[k][f"coverage{int(lev * 100)}"] = float(c.mean())
            out[k][f"coverage{int(lev * 100)}_mc_sd"] = float(np.sqrt(lev * (1 - lev) / c.size))
            out[k][f"coverage{int(lev * 100)}_upstream"] = float(c[:, :2].mean())
            out[k][f"coverage{int(lev * 100)}_downstream"] = float(c[:, 2:].mean())
        if v.get("max_rhat"):
            out[k]["max_rhat"] = float(np.max(v["max_rhat"]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--out", default="reports/sensitivity_weighting.json")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"comma-separated subset of {', '.join(VARIANTS)} (e.g. the SVI ones alone: minutes, not hours)")
    a = ap.parse_args()
    variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        raise SystemExit(f"--variants: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(VARIANTS)}")
    import arviz as az

    pw = pb.pathways.mapk()
    fm = pb.MechanisticModel(pw)
    truth = pw.prior.sample(a.reps, seed=123)
    res = {k: {"err": [], "cover90": [], "cover94": [], "width90": [], "seconds": [], "max_rhat": []}
           for k in variants}
    t0 = time.time()
    for r in range(a.reps):
        theta = pw.theta_vector(dict(zip(pw.free, np.exp(truth[r]), strict=True)))
        obs = pb.simulate(pw, theta=theta, times=12, observe=["Y", "Z"], noise=0.05, seed=1000 + r)
        W = sensitivity_weights(fm, obs, None)
        for k in variants:
            kw = dict(chains=a.chains, warmup=a.warmup, samples=a.samples, seed=r, progress=False, warn=False)
            if k.startswith("svi"):
                kw.update(method="svi", chains=1, samples=a.chains * a.samples)
            if k.endswith("wsens"):
                kw.update(weights=W, weights_in_nuts=(k == "nuts_wsens"))
            t1 = time.time()
            idata = pb.infer.fit(fm, obs, **kw)
            d = idata.posterior["log_theta"].values.reshape(-1, len(pw.free))
            lo90, hi90 = np.quantile(d, [0.05, 0.95], axis=0)
            lo94, hi94 = np.quantile(d, [0.03, 0.97], axis=0)
            res[k]["err"].append((d.mean(0) - truth[r]).tolist())
            res[k]["cover90"].append(((lo90 <= truth[r]) & (truth[r] <= hi90)).tolist())
            res[k]["cover94"].append(((lo94 <= truth[r]) & (truth[r] <= hi94)).tolist())
            res[k]["width90"].append((hi90 - lo90).tolist())
            res[k]["seconds"].append(time.time() - t1)
            if k.startswith("nuts"):
                res[k]["max_rhat"].append(float(np.nanmax(az.rhat(idata, var_names=["log_theta"])["log_theta"].values)))
        print(f"rep {r} done, {time.time() - t0:.0f} s", flush=True)
        out = {"summary": _summary(res), "raw": res, "reps_done": r + 1, "truth_log_theta": truth[: r + 1].tolist(),
               "settings": vars(a), "seconds": time.time() - t0,
               "machine": "2-core shared CPU, no GPU", "seeds": {"truth": 123, "data": "1000+r", "fit": "r"}}
        atomic_write_text(a.out, json.dumps(out, indent=1))
    print(json.dumps(_summary(res), indent=1))


if __name__ == "__main__":
    main()
