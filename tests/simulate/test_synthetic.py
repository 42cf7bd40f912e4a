import numpy as np
import pytest

import pbhno_bayes as pb


def test_same_seed_same_data_and_noise_definition():
    pw = pb.pathways.mapk()
    a = pb.simulate(pw, times=12, noise=0.1, seed=3)
    b = pb.simulate(pw, times=12, noise=0.1, seed=3)
    c = pb.simulate(pw, times=12, noise=0.1, seed=4)
    assert a == b and not np.array_equal(a.values, c.values)
    assert a.times.shape == (12,) and np.all(np.diff(a.times) > 0) and a.times[-1] <= pw.t_end
    # sigma_s = noise × peak |x_s| over a dense grid; peaks of the nominal MAPK are below 1
    clean = pb.simulate(pw, times=a.times, noise=0.0)
    peak = np.asarray(pb.MechanisticModel(pw).predict(None, np.linspace(0, a.times[-1], 201))).max(axis=(0, 1))
    np.testing.assert_allclose(a.sigma[0, 0], 0.1 * peak, rtol=1e-3)
    assert clean.sigma is None


def test_noise_is_gaussian_with_stated_sd():
    pw = pb.pathways.mapk()
    ts = np.linspace(0.5, 10, 200)
    clean = pb.simulate(pw, times=ts, noise=0.0).values
    noisy = pb.simulate(pw, times=ts, noise=0.2, seed=1)
    z = (noisy.values - clean) / noisy.sigma
    # 600 standard normals: sd within ±4 standard errors (se ≈ 1/sqrt(2·600))
    assert abs(z.std() - 1.0) < 4 / np.sqrt(1200) and abs(z.mean()) < 4 / np.sqrt(600)


def test_partial_observation_spatial():
    pw = pb.pathways.notch(grid=16)
    obs = pb.simulate(pw, times=6, observe=["H"], cells=[1], seed=0)
    assert obs.species == ("H",) and obs.cells == (1,) and obs.values.shape == (6, 1, 1)


@pytest.mark.parametrize("kw, match", [
    (dict(observe=["Q"]), "unknown species"),
    (dict(cells=[3]), "unknown cell"),
    (dict(noise=-0.1), "noise"),
    (dict(times=[1.0, np.nan]), "finite"),
    (dict(times=[-1.0, 2.0]), ">= 0"),
    (dict(times=[2.0, 1.0]), "increasing"),
    (dict(times=0), "positive"),
    (dict(theta={"k1": -1.0}), "> 0"),
])
def test_bad_simulate_input(kw, match):
    with pytest.raises(ValueError, match=match):
        pb.simulate(pb.pathways.mapk(), **kw)
