"""Strength connectivity topometrics: k-core and node strength."""

from __future__ import annotations

import numpy as np
from numba import njit

from .prepared import prepare

__all__ = ["kcore", "strength", "core_numbers"]


@njit(cache=True)
def _core_numbers(indptr, indices):
    """Batagelj-Zaversnik O(N + E) bucket algorithm on a symmetric simple CSR."""
    n = indptr.size - 1
    deg = np.empty(n, np.int64)
    md = 0
    for v in range(n):
        deg[v] = indptr[v + 1] - indptr[v]
        if deg[v] > md:
            md = deg[v]
    bins = np.zeros(md + 1, np.int64)
    for v in range(n):
        bins[deg[v]] += 1
    start = 0
    for d in range(md + 1):
        num = bins[d]
        bins[d] = start
        start += num
    pos = np.empty(n, np.int64)
    vert = np.empty(n, np.int64)
    for v in range(n):
        pos[v] = bins[deg[v]]
        vert[pos[v]] = v
        bins[deg[v]] += 1
    for d in range(md, 0, -1):
        bins[d] = bins[d - 1]
    if md >= 0 and n > 0:
        bins[0] = 0
    for i in range(n):
        v = vert[i]
        for p in range(indptr[v], indptr[v + 1]):
            u = indices[p]
            if deg[u] > deg[v]:
                du = deg[u]
                pu = pos[u]
                pw = bins[du]
                w = vert[pw]
                if u != w:
                    pos[u] = pw
                    vert[pu] = w
                    pos[w] = pu
                    vert[pw] = u
                bins[du] += 1
                deg[u] = du - 1
    return deg


def core_numbers(graph) -> np.ndarray:
    """Core number of every node of U (int64 array of length N).

    The core number of v is the largest k such that v belongs to the k-core, the
    maximal subgraph of U in which every node has degree >= k.  Batagelj &
    Zaversnik, "An O(m) algorithm for cores decomposition of networks", 2003.
    """
    pg = prepare(graph)
    return _u_core_numbers(pg)[pg.undirected_order()[1]]


def _u_core_numbers(pg) -> np.ndarray:
    """Core numbers indexed by U's node numbering (:meth:`PreparedGraph.undirected`)."""
    if "core_numbers" not in pg.cache:
        indptr, indices, _ = pg.undirected()
        pg.cache["core_numbers"] = _core_numbers(indptr, indices)
    return pg.cache["core_numbers"]


def kcore(graph) -> float:
    """Mean core number over the nodes of U.

    Definition: the mean over all N nodes of the core number (largest k such that
    the node lies in the k-core of U, the underlying undirected simple graph).
    NaN for a graph without nodes.  Complexity O(N + E) (Batagelj-Zaversnik).
    Reference: Cunegatti et al. 2024, section 3.3, item 9.
    """
    pg = prepare(graph)
    if pg.num_nodes == 0:
        return float("nan")
    return float(_u_core_numbers(pg).mean())


def strength(graph) -> float:
    """Mean in-strength: the mean over nodes of the sum of ``|w|`` over incoming edges.

    Equals ``sum(|w|) / N`` over all directed edges.  NaN for a graph without
    nodes.  Complexity O(E).  Reference: Cunegatti et al. 2024, section 3.3, item 10.
    """
    pg = prepare(graph)
    if pg.num_nodes == 0:
        return float("nan")
    return _abs_sum(pg.graph.weight) / pg.num_nodes


@njit(cache=True)
def _abs_sum(w) -> float:
    """``sum |w|`` accumulated in float64, in one pass and without an O(E) temporary."""
    s = 0.0
    for x in w:
        s += abs(x)
    return s
