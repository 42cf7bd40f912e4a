"""MAPK: fit a posterior from sparse data, then plan a robust input schedule U(t).

Target: after t = 10 (the last observation), hold Z inside [0.12, 0.18] at the end of the horizon.
Robust MPC optimises the CVaR of the cost over posterior draws; nominal MPC uses the posterior
mean only. Both plans are applied to the true system (reference solver at the true θ).

    python examples/mapk_control.py [--quick] [--seed 0] [--out reports/examples/mapk_control]
"""
import argparse
from pathlib import Path

import jax.numpy as jnp
import numpy as np

import pbhno_bayes as pb
from pbhno_bayes.control.figures import plot_plan

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true", help="SVI posterior, few iterations (for tests)")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", default="reports/examples/mapk_control")
args = ap.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

pw = pb.pathways.mapk()
truth = dict(zip(pw.prior.names, np.exp(pw.prior.sample(1, seed=args.seed + 7)[0]), strict=True))
obs = pb.simulate(pw, theta=truth, times=8, observe=("Z",), noise=0.1, seed=args.seed)   # Z only
model = pb.MechanisticModel(pw)
if args.quick:
    idata = pb.fit(model, obs, method="svi", samples=200, svi_steps=60, svi_restarts=1,
                   seed=args.seed, progress=False)
else:
    idata = pb.fit(model, obs, chains=4, warmup=300, samples=300, seed=args.seed)

target = {"Z": (0.12, 0.18)}
kw = dict(horizon=20, dt=0.5, draws=16 if args.quick else 64, iters=60 if args.quick else 200, seed=args.seed)
robust = pb.robust_mpc(model, idata, target, risk="cvar", alpha=0.8, **kw)
nominal = pb.robust_mpc(model, idata, target, nominal=True, **kw)
Z = pw.species.index("Z")
for plan in (robust, nominal):
    z_true = float(np.asarray(model.predict(pw.theta_vector(truth), jnp.asarray([plan.times[-1]]),
                                            plan.schedule(pw.control_default)))[0, 0, Z])
    ok = target["Z"][0] <= z_true <= target["Z"][1]
    print(f"{plan.mode:>7}: P(success) predicted {plan.success_probability:.2f}, energy {plan.energy:.3g}, "
          f"true Z(t_end) = {z_true:.3f} ({'inside' if ok else 'outside'} the target)")
    plan.to_json(out / f"plan_{plan.mode}.json")
plot_plan(robust, out / "mapk_plan.png")
print(f"wrote {out}")
