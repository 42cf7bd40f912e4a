"""Stan (pystan 3) side of the MAPK benchmark: a copy of ``shared/peers/stan_mapk.py`` that also
returns posterior sds and the raw draws. Used by ``nuts_vs_stan.py`` and to make the reference
summary ``tests/infer/data/stan_mapk_summary.json``.

The Stan program is the peer's, unchanged: log k ~ N(mu, tau), y ~ N(ode_rk45_tol(..., 1e-6, 1e-8), sigma).
"""

from __future__ import annotations

import json
import time

import numpy as np

CODE = r"""
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
  array[N] vector[3] y;
  real<lower=0> sigma;
  real U;
  vector[6] mu;
  real<lower=0> tau;
}
parameters { vector[6] logk; }
model {
  logk ~ normal(mu, tau);
  array[N] vector[3] yhat = ode_rk45_tol(mapk, rep_vector(0, 3), 0.0, t, 1e-6, 1e-8, 10000, exp(logk), U);
  for (n in 1:N) y[n] ~ normal(yhat[n], sigma);
}
"""


def run_stan(d: dict, chains: int = 4, warmup: int = 500, draws: int = 500, seed: int = 1) -> dict:
    """Build (cached by httpstan) and sample; timing of sampling only, as in the peer script."""
    import arviz as az
    import stan

    data = {"N": len(d["t"]), "t": d["t"], "y": d["y"], "sigma": d["sigma"], "U": d["U"],
            "mu": d["mu"], "tau": d["tau"]}
    t0 = time.time()
    post = stan.build(CODE, data=data, random_seed=seed)
    t1 = time.time()
    fit = post.sample(num_chains=chains, num_warmup=warmup, num_samples=draws)
    t2 = time.time()
    arr = np.asarray(fit["logk"])  # (6, chains*draws), chain-major along the draw axis
    per_chain = arr.T.reshape(chains, draws, 6)
    idata = az.from_dict(posterior={"logk": per_chain})
    ess = az.ess(idata, method="bulk")["logk"].values
    return {"build_s": t1 - t0, "sample_s": t2 - t1, "min_ess_bulk": float(ess.min()),
            "ess_per_s": float(ess.min() / (t2 - t1)), "means": arr.mean(axis=1).tolist(),
            "sds": arr.std(axis=1, ddof=1).tolist(), "ess_bulk": ess.tolist(), "draws": per_chain}


if __name__ == "__main__":
    import sys

    d = json.load(open(sys.argv[1]))
    out = run_stan(d)
    out.pop("draws")
    print(json.dumps(out))
