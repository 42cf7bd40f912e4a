import argparse
import json

import arviz as az
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import pbhno_bayes as pb
from pbhno_bayes.identify import cli


class ClosedFormMAPK(pb.ForwardModel):
    """A closed-form stand-in for the MAPK solve (each stage a first-order relaxation): the diagnose
    pipeline (table, Fisher, figures, storage) without compiling a Jacobian through the ODE solver,
    which test_identify.py already covers."""

    def predict(self, theta, times, control=None):
        t = jnp.asarray(times)
        k = theta
        X = k[0] / (k[0] + k[1]) * (1 - jnp.exp(-(k[0] + k[1]) * t))
        Y = k[2] / (k[2] + k[3]) * (1 - jnp.exp(-(k[2] + k[3]) * t)) * X
        Z = k[4] / (k[4] + k[5]) * (1 - jnp.exp(-(k[4] + k[5]) * t)) * Y
        return jnp.stack([X, Y, Z], -1)[:, None, :]


def _parser():
    p = argparse.ArgumentParser(prog="pbhno")
    cli.register(p.add_subparsers(dest="cmd"))
    return p


def _posterior(pw, obs, with_sigma):
    rng = np.random.default_rng(0)
    lt = rng.normal(0.0, [0.45, 0.2, 0.05][: len(pw.free)], size=(2, 200, len(pw.free)))
    idata = az.from_dict(posterior={"log_theta": lt, "theta": np.exp(lt)}, coords={"param": list(pw.free)},
                         dims={"log_theta": ["param"], "theta": ["param"]})
    idata.posterior.attrs.update(pathway="mapk", pathway_kwargs=json.dumps(pw.kwargs), forward="mechanistic")
    dims = ("time", "cell", "species")
    data = {"y": (dims, obs.values)}
    if with_sigma:  # as pb.fit / `pbhno fit` store it
        data["sigma"] = (dims, np.where(np.isfinite(obs.values), obs.sigma, np.nan))
    od = xr.Dataset(data, coords={"time": obs.times, "cell": list(obs.cells), "species": list(obs.species)})
    idata.add_groups({"observed_data": od})
    return idata


def test_diagnose_cli_writes_report(tmp_path, mapk_setup, monkeypatch):
    """A posterior as pb.fit / `pbhno fit` writes it (observed_data with y and sigma): no --sigma needed;
    table, Fisher section (Cramér–Rao from the stored sigma) and figures are written."""
    _, _, obs, _ = mapk_setup
    pw = pb.pathways.mapk(free=["k1", "k3", "k5"])  # three free parameters keep the figures cheap
    # The rebuild of the forward model from the file's attrs is checked in test_forward_from_idata.
    monkeypatch.setattr(cli, "_forward_from_idata", lambda idata: ClosedFormMAPK(pw))
    post = tmp_path / "post.nc"
    _posterior(pw, obs, with_sigma=True).to_netcdf(str(post))
    out = tmp_path / "diag"
    args = _parser().parse_args(["diagnose", str(post), "--out", str(out)])
    assert args.func(args) == 0
    md = (out / "identifiability.md").read_text()
    assert "| k1 |" in md and "| k5 |" in md and "Fisher information at the posterior mean" in md and "Cramér–Rao" in md
    for f in ("identify_prior_posterior.png", "identify_pair.png", "identify_fisher_spectrum.png"):
        assert (out / f).stat().st_size > 1000
    bad = _parser().parse_args(["diagnose", str(tmp_path / "nope.nc"), "--out", str(out)])
    with pytest.raises(FileNotFoundError, match="not found"):
        bad.func(bad)


def test_forward_from_idata():
    pw = pb.pathways.mapk()
    idata = az.from_dict(posterior={"log_theta": np.zeros((1, 2, 6))}, coords={"param": list(pw.free)},
                         dims={"log_theta": ["param"]})
    with pytest.raises(ValueError, match="no 'pathway' attribute"):
        cli._forward_from_idata(idata)
    idata.posterior.attrs.update(pathway="mapk", pathway_kwargs=json.dumps(pw.kwargs), forward="mechanistic")
    fm = cli._forward_from_idata(idata)
    assert isinstance(fm, pb.MechanisticModel) and fm.pathway.name == "mapk"


def test_diagnose_refuses_bad_input_in_one_line(tmp_path, mapk_setup, capsys):
    """Each refused before any work, one line, exit 2: a posterior that is not NetCDF, an --out that is a
    file, data with a species the model lacks, a non-positive --sigma, and --sigma over the data's own."""
    from pbhno_bayes.cli import main

    _, _, obs, _ = mapk_setup
    pw = pb.pathways.mapk(free=["k1", "k3", "k5"])
    post = tmp_path / "post.nc"
    _posterior(pw, obs, with_sigma=True).to_netcdf(str(post))
    data = tmp_path / "d.csv"
    data.write_text("time,species,value,sigma\n1.0,Z,0.1,0.05\n2.0,Z,0.2,0.05\n")
    unknown = tmp_path / "w.csv"
    unknown.write_text("time,species,value,sigma\n1.0,W,0.1,0.05\n")
    nosig = tmp_path / "n.csv"
    nosig.write_text("time,species,value\n1.0,Z,0.1\n2.0,Z,0.2\n")
    cases = [
        ([str(data), "--out", str(tmp_path / "o")], "as an InferenceData NetCDF"),
        ([str(post), "--out", str(data)], "is an existing file; give a directory"),
        ([str(post), "--data", str(unknown), "--out", str(tmp_path / "o")], "species 'W' unknown to pathway 'mapk'"),
        ([str(post), "--data", str(nosig), "--sigma", "-1", "--out", str(tmp_path / "o")], "--sigma must be a positive"),
        ([str(post), "--data", str(data), "--sigma", "5", "--out", str(tmp_path / "o")], "the observations carry one"),
    ]
    for args, needle in cases:
        assert main(["diagnose", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, (args, err)
    assert not (tmp_path / "o").exists()


def test_identifiability_refuses_what_fisher_refuses(mapk_setup):
    """The Cramér–Rao column used to swallow every ValueError and come back NaN without a word."""
    _, _, obs, _ = mapk_setup
    pw = pb.pathways.mapk(free=["k1", "k3", "k5"])
    model = ClosedFormMAPK(pw)
    idata = _posterior(pw, obs, with_sigma=False)
    table = pb.identifiability(model, obs, idata)
    assert all(np.isfinite(r["cr_sd"]) and r["cr_sd"] > 0 for r in table.rows)
    with pytest.raises(ValueError, match="sigma must be positive"):
        pb.identifiability(model, obs, idata, sigma=-1.0)
    w = pb.Observations.from_arrays(obs.times, obs.values[:, :, :1], species=["W"], cells=[0])
    with pytest.raises(ValueError, match=r"observed species \['W'\] not in mapk"):
        pb.identifiability(model, w, idata)
    nosig = pb.Observations.from_arrays(obs.times, obs.values, species=list(obs.species), cells=[0])
    assert all(np.isnan(r["cr_sd"]) for r in pb.identifiability(model, nosig, idata).rows)  # no noise level known
