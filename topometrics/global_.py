"""Global connectivity topometrics: weakly connected components, bridges, articulation points.

All four use ``U``, the underlying undirected simple graph (weak connectivity of
``G`` is connectivity of ``U``).  Components come from a breadth-first search;
bridges (cut-edges) and articulation points (cut-nodes) from one iterative
depth-first search with low-links (Hopcroft & Tarjan, "Efficient algorithms for
graph manipulation", CACM 1973).  Everything is O(N + E) and sequential.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .prepared import prepare

__all__ = ["components", "component_size", "cut_edges", "cut_nodes", "component_labels"]


@njit(cache=True)
def _component_labels(indptr, indices):
    n = indptr.size - 1
    label = np.full(n, -1, np.int64)
    queue = np.empty(n, np.int64)
    ncomp = 0
    for root in range(n):
        if label[root] >= 0:
            continue
        label[root] = ncomp
        head = 0
        tail = 1
        queue[0] = root
        while head < tail:
            v = queue[head]
            head += 1
            for p in range(indptr[v], indptr[v + 1]):
                u = indices[p]
                if label[u] < 0:
                    label[u] = ncomp
                    queue[tail] = u
                    tail += 1
        ncomp += 1
    return label, ncomp


@njit(cache=True)
def _bridges_articulation(indptr, indices):
    """(number of bridges, boolean articulation mask) of a simple undirected CSR."""
    n = indptr.size - 1
    disc = np.full(n, -1, np.int64)
    low = np.zeros(n, np.int64)
    parent = np.full(n, -1, np.int64)
    nxt = np.empty(n, np.int64)
    stack = np.empty(n, np.int64)
    art = np.zeros(n, np.bool_)
    bridges = 0
    time = 0
    for root in range(n):
        if disc[root] >= 0:
            continue
        disc[root] = time
        low[root] = time
        time += 1
        nxt[root] = indptr[root]
        top = 0
        stack[0] = root
        root_children = 0
        while top >= 0:
            v = stack[top]
            if nxt[v] < indptr[v + 1]:
                u = indices[nxt[v]]
                nxt[v] += 1
                if disc[u] < 0:
                    parent[u] = v
                    disc[u] = time
                    low[u] = time
                    time += 1
                    nxt[u] = indptr[u]
                    top += 1
                    stack[top] = u
                    if v == root:
                        root_children += 1
                elif u != parent[v]:
                    if disc[u] < low[v]:
                        low[v] = disc[u]
            else:
                top -= 1
                p = parent[v]
                if p >= 0:
                    if low[v] < low[p]:
                        low[p] = low[v]
                    if low[v] > disc[p]:
                        bridges += 1
                    if p != root and low[v] >= disc[p]:
                        art[p] = True
        if root_children >= 2:
            art[root] = True
    return bridges, art


def component_labels(graph) -> tuple[np.ndarray, int]:
    """``(labels, count)``: weakly connected component index of every node, and their number.

    ``labels[v]`` belongs to the graph's node ``v``; components are numbered in the
    order a search over U's priority order (:meth:`PreparedGraph.undirected_order`)
    meets them.
    """
    pg = prepare(graph)
    labels, count = u_component_labels(pg)
    return labels[pg.undirected_order()[1]], count


def u_component_labels(pg) -> tuple[np.ndarray, int]:
    """``(labels, count)`` indexed by U's node numbering (:meth:`PreparedGraph.undirected`)."""
    if "components" not in pg.cache:
        indptr, indices, _ = pg.undirected()
        labels, count = _component_labels(indptr, indices)
        pg.cache["components"] = (labels, int(count))
    return pg.cache["components"]


def _cuts(graph) -> tuple[int, int]:
    pg = prepare(graph)
    if "cuts" not in pg.cache:
        indptr, indices, _ = pg.undirected()
        bridges, art = _bridges_articulation(indptr, indices)
        pg.cache["cuts"] = (int(bridges), int(np.count_nonzero(art)))
    return pg.cache["cuts"]


def components(graph) -> int:
    """Number of weakly connected components of G (isolated nodes count as components).

    Complexity O(N + E) (breadth-first search on U).
    Reference: Cunegatti et al. 2024, section 3.3, item 11.
    """
    return u_component_labels(prepare(graph))[1]


def component_size(graph) -> float:
    """Mean size of the weakly connected components: N / components.

    NaN for a graph without nodes.  Complexity O(N + E).
    Reference: Cunegatti et al. 2024, section 3.3, item 12.
    """
    pg = prepare(graph)
    c = components(pg)
    return float("nan") if c == 0 else pg.num_nodes / c


def cut_edges(graph) -> int:
    """Number of bridges of U: edges whose removal increases the number of components.

    Complexity O(N + E) (iterative depth-first search with low-links).
    Reference: Cunegatti et al. 2024, section 3.3, item 13.
    """
    return _cuts(graph)[0]


def cut_nodes(graph) -> int:
    """Number of articulation points of U: nodes whose removal increases the number of components.

    Complexity O(N + E) (iterative depth-first search with low-links).
    Reference: Cunegatti et al. 2024, section 3.3, item 14.
    """
    return _cuts(graph)[1]
