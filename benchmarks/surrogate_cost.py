"""Where a Notch surrogate rollout spends its time, and what a log-likelihood gradient costs.

    python benchmarks/surrogate_cost.py

Times (jitted, after compilation, float64, batch 1, nominal θ): the pieces of one macro step
(physics predictor, field step incl. FNO, FNO alone, one adaptive cell-ODE solve, whole macro
step), then a full rollout and jit(grad) of a Gaussian-type loss at horizons 48 and 24.
Numbers in reports/surrogate.md ("Left" and "pb.fit (NUTS) on Notch").
"""

import time

import jax
import jax.numpy as jnp

import pbhno_bayes as pb
from pbhno_bayes.pathways.base import as_schedule
from pbhno_bayes.surrogate import HybridSurrogate


def timeit(name, fn, *a, n=200):
    fn = jax.jit(fn)
    jax.block_until_ready(fn(*a))
    t = time.perf_counter()
    for _ in range(n):
        r = fn(*a)
    jax.block_until_ready(r)
    print(f"{name}: {(time.perf_counter() - t) / n * 1e3:.3f} ms", flush=True)


def main():
    sur = HybridSurrogate.pretrained("notch")
    pw = sur.pathway
    th = jnp.asarray(pw.theta_vector(None))
    p = pw.params(th)
    x0, L0 = pw.x0(p), pw.L0(p)
    sched = as_schedule(pw, None)
    u = sched(0.1)
    out = jax.jit(lambda th: sur.advance(th, sched, L0, x0, 0, 40))(th)  # a mid-rollout state
    L, x = out["L"][-1], out["x"][-1]
    timeit("physics predictor", lambda L, x: sur.physics_step(L, x, x, p, u), L, x)
    timeit("field step (predictor + FNO)", lambda L, x: sur.field_step(L, x, x, p, u), L, x)
    timeit("FNO alone", lambda c: sur.fno(c), jnp.zeros((3 * pw.n_fields + 6, pw.geometry.n, pw.geometry.n)))
    e0 = sur.ell(L)
    timeit("one cell-ODE solve", lambda x: sur.ode_step(x, 10.0, e0, e0 * 1.01, p, sched, None)[0], x)
    timeit("macro step", lambda L, x: sur.macro_step(L, x, 10.0, p, sched, None)[:2], L, x)
    for horizon in (48.0, 24.0):
        s = sur.with_horizon(horizon)
        obs = pb.simulate(pw, times=12, observe=("N", "H"), noise=0.1, seed=3, t_end=horizon)
        ts = jnp.asarray(obs.times)

        def loss(th, s=s, ts=ts):
            return jnp.sum(s.predict(th, ts) ** 2)

        timeit(f"rollout, horizon {horizon:g}", loss, th * 1.05, n=5)
        timeit(f"jit(grad), horizon {horizon:g}", jax.grad(loss), th * 1.05, n=3)


if __name__ == "__main__":
    main()
