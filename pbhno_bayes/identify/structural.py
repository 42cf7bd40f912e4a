r"""Structural (a priori) identifiability by the observability-rank (Lie-derivative) test.

Extended system ξ = (x, θ) with ẋ = f(x, θ), θ̇ = 0 and output y = h(x, θ). The Lie derivatives
L⁰h = h, L^{k+1}h = (∂L^k h/∂ξ)·F(ξ), F = (f, 0), for k = 0..n_x+n_θ−1, stacked give the
observability-identifiability matrix O(ξ) = ∂[L⁰h; …; L^K h]/∂ξ. θ_j is locally structurally
identifiable iff deleting column j lowers rank O at a generic point (Hermann–Krener; Villaverde
et al. 2016 "STRIKE-GOLDSA"). Right null vectors of O restricted to the θ block give the
unidentifiable combinations; we report them on log θ (columns scaled by θ_j), where a null vector
(1, −1) means only k1·k2 is identifiable and (k1, −k2)/‖·‖ means only k1 + k2 is.

Generic points: states uniform in (0.1, 0.9), θ_j = nominal_j·exp(U(−1, 1)). Initial conditions are
therefore treated as unknown/generic (known x(0) can only add information). Numerical rank: rows are
normalised to unit length, columns scaled to log θ, and singular values s < rtol·s_max count as zero
(default rtol = 1e-9 in float64). A parameter is declared identifiable only if it is at every point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["ODEModel", "StructuralResult", "structural_identifiability"]


@dataclass
class ODEModel:
    """A plain ODE for the rank test: ``rhs(x, theta) -> (n_x,)``, ``output(x, theta) -> (n_y,)``.

    Both receive 1-D arrays (jax arrays in the numeric test; python lists of sympy symbols in the
    symbolic test, so write them with indexing and arithmetic only). ``nominal`` sets the scale of
    the random points (default 1 for every parameter).
    """

    rhs: Callable
    output: Callable
    state_names: Sequence[str]
    param_names: Sequence[str]
    nominal: Sequence[float] | None = None


@dataclass
class StructuralResult:
    """Per-parameter verdicts and unidentifiable log-θ combinations (null-space directions)."""

    param_names: tuple
    identifiable: dict
    rank: int
    full_rank: int
    null_directions: list = field(default_factory=list)
    method: str = "numeric"

    @property
    def combinations(self):
        out = []
        for v in self.null_directions:
            order = np.argsort(-np.abs(v))
            terms = [f"{v[j]:+.2f}·log {self.param_names[j]}" for j in order if abs(v[j]) > 1e-3]
            out.append(" ".join(terms))
        return out

    def table(self) -> str:
        lines = ["| parameter | structurally identifiable |", "|---|---|"]
        lines += [f"| {n} | {'yes' if self.identifiable[n] else 'no'} |" for n in self.param_names]
        lines.append(f"\nrank O = {self.rank} of {self.full_rank} ({self.method})")
        for c in self.combinations:
            lines.append(f"- unidentifiable direction: {c}")
        return "\n".join(lines)

    def __repr__(self):
        bad = [n for n, ok in self.identifiable.items() if not ok]
        return f"StructuralResult(rank={self.rank}/{self.full_rank}, unidentifiable={bad})"


def _from_pathway(pathway, observe, free):
    if pathway.spatial:
        raise ValueError(f"{pathway.name} is field-coupled; the rank test needs an ODE pathway "
                         "(wrap its per-cell ODE with the ligand as a known input in pb.identify.ODEModel)")
    bad = [s for s in observe if s not in pathway.species]
    if bad:
        raise ValueError(f"observe={bad} not in {pathway.name} species {pathway.species}")
    free = tuple(free) if free is not None else tuple(pathway.free)
    nx = pathway.n_cells * pathway.n_species
    nominal = np.asarray(pathway.nominal_values)
    fidx = [pathway.param_names.index(n) for n in free]
    oidx = [pathway.species.index(s) for s in observe]
    u = jnp.asarray(pathway.control_default, dtype=jnp.float64)
    ell = jnp.zeros((pathway.n_cells,))

    def full(th):
        return jnp.asarray(nominal).at[jnp.asarray(fidx)].set(th)

    def rhs(x, th):
        X = x.reshape(pathway.n_cells, pathway.n_species)
        return pathway.cell_rhs(X, ell, pathway.params(full(th)), u).reshape(-1)

    def output(x, th):
        return x.reshape(pathway.n_cells, pathway.n_species)[:, oidx].reshape(-1)

    names = [f"{s}[{c}]" for c in range(pathway.n_cells) for s in pathway.species]
    return ODEModel(rhs, output, names, free, nominal[fidx]), nx


def _numeric_O_fn(model, nx, K):
    def F(z):
        return jnp.concatenate([jnp.asarray(model.rhs(z[:nx], z[nx:])), jnp.zeros(z.size - nx)])

    def h0(z):
        return jnp.asarray(model.output(z[:nx], z[nx:]))

    funcs = [h0]
    for _ in range(K):
        prev = funcs[-1]
        funcs.append(lambda z, prev=prev: jax.jvp(prev, (z,), (F(z),))[1])

    def stacked(z):
        return jnp.concatenate([f(z) for f in funcs])

    return jax.jit(jax.jacfwd(stacked))


def _symbolic_rank(model, nx, K):
    import sympy as sp

    xs = list(sp.symbols(f"x0:{nx}"))
    ths = list(sp.symbols(f"p0:{len(model.param_names)}", positive=True))
    xi = sp.Matrix(xs + ths)
    Fv = sp.Matrix(list(model.rhs(xs, ths)) + [0] * len(ths))
    h = sp.Matrix(list(model.output(xs, ths)))
    rows = [h]
    for _ in range(K):
        rows.append(sp.simplify(rows[-1].jacobian(xi) * Fv))
    Omat = sp.Matrix.vstack(*rows).jacobian(xi)
    r = Omat.rank(simplify=True)
    ident = {}
    for j, n in enumerate(model.param_names):
        Oj = Omat.copy()
        Oj.col_del(nx + j)
        ident[n] = Oj.rank(simplify=True) < r
    null = []
    for v in Omat.nullspace():
        vt = np.array([float(sp.nsimplify(c).subs({t: 1 for t in ths}).subs({x: 0.5 for x in xs}))
                       for c in v[nx:]], dtype=float)
        # Convert to log-θ coordinates at θ = 1 (nominal scale) for display.
        if np.linalg.norm(vt) > 0:
            null.append(vt / np.linalg.norm(vt))
    return r, ident, null


def structural_identifiability(model, observe=None, *, method="numeric", n_points=5, seed=0, rtol=1e-9,
                               free=None, order=None):
    """Observability-rank test (module docstring).

    model : a Pathway (ODE-only; ``observe`` = observed species, default ``pathway.default_observe``;
        the control is held at ``control_default``) or an :class:`ODEModel`.
    method : "numeric" (JAX Lie derivatives at ``n_points`` random points), "symbolic" (sympy;
        ODEModel only, small systems) or "auto" (symbolic for ODEModels with n_x + n_θ ≤ 5).
    order : highest Lie derivative (default n_x + n_θ − 1). Fewer derivatives can only lower the
        rank, so full rank at a lower order already proves identifiability (and is much cheaper:
        the cost grows about 2^order).
    Returns :class:`StructuralResult`.
    """
    if method not in ("numeric", "symbolic", "auto"):
        raise ValueError(f"method must be 'numeric', 'symbolic' or 'auto', got {method!r}")
    if isinstance(model, ODEModel):
        nx = len(model.state_names)
    elif hasattr(model, "cell_rhs"):
        observe = tuple(observe) if observe is not None else tuple(model.default_observe)
        if not observe:
            raise ValueError("observe is empty; pass observe=[species, ...]")
        if method == "symbolic":
            raise ValueError("method='symbolic' needs an ODEModel with sympy-compatible rhs; use method='numeric'")
        model, nx = _from_pathway(model, observe, free)
    else:
        raise ValueError("model must be a pb Pathway or a pb.identify.ODEModel")
    P = len(model.param_names)
    K = (nx + P - 1) if order is None else int(order)
    names = tuple(model.param_names)
    if method == "auto":
        method = "symbolic" if nx + P <= 5 else "numeric"
    if method == "symbolic":
        r, ident, null = _symbolic_rank(model, nx, K)
        return StructuralResult(names, ident, r, nx + P, null, "symbolic")

    rng = np.random.default_rng(seed)
    nominal = np.ones(P) if model.nominal is None else np.asarray(model.nominal, dtype=np.float64)
    ident = {n: True for n in names}
    best_rank, null = -1, []
    Ofn = _numeric_O_fn(model, nx, K)
    for _ in range(n_points):
        th = nominal * np.exp(rng.uniform(-1, 1, P))
        xi = np.concatenate([rng.uniform(0.1, 0.9, nx), th])
        Omat = np.array(Ofn(jnp.asarray(xi)))
        Omat[:, nx:] = Omat[:, nx:] * th                        # ∂/∂log θ
        nrm = np.linalg.norm(Omat, axis=1, keepdims=True)
        Omat = Omat[nrm[:, 0] > 0] / nrm[nrm[:, 0] > 0]
        s_all = np.linalg.svd(Omat, compute_uv=False)
        tol = rtol * s_all[0]
        r = int(np.sum(s_all > tol))
        for j, n in enumerate(names):
            sj = np.linalg.svd(np.delete(Omat, nx + j, axis=1), compute_uv=False)
            if int(np.sum(sj > tol)) == r:
                ident[n] = False
        if r > best_rank:
            best_rank = r
            _, _, Vt = np.linalg.svd(Omat)
            nv = Vt[r:].T                                  # (nx+P, nullity)
            null = []
            if nv.size:
                # Keep the θ part of the null space and orthonormalise it for display.
                tp = nv[nx:]
                u, sv, wt = np.linalg.svd(tp, full_matrices=False)
                for k in range(len(sv)):
                    if sv[k] > 1e-6:
                        v = u[:, k]
                        null.append(v * np.sign(v[np.argmax(np.abs(v))]))
    return StructuralResult(names, ident, best_rank, nx + P, null, "numeric")
