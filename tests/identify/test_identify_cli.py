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
    with pytest.raises(ValueError, match="not found"):
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
