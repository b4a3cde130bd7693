"""numba configuration shared by the metric kernels.

* The threading layer (:func:`encoders._threading.configure_threading_layer`) defaults to ``tbb`` when installed and to ``workqueue``
  otherwise: the ``omp`` layer is not fork-safe, and the CLI and the tests fork.
  An explicit ``NUMBA_THREADING_LAYER`` environment variable always wins.
* :func:`num_threads` temporarily sets the number of numba threads for one call
  (``n_jobs`` in the public API).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numba

from encoders._threading import configure_threading_layer

__all__ = ["num_threads", "resolve_n_jobs", "single_threaded_blas"]

configure_threading_layer()


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Number of threads for ``n_jobs`` (None: numba's current setting; -1: all; k: min(k, all))."""
    available = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return numba.get_num_threads()
    if not isinstance(n_jobs, (int,)) or isinstance(n_jobs, bool) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be None, -1 or a positive integer, got {n_jobs!r}")
    if n_jobs == -1:
        return available
    return min(int(n_jobs), available)


@contextlib.contextmanager
def num_threads(n_jobs: int | None) -> Iterator[int]:
    """Run the enclosed numba kernels with ``resolve_n_jobs(n_jobs)`` threads; yields that number."""
    n = resolve_n_jobs(n_jobs)
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS/LAPACK to one thread for the enclosed block.

    Dense eigensolvers and ARPACK run between parallel numba kernels; a multi-threaded
    OpenBLAS then competes with numba's threads for the same cores, and on a loaded
    machine its spinning threads can make a subset eigensolve 10-20x slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
