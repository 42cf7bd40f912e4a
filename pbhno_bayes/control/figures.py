"""Plan figure: the control schedule above the predicted outcome bands with the target window."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .._io import atomic_path  # noqa: E402

__all__ = ["plot_plan"]


def plot_plan(plan, path, title: str | None = None):
    """Write a PNG: top, u(t) per channel (steps); below, one panel per target term with the
    posterior 5–95 % and 25–75 % bands, the median, the success tolerance (shaded) and the
    cost interval (dashed). Written atomically."""
    terms = list(plan.target)
    n = 1 + len(terms)
    fig, axes = plt.subplots(n, 1, figsize=(6.5, 2.2 * n), sharex=True, squeeze=False)
    axes = axes[:, 0]
    t = np.asarray(plan.times)
    for i, ch in enumerate(plan.channels):
        axes[0].step(t, np.append(plan.u[:, i], plan.u[-1, i]), where="post", label=ch)
    axes[0].set_ylabel("control u")
    axes[0].legend(fontsize=8, loc="best")
    axes[0].set_title(title or f"{plan.pathway}: {plan.mode} MPC ({plan.risk.get('measure')}), "
                      f"P(success) = {plan.success_probability:.2f}, energy = {plan.energy:.3g}", fontsize=9)
    for ax, term in zip(axes[1:], terms, strict=True):
        b = plan.bands[term.label]
        ax.fill_between(t, b["q05"], b["q95"], alpha=0.25, color="C0", label="5-95 %")
        ax.fill_between(t, b["q25"], b["q75"], alpha=0.4, color="C0", label="25-75 %")
        ax.plot(t, b["q50"], color="C0", lw=1.5, label="median")
        ax.axhspan(term.ok_lo, term.ok_hi, color="C2", alpha=0.2, label="target tolerance")
        if term.kind == "value":
            ax.axhline(term.lo, color="C2", ls="--", lw=1)
        ax.set_ylabel(term.label)
        ax.legend(fontsize=7, loc="best")
    axes[-1].set_xlabel("time")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
