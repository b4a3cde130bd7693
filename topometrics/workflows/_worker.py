"""Worker-process hygiene shared by the workflows: hand freed heap memory back to the OS."""

from __future__ import annotations

__all__ = ["release_memory"]


def _find_malloc_trim():
    """glibc's ``malloc_trim`` (None on other C libraries and platforms: nothing to call there)."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl): freed heap memory stays with the process
        return None


_MALLOC_TRIM = _find_malloc_trim()


def release_memory() -> None:
    """Hand the freed heap of the last network back to the operating system.

    Pruning and graph metrics free gigabytes of small and medium allocations that glibc
    keeps in its arenas: measured, a worker's RSS stays 0.3-1.9 GB above its 0.54 GB
    baseline after each network without this, and returns to the baseline with it.
    That keeps a long job's footprint at its per-network peak and stops joblib's loky
    workers from being restarted by their memory-leak guard (300 MB growth).
    """
    import gc

    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
