"""The models page's parameter tables must match the code."""

import re
from pathlib import Path

import pytest

import pbhno_bayes as pb

DOC = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text()


def _table_after(heading):
    block = DOC.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \| (yes|no) \|", block, flags=re.M)
    return {name: (float(val), free == "yes") for name, val, free in rows}


@pytest.mark.parametrize("heading, pw", [
    ("## MAPK cascade", pb.pathways.mapk(feedback=True)),
    ("## Notch lateral inhibition", pb.pathways.notch()),
    ("## Wnt morphogen gradient", pb.pathways.wnt()),
])
def test_models_page_matches_code(heading, pw):
    table = _table_after(heading)
    assert set(table) == set(pw.param_names)
    for name, (val, free) in table.items():
        assert val == pytest.approx(pw.nominal[name], rel=1e-6), name
        expect_free = name in pw.free or (pw.name == "mapk_feedback" and name in pb.pathways.mapk().free)
        assert free == expect_free, name
