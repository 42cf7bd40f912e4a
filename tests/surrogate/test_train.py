"""train_surrogate: loss decreases, checkpoints, and a killed run resumes bit-identically."""

import jax
import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.surrogate.train import train_surrogate

TINY = dict(n_train=3, n_val=2, n_test=0, n_counterfactual=0, steps=4, batch_size=2, lr=1e-3, rollout=2,
            curriculum=0.0, width=4, modes=2, layers=2, mlp_width=8, mlp_depth=1, dt=1.0, eval_every=100,
            checkpoint_every=1, log=lambda s: None, model_kwargs={"field_substeps": 2, "ode_steps": 1})


@pytest.fixture(scope="module")
def pw():
    return pb.pathways.wnt(cells=2, grid=16)


def _leaves(model):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(model) if hasattr(x, "shape")]


@pytest.mark.slow  # three training runs, each compiling its step: ~5 min on the shared 2-core CPU
def test_resume_is_bit_identical(tmp_path, pw):
    full = train_surrogate(pw, checkpoint_dir=tmp_path / "a", **TINY)
    assert full.metrics["finished"] and full.metrics["step"] == 4
    part = train_surrogate(pw, checkpoint_dir=tmp_path / "b", max_steps_this_run=2, **TINY)
    assert not part.metrics["finished"] and part.metrics["step"] == 2
    assert (tmp_path / "b" / "checkpoint.eqx").exists()
    resumed = train_surrogate(pw, checkpoint_dir=tmp_path / "b", **TINY)
    assert resumed.metrics["finished"] and resumed.metrics["step"] == 4
    la, lb = _leaves(full.model), _leaves(resumed.model)
    assert len(la) == len(lb)
    for a, b in zip(la, lb, strict=True):
        np.testing.assert_array_equal(a, b)
    ve = full.model.validation_error
    assert ve is not None and len(ve) == pw.n_species and all(np.isfinite(ve))
    # resuming a checkpoint with another optimiser setting is refused and the checkpoint kept
    ck = (tmp_path / "a" / "checkpoint.eqx").read_bytes()
    with pytest.raises(ValueError, match=r"lr 0.001 -> 0.002"):
        train_surrogate(pw, checkpoint_dir=tmp_path / "a", **{**TINY, "lr": 2e-3})
    assert (tmp_path / "a" / "checkpoint.eqx").read_bytes() == ck


def test_checkpoint_dir_of_other_settings_is_refused(tmp_path, pw):
    """settings.json is checked before any data are built or read: a directory whose datasets were
    made with other data settings is refused always; a checkpoint with other optimiser settings
    when it would be resumed, and with ``resume=False`` the run starts over under the new ones."""
    import json

    from pbhno_bayes.surrogate.train import _check_settings

    d = tmp_path / "ck"
    d.mkdir()
    base = {"pathway": "wnt", "n_train": 3, "seed": 0, "lr": 1e-3, "data_norm": "global", "patience": 6}
    log = []
    _check_settings(d, base, True, log.append)  # empty directory: settings recorded
    assert json.loads((d / "settings.json").read_text()) == base and not log
    (d / "train.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"datasets made with other settings \(n_train 3 -> 5\)"):
        _check_settings(d, {**base, "n_train": 5}, False, log.append)
    # the training design and the validation pulse trains decide the data too (recorded only when
    # not at their defaults, so a directory from before they existed still matches its defaults)
    with pytest.raises(ValueError, match=r"datasets made with other settings \(schedules None -> 'mixed'\)"):
        _check_settings(d, {**base, "schedules": "mixed"}, False, log.append)
    with pytest.raises(ValueError, match=r"n_val_counterfactual None -> 16"):
        _check_settings(d, {**base, "n_val_counterfactual": 16}, False, log.append)
    _check_settings(d, {**base, "lr": 2e-3}, True, log.append)  # no checkpoint yet: nothing to resume
    (d / "checkpoint.eqx").write_bytes(b"")
    with pytest.raises(ValueError, match=r"checkpoint .* other settings \(data_norm 'global' -> 'trajectory'\)"):
        _check_settings(d, {**base, "lr": 2e-3, "data_norm": "trajectory"}, True, log.append)
    assert json.loads((d / "settings.json").read_text())["lr"] == 2e-3  # the refused call wrote nothing
    _check_settings(d, {**base, "lr": 2e-3, "patience": 6}, True, log.append)
    _check_settings(d, {**base, "lr": 2e-3, "patience": 30}, True, log.append)  # more patience: continues
    with pytest.raises(ValueError, match=r"patience 30 -> 5"):
        _check_settings(d, {**base, "lr": 2e-3, "patience": 5}, True, log.append)
    with pytest.raises(ValueError, match=r"warmup None -> 20"):  # the warmup shapes the trajectory
        _check_settings(d, {**base, "lr": 2e-3, "patience": 30, "warmup": 20}, True, log.append)
    _check_settings(d, {**base, "data_norm": "trajectory"}, False, log.append)  # starting over is allowed
    assert json.loads((d / "settings.json").read_text())["data_norm"] == "trajectory"
    (d / "settings.json").unlink()  # a directory from before settings.json: used, with a log line
    _check_settings(d, base, True, log.append)
    assert len(log) == 1 and "not checked" in log[0]
    # a checkpoint written before the sub-step exchange existed (no "exchange" key) resumes only with
    # the scheme it was made with: train_surrogate records exchange="substeps" and nothing for "endpoints"
    with pytest.raises(ValueError, match=r"other settings \(exchange None -> 'substeps'\)"):
        _check_settings(d, {**base, "exchange": "substeps"}, True, log.append)
    # through train_surrogate: refused before any dataset is built
    (d / "settings.json").write_text(json.dumps({"pathway": "notch"}))
    with pytest.raises(ValueError, match="pathway 'notch' -> 'wnt'"):
        train_surrogate(pw, checkpoint_dir=d, **TINY)


def test_bad_arguments(pw):
    with pytest.raises(ValueError, match="n_train"):
        train_surrogate(pw, n_train=0)
    with pytest.raises(ValueError, match="spatial|ODE-only"):
        train_surrogate(pb.pathways.mapk())
    with pytest.raises(ValueError, match="lam_pde"):
        train_surrogate(pw, lam_pde=-1.0)
    with pytest.raises(ValueError, match="curriculum"):
        train_surrogate(pw, curriculum=1.5)
    with pytest.raises(ValueError, match="unknown block"):
        train_surrogate(pw, freeze=("fno", "mlp"))
    with pytest.raises(ValueError, match="nothing would be trained"):
        train_surrogate(pw, freeze=("fno", "corr", "ops"))
    with pytest.raises(ValueError, match="data_norm"):
        train_surrogate(pw, data_norm="per-species")
    with pytest.raises(ValueError, match="schedules"):
        train_surrogate(pw, schedules="pulses")
    with pytest.raises(ValueError, match="n_val_counterfactual"):
        train_surrogate(pw, n_val_counterfactual=-1)
    with pytest.raises(ValueError, match="exchange must be one of"):
        train_surrogate(pw, exchange="midpoint")
    with pytest.raises(ValueError, match="pass exchange= directly"):
        train_surrogate(pw, model_kwargs={"exchange": "endpoints"})
    for bad in (-1, 1.5, True, "10", 800):  # 800 = steps: nothing would be left after the warmup
        with pytest.raises(ValueError, match=r"warmup must be a whole number of steps in \[0, steps=800\)"):
            train_surrogate(pw, warmup=bad)


def test_warmup_schedule_rises_from_zero_then_decays():
    """``warmup``: linear rise 0 → lr, then the cosine decay to 0 at ``steps``; without it the
    schedule is the plain cosine decay from ``lr`` (what every earlier run used)."""
    from pbhno_bayes.surrogate.train import _optimizer

    _, plain = _optimizer(1e-4, 160, 1.0)
    _, warm = _optimizer(1e-4, 160, 1.0, 40)
    assert float(plain(0)) == pytest.approx(1e-4) and float(plain(160)) == pytest.approx(0.0, abs=1e-12)
    assert float(warm(0)) == 0.0
    assert float(warm(20)) == pytest.approx(0.5e-4)
    assert float(warm(40)) == pytest.approx(1e-4)
    lrs = [float(warm(t)) for t in range(40, 161)]
    assert all(b <= a for a, b in zip(lrs, lrs[1:], strict=False)) and lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert float(warm(100)) == pytest.approx(0.5e-4, rel=1e-6)  # cosine half-way point of 40..160


def test_mixed_schedules_stay_in_bounds_and_span_one_to_eight_segments():
    """schedules="mixed": edges on the macro grid from 0 to the horizon (unused segments zero-length
    at the end), values in the bounds, 1-8 segments, each channel at its default, uniform, or at an
    extreme about a third of the time each; the simple design is drawn as before."""
    from pbhno_bayes.surrogate.train import _random_schedules

    npw = pb.pathways.notch(cells=2, grid=16)
    K, dt = 192, 0.25
    e, v = _random_schedules(npw, 400, K, dt, np.random.default_rng(3), kind="mixed")
    assert e.shape == (400, 9) and v.shape == (400, 8, 2)
    assert np.all(e[:, 0] == 0) and np.all(e[:, -1] == K * dt) and np.all(np.diff(e, axis=1) >= 0)
    np.testing.assert_allclose(e / dt, np.round(e / dt), atol=1e-9)
    nseg = (np.diff(e, axis=1) > 0).sum(axis=1)
    assert nseg.min() == 1 and nseg.max() == 8 and len(np.unique(nseg)) == 8
    lo, hi = np.array(npw.control_bounds).T
    assert np.all(v >= lo) and np.all(v <= hi)
    used = np.concatenate([v[i, :n] for i, n in enumerate(nseg)])  # segments that are in force
    top = used >= lo + 0.8 * (hi - lo)
    assert 0.3 < np.mean(used == 0.0) < 0.65  # default (= lower bound for Notch) or the lower extreme
    assert 0.2 < np.mean(top) < 0.45  # the upper extreme, or a uniform draw that landed there
    es, vs = _random_schedules(npw, 5, K, dt, np.random.default_rng(3))
    assert es.shape == (5, 4) and vs.shape == (5, 3, 2)
    with pytest.raises(ValueError, match="schedules"):
        _random_schedules(npw, 5, K, dt, np.random.default_rng(3), kind="pulses")


def test_validation_set_with_pulse_trains_pads_schedules_without_changing_them():
    """_concat_datasets pads the shorter schedules with zero-length segments at the end: u(t) is the
    same at every time, including the segment edges and the horizon; the groups are labelled."""
    import jax.numpy as jnp

    from pbhno_bayes.pathways.base import Schedule
    from pbhno_bayes.surrogate.train import _concat_datasets, _random_schedules

    npw = pb.pathways.notch(cells=2, grid=16)
    K, dt = 40, 0.25
    rng = np.random.default_rng(0)
    es, vs = _random_schedules(npw, 3, K, dt, rng)
    ec, vc = _random_schedules(npw, 2, K, dt, rng, counterfactual=True)

    def ds(e, v):
        n = len(e)
        return {"theta": np.ones((n, 4)), "edges": e, "values": v, "L": np.zeros((n, 2)), "x": np.zeros((n, 3)),
                "n_failed": 1}

    cat = _concat_datasets(ds(es, vs), ds(ec, vc))
    assert cat["edges"].shape == (5, 7) and cat["values"].shape == (5, 6, 2) and cat["n_failed"] == 2
    assert cat["group"].tolist() == [0, 0, 0, 1, 1]
    dflt = jnp.asarray(npw.control_default, float)
    ts = jnp.concatenate([jnp.linspace(0, K * dt, 401), jnp.asarray(es.ravel()), jnp.asarray([K * dt + 1.0])])
    for i, (e, v) in enumerate(list(zip(es, vs, strict=True)) + list(zip(ec, vc, strict=True))):
        a = np.asarray(jax.vmap(Schedule(jnp.asarray(e), jnp.asarray(v), dflt))(ts))
        b = np.asarray(jax.vmap(Schedule(jnp.asarray(cat["edges"][i]), jnp.asarray(cat["values"][i]), dflt))(ts))
        np.testing.assert_array_equal(a, b)
    assert _concat_datasets(ds(es, vs), None)["edges"].shape == (3, 4)
    # the node spacing is kept, and datasets on different nodes are not stacked
    assert _concat_datasets(ds(es, vs) | {"dt": dt}, ds(ec, vc) | {"dt": dt})["dt"] == dt
    with pytest.raises(ValueError, match="different time nodes"):
        _concat_datasets(ds(es, vs) | {"dt": dt}, ds(ec, vc) | {"dt": 2 * dt})


def test_trajectory_data_norm_divides_by_each_trajectorys_rms(pw):
    """data_norm="trajectory": the data term is the squared error over each trajectory's own RMS
    per species (and its field's RMS) — the relative error the validation score uses."""
    import equinox as eqx
    import jax.numpy as jnp

    from pbhno_bayes.pathways.base import Schedule
    from pbhno_bayes.surrogate import HybridSurrogate
    from pbhno_bayes.surrogate.train import _window_loss

    # any trajectory will do for checking the formula: positive states and field, 4 macro steps
    rng = np.random.default_rng(3)
    n = pw.geometry.n
    ds = {"theta": np.asarray(pw.nominal_values)[None], "edges": np.array([[0.0, 4.0]]),
          "values": np.asarray(pw.control_default, float)[None, None],
          "L": rng.uniform(0.1, 1.0, (1, 5, pw.n_fields, n, n)), "x": rng.uniform(0.1, 1.0, (1, 5, pw.n_cells, pw.n_species))}
    m = HybridSurrogate(pw, width=4, modes=2, layers=2, mlp_width=8, mlp_depth=1, dt=1.0, horizon=4.0,
                        field_substeps=2, ode_steps=1, x_scale=np.full(pw.n_species, 0.7), field_scale=0.3)
    th, e, v, L, x = (jnp.asarray(ds[k][0]) for k in ("theta", "edges", "values", "L", "x"))
    x = x.at[..., 0].multiply(1e3)  # one species far off the global scale: the two norms differ
    w = jnp.ones(pw.n_species)

    @eqx.filter_jit
    def run(m, th, e, v, L, x):  # one compilation, one rollout shared by both loss variants
        out = m.advance(th, Schedule(e, v, jnp.asarray(pw.control_default, float)), L[0], x[0], 0, 4)
        return (out, _window_loss(m, th, e, v, L, x, 0, 4, w, "trajectory", out=out)[0],
                _window_loss(m, th, e, v, L, x, 0, 4, w, "global", out=out)[0])

    out, got_t, got_g = run(m, th, e, v, L, x)
    got_t, got_g = float(got_t), float(got_g)
    xn, Ln, px, pL = np.asarray(x), np.asarray(L), np.asarray(out["x"]), np.asarray(out["L"])
    dx = np.sqrt(np.mean(xn ** 2, axis=(0, 1)))
    want_t = np.mean(np.mean(((px - xn[1:]) / dx) ** 2, axis=(0, 1))) + np.mean(((pL - Ln[1:]) / np.sqrt(np.mean(Ln ** 2))) ** 2)
    want_g = np.mean(np.mean(((px - xn[1:]) / 0.7) ** 2, axis=(0, 1))) + np.mean(((pL - Ln[1:]) / 0.3) ** 2)
    np.testing.assert_allclose(got_t, want_t, rtol=1e-10)
    np.testing.assert_allclose(got_g, want_g, rtol=1e-10)
    assert abs(got_t - got_g) > 1e-3 * got_g


@pytest.mark.slow  # one tiny training run (compiles its step): ~1-2 min on the 2-core CPU
def test_frozen_blocks_stay_at_their_initial_values(tmp_path, pw):
    """freeze=("fno",): the FNO keeps its exactly-zero projection and is skipped, while g_ψ and the
    coupling stencils train (their weights move) — the "learned kinetics correction only" variant."""
    from pbhno_bayes.surrogate import HybridSurrogate

    res = train_surrogate(pw, checkpoint_dir=tmp_path / "f", freeze=("fno",), **{**TINY, "n_val": 1})
    init = HybridSurrogate(pw, width=4, modes=2, layers=2, mlp_width=8, mlp_depth=1, dt=1.0, key=0,
                           field_substeps=2, ode_steps=1)
    m = res.model
    assert m.skip_fno and not m.skip_corr
    for a, b in zip(_leaves(m.fno), _leaves(init.fno), strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.any(np.asarray(m.corr.mlp.layers[-1].weight) != 0)  # g_ψ's output layer trained
    assert not np.array_equal(np.asarray(m.ops.stencil_A), np.asarray(init.ops.stencil_A))
    # saved and reloaded, the frozen block is recognised as exactly zero and skipped again
    m.save(tmp_path / "w")
    assert HybridSurrogate.load(tmp_path / "w").skipped_blocks == ("fno",)


@pytest.mark.slow  # one tiny training run (compiles its step): ~1 min on the 2-core CPU
def test_validation_with_pulse_trains_scores_the_worst_group_against_the_predictor(tmp_path, pw):
    """n_val_counterfactual: validation = simple schedules + pulse trains; the score is the worst
    group's rel-L2 rms over the physics predictor's, 1 at step 0; a resumed run ends the same."""
    import re

    log = []
    kw = {**TINY, "eval_every": 2, "log": log.append, "schedules": "mixed", "n_val_counterfactual": 2}
    res = train_surrogate(pw, checkpoint_dir=tmp_path / "a", **kw)
    assert res.metrics["n_val"] == 4
    m = re.search(r"predictor rel-L2 rms 0: ([\d.]+), 1: ([\d.]+)", log[0])
    base = (float(m.group(1)), float(m.group(2)))
    h = res.history
    assert h[0]["step"] == 0 and h[0]["val_rel_rms"] == pytest.approx(1.0, rel=1e-12)
    for e in h[1:]:
        g = e["val_group_rms"]
        assert set(g) == {0, 1}
        assert e["val_rel_rms"] == pytest.approx(max(g[0] / base[0], g[1] / base[1]), rel=1e-3)  # base printed to 4 digits
    import json

    assert json.loads((tmp_path / "a" / "settings.json").read_text())["schedules"] == "mixed"
    part = train_surrogate(pw, checkpoint_dir=tmp_path / "b", max_steps_this_run=2, **kw)
    assert not part.metrics["finished"]
    resumed = train_surrogate(pw, checkpoint_dir=tmp_path / "b", **kw)
    for a, b in zip(_leaves(res.model), _leaves(resumed.model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.history[-1]["val_rel_rms"] == h[-1]["val_rel_rms"]


@pytest.mark.slow  # one tiny training run (compiles its step): ~1 min on the 2-core CPU
def test_correction_scales_keep_the_best_scaled_correction(tmp_path, pw):
    """correction_scales: every validation scores the current g_ψ at each scale and keeps the
    best (scale, step); the returned model is the scaled one and scores what was recorded."""
    import json

    from pbhno_bayes.surrogate.train import _clipped_rms, _scale_correction, evaluate

    kw = {**TINY, "eval_every": 2, "freeze": ("fno",), "correction_scales": (0.0, 0.5, 1.0)}
    res = train_surrogate(pw, checkpoint_dir=tmp_path / "a", **kw)
    h = res.history
    assert "val_by_scale" not in h[0]  # step 0: g_ψ is exactly zero, one evaluation
    for e in h[1:]:
        by = {float(k): v for k, v in e["val_by_scale"].items()}
        assert set(by) == {0.0, 0.5, 1.0}
        assert e["val_rel_rms"] == min(by.values()) and by[e["correction_scale"]] == e["val_rel_rms"]
    best = min(h, key=lambda e: e["val_rel_rms"])
    s = res.metrics["correction_scale"]
    assert s == best.get("correction_scale", 1.0)
    with np.load(tmp_path / "a" / "val.npz") as z:
        val = {k: z[k] for k in z.files}
    assert _clipped_rms(evaluate(res.model, val)["rel_err"]) == pytest.approx(best["val_rel_rms"], rel=1e-10)
    assert json.loads((tmp_path / "a" / "settings.json").read_text())["correction_scales"] == [0.0, 0.5, 1.0]
    # the scaling itself: the output layer times s, nothing else
    import equinox as eqx

    params = eqx.filter(res.model, eqx.is_inexact_array)
    half = _scale_correction(params, 0.5)
    np.testing.assert_array_equal(np.asarray(half.corr.mlp.layers[-1].weight),
                                  0.5 * np.asarray(params.corr.mlp.layers[-1].weight))
    np.testing.assert_array_equal(np.asarray(half.corr.mlp.layers[0].weight),
                                  np.asarray(params.corr.mlp.layers[0].weight))
    # a resumed run ends the same
    part = train_surrogate(pw, checkpoint_dir=tmp_path / "b", max_steps_this_run=2, **kw)
    assert not part.metrics["finished"]
    resumed = train_surrogate(pw, checkpoint_dir=tmp_path / "b", **kw)
    for a, b in zip(_leaves(res.model), _leaves(resumed.model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.metrics["correction_scale"] == s


def test_correction_scales_are_checked(pw):
    for bad in ((), (1.5,), (-0.1, 1.0), (float("nan"),), (True,), ("0.5",), 0.5, None):
        with pytest.raises(ValueError, match=r"correction_scales must be a non-empty sequence of numbers in \[0, 1\]"):
            train_surrogate(pw, correction_scales=bad)
    with pytest.raises(ValueError, match="needs physics=True and g_psi not frozen"):
        train_surrogate(pw, correction_scales=(0.5, 1.0), freeze=("corr",))
    with pytest.raises(ValueError, match="needs physics=True and g_psi not frozen"):
        train_surrogate(pw, correction_scales=(0.5, 1.0), physics=False)


def test_no_physics_baseline_is_trained_on_data_only():
    from pbhno_bayes.surrogate.train import _loss_weights

    assert _loss_weights(True, 1.0, 1e-6, 2e-6, 1e-2) == (1.0, 1e-6, 2e-6, 1e-2)
    assert _loss_weights(False, 1.0, 1e-6, 2e-6, 1e-2) == (1.0, 0.0, 0.0, 1e-2)


def test_train_cli_passes_its_options_on(monkeypatch, tmp_path, pw):
    """``pbhno train`` hands --corr-theta/--corr-control (model), --data-norm, --patience, --freeze
    on to train_surrogate, records the command, and refuses a bad value with a one-line error."""
    import pbhno_bayes.surrogate.train as tr
    from pbhno_bayes.cli import main
    from pbhno_bayes.surrogate import HybridSurrogate

    seen = {}

    def fake(pathway, **kw):
        seen.update(kw)
        m = HybridSurrogate(pathway, width=4, modes=2, layers=2, mlp_width=8, mlp_depth=1, dt=1.0,
                            **(kw.get("model_kwargs") or {}))
        return tr.TrainResult(model=m, history=[], metrics={"finished": True})

    monkeypatch.setattr(tr, "train_surrogate", fake)
    out = tmp_path / "m"
    rc = main(["train", "wnt", "--cells", "2", "--grid", "16", "--out", str(out), "--corr-theta", "--corr-control",
               "--data-norm", "trajectory", "--patience", "9", "--freeze", "fno", "--schedules", "mixed",
               "--n-val-counterfactual", "16", "--corr-bound", "0.05", "--warmup", "30",
               "--correction-scales", "0.25", "1", "--exchange", "endpoints"])
    assert rc == 0
    assert seen["exchange"] == "endpoints"
    assert seen["data_norm"] == "trajectory" and seen["patience"] == 9 and seen["freeze"] == ("fno",)
    assert seen["schedules"] == "mixed" and seen["n_val_counterfactual"] == 16 and seen["warmup"] == 30
    assert seen["correction_scales"] == (0.25, 1.0)
    assert seen["resume"] is True
    assert seen["model_kwargs"] == {"corr_theta": True, "corr_control": True, "corr_bound": 0.05}
    back = HybridSurrogate.load(out)
    assert back.corr_theta and back.corr_control and back.corr_bound == 0.05
    import json

    assert "--corr-control" in json.loads(out.with_suffix(".json").read_text())["meta"]["command"]
    assert main(["train", "wnt", "--cells", "2", "--grid", "16", "--out", str(out), "--restart"]) == 0
    assert seen["resume"] is False
    monkeypatch.setattr(tr, "train_surrogate", lambda *a, **k: pytest.fail("bad input reached training"))
    assert main(["train", "wnt", "--out", str(out), "--data-norm", "per-species"]) != 0


def test_evaluate_compares_at_the_datas_nodes_not_the_models(pw):
    """A dataset carries its node spacing ``dt``; ``evaluate`` compares a model rolled out with
    another macro step (``with_macro_step``) at those times. Before, it assumed the model's own
    nodes: at half the step it compared t = 0, 0.5, 1, ... with data at 0, 1, 2, ...
    A stand-in model whose states and field are 1 + t and 2 + t checks the times alone (a real
    rollout costs two compilations, ~20 s)."""
    import equinox as eqx
    import jax.numpy as jnp

    from pbhno_bayes.surrogate.train import evaluate

    class Clock(eqx.Module):  # what evaluate uses of a model: pathway, dt, horizon, _solve
        pathway: object = eqx.field(static=True)
        dt: float = eqx.field(static=True)
        horizon: float = eqx.field(static=True)

        def _solve(self, theta, ts, sched):
            C, S, n = pw.n_cells, pw.n_species, pw.geometry.n
            return {"states": jnp.broadcast_to((1.0 + ts)[:, None, None], (ts.size, C, S)),
                    "field": jnp.broadcast_to((2.0 + ts)[:, None, None], (ts.size, n, n))}

    t = np.arange(5.0)  # data nodes, dt = 1
    n = pw.geometry.n
    data = {"theta": np.asarray(pw.nominal_values, float)[None], "edges": np.array([[0.0, 4.0]]),
            "values": np.asarray(pw.control_default, float)[None, None],
            "x": np.broadcast_to((1.0 + t)[None, :, None, None], (1, 5, pw.n_cells, pw.n_species)),
            "L": np.broadcast_to((2.0 + t)[None, :, None, None, None], (1, 5, 1, n, n)), "n_failed": 0, "dt": 1.0}
    for dt in (1.0, 0.5, 0.25):  # any macro step: compared at t = 0, 1, ..., 4
        ev = evaluate(Clock(pw, dt, 4.0), data)
        assert ev["median"] < 1e-15 and ev["field_median"] < 1e-15, (dt, ev["median"])
    old = {k: v for k, v in data.items() if k != "dt"}  # cached before dt was recorded: the model's nodes
    assert evaluate(Clock(pw, 1.0, 4.0), old)["median"] < 1e-15
    wrong = evaluate(Clock(pw, 0.5, 4.0), old)  # the old pairing: t = 0, 0.5, ... against 0, 1, ...
    assert wrong["median"] > 0.3 and wrong["field_median"] > 0.2, wrong["median"]
    with pytest.raises(ValueError, match="beyond the model's horizon"):
        evaluate(Clock(pw, 0.5, 2.0), data)
