"""Wnt: reconstruct the morphogen field from sparse β-catenin read-outs (paper Fig 3).

Only β-catenin in 4 cells is observed (12 noisy times); the ligand field L(x, y, t) itself is never
measured. The posterior over the field parameters (D, λ, s_W, ...) propagated through the PB-HNO
surrogate gives a posterior over the whole field: we show its mean and sd at t_end next to the
truth from the reference solver, and report the relative L2 error and the share of grid points
whose 90 % band covers the true value.

    python examples/wnt_field_reconstruction.py [--quick] [--seed 0] [--out reports/examples/wnt]

Without --quick the fit is SVI -> NUTS (2 x (300 + 300)); one gradient through the Wnt surrogate
costs about 0.3 s on a 2-core CPU, so that run is a long job there (a GPU job by preference).
"""
import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import pbhno_bayes as pb  # noqa: E402
from pbhno_bayes.report.figures import posterior_theta_draws, save  # noqa: E402
from pbhno_bayes.surrogate import inflate_sigma  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true", help="SVI only, few steps (for tests)")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--noise", type=float, default=0.1)
ap.add_argument("--out", default="reports/examples/wnt")
args = ap.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

pw = pb.pathways.wnt()                                   # 4 cells in a row away from the source strip
prior = pw.prior
log_true = prior.sample(1, seed=args.seed)[0]
truth = dict(zip(prior.names, np.exp(log_true), strict=True))
obs = pb.simulate(pw, theta=truth, times=12, noise=args.noise, seed=args.seed)   # beta only

sur = pb.HybridSurrogate.pretrained("wnt")
obs_fit = inflate_sigma(obs, sur)
if args.quick:
    idata = pb.fit(sur, obs_fit, method="svi", samples=100, svi_steps=10, svi_restarts=1,
                   seed=args.seed, progress=False)
else:
    idata = pb.fit(sur, obs_fit, chains=2, warmup=300, samples=300, seed=args.seed)

t_end = jnp.asarray([pw.t_end])
draws = posterior_theta_draws(idata, pw, n=128, seed=args.seed)
fields = np.asarray(jax.jit(jax.vmap(lambda th: sur.field(th, t_end)[0]))(jnp.asarray(draws)))
if fields.ndim == 4:                                     # (draws, F, n, n): total ligand
    fields = fields.sum(1)
true_field = np.asarray(pb.MechanisticModel(pw).field(pw.theta_vector(truth), t_end)[0])
if true_field.ndim == 3:
    true_field = true_field.sum(0)
mean, sd = np.nanmean(fields, 0), np.nanstd(fields, 0)
lo, hi = np.nanquantile(fields, [0.05, 0.95], axis=0)
rel = float(np.linalg.norm(mean - true_field) / np.linalg.norm(true_field))
cover = float(np.mean((lo <= true_field) & (true_field <= hi)))
print(f"posterior-mean field vs truth at t = {pw.t_end:g}: relative L2 error {rel:.3f}; "
      f"90% band covers the truth at {100 * cover:.0f}% of grid points")

fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
vmax = float(max(true_field.max(), mean.max()))
for ax, img, title in zip(axes, (true_field, mean, sd),
                          ("true L (reference solver)", "posterior mean L", "posterior sd of L"), strict=True):
    im = ax.imshow(img.T, origin="lower", extent=(0, 1, 0, 1), vmin=0, vmax=None if img is sd else vmax)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
fig.suptitle(f"Wnt ligand at t = {pw.t_end:g} from beta-catenin in {pw.n_cells} cells: "
             f"rel. L2 error {rel:.3f}, 90 % coverage {100 * cover:.0f} %", fontsize=9)
save(fig, out / "wnt_field.png")
print(f"wrote {out / 'wnt_field.png'}")
