"""How far a cheaper predictor pass moves the shipped Notch surrogate's rollouts.

    python benchmarks/predictor_pass_diff.py 2 1

For each M given, ``HybridSurrogate.pretrained("notch").with_exchange("endpoints").with_predictor_substeps(M)``
against the same model with its full predictor pass (the predictor pass belongs to the end-point
exchange, the shipped Notch scheme before 2026-12-01; the sub-step exchange has none) on the accuracy benchmark's θ and control schedules (32 held-out θ with random schedules,
seed 2026; 16 counterfactual pulse trains, seed 2027; drawn as ``make_dataset`` draws them, without
the reference solves): relative L2 difference of all cell states at every macro node, per θ, median
and max. Numbers in reports/surrogate.md ("A cheaper predictor pass").
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from pbhno_bayes.surrogate import HybridSurrogate
from pbhno_bayes.surrogate.train import _random_schedules, _roll


def main(ms):
    sur = HybridSurrogate.pretrained("notch").with_exchange("endpoints")
    pw = sur.pathway
    K = sur.n_macro
    ts = jnp.arange(K + 1) * sur.dt
    dflt = jnp.asarray(pw.control_default, float)
    idx = [pw.param_names.index(f) for f in pw.free]
    for name, n, seed, cf in (("held_out", 32, 2026, False), ("counterfactual", 16, 2027, True)):
        rng = np.random.default_rng(seed)  # the same draws as make_dataset(pw, n, seed=seed)
        theta = np.tile(pw.theta_vector(None), (n, 1))
        theta[:, idx] = np.exp(pw.prior.sample(n, rng=rng))
        e, v = _random_schedules(pw, n, K, sur.dt, rng, cf)
        args = (jnp.asarray(theta), jnp.asarray(e), jnp.asarray(v), ts, dflt)
        base = np.asarray(jax.jit(lambda *a: _roll(sur, *a)["states"])(*args))
        for m in ms:
            fast = sur.with_predictor_substeps(m)
            y = np.asarray(jax.jit(lambda *a, f=fast: _roll(f, *a)["states"])(*args))
            d = np.linalg.norm((y - base).reshape(n, -1), axis=1) / np.linalg.norm(base.reshape(n, -1), axis=1)
            print(f"{name} ({n} θ), predictor pass {m}: rollout relative difference from the default "
                  f"median {np.median(d):.2e}, max {d.max():.2e}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2])
