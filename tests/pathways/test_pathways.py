import json

import numpy as np
import pytest

import pbhno_bayes as pb


@pytest.mark.parametrize("name, kw", [("mapk", {}), ("mapk_feedback", {}), ("notch", {"grid": 16}),
                                      ("notch", {"cells": (2, 2), "grid": 16}), ("wnt", {"grid": 16})])
def test_pathway_contract_and_rebuild(name, kw):
    pw = pb.pathways.get(name, **kw)
    assert len(pw.param_names) == len(pw.nominal_values) == len(pw.nominal)
    assert set(pw.free) <= set(pw.param_names)
    assert pw.prior.names == pw.free
    assert len(pw.control_channels) == len(pw.control_default) == len(pw.control_bounds)
    assert set(pw.default_observe) <= set(pw.species)
    rebuilt = pb.pathways.get(name, **json.loads(json.dumps(pw.kwargs)))
    assert rebuilt.param_names == pw.param_names and rebuilt.n_cells == pw.n_cells
    assert rebuilt.free == pw.free


def test_geometry_masks_and_averaging():
    geo = pb.pathways.two_cell(n=32)
    m = geo.masks
    assert m.shape == (2, 32, 32)
    assert np.all(m.sum(axis=(1, 2)) > 0) and not np.any((m[0] > 0) & (m[1] > 0))
    np.testing.assert_allclose(geo.averaging.sum(axis=(1, 2)), 1.0)
    # the membrane band is a physical width: its area converges under refinement
    a32 = pb.pathways.two_cell(n=32).masks[0].sum() / 32**2
    a64 = pb.pathways.two_cell(n=64).masks[0].sum() / 64**2
    assert abs(a32 - a64) / a64 < 0.15


def test_lattice_cells():
    pw = pb.pathways.notch(cells=9, grid=32)
    assert pw.n_cells == 9 and pw.geometry.masks.shape == (9, 32, 32)
    assert np.all(np.diag(pw.sensing_matrix) == 0)


@pytest.mark.parametrize("call, match", [
    (lambda: pb.pathways.notch(cells=3), "square number"),
    (lambda: pb.pathways.notch(free=["nope"]), "unknown free"),
    (lambda: pb.pathways.get("egfr"), "unknown pathway"),
    (lambda: pb.pathways.notch(grid=2), "at least 4"),
    (lambda: pb.pathways.mapk().theta_vector({"k9": 1.0}), "unknown parameter"),
    (lambda: pb.pathways.mapk().theta_vector([1.0, 2.0]), "shape"),
])
def test_bad_pathway_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
