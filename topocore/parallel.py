"""Processes and threads: the numba threading layer, ``n_jobs`` and ``n_threads``.

Conventions used by every public function and command of the toolkit:

* ``n_jobs`` is a number of **processes** (joblib/loky workers, dask workers);
* ``n_threads`` is a number of **kernel threads** inside one process (numba kernels of the
  encoder and the metrics); torch uses one thread in worker processes.

Both accept ``None`` (the default described by the function), ``-1`` (all cores) or a
positive integer.  The numba threading layer defaults to ``tbb`` when installed and to
``workqueue`` otherwise: the ``omp`` layer is not fork-safe, and the command line, data
loader workers and the tests fork.  An explicit ``NUMBA_THREADING_LAYER`` environment
variable, or a layer already chosen in the process, always wins.
"""

from __future__ import annotations

import contextlib
import importlib
import numbers
import os
from typing import Iterator

from .errors import InputError

__all__ = [
    "configure_threading_layer",
    "available_cores",
    "resolve_n_jobs",
    "resolve_n_threads",
    "num_threads",
    "single_threaded_blas",
    "limit_worker_threads",
]


def configure_threading_layer() -> None:
    """Pick numba's ``tbb`` layer if importable, else ``workqueue``, unless the user chose one."""
    import numba

    if os.environ.get("NUMBA_THREADING_LAYER") or numba.config.THREADING_LAYER != "default":
        return
    try:  # pragma: no cover - depends on the installation
        importlib.import_module("numba.np.ufunc.tbbpool")
        numba.config.THREADING_LAYER = "tbb"
    except ImportError:
        numba.config.THREADING_LAYER = "workqueue"
    except OSError:  # the tbb module exists but its libtbb shared object does not load
        numba.config.THREADING_LAYER = "workqueue"


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _check_count(name: str, value: object) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value == 0 or value < -1:
        raise InputError(f"{name} must be None, -1 (all cores) or a positive integer, got {value!r}")
    return int(value)


def resolve_n_jobs(n_jobs: int | None, *, default: int | None = None) -> int:
    """Number of worker **processes** for ``n_jobs`` (None: ``default`` or all cores; -1: all cores)."""
    cores = available_cores()
    if n_jobs is None:
        return max(1, default if default is not None else cores)
    n = _check_count("n_jobs", n_jobs)
    return cores if n == -1 else n


def resolve_n_threads(n_threads: int | None) -> int:
    """Number of numba **threads** for ``n_threads`` (None: numba's current setting; -1: all; k: min(k, all))."""
    import numba

    if n_threads is None:
        return numba.get_num_threads()
    n = _check_count("n_threads", n_threads)
    available = numba.config.NUMBA_NUM_THREADS
    return available if n == -1 else min(n, available)


@contextlib.contextmanager
def num_threads(n_threads: int | None) -> Iterator[int]:
    """Run the enclosed numba kernels with ``resolve_n_threads(n_threads)`` threads; yields that number."""
    import numba

    n = resolve_n_threads(n_threads)
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
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def limit_worker_threads(n_threads: int) -> None:
    """Configure a worker process: one torch thread and ``n_threads`` numba threads.

    Pruning and evaluation work on small batches, where a second torch thread only
    competes with the other workers (measured on 2 busy cores: SynFlow on ResNet-20 took
    2.4 s with one torch thread and 67 s with two).  torch is not imported here: a
    worker that only measures saved graphs never needs it (its import takes about 2 s);
    until a task imports it, ``OMP_NUM_THREADS=1`` in the worker's environment gives
    it one thread from the start.
    """
    import os
    import sys

    import numba

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    else:
        os.environ["OMP_NUM_THREADS"] = "1"
    configure_threading_layer()
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
