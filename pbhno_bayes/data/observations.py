"""Sparse, noisy time-course observations of a signalling pathway.

:class:`Observations` is the single hand-off format between data files and the
inference code: a dense ``(T, C, S)`` float64 grid (time x cell x species) in which
``NaN`` marks a point that was not measured. Everything is validated once, at
construction, so downstream code (likelihoods, plots, reports) can rely on:

* ``times`` finite, ``>= 0`` and strictly increasing;
* ``cells`` distinct non-negative ints in increasing order, ``species`` distinct names;
* no infinite values (``NaN`` = missing is the only non-finite value allowed);
* ``sigma`` (if present) finite and ``> 0`` at every observed point, and ``NaN``
  wherever the value is missing (so equality and round trips are well defined).

The object is immutable (frozen dataclass over read-only arrays); use
:meth:`Observations.to_array` for a writable copy.

All problems are reported as :class:`ValueError` with a one-line message that names
the problem and, where it applies, the file, line and column.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .._io import atomic_path, atomic_write_text

if TYPE_CHECKING:  # xarray is imported lazily: it is slow to import and only needed for I/O
    import xarray as xr

__all__ = ["Observations", "PathwayLike"]

_REQUIRED_COLUMNS = ("time", "species", "value")
_OPTIONAL_COLUMNS = ("cell", "sigma")
# Spellings of "not measured" accepted in the value/sigma columns (compared lower-cased).
_MISSING_TOKENS = frozenset({"", "nan", "na"})
# How many offending rows/entries to quote in an error message before summarising.
_MAX_QUOTED = 5


@runtime_checkable
class PathwayLike(Protocol):
    """What :class:`Observations` needs to know about a pathway (duck-typed)."""

    species: tuple[str, ...]
    n_cells: int
    name: str


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------


def _as_float_array(x: Any, name: str) -> np.ndarray:
    """Convert ``x`` to a fresh float64 array, rejecting non-numeric input.

    ``np.asarray(..., dtype=float)`` would silently parse numeric strings and drop
    imaginary parts; both are almost certainly user errors here, so check the dtype.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged nested lists etc.
        raise ValueError(f"{name} must be a numeric array ({exc})") from None
    if arr.dtype.kind in "biuf":
        return np.array(arr, dtype=np.float64, copy=True)
    if arr.dtype.kind == "O":
        try:
            return np.array(arr, dtype=np.float64, copy=True)
        except (TypeError, ValueError):
            pass
    raise ValueError(f"{name} must be numeric (got array of dtype {arr.dtype})")


def _fmt_names(names: Iterable[Any]) -> str:
    return ", ".join(repr(n) for n in names)


def _pathway_label(pathway: Any) -> str:
    return repr(getattr(pathway, "name", "<unnamed>"))


def _check_pathway(pathway: Any) -> None:
    missing = [a for a in ("species", "n_cells", "name") if not hasattr(pathway, a)]
    if missing:
        raise ValueError(
            f"pathway object {type(pathway).__name__} lacks attribute(s) {', '.join(missing)}; "
            "expected an object with species, n_cells and name"
        )


def _normalize_species(species: Any) -> tuple[str, ...]:
    # A bare string is one species name, not a sequence of one-letter names.
    if isinstance(species, str):
        species = (species,)
    try:
        out = tuple(species)
    except TypeError:
        raise ValueError(f"species must be a sequence of names (got {species!r})") from None
    bad = [s for s in out if not isinstance(s, str | np.str_) or not str(s).strip()]
    if bad:
        raise ValueError(f"species names must be non-empty strings (got {_fmt_names(bad)})")
    out = tuple(str(s) for s in out)
    dups = sorted({s for s in out if out.count(s) > 1})
    if dups:
        raise ValueError(f"duplicate species name(s) {_fmt_names(dups)}; each species once")
    if not out:
        raise ValueError("species is empty; need at least one species")
    return out


def _normalize_cells(cells: Any) -> tuple[int, ...]:
    if isinstance(cells, int | np.integer) and not isinstance(cells, bool | np.bool_):
        cells = (cells,)
    try:
        raw = tuple(cells)
    except TypeError:
        raise ValueError(f"cells must be a sequence of integer indices (got {cells!r})") from None
    out = []
    for c in raw:
        # bools are ints in Python but never a meaningful cell index.
        if isinstance(c, bool | np.bool_) or not isinstance(c, int | np.integer):
            raise ValueError(f"cell indices must be integers (got {c!r}); use 0-based ints")
        if c < 0:
            raise ValueError(f"cell index {int(c)} is negative; cells are 0-based indices >= 0")
        out.append(int(c))
    dups = sorted({c for c in out if out.count(c) > 1})
    if dups:
        raise ValueError(f"duplicate cell index(es) {dups}; each cell once")
    if not out:
        raise ValueError("cells is empty; need at least one cell")
    return tuple(out)


def _validate_against_pathway(
    species: Sequence[str], cells: Sequence[int], pathway: Any, where: str = ""
) -> None:
    _check_pathway(pathway)
    known = tuple(pathway.species)
    unknown = [s for s in species if s not in known]
    if unknown:
        raise ValueError(
            f"{where}species {_fmt_names(unknown)} unknown to pathway {_pathway_label(pathway)}; "
            f"known species: {_fmt_names(known)}"
        )
    n_cells = int(pathway.n_cells)
    bad = [c for c in cells if not 0 <= c < n_cells]
    if bad:
        raise ValueError(
            f"{where}cell index(es) {bad} out of range for pathway {_pathway_label(pathway)} "
            f"with n_cells={n_cells}; valid 0-based cells are 0..{n_cells - 1}"
        )


def _first_bad(mask: np.ndarray, times, cells, species) -> str:
    """Describe the first True entry of a (T, C, S) mask as 'time=..., cell=..., species=...'."""
    t, c, s = np.argwhere(mask)[0]
    return f"time={float(times[t])!r}, cell={cells[c]}, species={species[s]!r}"


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


# --------------------------------------------------------------------------------------
# the container
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Observations:
    """Validated, immutable container of sparse noisy time-course data.

    Parameters
    ----------
    times : array_like, shape (T,)
        Observation times; finite, ``>= 0``, distinct. Sorted on construction (values
        and sigma are permuted with them).
    values : array_like, shape (T, C, S)
        Measured values; ``NaN`` marks a missing (unmeasured) point. Negative values
        are accepted (additive noise can produce them); ``inf`` is rejected.
    species : sequence of str, length S
        Species names, in the order of the last axis of ``values``.
    cells : sequence of int, length C
        0-based indices into the pathway's cells, in the order of axis 1 of
        ``values``. Sorted on construction.
    sigma : array_like, shape (T, C, S), optional
        Per-point noise standard deviation; finite and ``> 0`` wherever the value is
        observed. Stored as ``NaN`` wherever the value is missing. ``None`` means the
        noise level is not known from the data (the model must supply or infer it).
    pathway_name : str, optional
        Name of the pathway the data refer to (informational, kept through I/O).

    Notes
    -----
    Prefer the constructors :meth:`from_arrays`, :meth:`from_csv`,
    :meth:`from_dataset` and :meth:`from_netcdf`, which accept more input shapes and
    can check species/cells against a pathway. Direct construction requires the 3-D
    layout and full-shape ``sigma``.

    Two ``Observations`` compare equal when all fields are equal, with ``NaN`` equal
    to ``NaN`` (so a NaN pattern is part of the data).
    """

    times: np.ndarray
    values: np.ndarray
    species: tuple[str, ...]
    cells: tuple[int, ...]
    sigma: np.ndarray | None = None
    pathway_name: str | None = None

    # ---------------------------------------------------------------- validation

    def __post_init__(self) -> None:
        # Frozen dataclass: normalised fields are stored with object.__setattr__.
        put = lambda name, val: object.__setattr__(self, name, val)

        times = _as_float_array(self.times, "times")
        if times.ndim != 1:
            raise ValueError(f"times must be 1-D of shape (T,), got shape {times.shape}")
        if times.size == 0:
            raise ValueError("times is empty; need at least one time point")
        if np.isnan(times).any():
            raise ValueError(
                f"times contain NaN at position(s) {np.flatnonzero(np.isnan(times)).tolist()[:_MAX_QUOTED]}; every time must be a finite number"
            )
        if np.isinf(times).any():
            raise ValueError(
                f"times contain inf at position(s) {np.flatnonzero(np.isinf(times)).tolist()[:_MAX_QUOTED]}; every time must be a finite number"
            )
        if (times < 0).any():
            raise ValueError(
                f"negative time(s) {times[times < 0].tolist()[:_MAX_QUOTED]}; times must be >= 0"
            )

        species = _normalize_species(self.species)
        cells = _normalize_cells(self.cells)

        values = _as_float_array(self.values, "values")
        expected = (times.size, len(cells), len(species))
        if values.shape != expected:
            raise ValueError(
                f"values has shape {values.shape} but (T, C, S) = {expected} from "
                f"{times.size} times, {len(cells)} cells, {len(species)} species"
            )

        sigma = None
        if self.sigma is not None:
            sigma = _as_float_array(self.sigma, "sigma")
            if sigma.shape != expected:
                raise ValueError(
                    f"sigma has shape {sigma.shape} but values have shape {expected}; pass sigma with the same (T, C, S) shape (from_arrays also broadcasts)"
                )

        # Sort times (stable, so duplicates are adjacent and detectable) and cells.
        order = np.argsort(times, kind="stable")
        times = times[order]
        dup = times[1:] == times[:-1]
        if dup.any():
            raise ValueError(
                f"duplicate time(s) {np.unique(times[1:][dup]).tolist()[:_MAX_QUOTED]}; times must be distinct (merge or drop the repeated time points)"
            )
        cell_order = np.argsort(np.asarray(cells), kind="stable")
        cells = tuple(cells[i] for i in cell_order)
        values = values[order][:, cell_order, :]
        if sigma is not None:
            sigma = sigma[order][:, cell_order, :]

        if np.isinf(values).any():
            bad = np.isinf(values)
            raise ValueError(
                f"values contain {int(bad.sum())} infinite entr{'y' if bad.sum() == 1 else 'ies'} "
                f"(first at {_first_bad(bad, times, cells, species)}); use NaN for missing points"
            )

        observed = ~np.isnan(values)
        if sigma is not None:
            bad = observed & ~(np.isfinite(sigma) & (sigma > 0))
            if bad.any():
                t, c, s = np.argwhere(bad)[0]
                raise ValueError(
                    f"sigma must be finite and > 0 at every observed point; {int(bad.sum())} "
                    f"bad entr{'y' if bad.sum() == 1 else 'ies'} (first: sigma={float(sigma[t, c, s])!r} at "
                    f"{_first_bad(bad, times, cells, species)})"
                )
            # Canonical form: no noise level where there is no measurement.
            sigma[~observed] = np.nan

        if self.pathway_name is not None and not isinstance(self.pathway_name, str):
            raise ValueError(f"pathway_name must be a str or None (got {self.pathway_name!r})")

        put("times", _readonly(times))
        put("values", _readonly(values))
        put("species", species)
        put("cells", cells)
        put("sigma", None if sigma is None else _readonly(sigma))

    # ---------------------------------------------------------------- constructors

    @classmethod
    def from_arrays(
        cls,
        times: Any,
        values: Any,
        species: Sequence[str] | str,
        sigma: Any = None,
        cells: Sequence[int] | None = None,
        *,
        pathway: PathwayLike | None = None,
    ) -> Observations:
        """Build from in-memory arrays.

        Parameters
        ----------
        times : array_like, shape (T,)
            Observation times; finite, ``>= 0``, distinct; unsorted input is sorted
            (values and sigma are permuted with it).
        values : array_like, shape (T, S) or (T, C, S)
            Values, ``NaN`` = missing. A 2-D array is a single cell (``cells``
            defaults to ``(0,)``).
        species : sequence of str, length S
            Species names (a bare string is one species).
        sigma : None, float, array_like of shape (S,), or broadcastable to (T, C, S)
            Per-point noise sd. With 2-D ``values`` a ``(T, S)`` sigma is also
            accepted. Only entries at observed points are checked (finite, > 0).
        cells : sequence of int, length C, optional
            0-based cell indices; default ``range(C)``. Sorted with ``values``.
        pathway : PathwayLike, optional
            If given, species must be in ``pathway.species`` and cells in
            ``range(pathway.n_cells)``; ``pathway_name`` is taken from it.

        Returns
        -------
        Observations

        Raises
        ------
        ValueError
            On any shape, value or pathway mismatch.
        """
        species_t = _normalize_species(species)
        times_a = _as_float_array(times, "times")
        values_a = _as_float_array(values, "values")
        single_cell = values_a.ndim == 2
        if single_cell:
            values_a = values_a[:, None, :]
        elif values_a.ndim != 3:
            raise ValueError(
                f"values must have shape (T, S) or (T, C, S), got {values_a.ndim}-D shape {values_a.shape}"
            )
        n_cells = values_a.shape[1]
        cells_t = tuple(range(n_cells)) if cells is None else _normalize_cells(cells)
        if len(cells_t) != n_cells:
            raise ValueError(
                f"got {len(cells_t)} cell indices {list(cells_t)} but values have {n_cells} cell(s) "
                f"(shape {values.shape if hasattr(values, 'shape') else values_a.shape})"
            )
        if times_a.ndim != 1 or values_a.shape[0] != times_a.size:
            raise ValueError(
                f"times has shape {times_a.shape} but values have {values_a.shape[0]} time rows; "
                "times must be 1-D with one entry per row of values"
            )
        if values_a.shape[2] != len(species_t):
            raise ValueError(
                f"values have {values_a.shape[2]} species column(s) but {len(species_t)} species "
                f"names were given ({_fmt_names(species_t)})"
            )

        sigma_a = None
        if sigma is not None:
            sigma_a = _as_float_array(sigma, "sigma")
            if single_cell and sigma_a.ndim == 2:
                sigma_a = sigma_a[:, None, :]
            try:
                sigma_a = np.array(np.broadcast_to(sigma_a, values_a.shape), dtype=np.float64)
            except ValueError:
                raise ValueError(
                    f"sigma of shape {sigma_a.shape} cannot be broadcast to values shape "
                    f"{values_a.shape}; pass a scalar, a per-species (S,) vector or a (T, C, S) array"
                ) from None

        if pathway is not None:
            _validate_against_pathway(species_t, cells_t, pathway)
        return cls(
            times=times_a,
            values=values_a,
            species=species_t,
            cells=cells_t,
            sigma=sigma_a,
            pathway_name=None if pathway is None else str(pathway.name),
        )

    @classmethod
    def from_csv(
        cls, path: str | os.PathLike[str], pathway: PathwayLike | None = None
    ) -> Observations:
        """Read a tidy (long-format) CSV file.

        Columns (any order, header names case-insensitive): ``time``, ``species``,
        ``value`` (required); ``cell`` (0-based int, default 0) and ``sigma``
        (optional). One row per measured point. A ``value`` of ``""``, ``nan`` or
        ``NA`` marks the point as missing. The result is the dense grid over the
        distinct times (sorted), the distinct cells (sorted) and the species (in
        ``pathway.species`` order if ``pathway`` is given, else in order of first
        appearance); grid points never mentioned in the file are missing (NaN).

        Parameters
        ----------
        path : str or os.PathLike
            CSV file (UTF-8, optional BOM).
        pathway : PathwayLike, optional
            If given, species/cells are checked against it and ``pathway_name`` is set.

        Returns
        -------
        Observations

        Raises
        ------
        ValueError
            For a missing/empty/header-only file, missing or unknown columns,
            non-numeric or non-finite entries, negative times, duplicate
            ``(time, cell, species)`` rows, ``sigma <= 0`` at an observed point, or
            species/cells unknown to ``pathway`` -- naming file, line and column.
        """
        p = Path(path)
        if pathway is not None:
            _check_pathway(pathway)
        if not p.exists():
            raise ValueError(f"observation file {str(p)!r} does not exist")
        if not p.is_file():
            raise ValueError(f"observation path {str(p)!r} is not a regular file")
        try:
            # utf-8-sig: spreadsheet exports often start with a byte-order mark.
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the CSV as UTF-8"
            ) from None
        if not text.strip():
            raise ValueError(
                f"{p}: file is empty; expected a header 'time,species,value[,cell][,sigma]' and data rows"
            )

        reader = csv.reader(io.StringIO(text))
        header: list[str] | None = None
        rows: list[tuple[int, list[str]]] = []
        end = 0  # line on which the previous record ended: a record starts on the next one
        try:
            for row in reader:
                start, end = end + 1, reader.line_num
                if any("\n" in f or "\r" in f for f in row):
                    # only a quote left open makes a field span lines; the record swallows the rest
                    raise ValueError(f"{p}: line {start}: a quoted field is not closed (the quote runs "
                                     f"to line {end}); remove the stray '\"'")
                if not row or all(not f.strip() for f in row):
                    continue  # blank lines carry no data
                if header is None:
                    header = [h.strip().lower() for h in row]
                else:
                    rows.append((start, row))
        except csv.Error as exc:
            raise ValueError(f"{p}: line {reader.line_num}: malformed CSV ({exc})") from None
        assert header is not None  # the file is not blank

        col = cls._parse_header(p, header)
        if not rows:
            raise ValueError(f"{p}: has a header but no data rows")

        times: list[float] = []
        cells: list[int] = []
        names: list[str] = []
        vals: list[float] = []
        sigs: list[float] = []
        lines: list[int] = []
        for line, row in rows:
            if len(row) != len(header):
                raise ValueError(
                    f"{p}: line {line}: has {len(row)} field(s) but the header has {len(header)}"
                )
            f = {name: row[i].strip() for name, i in col.items()}

            t = cls._parse_float(p, line, "time", f["time"])
            if math.isnan(t):
                raise ValueError(
                    f"{p}: line {line}: time is NaN in column 'time'; every row needs a finite time"
                )
            if math.isinf(t):
                raise ValueError(
                    f"{p}: line {line}: time is infinite ({f['time']!r}) in column 'time'; every row needs a finite time"
                )
            if t < 0:
                raise ValueError(
                    f"{p}: line {line}: negative time {t!r} in column 'time'; times must be >= 0"
                )

            if "cell" in col:
                raw = f["cell"]
                try:
                    c = int(raw)
                except ValueError:
                    raise ValueError(
                        f"{p}: line {line}: non-integer cell {raw!r} in column 'cell'; cells are 0-based integer indices"
                    ) from None
                if c < 0:
                    raise ValueError(
                        f"{p}: line {line}: negative cell {c} in column 'cell'; cells are 0-based indices >= 0"
                    )
            else:
                c = 0

            sp = f["species"]
            if not sp:
                raise ValueError(f"{p}: line {line}: empty species name in column 'species'")

            v_raw = f["value"]
            v = (
                math.nan
                if v_raw.lower() in _MISSING_TOKENS
                else cls._parse_float(p, line, "value", v_raw)
            )
            if math.isinf(v):
                raise ValueError(
                    f"{p}: line {line}: infinite value {v_raw!r} in column 'value'; use an empty field or 'nan' for a missing point"
                )

            s = math.nan
            if "sigma" in col:
                s_raw = f["sigma"]
                s = (
                    math.nan
                    if s_raw.lower() in _MISSING_TOKENS
                    else cls._parse_float(p, line, "sigma", s_raw)
                )
                if not math.isnan(v) and not (math.isfinite(s) and s > 0):
                    what = "missing" if math.isnan(s) else repr(s)
                    raise ValueError(
                        f"{p}: line {line}: sigma {what} in column 'sigma' at an observed point; sigma must be finite and > 0"
                    )

            times.append(t)
            cells.append(c)
            names.append(sp)
            vals.append(v)
            sigs.append(s)
            lines.append(line)

        # Duplicate points: report the line pairs so the user can find them.
        first_line: dict[tuple[float, int, str], int] = {}
        dups: list[str] = []
        for t, c, sp, line in zip(times, cells, names, lines, strict=True):
            key = (t, c, sp)
            if key in first_line:
                dups.append(
                    f"lines {first_line[key]} and {line} (time={t!r}, cell={c}, species={sp!r})"
                )
            else:
                first_line[key] = line
        if dups:
            more = f" and {len(dups) - _MAX_QUOTED} more" if len(dups) > _MAX_QUOTED else ""
            raise ValueError(
                f"{p}: duplicate (time, cell, species) rows: {'; '.join(dups[:_MAX_QUOTED])}{more}; keep one row per point"
            )

        # Grid axes.
        present = list(dict.fromkeys(names))  # first-appearance order
        if pathway is not None:
            known = tuple(pathway.species)
            unknown = [sp for sp in present if sp not in known]
            if unknown:
                line = lines[names.index(unknown[0])]
                raise ValueError(
                    f"{p}: line {line}: species {_fmt_names(unknown)} unknown to pathway "
                    f"{_pathway_label(pathway)}; known species: {_fmt_names(known)}"
                )
            n_cells = int(pathway.n_cells)
            bad = [i for i, c in enumerate(cells) if c >= n_cells]
            if bad:
                raise ValueError(
                    f"{p}: line {lines[bad[0]]}: cell {cells[bad[0]]} out of range for pathway "
                    f"{_pathway_label(pathway)} with n_cells={n_cells}; valid 0-based cells are 0..{n_cells - 1}"
                )
            species_axis = tuple(sp for sp in known if sp in set(present))
        else:
            species_axis = tuple(present)
        time_axis = np.unique(np.asarray(times, dtype=np.float64))
        cell_axis = tuple(sorted(set(cells)))

        shape = (time_axis.size, len(cell_axis), len(species_axis))
        values = np.full(shape, np.nan)
        sigma = np.full(shape, np.nan) if "sigma" in col else None
        ti = np.searchsorted(time_axis, np.asarray(times, dtype=np.float64))
        cpos = {c: i for i, c in enumerate(cell_axis)}
        spos = {sp: i for i, sp in enumerate(species_axis)}
        ci = np.array([cpos[c] for c in cells], dtype=np.intp)
        si = np.array([spos[sp] for sp in names], dtype=np.intp)
        values[ti, ci, si] = vals
        if sigma is not None:
            sigma[ti, ci, si] = sigs

        return cls(
            times=time_axis,
            values=values,
            species=species_axis,
            cells=cell_axis,
            sigma=sigma,
            pathway_name=None if pathway is None else str(pathway.name),
        )

    @staticmethod
    def _parse_header(p: Path, header: list[str]) -> dict[str, int]:
        """Map column name -> position, checking required/unknown/duplicate columns."""
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise ValueError(
                f"{p}: duplicate column(s) {_fmt_names(dup)} in header; each column once"
            )
        if "" in header:
            raise ValueError(
                f"{p}: empty column name at position {header.index('') + 1} of the header "
                "(trailing comma?); allowed columns: time, species, value, cell, sigma"
            )
        allowed = set(_REQUIRED_COLUMNS) | set(_OPTIONAL_COLUMNS)
        extra = [h for h in header if h not in allowed]
        if extra:
            raise ValueError(
                f"{p}: unknown column(s) {_fmt_names(extra)}; allowed columns: time, species, value, "
                "cell, sigma (remove or rename the extra columns)"
            )
        missing = [c for c in _REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(
                f"{p}: missing required column(s) {_fmt_names(missing)}; header is "
                f"{','.join(header)!r}, required: time, species, value"
            )
        return {h: i for i, h in enumerate(header)}

    @staticmethod
    def _parse_float(p: Path, line: int, column: str, raw: str) -> float:
        try:
            # "_" would be accepted by float() ("1_0" == 10.0) but is never intended in data.
            if "_" in raw:
                raise ValueError
            return float(raw)
        except ValueError:
            raise ValueError(
                f"{p}: line {line}: non-numeric {column} {raw!r} in column {column!r}; expected a number"
            ) from None

    # ---------------------------------------------------------------- properties

    @property
    def mask(self) -> np.ndarray:
        """(T, C, S) bool array, True where a value was observed (not NaN)."""
        return ~np.isnan(self.values)

    @property
    def n_observed(self) -> int:
        """Number of observed (non-NaN) entries of the (T, C, S) grid."""
        return int(np.count_nonzero(~np.isnan(self.values)))

    @property
    def n_missing(self) -> int:
        """Number of missing (NaN) entries of the (T, C, S) grid."""
        return int(np.count_nonzero(np.isnan(self.values)))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(T, C, S)."""
        return self.values.shape  # type: ignore[return-value]

    @property
    def n_times(self) -> int:
        return int(self.times.size)

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def n_species(self) -> int:
        return len(self.species)

    # ---------------------------------------------------------------- conversions

    def to_array(self) -> np.ndarray:
        """Return a writable (T, C, S) float64 copy of the values, NaN = missing."""
        return np.array(self.values, dtype=np.float64, copy=True)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write a tidy CSV (``time,cell,species,value[,sigma]``) atomically.

        One row per observed point, ordered by (time, cell, species). Numbers are
        written with ``repr`` (shortest exact round-trip form), so
        ``Observations.from_csv(path)`` reproduces this object exactly.

        To make that round trip exact also for the grid, a few rows with an empty
        ``value`` (missing) are added: the full species list at the first time and
        first cell (which fixes the species order), plus one row for any time or
        cell that has no observed point at all.

        Parameters
        ----------
        path : str or os.PathLike
            Destination; parent directories are created.

        Returns
        -------
        pathlib.Path
        """
        observed = self.mask
        keep = observed.copy()
        keep[0, 0, :] = True
        for t in np.flatnonzero(~observed.any(axis=(1, 2))):
            keep[t, 0, 0] = True
        for c in np.flatnonzero(~observed.any(axis=(0, 2))):
            keep[0, c, 0] = True

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        header = ["time", "cell", "species", "value"] + (
            ["sigma"] if self.sigma is not None else []
        )
        writer.writerow(header)
        fmt = lambda x: "" if math.isnan(x) else repr(float(x))
        for t, c, s in np.argwhere(keep):  # row-major order == sorted by (time, cell, species)
            row = [
                repr(float(self.times[t])),
                self.cells[c],
                self.species[s],
                fmt(self.values[t, c, s]),
            ]
            if self.sigma is not None:
                row.append(fmt(self.sigma[t, c, s]))
            writer.writerow(row)
        return atomic_write_text(path, buf.getvalue())

    def to_dataset(self) -> xr.Dataset:
        """Convert to an :class:`xarray.Dataset`.

        Returns
        -------
        xarray.Dataset
            Data variable ``value`` (and ``sigma`` if present) with dims
            ``(time, cell, species)`` and matching coordinates; attribute
            ``pathway_name`` when known.
        """
        import xarray as xr

        dims = ("time", "cell", "species")
        data_vars = {"value": (dims, self.to_array())}
        if self.sigma is not None:
            data_vars["sigma"] = (dims, np.array(self.sigma, copy=True))
        attrs: dict[str, str] = {"pbhno_bayes_kind": "Observations"}
        if self.pathway_name is not None:
            attrs["pathway_name"] = self.pathway_name
        return xr.Dataset(
            data_vars,
            coords={
                "time": np.array(self.times, copy=True),
                "cell": np.asarray(self.cells, dtype=np.int64),
                "species": np.asarray(self.species, dtype=str),
            },
            attrs=attrs,
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Observations:
        """Build from a Dataset as produced by :meth:`to_dataset`.

        Parameters
        ----------
        ds : xarray.Dataset
            Needs data variable ``value`` with dims ``time`` and ``species`` and
            optionally ``cell`` (missing ``cell`` dim means a single cell 0);
            optional ``sigma`` with the same dims; optional attr ``pathway_name``.

        Returns
        -------
        Observations
        """
        if "value" not in ds.data_vars:
            raise ValueError(
                f"dataset has no data variable 'value' (has {_fmt_names(ds.data_vars)})"
            )
        value = ds["value"]
        if "cell" not in value.dims:
            value = value.expand_dims(cell=[0])
        dims = ("time", "cell", "species")
        if set(value.dims) != set(dims):
            raise ValueError(f"dataset variable 'value' has dims {value.dims}; expected {dims}")
        value = value.transpose(*dims)
        sigma = None
        if "sigma" in ds.data_vars:
            sigma_da = ds["sigma"]
            if "cell" not in sigma_da.dims:
                sigma_da = sigma_da.expand_dims(cell=[0])
            if set(sigma_da.dims) != set(dims):
                raise ValueError(
                    f"dataset variable 'sigma' has dims {sigma_da.dims}; expected {dims}"
                )
            sigma = sigma_da.transpose(*dims).values
        cells_raw = (
            np.asarray(value["cell"].values)
            if "cell" in value.coords
            else np.arange(value.sizes["cell"])
        )
        if cells_raw.dtype.kind not in "iu":
            raise ValueError(
                f"dataset coordinate 'cell' must be integer (got dtype {cells_raw.dtype})"
            )
        times = value["time"].values if "time" in value.coords else None
        if times is None or "species" not in value.coords:
            raise ValueError("dataset needs coordinates 'time' and 'species'")
        name = ds.attrs.get("pathway_name")
        return cls(
            times=times,
            values=value.values,
            species=tuple(str(s) for s in value["species"].values),
            cells=tuple(int(c) for c in cells_raw),
            sigma=sigma,
            pathway_name=None if name is None else str(name),
        )

    def to_netcdf(self, path: str | os.PathLike[str]) -> Path:
        """Write to NetCDF4 (engine ``h5netcdf``) atomically.

        Parameters
        ----------
        path : str or os.PathLike
            Destination; parent directories are created.

        Returns
        -------
        pathlib.Path
        """
        dest = Path(path)
        with atomic_path(dest) as tmp:
            self.to_dataset().to_netcdf(tmp, engine="h5netcdf")
        return dest

    @classmethod
    def from_netcdf(cls, path: str | os.PathLike[str]) -> Observations:
        """Read a file written by :meth:`to_netcdf`.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        Observations
        """
        import xarray as xr

        p = Path(path)
        if not p.is_file():
            raise ValueError(
                f"observation file {str(p)!r} does not exist"
                if not p.exists()
                else f"observation path {str(p)!r} is not a regular file"
            )
        try:
            with xr.open_dataset(p, engine="h5netcdf") as ds:
                ds.load()  # read everything before the file handle closes
                return cls.from_dataset(ds)
        except (OSError, TypeError) as exc:  # h5py raises OSError on non-HDF5 files
            raise ValueError(
                f"{p}: cannot read as NetCDF4/HDF5 ({type(exc).__name__}: {exc})".replace("\n", " ")
            ) from None

    # ---------------------------------------------------------------- selection

    def select(
        self,
        species: str | Sequence[str] | None = None,
        cells: int | Sequence[int] | None = None,
    ) -> Observations:
        """Return a subset by species names and/or cell indices.

        Parameters
        ----------
        species : str or sequence of str, optional
            Species to keep, in the order given (default: all).
        cells : int or sequence of int, optional
            Cell indices (the values in ``self.cells``, not positions) to keep
            (default: all). The result's cells are sorted.

        Returns
        -------
        Observations
            Times are kept as is, even if a time ends up fully missing.
        """
        s_idx = list(range(self.n_species))
        if species is not None:
            wanted = _normalize_species(species)
            unknown = [s for s in wanted if s not in self.species]
            if unknown:
                raise ValueError(
                    f"cannot select species {_fmt_names(unknown)}; available: {_fmt_names(self.species)}"
                )
            s_idx = [self.species.index(s) for s in wanted]
        c_idx = list(range(self.n_cells))
        if cells is not None:
            wanted_c = _normalize_cells(cells)
            unknown_c = [c for c in wanted_c if c not in self.cells]
            if unknown_c:
                raise ValueError(
                    f"cannot select cell(s) {unknown_c}; available: {list(self.cells)}"
                )
            c_idx = [self.cells.index(c) for c in wanted_c]
        pick = lambda a: np.array(a[:, c_idx][:, :, s_idx], copy=True)
        return type(self)(
            times=np.array(self.times, copy=True),
            values=pick(self.values),
            species=tuple(self.species[i] for i in s_idx),
            cells=tuple(self.cells[i] for i in c_idx),
            sigma=None if self.sigma is None else pick(self.sigma),
            pathway_name=self.pathway_name,
        )

    # ---------------------------------------------------------------- dunder

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Observations):
            return NotImplemented
        if (self.sigma is None) != (other.sigma is None):
            return False
        return (
            self.species == other.species
            and self.cells == other.cells
            and self.pathway_name == other.pathway_name
            and np.array_equal(self.times, other.times)
            and np.array_equal(self.values, other.values, equal_nan=True)
            and (self.sigma is None or np.array_equal(self.sigma, other.sigma, equal_nan=True))
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays; equality is by value

    def __repr__(self) -> str:
        t = self.times
        span = f"[{t[0]:g}, {t[-1]:g}]"
        sig = "none" if self.sigma is None else "per-point"
        pw = "" if self.pathway_name is None else f"pathway={self.pathway_name!r}, "
        return (
            f"Observations({pw}T={t.size} times in {span}, cells={self.cells}, "
            f"species={self.species}, n_observed={self.n_observed}, n_missing={self.n_missing}, sigma={sig})"
        )
