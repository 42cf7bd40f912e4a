"""pb.fit: analytic (linear-Gaussian) posterior, failed solves counted, seeds, bad input, Stan."""

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.infer import UserModel, fit

TIMES = np.array([0.5, 1.0, 1.5, 2.0, 3.0])
SIG = 0.3


def _linear_model(max_steps=64):
    # dx_j/dt = log θ_j  =>  x_j(t) = t·log θ_j: the output is linear in log θ. The right-hand
    # side is NaN (failed solve) when a exceeds the fixed parameter ``cap``; with the default
    # cap = 1e6 that never happens.
    def rhs(t, x, p):
        r = jnp.stack([jnp.log(p["a"]), jnp.log(p["b"])])
        return jnp.where(p["a"] > p["cap"], jnp.nan, r)

    return UserModel(rhs, species=("A", "B"), param_names=("a", "b", "cap"), init=(0.0, 0.0),
                     nominal={"cap": 1e6}, max_steps=max_steps, name="linear")


# One forward model for the whole module: compiled kernels are cached per forward model, so the
# fits below share their compilations (as a user refitting one model would).
FM = _linear_model()
NUTS_KW = dict(chains=2, warmup=300, samples=1000, svi_steps=200)  # SVI only starts the chains here


def _data(seed=0):
    rng = np.random.default_rng(seed)
    truth = np.array([0.3, -0.2])
    y = TIMES[:, None] * truth[None] + SIG * rng.standard_normal((TIMES.size, 2))
    return pb.Observations.from_arrays(TIMES, y, ("A", "B"), sigma=SIG)


def _analytic(obs, prior):
    # Posterior of log θ: precision Σ⁻¹ + Σ_t t²/σ² I, mean by the normal equations.
    y = obs.values[:, 0, :]
    prec = np.linalg.inv(prior.cov) + np.eye(2) * np.sum(TIMES**2) / SIG**2
    cov = np.linalg.inv(prec)
    mean = cov @ (np.linalg.inv(prior.cov) @ prior.mean + (TIMES @ y) / SIG**2)
    return mean, np.sqrt(np.diag(cov))


@pytest.fixture(scope="module")
def conj():
    obs = _data()
    prior = pb.Prior([0.0, 0.0], cov=[[0.25, 0.1], [0.1, 0.25]], names=("a", "b"))
    idata = fit(FM, obs, prior, seed=1, progress=False, warn=False, **NUTS_KW)
    return obs, prior, idata


def test_linear_gaussian_posterior_matches_analytic(conj):
    import arviz as az

    obs, prior, idata = conj
    mean, sd = _analytic(obs, prior)
    lt = idata.posterior["log_theta"]
    assert lt.dims == ("chain", "draw", "param")
    assert list(lt["param"].values) == ["a", "b"]
    ess = az.ess(idata, var_names=["log_theta"])["log_theta"].values
    est_m = lt.mean(("chain", "draw")).values
    est_s = lt.std(("chain", "draw")).values
    # 4 Monte Carlo standard errors: sd/sqrt(ESS) for the mean, sd/sqrt(2 ESS) for the sd.
    np.testing.assert_array_less(np.abs(est_m - mean), 4 * sd / np.sqrt(ess))
    np.testing.assert_array_less(np.abs(est_s - sd), 4 * sd / np.sqrt(2 * ess) + 1e-3)
    np.testing.assert_allclose(idata.posterior["theta"].values, np.exp(lt.values))


def test_inference_data_groups(conj):
    _, _, idata = conj
    for g in ("posterior", "prior", "posterior_predictive", "observed_data", "log_likelihood", "sample_stats"):
        assert g in idata.groups()
    assert idata.posterior_predictive["y"].dims == ("chain", "draw", "time", "cell", "species")
    assert idata.sample_stats["n_failed_solves"].dims == ("chain",)
    assert idata.attrs["forward"] == "user" and idata.attrs["pathway"] == "linear"
    assert int(idata.sample_stats["diverging"].sum()) == 0


def test_same_seed_same_draws_svi():
    obs = _data()
    kw = dict(chains=2, samples=50, method="svi", svi_steps=20, svi_restarts=1, progress=False)
    prior = pb.Prior([0.0, 0.0], sd=[0.5, 0.5], names=("a", "b"))
    a = fit(FM, obs, prior, seed=3, **kw)
    b = fit(FM, obs, prior, seed=3, **kw)
    c = fit(FM, obs, prior, seed=4, **kw)
    np.testing.assert_array_equal(a.posterior["log_theta"].values, b.posterior["log_theta"].values)
    assert not np.array_equal(a.posterior["log_theta"].values, c.posterior["log_theta"].values)


def test_same_seed_same_draws_nuts(conj):
    obs, prior, idata = conj
    again = fit(FM, obs, prior, seed=1, progress=False, warn=False, **NUTS_KW)
    np.testing.assert_array_equal(idata.posterior["log_theta"].values, again.posterior["log_theta"].values)


def test_observed_data_carries_sigma(conj):
    obs, _, idata = conj
    od = idata.observed_data
    np.testing.assert_array_equal(od["y"].values, obs.values)
    np.testing.assert_allclose(od["sigma"].values, SIG)
    back = pb.Observations.from_dataset(od.rename({"y": "value"}))
    np.testing.assert_allclose(back.values, obs.values)
    np.testing.assert_allclose(back.sigma, obs.sigma)


def test_failed_solves_are_counted_not_raised():
    # Same model and NUTS settings as the analytic test (so no new compilation), but the fixed
    # parameter cap = 1.3: NaN right-hand side (solve fails) for a > 1.3, i.e. log a > 0.26,
    # and data with slope 0.3 for A, at the edge: warmup and sampling proposals hit it; the fit
    # must complete, count them and never return a draw in the failing region.
    obs = _data()
    prior = pb.Prior([0.2, 0.0], sd=[0.5, 0.5], names=("a", "b"))
    with pytest.warns(pb.infer.SamplingWarning):
        idata = fit(FM, obs, prior, fixed={"cap": 1.3}, seed=0, init="prior", progress=False, **NUTS_KW)
    assert idata.attrs["n_failed_solves"] > 0
    assert np.all(idata.posterior["theta"].sel(param="a").values <= 1.3)


def test_nuts_starts_are_redrawn_when_the_fallback_fails_too(monkeypatch):
    """cap = 1 makes the solve fail for log a > 0, which holds the prior median (log a = 0.2, the
    fallback start of ``init="prior"``) and two thirds of the prior; the data (slope −0.3) put the
    posterior well inside the working region. A start that fails and a fallback that fails are
    replaced by fresh prior draws that work (before: the chain started at the failing fallback);
    when nothing works within the rounds, a one-line error says so instead of sampling from it."""
    from pbhno_bayes.infer import engine as eng

    calls = []
    orig = eng.Engine.batched_vg

    def spy(self, z, data, batch=eng.VG_BATCH):
        out = orig(self, z, data, batch)
        calls.append(np.isfinite(out[0]))
        return out

    monkeypatch.setattr(eng.Engine, "batched_vg", spy)
    rng = np.random.default_rng(5)
    y = TIMES[:, None] * np.array([-0.3, -0.2])[None] + SIG * rng.standard_normal((TIMES.size, 2))
    obs = pb.Observations.from_arrays(TIMES, y, ("A", "B"), sigma=SIG)
    prior = pb.Prior([0.2, 0.0], sd=[0.5, 0.5], names=("a", "b"))
    idata = fit(FM, obs, prior, fixed={"cap": 1.0}, seed=0, init="prior", progress=False, warn=False, **NUTS_KW)
    assert not calls[0].all() and not calls[1].any() and len(calls) >= 3  # a start and the fallback failed
    la = idata.posterior["log_theta"].sel(param="a").values
    assert np.all(np.isfinite(la)) and np.all(la <= 0.0)
    assert abs(la.mean() + 0.3) < 0.1 and np.ptp(la[0]) > 0 and np.ptp(la[1]) > 0  # both chains sample
    calls.clear()
    with pytest.raises(ValueError, match=r"no NUTS start with a finite log density .* 8 further prior draws all failed"):
        fit(FM, obs, prior, fixed={"cap": 1e-3}, seed=0, init="prior", progress=False, **NUTS_KW)
    assert len(calls) == 2 + 4 and not any(c.any() for c in calls)


def test_bad_input():
    obs = _data()
    with pytest.raises(ValueError, match="chains"):
        fit(_linear_model(), obs, chains=0)
    with pytest.raises(ValueError, match="noise"):
        fit(_linear_model(), obs, noise="sometimes")
    with pytest.raises(ValueError, match="weights"):
        fit(_linear_model(), obs, weights=np.ones((2, 2)))
    with pytest.raises(ValueError, match="fixed"):
        fit(FM, obs, fixed={"a": 1.0})
    with pytest.raises(ValueError, match="fixed"):
        fit(FM, obs, fixed={"nope": 1.0})
    bad = pb.Observations.from_arrays(TIMES, np.ones((5, 1)), ("Q",), sigma=0.1)
    with pytest.raises(ValueError, match="species"):
        fit(_linear_model(), bad)


def test_user_model_nominal_values_come_from_the_prior():
    # a parameter with a prior and no nominal value gets the prior's mean; where the mean is not
    # finite (HalfCauchy) the median of fixed-seed draws, so the same model gets the same values
    import numpyro.distributions as dist

    def rhs(t, x, p):
        return jnp.stack([p["a"] - p["b"] * x[0]])

    def make(prior, nominal=None):
        return UserModel(rhs, species=("A",), param_names=("a", "b"), init=(0.0,), prior=prior,
                         nominal=nominal)

    m = make({"a": dist.LogNormal(0.5, 0.4), "b": dist.HalfCauchy(2.0)}, nominal=None)
    nom = m.pathway.nominal
    assert nom["a"] == pytest.approx(np.exp(0.5 + 0.4**2 / 2), rel=1e-6)
    assert nom["b"] == pytest.approx(2.0, rel=0.1)  # HalfCauchy(2) median = 2 tan(pi/4) = 2
    again = make({"a": dist.LogNormal(0.5, 0.4), "b": dist.HalfCauchy(2.0)})
    assert again.pathway.nominal_values == m.pathway.nominal_values
    assert make({"a": dist.HalfCauchy(2.0)}, nominal={"a": 3.0}).pathway.nominal_values[0] == 3.0
    # refused at construction, naming the parameter: support off θ > 0, batch shape, not a distribution
    with pytest.raises(ValueError, match=r"prior\['a'\] has support"):
        make({"a": dist.Normal(0.0, 1.0)})
    with pytest.raises(ValueError, match=r"prior\['b'\] must be a scalar"):
        make({"b": dist.LogNormal(jnp.zeros(2), 1.0)})
    with pytest.raises(ValueError, match=r"prior\['a'\] must be a numpyro distribution"):
        make({"a": 1.0})


STAN = Path(__file__).parent / "data" / "stan_mapk_summary.json"
PEER = Path(__file__).parent / "data" / "mapk_example_data.json"  # copy of shared/peers/


@pytest.mark.slow
def test_mapk_matches_stan():
    ref = json.loads(STAN.read_text())
    d = json.loads(PEER.read_text())
    obs = pb.Observations.from_arrays(d["t"], np.asarray(d["y"]), ("X", "Y", "Z"), sigma=d["sigma"])
    idata = fit(pb.MechanisticModel(pb.pathways.mapk()), obs, chains=4, warmup=500, samples=1000,
                seed=0, progress=False)
    lt = idata.posterior["log_theta"]
    m, s = lt.mean(("chain", "draw")).values, lt.std(("chain", "draw")).values
    rm, rs = np.asarray(ref["means"]), np.asarray(ref["sds"])
    assert np.all(np.abs(m - rm) < 0.15 * rs), (m, rm)
    assert np.all(np.abs(s / rs - 1) < 0.15), (s, rs)


def test_svi_laplace_is_exact_and_says_so_on_a_gaussian_posterior():
    """On the linear-Gaussian model the Laplace posterior is the exact posterior: moments match the
    analytic ones and the PSIS check (stored in attrs) finds nothing to correct."""
    obs = _data()
    prior = pb.Prior([0.0, 0.0], cov=[[0.25, 0.1], [0.1, 0.25]], names=("a", "b"))
    idata = fit(FM, obs, prior, method="svi", svi_steps=300, svi_restarts=1, chains=1, samples=2000,
                seed=2, progress=False)
    mean, sd = _analytic(obs, prior)
    lt = idata.posterior["log_theta"].values.reshape(-1, 2)
    np.testing.assert_allclose(lt.mean(0), mean, atol=4 * sd.max() / np.sqrt(2000))
    np.testing.assert_allclose(lt.std(0), sd, rtol=0.08)
    assert idata.attrs["svi_pareto_k"] < 0.5
    assert idata.attrs["svi_importance_ess"] > 0.9 * 2000


def test_svi_warns_when_the_gaussian_misses_the_posterior():
    """x_A(t) = t·(a + b) observed precisely: only the sum is identified, so the posterior of
    (log a, log b) is the curved ridge e^{z_a} + e^{z_b} ≈ 2 inside the prior, a banana no Gaussian
    at the mode fits. pb.fit must say so (PSIS k̂ > 0.7) instead of returning confident numbers.
    (PSIS cannot see a mode the Gaussian has no mass on: a check, not a proof.) Measured k̂ 0.89–1.08
    over seeds 0–4 with 4000 draws. An earlier version of this test (a weakly identified rate with a
    long tail to the prior) passed only because Adam stopped short of the mode; at the exact mode its
    Gaussian gives k̂ 0.45–0.99 depending on the seed (0.69 for seed 0)."""
    def rhs(t, x, p):
        return jnp.stack([p["a"] + p["b"]])

    fm = UserModel(rhs, species=("A",), param_names=("a", "b"), init=(0.0,), name="sum")
    rng = np.random.default_rng(0)
    y = TIMES[:, None] * 2.0 + 0.05 * rng.standard_normal((TIMES.size, 1))
    obs = pb.Observations.from_arrays(TIMES, y, ("A",), sigma=np.array([0.05]))
    prior = pb.Prior([0.0, 0.0], sd=[1.0, 1.0], names=("a", "b"))
    with pytest.warns(pb.SamplingWarning, match="k-hat"):
        idata = fit(fm, obs, prior, method="svi", svi_steps=200, svi_restarts=1, chains=1, samples=4000,
                    seed=0, progress=False)
    assert idata.attrs["svi_pareto_k"] > 0.7


def test_nuts_progress_reports_iterations_without_changing_draws(conj, capsys):
    # progress=True prints per-chain iteration reports from inside the compiled sampler (a long
    # fit is not silent for an hour); the draws are the same as without it (the module fixture's
    # fit: same data, prior, seed and settings, so only the reporting variant compiles here)
    obs, prior, quiet = conj
    capsys.readouterr()
    loud = fit(FM, obs, prior, seed=1, progress=True, warn=False, **NUTS_KW)
    err = capsys.readouterr().err
    total = NUTS_KW["warmup"] + NUTS_KW["samples"]
    every = total // 10
    for c in (0, 1):
        assert f"NUTS chain {c}: iteration {total}/{total} (sampling)" in err, err
        assert f"NUTS chain {c}: iteration {2 * every}/{total} (warmup)" in err, err
    assert err.count("NUTS chain 0: iteration") == 10
    assert "leapfrog steps per iteration so far" in err
    np.testing.assert_array_equal(quiet.posterior["log_theta"].values, loud.posterior["log_theta"].values)
