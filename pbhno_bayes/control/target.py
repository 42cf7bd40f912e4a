r"""Control targets: which species in which cell should sit at what value (or inside what window).

Specification (one clear form, validated against the pathway)::

    target = {"Z": 0.3}                                # value x* = 0.3, every cell
    target = {"H": (1.5, 2.5)}                         # window [1.5, 2.5], every cell
    target = {"H": {"value": 2.0, "cell": 0, "tol": 0.1, "weight": 1.0}}
    target = {"H@1": (0.0, 0.5), "H@0": {"window": (3.0, 6.0)}}   # "species@cell" keys

A key is a species name, optionally suffixed ``@cell``; a spec is a number (value), a pair
``(lo, hi)`` (window) or a dict with exactly one of ``value`` / ``window`` plus optional ``cell``,
``tol`` and ``weight`` (the diagonal entry of Q for that term, default 1).

Each (species, cell) pair becomes one :class:`TargetTerm` with an interval [lo, hi]:

* window: [lo, hi] as given; "success" means lo ≤ x ≤ hi;
* value v: lo = hi = v for the cost; "success" means |x − v| ≤ tol, with tol = 10 % of |v| by
  default (a zero value needs an explicit ``tol``).

The per-term tracking cost is q · d(x, [lo, hi])², the squared distance to the interval, which is
‖x − x*‖²_Q for a value target and zero anywhere inside a window.

Choosing the form and the weight: q is in the species' own units, and the input penalty R·u² is
not, so for a species of size s a miss costs ≈ q·s² — scale q ≈ 1 / s² to keep tracking and input
cost comparable (for MAPK's Z ≈ 0.1, q = 100). And since a window costs nothing anywhere inside
it, R pulls a plan to the window's edge, where about half of the uncertain outcomes fall outside; for a
margin, write the window as a value target at its centre with ``tol`` = half its width, e.g.
``{"Z": {"value": 0.15, "tol": 0.03, "weight": 100}}`` for Z ∈ [0.12, 0.18] (success is still
judged on the window). On the MAPK closed-loop benchmark (ten true systems) that form took
both controllers from 2/10 and 1/10 to 10/10 (reports/control.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["TargetTerm", "parse_target", "target_to_json"]


@dataclass(frozen=True)
class TargetTerm:
    species: str
    cell: int
    lo: float          # cost interval (lo == hi for a value target)
    hi: float
    ok_lo: float       # success interval (value ± tol, or the window)
    ok_hi: float
    weight: float
    kind: str          # "value" or "window"

    @property
    def label(self) -> str:
        return f"{self.species}@{self.cell}"

    @property
    def center(self) -> float:
        return 0.5 * (self.lo + self.hi)


def _num(x, what: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"target {what}: expected a number, got {x!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"target {what}: must be finite, got {v}")
    return v


def parse_target(pathway, target) -> tuple[TargetTerm, ...]:
    """Validate ``target`` against ``pathway`` and expand it into one term per (species, cell)."""
    if isinstance(target, (tuple, list)) and all(isinstance(t, TargetTerm) for t in target) and target:
        return tuple(target)
    if not isinstance(target, Mapping) or not target:
        raise ValueError("target must be a non-empty dict like {'Z': 0.3} or {'H@0': (1.5, 2.5)}")
    terms: dict[tuple[str, int], TargetTerm] = {}
    for key, spec in target.items():
        key = str(key)
        species, _, cell_s = key.partition("@")
        species = species.strip()
        if species not in pathway.species:
            raise ValueError(f"target: unknown species {species!r} for {pathway.name}; "
                             f"choose from {list(pathway.species)}")
        cell = None
        if cell_s:
            try:
                cell = int(cell_s)
            except ValueError:
                raise ValueError(f"target {key!r}: the cell after '@' must be an integer") from None
        tol = weight = None
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"value", "window", "cell", "tol", "weight"}
            if unknown:
                raise ValueError(f"target {key!r}: unknown field(s) {sorted(unknown)}; "
                                 "use value|window, cell, tol, weight")
            if ("value" in spec) == ("window" in spec):
                raise ValueError(f"target {key!r}: give exactly one of 'value' or 'window'")
            if "cell" in spec:
                if cell is not None and int(spec["cell"]) != cell:
                    raise ValueError(f"target {key!r}: cell given twice with different values")
                cell = spec["cell"]
            tol = spec.get("tol")
            weight = spec.get("weight")
            spec = spec["value"] if "value" in spec else tuple(spec["window"])
        if isinstance(spec, (tuple, list, np.ndarray)):
            if len(spec) != 2:
                raise ValueError(f"target {key!r}: a window is a pair (lo, hi), got {spec!r}")
            lo, hi = _num(spec[0], f"{key} lo"), _num(spec[1], f"{key} hi")
            if lo > hi:
                raise ValueError(f"target {key!r}: window ({lo}, {hi}) is inverted; give (lo, hi) with lo <= hi")
            if tol is not None:
                raise ValueError(f"target {key!r}: 'tol' applies to value targets; a window is its own tolerance")
            kind, ok_lo, ok_hi = "window", lo, hi
        else:
            v = _num(spec, key)
            lo = hi = v
            if tol is None:
                if v == 0:
                    raise ValueError(f"target {key!r}: value 0 needs an explicit tol "
                                     "(the default is 10 % of the value)")
                tol = 0.1 * abs(v)
            tol = _num(tol, f"{key} tol")
            if tol <= 0:
                raise ValueError(f"target {key!r}: tol must be > 0, got {tol}")
            kind, ok_lo, ok_hi = "value", v - tol, v + tol
        w = 1.0 if weight is None else _num(weight, f"{key} weight")
        if w < 0:
            raise ValueError(f"target {key!r}: weight must be >= 0, got {w}")
        if cell is None:
            cells = range(pathway.n_cells)
        else:
            try:
                c = int(cell)
            except (TypeError, ValueError):
                raise ValueError(f"target {key!r}: cell must be an integer, got {cell!r}") from None
            if not 0 <= c < pathway.n_cells:
                raise ValueError(f"target {key!r}: unknown cell {c}; {pathway.name} has cells "
                                 f"0..{pathway.n_cells - 1}")
            cells = [c]
        for c in cells:
            if (species, c) in terms:
                raise ValueError(f"target: {species}@{c} is targeted twice")
            terms[(species, c)] = TargetTerm(species, c, lo, hi, ok_lo, ok_hi, w, kind)
    return tuple(terms.values())


def target_to_json(terms) -> list[dict]:
    return [dict(species=t.species, cell=t.cell, lo=t.lo, hi=t.hi, ok_lo=t.ok_lo, ok_hi=t.ok_hi,
                 weight=t.weight, kind=t.kind) for t in terms]


def target_from_json(items) -> tuple[TargetTerm, ...]:
    return tuple(TargetTerm(d["species"], int(d["cell"]), d["lo"], d["hi"], d["ok_lo"], d["ok_hi"],
                            d["weight"], d["kind"]) for d in items)
