"""Cost model of the metrics: predicted work of the exact counts, and memory of the whole pipeline.

Work (:func:`exact_work`)
-------------------------
``motif4`` and ``n2`` are the two metrics whose exact cost grows with the squares of
the degrees; every other metric is O(N + E) or a few dozen sparse products.

* ``motif4``: the 4-cycle pass walks the 2-paths of U centred in the cheaper parity
  class of partitions (:meth:`PreparedGraph.undirected_order`): about
  ``sum over that class of C(d_v, 2)`` steps, ``d`` = in- plus out-degree;
* ``n2``: ``E + sum_v indeg(v) outdeg(v)`` steps (every directed 2-path once).

Both are computed from the degrees in O(N).  :data:`MAX_EXACT_WORK` (1e12 steps,
roughly 10 to 30 minutes on two cores at the measured 1-3 ns per step) is the rule of
:func:`topometrics.compute` with ``exact="auto"``: above it the exact count *cannot
finish* in reasonable time and the metric is estimated from a node sample, which the
output reports (``<metric>_method = "estimate"``, ``<metric>_stderr``).

Memory (:func:`memory_estimate`)
--------------------------------
Bytes at the peak of each step, for ``N`` nodes, ``E`` edges, ``b`` bytes per node id
(4 below 2^31 nodes) and ``k`` kernel threads:

==================  ===============================================================
step                peak bytes
==================  ===============================================================
encode              ``E (2b + 8)`` edge arrays + ``48 N`` bookkeeping
G metrics           graph + out- and in-CSR ``2 (E b + 8 N)`` + ``k N b`` scratch
U metrics           graph + U ``2 E (b + 4) + 8 N`` + the largest scratch below
motif4              ``k N (2 b + 24)`` (structured path; the general path adds
                    ``4 k E`` triangle counters)
n2                  ``k N b``
spectral            the Lanczos basis ``m * 8 N`` (``m`` = 100 vectors, fewer when
                    they exceed 512 MB, never fewer than ARPACK's 32) + ``(k + 4) 8 N``
                    + the product's 2 partial sums and row starts ``3 * 8 N``
kcore, cuts         ``6 * 8 N``
==================  ===============================================================

plus :data:`BASELINE_BYTES` for the interpreter, torch and the loaded numba kernels
(a numba compilation, on a cold cache, comes on top).  Measured: ResNet-18 at
224x224, uniform 0.9 (257M edges) peaked at 9.15 GB, 38 bytes per edge; the test
suite checks ResNet-20 at 0.6 against the estimate within 10%.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

__all__ = ["MAX_EXACT_WORK", "BASELINE_BYTES", "exact_work", "memory_estimate", "available_memory",
           "lanczos_basis_vectors", "LANCZOS_MAX_BASIS", "LANCZOS_BASIS_BYTES", "ARPACK_NCV",
           "U_METRICS", "G_METRICS"]

#: Predicted steps above which ``exact="auto"`` estimates ``motif4`` / ``n2`` instead.
MAX_EXACT_WORK = 1e12
#: Interpreter, numpy, torch and the compiled numba kernels.
BASELINE_BYTES = 800 * 2**20

#: Metrics that need U (the undirected CSR); the others need only G's CSRs or the edge arrays.
U_METRICS = ("motif4", "motif3", "kcore", "components", "component_size", "cut_edges", "cut_nodes", "spectral_gap",
             "spectral_radius")
G_METRICS = ("sink", "source", "disconnected", "r_out", "r_in", "n1", "n2", "strength", "log_paths",
             "effective_sparsity", "effective_nodes")


def exact_work(pg, name: str) -> float:
    """Predicted steps of the exact kernel of ``name`` (``"motif4"`` or ``"n2"``) on a PreparedGraph."""
    indeg, outdeg = pg.degrees()
    if name == "n2":
        return float(pg.num_edges) + float(np.dot(indeg.astype(np.float64), outdeg.astype(np.float64)))
    if name == "motif4":
        d = (indeg + outdeg).astype(np.float64)
        pairs = d * (d - 1) / 2
        off = pg.partition_offsets
        sizes = np.diff(off)
        of_node = np.repeat(np.arange(sizes.size) % 2, sizes)
        by_class = np.bincount(of_node, weights=pairs, minlength=2)
        return float(by_class.min())
    raise ValueError(f"no work model for {name!r}; known: motif4, n2")


#: Most Lanczos vectors the spectral metrics keep before ARPACK's restarted method takes over.
LANCZOS_MAX_BASIS = 100
#: Memory for those vectors; a large graph keeps fewer of them, never fewer than :data:`ARPACK_NCV`.
LANCZOS_BASIS_BYTES = 512 * 2**20
#: ARPACK's basis size for the top-2 problem.
ARPACK_NCV = 32


def lanczos_basis_vectors(num_nodes: int) -> int:
    """Lanczos vectors of ``num_nodes`` doubles kept by :mod:`topometrics.expansion` (see the constants above)."""
    return max(ARPACK_NCV, min(LANCZOS_MAX_BASIS, LANCZOS_BASIS_BYTES // (8 * max(int(num_nodes), 1))))


def memory_estimate(num_nodes: int, num_edges: int, metrics: Iterable[str] | None = None, *,
                    n_threads: int = 2) -> dict[str, int]:
    """Peak bytes of encoding and of each metric step (module docstring), baseline included.

    Returns ``{"encode": bytes, "<metric>": bytes, ..., "peak": max of them}``; the value
    of a metric is the process's peak while it runs (the graph and the CSR structures it
    needs included).
    """
    from .registry import DEFAULT_METRICS

    n, e, k = int(num_nodes), int(num_edges), max(1, int(n_threads))
    b = 4 if n <= 2**31 - 1 else 8
    graph = e * (2 * b + 8)
    out: dict[str, int] = {"encode": BASELINE_BYTES + graph + 48 * n}
    g_csr = 2 * (e * b + 8 * n)
    u_csr = 2 * e * (b + 4) + 8 * n
    lanczos_basis = lanczos_basis_vectors(n) * 8 * n
    scratch = {
        "motif4": k * n * (2 * b + 24),
        "n2": k * n * b,
        "spectral_gap": lanczos_basis + (k + 4) * 8 * n + 3 * 8 * n,
        "spectral_radius": lanczos_basis + (k + 4) * 8 * n + 3 * 8 * n,
        "kcore": 48 * n,
        "cut_edges": 48 * n,
        "cut_nodes": 48 * n,
        "components": 16 * n,
        "component_size": 16 * n,
    }
    names = list(DEFAULT_METRICS) if metrics is None else list(metrics)
    for name in names:
        if name in U_METRICS:
            out[name] = BASELINE_BYTES + graph + u_csr + scratch.get(name, 8 * n)
        else:
            out[name] = BASELINE_BYTES + graph + g_csr + scratch.get(name, 8 * n)
    out["peak"] = max(out.values())
    return out


def available_memory() -> int:
    """Bytes the process can still allocate: ``MemAvailable`` of ``/proc/meminfo`` (psutil elsewhere)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil is a dependency of the toolchain
        return math.inf  # type: ignore[return-value]
