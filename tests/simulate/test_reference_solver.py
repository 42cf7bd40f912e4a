"""Reference solver against scipy, analytic solutions and conservation laws."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import pbhno_bayes as pb
from pbhno_bayes.pathways.base import Pathway


def _mapk_rhs(theta, U):
    k1, k2, k3, k4, k5, k6 = theta

    def f(t, x):
        X, Y, Z = x
        return [k1 * U(t) * (1 - X) - k2 * X, k3 * X * (1 - Y) - k4 * Y, k5 * Y * (1 - Z) - k6 * Z]

    return f


@pytest.mark.parametrize("solver", ["tsit5", "kvaerno5"])
def test_mapk_matches_scipy(solver):
    pw = pb.pathways.mapk()
    theta = np.array([1.3, 0.7, 2.1, 0.4, 0.9, 1.6])
    ts = np.linspace(0.0, 10.0, 23)
    fm = pb.MechanisticModel(pw, solver=solver, rtol=1e-10, atol=1e-12)
    ours = np.asarray(fm.predict(theta, ts))[:, 0, :]
    ref = solve_ivp(_mapk_rhs(theta, lambda t: 1.0), (0, 10), [0, 0, 0], t_eval=ts, method="DOP853",
                    rtol=1e-12, atol=1e-14).y.T
    assert np.max(np.abs(ours - ref)) <= 1e-6


def test_mapk_piecewise_control_matches_scipy():
    pw = pb.pathways.mapk()
    theta = np.array([1.3, 0.7, 2.1, 0.4, 0.9, 1.6])
    edges = np.array([2.0, 4.0, 6.5])
    vals = np.array([[3.0], [0.2]])
    sched = pb.Schedule(jnp.asarray(edges), jnp.asarray(vals), jnp.asarray([1.0]))
    ts = np.linspace(0.0, 10.0, 41)
    ours = np.asarray(pb.MechanisticModel(pw, rtol=1e-10, atol=1e-12).predict(theta, ts, sched))[:, 0]

    def U(t):
        return 3.0 if 2.0 <= t < 4.0 else (0.2 if 4.0 <= t < 6.5 else 1.0)

    # integrate piece by piece so scipy never steps across a discontinuity
    x, out, knots = np.zeros(3), [], [0.0, 2.0, 4.0, 6.5, 10.0]
    for a, b in zip(knots[:-1], knots[1:], strict=True):
        sel = ts[(ts >= a) & (ts < b)] if b < 10 else ts[(ts >= a)]
        sol = solve_ivp(_mapk_rhs(theta, lambda t, a=a: U(a)), (a, b), x, t_eval=sel, method="DOP853",
                        rtol=1e-12, atol=1e-14, dense_output=True)
        out.append(sol.y.T)
        x = sol.sol(b)
    ref = np.concatenate(out)
    assert np.max(np.abs(ours - ref)) <= 1e-6


@dataclass(frozen=True, eq=False, repr=False)
class _PureDiffusion(Pathway):
    """Field only: ∂L/∂t = D ∇²L, L(x, 0) = cos(π x) cos(2π y); cells inert."""

    def x0(self, p):
        return jnp.zeros((self.n_cells, 1))

    def cell_rhs(self, x, ell, p, u):
        return jnp.zeros_like(x)

    def L0(self, p):
        c = jnp.asarray(self.geometry.centres)
        X, Y = jnp.meshgrid(c, c, indexing="ij")
        return (jnp.cos(jnp.pi * X) * jnp.cos(2 * jnp.pi * Y))[None]

    def field_terms(self, x, p, u):
        n = self.geometry.n
        z = jnp.zeros((self.n_cells,))
        return p["D"], 0.0, 0.0, z, z, jnp.zeros((n, n))


def _diffusion(n):
    geo = pb.pathways.two_cell(n=n)
    return _PureDiffusion(name="diffusion", species=("x",), param_names=("D",), nominal_values=(0.05,),
                          free=("D",), control_channels=("none",), control_default=(0.0,),
                          control_bounds=((0.0, 1.0),), t_end=1.0, n_cells=2, geometry=geo)


def test_cosine_mode_decay_second_order():
    D, t = 0.05, 1.0
    errs = []
    for n in (8, 16, 32):
        pw = _diffusion(n)
        fm = pb.MechanisticModel(pw, rtol=1e-11, atol=1e-13)
        L = np.asarray(fm.field(jnp.asarray([D]), jnp.asarray([t])))[0]
        c = pw.geometry.centres
        X, Y = np.meshgrid(c, c, indexing="ij")
        exact = np.exp(-D * 5 * np.pi**2 * t) * np.cos(np.pi * X) * np.cos(2 * np.pi * Y)
        errs.append(np.max(np.abs(L - exact)))
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 1.9) and np.all(orders < 2.1), (errs, orders)
    assert errs[-1] < 1e-3


def test_ligand_mass_balance_without_binding_and_degradation():
    pw = pb.pathways.wnt(grid=16)
    theta = pw.theta_vector({"kappa_b": 1e-300, "lambda_": 1e-300})  # positive but zero in effect
    fm = pb.MechanisticModel(pw, rtol=1e-10, atol=1e-12)
    ts = np.array([0.5, 1.0, 2.0, 4.0])
    L = np.asarray(fm.field(theta, ts))
    h2 = pw.geometry.h ** 2
    mass = L.sum(axis=(1, 2)) * h2
    rate = pw.nominal["s_W"] * 1.0 * pw.geometry.source_mask.sum() * h2  # ∫ S dx, control u = 1
    np.testing.assert_allclose(mass, rate * ts, rtol=1e-9)


@pytest.fixture(scope="module")
def notch_long():
    pw = pb.pathways.notch(grid=16)
    fm = pb.MechanisticModel(pw)
    ts = np.array([0.0, 120.0, 150.0])
    return pw, np.asarray(fm.predict(None, ts))


def test_notch_lateral_inhibition_opposite_fates(notch_long):
    pw, S = notch_long
    iD, iH, iN = (pw.species.index(s) for s in ("D", "H", "N"))
    D0, D1 = S[0, :, iD]
    assert abs(D0 - D1) / (D0 + D1) < 0.06  # starts nearly symmetric (±5 % tilt)
    H = S[-1, :, iH]
    D = S[-1, :, iD]
    # the cell that started with more Delta becomes the sender: high Delta, low Hes
    sender, receiver = (0, 1) if D0 > D1 else (1, 0)
    assert D[sender] > 5 * D[receiver]
    assert H[receiver] > 5 * H[sender]
    assert S[-1, receiver, iN] > 5 * S[-1, sender, iN]
    np.testing.assert_allclose(S[-1], S[-2], rtol=2e-2, atol=1e-3)  # a steady patterned state


def test_symmetric_start_stays_symmetric():
    pw = pb.pathways.notch(grid=16)

    class Sym(type(pw)):
        def x0(self, p):
            x = super().x0(p)
            return x.at[:, 1].set(0.5)

    pws = Sym(**{f: getattr(pw, f) for f in pw.__dataclass_fields__})
    S = np.asarray(pb.MechanisticModel(pws).predict(None, np.array([60.0])))[-1]
    np.testing.assert_allclose(S[0], S[1], rtol=1e-6)


def test_failed_solve_is_a_value_not_an_exception():
    pw = pb.pathways.mapk()
    fm = pb.MechanisticModel(pw, max_steps=4)
    ys, ok = fm.predict_status(jnp.ones(6), jnp.linspace(0, 10, 5))
    assert not bool(ok) and np.all(np.isnan(np.asarray(ys)))


def test_jit_vmap_grad_forward_and_reverse_agree():
    pw = pb.pathways.mapk()
    ts = jnp.linspace(0.5, 10, 8)
    obs = jnp.full((8, 1, 3), 0.4)

    def loss(fm, th):
        return jnp.sum((fm.predict(jnp.exp(th), ts) - obs) ** 2)

    th = jnp.log(jnp.array([1.3, 0.7, 2.1, 0.4, 0.9, 1.6]))
    rev = jax.jit(jax.grad(lambda t: loss(pb.MechanisticModel(pw, rtol=1e-10, atol=1e-12), t)))(th)
    fwd = jax.jacfwd(lambda t: loss(pb.MechanisticModel(pw, rtol=1e-10, atol=1e-12, adjoint="forward"), t))(th)
    eps = 1e-6
    tight = jax.jit(jax.vmap(lambda t: loss(pb.MechanisticModel(pw, rtol=1e-12, atol=1e-14), t)))
    steps = eps * np.eye(6)
    fd = (tight(th + steps) - tight(th - steps)) / (2 * eps)
    np.testing.assert_allclose(rev, fwd, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(rev, fd, rtol=1e-5, atol=1e-8)
    batch = jnp.exp(th)[None] * jnp.linspace(0.8, 1.2, 5)[:, None]
    out = jax.jit(jax.vmap(lambda t: pb.MechanisticModel(pw).predict(t, ts)))(batch)
    assert out.shape == (5, 8, 1, 3) and bool(jnp.all(jnp.isfinite(out)))


def test_spatial_gradient_matches_finite_differences():
    """θ-gradient through the ligand PDE and the cells, in the mode pb.fit uses for the reference
    solver (forward sensitivities): finite everywhere and equal to a central difference."""
    pw = pb.pathways.notch(grid=8)
    fm = pb.MechanisticModel(pw, adjoint="forward")
    ts = jnp.array([2.0, 4.0])

    def f(th):
        return fm.predict(th, ts)[..., 3].sum()

    th0 = jnp.asarray(pw.nominal_values)
    g = np.asarray(jax.jit(jax.jacfwd(f))(th0))
    assert g.shape == (len(pw.param_names),) and np.all(np.isfinite(g))
    i = pw.param_names.index("alpha_N")
    eps = 1e-6 * float(th0[i])
    fp, fm_ = np.asarray(jax.jit(jax.vmap(f))(jnp.stack([th0.at[i].add(eps), th0.at[i].add(-eps)])))
    fd = (fp - fm_) / (2 * eps)
    assert abs(g[i]) > 1e-3, g
    np.testing.assert_allclose(g[i], fd, rtol=1e-5)


@pytest.mark.slow  # reverse mode through the spatial solver: ~18 s of compilation
def test_spatial_reverse_gradient_is_finite():
    """Reverse mode (the recursive-checkpoint adjoint) through the ligand PDE: finite, non-zero, and
    equal to the forward sensitivities."""
    pw = pb.pathways.notch(grid=8)
    ts = jnp.array([2.0, 4.0])
    th0 = jnp.asarray(pw.nominal_values)
    g = {}
    for adjoint, diff in (("recursive", jax.grad), ("forward", jax.jacfwd)):
        fm = pb.MechanisticModel(pw, adjoint=adjoint)
        g[adjoint] = np.asarray(jax.jit(diff(lambda th, fm=fm: fm.predict(th, ts)[..., 3].sum()))(th0))
    assert np.all(np.isfinite(g["recursive"])) and abs(g["recursive"][pw.param_names.index("alpha_N")]) > 0
    np.testing.assert_allclose(g["recursive"], g["forward"], rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("bad, match", [("nope", "solver must be one of"), ])
def test_bad_solver_name(bad, match):
    with pytest.raises(ValueError, match=match):
        pb.MechanisticModel(pb.pathways.mapk(), solver=bad)


def test_bad_theta_shape():
    with pytest.raises(ValueError, match="ordered as"):
        pb.MechanisticModel(pb.pathways.mapk()).predict(jnp.ones(3), jnp.ones(2))


def test_bad_control_channel():
    with pytest.raises(ValueError, match="unknown control channel"):
        pb.MechanisticModel(pb.pathways.mapk()).predict(None, jnp.ones(2), control={"EGF": 1.0})
