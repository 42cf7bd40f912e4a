"""Quickstart (MAPK): simulate sparse noisy data, fit the posterior, read it in ArviZ.

    python examples/quickstart.py            # 4 chains x (500 warmup + 500 draws), 2.5 min on a 2-core CPU
    python examples/quickstart.py --quick    # small settings (used by the tests), 75 s
"""
import argparse

import arviz as az
import numpy as np

import pbhno_bayes as pb

args = argparse.ArgumentParser()
args.add_argument("--quick", action="store_true")
args = args.parse_args()

pw = pb.pathways.mapk()                                        # X -> Y -> Z cascade, input U(t)
truth = dict(zip(pw.prior.names, np.exp(pw.prior.sample(1, seed=1)[0]), strict=True))  # a θ from the prior
obs = pb.simulate(pw, theta=truth, times=12, noise=0.1, seed=1)            # 12 times, 10 % noise
model = pb.MechanisticModel(pw)                                # reference solver as forward model
size = dict(chains=2, warmup=150, samples=150) if args.quick else dict(chains=4, warmup=500, samples=500)
idata = pb.fit(model, obs, seed=0, progress=not args.quick, **size)        # SVI -> NUTS

print(az.summary(idata, var_names=["theta"], kind="stats"))   # means, sds, 94 % HDIs
print("truth:", {k: round(float(v), 3) for k, v in truth.items()})
print(pb.identifiability(model, obs, idata).to_markdown())     # which rates the data pin down
