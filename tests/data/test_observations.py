"""Tests for pbhno_bayes.data.observations and pbhno_bayes._io."""

from __future__ import annotations

import os
import types

import numpy as np
import pytest

from pbhno_bayes._io import atomic_path, atomic_write_bytes, atomic_write_text
from pbhno_bayes.data.observations import Observations

PATHWAY = types.SimpleNamespace(species=("X", "Y", "Z"), n_cells=2, name="fake")


@pytest.fixture
def obs() -> Observations:
    """(T=4, C=2, S=3) data with a NaN pattern, per-point sigma, unsorted input times."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(4, 2, 3))
    values[1, 0, 2] = np.nan
    values[:, 1, 0] = np.nan  # a whole (cell, species) column missing
    values[2, 1, 1] = -0.3  # negative values are legitimate (noise)
    sigma = rng.uniform(0.05, 0.5, size=(4, 2, 3))
    return Observations.from_arrays(
        [0.0, 0.1, 1.0 / 3.0, 2.5e-7], values, ("X", "Y", "Z"), sigma=sigma, pathway=PATHWAY
    )


def write(tmp_path, text, name="obs.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def no_temp_files(directory) -> bool:
    return not [f for f in os.listdir(directory) if ".tmp-" in f]


# ---------------------------------------------------------------------- construction


def test_from_arrays_sorts_times_and_permutes_values_and_sigma():
    values = np.array([[3.0, 30.0], [1.0, 10.0], [2.0, 20.0]])
    sigma = np.array([[0.3, 3.0], [0.1, 1.0], [0.2, 2.0]])
    o = Observations.from_arrays([3.0, 1.0, 2.0], values, ["A", "B"], sigma=sigma)
    np.testing.assert_array_equal(o.times, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(o.values[:, 0, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(o.sigma[:, 0, 1], [1.0, 2.0, 3.0])


def test_single_cell_2d_input():
    o = Observations.from_arrays([0.0, 1.0], [[1.0, np.nan], [2.0, 3.0]], ("X", "Y"), sigma=0.1)
    assert o.shape == (2, 1, 2)
    assert o.cells == (0,)
    assert o.values.dtype == np.float64
    assert (o.n_observed, o.n_missing) == (3, 1)
    # sigma is canonicalised to NaN where nothing was observed
    assert np.isnan(o.sigma[0, 0, 1]) and o.sigma[1, 0, 1] == 0.1
    o1 = Observations.from_arrays([0.0], [[1.0]], "X", cells=[1], pathway=PATHWAY)
    assert o1.cells == (1,) and o1.pathway_name == "fake"


def test_sigma_forms_broadcast():
    v = np.ones((2, 2, 3))
    per_species = Observations.from_arrays([0, 1], v, PATHWAY.species, sigma=[0.1, 0.2, 0.3])
    np.testing.assert_array_equal(per_species.sigma[1, 1], [0.1, 0.2, 0.3])
    scalar = Observations.from_arrays([0, 1], v, PATHWAY.species, sigma=0.5)
    assert np.all(scalar.sigma == 0.5)
    assert Observations.from_arrays([0, 1], v, PATHWAY.species).sigma is None
    with pytest.raises(ValueError, match="cannot be broadcast"):
        Observations.from_arrays([0, 1], v, PATHWAY.species, sigma=[0.1, 0.2])


def test_cells_are_sorted_with_values():
    v = np.zeros((1, 2, 1))
    v[0, :, 0] = [10.0, 20.0]
    o = Observations.from_arrays([0.0], v, ["X"], cells=[1, 0])
    assert o.cells == (0, 1)
    np.testing.assert_array_equal(o.values[0, :, 0], [20.0, 10.0])


def test_immutable_and_to_array_is_a_copy(obs):
    with pytest.raises(AttributeError):
        obs.times = np.zeros(4)
    with pytest.raises(ValueError):
        obs.values[0, 0, 0] = 1.0  # read-only array
    arr = obs.to_array()
    arr[0, 0, 0] = 123.0
    assert obs.values[0, 0, 0] != 123.0
    np.testing.assert_array_equal(obs.mask, ~np.isnan(arr))


def test_missing_counts(obs):
    assert obs.n_missing == 1 + 4
    assert obs.n_observed == 4 * 2 * 3 - 5
    assert obs.mask.dtype == bool and obs.mask.shape == (4, 2, 3)
    assert int(obs.mask.sum()) == obs.n_observed


def test_repr_is_one_informative_line(obs):
    r = repr(obs)
    assert "\n" not in r
    for part in ("T=4", "cells=(0, 1)", "'X'", "n_observed=19", "n_missing=5", "fake"):
        assert part in r


def test_select(obs):
    sub = obs.select(species=["Z", "X"], cells=1)
    assert sub.species == ("Z", "X") and sub.cells == (1,)
    np.testing.assert_array_equal(sub.values[:, 0, 0], obs.values[:, 1, 2])
    np.testing.assert_array_equal(sub.sigma[:, 0, 1], obs.sigma[:, 1, 0], strict=True)
    assert obs.select() == obs
    with pytest.raises(ValueError, match="cannot select species 'Q'; available"):
        obs.select(species="Q")
    with pytest.raises(ValueError, match=r"cannot select cell\(s\) \[5\]"):
        obs.select(cells=[5])


# ---------------------------------------------------------------------- round trips


def test_csv_round_trip_exact(obs, tmp_path):
    p = obs.to_csv(tmp_path / "sub" / "obs.csv")  # parent dir is created
    back = Observations.from_csv(p, pathway=PATHWAY)
    assert back == obs  # exact floats, same NaN pattern, same sigma
    np.testing.assert_array_equal(back.mask, obs.mask)
    assert no_temp_files(tmp_path / "sub")
    assert Observations.from_csv(p).pathway_name is None  # CSV does not store the pathway


def test_csv_round_trip_without_sigma_and_odd_grid(tmp_path):
    # species order not alphabetical, a fully-missing time, a fully-missing cell and
    # a species missing at the first time: all must survive the round trip.
    v = np.full((3, 3, 2), np.nan)
    v[0, 0, 1] = 1.0
    v[2, 0, 0] = 2.0
    o = Observations.from_arrays([0.0, 1.0, 2.0], v, ("Y", "X"), cells=[0, 1, 4])
    back = Observations.from_csv(o.to_csv(tmp_path / "o.csv"))
    assert back == o
    assert back.species == ("Y", "X") and back.cells == (0, 1, 4)
    assert back.sigma is None


def test_netcdf_round_trip(obs, tmp_path):
    p = obs.to_netcdf(tmp_path / "obs.nc")
    back = Observations.from_netcdf(p)
    assert back == obs and back.pathway_name == "fake"
    assert no_temp_files(tmp_path)
    no_sigma = Observations.from_arrays([0.0, 1.0], [[1.0], [np.nan]], ["X"])
    assert Observations.from_netcdf(no_sigma.to_netcdf(tmp_path / "b.nc")) == no_sigma


def test_dataset_layout(obs):
    ds = obs.to_dataset()
    assert ds["value"].dims == ("time", "cell", "species")
    assert list(ds["species"].values) == ["X", "Y", "Z"]
    assert ds.attrs["pathway_name"] == "fake"
    assert Observations.from_dataset(ds.transpose("species", "time", "cell")) == obs


# ---------------------------------------------------------------------- from_csv


def test_from_csv_layout_and_missing(tmp_path):
    p = write(
        tmp_path,
        "species,value,time,cell\n"  # column order is free
        "Z,1.5,2,1\n"
        "X,-0.5,0,0\n"  # negative value: observed
        "X,,1,0\n"  # empty: missing
        "Z,NA,0,1\n"
        "X,nan,2,0\n",
    )
    o = Observations.from_csv(p, pathway=PATHWAY)
    assert o.species == ("X", "Z")  # pathway order restricted to those present
    assert o.cells == (0, 1)
    np.testing.assert_array_equal(o.times, [0.0, 1.0, 2.0])
    assert o.n_observed == 2
    assert o.n_missing == 3 * 2 * 2 - 2  # includes grid entries never mentioned
    assert o.values[2, 1, 1] == 1.5 and o.values[0, 0, 0] == -0.5
    assert o.sigma is None


def test_from_csv_defaults_cell_and_first_appearance_order(tmp_path):
    p = write(tmp_path, "time,species,value,sigma\n0,B,1,0.1\n0,A,2,0.2\n1,B,3,0.1\n")
    o = Observations.from_csv(p)
    assert o.species == ("B", "A") and o.cells == (0,)
    assert o.sigma[0, 0, 1] == 0.2 and np.isnan(o.sigma[1, 0, 1])


# ---------------------------------------------------------------------- bad input

HEAD = "time,cell,species,value,sigma\n"

BAD_CSV = [
    ("nan_time", HEAD + "0,0,X,1,0.1\nnan,0,X,1,0.1\n", r"line 3: time is NaN"),
    ("inf_time", HEAD + "inf,0,X,1,0.1\n", r"line 2: time is infinite"),
    ("negative_time", HEAD + "-1,0,X,1,0.1\n", r"line 2: negative time -1\.0"),
    (
        "non_numeric_time",
        HEAD + "abc,0,X,1,0.1\n",
        r"line 2: non-numeric time 'abc' in column 'time'",
    ),
    (
        "non_numeric_value",
        HEAD + "0,0,X,1,0.1\n1,0,X,x1,0.1\n",
        r"line 3: non-numeric value 'x1' in column 'value'",
    ),
    (
        "non_numeric_sigma",
        HEAD + "0,0,X,1,big\n",
        r"line 2: non-numeric sigma 'big' in column 'sigma'",
    ),
    (
        "non_integer_cell",
        HEAD + "0,1.5,X,1,0.1\n",
        r"line 2: non-integer cell '1.5' in column 'cell'",
    ),
    ("negative_cell", HEAD + "0,-1,X,1,0.1\n", r"line 2: negative cell -1"),
    ("inf_value", HEAD + "0,0,X,inf,0.1\n", r"line 2: infinite value 'inf' in column 'value'"),
    ("zero_sigma", HEAD + "0,0,X,1,0\n", r"line 2: sigma 0\.0 in column 'sigma' .*> 0"),
    ("negative_sigma", HEAD + "0,0,X,1,-2\n", r"line 2: sigma -2\.0 in column 'sigma'"),
    ("inf_sigma", HEAD + "0,0,X,1,inf\n", r"line 2: sigma inf in column 'sigma'"),
    (
        "missing_sigma",
        HEAD + "0,0,X,1,\n",
        r"line 2: sigma missing in column 'sigma' at an observed point",
    ),
    (
        "duplicate_rows",
        HEAD + "0,0,X,1,0.1\n1,0,X,1,0.1\n0.0,0,X,2,0.1\n",
        r"duplicate \(time, cell, species\) rows: lines 2 and 4",
    ),
    ("missing_column", "time,species\n0,X\n", r"missing required column\(s\) 'value'"),
    (
        "extra_column",
        "time,species,value,unit,note\n0,X,1,nM,a\n",
        r"unknown column\(s\) 'unit', 'note'",
    ),
    ("trailing_comma", "time,species,value,\n0,X,1,\n", r"empty column name at position 4"),
    ("duplicate_column", "time,species,value,time\n0,X,1,0\n", r"duplicate column\(s\) 'time'"),
    ("ragged_row", "time,species,value\n0,X\n", r"line 2: has 2 field\(s\) but the header has 3"),
    ("open_quote", "time,species,value\n0,X,1\n1,\"X,2\n2,X,3\n\n3,X,4\n",
     r"line 3: a quoted field is not closed \(the quote runs to line 6\)"),
    ("blank_then_ragged", "time,species,value\n\n0,X,1\n\n1,X\n", r"line 5: has 2 field\(s\)"),
    ("empty_species", "time,species,value\n0,,1\n", r"line 2: empty species name"),
    ("empty_file", "", r"file is empty"),
    ("blank_file", "\n  \n", r"file is empty"),
    ("header_only", "time,species,value\n", r"has a header but no data rows"),
]


@pytest.mark.parametrize("text,match", [c[1:] for c in BAD_CSV], ids=[c[0] for c in BAD_CSV])
def test_from_csv_rejects(tmp_path, text, match):
    p = write(tmp_path, text)
    with pytest.raises(ValueError, match=match) as info:
        Observations.from_csv(p)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(p) in msg  # names the file


def test_from_csv_nonexistent(tmp_path):
    p = tmp_path / "nope.csv"
    with pytest.raises(ValueError, match=r"does not exist") as info:
        Observations.from_csv(p)
    assert str(p) in str(info.value)
    with pytest.raises(ValueError, match=r"does not exist"):
        Observations.from_netcdf(tmp_path / "nope.nc")


def test_from_csv_pathway_checks(tmp_path):
    p = write(tmp_path, "time,species,value\n0,X,1\n1,Q,2\n")
    with pytest.raises(
        ValueError,
        match=r"line 3: species 'Q' unknown to pathway 'fake'; known species: 'X', 'Y', 'Z'",
    ):
        Observations.from_csv(p, pathway=PATHWAY)
    p = write(tmp_path, "time,cell,species,value\n0,0,X,1\n0,2,X,2\n")
    with pytest.raises(
        ValueError, match=r"line 3: cell 2 out of range for pathway 'fake' with n_cells=2"
    ):
        Observations.from_csv(p, pathway=PATHWAY)


def test_from_netcdf_rejects_garbage(tmp_path):
    p = write(tmp_path, "not a netcdf file", name="x.nc")
    with pytest.raises(ValueError, match="cannot read as NetCDF4"):
        Observations.from_netcdf(p)


T2 = [0.0, 1.0]
V = np.ones((2, 1, 3))

BAD_ARRAYS = [
    (
        "nan_time",
        dict(times=[0.0, np.nan], values=V, species=PATHWAY.species),
        r"times contain NaN",
    ),
    (
        "inf_time",
        dict(times=[0.0, np.inf], values=V, species=PATHWAY.species),
        r"times contain inf",
    ),
    ("negative_time", dict(times=[-1.0, 1.0], values=V, species=PATHWAY.species), r"negative time"),
    (
        "duplicate_time",
        dict(times=[1.0, 1.0], values=V, species=PATHWAY.species),
        r"duplicate time\(s\) \[1\.0\]",
    ),
    (
        "2d_times",
        dict(times=[[0.0, 1.0]], values=V, species=PATHWAY.species),
        r"times has shape \(1, 2\)",
    ),
    (
        "time_length",
        dict(times=[0.0, 1.0, 2.0], values=V, species=PATHWAY.species),
        r"values have 2 time rows",
    ),
    (
        "species_count",
        dict(times=T2, values=V, species=("X", "Y")),
        r"3 species column\(s\) but 2 species names",
    ),
    (
        "duplicate_species",
        dict(times=T2, values=V, species=("X", "X", "Y")),
        r"duplicate species name\(s\) 'X'",
    ),
    (
        "cell_count",
        dict(times=T2, values=V, species=PATHWAY.species, cells=[0, 1]),
        r"got 2 cell indices",
    ),
    (
        "negative_cell",
        dict(times=T2, values=V, species=PATHWAY.species, cells=[-1]),
        r"cell index -1 is negative",
    ),
    (
        "float_cell",
        dict(times=T2, values=V, species=PATHWAY.species, cells=[0.5]),
        r"cell indices must be integers",
    ),
    (
        "1d_values",
        dict(times=T2, values=[1.0, 2.0], species="X"),
        r"values must have shape \(T, S\) or \(T, C, S\)",
    ),
    (
        "string_values",
        dict(times=T2, values=[["a"], ["b"]], species="X"),
        r"values must be numeric",
    ),
    (
        "inf_value",
        dict(times=T2, values=[[1.0], [np.inf]], species="X"),
        r"values contain 1 infinite entry \(first at time=1\.0, cell=0, species='X'\)",
    ),
    (
        "zero_sigma",
        dict(times=T2, values=V, species=PATHWAY.species, sigma=0.0),
        r"sigma must be finite and > 0 .*sigma=0\.0",
    ),
    (
        "nan_sigma_observed",
        dict(times=T2, values=V, species=PATHWAY.species, sigma=[0.1, np.nan, 0.1]),
        r"sigma must be finite and > 0 .*species='Y'",
    ),
    (
        "unknown_species",
        dict(times=T2, values=V, species=("X", "Y", "Q"), pathway=PATHWAY),
        r"species 'Q' unknown to pathway 'fake'; known species: 'X', 'Y', 'Z'",
    ),
    (
        "cell_out_of_range",
        dict(times=T2, values=V, species=PATHWAY.species, cells=[2], pathway=PATHWAY),
        r"cell index\(es\) \[2\] out of range for pathway 'fake' with n_cells=2",
    ),
]


@pytest.mark.parametrize(
    "kwargs,match", [c[1:] for c in BAD_ARRAYS], ids=[c[0] for c in BAD_ARRAYS]
)
def test_from_arrays_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        Observations.from_arrays(**kwargs)
    assert "\n" not in str(info.value)


def test_sigma_checked_only_where_observed():
    # sigma at a missing point may be anything: there is nothing to weight.
    o = Observations.from_arrays(T2, [[1.0], [np.nan]], "X", sigma=[[0.1], [0.0]])
    assert np.isnan(o.sigma[1, 0, 0])


def test_direct_construction_validates_shapes():
    with pytest.raises(
        ValueError, match=r"values has shape \(2, 1, 3\) but \(T, C, S\) = \(2, 2, 3\)"
    ):
        Observations(times=T2, values=V, species=PATHWAY.species, cells=(0, 1))
    with pytest.raises(ValueError, match=r"sigma has shape \(3,\)"):
        Observations(times=T2, values=V, species=PATHWAY.species, cells=(0,), sigma=np.ones(3))


# ---------------------------------------------------------------------- atomic I/O


def test_atomic_write_helpers(tmp_path):
    p = atomic_write_text(tmp_path / "a" / "b.txt", "x\r\ny\n")
    assert p.read_bytes() == b"x\r\ny\n"  # verbatim, no newline translation
    atomic_write_bytes(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    assert no_temp_files(p.parent)


def test_failed_write_keeps_previous_content(tmp_path, obs):
    p = tmp_path / "obs.nc"
    p.write_text("previous")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(p) as tmp:
            assert tmp.parent == p.parent and tmp.name.endswith(".nc") and ".tmp-" in tmp.name
            tmp.write_text("half-written")
            raise RuntimeError("boom")
    assert p.read_text() == "previous"
    assert no_temp_files(tmp_path)


def test_failed_serialisation_keeps_previous_csv(tmp_path, obs, monkeypatch):
    p = obs.to_csv(tmp_path / "obs.csv")
    before = p.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)  # fail at the very last step
    with pytest.raises(OSError, match="disk full"):
        obs.select(species="X").to_csv(p)
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert no_temp_files(tmp_path)
