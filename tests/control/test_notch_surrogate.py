"""Robust MPC and closed loop on Notch with the pretrained hybrid surrogate (planning) and the
reference solver (true system). Slow: compiling the surrogate rollout and its gradient takes minutes
on a 2-core CPU."""

import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.control import closed_loop, robust_mpc

pytestmark = pytest.mark.slow

TARGET = {"H@1": {"value": 5.0, "tol": 1.0}, "H@0": {"value": 0.0, "tol": 0.5}}


@pytest.fixture(scope="module")
def sur():
    return pb.HybridSurrogate.pretrained("notch")


def _draws(pw, n, sd=0.1, seed=0):
    rng = np.random.default_rng(seed)
    th = np.tile(np.asarray(pw.nominal_values), (n, 1))
    fi = [pw.param_names.index(p) for p in pw.free]
    th[:, fi] *= np.exp(sd * rng.standard_normal((n, len(fi))))
    return th


def test_notch_surrogate_plan_and_closed_loop(sur):
    pw = sur.pathway
    th = _draws(pw, 2)
    plan = robust_mpc(sur, th, TARGET, horizon=2, dt=3.0, t_start=24.0, iters=4, lr=0.2)
    assert plan.u.shape == (2, 2) and plan.channels == ("ligand", "inhibitor") and np.all(np.isfinite(plan.u))
    assert np.all(plan.u[:, 0] <= 2.0) and np.all(plan.u[:, 1] <= 1.0) and np.all(plan.u >= 0)
    assert set(plan.bands) == {"H@0", "H@1"} and plan.n_failed == 0
    hist = np.asarray([h for h in plan.cost_history if h is not None and np.isfinite(h)])
    assert hist.size >= 1 and plan.objective == pytest.approx(hist.min())  # the best finite iterate is returned
    # planning beyond the surrogate's trained horizon (48) is refused, not extrapolated
    with pytest.raises(ValueError, match="beyond the forward model's horizon"):
        robust_mpc(sur, th, TARGET, horizon=2, dt=13.0, t_start=24.0, iters=1)
    res = closed_loop(sur, th[0], th, TARGET, n_steps=1, truth=pb.MechanisticModel(pw), horizon=2, dt=3.0,
                      t_start=24.0, iters=2, noise=0.1)
    assert res.u.shape == (1, 2) and res.violations == 0 and np.all(np.isfinite(res.true_states))
    assert set(res.final_values) == {"H@0", "H@1"}
