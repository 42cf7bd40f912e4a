import subprocess
import sys

import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.cli import main


@pytest.mark.parametrize("args", [["mapk"], ["notch", "--grid", "16"], ["wnt", "--grid", "16", "--cells", "3"]])
def test_simulate_writes_csv_that_reads_back(tmp_path, args):
    out = tmp_path / "obs.csv"
    rc = main(["simulate", *args, "--times", "6", "--noise", "0.1", "--seed", "2", "--out", str(out)])
    assert rc == 0
    kw = {"grid": 16} if args[0] != "mapk" else {}
    if "--cells" in args:
        kw["cells"] = 3
    pw = pb.pathways.get(args[0], **kw)
    obs = pb.Observations.from_csv(out, pathway=pw)
    again = pb.simulate(pw, times=6, noise=0.1, seed=2)
    np.testing.assert_array_equal(obs.values, again.values)


def test_simulate_observe_and_theta(tmp_path):
    out = tmp_path / "o.csv"
    assert main(["simulate", "mapk", "--observe", "Y,Z", "--theta", "k1=2.0", "--out", str(out)]) == 0
    obs = pb.Observations.from_csv(out)
    assert obs.species == ("Y", "Z")


@pytest.mark.parametrize("args, needle", [
    (["simulate", "egfr", "--out", "x.csv"], "unknown pathway"),
    (["simulate", "mapk", "--observe", "Q", "--out", "x.csv"], "unknown species"),
    (["simulate", "mapk", "--noise", "-1", "--out", "x.csv"], "noise"),
    (["simulate", "mapk", "--times", "0", "--out", "x.csv"], "--times"),
    (["simulate", "mapk", "--theta", "k1=abc", "--out", "x.csv"], "not a number"),
    (["simulate", "mapk", "--cells", "2", "--out", "x.csv"], "do not apply"),
    (["simulate", "mapk"], "required"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, args, needle, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(args)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert needle in err and len(err.splitlines()) == 1 and err.startswith("pbhno")
    assert not (tmp_path / "x.csv").exists()


def test_console_script_help():
    r = subprocess.run([sys.executable, "-m", "pbhno_bayes.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "simulate" in r.stdout


def test_import_leaves_arviz_and_matplotlib_to_where_they_are_used():
    """`import pbhno_bayes` (every CLI call) does not load ArviZ, matplotlib or scipy.stats: they were
    half its start-up time; the functions that need them import them."""
    code = ("import sys, pbhno_bayes; "
            "print(sorted(m for m in ('arviz', 'matplotlib', 'scipy.stats', 'xarray') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout
