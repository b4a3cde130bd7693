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

__all__ = ["num_threads", "resolve_n_threads", "single_threaded_blas", "first_compilation", "announce_compilation"]

configure_threading_layer()


#: Modules whose numba kernels dominate the first, compiling run (``cache=True`` stores them once).
KERNEL_MODULES = ("encoders._kernels", "topometrics._graphlet_kernels", "topometrics.paths")


def first_compilation() -> bool:
    """Whether numba's on-disk cache lacks the main kernels, so that the first call compiles them.

    Looks for numba's cache index files (``<module>.<function>-<line>.py<ver>.nbi``) in
    ``NUMBA_CACHE_DIR`` when set, else in each kernel module's ``__pycache__`` folder.
    The commands print one line then: the first network otherwise sits at 0 % for a
    minute or two with no sign of work.
    """
    import importlib.util
    import os
    from pathlib import Path

    custom = os.environ.get("NUMBA_CACHE_DIR")
    for name in KERNEL_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        source = Path(spec.origin)
        folders = [Path(custom)] if custom else [source.parent / "__pycache__"]
        if not any(any(f.glob(f"**/{source.stem}.*.nbi")) for f in folders if f.is_dir()):
            return True
    return False


def announce_compilation(command: str) -> bool:
    """Print one line on stderr when the numba kernels are about to be compiled (see :func:`first_compilation`)."""
    import sys

    if not sys.stderr.isatty() or not first_compilation():  # a notice for people watching; logs and pipes keep one-line errors
        return False
    print(f"topometrics {command}: compiling the numba kernels once (1-2 minutes on 2 cores; they are cached for "
          "later runs)", file=sys.stderr)
    return True
