r"""Compiled kernels behind :func:`~pbhno_bayes.fit`, built once per model structure and reused.

Every fit needs a handful of jitted programs that all contain the forward solve: the SVI
optimiser (value and gradient, vectorised over restarts), the Laplace Hessian, NUTS (init,
warmup and sampling of all chains in one program) and the posterior post-processing (θ, σ and
the predictions μ at every draw). Compiling a diffrax solve is by far the most expensive part of
a small fit, so these programs take the data as *arguments* (:func:`.model.problem_data`) and an
:class:`Engine` holding them is cached per (forward model, layout, likelihood, priors, gradient
mode). A second fit of the same forward model to data of the same shape — another seed, another
replicate of a calibration study, the benchmark's timed run — compiles nothing.

Unconstrained space: the model's latent sites in NumPyro's unconstrained coordinates, flattened
to one vector z (D,) in a fixed order (``unravel`` maps back).
"""

from __future__ import annotations

import sys
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from functools import partial

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro.distributions.transforms import biject_to
from numpyro.infer.hmc import hmc
from numpyro.infer.util import ParamInfo, _unconstrain_reparam, log_density, potential_energy

from .model import Problem, make_model

__all__ = ["Engine", "get_engine", "clear_cache"]

_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 8
VG_BATCH = 4
MU_ROWS = 64  # draws from which μ is computed without gradients (see Engine.batched_mu)


def clear_cache():
    """Forget every cached engine (and its compiled programs)."""
    _CACHE.clear()


def _dist_key(d):
    return (type(d).__name__, id(d))


def _signature(problem: Problem, forward_mode: bool):
    if problem.prior_kind == "mvn":
        prior_key = ("mvn", len(problem.names))
    else:
        prior_key = ("dict",) + tuple((n, _dist_key(problem.prior[n])) for n in problem.names)
    if problem.sigma_known is not None:
        noise_key = "known"
    elif problem.noise_loc is not None:
        noise_key = "default"
    elif isinstance(problem.noise_prior, Mapping):
        noise_key = tuple((s, _dist_key(d)) for s, d in problem.noise_prior.items())
    else:
        noise_key = _dist_key(problem.noise_prior)
    ctrl = problem.control
    ctrl_key = None if ctrl is None else id(ctrl)
    return (id(problem.forward), bool(forward_mode), problem.names, tuple(problem.free_idx.tolist()),
            len(problem.base), tuple(problem.cell_idx.tolist()), tuple(problem.species_idx.tolist()),
            problem.y.shape, problem.likelihood, prior_key, noise_key, ctrl_key,
            bool(problem.count_failures))


def get_engine(problem: Problem, forward_mode: bool) -> Engine:
    """The cached :class:`Engine` for this problem's structure (built on first use).

    The problem's failure counter is replaced by the engine's (the compiled programs call it).
    """
    key = _signature(problem, forward_mode)
    eng = _CACHE.get(key)
    if eng is not None and eng.forward_ref() is problem.forward:
        _CACHE.move_to_end(key)
        problem.counter = eng.counter
        eng.problem = problem
        return eng
    eng = Engine(problem, forward_mode)
    _CACHE[key] = eng
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return eng


class Engine:
    """Model, flat potential U(z, data) and the compiled programs for one model structure."""

    def __init__(self, problem: Problem, forward_mode: bool):
        self.problem = problem
        self.counter = problem.counter
        self.fm = bool(forward_mode)
        try:
            self.forward_ref = weakref.ref(problem.forward)
        except TypeError:  # not weak-referenceable: hold it (the key's id then stays valid)
            fwd = problem.forward
            self.forward_ref = lambda: fwd
        self.model = make_model(problem, forward_mode=self.fm)
        self._jits: dict = {}
        # Site layout in unconstrained space, from one prior-only trace (no solve).
        from .model import problem_data

        data = problem_data(problem)
        with numpyro.handlers.block():
            tr = numpyro.handlers.trace(numpyro.handlers.seed(self.model, 0)).get_trace(data, prior_only=True)
        self.sites = [n for n, s in tr.items() if s["type"] == "sample" and not s["is_observed"]]
        self.supports = {n: tr[n]["fn"].support for n in self.sites}
        z = {n: biject_to(self.supports[n]).inv(tr[n]["value"]) for n in self.sites}
        flat, self.unravel = jax.flatten_util.ravel_pytree(z)
        self.dim = int(flat.shape[0])

    # ----------------------------------------------------------------------------- host helpers
    def to_flat(self, values: dict) -> np.ndarray:
        """Constrained site values -> flat unconstrained z."""
        z = {n: biject_to(self.supports[n]).inv(jnp.asarray(values[n])) for n in self.sites}
        return np.asarray(jax.flatten_util.ravel_pytree(z)[0])

    def prior_draws(self, key, n: int, data, median: bool = False) -> dict:
        """n prior draws of every latent and deterministic prior site (constrained, vectorised,
        no solve), or the per-site median of 15 draws (shape (1, ...))."""
        from numpyro.infer import Predictive

        m = 15 if median else n
        out = Predictive(self.model, num_samples=m)(key, data, prior_only=True)
        out = {k: np.asarray(v) for k, v in out.items()}
        if median:
            out = {s: np.median(v, axis=0)[None] for s, v in out.items()}
        return out

    def flat_from_draws(self, draws: dict) -> np.ndarray:
        """(n, D) unconstrained vectors from :meth:`prior_draws` output."""
        n = next(iter(draws.values())).shape[0]
        return np.stack([self.to_flat({k: v[i] for k, v in draws.items()}) for i in range(n)])

    # ----------------------------------------------------------------------------- jax functions
    def potential(self, flat, data):
        return potential_energy(self.model, (data,), {}, self.unravel(flat))

    def _potential_aux(self, flat, data):
        """U(z) and the predictions μ (the model's deterministic site) from one solve."""
        sub = numpyro.handlers.substitute(self.model, substitute_fn=partial(_unconstrain_reparam, self.unravel(flat)))
        log_joint, tr = log_density(sub, (data,), {}, {})
        return -log_joint, tr["mu"]["value"]

    def _jit(self, name, make):
        f = self._jits.get(name)
        if f is None:
            f = self._jits[name] = make()
        return f

    def value_and_grad(self):
        """jit (B, D), data -> (U (B,), ∇U (B, D), μ (B, T, C, S)) (forward or reverse mode).

        The one compiled program behind SVI, the Laplace Hessian (central differences of ∇U)
        and the post-processing of draws (μ); called with ``VG_BATCH`` rows (or one).
        """
        def make():
            def vg(z, data):
                if self.fm:
                    f = lambda x: (lambda u, mu: (u, (u, mu)))(*self._potential_aux(x, data))
                    g, (u, mu) = jax.jacfwd(f, has_aux=True)(z)
                    return u, g, mu
                (u, mu), g = jax.value_and_grad(self._potential_aux, has_aux=True)(z, data)
                return u, g, mu
            return jax.jit(jax.vmap(vg, in_axes=(0, None)))
        return self._jit("vg", make)

    def batched_vg(self, z, data, batch: int = VG_BATCH):
        """:meth:`value_and_grad` over any number of rows (N, D), in chunks of ``batch`` rows.

        One row (a single SVI restart, a Newton step) runs unpadded: padding it would make every
        optimisation step cost ``batch`` solves. Other sizes share the ``batch``-row program.
        ``batch=1`` (what :func:`~pbhno_bayes.fit` uses with one SVI restart) runs everything
        through the one-row program the optimiser compiled: for an expensive forward model a
        second compile (≈ 17 s for the Notch surrogate on a 2-core CPU) costs more than the
        vectorisation saves on the few rows of a Hessian."""
        z = np.asarray(z, dtype=np.float64)
        n = z.shape[0]
        fn = self.value_and_grad()
        us, gs, mus = [], [], []
        b = 1 if n == 1 else int(batch)
        for i in range(0, n, b):
            chunk = z[i:i + b]
            m = chunk.shape[0]
            if m < b:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], b - m, axis=0)])
            u, g, mu = fn(jnp.asarray(chunk), data)
            us.append(np.asarray(u)[:m])
            gs.append(np.asarray(g)[:m])
            mus.append(np.asarray(mu)[:m])
        return np.concatenate(us), np.concatenate(gs), np.concatenate(mus)

    def predictions(self):
        """jit (B, D), data -> (U (B,), μ (B, T, C, S)): the forward solve alone (no gradient)."""
        def make():
            return jax.jit(jax.vmap(self._potential_aux, in_axes=(0, None)))
        return self._jit("mu", make)

    def batched_mu(self, z, data, batch: int = VG_BATCH):
        """(U (N,), μ (N, T, C, S)) for any number of rows (N, D). Few rows reuse the
        :meth:`value_and_grad` program (no extra compile); many rows (≥ ``MU_ROWS``) use the
        gradient-free :meth:`predictions`, which for an expensive model (a Notch surrogate rollout:
        ∇ costs ≈ 4.7 solves) pays back its compile many times over. U is +inf where the solve
        failed."""
        z = np.asarray(z, dtype=np.float64)
        n = z.shape[0]
        if n < MU_ROWS:
            u, _, mu = self.batched_vg(z, data, batch)
            return u, mu
        fn = self.predictions()
        us, mus = [], []
        for i in range(0, n, VG_BATCH):
            chunk = z[i:i + VG_BATCH]
            m = chunk.shape[0]
            if m < VG_BATCH:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], VG_BATCH - m, axis=0)])
            u, mu = fn(jnp.asarray(chunk), data)
            us.append(np.asarray(u)[:m])
            mus.append(np.asarray(mu)[:m])
        return np.concatenate(us), np.concatenate(mus)

    def prior_hessian(self, m, data):
        """−∇² log p(z) at m: the prior part of ∇²U (no forward solve; exact, jax.hessian)."""
        def make():
            def u0(flat, data):
                return potential_energy(self.model, (data,), {"prior_only": True}, self.unravel(flat))
            return jax.jit(jax.hessian(u0))
        return np.asarray(self._jit("prior_hess", make)(jnp.asarray(m, dtype=jnp.float64), data))

    def hessian_fd(self, m, data, h: float = 1e-3, batch: int = VG_BATCH):
        """∇²U at m by central differences of the exact gradient (symmetrised)."""
        m = np.asarray(m, dtype=np.float64)
        D = m.shape[0]
        steps = h * np.maximum(1.0, np.abs(m))
        pts = np.concatenate([m + np.diag(steps), m - np.diag(steps)])
        _, g, _ = self.batched_vg(pts, data, batch)
        H = (g[:D] - g[D:]) / (2 * steps[:, None])
        return 0.5 * (H + H.T)

    def postprocess_draws(self, flat, data, batch: int = VG_BATCH) -> dict:
        """Constrained sites, θ, log θ, σ (when inferred), μ and the potential U for draws (N, D)."""
        flat = np.asarray(flat, dtype=np.float64)
        u, mu = self.batched_mu(flat, data, batch)
        z = jax.vmap(self.unravel)(jnp.asarray(flat))
        out = {n: np.asarray(jax.vmap(biject_to(self.supports[n]))(z[n])) for n in self.sites}
        pb_ = self.problem
        if pb_.prior_kind == "mvn":
            out["theta"] = np.exp(out["log_theta"])
        else:
            out["theta"] = np.stack([out[n] for n in pb_.names], axis=-1)
            out["log_theta"] = np.log(out["theta"])
        if pb_.sigma_known is None and "sigma" not in out:
            out["sigma"] = np.stack([out[f"sigma_{s}"] for s in pb_.noise_prior], axis=-1)
        out["mu"] = mu
        out["U"] = np.where(np.isfinite(u), u, np.inf)
        return out

    def nuts(self, *, warmup: int, samples: int, dense_mass: bool, target_accept: float,
             max_tree_depth: int, adapt_mass: bool = True, parallel: bool = False, progress: bool = False):
        """jit (keys (C, 2), z0 (C, D), U(z0) (C,), ∇U(z0) (C, D), chain ids (C,), imm, data)
        -> per-chain draws and stats.

        The start's potential and gradient come in as arguments (from :meth:`batched_vg`, the
        program SVI compiled): computed inside, they would put a second copy of the forward
        solve (and of its derivative) into this program, which is mostly compilation.
        All chains run vectorised (vmap) in one program: NumPyro's NUTS kernel (dual-averaging
        step size, windowed mass-matrix adaptation starting from ``imm``) for ``warmup``
        iterations, then ``samples`` kept iterations. ``progress``: every tenth of the run each
        chain reports (host callback, stderr) its iteration, phase, mean leapfrog steps per
        iteration so far and the time since :func:`nuts_progress_start`; it does not change the draws.
        """
        cfg = (warmup, samples, bool(dense_mass), float(target_accept), int(max_tree_depth), bool(adapt_mass),
               bool(parallel), bool(progress))
        total = warmup + samples
        every = max(1, total // 10)

        def make():
            init_kernel, sample_kernel = hmc(potential_fn_gen=lambda data: partial(self.potential, data=data),
                                             algo="NUTS")

            def chain(key, z0, u0, g0, cid, imm, data):
                state = init_kernel(ParamInfo(z0, u0, g0), warmup, inverse_mass_matrix=imm, adapt_mass_matrix=adapt_mass,
                                    dense_mass=dense_mass, target_accept_prob=target_accept,
                                    max_tree_depth=max_tree_depth, forward_mode_differentiation=self.fm,
                                    model_args=(data,), rng_key=key)

                def step(carry, i):
                    s, nsum = carry
                    s = sample_kernel(s, model_args=(data,))
                    nsum = nsum + s.num_steps
                    if progress:  # i is not batched: the cond stays a cond under vmap
                        jax.lax.cond((i + 1) % every == 0, lambda: jax.debug.callback(
                            _report_nuts, cid, i + 1, nsum, total, warmup), lambda: None)
                    return (s, nsum), (s.z, s.diverging, s.num_steps, s.potential_energy, s.adapt_state.step_size)

                # One scan over warmup + sampling (one copy of the kernel in the program).
                _, out = jax.lax.scan(step, (state, jnp.zeros_like(state.num_steps)), jnp.arange(total))
                return jax.tree_util.tree_map(lambda a: a[warmup:], out)

            if parallel:  # one chain per device
                return jax.pmap(chain, in_axes=(0, 0, 0, 0, 0, None, None))
            return jax.jit(jax.vmap(chain, in_axes=(0, 0, 0, 0, 0, None, None)))
        return self._jit(("nuts",) + cfg, make)


_NUTS_T0 = [time.perf_counter()]


def nuts_progress_start():
    """Reset the clock of the NUTS progress reports (called by ``pb.fit`` before sampling)."""
    _NUTS_T0[0] = time.perf_counter()


def _report_nuts(cid, i, nsum, total, warmup):
    i, nsum = int(i), int(nsum)
    phase = "warmup" if i <= int(warmup) else "sampling"
    print(f"  NUTS chain {int(cid)}: iteration {i}/{int(total)} ({phase}), {nsum / max(i, 1):.1f} leapfrog "
          f"steps per iteration so far, {time.perf_counter() - _NUTS_T0[0]:.0f}s", file=sys.stderr, flush=True)
