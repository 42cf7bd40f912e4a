"""The PB-HNO hybrid surrogate (paper Section IV): FNO ligand operator + neural-ODE kinetics.

One macro step t_k → t_{k+1} = t_k + Δt of a spatial pathway, state (L (F, n, n), x (C, S)):

1. Field (eq 4, residual form around a physics step)::

       b̂ = κ_b Σ_i R_i B_i          (boundary consumption channel, ℬ_i trainable)
       S = source terms of ``pathway.field_terms`` at the cells' states, u(t_k + Δt/2)
       P = m Strang sub-steps (react ½τ, exact discrete diffusion τ, react ½τ), τ = Δt/m
       L_{k+1} = P + s_L · 𝒢_φ(L_k/s_L, P/s_L, Δt b̂, Δt S/s_L, z(D), z(λ), z(κ_b), coords)

   with s_L a fixed field scale and z(·) = (log · − log nominal)/prior sd. 𝒢_φ starts at zero.
2. Coupling (eq 6): ℓ_i = Σ_f W[i, f] Σ_x A_i(x) L_f(x) with W = ``pathway.sensing_matrix``.
3. Reaction (eq 5): x_{k+1} = ODESolve(f, x_k) over [t_k, t_{k+1}] with
   f = ``pathway.cell_rhs``(x, ℓ(τ); θ, u(τ)) + g_ψ(x, ℓ(τ)), adaptive Tsit5.

How the field and the cells see each other inside the step (``exchange``):

* ``"substeps"`` (default; the shipped ``notch`` and ``wnt`` since 2026-12-01): the cells are first
  solved under the ligand sensed at t_k, their states kept at the m + 1 sub-step nodes; the field
  sub-step j then sees the mean of the cells' states at its two end nodes, and the cells are
  solved again under ℓ(τ) piecewise linear through the sensed ligand at the field's m + 1
  sub-step nodes. The scheme's error is then set by τ, not Δt: a second pass changed the errors
  by < 0.01 points (measured ad hoc), and halving Δt or doubling m give the same numbers
  (reports/surrogate.md, "Sub-step exchange"). One field pass per step.
* ``"endpoints"`` (every model trained before 2026-12-01, ``notch_learned`` and ``wnt_learned``):
  a predictor field pass with the cells frozen at x_k gives ℓ̃_{k+1}, the cells are solved under
  ℓ linear ℓ(L_k) → ℓ̃_{k+1} to a predictor x̃_{k+1}, the field step uses sink and source
  interpolated linearly x_k → x̃_{k+1}, and the cells are solved again under ℓ linear
  ℓ(L_k) → ℓ(L_{k+1}). Its splitting error scales with Δt and is large where lateral inhibition
  amplifies it (Notch under the default control: up to 18 % at Δt = 0.25).

Outputs at arbitrary times are the cubic Hermite interpolant of the macro-step nodes using f at
both ends of each step (u taken constant over a step: schedule edges should lie on the macro
grid; an edge inside a step is resolved by the ODE solver but the field sees the mid-step value).
The ligand field is interpolated linearly. Times beyond ``horizon`` give NaN.

ODE-only pathways (MAPK) skip 1–2: f = cell_rhs(x, 0; θ, u) + g_ψ(x, u) in one adaptive solve
(g_ψ sees the control there, see ``benchmarks/surrogate_mapk_feedback.py``).

``physics=False`` is the "FNO without physics" baseline: no physics predictor (P = L_k), no
mechanistic kinetics (f = g_ψ, which then also sees normalised log θ_free). ``corr_theta=True``
gives g_ψ the normalised log θ_free with the physics kept, f = f_mech + g_ψ(x, ℓ, z(θ)): a
correction that can depend on the parameters (the predictor's error does).

Exactly-zero learned blocks: 𝒢_φ and g_ψ end in zero-initialised layers, and a block whose last
layer is still exactly zero contributes exactly 0. :meth:`HybridSurrogate.pruned` (applied by
``load``/``pretrained`` unless ``prune=False``) marks such blocks as skipped: the same predictions
without evaluating the networks (bit-identical rollouts for both shipped models; gradients equal to
rounding, XLA may order sums differently). Blocks with any non-zero output weight always run.

Precision: weights are stored in float64; ``predict`` casts every floating leaf to θ's dtype, so
the model runs in float32 or float64 consistently with its input.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._io import atomic_path, atomic_write_text
from ..pathways import get as get_pathway
from ..pathways.base import Pathway, as_schedule
from ..simulate.solver import ForwardModel, SolveBackedModel
from .fno import FNO2d
from .neural_ode import ADJOINTS, Correction, make_adjoint
from .operators import CouplingOperators, dct_matrix, neumann_eigenvalues, react

__all__ = ["HybridSurrogate", "SurrogateEnsemble", "inflate_sigma", "WEIGHTS_DIR", "default_dt"]

WEIGHTS_DIR = Path(__file__).parent / "weights"
# Notch 0.25: with the end-point exchange at 0.5 the coupling error alone was 2–6 % on N, H under the
# default control (lateral inhibition amplifies it); 0.25 gives ≈ 1 % typically, up to 18 % in the
# tail; the sub-step exchange (default) is set by Δt / field_substeps instead (reports/surrogate.md).
_DEFAULT_DT = {"notch": 0.25, "wnt": 0.5}
_DEFAULT_SUBSTEPS = {"notch": 10, "wnt": 5}
# Notch kinetics are stiff over parts of the prior: 2 fixed Tsit5 steps per 0.5 went unstable (NaN)
_DEFAULT_ODE_STEPS = {"notch": 0, "wnt": 2}


def default_dt(pathway: Pathway) -> float:
    """Macro step: Notch 0.25 (192 steps over 48), Wnt 0.5 (24 over 12), otherwise t_end/48."""
    return _DEFAULT_DT.get(pathway.name, pathway.t_end / 48)


def _cast(tree, dtype):
    return jax.tree_util.tree_map(
        lambda a: a.astype(dtype) if eqx.is_array(a) and jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


class HybridSurrogate(SolveBackedModel):
    """PB-HNO surrogate of a pathway's reference solver (see module docstring for the maths).

    ``predict(theta (P,), times (T,), control=None) -> (T, n_cells, n_species)``, jit/vmap/grad-able;
    NaN where a step failed. Hyperparameters are static; scales are set by training.

    Parameters
    ----------
    pathway : Pathway
    dt : float, optional          macro step (default :func:`default_dt`).
    horizon : float, optional     last time the surrogate rolls out to (default ``pathway.t_end``).
    width, modes, layers : int    FNO width, retained Fourier modes per axis, spectral layers (4).
    mlp_width, mlp_depth : int    g_ψ hidden width and depth (Table II: 128, 3).
    physics : bool                False gives the no-physics FNO baseline.
    corr_theta : bool             g_ψ also sees z(θ_free) = (log θ_free − prior mean)/prior sd
                                  (always so without physics).
    corr_control : bool           g_ψ also sees the control u(t) (always so for ODE-only pathways).
    corr_bound : float or None    bound the correction: g_ψ = b·tanh(MLP/b) (in units of x_scale per
                                  unit time), so it cannot exceed b on inputs unlike its training
                                  data; None (default) = unbounded. Exactly zero still means skipped.
    adjoint : {"recursive", "backsolve", "forward"}   gradient of the ODE block.
    ode_steps : int               Tsit5 steps per macro step, fixed; 0 = adaptive PID (ode_rtol,
                                  ode_atol, ode_max_steps). Default Notch 0 (2 fixed steps blew up
                                  on stiff prior draws), otherwise 2.
    field_substeps : int          Strang sub-steps of the physics predictor per macro step
                                  (default Notch 10, Wnt 5: fewer gave > 5 % splitting error).
    predictor_substeps : int or None   sub-steps of the *predictor pass* only (the field guess that
                                  sets ℓ at the end of the step for the cells' predictor solve);
                                  None (default) = ``field_substeps``; exchange "endpoints" only. See
                                  :meth:`with_predictor_substeps`.
    exchange : {"substeps", "endpoints"}   how field and cells exchange information inside a macro
                                  step (module docstring; default "substeps"). A saved model without
                                  the key loads as "endpoints", the scheme it was made with.
    predictor_correction : bool   whether the cells' predictor solve includes g_ψ (default True);
                                  False evaluates it in the corrector solve only. See
                                  :meth:`with_predictor_correction`.
    x_scale : (S,) floats, field_scale : float   normalisation (set from training data).
    validation_error : (S,) floats or None       per-species relative error on held-out data.
    key : jax PRNG key (or int seed); None builds a skeleton (learned blocks as shapes only) for :meth:`load`
    """

    fno: FNO2d | None
    ops: CouplingOperators | None
    corr: Correction
    dt: float = eqx.field(static=True)
    horizon: float = eqx.field(static=True)
    width: int = eqx.field(static=True)
    modes: int = eqx.field(static=True)
    layers: int = eqx.field(static=True)
    mlp_width: int = eqx.field(static=True)
    mlp_depth: int = eqx.field(static=True)
    physics: bool = eqx.field(static=True)
    corr_theta: bool = eqx.field(static=True)
    corr_control: bool = eqx.field(static=True)
    corr_bound: float | None = eqx.field(static=True)
    adjoint: str = eqx.field(static=True)
    ode_rtol: float = eqx.field(static=True)
    ode_atol: float = eqx.field(static=True)
    ode_max_steps: int = eqx.field(static=True)
    ode_steps: int = eqx.field(static=True)
    field_substeps: int = eqx.field(static=True)
    predictor_substeps: int | None = eqx.field(static=True)
    predictor_correction: bool = eqx.field(static=True)
    exchange: str = eqx.field(static=True)
    x_scale: tuple = eqx.field(static=True)
    field_scale: float = eqx.field(static=True)
    validation_error: tuple | None = eqx.field(static=True)
    _pde_nominal: tuple = eqx.field(static=True)
    skip_fno: bool = eqx.field(static=True)
    skip_corr: bool = eqx.field(static=True)

    def __init__(self, pathway: Pathway, *, dt=None, horizon=None, width=16, modes=8, layers=4,
                 mlp_width=128, mlp_depth=3, physics=True, corr_theta=False, corr_control=False,
                 corr_bound=None, adjoint="recursive", ode_rtol=1e-6,
                 ode_atol=1e-8, ode_max_steps=2048, ode_steps=None, field_substeps=None, x_scale=None, field_scale=1.0,
                 validation_error=None, predictor_substeps=None, predictor_correction=True, exchange="substeps",
                 key=0):
        if not isinstance(pathway, Pathway):
            raise ValueError("HybridSurrogate: pathway must be a pb.pathways Pathway (e.g. pb.pathways.notch())")
        if adjoint not in ADJOINTS:
            raise ValueError(f"HybridSurrogate: adjoint must be one of {ADJOINTS}, got {adjoint!r}")
        # key=None: a skeleton for :meth:`load` — the learned blocks are built as shapes only
        # (jax.ShapeDtypeStruct leaves, no random initialisation: that costs seconds of small
        # compilations on first use) and must be filled by eqx.tree_deserialise_leaves.
        if key is None:
            key = jax.ShapeDtypeStruct((2,), jnp.uint32)
            build = lambda f, *a, **kw: eqx.filter_eval_shape(f, *a, **kw)  # noqa: E731
        else:
            key = jax.random.PRNGKey(key) if isinstance(key, int) else key
            build = lambda f, *a, **kw: f(*a, **kw)  # noqa: E731
        self.pathway = pathway
        self.dt = float(dt if dt is not None else default_dt(pathway))
        self.horizon = float(horizon if horizon is not None else pathway.t_end)
        if not (self.dt > 0 and self.horizon > 0):
            raise ValueError(f"HybridSurrogate: dt and horizon must be > 0, got {self.dt}, {self.horizon}")
        S = pathway.n_species
        self.width, self.modes, self.layers = int(width), int(modes), int(layers)
        self.mlp_width, self.mlp_depth = int(mlp_width), int(mlp_depth)
        self.physics, self.adjoint = bool(physics), adjoint
        self.corr_theta = bool(corr_theta) or not self.physics
        self.corr_control = bool(corr_control) or not pathway.spatial
        if corr_bound is not None and not (isinstance(corr_bound, (int, float)) and not isinstance(corr_bound, bool)
                                           and np.isfinite(corr_bound) and corr_bound > 0):
            raise ValueError(f"HybridSurrogate: corr_bound must be a finite number > 0 or None, got {corr_bound!r}")
        self.corr_bound = None if corr_bound is None else float(corr_bound)
        self.ode_rtol, self.ode_atol, self.ode_max_steps = float(ode_rtol), float(ode_atol), int(ode_max_steps)
        self.ode_steps = int(ode_steps if ode_steps is not None else _DEFAULT_ODE_STEPS.get(pathway.name, 2))
        self.field_substeps = int(field_substeps if field_substeps is not None else _DEFAULT_SUBSTEPS.get(pathway.name, 10))
        if self.field_substeps < 1:
            raise ValueError("HybridSurrogate: field_substeps must be >= 1")
        self.predictor_substeps = _check_predictor_substeps(predictor_substeps)
        self.predictor_correction = _check_bool("predictor_correction", predictor_correction)
        self.exchange = _check_exchange(exchange, self.predictor_substeps)
        self.x_scale = tuple(float(v) for v in (x_scale if x_scale is not None else np.ones(S)))
        if len(self.x_scale) != S or min(self.x_scale) <= 0:
            raise ValueError(f"HybridSurrogate: x_scale must be {S} positive numbers")
        self.field_scale = float(field_scale)
        self.validation_error = None if validation_error is None else tuple(float(v) for v in validation_error)
        self.skip_fno = self.skip_corr = False
        k1, k2 = build(lambda k: tuple(jax.random.split(k)), key)
        n_extra = len(pathway.free) if self.corr_theta else 0
        if self.corr_control:
            # always for ODE-only pathways: an unmodelled mechanism such as MAPK's feedback on the
            # stimulated first step scales with the stimulus
            n_extra += len(pathway.control_default)
        self.corr = build(Correction, S + 1 + n_extra, S, width=self.mlp_width, depth=self.mlp_depth, key=k2)
        if pathway.spatial:
            n = pathway.geometry.n
            if self.modes > n // 2:
                raise ValueError(f"HybridSurrogate: modes={self.modes} exceeds grid//2={n // 2}; lower modes")
            F = pathway.n_fields
            self.fno = build(FNO2d, 3 * F + 6, F, width=self.width, modes=self.modes, layers=self.layers, key=k1)
            self.ops = CouplingOperators(pathway.geometry)
            p = pathway.params(jnp.asarray(pathway.nominal_values))
            D, lam, kb = pathway.field_terms(pathway.x0(p), p, jnp.asarray(pathway.control_default))[:3]
            self._pde_nominal = tuple(float(np.log(float(v))) for v in (D, lam, kb))
        else:
            self.fno, self.ops, self._pde_nominal = None, None, ()

    # ------------------------------------------------------------------ config / io
    def config(self) -> dict:
        """Constructor keyword arguments (JSON-serialisable) that rebuild this model's skeleton."""
        return {"dt": self.dt, "horizon": self.horizon, "width": self.width, "modes": self.modes,
                "layers": self.layers, "mlp_width": self.mlp_width, "mlp_depth": self.mlp_depth,
                "physics": self.physics, "corr_theta": self.corr_theta, "corr_control": self.corr_control,
                "corr_bound": self.corr_bound, "adjoint": self.adjoint, "ode_rtol": self.ode_rtol,
                "ode_atol": self.ode_atol, "ode_max_steps": self.ode_max_steps, "ode_steps": self.ode_steps, "field_substeps": self.field_substeps,
                "predictor_substeps": self.predictor_substeps, "predictor_correction": self.predictor_correction,
                "exchange": self.exchange, "x_scale": list(self.x_scale), "field_scale": self.field_scale,
                "validation_error": None if self.validation_error is None else list(self.validation_error)}

    def save(self, prefix, meta: dict | None = None) -> tuple[Path, Path]:
        """Write ``prefix.eqx`` (leaves) and ``prefix.json`` (pathway, config, meta), atomically."""
        prefix = Path(prefix)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        eqx_path, json_path = prefix.with_suffix(".eqx"), prefix.with_suffix(".json")
        with atomic_path(eqx_path) as tmp:
            eqx.tree_serialise_leaves(tmp, _cast(self, jnp.float64))
        doc = {"pathway": self.pathway.name, "pathway_kwargs": dict(self.pathway.kwargs),
               "config": self.config(), "meta": meta or {}}
        atomic_write_text(json_path, json.dumps(doc, indent=2, default=float))
        return eqx_path, json_path

    @classmethod
    def load(cls, prefix, prune: bool = True) -> HybridSurrogate:
        """Load a model written by :meth:`save` (``prefix`` with or without suffix).

        ``prune`` (default) returns :meth:`pruned`: learned blocks that are exactly zero are
        skipped, predictions unchanged. ``prune=False`` keeps evaluating them."""
        prefix = Path(prefix)
        if prefix.suffix in (".eqx", ".json"):
            prefix = prefix.with_suffix("")
        json_path, eqx_path = prefix.with_suffix(".json"), prefix.with_suffix(".eqx")
        if not json_path.exists() or not eqx_path.exists():
            raise ValueError(f"surrogate weights not found: need {eqx_path} and {json_path}")
        doc = json.loads(json_path.read_text())
        pw = get_pathway(doc["pathway"], **_pathway_kwargs(doc["pathway_kwargs"]))
        # written before the sub-step exchange existed: the scheme it was made with
        config = {"exchange": "endpoints", **doc["config"]}
        model = _cast(eqx.tree_deserialise_leaves(eqx_path, cls(pw, **config, key=None)), jnp.float64)
        return model.pruned() if prune else model

    @classmethod
    def pretrained(cls, name: str, prune: bool = True, pathway=None) -> HybridSurrogate:
        """Shipped surrogate: ``"notch"`` (two cells, grid 32), ``"wnt"`` (four cells, grid 32),
        ``"wnt_fno"`` (the Wnt model with a trained FNO ligand operator 𝒢_φ),
        ``"wnt_learned"`` (the Wnt model with a trained kinetics correction g_ψ) or
        ``"notch_learned"`` (the Notch model with a trained g_ψ and coupling stencils).

        In ``notch`` and ``wnt`` training never beat the physics predictor, so the FNO and g_ψ
        output layers are exactly zero; with ``prune`` (default) they are skipped (see
        :meth:`pruned`), with ``prune=False`` they are evaluated (same numbers, slower). Both use
        the sub-step exchange since 2026-12-01 (retrained with the same commands, same weights;
        under the default control Notch's worst held-out error fell from 18.5 % to 1.8 %, see
        the class docstring); ``.with_exchange("endpoints")`` gives the earlier models bit for bit,
        ``.with_field_substeps(20)`` a more accurate Notch (reports/surrogate.md, "Sub-step exchange").
        The learned models keep the end-point exchange they were trained with.
        ``wnt_fno`` has a trained FNO (g_ψ and stencils frozen; ``pbhno train wnt … --n-train 256
        --lr 1e-3 --curriculum 0.6 --rollout 4 --freeze corr ops``, command in its JSON): on 32 held-out
        θ its ligand field is 7× closer to the reference than ``wnt``'s (median 0.16 vs 1.12 %, closer
        on 32 of 32) and β-catenin 2× (0.19 vs 0.42 %, closer on 29 of 32; worst θ 1.9 vs 1.0 %), at
        15× ``wnt``'s rollout cost on CPU. ``wnt.with_field_substeps(20)`` is both more accurate
        (0.07 % / 0.10 %) and 4–5× cheaper than ``wnt_fno`` on CPU, so use that on a CPU
        (reports/surrogate.md, "A trained FNO for Wnt").
        ``wnt_learned`` was trained on full-horizon rollouts with the FNO frozen at zero
        (``pbhno train … --rollout 24 --curriculum 0 --freeze fno``): its g_ψ halves the β-catenin
        error of ``wnt`` on held-out θ (0.42 → 0.24 % median, 31 of 32 θ closer) at about twice the
        rollout cost (reports/surrogate.md); its FNO is skipped. Opt-in, ``.with_predictor_correction(False)
        .with_predictor_substeps(2)`` makes it ≈ 1.5× faster at batch 64 (25× the reference solver on
        2 CPU cores) with β-catenin errors within 0.007 points of the default's.
        ``notch_learned`` (``pbhno train notch … --rollout 16 --freeze fno --correction-scales 0.1 0.25
        0.5 1``, selected on validation θ and pulse trains; half of the trained correction at step
        320; end-point exchange) was closer to the reference than the end-point ``notch`` on 28 of
        32 held-out θ (median 0.32 → 0.28 %), but is only level with today's ``notch`` (sub-step
        exchange: 0.28 vs 0.24 %, closer on 16 of 32) and keeps the end-point scheme's
        default-control tail (max 18.5 % on 32 fresh θ vs 1.8 %): use ``notch`` (reports/surrogate.md,
        "Notch, fifth round" and "Sub-step exchange").

        ``pathway`` (a name or a :class:`Pathway`), if given, is the pathway the caller needs: a
        shipped model of another pathway (for a :class:`Pathway`: other cells, grid or free
        parameters) is refused with a one-line error before it is loaded."""
        avail = sorted(p.stem for p in WEIGHTS_DIR.glob("*.eqx"))
        if name not in avail:
            raise ValueError(f"no pretrained surrogate {name!r}; shipped: {avail}")
        if pathway is not None:
            want = pathway.name if isinstance(pathway, Pathway) else str(pathway)
            doc = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
            if doc["pathway"] != want:
                raise ValueError(f"surrogate {name!r} is a {doc['pathway']} model, not {want}")
            if isinstance(pathway, Pathway):  # same cells, grid and free parameters
                have = doc.get("pathway_kwargs", {})
                diff = [f"{k}={have.get(k)!r} (asked {pathway.kwargs.get(k)!r})" for k in ("cells", "grid", "free")
                        if k in pathway.kwargs and _norm(have.get(k)) != _norm(pathway.kwargs.get(k))]
                if diff:
                    raise ValueError(f"surrogate {name!r} was trained for {want} with " + ", ".join(diff))
        return cls.load(WEIGHTS_DIR / name, prune=prune)

    def pruned(self) -> HybridSurrogate:
        """The same surrogate (shared weights) with every learned block whose output layer is
        exactly zero (weights and bias) skipped: 𝒢_φ ≡ 0 then gives L_{k+1} = P (or L_k without
        physics) and g_ψ ≡ 0 gives f = f_mech. Predictions are the same (bit-identical for the
        shipped models; gradients to rounding, since XLA may order sums differently); the networks
        are simply not evaluated. A block with any non-zero output
        weight is kept. Not for training: a skipped block gets no gradient (``pb.train_surrogate``
        builds its own model, unpruned)."""
        return _with_static(self, skip_fno=self.fno is not None and _exactly_zero(self.fno.proj),
                            skip_corr=_exactly_zero(self.corr.mlp.layers[-1]))

    @property
    def skipped_blocks(self) -> tuple[str, ...]:
        """Names of the learned blocks skipped because they are exactly zero (see :meth:`pruned`)."""
        return tuple(n for n, s in (("fno", self.skip_fno), ("corr", self.skip_corr)) if s)

    @staticmethod
    def pretrained_meta(name: str) -> dict:
        """The JSON metadata of a shipped surrogate (training command, accuracy, timing)."""
        return json.loads((WEIGHTS_DIR / f"{name}.json").read_text())

    @property
    def preferred_gradient(self) -> str:
        """What ``pb.fit(gradient="auto")`` uses: forward-mode sensitivities for ODE-only pathways,
        and for spatial ones when both learned blocks are skipped (:meth:`pruned`) and θ has ≤ 6
        free parameters; otherwise reverse mode. jit(jacfwd) vs jit(grad) of a loss of the 6 free
        log θ on a 2-core CPU (``python benchmarks/surrogate_cost.py``, 2026-11-30, two runs):
        pruned Notch at horizon 24 forward 0.32–0.34 s vs reverse 0.34–0.45 s, pruned Wnt
        0.024–0.026 vs 0.036–0.060 s; unpruned Notch 1.08 vs 0.98 s, Wnt 0.23 vs 0.15 s.
        Forward-mode cost grows with the number of parameters, reverse mode's does not."""
        if not self.pathway.spatial:
            return "forward"
        if self.skip_fno and self.skip_corr and len(self.pathway.free) <= 6:
            return "forward"
        return "reverse"

    def with_horizon(self, horizon: float) -> HybridSurrogate:
        """The same surrogate (shared weights) rolling out only to ``horizon``.

        Every prediction costs one rollout to the horizon, whatever the requested times; fitting
        data observed on [0, 24] with a Notch surrogate trained to 48 takes half the macro steps
        with ``sur.with_horizon(24.0)`` (``benchmarks/surrogate_cost.py`` on a 2-core CPU, shipped
        model as loaded, idle machine: rollout 0.060 vs 0.115 s, reverse gradient 0.41 vs 0.74 s).
        Predictions at t ≤ horizon are bit-identical to the original's.
        """
        horizon = float(horizon)
        if not horizon > 0:
            raise ValueError(f"with_horizon: horizon must be > 0, got {horizon}")
        if horizon > self.horizon + 1e-9:
            raise ValueError(f"with_horizon: {horizon} is beyond the trained horizon {self.horizon}")
        return _with_static(self, horizon=horizon)

    def _physics_only(self, what: str, why: str):
        if not (self.skip_fno and self.skip_corr):
            raise ValueError(f"{what}: this model has trained blocks (skipped: {list(self.skipped_blocks)}); "
                             f"they were trained {why} and are not valid with another")

    def with_macro_step(self, dt: float) -> HybridSurrogate:
        """The same physics scheme rolled out with macro step ``dt`` instead of the trained one.

        Only for a model whose learned blocks are both skipped (:meth:`pruned`; the shipped
        ``notch`` and ``wnt``): the rollout is then the physics predictor + coupling scheme alone,
        and nothing learned depends on the step. A trained 𝒢_φ is a Δt-step map and a trained g_ψ
        compensates the trained scheme's splitting error, so ``notch_learned`` / ``wnt_learned``
        are refused. Each macro step keeps ``field_substeps`` field sub-steps, so halving Δt about
        doubles the cost. With ``exchange="endpoints"`` the splitting error shrinks with Δt (shipped
        ``notch`` under the default control, 32 fresh held-out θ: p95 5.5 % at Δt 0.25, 1.6 % at
        0.125); with ``exchange="substeps"`` it is set by the sub-step τ = Δt / field_substeps, so
        halving Δt acts like doubling the sub-steps (reports/surrogate.md, "Default-control tail").
        """
        self._physics_only("with_macro_step", f"at dt = {self.dt:g}")
        if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)) or not (
                np.isfinite(dt) and 0 < float(dt) <= self.horizon):
            raise ValueError(f"with_macro_step: dt must be a number in (0, horizon = {self.horizon:g}], got {dt!r}")
        return _with_static(self, dt=float(dt))

    def with_field_substeps(self, m: int) -> HybridSurrogate:
        """The same physics scheme with ``m`` field sub-steps per macro step (physics-only models, as
        :meth:`with_macro_step`). With ``exchange="substeps"`` (the shipped ``notch`` and ``wnt``)
        the sub-step τ = Δt / m sets the scheme's error, which falls as τ²: shipped ``notch``
        (m = 10) under the default control on 32 fresh held-out θ, N/H error median 0.63 %, p95
        1.4 %, max 1.8 %; m = 20: 0.17 %, 0.39 %, 0.51 % at about 1.9× the cost (batch 64: 4.24 vs 2.28 s)
        (reports/surrogate.md, "Sub-step exchange")."""
        self._physics_only("with_field_substeps", f"with {self.field_substeps} field sub-steps")
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or int(m) < 1:
            raise ValueError(f"with_field_substeps: m must be a whole number >= 1, got {m!r}")
        return _with_static(self, field_substeps=int(m))

    def with_exchange(self, exchange: str) -> HybridSurrogate:
        """The same physics scheme with another field–cell exchange (physics-only models, as
        :meth:`with_macro_step`): ``"substeps"`` or ``"endpoints"`` (see the class docstring).
        ``pretrained("notch").with_exchange("endpoints")`` is the shipped Notch model as it was
        before 2026-12-01 (session 15), bit for bit: every result made before then used it."""
        self._physics_only("with_exchange", f"with exchange = {self.exchange!r}")
        return _with_static(self, exchange=_check_exchange(exchange, self.predictor_substeps))

    def with_predictor_substeps(self, m: int | None) -> HybridSurrogate:
        """The same surrogate (shared weights) with ``m`` Strang sub-steps in the predictor pass.

        Each macro step runs the physics predictor twice: a *predictor pass* with the cells frozen,
        whose only use is the sensed ligand ℓ at the end of the step for the cells' predictor solve,
        and the corrector field step that produces L_{k+1}. At batch 64 the two passes are nearly
        all of a pruned Notch rollout's cost, so a cheaper predictor pass is most of what can be
        saved. The predictor only has to be first-order accurate; the corrector keeps
        ``field_substeps``. Shipped Notch (10 sub-steps), ``m`` = 2, the accuracy benchmark's 48 θ
        (random and pulse-train controls, horizon 48): rollouts differ from the default's by 9e-5
        relative (median; max 8e-4), against the default's own error of 0.3 % (median) / 1.4 %
        (p95) from the reference solver, which moves by ≤ 0.03 points. Speed and accuracy in
        reports/surrogate.md ("A cheaper predictor pass"). ``None`` restores the default
        (``field_substeps``). Not the default itself: every shipped result was computed with the
        full predictor pass.
        """
        m = _check_predictor_substeps(m)
        _check_exchange(self.exchange, m)
        return _with_static(self, predictor_substeps=m)

    def with_predictor_correction(self, on: bool) -> HybridSurrogate:
        """The same model (same weights) whose cells' *predictor* solve includes g_ψ (``True``, the
        default) or integrates the mechanistic kinetics alone (``False``).

        Each macro step solves the cell ODEs twice: a predictor solve, whose only use is the cell
        states that set the membrane sink/source inside the corrector field step, and the corrector
        solve that gives x_{k+1}. With a trained g_ψ (``wnt_learned``: 3 × 128 MLP, 4 cells) the MLP
        evaluations of the two solves are more than half of a batch-64 rollout; without g_ψ in
        the predictor solve the cells still see the full f_mech + g_ψ in the corrector, and the
        field sees predictor cell states that differ by O(Δt·|g_ψ|). Opt-in, like
        :meth:`with_predictor_substeps` (the two combine): every shipped result was computed with
        ``True``. Measured on ``wnt_learned`` in reports/surrogate.md ("A cheaper predictor pass").
        A model without a trained g_ψ (pruned ``notch``, ``wnt``) is unchanged by it."""
        return _with_static(self, predictor_correction=_check_bool("predictor_correction", on))

    @staticmethod
    def ensemble(members) -> SurrogateEnsemble:
        return SurrogateEnsemble(tuple(members))

    # ------------------------------------------------------------------ pieces
    def _rhs(self, x, ell, p, u, extra, corr=True):
        """f(x, ℓ) = f_mech + g_ψ; x (C, S), ell (C,). ``corr`` False: f_mech alone (physics only)."""
        if self.skip_corr or (not corr and self.physics):  # g_ψ ≡ 0 exactly (see pruned), or not wanted
            return self.pathway.cell_rhs(x, ell, p, u) if self.physics else jnp.zeros_like(x)
        xs = jnp.asarray(self.x_scale, x.dtype)
        z = jnp.concatenate([x / xs, (ell / self.field_scale)[:, None]], axis=-1)
        if self.corr_control:
            z = jnp.concatenate([z, jnp.broadcast_to(u, (x.shape[0], u.shape[0]))], axis=-1)
        if extra is not None:
            z = jnp.concatenate([z, jnp.broadcast_to(extra, (x.shape[0], extra.shape[0]))], axis=-1)
        g = self.corr(z)
        if self.corr_bound is not None:
            g = self.corr_bound * jnp.tanh(g / self.corr_bound)
        g = g * xs
        if not self.physics:
            return g
        return self.pathway.cell_rhs(x, ell, p, u) + g

    def _extra(self, theta):
        if not self.corr_theta or self.skip_corr:
            return None
        pw = self.pathway
        idx = [pw.param_names.index(n) for n in pw.free]
        prior = pw.prior
        return (jnp.log(theta[jnp.asarray(idx)]) - prior.mean) / prior.sd

    def ell(self, L):
        """ℓ_i = Σ_f W[i, f] Σ_x A_i(x) L_f(x): (C,) from L (F, n, n)."""
        A = self.ops.averaging()
        W = jnp.asarray(self.pathway.sensing_matrix, L.dtype)
        return jnp.sum(W * jnp.einsum("cij,fij->cf", A, L), axis=-1)

    def _field_inputs(self, x, p, u):
        pw = self.pathway
        D, lam, kb, R, sec, ext = pw.field_terms(x, p, u)
        masks = jax.lax.stop_gradient(self.ops.masks)
        sink = kb * jnp.einsum("c,cij->ij", R, self.ops.boundary())
        if pw.labelled_field:
            src = sec[:, None, None] * masks + ext[None] / masks.shape[0]
        else:
            src = (jnp.einsum("c,cij->ij", sec, masks) + ext)[None]
        # the field runs in the cells' precision (a pathway constant must not promote it)
        return D, lam, kb, sink.astype(x.dtype), src.astype(x.dtype)

    def _dct(self, dtype):
        n = self.pathway.geometry.n
        return (jnp.asarray(dct_matrix(n), dtype),
                jnp.asarray(neumann_eigenvalues(n, self.pathway.geometry.h), dtype))

    def physics_step(self, L, x0, x1, p, u, substeps=None, xs=None):
        """Physics predictor P: ``substeps`` (default ``field_substeps``) Strang sub-steps (react ½τ,
        diffuse τ, react ½τ), τ = Δt / substeps.

        The cells' sink and source come from x0 → x1 linearly in time (``xs`` None; x1 = x0 for the
        predictor pass), or from ``xs`` (m + 1, C, S), the cells' states at the sub-step nodes
        (exchange "substeps"; sub-step j sees their mean over [j, j + 1]). With ``xs`` the sensed
        ligand at the nodes is returned too: (L, ells (m + 1, C))."""
        C, eig = self._dct(L.dtype)
        m = int(substeps) if substeps is not None else self.field_substeps
        tau = self.dt / m
        D = self._field_inputs(x0, p, u)[0]
        E = jnp.exp(D * tau * eig)

        def sub_with(L, xm):
            _, lam, _, sink, src = self._field_inputs(xm, p, u)
            k = lam + sink
            L = react(L, k, src, 0.5 * tau)
            Lh = jnp.einsum("ij,...jk,lk->...il", C, L, C) * E
            L = jnp.einsum("ji,...jk,kl->...il", C, Lh, C)
            return react(L, k, src, 0.5 * tau)

        if xs is None:
            def sub(j, L):
                s = (j + 0.5) / m
                return sub_with(L, (1 - s) * x0 + s * x1)

            return jax.lax.fori_loop(0, m, sub, L)

        def sub_path(L, xm):
            L = sub_with(L, xm)
            return L, self.ell(L)

        L1, ells = jax.lax.scan(sub_path, L, 0.5 * (xs[:-1] + xs[1:]))
        return L1, jnp.concatenate([self.ell(L)[None], ells])

    def field_step(self, L, x0, x1, p, u, xs=None):
        """L_{k+1} = P + s_L 𝒢_φ(...) (physics) or L_k + s_L 𝒢_φ(...) (no physics).

        With ``xs`` (exchange "substeps", physics only) returns (L_{k+1}, ells): the sensed ligand
        at the sub-step nodes of P, the last node replaced by ℓ(L_{k+1}) when 𝒢_φ runs."""
        n = self.pathway.geometry.n
        D, lam, kb, sink, src = self._field_inputs(x1, p, u)
        if xs is not None:
            P, ells = self.physics_step(L, x0, x1, p, u, xs=xs)
        else:
            P = self.physics_step(L, x0, x1, p, u) if self.physics else L
        if self.skip_fno:  # 𝒢_φ ≡ 0 exactly (see pruned)
            return P if xs is None else (P, ells)
        s = self.field_scale
        z = [(jnp.log(v) - m) / self.pathway.prior_sd for v, m in zip((D, lam, kb), self._pde_nominal, strict=True)]
        c = (jnp.arange(n, dtype=L.dtype) + 0.5) / n
        X, Y = jnp.meshgrid(c, c, indexing="ij")
        ones = jnp.ones((n, n), L.dtype)
        chans = jnp.concatenate([L / s, P / s, (self.dt * sink)[None], self.dt * src / s,
                                 jnp.stack([zi * ones for zi in z] + [X, Y])], axis=0)
        L1 = P + s * self.fno(chans)
        return L1 if xs is None else (L1, ells.at[-1].set(self.ell(L1)))

    def ode_step(self, x, t0, ell0, ell1, p, sched, extra, alive=True, corr=True, ells=None, nodes=0):
        """x(t0) -> x(t0 + Δt) with ℓ linear in time over the step. Returns (x1, ok, n_steps).
        ``corr`` False integrates the mechanistic kinetics without g_ψ (the cheaper predictor solve).

        ``ells`` (K + 1, C), if given, replaces ℓ0 → ℓ1: ℓ piecewise linear through K + 1 equally
        spaced nodes over the step (K = 0: constant). ``nodes`` > 0 returns the states at
        ``nodes`` + 1 equally spaced times t0 … t0 + Δt, (nodes + 1, C, S), instead of x1.

        ``alive`` False (a rollout that already failed) integrates over an empty interval: no
        solver steps, so under ``vmap`` a failed member no longer spends ``ode_max_steps`` on
        every remaining macro step while the batch waits for it."""
        dt = self.dt
        span = jnp.where(alive, dt, 0.0)

        if ells is None:
            def ell_at(t):
                s = (t - t0) / dt
                return ell0 + s * (ell1 - ell0)
        elif ells.shape[0] == 1:
            def ell_at(t):
                return ells[0]
        else:
            K = ells.shape[0] - 1

            def ell_at(t):
                s = jnp.clip((t - t0) / dt * K, 0.0, K)
                j = jnp.clip(jnp.floor(s).astype(jnp.int32), 0, K - 1)
                w = s - j
                return (1 - w) * ells[j] + w * ells[j + 1]

        def rhs(t, y, args):
            return self._rhs(y, ell_at(t), p, sched(t), extra, corr)

        if self.ode_steps:
            ctrl, dt0 = diffrax.ConstantStepSize(), span / self.ode_steps
        else:
            ctrl = diffrax.PIDController(rtol=self.ode_rtol, atol=self.ode_atol,
                                         jump_ts=sched.edges.astype(x.dtype))
            dt0 = span / 4
        saveat = (diffrax.SaveAt(ts=t0 + span * jnp.linspace(0.0, 1.0, nodes + 1, dtype=x.dtype)) if nodes
                  else diffrax.SaveAt(t1=True))
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), diffrax.Tsit5(), t0=t0, t1=t0 + span, dt0=dt0, y0=x,
            stepsize_controller=ctrl, saveat=saveat, max_steps=self.ode_max_steps,
            throw=False, adjoint=make_adjoint(self.adjoint))
        ys = sol.ys if nodes else sol.ys[-1]
        return ys, sol.result == diffrax.RESULTS.successful, sol.stats["num_steps"]

    def macro_step(self, L, x, t0, p, sched, extra, alive=True):
        """One coupled step (predictor–corrector coupling, see module docstring).

        ``alive`` False skips the ODE work of a rollout that has already failed (its result is
        discarded). Returns (L1, x1, f0, f1, ok, n_ode_steps)."""
        u = sched(t0 + 0.5 * self.dt)
        e0 = self.ell(L)
        if self.physics and self.exchange == "substeps":
            # predictor: the cells under the ligand sensed at t_k, kept at the field's sub-step nodes;
            # the field then sees the cells' path, and the cells the field's
            xs, ok, ns = self.ode_step(x, t0, None, None, p, sched, extra, alive, self.predictor_correction,
                                       ells=e0[None], nodes=self.field_substeps)
            L1, ells = self.field_step(L, x, xs[-1], p, u, xs=xs)
            e1 = ells[-1]
            x1, ok1, ns1 = self.ode_step(x, t0, None, None, p, sched, extra, alive & ok, ells=ells)
        else:
            ok, ns = True, 0
            if self.physics:
                # predictor: field with the cells frozen at x_k, then the cells under that field
                Lp = self.physics_step(L, x, x, p, u, self.predictor_substeps)
                xp, ok, ns = self.ode_step(x, t0, e0, self.ell(Lp), p, sched, extra, alive, self.predictor_correction)
            else:
                xp = x
            L1 = self.field_step(L, x, xp, p, u)
            e1 = self.ell(L1)
            x1, ok1, ns1 = self.ode_step(x, t0, e0, e1, p, sched, extra, alive & ok)
        f0 = self._rhs(x, e0, p, u, extra)
        f1 = self._rhs(x1, e1, p, u, extra)
        return L1, x1, f0, f1, alive & ok & ok1, ns + ns1

    @property
    def n_macro(self) -> int:
        return int(math.ceil(self.horizon / self.dt - 1e-9))

    def advance(self, theta, sched, L, x, k0, n_steps: int):
        """Roll ``n_steps`` macro steps from node ``k0`` (traced int) at state (L, x).

        Returns dict with ``L`` (n, F, n, n), ``x`` (n, C, S), ``f0``/``f1`` (n, C, S) rates at
        the start/end of each step, ``ok`` (n,), ``num_steps`` (n,).
        """
        p = self.pathway.params(theta)
        extra = self._extra(theta)
        dt = self.dt

        def body(carry, k):
            L, x, alive = carry
            L1, x1, f0, f1, ok, ns = self.macro_step(L, x, k * dt, p, sched, extra, alive)
            return (L1, x1, ok), {"L": L1, "x": x1, "f0": f0, "f1": f1, "ok": ok, "num_steps": ns}

        ks = jnp.asarray(k0, theta.dtype) + jnp.arange(n_steps, dtype=theta.dtype)
        # ``alive``: once a macro step fails the rest of the rollout is NaN anyway; later steps
        # then do no ODE work (see ode_step)
        return jax.lax.scan(body, (L, x, jnp.asarray(True)), ks)[1]

    # ------------------------------------------------------------------ forward model
    def solve(self, theta, times, control=None):
        """dict(states (T, C, S), field (T, n, n) total ligand or None, ok, num_steps)."""
        theta = self.theta_array(theta)
        if not jnp.issubdtype(theta.dtype, jnp.floating):
            theta = theta.astype(float)
        model = _cast(self, theta.dtype)
        times = jnp.asarray(times, dtype=theta.dtype)
        if times.ndim != 1:
            raise ValueError(f"times must be a 1-D array, got shape {times.shape}")
        if not isinstance(times, jax.core.Tracer) and float(np.max(np.asarray(times))) > self.horizon + 1e-9:
            raise ValueError(f"times go beyond the surrogate's horizon {self.horizon}; build/train it with a longer horizon")
        sched = as_schedule(self.pathway, control)
        sched = jax.tree_util.tree_map(lambda a: a.astype(theta.dtype), sched)
        return model._solve(theta, times, sched)

    def _solve(self, theta, times, sched):
        pw = self.pathway
        p = pw.params(theta)
        x0 = pw.x0(p).astype(theta.dtype)
        extra = self._extra(theta)
        if not pw.spatial:
            def rhs(t, y, args):
                return self._rhs(y, jnp.zeros((pw.n_cells,), y.dtype), p, sched(t), extra)
            sol = diffrax.diffeqsolve(
                diffrax.ODETerm(rhs), diffrax.Tsit5(), t0=0.0, t1=jnp.maximum(times[-1], 1e-9), dt0=None,
                y0=x0, saveat=diffrax.SaveAt(ts=times),
                stepsize_controller=diffrax.PIDController(rtol=self.ode_rtol, atol=self.ode_atol,
                                                          jump_ts=sched.edges),
                max_steps=self.ode_max_steps * 8, throw=False, adjoint=make_adjoint(self.adjoint))
            ok = (sol.result == diffrax.RESULTS.successful) & jnp.all(jnp.isfinite(sol.ys))
            return {"states": jnp.where(ok, sol.ys, jnp.nan), "field": None, "ok": ok,
                    "num_steps": sol.stats["num_steps"]}
        L0 = pw.L0(p).astype(theta.dtype)
        K = self.n_macro
        out = self.advance(theta, sched, L0, x0, 0, K)
        xs = jnp.concatenate([x0[None], out["x"]])
        Ls = jnp.concatenate([L0[None], out["L"]]).sum(axis=1)
        states, field = self._interpolate(times, xs, out["f0"], out["f1"], Ls)
        ok = jnp.all(out["ok"]) & jnp.all(jnp.isfinite(states)) & jnp.all(times <= self.horizon + 1e-9)
        return {"states": jnp.where(ok, states, jnp.nan), "field": jnp.where(ok, field, jnp.nan),
                "ok": ok, "num_steps": jnp.sum(out["num_steps"])}

    # ------------------------------------------------------------------ restart from a node
    def node_of(self, t: float) -> int:
        """The macro node at time ``t`` (a concrete number on the surrogate's time grid k·dt)."""
        t = float(t)
        k = int(round(t / self.dt))
        if abs(k * self.dt - t) > 1e-9 * max(1.0, abs(t)) or not 0 <= k <= self.n_macro:
            raise ValueError(f"t = {t:g} is not a macro node of the surrogate (multiples of dt = {self.dt:g} "
                             f"in [0, {self.horizon:g}])")
        return k

    def state_at_node(self, theta, k0: int, control=None):
        """(L, x) at macro node ``k0`` (static int), rolled out from t = 0 under ``control``."""
        theta = self.theta_array(theta)
        pw = self.pathway
        if not pw.spatial:
            raise ValueError("state_at_node needs a spatial pathway (a ligand field)")
        sched = jax.tree_util.tree_map(lambda a: a.astype(theta.dtype), as_schedule(pw, control))
        model = _cast(self, theta.dtype)
        p = pw.params(theta)
        L0, x0 = pw.L0(p).astype(theta.dtype), pw.x0(p).astype(theta.dtype)
        if int(k0) == 0:
            return L0, x0
        out = model.advance(theta, sched, L0, x0, 0, int(k0))
        ok = jnp.all(out["ok"])
        return (jnp.where(ok, out["L"][-1], jnp.nan), jnp.where(ok, out["x"][-1], jnp.nan))

    def predict_from(self, theta, start, k0: int, times, control=None):
        """States at ``times`` (all ≥ k0·dt) rolled out from ``start`` = (L, x) at macro node ``k0``.

        Equal to ``predict(theta, times, control)`` when ``start = state_at_node(theta, k0, control)``
        (same macro steps, same order), but only the steps after node k0 are computed: a controller
        re-planning on [t_s, T] differentiates only that window (see ``robust_mpc(warm_start=True)``).
        """
        theta = self.theta_array(theta)
        pw = self.pathway
        k0 = int(k0)
        sched = jax.tree_util.tree_map(lambda a: a.astype(theta.dtype), as_schedule(pw, control))
        model = _cast(self, theta.dtype)
        times = jnp.asarray(times, dtype=theta.dtype)
        L, x = (jnp.asarray(a, theta.dtype) for a in start)
        out = model.advance(theta, sched, L, x, k0, self.n_macro - k0)
        xs = jnp.concatenate([x[None], out["x"]])
        Ls = jnp.concatenate([L[None], out["L"]]).sum(axis=1)
        states, _ = self._interpolate(times - k0 * self.dt, xs, out["f0"], out["f1"], Ls)
        ok = jnp.all(out["ok"]) & jnp.all(jnp.isfinite(states))
        return jnp.where(ok, states, jnp.nan)

    def _interpolate(self, times, xs, f0, f1, Ls):
        """Cubic Hermite for states, linear for the field, between macro nodes (``times`` measured
        from the first node in ``xs``)."""
        K = xs.shape[0] - 1
        u = times / self.dt
        k = jnp.clip(jnp.floor(u).astype(jnp.int32), 0, K - 1)
        s = jnp.clip(u - k, 0.0, 1.0)[:, None, None]
        h00 = 2 * s**3 - 3 * s**2 + 1
        h10 = s**3 - 2 * s**2 + s
        h01 = -2 * s**3 + 3 * s**2
        h11 = s**3 - s**2
        states = h00 * xs[k] + h10 * self.dt * f0[k] + h01 * xs[k + 1] + h11 * self.dt * f1[k]
        field = (1 - s) * Ls[k] + s * Ls[k + 1]
        return states, field



def _check_predictor_substeps(m):
    if m is None:
        return None
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise ValueError(f"HybridSurrogate: predictor_substeps must be an integer >= 1 or None, got {m!r}")
    return int(m)


EXCHANGES = ("substeps", "endpoints")


def _check_exchange(v, predictor_substeps):
    if v not in EXCHANGES:
        raise ValueError(f"HybridSurrogate: exchange must be one of {EXCHANGES}, got {v!r}")
    if v == "substeps" and predictor_substeps is not None:
        raise ValueError("HybridSurrogate: predictor_substeps applies to exchange='endpoints' only "
                         "(exchange='substeps' has no predictor field pass)")
    return v


def _check_bool(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"HybridSurrogate: {name} must be True or False, got {v!r}")
    return bool(v)


def _norm(v):
    return list(v) if isinstance(v, (list, tuple)) else v


def _with_static(model, **fields):
    """A shallow copy of ``model`` (same weight arrays) with static fields replaced."""
    new = copy.copy(model)
    for k, v in fields.items():
        object.__setattr__(new, k, v)
    return new


def _exactly_zero(layer) -> bool:
    """True when a linear layer's weight and bias are all exactly 0 (concrete arrays only)."""
    try:
        return all(bool(np.all(np.asarray(a) == 0)) for a in (layer.weight, layer.bias))
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return False  # traced weights (inside a transformation): never skip


def _pathway_kwargs(kw: dict) -> dict:
    kw = dict(kw)
    if isinstance(kw.get("cells"), list):
        kw["cells"] = tuple(kw["cells"])
    return kw


class SurrogateEnsemble(ForwardModel):
    """K surrogates of one pathway (different seeds) for model-form uncertainty.

    ``predict`` returns the member mean (or member ``member=``); ``spread`` the member sd;
    ``validation_error`` (S,) is the root-mean-square of the members' relative errors.
    """

    members: tuple

    def __init__(self, members):
        members = tuple(members)
        if not members:
            raise ValueError("SurrogateEnsemble: give at least one HybridSurrogate")
        names = {m.pathway.name for m in members}
        if len(names) != 1:
            raise ValueError(f"SurrogateEnsemble: members are for different pathways {sorted(names)}")
        self.pathway = members[0].pathway
        self.members = members

    def predict(self, theta, times, control=None, member=None):
        if member is not None:
            return self.members[int(member)].predict(theta, times, control)
        return jnp.mean(jnp.stack([m.predict(theta, times, control) for m in self.members]), axis=0)

    def spread(self, theta, times, control=None):
        return jnp.std(jnp.stack([m.predict(theta, times, control) for m in self.members]), axis=0)

    @property
    def validation_error(self):
        errs = [m.validation_error for m in self.members if m.validation_error is not None]
        if not errs:
            return None
        return tuple(float(v) for v in np.sqrt(np.mean(np.square(errs), axis=0)))


def inflate_sigma(obs, surrogate, noise=None):
    """Add the surrogate's validation error to the likelihood variance.

    σ²_total(t, c, s) = σ²_obs(t, c, s) + (ε_s · |y(t, c, s)|)², with ε_s the surrogate's relative
    validation error of species s (``surrogate.validation_error``, ordered as pathway.species) and
    σ_obs the observation sd (``obs.sigma``, or ``noise``: a scalar or one value per observed
    species, when obs has none). Returns a new :class:`pb.Observations` with ``sigma`` set.
    """
    from ..data import Observations

    err = getattr(surrogate, "validation_error", None)
    if err is None:
        raise ValueError("inflate_sigma: the surrogate has no validation_error (train it with pb.train_surrogate)")
    pw = surrogate.pathway
    eps = np.asarray([err[pw.species.index(s)] for s in obs.species])
    y = np.asarray(obs.values)
    if obs.sigma is not None:
        sig = np.asarray(obs.sigma)
    elif noise is not None:
        sig = np.broadcast_to(np.asarray(noise, float), (len(obs.species),))[None, None, :] * np.ones_like(y)
    else:
        raise ValueError("inflate_sigma: obs has no sigma; pass noise= (observation sd)")
    total = np.sqrt(sig**2 + (eps[None, None, :] * np.abs(y)) ** 2)
    total = np.where(np.isnan(y), np.nan, np.maximum(total, 1e-12))
    return Observations.from_arrays(obs.times, y, obs.species, sigma=total, cells=obs.cells)
