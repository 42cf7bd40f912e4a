"""Atomic file-writing helpers shared by the package.

Every artefact the package writes (CSV data, NetCDF posteriors, surrogate weights,
reports) goes through these helpers so that a crash, a full disk or an exception in
the middle of serialisation never leaves a truncated file where a good one used to be:
the payload is written to a temporary file in the *same directory* (so the final
``os.replace`` is a same-filesystem rename, which POSIX guarantees to be atomic),
flushed to disk with ``fsync``, and only then renamed onto the destination.

Temporary files are named ``.<name>.tmp-<random><suffix>``: hidden, matched by the
repository's ``*.tmp-*`` ignore rule, and ending in the destination's suffix so that
writers which infer the format from the extension (e.g. ``.nc``) behave the same as
they would on the real path.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "check_out_path", "read_inference_data"]

# Upper bound on attempts to find a free temporary name; with 48 random bits a
# collision is essentially impossible, the loop only guards against pathological cases.
_MAX_TMP_ATTEMPTS = 100


def _reserve_tmp(path: Path) -> Path:
    """Create (exclusively) and return an empty temporary file next to ``path``.

    ``O_EXCL`` makes the reservation race-free against concurrent writers, and mode
    ``0o666`` lets the process umask decide the permissions, exactly as a plain
    ``open(path, "w")`` would (``tempfile.mkstemp`` would force ``0o600``).
    """
    suffix = path.suffix
    for _ in range(_MAX_TMP_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}{suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise OSError(f"could not create a temporary file next to {str(path)!r}")


def _fsync_file(path: Path) -> None:
    """Flush ``path``'s data to stable storage (the writer may not have done so)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; best effort, not supported on every platform."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path that replaces ``path`` atomically on success.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination. Parent directories are created if needed. An existing file
        is only replaced once the body of the ``with`` block has completed.

    Yields
    ------
    pathlib.Path
        An (already created, empty) temporary file in the same directory as ``path``,
        with the same suffix. Write the full payload to it inside the ``with`` block;
        the writer may truncate or re-create it.

    Notes
    -----
    On normal exit the temporary file is fsync'ed and ``os.replace``'d onto ``path``.
    If the block raises (including ``KeyboardInterrupt``), the temporary file is
    deleted, ``path`` keeps its previous content, and the exception propagates.

    Examples
    --------
    >>> with atomic_path("out/posterior.nc") as tmp:  # doctest: +SKIP
    ...     dataset.to_netcdf(tmp, engine="h5netcdf")
    """
    dest = Path(path)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = _reserve_tmp(dest)
    except OSError as e:
        raise _naming(e, dest) from None
    try:
        yield tmp
        _fsync_file(tmp)
        try:
            os.replace(tmp, dest)
        except OSError as e:
            raise _naming(e, dest) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(dest.parent)


def _naming(e: OSError, dest: Path) -> OSError:
    """The same error, naming the destination the caller asked for (not our temporary file)."""
    if e.errno is None:
        return e
    return type(e)(e.errno, f"cannot write {str(dest)!r}: {e.strerror}")


def check_out_path(path: str | os.PathLike[str], *, what: str = "--out", directory: bool = False) -> Path:
    """Refuse an output path that cannot be written, *before* any work is done.

    A file destination must not be an existing directory; a directory destination must not be an
    existing file; and the nearest existing directory on the way must accept a new file (checked by
    creating and removing one, which is what the atomic writers will do). Raises ``ValueError``
    with a one-line message naming ``what``; returns the path.
    """
    dest = Path(path)
    if directory:
        if dest.exists() and not dest.is_dir():
            raise ValueError(f"{what} {str(dest)!r} is an existing file; give a directory")
        probe = dest
    else:
        if dest.is_dir() or str(path).endswith(("/", os.sep)):
            raise ValueError(f"{what} {str(dest)!r} is a directory; give a file name")
        probe = dest.parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{what} {str(dest)!r}: {str(probe)!r} is a file, not a directory")
    try:
        os.unlink(_reserve_tmp(probe / (dest.name or "out")))
    except OSError as e:
        raise ValueError(f"{what} {str(dest)!r}: cannot create a file in {str(probe)!r} "
                         f"({e.strerror or type(e).__name__})") from None
    return dest


def read_inference_data(path: str | os.PathLike[str], *, what: str = "posterior"):
    """``arviz.from_netcdf`` with one-line errors: a missing file, a directory, or a file that is
    not an InferenceData NetCDF (e.g. a CSV given by mistake)."""
    import arviz as az

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} file {str(p)!r} not found")
    if p.is_dir():
        raise ValueError(f"{what} {str(p)!r} is a directory, not an InferenceData NetCDF")
    try:
        return az.from_netcdf(str(p))
    except Exception as e:  # noqa: BLE001 - any reader failure means the file is not what we need
        raise ValueError(f"cannot read {str(p)!r} as an InferenceData NetCDF ({type(e).__name__})") from None


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically write ``data`` to ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; parent directories are created if needed.
    data : bytes
        Full file content.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    dest = Path(path)
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
    return dest


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Atomically write ``text`` to ``path``.

    The text is written verbatim (``newline=""``): no platform newline translation, so
    the bytes on disk are exactly ``text.encode(encoding)``.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; parent directories are created if needed.
    text : str
        Full file content.
    encoding : str, default "utf-8"
        Text encoding.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    dest = Path(path)
    with atomic_path(dest) as tmp, open(tmp, "w", encoding=encoding, newline="") as fh:
        fh.write(text)
    return dest
