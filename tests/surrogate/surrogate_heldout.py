"""Held-out θ and reference-solver trajectories for the shipped-surrogate accuracy tests.

θ are drawn from each pathway's prior with seeds that no training split uses (training uses
seed..seed+3 = 0..3); trajectories come from the reference solver
(:func:`pbhno_bayes.surrogate.train.reference_model`: Tsit5, rtol 1e-6, atol 1e-8, 2**18 steps)
under the default control, at 25 times over [0, t_end].

``tests/surrogate/data/reference_heldout.npz`` caches the small default-test set (4 θ per pathway,
seed 1234) so the default test runs only the surrogate; regenerate it with

    python tests/surrogate/surrogate_heldout.py

and ``test_reference_fixture_is_current`` (slow) recomputes it and checks it is unchanged.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import pbhno_bayes as pb
from pbhno_bayes.surrogate.train import reference_model

FIXTURE = Path(__file__).parent / "data" / "reference_heldout.npz"
FIXTURE_SEED, FIXTURE_N = 1234, 4
N_TIMES = 25


def default_pathway(name):
    return {"notch": lambda: pb.pathways.notch(cells=2, grid=32), "wnt": lambda: pb.pathways.wnt(cells=4, grid=32)}[name]()


def held_out_theta(pw, n, seed):
    rng = np.random.default_rng(seed)
    idx = [pw.param_names.index(f) for f in pw.free]
    th = np.tile(pw.theta_vector(None), (n, 1))
    th[:, idx] = np.exp(pw.prior.sample(n, rng=rng))
    return th


def times(pw):
    return np.linspace(0.0, pw.t_end, N_TIMES)


def reference(pw, theta, chunk=8):
    """(states (n, T, C, S), field (n, T, grid, grid), ok (n,)) from the reference solver."""
    ref = reference_model(pw)
    ts = jnp.asarray(times(pw))
    f = jax.jit(jax.vmap(lambda t: ref.solve(t, ts)))
    outs = [f(jnp.asarray(theta[s:s + chunk])) for s in range(0, len(theta), chunk)]
    return (np.concatenate([np.asarray(o["states"]) for o in outs]),
            np.concatenate([np.asarray(o["field"]) for o in outs]),
            np.concatenate([np.asarray(o["ok"]) for o in outs]))


def relative_errors(pw, y, yr, field=None, field_ref=None):
    """Relative L2 over (time × cell) per θ and observed species (flattened), and per-θ field error."""
    sidx = [pw.species.index(s) for s in pw.default_observe]
    d = y[..., sidx] - yr[..., sidx]
    err = np.linalg.norm(d, axis=(1, 2)) / np.linalg.norm(yr[..., sidx], axis=(1, 2))
    fe = None
    if field is not None:
        n = len(field)
        fe = np.linalg.norm((field - field_ref).reshape(n, -1), axis=1) / np.linalg.norm(field_ref.reshape(n, -1), axis=1)
    return err.ravel(), fe


def build_fixture():
    arrays = {}
    for name in ("notch", "wnt"):
        pw = default_pathway(name)
        th = held_out_theta(pw, FIXTURE_N, FIXTURE_SEED)
        st, fld, ok = reference(pw, th)
        assert ok.all(), f"reference solve failed for {name}"
        arrays.update({f"{name}_theta": th, f"{name}_states": st, f"{name}_field": fld})
    return arrays


if __name__ == "__main__":
    from pbhno_bayes._io import atomic_path

    arrays = build_fixture()
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(FIXTURE) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    print(f"wrote {FIXTURE}")
