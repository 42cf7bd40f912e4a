"""``pbhno fit`` on the CSV from ``pbhno simulate mapk``: NetCDF round trip, self-contained file."""

import arviz as az
import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.cli import main


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit")
    csv, nc = d / "mapk.csv", d / "post.nc"
    assert main(["simulate", "mapk", "--times", "8", "--noise", "0.1", "--seed", "2", "--out", str(csv)]) == 0
    rc = main(["fit", "mapk", str(csv), "--method", "svi", "--chains", "2", "--samples", "50",
               "--svi-steps", "200", "--svi-restarts", "2", "--seed", "1", "--quiet", "--out", str(nc)])
    assert rc == 0
    return csv, nc


def test_fit_writes_readable_netcdf(fitted):
    csv, nc = fitted
    idata = az.from_netcdf(str(nc))
    lt = idata.posterior["log_theta"]
    assert lt.dims == ("chain", "draw", "param") and lt.shape[:2] == (2, 50)
    assert idata.posterior.attrs["pathway"] == "mapk"
    assert idata.posterior.attrs["forward"] == "mechanistic"
    obs = pb.Observations.from_csv(csv, pathway=pb.pathways.mapk())
    assert (idata.attrs["n_observed"], idata.attrs["n_missing"]) == (obs.n_observed, obs.n_missing)
    assert idata.attrs["n_observed"] == idata.log_likelihood.sizes["obs"] > 0
    assert not list(nc.parent.glob(".*tmp-*"))  # atomic write leaves no temporary behind
    # The posterior contracts around the simulation truth (nominal θ) for the free parameters.
    pw = pb.pathways.mapk()
    truth = np.log([pw.nominal_values[pw.param_names.index(n)] for n in lt["param"].values])
    err = np.abs(lt.mean(("chain", "draw")).values - truth)
    assert np.median(err) < 0.5, err


def test_file_rebuilds_observations(fitted):
    csv, nc = fitted
    obs = pb.Observations.from_csv(csv, pathway=pb.pathways.mapk())
    idata = az.from_netcdf(str(nc))
    # What `pbhno diagnose` does with the file alone:
    back = pb.Observations.from_dataset(idata.observed_data.rename({"y": "value"}))
    assert tuple(back.species) == tuple(obs.species)
    np.testing.assert_allclose(back.times, obs.times)
    np.testing.assert_allclose(back.values, obs.values, equal_nan=True)
    np.testing.assert_allclose(back.sigma[obs.mask], obs.sigma[obs.mask])


def test_bad_input(tmp_path, capsys):
    assert main(["fit", "mapk", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "p.nc")]) == 2
    assert "not found" in capsys.readouterr().err
    csv = tmp_path / "d.csv"
    csv.write_text("time,species,value\n1.0,X,0.1\n")
    assert main(["fit", "mapk", str(csv), "--out", str(tmp_path / "p.txt")]) == 2
    assert ".nc" in capsys.readouterr().err


def test_surrogate_choice_is_checked():
    """--surrogate picks a shipped surrogate of the same pathway; anything else is refused."""
    from argparse import Namespace

    from pbhno_bayes.infer.cli import _forward

    wnt = pb.pathways.wnt()
    assert _forward(Namespace(forward="surrogate", surrogate="wnt_learned"), wnt).skipped_blocks == ("fno",)
    assert _forward(Namespace(forward="surrogate", surrogate=None), wnt).skipped_blocks == ("fno", "corr")
    with pytest.raises(ValueError, match="a wnt model, not notch"):
        _forward(Namespace(forward="surrogate", surrogate="wnt_learned"), pb.pathways.notch())
    notch = pb.pathways.notch()
    learned = _forward(Namespace(forward="surrogate", surrogate="notch_learned"), notch)
    assert learned.skipped_blocks == ("fno",) and learned.corr_theta and learned.corr_control
    with pytest.raises(ValueError, match="a notch model, not wnt"):
        _forward(Namespace(forward="surrogate", surrogate="notch_learned"), wnt)
    with pytest.raises(ValueError, match="--forward surrogate only"):
        _forward(Namespace(forward="mechanistic", surrogate="wnt_learned"), wnt)
    with pytest.raises(ValueError, match="no pretrained surrogate"):
        _forward(Namespace(forward="surrogate", surrogate="wnt_v9"), wnt)
