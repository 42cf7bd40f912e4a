r"""Local sensitivities, Fisher information and sensitivity weights (paper Sec. III.C, App. B).

Observation operator: m_{tcs}(θ) = forward.predict(θ, obs.times)[t, obs.cells[c], obs.species[s]].
With z = log θ_F (``log=True``) or z = θ_F, and J_i = ∂m_i/∂z for every observed (non-NaN) entry
i = (t, c, s) with noise sd σ_i,

    F(z) = Σ_i J_i J_iᵀ / σ_i²                               (P_F, P_F)

computed with forward-mode Jacobians (``jax.jacfwd``) through the forward model.
"""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["FisherResult", "fisher_information", "sensitivity_weights", "observation_jacobian",
           "SensitivityError"]


class SensitivityError(ValueError):
    """The forward solve (or its sensitivities) is not finite at the requested theta."""


def _free_names(forward, prior):
    names = tuple(prior.names) if prior is not None and getattr(prior, "names", None) else tuple(forward.pathway.free)
    unknown = [n for n in names if n not in forward.pathway.param_names]
    if unknown:
        raise ValueError(f"free parameter(s) {unknown} are not parameters of {forward.pathway.name}")
    return names


def _indices(forward, obs):
    pw = forward.pathway
    bad = [s for s in obs.species if s not in pw.species]
    if bad:
        raise ValueError(f"observed species {bad} not in {pw.name} species {pw.species}")
    bad = [c for c in obs.cells if not 0 <= c < pw.n_cells]
    if bad:
        raise ValueError(f"observed cell(s) {bad} out of range for {pw.name} with {pw.n_cells} cell(s)")
    return (np.asarray(obs.cells, dtype=np.int64),
            np.asarray([pw.species.index(s) for s in obs.species], dtype=np.int64))


def _sigma_array(obs, sigma):
    """(T, C, S) noise sd from ``sigma`` (scalar, (S,), mapping species->sd, (T,C,S)) or obs.sigma."""
    shape = obs.values.shape
    if sigma is None:
        if obs.sigma is None:
            raise ValueError("observations carry no sigma; pass sigma= (scalar, per-species array or dict)")
        return np.asarray(obs.sigma, dtype=np.float64)
    if isinstance(sigma, Mapping):
        missing = [s for s in obs.species if s not in sigma]
        if missing:
            raise ValueError(f"sigma dict lacks species {missing}")
        sigma = [sigma[s] for s in obs.species]
    sig = np.asarray(sigma, dtype=np.float64)
    try:
        sig = np.broadcast_to(sig, shape).copy()
    except ValueError:
        raise ValueError(f"sigma of shape {sig.shape} does not broadcast to observations {shape}") from None
    if np.any(~(sig[np.isfinite(obs.values)] > 0)):
        raise ValueError("sigma must be positive and finite on every observed entry")
    return sig


def observation_jacobian(forward, observations, theta=None, *, log=True, prior=None, control=None):
    """J[t, c, s, j] = ∂m_{tcs}/∂z_j, shape (T, C, S, P_F), and the model output m (T, C, S)."""
    names = _free_names(forward, prior)
    full = jnp.asarray(forward.theta_array(theta), dtype=jnp.float64)
    if np.any(~(np.asarray(full) > 0)) and log:
        raise ValueError("theta must be positive for log-parameter sensitivities (use log=False)")
    idx = jnp.asarray([forward.pathway.param_names.index(n) for n in names])
    ci, si = _indices(forward, observations)
    times = jnp.asarray(observations.times, dtype=jnp.float64)
    z0 = jnp.log(full[idx]) if log else full[idx]
    ci, si = tuple(int(c) for c in ci), tuple(int(s) for s in si)
    try:
        J, y = _jacobian(forward, full, idx, z0, times, control, ci, si, log, "fwd")
    except TypeError:
        # Models differentiated by a custom VJP (e.g. diffrax adjoint="recursive") support only
        # reverse mode; the Jacobian is the same, just computed row-wise.
        J, y = _jacobian(forward, full, idx, z0, times, control, ci, si, log, "rev")
    return np.asarray(J), np.asarray(y), names


@eqx.filter_jit
def _jacobian(forward, full, idx, z0, times, control, ci, si, log, mode):
    """(∂m/∂z, m) at z0, compiled once per forward model, observation layout and shapes (the
    identifiability table, the Fisher matrix and W_sens all reuse it)."""

    def m(z):
        th = full.at[idx].set(jnp.exp(z) if log else z)
        y = forward.predict(th, times, control)
        return y[:, np.asarray(ci)][:, :, np.asarray(si)]

    def m_aux(z):  # the output again as aux: one trace of the solve, not a second one for m(z0)
        y = m(z)
        return y, y

    jac = jax.jacfwd if mode == "fwd" else jax.jacrev
    return jac(m_aux, has_aux=True)(z0)


def _fmt_direction(v, names, prefix, k=3):
    order = np.argsort(-np.abs(v))[:k]
    sgn = np.sign(v[order[0]]) or 1.0
    terms = []
    for i, j in enumerate(order):
        c = sgn * v[j]
        if abs(c) < 0.05:
            continue
        op = ("−" if c < 0 else "") if i == 0 else (" − " if c < 0 else " + ")
        terms.append(f"{op}{abs(c):.2f}·{prefix}{names[j]}")
    return "".join(terms)


class FisherResult:
    """Fisher information at one θ and derived quantities (all on z = log θ_F unless ``log=False``).

    Attributes: ``names`` (P_F,), ``F`` (P_F, P_F), ``eigenvalues`` (ascending), ``eigenvectors``
    (columns), ``condition`` = λ_max/λ_min (inf if singular), ``cr_sd`` = sqrt(diag F⁺) Cramér–Rao sd
    (inf where F is singular along that parameter), ``prior_sd``, ``jacobian`` (T, C, S, P_F).
    """

    def __init__(self, names, F, jacobian, sigma, log, prior_sd=None):
        self.names = tuple(names)
        self.F = np.asarray(F)
        self.jacobian = jacobian
        self.sigma = sigma
        self.log = log
        lam, V = np.linalg.eigh(0.5 * (self.F + self.F.T))
        self.eigenvalues, self.eigenvectors = lam, V
        tol = max(lam.max(), 0.0) * len(lam) * 1e-12
        self.condition = float(lam.max() / lam.min()) if lam.min() > tol else float("inf")
        cov = np.linalg.pinv(self.F, rcond=1e-12, hermitian=True)
        d = np.diag(cov).copy()
        # Parameters with a component in the numerical null space get no finite bound.
        null = V[:, lam <= tol]
        sing = np.any(np.abs(null) > 1e-6, axis=1) if null.size else np.zeros(len(d), bool)
        d[sing] = np.inf
        self.cr_sd = np.sqrt(np.maximum(d, 0.0))
        self.prior_sd = None if prior_sd is None else np.asarray(prior_sd, dtype=np.float64)

    def sloppiest(self, k=3):
        """The k least-informed eigen-directions as strings, e.g. '0.71·log k1 − 0.70·log k2'."""
        prefix = "log " if self.log else ""
        return [(float(self.eigenvalues[i]), _fmt_direction(self.eigenvectors[:, i], self.names, prefix))
                for i in range(min(k, len(self.names)))]

    def to_dict(self):
        return {"names": list(self.names), "F": self.F.tolist(), "eigenvalues": self.eigenvalues.tolist(),
                "condition": self.condition, "cr_sd": self.cr_sd.tolist(),
                "prior_sd": None if self.prior_sd is None else self.prior_sd.tolist(),
                "sloppiest": [{"eigenvalue": e, "direction": d} for e, d in self.sloppiest()], "log": self.log}

    def table(self) -> str:
        """Markdown table: parameter, Cramér–Rao sd, prior sd, ratio."""
        unit = "log " if self.log else ""
        lines = [f"| parameter | Cramér–Rao sd ({unit}scale) | prior sd | CR/prior |", "|---|---|---|---|"]
        for j, n in enumerate(self.names):
            ps = "" if self.prior_sd is None else f"{self.prior_sd[j]:.3g}"
            ratio = "" if self.prior_sd is None else f"{self.cr_sd[j] / self.prior_sd[j]:.3g}"
            lines.append(f"| {n} | {self.cr_sd[j]:.3g} | {ps} | {ratio} |")
        lines.append("")
        lines.append(f"condition number: {self.condition:.3g}")
        for e, d in self.sloppiest():
            lines.append(f"- sloppy direction (λ = {e:.3g}): {d}")
        return "\n".join(lines)

    def __repr__(self):
        return f"FisherResult(params={self.names}, condition={self.condition:.3g})"


def fisher_information(forward, observations, theta=None, *, log=True, sigma=None, prior=None, control=None):
    r"""Fisher information F = Σ_i J_i J_iᵀ / σ_i² over observed entries (module docstring).

    forward : any ForwardModel; observations : pb.Observations (times, cells, species; NaN = missing).
    theta : None (nominal) / dict / full (P,) natural-unit vector.
    log : differentiate w.r.t. log θ_F (default) or θ_F.
    sigma : noise sd (scalar, (S,), dict species->sd or (T,C,S)); default ``observations.sigma``.
    prior : optional pb.Prior whose ``names`` are the free parameters (default pathway.free/prior).
    Returns :class:`FisherResult`.
    """
    sig = _sigma_array(observations, sigma)
    J, _, names = observation_jacobian(forward, observations, theta, log=log, prior=prior, control=control)
    mask = np.isfinite(np.asarray(observations.values))
    if not np.all(np.isfinite(J[mask])):
        raise SensitivityError("model sensitivities are not finite at this theta (the solve failed); pick another theta")
    Jw = np.where(mask[..., None], J / sig[..., None], 0.0).reshape(-1, len(names))
    F = Jw.T @ Jw
    pr = prior if prior is not None else forward.pathway.prior
    prior_sd = None
    if log and tuple(pr.names) == tuple(names):
        prior_sd = np.asarray(pr.sd)
    return FisherResult(names, F, J, sig, log, prior_sd)


def sensitivity_weights(forward, observations, theta=None, *, clip=(0.2, 5.0), sigma=None, prior=None,
                        include_prior=True, control=None):
    r"""Sensitivity weights W_sens (T, C, S) (paper eq 7, Appendix B).

    With whitened sensitivities g_i = J_i/σ_i (J on log θ_F), data information F = Σ_i g_i g_iᵀ and
    H = F + Σ₀⁻¹ (prior precision; omitted if ``include_prior=False``), eigen-decompose
    H = Σ_j λ_j v_j v_jᵀ. Observation i's share of the information along direction j is
    s_ij = (v_jᵀ g_i)² / Σ_i' (v_jᵀ g_i')²  (Σ_i s_ij = 1), and direction j is weighted by its share
    of the (Laplace) posterior variance ω_j = λ_j⁻¹ / Σ_j' λ_j'⁻¹, so weakly constrained directions
    dominate. Then

        w_i = N · Σ_j ω_j s_ij        (mean 1 over the N observed entries),

    clipped to [clip[0], clip[1]] and renormalised to mean 1 (clip/renormalise repeated until
    stable; the clip bounds hold up to that renormalisation). Missing entries get weight 0.
    """
    lo, hi = clip
    if not 0 < lo <= 1 <= hi:
        raise ValueError(f"clip must satisfy 0 < low <= 1 <= high, got {clip}")
    sig = _sigma_array(observations, sigma)
    J, _, names = observation_jacobian(forward, observations, theta, log=True, prior=prior, control=control)
    mask = np.isfinite(np.asarray(observations.values))
    if not np.all(np.isfinite(J[mask])):
        raise SensitivityError("model sensitivities are not finite at this theta (the solve failed); pick another theta")
    g = J[mask] / sig[mask][:, None]                      # (N, P)
    H = g.T @ g
    if include_prior:
        pr = prior if prior is not None else forward.pathway.prior
        H = H + np.linalg.inv(np.asarray(pr.cov))
    lam, V = np.linalg.eigh(H)
    lam = np.maximum(lam, lam.max() * 1e-12)
    proj = (g @ V) ** 2                                   # (N, P)
    tot = proj.sum(axis=0)
    s = np.where(tot > 0, proj / np.where(tot > 0, tot, 1.0), 0.0)
    omega = (1.0 / lam) * (tot > 0)
    if omega.sum() <= 0:
        raise ValueError("the data carry no information about any free parameter; weights are undefined")
    omega = omega / omega.sum()
    N = g.shape[0]
    w = N * (s @ omega)
    for _ in range(50):
        w = np.clip(w, lo, hi)
        w = w / w.mean()
        if w.min() >= lo - 1e-12 and w.max() <= hi + 1e-12:
            break
    out = np.zeros(mask.shape)
    out[mask] = w
    return out
