"""Fourier neural operator block 𝒢_φ (paper eq 4, Table II).

A stack of 2-D spectral convolutions (Li et al. 2021): each layer maps v (W, n, n) to

    v' = σ( F⁻¹[ R_φ · F[v] ]_{kept modes} + W_φ v + b )

with F the real 2-D FFT, R_φ complex weights on the ``modes × modes`` lowest frequencies
(both signs along axis 0, the non-negative half along axis 1) and W_φ a pointwise (1×1)
convolution. A pointwise lift maps the input channels to ``width`` and a zero-initialised
pointwise projection maps back to the output channels, so a fresh block outputs exactly zero:
the surrogate starts as its physics predictor.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = ["SpectralConv2d", "FNO2d"]


class SpectralConv2d(eqx.Module):
    """One spectral convolution: (W_in, n, n) -> (W_out, n, n). Complex weights stored as re/im."""

    w_re: jnp.ndarray  # (2, W_in, W_out, m, m): [low-positive, low-negative] rows along axis 0
    w_im: jnp.ndarray
    modes: int = eqx.field(static=True)

    def __init__(self, w_in: int, w_out: int, modes: int, *, key):
        k1, k2 = jax.random.split(key)
        scale = 1.0 / (w_in * w_out)
        shape = (2, w_in, w_out, modes, modes)
        self.w_re = scale * jax.random.uniform(k1, shape)
        self.w_im = scale * jax.random.uniform(k2, shape)
        self.modes = modes

    def __call__(self, v):
        n0, n1 = v.shape[-2:]
        m = self.modes
        vf = jnp.fft.rfft2(v)  # (W_in, n0, n1//2+1)
        w = self.w_re + 1j * self.w_im
        top = jnp.einsum("ixy,ioxy->oxy", vf[:, :m, :m], w[0])
        bot = jnp.einsum("ixy,ioxy->oxy", vf[:, -m:, :m], w[1])
        out = jnp.zeros((w.shape[2], n0, n1 // 2 + 1), dtype=vf.dtype)
        out = out.at[:, :m, :m].set(top).at[:, -m:, :m].set(bot)
        return jnp.fft.irfft2(out, s=(n0, n1))


class _Pointwise(eqx.Module):
    weight: jnp.ndarray  # (out, in)
    bias: jnp.ndarray  # (out,)

    def __init__(self, w_in, w_out, *, key, zero=False):
        lim = 1.0 / jnp.sqrt(w_in)
        k1, k2 = jax.random.split(key)
        if zero:
            self.weight = jnp.zeros((w_out, w_in))
            self.bias = jnp.zeros((w_out,))
        else:
            self.weight = jax.random.uniform(k1, (w_out, w_in), minval=-lim, maxval=lim)
            self.bias = jax.random.uniform(k2, (w_out,), minval=-lim, maxval=lim)

    def __call__(self, v):
        return jnp.einsum("oi,ixy->oxy", self.weight, v) + self.bias[:, None, None]


class FNO2d(eqx.Module):
    """Lift -> ``layers`` × (spectral conv + pointwise, GELU) -> zero-initialised projection.

    Input (in_channels, n, n) -> output (out_channels, n, n). ``modes`` must be ≤ n // 2.
    """

    lift: _Pointwise
    spectral: tuple
    pointwise: tuple
    proj: _Pointwise

    def __init__(self, in_channels: int, out_channels: int, *, width: int = 16, modes: int = 8,
                 layers: int = 4, key):
        keys = jax.random.split(key, 2 * layers + 2)
        self.lift = _Pointwise(in_channels, width, key=keys[0])
        self.spectral = tuple(SpectralConv2d(width, width, modes, key=keys[1 + i]) for i in range(layers))
        self.pointwise = tuple(_Pointwise(width, width, key=keys[1 + layers + i]) for i in range(layers))
        self.proj = _Pointwise(width, out_channels, key=keys[-1], zero=True)

    def __call__(self, v):
        v = self.lift(v)
        for i, (sc, pw) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
            v = sc(v) + pw(v)
            if i < len(self.spectral) - 1:
                v = jax.nn.gelu(v)
        return self.proj(v)
