"""Tissue geometry: the grid, cell membranes Γ_i, averaging A_i and the zero-flux Laplacian.

The domain Ω = [0, 1]² is discretised cell-centred on an n × n grid (spacing h = 1/n,
centres x_j = (j + ½) h). Cell i occupies an axis-aligned square; its membrane Γ_i is the band of
physical width ``membrane_width`` just inside that square's boundary, so the mask converges to a
fixed region as the grid is refined. The ligand field is defined on all of Ω (cells do not
exclude ligand; only their membranes bind, average and secrete it).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["Geometry", "two_cell", "lattice", "row", "laplacian_neumann"]


@dataclass(frozen=True, eq=False)
class Geometry:
    """Grid plus cell squares. ``boxes[i] = (x0, x1, y0, y1)`` in domain units; axis 0 of a field is x."""

    n: int
    boxes: tuple[tuple[float, float, float, float], ...]
    membrane_width: float
    source_box: tuple[float, float, float, float] | None = None  # e.g. Wnt source domain

    def __post_init__(self):
        if self.n < 4:
            raise ValueError(f"grid must be at least 4 points per side, got {self.n}")
        m = self.masks
        empty = [i for i in range(len(self.boxes)) if m[i].sum() == 0]
        if empty:
            raise ValueError(
                f"membrane of cell(s) {empty} covers no grid point at grid={self.n}; use a finer grid"
            )

    @property
    def h(self) -> float:
        return 1.0 / self.n

    @property
    def n_cells(self) -> int:
        return len(self.boxes)

    @property
    def centres(self) -> np.ndarray:
        return (np.arange(self.n) + 0.5) / self.n

    @property
    def masks(self) -> np.ndarray:
        """Γ_i indicator on the grid, (C, n, n) float64."""
        x = self.centres
        X, Y = np.meshgrid(x, x, indexing="ij")
        out = []
        for x0, x1, y0, y1 in self.boxes:
            inside = (X >= x0) & (X <= x1) & (Y >= y0) & (Y <= y1)
            dist = np.minimum.reduce([X - x0, x1 - X, Y - y0, y1 - Y])
            out.append((inside & (dist < self.membrane_width)).astype(np.float64))
        return np.stack(out)

    @property
    def averaging(self) -> np.ndarray:
        """A_i as weights: ℓ_i = Σ_x A_i(x) L(x), each A_i sums to 1 over Γ_i (eq 3), (C, n, n)."""
        m = self.masks
        return m / m.sum(axis=(1, 2), keepdims=True)

    @property
    def source_mask(self) -> np.ndarray:
        x = self.centres
        X, Y = np.meshgrid(x, x, indexing="ij")
        if self.source_box is None:
            return np.zeros((self.n, self.n))
        x0, x1, y0, y1 = self.source_box
        return ((X >= x0) & (X <= x1) & (Y >= y0) & (Y <= y1)).astype(np.float64)

    def with_grid(self, n: int) -> Geometry:
        return Geometry(n, self.boxes, self.membrane_width, self.source_box)


def laplacian_neumann(L: jnp.ndarray, h: float) -> jnp.ndarray:
    """Five-point Laplacian with zero-flux boundaries (reflecting ghost cells), second order.

    On the cell-centred grid this is the finite-volume operator: the boundary flux is exactly
    zero, so Σ_x ∇²_h L = 0 and ligand mass is conserved to round-off.
    """
    Lp = jnp.pad(L, 1, mode="edge")
    return (Lp[2:, 1:-1] + Lp[:-2, 1:-1] + Lp[1:-1, 2:] + Lp[1:-1, :-2] - 4.0 * L) / (h * h)


def two_cell(n: int = 32, size: float = 0.3, gap: float = 0.1, membrane_width: float = 1 / 16) -> Geometry:
    """Two square cells side by side along x, centred in Ω, separated by ``gap``."""
    y0, y1 = 0.5 - size / 2, 0.5 + size / 2
    xa0 = 0.5 - gap / 2 - size
    xb0 = 0.5 + gap / 2
    return Geometry(n, ((xa0, xa0 + size, y0, y1), (xb0, xb0 + size, y0, y1)), membrane_width)


def lattice(rows: int, cols: int, n: int = 32, gap: float = 0.05, margin: float = 0.05,
            membrane_width: float = 1 / 16) -> Geometry:
    """A rows × cols mosaic of square cells filling Ω with ``gap`` between neighbours."""
    size = min((1 - 2 * margin - (cols - 1) * gap) / cols, (1 - 2 * margin - (rows - 1) * gap) / rows)
    boxes = []
    for r in range(rows):
        for c in range(cols):
            x0 = margin + c * (size + gap)
            y0 = margin + r * (size + gap)
            boxes.append((x0, x0 + size, y0, y0 + size))
    return Geometry(n, tuple(boxes), min(membrane_width, size / 3))


def row(cells: int, n: int = 32, size: float = 0.14, x_start: float = 0.18, x_end: float = 0.95,
        membrane_width: float = 1 / 16, source_width: float = 0.1) -> Geometry:
    """A row of cells along x at increasing distance from a source strip at x < ``source_width`` (Wnt)."""
    xs = np.linspace(x_start, x_end - size, cells)
    boxes = tuple((float(x), float(x) + size, 0.5 - size / 2, 0.5 + size / 2) for x in xs)
    return Geometry(n, boxes, membrane_width, source_box=(0.0, source_width, 0.0, 1.0))
