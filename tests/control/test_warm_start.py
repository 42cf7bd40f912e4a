"""Warm-started MPC: the surrogate restarted from a stored node state reproduces the full rollout, and a
plan optimised with ``warm_start=True`` agrees with the plan without it (only the cost differs)."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.control import robust_mpc
from pbhno_bayes.surrogate import HybridSurrogate


@pytest.fixture(scope="module")
def small():
    pw = pb.pathways.notch(grid=12, t_end=8.0)
    sur = HybridSurrogate(pw, width=4, modes=3, mlp_width=8, key=0, dt=1.0, field_substeps=2, ode_steps=4)
    return pw, sur


def test_predict_from_node_state_equals_full_rollout(small):
    pw, sur = small
    th = jnp.asarray(pw.nominal_values) * 1.1
    sched = pb.Schedule(jnp.asarray([0.0, 4.0, 6.0]), jnp.asarray([[0.5, 0.2], [0.0, 0.8]]),
                        jnp.asarray(pw.control_default, float))
    ts = jnp.asarray([4.0, 4.5, 5.3, 6.0, 7.7, 8.0])
    k0 = sur.node_of(4.0)
    assert k0 == 4

    @eqx.filter_jit  # one compilation for the three calls
    def both(m, th, sched):
        return m.predict(th, ts, sched), m.predict_from(th, m.state_at_node(th, k0, sched), k0, ts, sched)

    full, part = (np.asarray(a) for a in both(sur, th, sched))
    assert np.all(np.isfinite(full))
    np.testing.assert_allclose(part, full, rtol=1e-12, atol=1e-12, equal_nan=False)
    with pytest.raises(ValueError, match="not a macro node"):
        sur.node_of(4.3)


def test_warm_start_refusals(small):
    """t_start off the surrogate's time grid, or a forward model without restart: refused."""
    pw, sur = small
    th = np.tile(np.asarray(pw.nominal_values), (2, 1))
    kw = dict(horizon=4, dt=1.0, iters=2, lr=0.05)
    with pytest.raises(ValueError, match="not a macro node"):
        robust_mpc(sur, th, {"H@1": (0.5, 1.0)}, warm_start=True, t_start=3.5, **kw)
    with pytest.raises(ValueError, match="warm_start=True needs"):
        robust_mpc(pb.MechanisticModel(pw), th, {"H@1": (0.5, 1.0)}, warm_start=True, t_start=4.0, **kw)


@pytest.mark.slow  # two optimisations through the surrogate (≈ 55 s on the 2-core CPU)
def test_warm_start_plan_equals_cold_plan(small):
    pw, sur = small
    rng = np.random.default_rng(0)
    th = np.tile(np.asarray(pw.nominal_values), (3, 1)) * np.exp(0.1 * rng.standard_normal((3, len(pw.param_names))))
    kw = dict(horizon=4, dt=1.0, t_start=4.0, iters=6, lr=0.05, risk="cvar", alpha=0.7)
    target = {"H@1": (0.5, 1.0)}
    cold = robust_mpc(sur, th, target, **kw)
    warm = robust_mpc(sur, th, target, warm_start=True, **kw)
    for plan in (cold, warm):
        assert plan.n_failed == 0 and np.all(np.isfinite(plan.cost_history))
        assert plan.objective < 0.95 * plan.cost_history[0]  # the optimiser really improved the plan
    # same forward model, same start: the first objective is identical
    assert warm.cost_history[0] == pytest.approx(cold.cost_history[0], rel=1e-12)
    # the gradients differ only by the path through the last pre-plan macro step, whose end-point
    # stage reads u_0 (the true state at t_start does not depend on the plan): plans agree closely
    width = np.array([hi - lo for lo, hi in warm.bounds.values()])
    assert np.max(np.abs(warm.u - cold.u) / width) < 0.05, (warm.u, cold.u)
    assert warm.objective == pytest.approx(cold.objective, rel=0.05)
    # t_start off the surrogate's time grid, or a forward model without restart: refused
    with pytest.raises(ValueError, match="not a macro node"):
        robust_mpc(sur, th, target, warm_start=True, **{**kw, "t_start": 3.5})
    with pytest.raises(ValueError, match="warm_start=True needs"):
        robust_mpc(pb.MechanisticModel(pw), th, target, warm_start=True, **kw)


def test_closed_loop_passes_warm_start_on(small):
    """closed_loop(warm_start=True) reaches robust_mpc: a forward model that cannot restart is refused."""
    from pbhno_bayes.control import closed_loop

    pw, _ = small
    th = np.tile(np.asarray(pw.nominal_values), (2, 1))
    with pytest.raises(ValueError, match="warm_start=True needs"):
        closed_loop(pb.MechanisticModel(pw), None, th, {"H@1": (0.5, 1.0)}, n_steps=1, horizon=3, dt=1.0,
                    t_start=4.0, iters=2, warm_start=True)


@pytest.mark.slow  # two closed loops with two re-plan starts each (≈ 110 s on the 2-core CPU)
def test_closed_loop_warm_start_matches_cold(small):
    """closed_loop(warm_start=True) restarts the surrogate at every re-plan start (two starts here):
    same first objective, applied controls within the plans' agreement, same outcome."""
    from pbhno_bayes.control import closed_loop

    pw, sur = small
    rng = np.random.default_rng(1)
    th = np.tile(np.asarray(pw.nominal_values), (3, 1)) * np.exp(0.1 * rng.standard_normal((3, len(pw.param_names))))
    kw = dict(n_steps=2, truth=sur, horizon=3, dt=1.0, t_start=4.0, iters=6, replan_iters=3, lr=0.05,
              noise=0.05, keep_plans=True, seed=3)
    target = {"H@1": (0.5, 1.0)}
    cold = closed_loop(sur, None, th, target, **kw)
    warm = closed_loop(sur, None, th, target, warm_start=True, **kw)
    assert len(warm.plans) == len(cold.plans) == 2
    assert warm.plans[0].cost_history[0] == pytest.approx(cold.plans[0].cost_history[0], rel=1e-12)
    width = np.array([hi - lo for lo, hi in warm.plans[0].bounds.values()])
    assert np.max(np.abs(warm.u - cold.u) / width) < 0.05, (warm.u, cold.u)
    np.testing.assert_allclose(warm.true_states, cold.true_states, rtol=0.02, atol=1e-3)
    with pytest.raises(ValueError, match="warm_start=True needs"):
        closed_loop(pb.MechanisticModel(pw), None, th, target, warm_start=True, **{**kw, "truth": None})
