"""Practical-identifiability verdicts for MAPK with only Y and Z observed: pb.fit (NUTS) vs Stan.

Same data for both (pb.simulate(mapk, times=12, observe=["Y","Z"], noise=0.05, seed=1), the data set
of reports/identifiability.md), same model (eqs A8–A10, x(0) = 0, U ≡ 1), same prior
log k_i ~ N(0, 0.5²) and the same known noise sd (the data's per-species sigma: simulate's noise=0.05 is
relative, giving sd 0.0167 for Y and 0.0125 for Z). Stan (pystan 3, ode_rk45_tol rtol 1e-6 / atol 1e-8;
adapted from /work/shared/peers/stan_mapk.py to Y, Z only) and pb.fit's posterior are both passed
through pb.identify.identifiability (the same thresholds), and the verdicts, contractions and
posterior means/sds are compared.

    nice /work/venv/bin/python benchmarks/identify_vs_stan.py --out reports/identify_vs_stan.json
"""

import argparse
import json
import time

import arviz as az
import numpy as np

import pbhno_bayes as pb
import pbhno_bayes.infer  # noqa: F401
from pbhno_bayes.identify import identifiability

STAN = r"""
functions {
  vector mapk(real t, vector y, vector k, real U) {
    vector[3] dy;
    dy[1] = k[1] * U * (1 - y[1]) - k[2] * y[1];
    dy[2] = k[3] * y[1] * (1 - y[2]) - k[4] * y[2];
    dy[3] = k[5] * y[2] * (1 - y[3]) - k[6] * y[3];
    return dy;
  }
}
data {
  int<lower=1> N;
  array[N] real t;
  array[N] vector[2] y;      // observed Y, Z only
  vector<lower=0>[2] sigma;  // per-species noise sd of Y, Z (the data's own)
  real U;
  vector[6] mu;
  real<lower=0> tau;
}
parameters { vector[6] logk; }
model {
  logk ~ normal(mu, tau);
  array[N] vector[3] yhat = ode_rk45_tol(mapk, rep_vector(0, 3), 0.0, t, 1e-6, 1e-8, 10000, exp(logk), U);
  for (n in 1:N) y[n] ~ normal(yhat[n][2:3], sigma);
}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stan-chains", type=int, default=4)
    ap.add_argument("--stan-warmup", type=int, default=1000)
    ap.add_argument("--stan-draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--pb-posterior", default=None, help="reuse/save pb.fit's posterior NetCDF here")
    ap.add_argument("--out", default="reports/identify_vs_stan.json")
    a = ap.parse_args()
    import stan

    pw = pb.pathways.mapk()
    fm = pb.MechanisticModel(pw)
    obs = pb.simulate(pw, times=12, observe=["Y", "Z"], noise=0.05, seed=1)
    y = obs.values[:, 0, :]  # (12, [Y, Z])
    assert tuple(obs.species) == ("Y", "Z")
    # pb.simulate's noise=0.05 is relative: the stored per-species sd is what the data carry and what
    # pb.fit uses (noise="auto" -> known); Stan gets the same numbers.
    sig = obs.sigma[0, 0, :]
    assert np.allclose(obs.sigma, sig)
    data = {"N": int(obs.times.size), "t": obs.times.tolist(), "y": y.tolist(), "sigma": sig.tolist(),
            "U": float(pw.control_default[0]), "mu": np.asarray(pw.prior.mean).tolist(), "tau": float(pw.prior.sd[0])}
    t0 = time.time()
    post = stan.build(STAN, data=data, random_seed=1)
    t1 = time.time()
    fit = post.sample(num_chains=a.stan_chains, num_warmup=a.stan_warmup, num_samples=a.stan_draws)
    t2 = time.time()
    lk = np.asarray(fit["logk"])  # (6, chains*draws), chains concatenated
    lk = lk.T.reshape(a.stan_chains, a.stan_draws, 6)
    id_stan = az.from_dict(posterior={"log_theta": lk}, coords={"param": list(pw.free)}, dims={"log_theta": ["param"]})
    t3 = time.time()
    import os

    if a.pb_posterior and os.path.exists(a.pb_posterior):
        id_pb = az.from_netcdf(a.pb_posterior)
    else:
        id_pb = pb.infer.fit(fm, obs, chains=a.chains, warmup=a.warmup, samples=a.samples, seed=0, progress=False,
                             warn=False)
        if a.pb_posterior:
            id_pb.to_netcdf(a.pb_posterior)
    t4 = time.time()
    tabs = {"stan": identifiability(fm, obs, id_stan), "pb_nuts": identifiability(fm, obs, id_pb)}
    rows = {k: {r["param"]: r for r in t.rows} for k, t in tabs.items()}
    cmp = []
    for n in pw.free:
        s, p = rows["stan"][n], rows["pb_nuts"][n]
        cmp.append({"param": n, "verdict_stan": s["verdict"], "verdict_pb": p["verdict"],
                    "agree": s["verdict"] == p["verdict"],
                    "contraction_stan": s["contraction"], "contraction_pb": p["contraction"],
                    "mean_stan": s["post_mean"], "mean_pb": p["post_mean"],
                    "sd_stan": s["post_sd"], "sd_pb": p["post_sd"],
                    "mean_diff_in_stan_sd": abs(s["post_mean"] - p["post_mean"]) / s["post_sd"],
                    "rhat_stan": s["r_hat"], "rhat_pb": p["r_hat"], "ess_stan": s["ess_bulk"], "ess_pb": p["ess_bulk"],
                    "corr_stan": [s["max_corr_with"], s["max_corr"]], "corr_pb": [p["max_corr_with"], p["max_corr"]]})
    out = {"comparison": cmp, "n_agree": int(sum(c["agree"] for c in cmp)),
           "tables_md": {k: t.to_markdown() for k, t in tabs.items()},
           "stan": {"build_s": t1 - t0, "sample_s": t2 - t1, "chains": a.stan_chains, "warmup": a.stan_warmup,
                    "draws": a.stan_draws, "seed": 1},
           "pb": {"fit_s": t4 - t3, "chains": a.chains, "warmup": a.warmup, "samples": a.samples, "seed": 0},
           "data": {"times": obs.times.tolist(), "seed": 1, "noise_rel": 0.05, "sigma": sig.tolist()},
           "machine": "2-core shared CPU, no GPU"}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    for c in cmp:
        print(c["param"], c["verdict_stan"], "|", c["verdict_pb"], f"{c['contraction_stan']:.3f} {c['contraction_pb']:.3f}",
              f"{c['mean_stan']:.3f} {c['mean_pb']:.3f}", f"{c['sd_stan']:.3f} {c['sd_pb']:.3f}")


if __name__ == "__main__":
    main()
