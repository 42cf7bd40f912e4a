"""Shipped weights load, run on CPU, and meet the issue's accuracy bar against the reference solver.

Bar (issue 4): on held-out θ from the prior, relative L2 error of the observed species ≤ 2 %
median and ≤ 5 % at the 95th percentile; ligand field ≤ 5 % median.

* default test: 4 held-out θ per pathway (seed 1234) against cached reference trajectories
  (``surrogate_heldout.FIXTURE``), so only the surrogate runs;
* slow tests: 32 fresh held-out θ per pathway (seed 4321) with the reference solved live, and a
  check that the cached fixture still equals the reference solver's output.
"""

import hashlib
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from surrogate_heldout import (
    FIXTURE,
    FIXTURE_N,
    build_fixture,
    held_out_theta,
    reference,
    relative_errors,
    times,
)

from pbhno_bayes.surrogate import HybridSurrogate
from pbhno_bayes.surrogate.hybrid import WEIGHTS_DIR

MEDIAN_BAR, P95_BAR, FIELD_BAR = 0.02, 0.05, 0.05


_ROLLOUTS: dict = {}


def _model_key(sur) -> str:
    """Everything that sets a rollout: settings, pruned blocks, pathway and the weights' bytes."""
    h = hashlib.sha1(json.dumps([sur.config(), sur.skipped_blocks, sur.pathway.name, sur.pathway.t_end,
                                 dict(sur.pathway.kwargs)], sort_keys=True, default=str).encode())
    for leaf in jax.tree_util.tree_leaves(eqx.filter(sur, eqx.is_array)):
        h.update(np.asarray(leaf).tobytes())
    return h.hexdigest()


def _surrogate_rollouts(sur, theta):
    """(states, field, ok) of ``sur`` on ``theta`` at the fixture's times. Memoised on the model's
    settings and weights, so tests that roll out the same model on the same θ share one
    compilation (each new model is a new trace: a few seconds to tens of seconds on CPU)."""
    theta = np.asarray(theta)
    key = (_model_key(sur), theta.tobytes(), theta.shape)
    if key not in _ROLLOUTS:
        ts = jnp.asarray(times(sur.pathway))
        out = jax.jit(jax.vmap(lambda t: sur.solve(t, ts)))(jnp.asarray(theta))
        _ROLLOUTS[key] = tuple(np.asarray(out[k]) for k in ("states", "field", "ok"))
    return tuple(a.copy() for a in _ROLLOUTS[key])


def _check_bar(err, fe):
    assert np.all(np.isfinite(err)) and np.all(np.isfinite(fe)), (err, fe)
    assert np.median(err) <= MEDIAN_BAR, (np.median(err), err)
    assert np.percentile(err, 95) <= P95_BAR, (np.percentile(err, 95), err)
    assert np.median(fe) <= FIELD_BAR, (np.median(fe), fe)


@pytest.mark.parametrize("name", ["notch", "wnt"])
def test_pretrained_loads_and_tracks_solver(name):
    if not (WEIGHTS_DIR / f"{name}.eqx").exists():
        pytest.fail(f"{name} weights not shipped")
    meta = HybridSurrogate.pretrained_meta(name)
    assert meta["meta"]["command"].startswith("pbhno train")
    sur = HybridSurrogate.pretrained(name)
    assert sur.validation_error is not None and len(sur.validation_error) == sur.pathway.n_species
    with np.load(FIXTURE) as z:
        th, yr, fr = z[f"{name}_theta"], z[f"{name}_states"], z[f"{name}_field"]
    # the held-out θ are what the generator says (seed 1234, not a training seed); to rounding, since
    # numpy releases may differ in the last bit of exp
    np.testing.assert_allclose(th, held_out_theta(sur.pathway, FIXTURE_N, 1234), rtol=1e-13, atol=0)
    y, f, ok = _surrogate_rollouts(sur, th)
    assert ok.all(), ok  # no failed rollout inside the prior (the bug this test was written for)
    assert np.all(f > -1e-6), f.min()  # ligand stays non-negative
    err, fe = relative_errors(sur.pathway, y, yr, f, fr)
    _check_bar(err, fe)


_NOTCH_TAIL = ("Notch's end-point exchange at dt = 0.25 (every Notch model before 2026-12-01, and notch_learned) "
               "misses the p95 bar under the default control on these 32 θ (p95 5.5 %, max 18 %: splitting "
               "error; reports/surrogate.md, 'Default-control tail'); the sub-step exchange is the fix")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["notch", "wnt",
                                  pytest.param("notch_learned", marks=pytest.mark.xfail(strict=True, reason=_NOTCH_TAIL)),
                                  "wnt_learned", "wnt_fno",
                                  pytest.param("notch-endpoints", marks=pytest.mark.xfail(strict=True, reason=_NOTCH_TAIL)),
                                  "notch-endpoints-dt0.125", "notch-sub20"])
def test_pretrained_accuracy_bar(name):
    """32 fresh held-out θ (seed 4321), default control, reference solved live. ``notch`` is the
    sub-step exchange (p95 1.4 %, max 1.8 % when it was introduced); ``-endpoints``: the shipped
    Notch physics with the end-point exchange it had before 2026-12-01 (:meth:`HybridSurrogate.with_exchange`);
    ``-dt0.125``: at half its macro step (:meth:`HybridSurrogate.with_macro_step`), the earlier
    fix; ``-sub20``: 20 field sub-steps (:meth:`HybridSurrogate.with_field_substeps`)."""
    base, *opts = name.split("-")
    sur = HybridSurrogate.pretrained(base)
    for o in opts:
        if o == "endpoints":
            sur = sur.with_exchange("endpoints")
        elif o.startswith("dt"):
            sur = sur.with_macro_step(float(o[2:]))
        else:
            sur = sur.with_field_substeps(int(o[3:]))
    th = held_out_theta(sur.pathway, 32, 4321)
    yr, fr, okr = reference(sur.pathway, th)
    assert okr.all()
    y, f, ok = _surrogate_rollouts(sur, th)
    assert ok.all()
    err, fe = relative_errors(sur.pathway, y, yr, f, fr)
    _check_bar(err, fe)


@pytest.mark.slow
def test_reference_fixture_is_current():
    fresh = build_fixture()
    with np.load(FIXTURE) as z:
        assert set(z.files) == set(fresh)
        for k, v in fresh.items():
            # to the reference solver's own accuracy (rtol 1e-6, atol 1e-8), not bit for bit: numpy
            # releases differ in the last bit of exp, so θ moves by 1e-16 and the adaptive solver
            # takes other steps (Wnt field up to 4e-8 apart with numpy 2.4.6)
            np.testing.assert_allclose(z[k], v, rtol=1e-6, atol=1e-7, err_msg=k)


def test_failed_rollout_stops_spending_solver_steps():
    """A rollout that fails (here: a θ far outside the prior that the adaptive cell solver cannot
    finish within ode_max_steps) is NaN and stops integrating: later macro steps do no ODE work,
    so a vmapped batch does not wait ode_max_steps × remaining steps for it (the stall that made
    posterior-predictive passes of wide Laplace posteriors take tens of minutes)."""
    sur = HybridSurrogate.pretrained("notch").with_horizon(12.0)
    pw = sur.pathway
    base = np.asarray(pw.theta_vector())
    bad = base.copy()
    bad[list(pw.nominal).index("alpha_R")] = np.inf  # rates overflow: every step is rejected
    times = jnp.linspace(1.0, 12.0, 4)
    run = jax.jit(jax.vmap(lambda th: sur.solve(th, times)))
    out = run(jnp.asarray(np.stack([base, bad])))
    steps = np.asarray(out["num_steps"])
    assert bool(out["ok"][0]) and np.all(np.isfinite(out["states"][0]))
    assert not bool(out["ok"][1]) and np.all(np.isnan(out["states"][1]))
    # the failing member spends at most the predictor's and the corrector's budget of one step
    assert steps[1] <= 2 * sur.ode_max_steps, steps
    assert steps[1] < sur.n_macro * sur.ode_max_steps / 4, steps


@pytest.mark.parametrize("name", ["notch", "wnt"])
def test_pretrained_skips_its_zero_blocks_and_runs_in_float32(name):
    """Training never beat the physics predictor, so the shipped FNO and g_ψ output layers are
    exactly zero and pretrained() skips them (pruned() skips only exactly-zero output layers and
    leaves rollouts and gradients unchanged: tests/surrogate/test_hybrid.py); prune=False evaluates
    them. float32 θ gives a float32 rollout close to the float64 one on the cached held-out θ (Wnt's
    source mask used to promote the field to float64 and break the scan carry)."""
    full = HybridSurrogate.pretrained(name, prune=False)
    sur = HybridSurrogate.pretrained(name)
    assert full.skipped_blocks == () and sur.skipped_blocks == ("fno", "corr")
    # without the networks, forward-mode sensitivities are the cheaper gradient for 6 parameters
    assert sur.preferred_gradient == "forward" and full.preferred_gradient == "reverse"
    with np.load(FIXTURE) as z:
        th = z[f"{name}_theta"]
    b = _surrogate_rollouts(sur, th)[0]  # shared with test_pretrained_loads_and_tracks_solver
    assert np.all(np.isfinite(b))
    ts = jnp.asarray(times(sur.pathway), jnp.float32)
    c = jax.jit(jax.vmap(lambda t: sur.predict(t, ts)))(jnp.asarray(th, jnp.float32))
    assert c.dtype == jnp.float32 and b.dtype == np.float64
    rel = np.linalg.norm(np.asarray(c, float) - b) / np.linalg.norm(b)
    assert rel < 1e-4, rel


@pytest.mark.slow  # the unpruned shipped models compile and run their zero FNO / g_ψ (~30 s each)
@pytest.mark.parametrize("name", ["notch", "wnt"])
def test_pretrained_pruned_and_unpruned_rollouts_agree(name):
    """The shipped models with their zero blocks evaluated (prune=False) give the rollouts of the
    pruned ones on the cached held-out θ."""
    with np.load(FIXTURE) as z:
        th = z[f"{name}_theta"]
    a = _surrogate_rollouts(HybridSurrogate.pretrained(name, prune=False), th)[0]
    b = _surrogate_rollouts(HybridSurrogate.pretrained(name), th)[0]
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.slow  # an opt-in of the end-point exchange, no longer the default scheme
def test_cheaper_predictor_pass_stays_close_and_round_trips(tmp_path):
    """``with_predictor_substeps(m)`` runs only the predictor pass (the frozen-cell field guess
    that sets ℓ at the end of a macro step) with m sub-steps: the rollout moves, but by far less
    than the surrogate's own error against the reference (≈ 3e-3 median); at horizon 48 on the
    accuracy benchmark's 48 θ, m = 2 moves rollouts by 9e-5 median, 8e-4 max (reports/surrogate.md). ``m = field_substeps`` is the default exactly,
    the setting survives save/load, and bad values are refused. It belongs to the end-point
    exchange (the sub-step exchange has no predictor field pass and refuses it)."""
    with pytest.raises(ValueError, match="predictor_substeps applies to exchange='endpoints' only"):
        HybridSurrogate.pretrained("notch").with_predictor_substeps(2)
    sur = HybridSurrogate.pretrained("notch").with_exchange("endpoints").with_horizon(6.0)
    assert sur.predictor_substeps is None and sur.field_substeps == 10
    th = jnp.asarray(held_out_theta(sur.pathway, 2, 77))
    ts = jnp.linspace(0.5, 6.0, 4)
    run = lambda m: np.asarray(jax.jit(jax.vmap(lambda t: m.predict(t, ts)))(th))  # noqa: E731
    a, b = run(sur), run(sur.with_predictor_substeps(2))
    assert np.all(np.isfinite(b))
    rel = np.linalg.norm((b - a).reshape(2, -1), axis=1) / np.linalg.norm(a.reshape(2, -1), axis=1)
    assert np.all(rel > 0) and np.all(rel < 1e-4), rel  # it acts, and only a little
    np.testing.assert_array_equal(run(sur.with_predictor_substeps(10)), a)
    fast = sur.with_predictor_substeps(2)
    fast.save(tmp_path / "fast")
    back = HybridSurrogate.load(tmp_path / "fast")
    assert back.predictor_substeps == 2 and back.skipped_blocks == ("fno", "corr") and back.exchange == "endpoints"
    assert sur.with_predictor_substeps(2).with_predictor_substeps(None).predictor_substeps is None
    with pytest.raises(ValueError, match="predictor_substeps applies to exchange='endpoints' only"):
        fast.with_exchange("substeps")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="predictor_substeps"):
            sur.with_predictor_substeps(bad)


def _fixture_errors(pathway, models):
    """{name: (species errors, field errors)} of each model on the cached held-out θ of ``pathway``
    (``notch`` or ``wnt``: 4 θ, default control), and the θ."""
    with np.load(FIXTURE) as z:
        th, yr, fr = z[f"{pathway}_theta"], z[f"{pathway}_states"], z[f"{pathway}_field"]
    errs = {}
    for name, sur in models.items():
        y, f, ok = _surrogate_rollouts(sur, th)
        assert ok.all(), name
        errs[name] = relative_errors(sur.pathway, y, yr, f, fr)
    return errs, th


def test_learned_wnt_beats_its_physics_predictor():
    """``wnt_learned`` ships a trained kinetics correction g_ψ (the FNO frozen at zero and skipped;
    full-horizon rollout loss, command in its JSON). On the 4 cached held-out θ it meets the bar and
    is closer to the reference than the physics predictor alone (``wnt``): at the time of shipping
    β-catenin median 0.26 % vs 0.49 %, worst θ 0.36 % vs 0.81 %. The field is the predictor's.
    Its physics predictor is the end-point exchange it was trained with (a saved model without the
    ``exchange`` key loads with it); the shipped ``wnt`` uses the sub-step exchange since 2026-12-01."""
    meta = HybridSurrogate.pretrained_meta("wnt_learned")["meta"]
    assert meta["command"].startswith("pbhno train wnt") and "--freeze fno" in meta["command"]
    learned = HybridSurrogate.pretrained("wnt_learned")
    physics = HybridSurrogate.pretrained("wnt").with_exchange("endpoints")
    assert learned.skipped_blocks == ("fno",) and physics.skipped_blocks == ("fno", "corr")
    assert learned.exchange == "endpoints"
    errs, _ = _fixture_errors("wnt", {"learned": learned, "physics": physics})
    (el, fl), (ep, fp) = errs["learned"], errs["physics"]
    _check_bar(el, fl)
    assert np.median(el) < 0.75 * np.median(ep), (el, ep)
    assert np.max(el) < np.max(ep), (el, ep)
    assert np.all(fl <= 1.05 * fp), (fl, fp)


def test_trained_fno_learns_the_wnt_field():
    """``wnt_fno`` ships a trained FNO ligand operator 𝒢_φ (g_ψ and the stencils frozen; one-step
    then 4-step rollout windows on 256 training θ, command in its JSON): the FNO is evaluated (not
    skipped, its output layer is non-zero) and on the 4 cached held-out θ it meets the bar with a
    ligand field much closer to the reference than the physics predictor's (``wnt``). At shipping:
    field 0.10-0.44 % vs 0.55-1.00 %, β-catenin median 0.24 vs 0.49 % (one θ worse: 1.22 vs 0.57 %)."""
    meta = HybridSurrogate.pretrained_meta("wnt_fno")["meta"]
    assert meta["command"].startswith("pbhno train wnt") and "--freeze corr ops" in meta["command"]
    fno = HybridSurrogate.pretrained("wnt_fno")
    physics = HybridSurrogate.pretrained("wnt")
    assert fno.skipped_blocks == ("corr",) and fno.exchange == physics.exchange == "substeps"
    assert float(jnp.max(jnp.abs(fno.fno.proj.weight))) > 0
    errs, _ = _fixture_errors("wnt", {"fno": fno, "physics": physics})
    (el, fl), (ep, fp) = errs["fno"], errs["physics"]
    _check_bar(el, fl)
    assert np.median(fl) < 0.5 * np.median(fp), (fl, fp)
    assert np.max(fl) < np.max(fp), (fl, fp)
    assert np.median(el) < np.median(ep), (el, ep)


@pytest.mark.slow  # notch_learned is no longer the better Notch model (the sub-step notch is)
def test_learned_notch_beats_its_physics_predictor():
    """``notch_learned`` ships a trained kinetics correction g_ψ and trained coupling stencils (FNO
    frozen at zero and skipped), chosen on validation θ *and* pulse trains with the correction
    scaled by 0.5 (``--correction-scales``, command in its JSON). On the 4 cached held-out θ under
    the default control it meets the bar and its median error is lower than ``notch``'s (the
    physics predictor) with 3 of the 4 θ closer; the field's median error is lower too. Not on every θ: the
    stiffest one (D_L 0.129, top of the prior) is farther, 3.3 vs 2.2 % at the time of shipping
    (reports/surrogate.md, "Notch, fifth round"). As for ``wnt_learned``, the comparison is with the
    end-point exchange it was trained with; the shipped ``notch`` (sub-step exchange) beats both
    (``test_substep_exchange_fixes_the_notch_tail``)."""
    meta = HybridSurrogate.pretrained_meta("notch_learned")["meta"]
    assert meta["command"].startswith("pbhno train notch") and "--correction-scales" in meta["command"]
    assert meta["metrics"]["correction_scale"] == 0.5
    learned = HybridSurrogate.pretrained("notch_learned")
    physics = HybridSurrogate.pretrained("notch").with_exchange("endpoints")
    assert learned.skipped_blocks == ("fno",) and physics.skipped_blocks == ("fno", "corr")
    assert learned.exchange == "endpoints"
    errs, th = _fixture_errors("notch", {"learned": learned, "physics": physics})
    (el, fl), (ep, fp) = errs["learned"], errs["physics"]
    _check_bar(el, fl)
    per_l, per_p = el.reshape(len(th), -1).max(axis=1), ep.reshape(len(th), -1).max(axis=1)  # worst species per θ
    assert np.sum(per_l < per_p) >= 3, (per_l, per_p)
    assert np.median(el) < 0.75 * np.median(ep), (el, ep)
    assert np.median(fl) < np.median(fp), (fl, fp)


@pytest.mark.slow  # the default suite checks half the step in test_substep_exchange_fixes_the_notch_tail
def test_smaller_macro_step_shrinks_the_physics_schemes_error():
    """``with_macro_step``: the pruned physics scheme at a smaller Δt is closer to the reference on
    every cached held-out θ (its error is splitting error), at the trained Δt it is the model
    itself, and models with trained blocks or a bad Δt are refused."""
    sur = HybridSurrogate.pretrained("notch")
    same = sur.with_macro_step(sur.dt)
    assert same.dt == sur.dt and jax.tree_util.tree_structure(same) == jax.tree_util.tree_structure(sur)
    fine = sur.with_macro_step(sur.dt / 2)
    assert fine.n_macro == 2 * sur.n_macro
    errs, th = _fixture_errors("notch", {"default": sur, "fine": fine})
    (ed, fd), (ef, ff) = errs["default"], errs["fine"]
    _check_bar(ef, ff)
    per_d, per_f = ed.reshape(len(th), -1).max(axis=1), ef.reshape(len(th), -1).max(axis=1)
    assert np.all(per_f < 0.6 * per_d), (per_f, per_d)  # ≈ 3× smaller at half the step
    assert np.all(ff < fd), (ff, fd)
    with pytest.raises(ValueError, match="trained blocks"):
        HybridSurrogate.pretrained("notch_learned").with_macro_step(0.125)
    for bad in (0, -0.1, float("nan"), True, "0.1", 100.0):
        with pytest.raises(ValueError, match=r"dt must be a number in \(0, horizon"):
            sur.with_macro_step(bad)


def test_substep_exchange_fixes_the_notch_tail():
    """The shipped ``notch`` exchanges field and cell states at every field sub-step (``exchange =
    "substeps"``, since 2026-12-01). On the 4 cached held-out θ (default control) it meets the bar
    and is closer than the end-point exchange on the stiffest θ (1.6 vs 2.2 % when introduced;
    on the slow test's 32 θ the worst goes from 18.5 to 1.8 %)."""
    sur = HybridSurrogate.pretrained("notch")
    assert sur.exchange == "substeps" and sur.field_substeps == 10 and sur.predictor_substeps is None
    errs = _notch_fixture_errors({"sub": sur, "end": sur.with_exchange("endpoints")})[1]
    _check_bar(*errs["sub"])
    stiff = int(np.argmax(errs["end"][0]))
    assert errs["sub"][0][stiff] < 0.85 * errs["end"][0][stiff], (errs["sub"], errs["end"])


def _notch_fixture_errors(models):
    """Rollouts and (worst-species error per θ, field errors) on the cached Notch held-out θ."""
    with np.load(FIXTURE) as z:
        th, yr, fr = z["notch_theta"], z["notch_states"], z["notch_field"]
    ys, errs = {}, {}
    for k, m in models.items():
        y, f, ok = _surrogate_rollouts(m, th)
        assert ok.all(), k
        ys[k] = y
        e, fe = relative_errors(m.pathway, y, yr, f, fr)
        errs[k] = (e.reshape(len(th), -1).max(axis=1), fe)
    return ys, errs


@pytest.mark.slow  # two more Notch compilations (~30 s); the default suite keeps the comparison above
def test_substep_exchange_error_is_set_by_the_substep():
    """The sub-step exchange's error is set by the sub-step τ = Δt / m, not by Δt: half the macro
    step and twice the sub-steps give the same rollouts (2e-5 apart, against 3e-3–8e-3 from the
    default), both closer to the reference on every cached θ."""
    sur = HybridSurrogate.pretrained("notch")
    ys, errs = _notch_fixture_errors({"sub": sur, "half_dt": sur.with_macro_step(sur.dt / 2),
                                      "m20": sur.with_field_substeps(20)})

    def dist(a, b):
        return np.linalg.norm((a - b).reshape(len(a), -1), axis=1) / np.linalg.norm(b.reshape(len(b), -1), axis=1)

    assert np.all(dist(ys["half_dt"], ys["m20"]) < 0.02 * dist(ys["sub"], ys["m20"])), (
        dist(ys["half_dt"], ys["m20"]), dist(ys["sub"], ys["m20"]))
    for k in ("half_dt", "m20"):
        assert np.all(errs[k][0] < 0.6 * errs["sub"][0]), (k, errs[k], errs["sub"])


def test_exchange_options_are_checked_and_saved(tmp_path):
    """Models saved before the sub-step exchange existed load with the end-point exchange they were
    made with (the learned ones); the setting survives save/load; bad values and switching a model
    with trained blocks are refused with one-line errors."""
    import pbhno_bayes as pb

    for name in ("notch_learned", "wnt_learned"):
        learned = HybridSurrogate.pretrained(name)
        assert learned.exchange == "endpoints" and "exchange" not in HybridSurrogate.pretrained_meta(name)["config"]
        for change in (lambda m: m.with_exchange("substeps"), lambda m: m.with_field_substeps(20)):
            with pytest.raises(ValueError, match="this model has trained blocks"):
                change(learned)
    sur = HybridSurrogate.pretrained("notch")
    for ex in ("substeps", "endpoints"):
        sur.with_exchange(ex).with_field_substeps(12).save(tmp_path / ex)
        back = HybridSurrogate.load(tmp_path / ex)
        assert back.exchange == ex and back.field_substeps == 12
    for bad in ("midpoint", None, 1):
        with pytest.raises(ValueError, match="exchange must be one of"):
            sur.with_exchange(bad)
    for bad in (0, -1, 1.5, True, "20"):
        with pytest.raises(ValueError, match="with_field_substeps: m must be a whole number >= 1"):
            sur.with_field_substeps(bad)
    with pytest.raises(ValueError, match="predictor_substeps applies to exchange='endpoints' only"):
        HybridSurrogate(pb.pathways.wnt(cells=2, grid=16), predictor_substeps=2)
    with pytest.raises(ValueError, match="predictor_substeps applies to exchange='endpoints' only"):
        sur.with_predictor_substeps(2)
    with pytest.raises(ValueError, match="trained blocks"):
        HybridSurrogate.pretrained("notch_learned").with_macro_step(0.125)
    for bad in (0, -0.1, float("nan"), True, "0.1", 100.0):
        with pytest.raises(ValueError, match=r"dt must be a number in \(0, horizon"):
            sur.with_macro_step(bad)


@pytest.mark.slow  # four wnt_learned compilations (~50 s); the option's contract is checked below
def test_predictor_solve_without_correction_keeps_wnt_learned_accurate():
    """``with_predictor_correction(False)``: the cells' predictor solve integrates f_mech alone (the
    corrector keeps f_mech + g_ψ). On ``wnt_learned`` (4 cached held-out θ), with and without the
    cheaper predictor pass, the rollout moves by far less than its own error (benchmark, 32 θ:
    median 0.246 vs 0.244 %), still meets the bar and still beats the physics-only ``wnt``."""
    learned = HybridSurrogate.pretrained("wnt_learned")
    with np.load(FIXTURE) as z:
        th, yr, fr = z["wnt_theta"], z["wnt_states"], z["wnt_field"]
    y0, _, _ = _surrogate_rollouts(learned, th)
    yp, fp, _ = _surrogate_rollouts(HybridSurrogate.pretrained("wnt").with_exchange("endpoints"), th)
    ep = relative_errors(learned.pathway, yp, yr, fp, fr)[0]
    for variant in (learned.with_predictor_correction(False),
                    learned.with_predictor_correction(False).with_predictor_substeps(2)):
        y, f, ok = _surrogate_rollouts(variant, th)
        assert ok.all()
        rel = np.linalg.norm((y - y0).reshape(len(th), -1), axis=1) / np.linalg.norm(y0.reshape(len(th), -1), axis=1)
        assert np.all(rel > 0) and np.all(rel < 1e-3), rel  # it acts, and only a little
        el, fl = relative_errors(learned.pathway, y, yr, f, fr)
        _check_bar(el, fl)
        assert np.median(el) < 0.75 * np.median(ep), (el, ep)


def test_predictor_correction_option_round_trips_and_is_checked(tmp_path):
    """``with_predictor_correction``: the setting survives save/load, bad values are refused, and a
    model whose g_ψ is pruned is unchanged bit for bit (nothing to drop)."""
    learned = HybridSurrogate.pretrained("wnt_learned")
    assert learned.predictor_correction is True
    off = learned.with_predictor_correction(False)
    off.save(tmp_path / "off")
    back = HybridSurrogate.load(tmp_path / "off")
    assert back.predictor_correction is False and back.with_predictor_correction(True).config() == learned.config()
    notch = HybridSurrogate.pretrained("notch")  # g_ψ pruned: nothing to drop
    with np.load(FIXTURE) as z:
        th_n = z["notch_theta"]
    off_n = notch.with_predictor_correction(False)
    assert off_n.predictor_correction is False
    np.testing.assert_array_equal(_surrogate_rollouts(off_n, th_n)[0], _surrogate_rollouts(notch, th_n)[0])
    for bad in (0, 1, "no", None):
        with pytest.raises(ValueError, match="predictor_correction must be True or False"):
            learned.with_predictor_correction(bad)


def test_pretrained_refuses_a_model_of_another_pathway():
    """``pathway=`` names what the caller needs; a shipped model of another pathway is refused."""
    import pbhno_bayes as pb

    with pytest.raises(ValueError, match="surrogate 'wnt_learned' is a wnt model, not notch"):
        HybridSurrogate.pretrained("wnt_learned", pathway="notch")
    with pytest.raises(ValueError, match="is a notch model, not wnt"):
        HybridSurrogate.pretrained("notch", pathway=pb.pathways.wnt())
    with pytest.raises(ValueError, match=r"trained for notch with cells=2 \(asked 4\)"):
        HybridSurrogate.pretrained("notch", pathway=pb.pathways.notch(cells=4))
    assert HybridSurrogate.pretrained("wnt_learned", pathway="wnt").pathway.name == "wnt"
    assert HybridSurrogate.pretrained("notch", pathway=pb.pathways.notch()).pathway.n_cells == 2
