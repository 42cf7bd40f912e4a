"""Where a Notch surrogate rollout spends its time, and what a log-likelihood gradient costs.

    python benchmarks/surrogate_cost.py
    python benchmarks/surrogate_cost.py --predictor-pass   # only the default-vs-cheaper-predictor-pass gradients

Times (jitted, after compilation, float64, batch 1, nominal θ): the pieces of one macro step
(physics predictor, field step incl. FNO, FNO alone, one adaptive cell-ODE solve, whole macro
step), then a full rollout and jit(grad) of a Gaussian-type loss at horizons 48 and 24, for the
shipped surrogate as ``pretrained`` loads it (pruned: its exactly-zero FNO and g_ψ skipped) and
unpruned (``prune=False``: both evaluated, the same numbers). Last, what ``pb.fit`` pays: jit(grad)
(reverse) vs jit(jacfwd) (forward, ForwardMode adjoint) of a loss of the free log θ (6 tangents),
Notch at horizons 24 and 48 and Wnt, pruned and unpruned (``HybridSurrogate.preferred_gradient``).
Numbers in reports/surrogate.md ("Left" and "pb.fit (NUTS) on Notch").
"""

import time

import jax
import jax.numpy as jnp

import pbhno_bayes as pb
from pbhno_bayes.infer.fit import _with_adjoint
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
    sur = HybridSurrogate.pretrained("notch", prune=False)  # the pieces, with the networks evaluated
    pruned = HybridSurrogate.pretrained("notch")
    print(f"pretrained('notch') skips {pruned.skipped_blocks}")
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
    timeit("macro step, pruned", lambda L, x: pruned.macro_step(L, x, 10.0, p, sched, None)[:2], L, x)
    for horizon in (48.0, 24.0):
        obs = pb.simulate(pw, times=12, observe=("N", "H"), noise=0.1, seed=3, t_end=horizon)
        ts = jnp.asarray(obs.times)
        for label, m in (("unpruned", sur), ("pruned", pruned)):
            s = m.with_horizon(horizon)

            def loss(th, s=s, ts=ts):
                return jnp.sum(s.predict(th, ts) ** 2)

            timeit(f"rollout, horizon {horizon:g}, {label}", loss, th * 1.05, n=5)
            timeit(f"jit(grad), horizon {horizon:g}, {label}", jax.grad(loss), th * 1.05, n=3)


def free_gradient_modes():
    for name, horizons in (("notch", (24.0, 48.0)), ("wnt", (12.0,))):
        for prune in (True, False):
            m0 = HybridSurrogate.pretrained(name, prune=prune)
            pw = m0.pathway
            base = jnp.asarray(pw.theta_vector(None))
            idx = jnp.asarray([pw.param_names.index(n) for n in pw.free])
            z0 = jnp.log(base[idx]) + 0.05
            for h in horizons:
                ts = jnp.asarray(pb.simulate(pw, times=12, noise=0.1, seed=3, t_end=h).times)
                for mode in ("reverse", "forward"):
                    m = m0.with_horizon(h) if mode == "reverse" else _with_adjoint(m0.with_horizon(h), "forward")

                    def loss(z, m=m, ts=ts, base=base, idx=idx):
                        return jnp.sum(m.predict(base.at[idx].set(jnp.exp(z)), ts) ** 2)

                    tr = jax.grad if mode == "reverse" else jax.jacfwd
                    timeit(f"{name} {'pruned' if prune else 'unpruned'}, horizon {h:g}, {mode} over "
                           f"{len(pw.free)} free log θ", tr(loss), z0, n=3)
    print(f"preferred_gradient: notch {HybridSurrogate.pretrained('notch').preferred_gradient}, "
          f"unpruned {HybridSurrogate.pretrained('notch', prune=False).preferred_gradient}")


def predictor_pass():
    """What the cheaper schemes save where ``pb.fit`` pays: the free-θ gradient of the pruned Notch
    surrogate at horizon 48 with the end-point exchange (full and cheaper predictor pass,
    ``with_predictor_substeps(2)``) and with the sub-step exchange (the shipped default since
    2026-12-01, 10 and 20 field sub-steps)."""
    sub = HybridSurrogate.pretrained("notch")
    m0 = sub.with_exchange("endpoints")
    pw = m0.pathway
    base = jnp.asarray(pw.theta_vector(None))
    idx = jnp.asarray([pw.param_names.index(n) for n in pw.free])
    z0 = jnp.log(base[idx]) + 0.05
    ts = jnp.asarray(pb.simulate(pw, times=12, noise=0.1, seed=3, t_end=48.0).times)
    for label, m1 in (("end-point exchange, full predictor pass", m0),
                      ("end-point exchange, predictor pass 2", m0.with_predictor_substeps(2)),
                      ("sub-step exchange (default)", sub), ("sub-step exchange, 20 field sub-steps", sub.with_field_substeps(20))):
        for mode in ("forward", "reverse"):
            m = _with_adjoint(m1, "forward") if mode == "forward" else m1

            def loss(z, m=m):
                return jnp.sum(m.predict(base.at[idx].set(jnp.exp(z)), ts) ** 2)

            tr = jax.grad if mode == "reverse" else jax.jacfwd
            timeit(f"notch pruned, {label}, horizon 48, {mode} over {len(pw.free)} free log θ", tr(loss), z0, n=5)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--predictor-pass"]:
        predictor_pass()
    else:
        main()
        free_gradient_modes()
