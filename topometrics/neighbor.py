"""Neighbour connectivity topometrics: 1-hop and 2-hop neighbourhoods, size-4 motifs.

``n1`` and ``n2`` use the directed MGE ``G``; ``motif4`` and the graphlet counts use
``U``, the underlying undirected simple graph, since a 4-node subset induces a
weakly connected subgraph of ``G`` exactly when it induces a connected subgraph
of ``U``.

Exact motif counting
--------------------
``motif4`` counts the 4-node subsets whose induced subgraph is connected, i.e. the
sum over the six connected graphlets on 4 nodes (3-star S, path P, tailed triangle
TT, 4-cycle C, diamond D, clique K) of their *induced* counts.  It is computed
combinatorially, never by enumerating subsets (Pržulj 2007; Ahmed et al., "Efficient
graphlet counting for large networks", ICDM 2015; Hočevar & Demšar, "A
combinatorial approach to graphlet counting", Bioinformatics 2014):

1. *non-induced* counts (number of subgraphs isomorphic to the graphlet):
   ``nS = sum_v C(d_v, 3)``, ``nP = sum_{uv in E} (d_u - 1)(d_v - 1) - 3T``,
   ``nTT = sum_v t_v (d_v - 2)``, ``nD = sum_{e in E} C(t_e, 2)``,
   ``nC`` = number of 4-cycles, ``nK`` = number of 4-cliques, where ``t_e`` and
   ``t_v`` are the triangles on an edge / at a node and ``T`` the triangle total;
2. induced counts by inverting the (upper-triangular) inclusion matrix:
   ``iK = nK``, ``iD = nD - 6 iK``, ``iC = nC - iD - 3 iK``,
   ``iTT = nTT - 4 iD - 12 iK``, ``iP = nP - 2 iTT - 4 iC - 6 iD - 12 iK``,
   ``iS = nS - iTT - 2 iD - 4 iK``;
3. ``motif4 = nS + nP - 2 nTT - 3 nC + 4 nD - 6 nK`` (the sum of the induced counts).

Triangles, 4-cycles and 4-cliques come from one pass over the wedges of ``U`` with
the nodes ordered by degree (each 4-cycle is charged to its highest-ranked node and
the node opposite to it; Chiba & Nishizeki, SIAM J. Comput. 1985; Wang et al.,
"Vertex priority based butterfly counting", VLDB 2019).  The order is by
``floor(log2(degree))`` and then by node id: within a factor 2 of the degree order
(which keeps the wedge bound up to a constant) while keeping the locality of the
encoder's node ids.  The pass is parallel over nodes, with per-thread triangle
counters so that no two threads write the same memory.
Residual (shortcut) edges make triangles, so every class is needed.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ._numba import num_threads
from .prepared import prepare

__all__ = ["n1", "n2", "motif4", "motif4_estimate", "graphlet4_counts", "MotifEstimate"]


# ---------------------------------------------------------------------------- n1 / n2
def n1(graph) -> float:
    """Mean number of 1-hop out-neighbours.

    Definition: the mean over all N nodes of the number of distinct nodes reachable
    by one directed edge (the node itself not counted); E / N on a simple graph.
    NaN for a graph without nodes.  Complexity O(N + E).
    Reference: Cunegatti et al. 2024, section 3.3, item 6.
    """
    pg = prepare(graph)
    if pg.num_nodes == 0:
        return float("nan")
    indptr, _ = pg.out_csr()
    return float(indptr[-1]) / pg.num_nodes


@njit(parallel=True, cache=True)
def _n2_total(indptr, indices, nchunks):
    n = indptr.size - 1
    totals = np.zeros(nchunks, np.int64)
    for c in prange(nchunks):
        mark = np.full(n, -1, indices.dtype)
        s = 0
        for v in range(c, n, nchunks):
            mark[v] = v
            for p in range(indptr[v], indptr[v + 1]):
                u = indices[p]
                s += mark[u] != v
                mark[u] = v
            for p in range(indptr[v], indptr[v + 1]):
                u = indices[p]
                for q in range(indptr[u], indptr[u + 1]):
                    w = indices[q]
                    s += mark[w] != v  # branch-free: most visits hit an already marked node
                    mark[w] = v
        totals[c] = s
    return totals


def n2(graph) -> float:
    """Mean number of nodes within directed distance 2.

    Definition: the mean over all N nodes of the number of distinct nodes at
    directed distance 1 or 2 (the node itself not counted).  Exact.  NaN for a
    graph without nodes.  Complexity O(sum_u indeg(u) outdeg(u)), parallel over nodes.
    Reference: Cunegatti et al. 2024, section 3.3, item 7.
    """
    pg = prepare(graph)
    if pg.num_nodes == 0:
        return float("nan")
    indptr, indices = pg.out_csr()
    with num_threads(pg.n_threads) as k:
        total = int(_n2_total(indptr, indices, k).sum())
    return total / pg.num_nodes


# ------------------------------------------------------------------------- motif4
@njit(parallel=True, cache=True)
def _relabel_by_degree(indptr, indices, order, rank, new_indptr, new_indices, split):
    """Rows of U renumbered by degree rank, sorted; split[r] = end of the lower part of row r."""
    n = indptr.size - 1
    for r in prange(n):
        old = order[r]
        a = indptr[old]
        b = indptr[old + 1]
        c = new_indptr[r]
        seg = np.empty(b - a, indices.dtype)
        for j in range(b - a):
            seg[j] = rank[indices[a + j]]
        seg.sort()
        k = 0
        for j in range(b - a):
            new_indices[c + j] = seg[j]
            if seg[j] < r:
                k += 1
        split[r] = c + k


_FLAG = np.int32(-(2**31))
_COUNT = np.int32(2**31 - 1)


@njit(cache=True)
def _find(indices, lo, hi, x):
    """Position of ``x`` in the sorted slice ``indices[lo:hi]`` (binary search; x must be present)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if indices[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(parallel=True, cache=True)
def _wedge_pass(indptr, indices, split, lptr, deg, nchunks, tcount):
    """Per-chunk 4-cycle, tailed-triangle and 4-clique counts; per-chunk triangle counts per edge.

    For every node v (rows renumbered so that "lower" means lower rank) and every
    wedge v - u - w with u, w lower than v, ``cnt[w]`` counts the wedges ending in w;
    adding the running count at each increment sums ``C(count, 2)`` over w, the
    number of 4-cycles whose highest-ranked node is v (w is opposite to v).  The
    sign bit of ``cnt`` flags the lower neighbours of v, so a wedge closing on a
    flagged node is a triangle, and the inner loop makes one random access.
    """
    n = indptr.size - 1
    c4_out = np.zeros(nchunks, np.int64)
    tt_out = np.zeros(nchunks, np.int64)
    k4_out = np.zeros(nchunks, np.int64)
    for c in prange(nchunks):
        cnt = np.zeros(n, np.int32)
        touched = np.empty(n, indices.dtype)
        stamp = np.full(n, -1, np.int64)
        common = np.empty(n, indices.dtype)
        tc = tcount[c]
        c4 = 0
        tt = 0
        k4 = 0
        for v in range(c, n, nchunks):
            a = indptr[v]
            s = split[v]
            base_v = lptr[v] - a
            for p in range(a, s):
                cnt[indices[p]] = _FLAG
            nt = 0
            for p in range(a, s):
                u = indices[p]
                au = indptr[u]
                ns = 0
                for q in range(au, indptr[u + 1]):
                    w = indices[q]
                    if w >= v:
                        break
                    k = cnt[w]
                    cnt[w] = k + 1
                    if k > 0:  # the common case first: a repeated, unflagged endpoint
                        c4 += k
                    elif k == 0:
                        touched[nt] = w
                        nt += 1
                    else:  # flagged: w is a lower neighbour of v
                        c4 += k & _COUNT
                        if w >= u:
                            continue
                        # triangle w < u < v
                        m = _find(indices, a, s, w)
                        tc[base_v + p] += 1
                        tc[base_v + m] += 1
                        tc[lptr[u] - au + q] += 1
                        tt += deg[v] + deg[u] + deg[w] - 6
                        common[ns] = w
                        ns += 1
                        stamp[w] = p
                for i in range(ns):  # 4-cliques y < x < u < v
                    x = common[i]
                    for r in range(indptr[x], split[x]):
                        if stamp[indices[r]] == p:
                            k4 += 1
            for i in range(nt):
                cnt[touched[i]] = 0
            for p in range(a, s):
                cnt[indices[p]] = 0
        c4_out[c] = c4
        tt_out[c] = tt
        k4_out[c] = k4
    return c4_out, tt_out, k4_out


@njit(parallel=True, cache=True)
def _triangle_edge_sums(tcount):
    """(sum_e t_e, sum_e C(t_e, 2)) over the per-chunk triangle counters."""
    nchunks, m = tcount.shape
    nblocks = 64
    s1 = np.zeros(nblocks, np.int64)
    s2 = np.zeros(nblocks, np.int64)
    for b in prange(nblocks):
        lo = m * b // nblocks
        hi = m * (b + 1) // nblocks
        a1 = 0
        a2 = 0
        for e in range(lo, hi):
            t = 0
            for c in range(nchunks):
                t += tcount[c, e]
            a1 += t
            a2 += t * (t - 1) // 2
        s1[b] = a1
        s2[b] = a2
    return s1.sum(), s2.sum()


@njit(cache=True)
def _star_path_terms(indptr, indices, deg):
    """(sum_v C(d_v, 3), sum_{uv in E} (d_u - 1)(d_v - 1)) on the symmetric CSR."""
    n = indptr.size - 1
    stars = 0
    q = 0
    for v in range(n):
        d = deg[v]
        stars += d * (d - 1) * (d - 2) // 6
        for p in range(indptr[v], indptr[v + 1]):
            u = indices[p]
            if u < v:
                q += (d - 1) * (deg[u] - 1)
    return stars, q


def _noninduced_counts(graph) -> dict[str, int]:
    pg = prepare(graph)
    if "graphlet4_noninduced" in pg.cache:
        return pg.cache["graphlet4_noninduced"]
    indptr, indices, _ = pg.undirected()
    n = pg.num_nodes
    deg = np.diff(indptr)
    stars, q = _star_path_terms(indptr, indices, deg)
    if n >= 2**31 - 2:
        raise NotImplementedError("motif4 supports graphs with fewer than 2^31 - 2 nodes")
    # renumber nodes by (floor(log2(degree)), id): an approximate degree order (within a
    # factor 2, which keeps the wedge bound) that preserves the locality of node ids
    bucket = np.floor(np.log2(np.maximum(deg, 1))).astype(np.int64)
    order = np.lexsort((np.arange(n), bucket)).astype(indices.dtype, copy=False)
    del bucket
    rank = np.empty(n, dtype=indices.dtype)
    rank[order] = np.arange(n, dtype=indices.dtype)
    new_deg = deg[order]
    new_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(new_deg, out=new_indptr[1:])
    new_indices = np.empty_like(indices)
    split = np.empty(n, dtype=np.int64)
    with num_threads(pg.n_threads) as k:
        _relabel_by_degree(indptr, indices, order, rank, new_indptr, new_indices, split)
        del order, rank
        lower = split - new_indptr[:-1]
        lptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lower, out=lptr[1:])
        tcount = np.zeros((k, int(lptr[-1])), dtype=np.int32)
        c4, tt, k4 = _wedge_pass(new_indptr, new_indices, split, lptr, new_deg, k, tcount)
        del new_indices
        sum_t, diamonds = _triangle_edge_sums(tcount)
    del tcount
    triangles = int(sum_t) // 3
    counts = {
        "triangles": triangles,
        "star": int(stars),
        "path": int(q) - 3 * triangles,
        "tailed_triangle": int(tt.sum()),
        "cycle": int(c4.sum()),
        "diamond": int(diamonds),
        "clique": int(k4.sum()),
    }
    pg.cache["graphlet4_noninduced"] = counts
    return counts


def graphlet4_counts(graph, *, induced: bool = True) -> dict[str, int]:
    """Counts of the six connected 4-node graphlets of U.

    Parameters
    ----------
    graph : MultipartiteGraph, BipartiteGraph or PreparedGraph
    induced : bool
        True: number of 4-node subsets whose induced subgraph is the graphlet.
        False: number of (not necessarily induced) subgraphs isomorphic to it.

    Returns
    -------
    dict with keys ``star``, ``path``, ``tailed_triangle``, ``cycle``, ``diamond``,
    ``clique`` (and ``triangles``, the number of triangles of U).

    See the module docstring for the formulas.  Complexity: one parallel wedge pass
    (see :func:`motif4`).
    """
    nc = dict(_noninduced_counts(graph))
    if not induced:
        return nc
    ik = nc["clique"]
    idia = nc["diamond"] - 6 * ik
    icyc = nc["cycle"] - idia - 3 * ik
    itt = nc["tailed_triangle"] - 4 * idia - 12 * ik
    ipath = nc["path"] - 2 * itt - 4 * icyc - 6 * idia - 12 * ik
    istar = nc["star"] - itt - 2 * idia - 4 * ik
    return {
        "triangles": nc["triangles"],
        "star": istar,
        "path": ipath,
        "tailed_triangle": itt,
        "cycle": icyc,
        "diamond": idia,
        "clique": ik,
    }


def motif4(graph) -> int:
    """Number of size-4 motifs: 4-node subsets whose induced subgraph is weakly connected.

    This is the total over all size-4 motif classes that RAND-ESU / FANMOD and
    igraph's ``motifs_randesu`` count (igraph: ``motifs_randesu_no(size=4)``).
    Exact, computed by combinatorial graphlet counting on U (module docstring),
    never by enumerating subsets: one parallel pass over the wedges of U with nodes
    ordered by degree, O(sum over nodes v of the wedges u-w below v) time and
    O(N + E) memory (plus one int32 counter per edge and thread).
    Reference: Cunegatti et al. 2024, section 3.3, item 8; Wernicke & Rasche 2006.
    """
    nc = _noninduced_counts(graph)
    return int(
        nc["star"] + nc["path"] - 2 * nc["tailed_triangle"] - 3 * nc["cycle"] + 4 * nc["diamond"] - 6 * nc["clique"]
    )


# -------------------------------------------------------------- motif4 estimate
class MotifEstimate(NamedTuple):
    """Sampled estimate of :func:`motif4`.

    Attributes
    ----------
    estimate : float
        Estimated number of connected 4-node subsets.
    stderr : float
        Standard error of the estimate (finite-population corrected; 0 when every
        node is sampled, NaN with a single sampled node).
    sample : int
        Number of sampled nodes.
    """

    estimate: float
    stderr: float
    sample: int


@njit(parallel=True, cache=True)
def _vertex_terms(indptr, indices, deg, samples, nchunks, out):
    """4 x f(x) for every sampled node x (see motif4_estimate), as exact integers."""
    n = indptr.size - 1
    for c in prange(nchunks):
        mark = np.full(n, -1, np.int64)
        stamp = np.full(n, -1, np.int64)
        cnt = np.zeros(n, np.int64)
        touched = np.empty(n, indices.dtype)
        upper = np.empty(n, indices.dtype)
        for i in range(c, samples.size, nchunks):
            x = samples[i]
            a = indptr[x]
            b = indptr[x + 1]
            for p in range(a, b):
                mark[indices[p]] = x
            tri2 = 0
            dia = 0
            nt = 0
            for p in range(a, b):
                y = indices[p]
                txy = 0
                for q in range(indptr[y], indptr[y + 1]):
                    w = indices[q]
                    if w == x:
                        continue
                    if mark[w] == x:
                        txy += 1
                    if cnt[w] == 0:
                        touched[nt] = w
                        nt += 1
                    cnt[w] += 1
                tri2 += txy
                dia += txy * (txy - 1) // 2
            cyc = 0
            for j in range(nt):
                w = touched[j]
                k = cnt[w]
                cyc += k * (k - 1) // 2
                cnt[w] = 0
            tx = tri2 // 2
            kx = 0
            if tx > 0:
                for p in range(a, b):  # triangles y < z < t inside N(x)
                    y = indices[p]
                    nl = 0
                    for q in range(indptr[y], indptr[y + 1]):
                        z = indices[q]
                        if z > y and mark[z] == x:
                            upper[nl] = z
                            nl += 1
                            stamp[z] = p
                    for j in range(nl):
                        z = upper[j]
                        for r in range(indptr[z], indptr[z + 1]):
                            t = indices[r]
                            if t > z and stamp[t] == p:
                                kx += 1
            d = deg[x]
            out[i] = -4 * tx - 8 * tx * (d - 2) - 3 * cyc + 8 * dia - 6 * kx


def motif4_estimate(graph, sample: int | float = 0.001, random_state: int | None = 0) -> MotifEstimate:
    """Estimate :func:`motif4` from a uniform sample of nodes, with its standard error.

    For parity with the official code, which calls igraph's
    ``motifs_randesu_estimate(size=4, sample=int(0.001 * N))``.  The estimator
    differs from igraph's RAND-ESU extrapolation but targets the same total:
    ``motif4 = nS + nP - 2 nTT - 3 nC + 4 nD - 6 nK`` (module docstring).  The star and
    path terms ``nS + nP + 3T = sum_v C(d_v, 3) + sum_uv (d_u - 1)(d_v - 1)`` are
    computed exactly from degrees in O(N + E); every other term is a sum over nodes
    ``x`` of a local quantity ``f(x) = -t_x - 2 t_x (d_x - 2) - (3/4) sum_w C(codeg(x, w), 2)
    + 2 sum_{y in N(x)} C(t_xy, 2) - (3/2) K(x)`` (``K(x)``: 4-cliques at x), which is
    estimated by ``N`` times its sample mean (sampling without replacement).  The
    estimate is unbiased, exact when every node is sampled, and costs
    O(sum over sampled x of (d_x^2 + t_x d_x)).

    Parameters
    ----------
    graph : MultipartiteGraph, BipartiteGraph or PreparedGraph
    sample : int or float
        Number of nodes to sample (int >= 1), or a fraction of N in (0, 1]
        (default 0.001, the official 0.1%; at least one node).
    random_state : int or None
        Seed of the node sample.

    Returns
    -------
    MotifEstimate
        ``(estimate, stderr, sample)``.
    """
    pg = prepare(graph)
    n = pg.num_nodes
    if isinstance(sample, bool) or not isinstance(sample, (int, float, np.integer, np.floating)):
        raise TypeError(f"sample must be a node count (int) or a fraction in (0, 1], got {sample!r}")
    if isinstance(sample, (float, np.floating)):
        if not 0.0 < sample <= 1.0:
            raise ValueError(f"a fractional sample must lie in (0, 1], got {sample}")
        size = max(1, int(sample * n))
    else:
        if sample < 1:
            raise ValueError(f"sample must be at least 1 node, got {sample}")
        size = int(sample)
    if n == 0:
        return MotifEstimate(0.0, 0.0, 0)
    size = min(size, n)
    indptr, indices, _ = pg.undirected()
    deg = np.diff(indptr)
    stars, q = _star_path_terms(indptr, indices, deg)
    rng = np.random.default_rng(random_state)
    nodes = np.sort(rng.choice(n, size=size, replace=False)).astype(indices.dtype)
    terms = np.empty(size, dtype=np.int64)
    with num_threads(pg.n_threads) as k:
        _vertex_terms(indptr, indices, deg, nodes, k, terms)
    exact_part = int(stars) + int(q)
    if size == n:
        total = exact_part + int(terms.sum()) // 4
        return MotifEstimate(float(total), 0.0, size)
    mean = float(terms.mean()) / 4.0
    estimate = exact_part + n * mean
    if size > 1:
        sd = float(terms.std(ddof=1)) / 4.0
        stderr = n * sd / math.sqrt(size) * math.sqrt(1.0 - size / n)
    else:
        stderr = float("nan")
    return MotifEstimate(float(estimate), float(stderr), size)
