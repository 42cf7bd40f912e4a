"""Notch two-cell inference with the shipped PB-HNO surrogate, checked against the truth.

Simulates 12 noisy times of N and H in both cells with the reference ODE–PDE solver, fits the
posterior with the pretrained surrogate (its validation error added to the likelihood variance),
and reports posterior medians, 90 % intervals and whether they cover the true θ; writes a figure
of the data with posterior predictive bands.

    python examples/notch_inference.py [--quick] [--nuts] [--seed 0] [--out reports/examples/notch]

NUTS through the Notch surrogate costs about a second per gradient on a 2-core CPU (hours for a
run), so on a CPU the default is SVI with a Laplace posterior; on a GPU (or with --nuts) SVI -> NUTS.
"""
import argparse
from pathlib import Path

import jax
import numpy as np

import pbhno_bayes as pb
from pbhno_bayes.report.figures import plot_data_and_bands, posterior_theta_draws, predictive_bands
from pbhno_bayes.surrogate import inflate_sigma

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true", help="SVI only, few steps (for tests)")
ap.add_argument("--nuts", action="store_true", help="SVI -> NUTS even on a CPU (hours there)")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", default="reports/examples/notch")
args = ap.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

pw = pb.pathways.notch()                                 # two cells, 32x32 grid
prior = pw.prior                                         # N(log nominal, 0.5^2) on the free params
log_true = prior.sample(1, seed=args.seed)[0]
truth = dict(zip(prior.names, np.exp(log_true), strict=True))
obs = pb.simulate(pw, theta=truth, times=12, noise=0.2, seed=args.seed)

sur = pb.HybridSurrogate.pretrained("notch")
obs_fit = inflate_sigma(obs, sur)                        # + surrogate error in the variance
if args.quick:
    idata = pb.fit(sur, obs_fit, method="svi", chains=1, samples=64, svi_steps=10, svi_restarts=1,
                   seed=args.seed, progress=False)
elif args.nuts or jax.default_backend() != "cpu":
    idata = pb.fit(sur, obs_fit, chains=2, warmup=300, samples=300, seed=args.seed)
else:
    idata = pb.fit(sur, obs_fit, method="svi", samples=300, svi_steps=300, svi_restarts=2, seed=args.seed)

flat = idata.posterior["log_theta"].values.reshape(-1, len(prior.names))
q05, q50, q95 = np.quantile(flat, [0.05, 0.5, 0.95], axis=0)
inside = (q05 <= log_true) & (log_true <= q95)
print(f"{'param':>8} {'true':>8} {'median':>8} {'90% interval':>22}")
for j, n in enumerate(prior.names):
    print(f"{n:>8} {truth[n]:8.3f} {np.exp(q50[j]):8.3f}   [{np.exp(q05[j]):7.3f}, {np.exp(q95[j]):7.3f}]"
          f"{'' if inside[j] else '  <- truth outside'}")
print(f"truth inside the 90% interval for {inside.sum()}/{inside.size} parameters")

t = np.linspace(0, pw.t_end, 25 if args.quick else 97)
bands = predictive_bands(sur, posterior_theta_draws(idata, pw, n=8 if args.quick else 48, seed=args.seed), t)
truth_traj = np.asarray(pb.MechanisticModel(pw).predict(pw.theta_vector(truth), t))
plot_data_and_bands(obs, pw, t, bands, out / "notch_bands.png", truth=truth_traj)
print(f"wrote {out / 'notch_bands.png'}")
