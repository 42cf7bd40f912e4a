"""Output paths and inputs every subcommand refuses up front, in one line, before doing any work
(a directory given as --out used to surface as an IsADirectoryError traceback after the whole fit)."""

import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes._io import atomic_write_text, check_out_path
from pbhno_bayes.cli import main


def _one_line(capsys, needle):
    err = capsys.readouterr().err.strip()
    assert needle in err, err
    assert len(err.splitlines()) == 1 and err.startswith("pbhno"), err
    return err


@pytest.fixture()
def csv(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("time,species,value,sigma\n1.0,Z,0.1,0.01\n2.0,Z,0.12,0.01\n")
    return p


@pytest.mark.parametrize("cmd", [
    ["simulate", "mapk", "--times", "3"],
    ["fit", "mapk", "{csv}", "--method", "svi"],
    ["control", "mapk", "{csv}", "--target", "Z=0.15"],
    ["train", "notch", "--steps", "1"],
])
def test_out_that_is_a_directory_is_refused_before_any_work(tmp_path, capsys, csv, cmd):
    d = tmp_path / ("out.nc" if cmd[0] == "fit" else "out.csv" if cmd[0] == "simulate" else "outdir")
    d.mkdir()
    if cmd[0] == "train":  # OUT.eqx / OUT.json: one of them is a directory
        d = tmp_path / "w"
        (tmp_path / "w.json").mkdir()
    cmd = [c.replace("{csv}", str(csv)) for c in cmd] + ["--out", str(d)]
    assert main(cmd) == 2
    _one_line(capsys, "is a directory")
    assert not list(tmp_path.rglob(".*tmp-*"))


def test_out_file_errors_name_the_users_path(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="is a file, not a directory"):
        check_out_path(blocker / "sub" / "x.csv")
    with pytest.raises(ValueError, match="is an existing file; give a directory"):
        check_out_path(blocker, directory=True)
    assert check_out_path(tmp_path / "new" / "deeper" / "x.csv") == tmp_path / "new" / "deeper" / "x.csv"
    assert not (tmp_path / "new").exists()  # the check creates nothing
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError, match=r"cannot write .*dir'"):  # the writer names the target, not a temp file
        atomic_write_text(tmp_path / "dir", "x")
    assert not list(tmp_path.glob(".*tmp-*"))


@pytest.mark.parametrize("args, needle", [
    (["--control", "U=abc"], "--control U: 'abc' is not a number"),
    (["--control", "U=-1"], "U=-1 is outside its admissible range [0, 5]"),
    (["--observe-cells", "a"], "--observe-cells expects"),
])
def test_simulate_option_errors_name_the_option(tmp_path, capsys, args, needle):
    assert main(["simulate", "mapk", *args, "--out", str(tmp_path / "x.csv")]) == 2
    _one_line(capsys, needle)
    assert not (tmp_path / "x.csv").exists()


def test_simulate_refuses_an_unknown_format(tmp_path, capsys):
    assert main(["simulate", "mapk", "--out", str(tmp_path / "s.json")]) == 2
    _one_line(capsys, "--out must end in .csv or .nc")


def test_train_refuses_a_bad_learning_rate(tmp_path, capsys):
    assert main(["train", "notch", "--lr", "-1", "--steps", "1", "--out", str(tmp_path / "w")]) == 2
    _one_line(capsys, "lr (the learning rate) must be finite and > 0")
    assert main(["train", "mapk", "--out", str(tmp_path / "w")]) == 2
    err = _one_line(capsys, "has no ligand field")
    assert err.count("pbhno train") == 1


def test_constant_control_outside_its_range_is_refused():
    pw = pb.pathways.mapk()
    with pytest.raises(ValueError, match=r"U=6 is outside its admissible range \[0, 5\]"):
        pb.simulate(pw, times=3, control={"U": 6.0})
    with pytest.raises(ValueError, match="outside its admissible range"):
        pb.simulate(pw, times=3, control={"U": float("nan")})
    assert np.all(np.isfinite(pb.simulate(pw, times=3, noise=0.0, control={"U": 5.0}).values))
