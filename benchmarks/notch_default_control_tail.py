"""Notch under the default control on the slow accuracy test's 32 fresh held-out θ (seed 4321):
N/H and field errors of the shipped Notch models, of the physics scheme with the end-point exchange
(the shipped Notch scheme before 2026-12-01) at its trained and smaller macro steps, and of the
sub-step exchange (the default since then) with 10 and 20 field sub-steps
(reports/surrogate.md, "Default-control tail" and "Sub-step exchange"). Same θ, reference solver and error measure as
``tests/surrogate/test_pretrained.py::test_pretrained_accuracy_bar``.

    python benchmarks/notch_default_control_tail.py

Prints one line per model (median / p95 / max over θ × species, field median, and the time of the
32 rollouts, compiled, one run: only a rough cost) and, for the five θ where the end-point exchange
is worst, each model's error there (max over species). Same seed → same numbers.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "surrogate"))
from surrogate_heldout import held_out_theta, reference, relative_errors, times  # noqa: E402

from pbhno_bayes.surrogate import HybridSurrogate  # noqa: E402


def main():
    notch = HybridSurrogate.pretrained("notch")
    pw = notch.pathway
    th = held_out_theta(pw, 32, 4321)
    yr, fr, ok = reference(pw, th)
    assert ok.all()
    ts = jnp.asarray(times(pw))
    end = notch.with_exchange("endpoints")
    models = {"end-point exchange (notch before 2026-12-01)": end,
              "notch_learned (end-point exchange)": HybridSurrogate.pretrained("notch_learned"),
              "end-point exchange, dt 0.125": end.with_macro_step(0.125),
              "end-point exchange, dt 0.125 + predictor pass 2": end.with_macro_step(0.125).with_predictor_substeps(2),
              "end-point exchange, dt 0.0625": end.with_macro_step(0.0625),
              "notch (sub-step exchange, 10 sub-steps)": notch,
              "sub-step exchange, 20 sub-steps": notch.with_field_substeps(20)}
    worst = None
    for name, m in models.items():
        f = jax.jit(jax.vmap(lambda t, m=m: m.solve(t, ts)))
        jax.block_until_ready(f(jnp.asarray(th)))
        t0 = time.perf_counter()
        out = jax.block_until_ready(f(jnp.asarray(th)))
        sec = time.perf_counter() - t0
        e, fe = relative_errors(pw, np.asarray(out["states"]), yr, np.asarray(out["field"]), fr)
        per = e.reshape(len(th), -1).max(axis=1)
        if worst is None:
            worst = np.argsort(-per)[:5]
        print(f"{name}: median {100 * np.median(e):.2f} %, p95 {100 * np.percentile(e, 95):.2f} %, "
              f"max {100 * e.max():.1f} %, field median {100 * np.median(fe):.2f} %, {sec:.2f} s; "
              "at the five worst θ of the end-point exchange: " + ", ".join(f"{100 * v:.1f}" for v in per[worst]) + " %",
              flush=True)
    idx = [pw.param_names.index(f) for f in pw.free]
    print("worst θ of the end-point exchange:", {f: round(float(th[worst[0], i]), 3) for f, i in zip(pw.free, idx, strict=True)})


if __name__ == "__main__":
    main()
