"""Robust MPC on MAPK (mechanistic): plans, compile-once, NaN back-off, closed loop, CLI.

All solves share one pathway / forward model and tiny settings (T = 5, ≤ 8 draws, few iterations)
so the step is compiled a handful of times for the whole module.
"""

import json

import arviz as az
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.control import closed_loop, robust_mpc
from pbhno_bayes.control.mpc import TRACE_COUNTS, Plan

T, DT, T0 = 5, 2.0, 2.0
TARGET = {"Z": (0.12, 0.18)}


def steady_Z(U, k=(1.0,) * 6):
    """Analytic steady state of eqs A8–A10 under a constant stimulus U."""
    X = k[0] * U / (k[0] * U + k[1])
    Y = k[2] * X / (k[2] * X + k[3])
    return k[4] * Y / (k[4] * Y + k[5])


@pytest.fixture(scope="module")
def pw():
    return pb.pathways.mapk()


@pytest.fixture(scope="module")
def fm(pw):
    return pb.MechanisticModel(pw)


@pytest.fixture(scope="module")
def idata(pw):
    rng = np.random.default_rng(0)
    d = rng.normal(0.0, 0.1, (2, 40, 6))
    return az.from_dict(posterior={"log_theta": d}, coords={"param": list(pw.free)}, dims={"log_theta": ["param"]})


@pytest.fixture(scope="module")
def plan(fm, idata):
    return robust_mpc(fm, idata, TARGET, horizon=T, dt=DT, draws=8, iters=40, t_start=T0, seed=1)


def test_plan_contract(plan, pw):
    np.testing.assert_allclose(plan.times, T0 + DT * np.arange(T + 1))
    assert plan.u.shape == (T, 1) and np.all(np.isfinite(plan.u))
    assert np.all(plan.u >= 0) and np.all(plan.u <= 5.0)
    assert plan.channels == ("U",) and plan.n_draws == 8 and plan.n_rejected == 0
    assert plan.energy == pytest.approx(np.sum(plan.u**2) * DT)
    b = plan.bands["Z@0"]
    assert len(b["q50"]) == T + 1
    assert np.all(np.asarray(b["q05"]) <= np.asarray(b["q50"]) + 1e-15)
    assert np.all(np.asarray(b["q50"]) <= np.asarray(b["q95"]) + 1e-15)
    # Z(t_start) is the default-control rollout, the same for any plan
    assert 0.0 <= plan.success_probability <= 1.0
    fin = np.asarray(plan.final_values["Z@0"])
    assert plan.success_probability == pytest.approx(np.mean((fin >= 0.12) & (fin <= 0.18)))
    hist = np.asarray(plan.cost_history)
    assert np.all(np.isfinite(hist)) and plan.objective < hist[0]


def test_plan_reaches_window_and_matches_steady_state(fm, pw):
    """One draw at the nominal θ with a value target: the optimised stimulus drives Z(T) to the
    target, and the held stimulus at the end approaches the analytic steady-state input U* with
    Z_ss(U*) = 0.15."""
    # eight copies of the nominal θ: the same ensemble shape as the module's plan, so no recompile
    th = np.tile(np.asarray(pw.nominal_values), (8, 1))
    p = robust_mpc(fm, th, {"Z": 0.15}, horizon=T, dt=DT, draws=8, iters=100, lr=0.1, t_start=T0, R=1e-4)
    z_end = p.final_values["Z@0"][0]
    assert abs(z_end - 0.15) < 0.015 and p.success_probability == 1.0
    # Z_ss(U) is monotone: bisection for U*
    lo, hi = 0.0, 5.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if steady_Z(mid) < 0.15 else (lo, mid)
    assert abs(p.u[-1, 0] - lo) < 0.25 * lo


def test_same_seed_same_plan_and_compiles_once(fm, idata, plan):
    n = TRACE_COUNTS["step"]
    again = robust_mpc(fm, idata, TARGET, horizon=T, dt=DT, draws=8, iters=40, t_start=T0, seed=1)
    np.testing.assert_array_equal(again.u, plan.u)
    assert again.cost_history == plan.cost_history
    # a different start time, target window and ensemble reuse the compiled step
    robust_mpc(fm, idata, {"Z": (0.2, 0.3)}, horizon=T, dt=DT, draws=8, iters=3, t_start=T0 + 1.0, seed=2)
    assert TRACE_COUNTS["step"] == n


@pytest.mark.slow
def test_robust_risk_measures_order(fm, idata):
    """On the same ensemble, the optimised mean cost is ≤ the optimised mean+sd and CVaR objectives
    (each is ≥ the mean for any u)."""
    kw = dict(horizon=T, dt=DT, draws=8, iters=30, t_start=T0, seed=1)
    mean = robust_mpc(fm, idata, TARGET, risk="mean", **kw)
    cvar = robust_mpc(fm, idata, TARGET, risk="cvar", alpha=0.75, **kw)
    assert mean.objective <= cvar.objective + 1e-12
    assert cvar.risk == {"measure": "cvar", "alpha": 0.75}


class NaNAbove(pb.ForwardModel):
    """Fails (NaN) whenever any planned stimulus exceeds ``cap``: stands in for a solver blow-up."""

    inner: pb.ForwardModel
    cap: float = eqx.field(static=True)

    def predict(self, theta, times, control=None):
        x = self.inner.predict(theta, times, control)
        return jnp.where(jnp.max(control.values) > self.cap, jnp.nan, x)


class Hold(pb.ForwardModel):
    """A tiny analytic MAPK stand-in (no ODE solve): every species equals 0.1·k1·u on the interval
    just before t, so Z = 0.3 needs u = 3/k1."""

    def predict(self, theta, times, control=None):
        u = jax.vmap(control)(jnp.asarray(times) - 1e-9)[:, 0]
        x = 0.1 * theta[0] * u
        return jnp.stack([x, x, x], -1)[:, None, :]


def test_nan_rollouts_are_rejected_not_returned(pw):
    """Cheap version (analytic model): steps into the failing region are rejected and backed off."""
    bad = NaNAbove(pathway=pw, inner=Hold(pathway=pw), cap=1.5)
    th = np.asarray(pw.nominal_values)[None]
    # Z = 0.3 needs U = 3 > cap, so the optimiser keeps stepping into the failing region
    p = robust_mpc(bad, th, {"Z": 0.3}, horizon=T, dt=DT, iters=25, lr=0.2, t_start=T0, R=1e-4)
    assert np.all(np.isfinite(p.u)) and np.max(p.u) <= 1.5
    assert p.n_rejected > 0
    assert any(h is None or not np.isfinite(h) for h in p.cost_history)
    # the plan is the best finite iterate: close to the cap from below (Z grows with U)
    assert np.min(p.u) > 1.0


def test_nan_draws_are_dropped_not_fatal(pw):
    """A draw whose rollout fails (NaN, as the Notch surrogate gives for some prior θ) gets weight 0 in
    the optimisation and counts as a failure in the plan's success probability."""

    class NaNForBigK1(pb.ForwardModel):
        def predict(self, theta, times, control=None):
            x = Hold(pathway=pw).predict(theta, times, control)
            return jnp.where(theta[0] > 5.0, jnp.nan, x)

    th = np.tile(np.asarray(pw.nominal_values), (4, 1))
    th[1, 0] = 10.0
    p = robust_mpc(NaNForBigK1(pathway=pw), th, {"Z": 0.3}, horizon=T, dt=DT, iters=60, lr=0.2,
                   t_start=T0, R=1e-4)
    assert np.all(np.isfinite(p.u)) and p.n_failed == 1
    assert p.success_probability == pytest.approx(0.75)
    assert np.all(np.isfinite(np.asarray(p.bands["Z@0"]["q50"])))
    th[:, 0] = 10.0
    with pytest.raises(ValueError, match="every ensemble draw fails"):
        robust_mpc(NaNForBigK1(pathway=pw), th, {"Z": 0.3}, horizon=T, dt=DT, iters=2, t_start=T0)


@pytest.mark.slow
def test_nan_rollouts_are_rejected_mapk(fm, pw):
    """The same rejection through the real MAPK ODE solve (default run covers it on Hold)."""
    bad = NaNAbove(pathway=pw, inner=fm, cap=1.5)
    th = np.asarray(pw.nominal_values)[None]
    p = robust_mpc(bad, th, {"Z": 0.3}, horizon=T, dt=DT, iters=25, lr=0.2, t_start=T0, R=1e-4)
    assert np.all(np.isfinite(p.u)) and np.max(p.u) <= 1.5
    assert p.n_rejected > 0


def test_bad_input_refused(fm, idata):
    kw = dict(horizon=T, dt=DT, draws=2, iters=1, t_start=T0)
    with pytest.raises(ValueError, match="unknown species 'W'"):
        robust_mpc(fm, idata, {"W": 0.1}, **kw)
    with pytest.raises(ValueError, match="unknown cell 1"):
        robust_mpc(fm, idata, {"Z@1": 0.1}, **kw)
    with pytest.raises(ValueError, match="inverted"):
        robust_mpc(fm, idata, TARGET, bounds={"U": (2.0, 1.0)}, **kw)
    with pytest.raises(ValueError, match="infeasible"):
        robust_mpc(fm, idata, TARGET, bounds={"U": (1.0, 2.0)}, budget=1.0, **kw)
    with pytest.raises(ValueError, match="risk"):
        robust_mpc(fm, idata, TARGET, risk="worst", **kw)
    with pytest.raises(ValueError, match="horizon"):
        robust_mpc(fm, idata, TARGET, horizon=0, dt=DT, t_start=T0)


def test_budget_is_respected(fm, idata):
    p = robust_mpc(fm, idata, {"Z": 0.3}, horizon=T, dt=DT, draws=8, iters=20, t_start=T0, budget={"U": 6.0},
                   R=1e-4, seed=1)
    assert p.dose["U"] <= 6.0 + 1e-9 and p.dose["U"] > 5.0  # the budget binds: Z = 0.3 wants U ≈ 3


def test_json_roundtrip(plan, tmp_path):
    path = tmp_path / "plan.json"
    plan.to_json(path)
    back = Plan.from_json(path)
    np.testing.assert_array_equal(back.u, plan.u)
    np.testing.assert_array_equal(back.times, plan.times)
    assert back.target == plan.target and back.success_probability == plan.success_probability
    json.loads(path.read_text())  # strict JSON (no NaN tokens)
    assert "NaN" not in path.read_text()


@pytest.mark.slow
def test_closed_loop_mapk(fm, idata, pw):
    """The loop on the real MAPK solve (default run: test_closed_loop_replan_every_toy covers the loop,
    the truth bookkeeping and the reweighting on an analytic model)."""
    th_true = np.exp(np.asarray(idata.posterior["log_theta"].values[0, 5]))
    res = closed_loop(fm, th_true, idata, TARGET, n_steps=2, horizon=T, dt=DT, draws=8, iters=15,
                      replan_iters=5, t_start=T0, noise=0.02, seed=3)
    assert res.u.shape == (2, 1) and res.violations == 0
    np.testing.assert_allclose(res.times, T0 + DT * np.arange(3))
    # the recorded true trajectory is the reference solve under the applied schedule
    sched = pb.Schedule(jnp.asarray([0.0, T0, T0 + DT, T0 + 2 * DT]),
                        jnp.asarray([[1.0], res.u[0], res.u[1]]), jnp.asarray([1.0]))
    x = np.asarray(fm.predict(jnp.asarray(th_true), jnp.asarray(res.times), sched))
    np.testing.assert_allclose(res.true_states, x, rtol=1e-6, atol=1e-9)
    assert len(res.ess) == 2 and all(1.0 <= e <= 8.0 + 1e-9 for e in res.ess)
    z = res.final_values["Z@0"]
    assert res.target_error == pytest.approx(max(0.12 - z, z - 0.18, 0.0))
    assert res.success == (0.12 <= z <= 0.18)


def test_cli_control(tmp_path, idata, pw, monkeypatch):
    from pbhno_bayes import pathways
    from pbhno_bayes.cli import main

    # Hand the CLI this module's pathway object so the solver compiled above is reused (a new
    # pathway object is a new static argument and would cost a full recompilation).
    monkeypatch.setattr(pathways, "get", lambda name, **kw: pw if name == "mapk" else None)
    post = tmp_path / "post.nc"
    idata.posterior.attrs["pathway"] = "mapk"
    idata.to_netcdf(str(post))
    out = tmp_path / "plan.json"
    rc = main(["control", "mapk", str(post), "--target", "Z=0.12:0.18", "--horizon", "5", "--dt", "2",
               "--t-start", "2", "--draws", "8", "--iters", "3", "--out", str(out)])
    assert rc == 0 and out.exists() and out.with_suffix(".png").stat().st_size > 1000
    assert Plan.from_json(out).u.shape == (5, 1)


def test_cli_bad_target(tmp_path, idata, capsys):
    from pbhno_bayes.cli import main

    post = tmp_path / "post.nc"
    idata.to_netcdf(str(post))
    rc = main(["control", "mapk", str(post), "--target", "Q=1", "--out", str(tmp_path / "p.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown species 'Q'" in err and err.count("\n") == 1
    assert not (tmp_path / "p.json").exists()


class ShortHorizon(pb.ForwardModel):
    """A forward model valid only up to ``horizon`` (as a trained surrogate is)."""

    horizon: float = eqx.field(static=True)

    def predict(self, theta, times, control=None):
        raise AssertionError("must not be called: the plan is refused before any rollout")


def test_plan_beyond_surrogate_horizon_is_refused(pw, idata):
    with pytest.raises(ValueError, match="beyond the forward model's horizon 10"):
        robust_mpc(ShortHorizon(pathway=pw, horizon=10.0), idata, TARGET, horizon=T, dt=DT, t_start=2.0)


def test_closed_loop_replan_every_toy(pw):
    """replan_every=2: each plan's first two intervals are applied before re-planning; bad values refused.
    (Analytic model as planner and truth: no ODE compile.)"""
    toy = Hold(pathway=pw)
    th = np.tile(np.asarray(pw.nominal_values), (4, 1))
    res = closed_loop(toy, None, th, {"Z": 0.3}, n_steps=4, truth=toy, horizon=T, dt=DT, iters=30, lr=0.2,
                      replan_every=2, t_start=T0, noise=0.01, keep_plans=True, R=1e-4)
    assert len(res.plans) == 2 and len(res.planned_success) == 2 and len(res.ess) == 4
    np.testing.assert_allclose(res.u[:2], res.plans[0].u[:2])
    np.testing.assert_allclose(res.u[2:], res.plans[1].u[:2])
    np.testing.assert_allclose(res.plans[1].times[0], T0 + 2 * DT)
    # the truth is the toy model: Z after each interval is 0.1·u of that interval
    np.testing.assert_allclose(res.true_states[1:, 0, 2], 0.1 * res.u[:, 0], rtol=1e-9)
    assert res.success and res.violations == 0
    assert all(1.0 <= e <= 4.0 + 1e-9 for e in res.ess)  # reweighting after every interval
    z = res.final_values["Z@0"]
    assert res.target_error == pytest.approx(abs(z - 0.3)) and res.target_error <= 0.03
    with pytest.raises(ValueError, match="replan_every"):
        closed_loop(toy, None, th, {"Z": 0.3}, n_steps=2, truth=toy, horizon=T, dt=DT, replan_every=T + 1, t_start=T0)


def test_draw_failing_mid_optimisation_is_dropped(pw):
    """A draw that solves under the initial controls but fails once the stimulus exceeds 1.5 (a
    surrogate leaving its training range): the draw is dropped, the others still reach the target."""

    class FailsLate(pb.ForwardModel):
        def predict(self, theta, times, control=None):
            x = Hold(pathway=pw).predict(theta, times, control)
            return jnp.where((theta[1] > 5.0) & (jnp.max(control.values) > 1.5), jnp.nan, x)

    th = np.tile(np.asarray(pw.nominal_values), (4, 1))
    th[2, 1] = 10.0  # k2 does not enter Hold's output: only the failure distinguishes this draw
    p = robust_mpc(FailsLate(pathway=pw), th, {"Z": 0.3}, horizon=T, dt=DT, iters=60, lr=0.2, t_start=T0, R=1e-4)
    assert p.n_dropped == 1 and p.n_rejected >= 1 and np.all(np.isfinite(p.u))
    assert p.u.min() > 2.7  # the remaining draws reach Z = 0.3 (U = 3)
    assert p.n_failed == 1 and p.success_probability == pytest.approx(0.75)
