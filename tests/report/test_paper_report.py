"""The paper-reproduction report keeps its inference modes apart.

`benchmarks/paper_reproduction.py report` turns cached per-seed runs into reports/paper.md. Runs of
the same method with Laplace SVI and with SVI → NUTS share (method, noise, seed); the tables must
not mix them (a NUTS row averaged into Fig 1 or into the surrogate-vs-oracle comparison would
silently change published numbers). Synthetic cache rows with known errors, no fitting.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np

import pbhno_bayes as pb

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("paper_reproduction", ROOT / "benchmarks" / "paper_reproduction.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(method, inference, seed, noise, rel, covered=None, **extra):
    names = list(pb.pathways.notch().prior.names)
    true = np.linspace(0.5, 3.0, len(names))
    est = true * (1 + rel)
    r = {"method": method, "seed": seed, "noise": noise, "inference": inference, "names": names,
         "true": true.tolist(), "est": est.tolist(), "wall_s": 10.0,
         "abs_err": np.abs(est - true).tolist(), "rel_err": (np.abs(est - true) / true).tolist(), **extra}
    if covered is not None:
        r["covered"] = [int(i < covered) for i in range(len(names))]
    return r


def test_report_keeps_nuts_rows_out_of_laplace_tables(tmp_path):
    nuts_diag = {"chains": 2, "warmup": 75, "samples": 100, "dense_mass": True, "ess_bulk": [150.0, 90.0] + [120.0] * 4,
                 "ess_tail": [100.0] * 6, "r_hat": [1.0, 1.02] + [1.01] * 4, "divergences": 1,
                 "mean_leapfrog": 11.5, "timings": {"time_nuts_s": 1234.0}}
    rows = []
    for seed in (0, 1):
        rows += [_row("pbhno", "svi", seed, 0.2, 0.30, covered=4, svi_pareto_k=0.9),
                 _row("pbhno", "svi", seed, 0.05, 0.20, covered=3),
                 _row("pbhno", "nuts", seed, 0.2, 0.10, covered=6, nuts=nuts_diag, n_failed_solves=2),
                 _row("oracle", "svi", seed, 0.2, 0.32, covered=5),
                 _row("sbinn", "point", seed, 0.2, 0.40),
                 _row("sbinn", "point", seed, 0.05, 0.35)]
    cache = tmp_path / "runs.json"
    cache.write_text(json.dumps({f"{r['method']}|{r['noise']:g}|{r['seed']}|{r['inference']}": r for r in rows}))
    rerun = tmp_path / "rerun.json"
    rerun.write_text(json.dumps({"pbhno|0.2|1|svi": _row("pbhno", "svi", 1, 0.2, 0.15, covered=6, svi_pareto_k=0.5)}))
    out = tmp_path / "paper.md"
    _module().main(["report", "--cache", str(cache), "--out", str(out), "--notes", "",
                    "--fig3-cache", str(tmp_path / "none.json"), "--rerun-cache", str(rerun),
                    "--rerun-label", "after the fix"])
    text = out.read_text()
    lines = text.splitlines()
    # Table I: one row per (method, inference), Laplace before NUTS
    i_svi = next(i for i, ln in enumerate(lines) if ln.startswith("| pbhno | Laplace SVI (end-point exchange) | 2 |"))
    i_nuts = next(i for i, ln in enumerate(lines) if ln.startswith("| pbhno | SVI → NUTS (end-point exchange) | 2 |"))
    assert i_svi < i_nuts
    assert "| 30.0 |" in lines[i_svi] and "| 10.0 |" in lines[i_nuts]
    # Fig 1 from the Laplace rows only: 20 % column is 30.0 (mixed with NUTS it would be 20.0)
    fig1 = next(ln for ln in lines if ln.startswith("| pbhno (end-point exchange) | 0, 1 |"))
    assert fig1.split("|")[3].strip().startswith("20.0") and fig1.split("|")[4].strip().startswith("30.0"), fig1
    assert (tmp_path / "figures" / "paper_fig1_error_vs_noise.png").exists()
    # surrogate vs oracle compares the Laplace fits
    assert "PB-HNO MAE" in text and "MAPE 30.0 % / coverage 67 %" in text
    # the NUTS section pairs each seed with its Laplace fit and shows the sampler's diagnostics
    assert "## SVI → NUTS against the Laplace fit, same seeds" in text
    seed_row = next(ln for ln in lines if ln.startswith("| 0 | 30.0 → 10.0 |"))
    assert "4/6 → 6/6" in seed_row and "| 0.90 |" in seed_row and "| 90 |" in seed_row and "| 1.020 |" in seed_row
    assert "| 1234 |" in seed_row and "| 2 |" in seed_row
    assert "Laplace MAE" in text and "coverage 67 %; NUTS" in text and "coverage 100 %" in text
    # a re-run of one fit is shown against the row it redoes, not mixed into the tables
    assert "## Re-run: after the fix" in text
    rr = next(ln for ln in lines if ln.startswith("| pbhno | 20 | 1 | 30.0 → 15.0 |"))
    assert "4/6 → 6/6" in rr and "0.90 → 0.50" in rr and "| 15.0 |" in rr  # means moved 0.30 → 0.15 of θ


def test_merge_and_before_after_sections(tmp_path):
    """Runs split over processes land in one cache by `merge`; a conflicting result is refused,
    `--select`/`--note` carry a subset over with its provenance; `--previous-cache` shows every fit
    again per seed as 'before' against the main cache ('after')."""
    import pytest

    mod = _module()
    a, b, old = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "old.json"
    key = lambda r: f"{r['method']}|{r['noise']:g}|{r['seed']}|{r['inference']}"  # noqa: E731
    ra = [_row("pbhno", "svi", s, 0.2, 0.20, covered=5, svi_pareto_k=0.6) for s in (0, 1)]
    rb = [_row("oracle", "svi", s, 0.2, 0.25, covered=4) for s in (0, 1)] + [_row("sbinn", "point", 0, 0.2, 0.3)]
    ro = [_row("pbhno", "svi", s, 0.2, 0.40, covered=3, svi_pareto_k=1.2) for s in (0, 1)] + \
         [_row("pbhno", "nuts", 0, 0.2, 0.35, covered=2), {**_row("sbinn", "point", 0, 0.2, 0.3), "wall_s": 99.0}]
    for path, rows in ((a, ra), (b, rb), (old, ro)):
        path.write_text(json.dumps({key(r): r for r in rows}))
    main = tmp_path / "main.json"
    mod.main(["merge", "--cache", str(main), "--from", f"{a},{b}"])
    assert sorted(json.loads(main.read_text())) == sorted(key(r) for r in ra + rb)
    mod.main(["merge", "--cache", str(main), "--from", f"{a}"])  # identical rows: nothing to do
    # the old file holds a different result for a key already merged: refused, target unchanged
    before = main.read_text()
    with pytest.raises(SystemExit, match="pbhno\\|0.2\\|0\\|svi .*different result"):
        mod.main(["merge", "--cache", str(main), "--from", str(old)])
    assert main.read_text() == before
    mod.main(["merge", "--cache", str(main), "--from", str(old), "--select", "*|nuts", "--note", "started elsewhere"])
    merged = json.loads(main.read_text())
    assert merged["pbhno|0.2|0|nuts"]["note"] == "started elsewhere" and len(merged) == 6

    out = tmp_path / "paper.md"
    mod.main(["report", "--cache", str(main), "--out", str(out), "--notes", "",
              "--fig3-cache", str(tmp_path / "none.json"), "--previous-cache", str(old),
              "--previous-label", "before the fix"])
    lines = out.read_text().splitlines()
    assert any(ln.startswith("* pbhno (nuts, noise 20 %, seed 0): started elsewhere") for ln in lines)
    i = lines.index("## Before → after: before the fix")
    per_seed = [ln for ln in lines[i:] if ln.startswith("| pbhno | 20 |")]
    assert len(per_seed) == 2  # the two Laplace fits; the NUTS row is the same object on both sides
    assert per_seed[0].startswith("| pbhno | 20 | 0 | 40.0 → 20.0 | 3/6 → 5/6 | 1.20 → 0.60 |"), per_seed[0]
    # the SBINN fit redone with the same estimate (only its wall time differs) is counted, not listed
    assert "Redone with identical estimates (bit for bit; the change does not touch these): `sbinn` 1 fit(s) " \
           "(noise 20 %)." in lines
    assert not [ln for ln in lines[i:] if ln.startswith("| sbinn |")]
    assert "`pbhno`, noise 20 %, on these 2 fits: before MAE" in "\n".join(lines[i:])
    # a NUTS fit redone (new result under the same key) is its own labelled row and summary, never
    # pooled with the Laplace fits of the same seeds
    redone = json.loads(main.read_text())
    redone["pbhno|0.2|0|nuts"] = _row("pbhno", "nuts", 0, 0.2, 0.10, covered=6)
    main.write_text(json.dumps(redone))
    mod.main(["report", "--cache", str(main), "--out", str(out), "--notes", "",
              "--fig3-cache", str(tmp_path / "none.json"), "--previous-cache", str(old),
              "--previous-label", "before the fix"])
    lines = out.read_text().splitlines()
    tail = "\n".join(lines[lines.index("## Before → after: before the fix"):])
    assert "| pbhno (SVI → NUTS) | 20 | 0 | 35.0 → 10.0 | 2/6 → 6/6 |" in tail
    assert "`pbhno`, noise 20 %, on these 2 fits: before MAE 0.700 / MAPE 40.0 %" in tail
    assert "`pbhno (SVI → NUTS)`, noise 20 %, on these 1 fits: before MAE" in tail and "MAPE 35.0 %" in tail


def _fig3_row(seed, rel, surrogate=None):
    r = {"seed": seed, "noise": 0.1, "times": [6.0, 12.0], "fit_s": 50.0, "draws": 200, "svi_pareto_k": 0.5,
         "names": ["D"], "true": [1.0], "est": [1.1], "rel_l2": [rel, rel / 2], "rel_l2_prior": [0.5, 0.4],
         "coverage90": [0.9, 0.8], "mean_sd_rel": [0.1, 0.1], "shape_l2": [0.05, 0.04],
         "shape_l2_prior": [0.2, 0.2], "amplitude_ratio": [1.2, 1.1]}
    return r if surrogate is None else {**r, "surrogate": surrogate}


def test_fig3_rows_of_another_surrogate_are_kept_apart(tmp_path):
    """Fig 3 fits through `--fig3-surrogate wnt_learned` get their own paired table and never enter the
    main Fig 3 table (which is the shipped `wnt` surrogate's)."""
    cache = tmp_path / "runs.json"
    cache.write_text(json.dumps({"pbhno|0.2|0|svi": _row("pbhno", "svi", 0, 0.2, 0.3, covered=4)}))
    f3 = tmp_path / "fig3.json"
    f3.write_text(json.dumps({"fig3|0.1|0": _fig3_row(0, 0.300), "fig3|0.1|1": _fig3_row(1, 0.200),
                              "fig3|0.1|0|wnt_learned": _fig3_row(0, 0.111, "wnt_learned")}))
    out = tmp_path / "paper.md"
    _module().main(["report", "--cache", str(cache), "--out", str(out), "--notes", "", "--fig3-cache", str(f3)])
    lines = out.read_text().splitlines()
    i = lines.index("## Fig 3 — Wnt ligand field from sparse β-catenin observations")
    j = lines.index("### Fig 3 through `wnt_learned` instead of `wnt`")
    main_rows = [ln for ln in lines[i:j] if ln.startswith(("| 0 |", "| 1 |"))]
    assert len(main_rows) == 4 and not any("0.111" in ln for ln in main_rows)
    assert "`python benchmarks/paper_reproduction.py fig3 --seeds 2`" in "\n".join(lines[i:j])
    paired = [ln for ln in lines[j:] if ln.startswith("| 0 |")]
    assert paired[0].startswith("| 0 | 6 | 0.111 / 0.300 | 1.20 / 1.20 | 90 % / 90 % |"), paired[0]
    assert paired[1].startswith("| 0 | 12 | 0.056 / 0.150 |"), paired[1]
    assert not [ln for ln in lines[j:] if ln.startswith("| 1 |")]


def test_rerun_replaces_shows_the_refits_in_the_tables(tmp_path):
    """`report --rerun-replaces`: the refits (here: through the sub-step exchange) stand in Table I,
    the ablations, Fig 1 and Fig 3, labelled with their exchange; the fits they replace stay only in
    the per-seed Re-run tables; NUTS (not refitted) is compared with the Laplace fits of its own forward
    model (a NUTS fit that was refitted too against the refit), the Table I row labelled by the mix."""
    nuts_diag = {"chains": 2, "warmup": 75, "samples": 100, "dense_mass": True, "ess_bulk": [150.0] * 6,
                 "ess_tail": [100.0] * 6, "r_hat": [1.0] * 6, "divergences": 0, "mean_leapfrog": 11.5,
                 "timings": {"time_nuts_s": 100.0}}
    rows, redo = [], []
    for seed in (0, 1):
        rows += [_row("pbhno", "svi", seed, 0.2, 0.30, covered=4), _row("pbhno", "svi", seed, 0.05, 0.20, covered=4),
                 _row("pbhno_wsens", "svi", seed, 0.2, 0.40, covered=4), _row("oracle", "svi", seed, 0.2, 0.35, covered=4)]
        redo += [_row("pbhno", "svi", seed, 0.2, 0.10, covered=6, exchange="substeps"),
                 _row("pbhno", "svi", seed, 0.05, 0.05, covered=6, exchange="substeps"),
                 _row("pbhno_wsens", "svi", seed, 0.2, 0.25, covered=5, exchange="substeps")]
    rows.append(_row("pbhno", "nuts", 0, 0.2, 0.15, covered=6, nuts=nuts_diag))
    # seed 1's NUTS fit was redone through the sub-step exchange, seed 0's was not
    rows.append(_row("pbhno", "nuts", 1, 0.2, 0.20, covered=6, nuts=nuts_diag))
    redo.append(_row("pbhno", "nuts", 1, 0.2, 0.12, covered=5, nuts=nuts_diag, exchange="substeps"))
    key = lambda r: f"{r['method']}|{r['noise']:g}|{r['seed']}|{r['inference']}"  # noqa: E731
    cache, rerun = tmp_path / "runs.json", tmp_path / "rerun.json"
    cache.write_text(json.dumps({key(r): r for r in rows}))
    rerun.write_text(json.dumps({key(r): r for r in redo}))
    f3, f3_rerun = tmp_path / "fig3.json", tmp_path / "fig3_rerun.json"
    f3.write_text(json.dumps({"fig3|0.1|0": _fig3_row(0, 0.300)}))
    f3_rerun.write_text(json.dumps({"fig3|0.1|0|substeps": {**_fig3_row(0, 0.200), "exchange": "substeps"}}))
    out = tmp_path / "paper.md"
    _module().main(["report", "--cache", str(cache), "--out", str(out), "--notes", "", "--fig3-cache", str(f3),
                    "--rerun-cache", str(rerun), "--rerun-fig3-cache", str(f3_rerun), "--rerun-label", "refit",
                    "--rerun-replaces"])
    text = out.read_text()
    lines = text.splitlines()
    assert any(ln.startswith("| pbhno | Laplace SVI (sub-step exchange) | 2 | 0.175 | 10.0 |") for ln in lines), text
    assert any(ln.startswith("| pbhno | SVI → NUTS (mixed exchange) | 2 | ") for ln in lines)
    assert any(ln.startswith("| oracle | Laplace SVI | 2 |") for ln in lines)  # not a surrogate: no label
    # Re-run: per seed, the replaced fit → the refit
    rr = text[text.index("## Re-run: refit"):]
    assert "| pbhno | 20 | 0 | 30.0 → 10.0 | 4/6 → 6/6 |" in rr and "| pbhno_wsens | 20 | 1 | 40.0 → 25.0 |" in rr
    # each NUTS fit against the Laplace fit of its own forward model: seed 0 (end-point) against the
    # replaced end-point fit, seed 1 (refitted) against the sub-step refit
    nu = text[text.index("## SVI → NUTS against the Laplace fit"):]
    assert "`pbhno` (mixed exchange), noise 20 %, 2 seed(s)" in nu
    assert "| 0 (endpoints) | 30.0 → 15.0 |" in nu and "| 1 (substeps) | 10.0 → 12.0 | 6/6 → 5/6 |" in nu
    assert "| pbhno (SVI → NUTS) | 20 | 1 | 20.0 → 12.0 |" in rr
    ab = text[text.index("## Ablations"):]
    assert "with the sub-step exchange" in ab and "--exchange substeps`" in ab
    assert any(ln.startswith("| PB-HNO (as in Table I) | 0.175 | 10.0 |") for ln in ab.splitlines())
    assert any(ln.startswith("| + sensitivity-weighted likelihood (W_sens) | 0.438 | 25.0 |") for ln in ab.splitlines())
    f1 = text[text.index("## Fig 1"):]
    assert any(ln.startswith("| pbhno (sub-step exchange) | 0, 1 | 5.0 (100) | 10.0 (100) |") for ln in f1.splitlines())
    fig3 = text[text.index("## Fig 3"):]
    assert "| 0 | 6 | 0.200 (0.500) |" in fig3 and "0.300" not in fig3
    assert "fig3 --seeds 1 --exchange substeps` (shipped Wnt surrogate, sub-step exchange," in fig3
    assert "| 0 | 0.150 → 0.100 |" in rr  # Fig 3 redone, last time point


def test_long_chain_section_pairs_each_run_with_its_own_exchange(tmp_path):
    """A longer-chain refit of one seed is set against the short chains and the Laplace fit of the same
    forward model (same exchange), and pb.fit's thresholds are checked on the long run's numbers."""
    def diag(chains, ess, rhat, div):
        return {"chains": chains, "warmup": 150, "samples": 150, "dense_mass": True, "ess_bulk": [ess] + [900.0] * 5,
                "ess_tail": [80.0] * 6, "r_hat": [rhat] + [1.0] * 5, "divergences": div, "mean_leapfrog": 9.5,
                "timings": {"time_nuts_s": 4321.0}}
    table = [_row("pbhno", "svi", 0, 0.2, 0.40, covered=3),
             _row("pbhno", "nuts", 0, 0.2, 0.30, covered=4, nuts=diag(2, 13.0, 1.13, 0), n_failed_solves=1)]
    sub = [_row("pbhno", "svi", 0, 0.2, 0.50, covered=2, exchange="substeps"),
           _row("pbhno", "nuts", 0, 0.2, 0.60, covered=1, nuts=diag(2, 20.0, 1.2, 0), n_failed_solves=0,
                exchange="substeps")]
    key = lambda r: f"{r['method']}|{r['noise']:g}|{r['seed']}|{r['inference']}"  # noqa: E731
    cache, rerun = tmp_path / "runs.json", tmp_path / "sub.json"
    cache.write_text(json.dumps({key(r): r for r in table}))
    rerun.write_text(json.dumps({key(r): r for r in sub}))
    long_ep, long_sub = tmp_path / "long_ep.json", tmp_path / "long_sub.json"
    long_ep.write_text(json.dumps({"pbhno|0.2|0|nuts": _row("pbhno", "nuts", 0, 0.2, 0.20, covered=6,
                                                             nuts=diag(4, 450.0, 1.005, 0), n_failed_solves=3)}))
    long_sub.write_text(json.dumps({"pbhno|0.2|0|nuts": _row("pbhno", "nuts", 0, 0.2, 0.70, covered=2,
                                                              nuts=diag(4, 117.0, 1.02, 5), n_failed_solves=2,
                                                              exchange="substeps")}))
    # a second long run of the same seed and exchange with longer warmup and a higher target acceptance
    long_w = tmp_path / "long_w.json"
    long_w.write_text(json.dumps({"pbhno|0.2|0|nuts": _row(
        "pbhno", "nuts", 0, 0.2, 0.40, covered=5, n_failed_solves=0, exchange="substeps",
        nuts={**diag(4, 420.0, 1.004, 0), "warmup": 300, "samples": 100, "target_accept": 0.9})}))
    out = tmp_path / "paper.md"
    _module().main(["report", "--cache", str(cache), "--out", str(out), "--notes", "",
                    "--fig3-cache", str(tmp_path / "none.json"), "--rerun-cache", str(rerun), "--rerun-replaces",
                    "--long-cache", str(long_w), "--long-cache", str(long_ep), "--long-cache", str(long_sub)])
    lines = out.read_text().splitlines()
    assert "## Longer NUTS chains on single seeds" in lines
    ep = next(ln for ln in lines if ln.startswith("| 0 (endpoints) |"))
    # against the end-point short chains (30 %) and Laplace (40 %), though the table now shows the sub-step refit
    assert "| 4 × (150 + 150) | 20.0 (30.0 / 40.0) | 6/6 (4/6) |" in ep, ep
    assert "| 10.0 / 20.0 |" in ep and "| 450 (13) |" in ep and "| 1.005 (1.130) |" in ep and ep.endswith("| met |")
    sb = next(ln for ln in lines if ln.startswith("| 0 (substeps) |"))
    assert "| 70.0 (60.0 / 50.0) | 2/6 (1/6) |" in sb and "| 10.0 / 20.0 |" in sb, sb
    assert sb.endswith("| not met: ESS 117 < 400, R̂ 1.020 > 1.01, 5 divergences |"), sb
    assert "| 2 | 9.5 | 4321 |" in sb
    # the longer-warmup run is listed after the 150-warmup one of the same seed, with its target acceptance
    w = [i for i, ln in enumerate(lines) if ln.startswith("| 0 (substeps) |")]
    assert len(w) == 2 and lines[w[0]] == sb
    assert "| 4 × (300 + 100), target accept 0.9 | 40.0 (60.0 / 50.0) | 5/6 (1/6) |" in lines[w[1]], lines[w[1]]
    assert lines[w[1]].endswith("| met |")
    # the summary under the table: mean MAPE and coverage, long vs short vs Laplace, over the longest run
    # per seed and exchange (the end-point run and the 300 + 100 sub-step run)
    assert ("Over the longest run of each seed and exchange (2 runs, 1 seed; 2 of them met the thresholds): "
            "MAPE 30.0 % long, 45.0 % short chains, 45.0 % Laplace; 90 % intervals covering 11/12 long, "
            "5/12 short, 5/12 Laplace.") in lines
