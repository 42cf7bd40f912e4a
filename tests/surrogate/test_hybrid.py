"""HybridSurrogate: interface, zero-init = physics predictor, physics predictor vs the reference solver."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pbhno_bayes as pb
from pbhno_bayes.surrogate import HybridSurrogate, SurrogateEnsemble, inflate_sigma


@pytest.fixture(scope="module")
def wnt16():
    pw = pb.pathways.wnt(cells=2, grid=16)
    model = HybridSurrogate(pw, width=4, modes=4, mlp_width=16, key=1, dt=1.0, field_substeps=2, ode_steps=1)
    return pw, model


def test_shapes_jit_vmap_grad(wnt16):
    """jit, vmap and the θ-gradient in forward mode (the forward adjoint: what pb.fit uses for
    pruned models). Reverse mode (recursive-checkpoint adjoint) is checked against forward mode in
    the slow test_gradient_matches_finite_differences[substeps-True]: its compilation alone takes
    twice as long (36 vs 18 s on the 2-core CPU)."""
    pw, _ = wnt16
    # the fixture's weights (same key) with the forward adjoint
    model = HybridSurrogate(pw, width=4, modes=4, mlp_width=16, key=1, dt=1.0, field_substeps=2, ode_steps=1,
                            adjoint="forward")
    ts = jnp.linspace(0.0, pw.t_end, 7)
    th = jnp.asarray(pw.nominal_values)

    @eqx.filter_jit  # one compilation for all three transformations (keeps the test fast)
    def run(m, t):
        def loss(t_):
            y_ = m.predict(t_, ts)
            return jnp.sum(y_[..., 2]), y_
        g, y = jax.jacfwd(loss, has_aux=True)(t)  # y: the unbatched forward pass
        ys = jax.vmap(lambda t_: m.predict(t_, ts))(jnp.stack([t, t * 1.1]))
        return y, ys, g

    y, ys, g = run(model, th)
    assert y.shape == (7, pw.n_cells, pw.n_species)
    assert np.all(np.isfinite(np.asarray(y)))
    assert ys.shape == (2, 7, pw.n_cells, pw.n_species)
    np.testing.assert_allclose(np.asarray(ys[0]), np.asarray(y), rtol=1e-10, atol=1e-12)
    assert not np.allclose(np.asarray(ys[1]), np.asarray(y))  # θ really enters the batch
    assert g.shape == th.shape and np.all(np.isfinite(np.asarray(g)))
    # D (diffusion) must influence beta-catenin through the field block
    assert abs(float(g[pw.param_names.index("D")])) > 0


def test_zero_init_is_physics_predictor(wnt16):
    pw, model = wnt16
    p = pw.params(jnp.asarray(pw.nominal_values))
    x = pw.x0(p) * 1.3
    L = jnp.ones((1, 16, 16)) * 0.2
    u = jnp.asarray(pw.control_default)
    ell = jnp.asarray([0.3, 0.1])

    @eqx.filter_jit
    def run(m):
        return (m.physics_step(L, x, x, p, u), m.field_step(L, x, x, p, u), m._rhs(x, ell, p, u, None),
                pw.cell_rhs(x, ell, p, u))

    P, F, r_h, r_m = run(model)
    np.testing.assert_array_equal(np.asarray(F), np.asarray(P))
    np.testing.assert_array_equal(np.asarray(r_h), np.asarray(r_m))
    assert not np.allclose(np.asarray(P), np.asarray(L))  # the predictor did move the field


def _predictor_vs_reference(dt):
    pw = pb.pathways.wnt(cells=2, grid=16)
    ts = jnp.linspace(0.0, pw.t_end, 13)
    th = pw.theta_vector(None)
    ref = pb.MechanisticModel(pw).solve(th, ts)
    out = eqx.filter_jit(lambda m: m.solve(th, ts))(HybridSurrogate(pw, width=4, modes=4, mlp_width=16, dt=dt))
    y, yr = np.asarray(out["states"]), np.asarray(ref["states"])
    rel = np.linalg.norm(y - yr, axis=(0, 1)) / np.linalg.norm(yr, axis=(0, 1))
    fe = np.linalg.norm(np.asarray(out["field"]) - np.asarray(ref["field"])) / np.linalg.norm(np.asarray(ref["field"]))
    return rel, fe


def test_physics_predictor_matches_reference_solver():
    """Untrained (zero-correction) surrogate = physics predictor + coupling; compare to the MOL solver."""
    rel, fe = _predictor_vs_reference(0.25)
    assert np.all(rel < 0.01), rel  # splitting + coupling error at Δt = 0.25, 5 Strang sub-steps
    assert fe < 0.02, fe


@pytest.mark.slow
def test_physics_predictor_converges():
    """Halving Δt shrinks the predictor's error against the reference solver."""
    rel, _ = _predictor_vs_reference(0.25)
    rel_fine, _ = _predictor_vs_reference(0.125)
    assert rel_fine.max() < 0.6 * rel.max()


@pytest.mark.parametrize("exchange, reverse", [("substeps", False),
                                               pytest.param("substeps", True, marks=pytest.mark.slow),
                                               pytest.param("endpoints", True, marks=pytest.mark.slow)])
def test_gradient_matches_finite_differences(exchange, reverse):
    """d/d log θ of a Gaussian-type loss of the rollout: forward mode (the forward adjoint, what
    ``pb.fit`` uses for pruned models) agrees with central differences, and reverse mode (the
    recursive-checkpoint adjoint, used for models with trained blocks) with forward mode, for both
    field–cell exchanges (fixed-step cells, so the rollout is smooth in θ). The reverse-mode cases
    are slow: their compilation alone takes ~25 s on the 2-core CPU."""
    pw = pb.pathways.wnt(cells=2, grid=16)
    kw = dict(dt=1.0, field_substeps=3, ode_steps=2, exchange=exchange)
    m, m_fwd = (HybridSurrogate(pw, adjoint=a, **kw).pruned() for a in ("recursive", "forward"))
    ts = jnp.linspace(1.0, pw.t_end, 5)
    idx = jnp.asarray([pw.param_names.index(f) for f in pw.free])
    th0 = jnp.asarray(pw.theta_vector(None))
    # a fixed misfit target of the states' size (no solve: one program fewer to compile)
    target = np.broadcast_to(np.abs(np.asarray(pw.x0(pw.params(th0)))) + 0.1, (len(ts), pw.n_cells, pw.n_species))

    def loss(z, model=m):
        y = model.predict(th0.at[idx].set(th0[idx] * jnp.exp(z)), ts)
        return 0.5 * jnp.sum((y - target) ** 2)

    z0 = jnp.linspace(-0.2, 0.2, len(idx))
    g_fwd = np.asarray(jax.jit(jax.jacfwd(lambda z: loss(z, m_fwd)))(z0))
    h = 1e-5
    steps = jnp.concatenate([z0 + h * jnp.eye(len(idx)), z0 - h * jnp.eye(len(idx))])
    f = np.asarray(jax.jit(jax.vmap(lambda z: loss(z, m_fwd)))(steps))
    g_fd = (f[: len(idx)] - f[len(idx):]) / (2 * h)
    assert np.any(np.abs(g_fd) > 1e-3)
    np.testing.assert_allclose(g_fwd, g_fd, rtol=1e-5, atol=1e-7)
    if reverse:
        g_rev = np.asarray(jax.jit(jax.grad(loss))(z0))
        np.testing.assert_allclose(g_rev, g_fwd, rtol=1e-9, atol=1e-12)


def test_ensemble_and_inflate_sigma(wnt16):
    pw, m1 = wnt16
    m2 = HybridSurrogate(pw, width=4, modes=4, mlp_width=16, key=2, validation_error=[0.1, 0.2, 0.3])
    m1v = HybridSurrogate(pw, width=4, modes=4, mlp_width=16, key=1, validation_error=[0.1, 0.2, 0.1])
    ens = HybridSurrogate.ensemble([m1v, m2])
    assert isinstance(ens, SurrogateEnsemble)
    np.testing.assert_allclose(ens.validation_error, np.sqrt([0.01, 0.04, 0.05]))
    obs = pb.Observations.from_arrays(np.array([1.0, 2.0]), np.array([[[2.0], [np.nan]], [[1.0], [4.0]]]),
                                      ("beta",), sigma=np.array([[[0.5], [np.nan]], [[0.5], [0.5]]]))
    out = inflate_sigma(obs, m2)
    expect = np.sqrt(0.25 + (0.3 * np.array([[2.0, np.nan], [1.0, 4.0]])) ** 2)
    np.testing.assert_allclose(np.asarray(out.sigma)[..., 0], expect)
    with pytest.raises(ValueError, match="validation_error"):
        inflate_sigma(obs, m1)


def test_bad_input(wnt16):
    pw, model = wnt16
    with pytest.raises(ValueError, match="horizon"):
        model.predict(None, np.array([0.0, pw.t_end + 1.0]))
    with pytest.raises(ValueError, match="theta must have shape"):
        model.predict(np.ones(3), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="modes"):
        HybridSurrogate(pw, modes=9)
    with pytest.raises(ValueError, match="adjoint"):
        HybridSurrogate(pw, adjoint="nope")
    with pytest.raises(ValueError, match="no pretrained"):
        HybridSurrogate.pretrained("mapk")


def test_save_load_roundtrip(tmp_path, wnt16):
    pw, model = wnt16
    model.save(tmp_path / "m", meta={"note": "x"})
    back = HybridSurrogate.load(tmp_path / "m.eqx")
    assert back.config() == model.config()
    la, lb = jax.tree_util.tree_leaves(model), jax.tree_util.tree_leaves(back)
    assert len(la) == len(lb)
    for a, b in zip(la, lb, strict=True):
        assert not isinstance(b, jax.ShapeDtypeStruct)  # every leaf loaded, none left as a bare shape
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # load() starts from a shapes-only skeleton (key=None: no random initialisation to compile)
    skel = HybridSurrogate(pw, **model.config(), key=None)
    learned = [x for x in jax.tree_util.tree_leaves((skel.fno, skel.corr)) if hasattr(x, "shape")]
    assert learned and all(isinstance(x, jax.ShapeDtypeStruct) for x in learned)
    assert [(x.shape, x.dtype) for x in learned] == [
        (a.shape, a.dtype) for a in jax.tree_util.tree_leaves((model.fno, model.corr)) if eqx.is_array(a)]


def test_pruned_skips_exactly_zero_blocks_only(wnt16):
    """pruned() skips a learned block only when its output layer is exactly zero, and changes
    neither predictions nor θ-gradients; a block with one non-zero output weight keeps running."""
    pw, model = wnt16  # fresh model: both output layers are zero-initialised
    assert model.skipped_blocks == ()
    assert model.pruned().skipped_blocks == ("fno", "corr")
    nz_fno = eqx.tree_at(lambda m: m.fno.proj.weight, model, model.fno.proj.weight.at[0, 1].set(0.05))
    assert nz_fno.pruned().skipped_blocks == ("corr",)
    last = model.corr.mlp.layers[-1]
    nz_corr = eqx.tree_at(lambda m: m.corr.mlp.layers[-1].bias, model, last.bias.at[2].set(0.05))
    assert nz_corr.pruned().skipped_blocks == ("fno",)
    no_phys = HybridSurrogate(pw, width=4, modes=4, mlp_width=16, key=1, dt=1.0, field_substeps=2,
                              ode_steps=1, physics=False)
    assert no_phys.pruned().skipped_blocks == ("fno", "corr")
    ts = jnp.linspace(0.0, pw.t_end, 5)
    th = jnp.asarray(pw.nominal_values) * 1.1

    # all-zero blocks: rollout and θ-directional derivative in forward mode (what pb.fit uses for a
    # pruned model, ``preferred_gradient``), same weights with the forward adjoint, one compile each
    fwd = HybridSurrogate(pw, width=4, modes=4, mlp_width=16, key=1, dt=1.0, field_substeps=2, ode_steps=1,
                          adjoint="forward")
    v = jnp.linspace(0.5, 1.5, th.size) * th

    @eqx.filter_jit
    def jvp(m):
        return jax.jvp(lambda t: m.predict(t, ts), (th,), (v,))

    (y0, d0), (y1, d1) = (tuple(np.asarray(a) for a in jvp(m)) for m in (fwd, fwd.pruned()))
    assert np.all(np.isfinite(y0)) and np.any(d0 != 0)
    np.testing.assert_allclose(y1, y0, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(d1, d0, rtol=1e-9, atol=1e-12)

    # a non-zero FNO: pruned() keeps it (and skips only g_ψ) with the same rollout and derivative
    # (the same weight change on ``fwd``: its jvp program is reused, only the pruned one compiles)
    nz_fwd = eqx.tree_at(lambda m: m.fno.proj.weight, fwd, fwd.fno.proj.weight.at[0, 1].set(0.05))
    assert nz_fwd.pruned().skipped_blocks == ("corr",)
    (yf, df), (yf1, df1) = (tuple(np.asarray(a) for a in jvp(m)) for m in (nz_fwd, nz_fwd.pruned()))
    np.testing.assert_allclose(yf1, yf, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(df1, df, rtol=1e-9, atol=1e-12)
    # the non-zero block does change the output, so the equalities above could have failed
    assert not np.allclose(yf, y0) and not np.allclose(df, d0)


@pytest.mark.slow  # two reverse-mode compilations (~20 s each)
def test_pruned_keeps_reverse_mode_gradients(wnt16):
    """Reverse-mode θ-gradients (the recursive-checkpoint adjoint) with and without pruning agree."""
    pw, model = wnt16
    ts = jnp.linspace(0.0, pw.t_end, 5)
    th = jnp.asarray(pw.nominal_values) * 1.1

    @eqx.filter_jit
    def grad(m):
        return jax.grad(lambda t: jnp.sum(m.predict(t, ts)[..., 2]))(th)

    g0, g1 = np.asarray(grad(model)), np.asarray(grad(model.pruned()))
    assert np.all(np.isfinite(g0)) and np.any(g0 != 0)
    np.testing.assert_allclose(g1, g0, rtol=1e-9, atol=1e-12)


def test_corr_theta_feeds_parameters_to_the_correction(tmp_path, wnt16):
    """corr_theta=True: g_ψ sees z(θ_free) besides (x, ℓ), so a non-zero g_ψ makes the correction
    depend on θ; a zero g_ψ leaves the mechanistic kinetics unchanged; the flag survives save/load."""
    pw, _ = wnt16
    kw = dict(width=4, modes=4, mlp_width=16, key=1, dt=1.0, field_substeps=2, ode_steps=1)
    plain, wth = HybridSurrogate(pw, **kw), HybridSurrogate(pw, corr_theta=True, **kw)
    n_plain = plain.corr.mlp.layers[0].weight.shape[1]
    assert wth.corr.mlp.layers[0].weight.shape[1] == n_plain + len(pw.free)
    th = jnp.asarray(pw.nominal_values) * 1.1

    # give g_ψ an output that depends only on its θ inputs: z(θ) must reach it
    last = wth.corr.mlp.layers[-1]
    first = wth.corr.mlp.layers[0]
    w0 = jnp.zeros_like(first.weight).at[0, n_plain].set(1.0)  # hidden unit 0 = relu(z(θ_0))
    m = eqx.tree_at(lambda m: m.corr.mlp.layers[0].weight, wth, w0)
    m = eqx.tree_at(lambda m: m.corr.mlp.layers[0].bias, m, jnp.zeros_like(first.bias))
    for i in range(1, len(m.corr.mlp.layers) - 1):  # pass unit 0 through the hidden layers
        lay = m.corr.mlp.layers[i]
        m = eqx.tree_at(lambda m, i=i: m.corr.mlp.layers[i].weight, m, jnp.zeros_like(lay.weight).at[0, 0].set(1.0))
        m = eqx.tree_at(lambda m, i=i: m.corr.mlp.layers[i].bias, m, jnp.zeros_like(lay.bias))
    m = eqx.tree_at(lambda m: m.corr.mlp.layers[-1].weight, m, jnp.zeros_like(last.weight).at[:, 0].set(0.01))
    i0 = pw.param_names.index(pw.free[0])
    lo, hi = th.at[i0].multiply(0.5), th.at[i0].multiply(3.0)
    z_lo = (np.log(float(lo[i0])) - float(pw.prior.mean[0])) / float(pw.prior.sd[0])
    z_hi = (np.log(float(hi[i0])) - float(pw.prior.mean[0])) / float(pw.prior.sd[0])
    assert z_hi > 0  # relu(z) active at hi
    x = jnp.asarray(pw.x0(pw.params(th)), float).reshape(pw.n_cells, pw.n_species)
    ell = jnp.zeros(pw.n_cells)
    u = jnp.asarray(pw.control_default)
    f_mech = pw.cell_rhs(x, ell, pw.params(hi), u)
    # a zero g_ψ (fresh model) leaves the mechanistic kinetics exactly
    np.testing.assert_array_equal(np.asarray(wth._rhs(x, ell, pw.params(hi), u, wth._extra(hi))), np.asarray(f_mech))
    g_hi = m._rhs(x, ell, pw.params(hi), u, m._extra(hi)) - f_mech
    np.testing.assert_allclose(np.asarray(g_hi), 0.01 * max(z_hi, 0.0) * np.asarray(m.x_scale)[None, :]
                               * np.ones((pw.n_cells, 1)), rtol=1e-9)
    g_lo = m._rhs(x, ell, pw.params(lo), u, m._extra(lo)) - pw.cell_rhs(x, ell, pw.params(lo), u)
    np.testing.assert_allclose(np.asarray(g_lo), 0.01 * max(z_lo, 0.0) * np.asarray(m.x_scale)[None, :]
                               * np.ones((pw.n_cells, 1)), rtol=1e-9, atol=1e-15)

    m.save(tmp_path / "ct")
    back = HybridSurrogate.load(tmp_path / "ct")
    assert back.corr_theta and back.config() == m.config()
    for a_, b_ in zip(jax.tree_util.tree_leaves(m), jax.tree_util.tree_leaves(back), strict=True):
        np.testing.assert_array_equal(np.asarray(a_), np.asarray(b_))


def test_corr_control_feeds_the_control_to_the_correction(wnt16):
    """corr_control=True: g_ψ sees u(t) (ODE-only pathways always do); a non-zero g_ψ then changes
    with u while f_mech's share is unchanged."""
    pw, _ = wnt16
    kw = dict(width=4, modes=4, mlp_width=16, key=1, dt=1.0, field_substeps=2, ode_steps=1)
    plain, wc = HybridSurrogate(pw, **kw), HybridSurrogate(pw, corr_control=True, **kw)
    nu = len(pw.control_default)
    n_plain = plain.corr.mlp.layers[0].weight.shape[1]
    assert wc.corr.mlp.layers[0].weight.shape[1] == n_plain + nu and wc.config()["corr_control"]
    assert HybridSurrogate(pb.pathways.mapk()).corr_control  # ODE-only: always
    last = wc.corr.mlp.layers[-1]
    m = eqx.tree_at(lambda m: m.corr.mlp.layers[-1].weight, wc, jnp.full_like(last.weight, 0.01))
    th = jnp.asarray(pw.nominal_values)
    p = pw.params(th)
    x = jnp.asarray(pw.x0(p), float).reshape(pw.n_cells, pw.n_species)
    ell = jnp.full(pw.n_cells, 0.3)
    u0, u1 = jnp.zeros(nu), jnp.full(nu, 2.0)
    g0 = m._rhs(x, ell, p, u0, None) - pw.cell_rhs(x, ell, p, u0)
    g1 = m._rhs(x, ell, p, u1, None) - pw.cell_rhs(x, ell, p, u1)
    assert np.all(np.isfinite(np.asarray(g0))) and not np.allclose(np.asarray(g0), np.asarray(g1))
    # without the flag the same non-zero network cannot see u
    mp = eqx.tree_at(lambda m: m.corr.mlp.layers[-1].weight, plain, jnp.full_like(plain.corr.mlp.layers[-1].weight, 0.01))
    h0 = mp._rhs(x, ell, p, u0, None) - pw.cell_rhs(x, ell, p, u0)
    h1 = mp._rhs(x, ell, p, u1, None) - pw.cell_rhs(x, ell, p, u1)
    np.testing.assert_allclose(np.asarray(h0), np.asarray(h1), rtol=1e-12)


def test_corr_bound_caps_the_correction_and_round_trips(wnt16, tmp_path):
    """corr_bound=b: g_ψ = b·tanh(MLP/b), so |g_ψ| / x_scale ≤ b however large the network's output,
    ≈ MLP where it is small; an exactly-zero network is still pruned; saved and loaded; bad b refused."""
    pw, _ = wnt16
    kw = dict(width=4, modes=4, mlp_width=16, key=1, dt=1.0, field_substeps=2, ode_steps=1)
    plain, bnd = HybridSurrogate(pw, **kw), HybridSurrogate(pw, corr_bound=0.05, **kw)
    assert plain.corr_bound is None and bnd.config()["corr_bound"] == 0.05
    assert bnd.pruned().skip_corr  # zero-initialised output layer: tanh(0) = 0 exactly
    th = jnp.asarray(pw.nominal_values)
    p = pw.params(th)
    x = jnp.asarray(pw.x0(p), float).reshape(pw.n_cells, pw.n_species)
    ell = jnp.full(pw.n_cells, 0.3)
    u = jnp.asarray(pw.control_default, float)
    xs = np.asarray(bnd.x_scale)
    for scale, small in ((5.0, False), (1e-5, True)):
        def set_w(m, scale=scale):
            last = m.corr.mlp.layers[-1]
            return eqx.tree_at(lambda m: m.corr.mlp.layers[-1].bias, m, jnp.full_like(last.bias, scale))
        g_plain = np.asarray(set_w(plain)._rhs(x, ell, p, u, None) - pw.cell_rhs(x, ell, p, u)) / xs
        g_bnd = np.asarray(set_w(bnd)._rhs(x, ell, p, u, None) - pw.cell_rhs(x, ell, p, u)) / xs
        assert np.all(np.abs(g_bnd) <= 0.05 + 1e-12)
        if small:
            np.testing.assert_allclose(g_bnd, g_plain, rtol=1e-6, atol=1e-15)
        else:
            assert np.all(np.abs(g_plain) > 4.0) and np.all(np.abs(g_bnd) > 0.0499)
    bnd.save(tmp_path / "b")
    assert HybridSurrogate.load(tmp_path / "b").corr_bound == 0.05
    for bad in (0.0, -1.0, float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="corr_bound"):
            HybridSurrogate(pw, corr_bound=bad, **kw)
