import numpy as np
import pytest

import pbhno_bayes as pb


def test_default_prior_matches_table_ii():
    pw = pb.pathways.mapk()
    pr = pw.prior
    assert pr.names == pw.free
    np.testing.assert_allclose(pr.mean, np.log([pw.nominal[n] for n in pw.free]))
    np.testing.assert_allclose(pr.cov, np.diag(np.full(len(pw.free), 0.25)))


def test_full_covariance_and_sampling_moments():
    cov = np.array([[0.25, 0.1], [0.1, 0.16]])
    pr = pb.Prior([0.0, 1.0], cov=cov, names=["a", "b"])
    x = pr.sample(200_000, seed=1)
    # Monte Carlo: se of a covariance entry ~ sqrt((s_ii s_jj + s_ij^2)/n) < 1e-3 here
    np.testing.assert_allclose(np.cov(x.T), cov, atol=4e-3)
    np.testing.assert_allclose(x.mean(0), [0.0, 1.0], atol=4e-3)


def test_log_prob_matches_scipy():
    from scipy.stats import multivariate_normal

    cov = np.array([[0.25, 0.1], [0.1, 0.16]])
    pr = pb.Prior({"a": 0.3, "b": -0.2}, cov=cov)
    pts = np.array([[0.1, 0.2], [1.0, -1.0]])
    np.testing.assert_allclose(np.asarray(pr.log_prob(pts)),
                               multivariate_normal([0.3, -0.2], cov).logpdf(pts), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mean=[0, 0], cov=[[1, 2], [2, 1]], names=["a", "b"]), "not positive definite"),
        (dict(mean=[0, 0], cov=[[1, 0.5], [0.4, 1]], names=["a", "b"]), "not symmetric"),
        (dict(mean=[0, 0], sd=[-1, 1], names=["a", "b"]), "sd must be finite and > 0"),
        (dict(mean=[0, 0], names=["a"]), "1 names for 2 means"),
        (dict(mean=[0, np.nan], names=["a", "b"]), "NaN"),
        (dict(mean=[0, 0], sd=1, cov=np.eye(2), names=["a", "b"]), "either sd or cov"),
        (dict(mean=[0, 0]), "names"),
    ],
)
def test_bad_prior_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pb.Prior(**kwargs)


def test_subset_is_marginal():
    cov = np.array([[0.25, 0.1, 0.0], [0.1, 0.16, 0.02], [0.0, 0.02, 0.09]])
    pr = pb.Prior([1, 2, 3], cov=cov, names=["a", "b", "c"]).subset(["c", "a"])
    assert pr.names == ("c", "a")
    np.testing.assert_allclose(pr.cov, [[0.09, 0.0], [0.0, 0.25]])
