"""numba set-up shared by the metric kernels (see :mod:`topocore.parallel`).

Importing this module picks the numba threading layer
(:func:`topocore.parallel.configure_threading_layer`: ``tbb`` when installed, else
``workqueue``, never the fork-unsafe ``omp``; an explicit ``NUMBA_THREADING_LAYER``
wins) before any metric kernel runs, and re-exports the thread helpers the kernels
use: :func:`~topocore.parallel.num_threads` sets the number of numba threads for one
call (``n_threads`` in the public API), :func:`~topocore.parallel.resolve_n_threads`
validates ``n_threads``, :func:`~topocore.parallel.single_threaded_blas` keeps BLAS
from competing with numba's threads.
"""

from __future__ import annotations

from topocore.parallel import configure_threading_layer, num_threads, resolve_n_threads, single_threaded_blas

__all__ = ["num_threads", "resolve_n_threads", "single_threaded_blas"]

configure_threading_layer()
