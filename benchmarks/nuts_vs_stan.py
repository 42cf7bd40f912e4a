"""NUTS (pb.fit) vs Stan on MAPK: min bulk ESS per second, same data and prior.

MAPK, 12 times x 3 species (tests/infer/data/mapk_example_data.json, a copy of
shared/peers/mapk_example_data.json), 6 free parameters, 4 chains x (500 warmup + 1000 draws).
Ours: the whole pb.fit (SVI + NUTS + post-processing), timed on the SECOND call in the process
(compilation excluded; the first call is reported too). Stan: sampling time only, model built.

    nice python benchmarks/nuts_vs_stan.py [--no-stan] [--variant NAME ...] [--host-devices N] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "infer" / "data" / "mapk_example_data.json"

VARIANTS = {
    "default": {},
    "reverse": {"gradient": "reverse"},
    "dense": {"dense_mass": True},
    "short_warmup": {"warmup": 200},
}


def ours(d, variant: str, chains=4, warmup=500, samples=1000):
    import arviz as az

    import pbhno_bayes as pb

    kw = dict(VARIANTS[variant])
    warmup = kw.pop("warmup", warmup)
    obs = pb.Observations.from_arrays(d["t"], np.asarray(d["y"]), ("X", "Y", "Z"), sigma=d["sigma"])
    fm = pb.MechanisticModel(pb.pathways.mapk())
    out = {}
    for run in ("first", "second"):
        t0 = time.perf_counter()
        idata = pb.fit(fm, obs, chains=chains, warmup=warmup, samples=samples, seed=0, progress=False,
                       warn=False, **kw)
        secs = time.perf_counter() - t0
        ess = az.ess(idata, var_names=["log_theta"], method="bulk")["log_theta"].values
        lt = idata.posterior["log_theta"]
        out[run] = {"total_s": secs, "min_ess_bulk": float(ess.min()), "ess_per_s": float(ess.min() / secs),
                    "means": lt.mean(("chain", "draw")).values.tolist(),
                    "sds": lt.std(("chain", "draw")).values.tolist(),
                    "divergences": int(idata.sample_stats["diverging"].sum()),
                    "timings": {k: float(v) for k, v in idata.attrs.items() if k.startswith("time_")}}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-stan", action="store_true")
    ap.add_argument("--variant", nargs="*", default=["default"], choices=sorted(VARIANTS))
    ap.add_argument("--out", default=None)
    ap.add_argument("--host-devices", type=int, default=None,
                    help="split the CPU into N XLA devices so pb.fit runs chains in parallel (pmap), the "
                         "counterpart of Stan's one process per chain; must be set before JAX starts")
    a = ap.parse_args(argv)
    if a.host_devices:
        import os

        if "jax" in sys.modules:
            raise SystemExit("--host-devices must be set before JAX is imported")
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={a.host_devices}").strip()
    d = json.loads(DATA.read_text())
    res = {"data": str(DATA.relative_to(ROOT)), "ours": {}, "host_devices": a.host_devices,
           "command": "python benchmarks/nuts_vs_stan.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if not a.no_stan:
        sys.path.insert(0, str(Path(__file__).parent))
        from _stan_mapk import run_stan

        s = run_stan(d, chains=4, warmup=500, draws=1000, seed=1)
        s.pop("draws")
        res["stan"] = s
        print(f"stan: sampling {s['sample_s']:.1f}s, min bulk ESS {s['min_ess_bulk']:.0f}, "
              f"{s['ess_per_s']:.2f} ESS/s", flush=True)
    for v in a.variant:
        r = ours(d, v)
        res["ours"][v] = r
        msg = f"ours[{v}]: first {r['first']['total_s']:.1f}s, second {r['second']['total_s']:.1f}s, " \
              f"min bulk ESS {r['second']['min_ess_bulk']:.0f}, {r['second']['ess_per_s']:.2f} ESS/s"
        if "stan" in res:
            msg += f", ratio vs Stan {r['second']['ess_per_s'] / res['stan']['ess_per_s']:.3f}"
        print(msg, flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
