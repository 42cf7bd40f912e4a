"""Long control validations (``pytest -m slow``): Notch on the reference solver, surrogate-style
member ensembles, and the SVI posterior update in closed loop."""

import arviz as az
import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.control import closed_loop, posterior_ensemble, robust_mpc
from pbhno_bayes.control.mpc import MPCProblem, build_problem, rollout

pytestmark = pytest.mark.slow


def test_notch_mechanistic_plan():
    """Notch (2 cells, 16×16 grid): a short robust plan over 3 draws stays feasible, is finite, lowers
    its objective, and reports per-cell bands for the targeted cell."""
    pw = pb.pathways.notch(cells=2, grid=16)
    fm = pb.MechanisticModel(pw, rtol=1e-5, atol=1e-7)
    rng = np.random.default_rng(0)
    mu = np.log([pw.nominal[n] for n in pw.free])
    th = np.tile(np.asarray(pw.nominal_values), (3, 1))
    th[:, [pw.param_names.index(n) for n in pw.free]] = np.exp(mu + 0.05 * rng.standard_normal((3, len(mu))))
    plan = robust_mpc(fm, th, {"H@1": (2.0, 4.0)}, horizon=3, dt=4.0, t_start=24.0, iters=4, lr=0.1)
    assert plan.u.shape == (3, 2) and np.all(np.isfinite(plan.u))
    assert np.all(plan.u[:, 0] <= 2.0) and np.all(plan.u[:, 1] <= 1.0) and np.all(plan.u >= 0)
    assert set(plan.bands) == {"H@1"}
    hist = np.asarray([h for h in plan.cost_history if h is not None])
    assert hist.min() <= hist[0]


class Members(pb.ForwardModel):
    """Two forward models as one ensemble (the shape a surrogate with K members presents)."""

    members: tuple

    def predict(self, theta, times, control=None):
        return self.members[0].predict(theta, times, control)


def test_members_multiply_the_ensemble():
    pw = pb.pathways.mapk()
    a, b = pb.MechanisticModel(pw), pb.MechanisticModel(pw, rtol=1e-4, atol=1e-6)
    fm = Members(pathway=pw, members=(a, b))
    th = np.exp(np.random.default_rng(1).normal(0, 0.2, (3, 6)))
    prob, _, _ = build_problem(fm, {"Z": 0.2}, horizon=3, dt=1.0, t_start=1.0)
    assert isinstance(prob, MPCProblem)
    X = np.asarray(rollout(prob, np.ones((3, 1)), th))
    assert X.shape == (6, 4, 1, 3)
    np.testing.assert_allclose(X[:3], X[3:], rtol=1e-3, atol=1e-5)  # same model, two tolerances
    plan = robust_mpc(fm, th, {"Z": 0.2}, horizon=3, dt=1.0, t_start=1.0, iters=5)
    assert plan.n_members == 2 and plan.n_draws == 3


def test_closed_loop_svi_update():
    pw = pb.pathways.mapk()
    fm = pb.MechanisticModel(pw)
    obs = pb.simulate(pw, times=5, noise=0.1, seed=3)
    rng = np.random.default_rng(4)
    idata = az.from_dict(posterior={"log_theta": rng.normal(0, 0.2, (1, 40, 6))}, coords={"param": list(pw.free)},
                         dims={"log_theta": ["param"]})
    res = closed_loop(fm, None, idata, {"Z": (0.12, 0.18)}, n_steps=2, obs=obs, update="svi", horizon=4, dt=1.0,
                      draws=8, iters=10, replan_iters=5, noise=0.02, svi_kwargs=dict(svi_steps=200, svi_restarts=1))
    assert res.update == "svi" and res.ess == [8.0, 8.0]
    assert res.times[0] == pytest.approx(obs.times[-1])
    aug = res.observations(obs)
    assert aug.times.size == obs.times.size + 2
    np.testing.assert_allclose(aug.values[-1, 0], res.measurements[-1, 0])
    ens = posterior_ensemble(pw, idata)
    assert ens.size == 40
