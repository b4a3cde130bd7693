"""numba threading-layer choice shared by every numba kernel of the project.

The ``omp`` layer is not fork-safe (the CLI, DataLoader workers and the tests fork), so
the layer defaults to ``tbb`` when it is installed and to ``workqueue`` otherwise.  An
explicit ``NUMBA_THREADING_LAYER`` environment variable, or a layer chosen already in
this process, always wins.  ``topometrics`` (which depends on ``encoders``) uses the
same function.
"""

from __future__ import annotations

import importlib
import os

import numba


def configure_threading_layer() -> None:
    """Pick ``tbb`` if importable, else ``workqueue``, unless the user chose a layer."""
    if os.environ.get("NUMBA_THREADING_LAYER") or numba.config.THREADING_LAYER != "default":
        return
    try:  # pragma: no cover - depends on the installation
        importlib.import_module("numba.np.ufunc.tbbpool")
        numba.config.THREADING_LAYER = "tbb"
    except Exception:  # ImportError or a missing libtbb shared object
        numba.config.THREADING_LAYER = "workqueue"
