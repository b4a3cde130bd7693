"""Atomic file writes and the output lock.

Every file the toolkit writes goes through :func:`atomic_write`: the content is written
to a unique temporary file in the destination's folder, flushed and ``fsync``-ed, then
moved over the destination with :func:`os.replace` (atomic on POSIX and Windows), so a
reader -- or a run interrupted at any instant -- sees either the old file or the new
one, never a partial one.  :func:`output_lock` keeps two processes from writing the same
output (a :mod:`filelock` lock file next to it).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import InputError, OutputLockedError

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_write_csv",
    "output_lock",
    "check_writable",
]


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, mode: str = "wb") -> Path:
    """Write ``path`` atomically: ``write(fh)`` fills a temporary file that then replaces ``path``.

    Parameters
    ----------
    path : path-like
        Destination; its folder is created when missing.
    write : callable
        Called once with the open temporary file object (opened with ``mode``).
    mode : {"wb", "w"}
        Binary or text (UTF-8, ``newline=""``) writing.

    Returns
    -------
    pathlib.Path
        The destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        kwargs = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    return atomic_write(path, lambda fh: fh.write(text), mode="w")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically write ``data`` to ``path``."""
    return atomic_write(path, lambda fh: fh.write(data), mode="wb")


def atomic_write_csv(path: str | os.PathLike, table: Any, **to_csv: Any) -> Path:
    """Atomically write a pandas DataFrame as CSV (``index=False`` unless given)."""
    to_csv.setdefault("index", False)
    return atomic_write(path, lambda fh: table.to_csv(fh, **to_csv), mode="w")


def check_writable(path: str | os.PathLike, *, what: str = "output", create: bool = True) -> Path:
    """Fail early (:class:`InputError`) when ``path`` cannot be written.

    With ``create=True`` (default) the missing parent folders are created, then a probe
    file is created and removed next to ``path``.  With ``create=False`` nothing is left
    behind: the probe goes into the nearest existing ancestor folder, which must be a
    folder (a path below a regular file is refused) -- what a command calls before its
    work so that a bad output path is reported at once and leaves no trace.  ``what``
    names the output in the message (``"output folder"``: ``path`` itself may be a folder).
    """
    path = Path(path)
    is_folder = what.endswith("folder")
    if path.is_dir() and not is_folder:
        raise InputError(f"{what} {path} is a directory; give a file name")
    if path.exists() and not path.is_dir() and is_folder:
        raise InputError(f"{what} {path} is a file, not a folder; give a folder (it is created when missing)")
    folder = path if (is_folder or path.is_dir()) else path.parent
    if not create:
        probe_dir = folder
        while not probe_dir.exists() and probe_dir != probe_dir.parent:
            probe_dir = probe_dir.parent
        if not probe_dir.is_dir():
            raise InputError(
                f"cannot write the {what} {path}: {probe_dir} is a file, not a folder; choose a path in a folder"
            )
        folder = probe_dir
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"cannot write the {what} {path} ({exc.strerror or exc}); choose a writable location") from None
    if path.exists() and not path.is_dir() and not os.access(path, os.W_OK):
        raise InputError(f"the {what} {path} is read-only; make it writable or choose another path")
    return path


@contextlib.contextmanager
def output_lock(target: str | os.PathLike, *, name: str | None = None) -> Iterator[Path]:
    """Hold an exclusive lock for writing ``target`` (a file or a folder).

    The lock file is ``<target>.lock`` for a file and ``<target>/.lock`` (or
    ``<target>/<name>``) for a folder; it is taken without waiting.  Raises
    :class:`~topocore.errors.OutputLockedError` naming the lock file when another
    process holds it.  The lock is released when the block exits or the process dies.
    """
    import filelock

    target = Path(target)
    if target.is_dir() or name is not None:
        target.mkdir(parents=True, exist_ok=True)
        lock_path = target / (name or ".lock")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock_path = target.with_name(target.name + ".lock")
    lock = filelock.FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise OutputLockedError(
            f"another process is writing {target} (lock file {lock_path}); wait for it to finish "
            "or use another output"
        ) from None
    try:
        yield lock_path
    finally:
        lock.release()
