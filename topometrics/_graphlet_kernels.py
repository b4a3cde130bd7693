"""numba kernels of the 4-node graphlet counts (see :mod:`topometrics.neighbor` for the formulas).

All kernels read U as the symmetric CSR of :meth:`PreparedGraph.undirected` (rows sorted,
nodes in priority order) and run in parallel over interleaved row chunks, one chunk per
thread, with per-chunk scratch arrays so that no two threads write the same memory.

* :func:`four_cycles`: 4-cycles, each charged to its highest-numbered node ``v`` and the
  node ``w`` opposite to it (Chiba & Nishizeki 1985; Wang et al., VLDB 2019);
* :func:`triangle_terms`: triangle sums of a *multipartite* U (no edge inside a
  partition): every triangle has nodes in three partitions and its edge between the
  lowest and the highest partition spans at least two, so triangles pass through the
  few residual skips ("long" edges) and the per-edge triangle counts come from the
  long-edge lists alone;
* :func:`flagged_wedge_pass` and :func:`triangle_edge_sums`: the general path for any
  graph (triangles found inside the 4-cycle pass, one triangle counter per edge and chunk).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .prepared import first_at_least

_FLAG = np.int32(-(2**31))
_COUNT = np.int32(2**31 - 1)


@njit(parallel=True, cache=True)
def star_path_terms(indptr, indices, nblocks):
    """``(sum_v C(d_v, 3), sum_{uv in E} (d_u - 1)(d_v - 1))`` on the symmetric CSR."""
    n = indptr.size - 1
    stars = np.zeros(nblocks, np.int64)
    paths = np.zeros(nblocks, np.int64)
    for b in prange(nblocks):
        s = 0
        q = 0
        for v in range(b, n, nblocks):
            d = indptr[v + 1] - indptr[v]
            s += d * (d - 1) * (d - 2) // 6
            for p in range(indptr[v], indptr[v + 1]):
                u = indices[p]
                if u < v:
                    q += (d - 1) * (indptr[u + 1] - indptr[u] - 1)
        stars[b] = s
        paths[b] = q
    return stars.sum(), paths.sum()


@njit(parallel=True, cache=True)
def four_cycles(indptr, indices, nchunks):
    """Number of 4-cycles of U.

    For every node ``v`` and every 2-path ``v - u - w`` with ``u, w < v``, ``cnt[w]``
    counts the 2-paths ending in ``w``; adding the running count at each increment sums
    ``C(count, 2)`` over ``w``: the 4-cycles whose highest-numbered node is ``v`` (``w``
    is opposite to ``v``).  Rows are sorted, so the walk along ``N(u)`` stops at the
    first node ``>= v``.  Work: the 2-paths whose middle node is not their highest.
    """
    n = indptr.size - 1
    out = np.zeros(nchunks, np.int64)
    for c in prange(nchunks):
        cnt = np.zeros(n, np.int32)
        touched = np.empty(n, indices.dtype)
        c4 = 0
        for v in range(c, n, nchunks):
            nt = 0
            for p in range(indptr[v], indptr[v + 1]):
                u = indices[p]
                if u >= v:
                    break
                for q in range(indptr[u], indptr[u + 1]):
                    w = indices[q]
                    if w >= v:
                        break
                    k = cnt[w]
                    if k == 0:
                        touched[nt] = w
                        nt += 1
                    c4 += k
                    cnt[w] = k + 1
            for i in range(nt):
                cnt[touched[i]] = 0
        out[c] = c4
    return out.sum()


@njit(parallel=True, cache=True)
def crosses_partitions(indptr, indices, part, nblocks):
    """True when no edge of U joins two nodes of the same partition."""
    n = indptr.size - 1
    bad = np.zeros(nblocks, np.int64)
    for b in prange(nblocks):
        k = 0
        for v in range(b, n, nblocks):
            pv = part[v]
            for p in range(indptr[v], indptr[v + 1]):
                if part[indices[p]] == pv:
                    k += 1
        bad[b] = k
    return bad.sum() == 0


@njit(cache=True)
def long_lists(indptr, indices, part):
    """CSR ``(lptr, lidx)`` of every node's *long* neighbours: ``|part[w] - part[v]| >= 2``."""
    n = indptr.size - 1
    lptr = np.zeros(n + 1, np.int64)
    for v in range(n):
        pv = part[v]
        k = 0
        for p in range(indptr[v], indptr[v + 1]):
            d = part[indices[p]] - pv
            if d >= 2 or d <= -2:
                k += 1
        lptr[v + 1] = lptr[v] + k
    lidx = np.empty(lptr[n], indices.dtype)
    for v in range(n):
        pv = part[v]
        k = lptr[v]
        for p in range(indptr[v], indptr[v + 1]):
            w = indices[p]
            d = part[w] - pv
            if d >= 2 or d <= -2:
                lidx[k] = w
                k += 1
    return lptr, lidx


@njit(parallel=True, cache=True)
def triangle_terms(indptr, indices, part, lptr, lidx, nchunks):
    """Per-edge triangle sums of a multipartite U: ``(sum_e t_e, sum_e C(t_e, 2), sum_e t_e (d_u + d_v), K4)``.

    Every edge ``e = (a, x)`` is handled once, from its endpoint ``a`` in the lower
    partition.  Its triangle count ``t_e = |N(a) & N(x)|``:

    * ``x`` two or more partitions above ``a`` (a long edge): scan ``N(x)`` against the
      marked ``N(a)``;
    * ``x`` in the next partition: a third node ``w`` lies below ``a`` (then ``w - x`` is
      long: scan ``x``'s long list) or above ``x`` (then ``a - w`` is long: ``cnt2[x]``
      counts the long upper neighbours ``w`` of ``a`` adjacent to ``x``); nothing lies
      between two consecutive partitions.

    A 4-clique has its nodes in four partitions; it is counted once, at its edge from the
    lowest to the highest partition, as an edge between the two common neighbours that
    lie in between.  Work O(E + sum over long edges (a, x) of d_x + the long-list scans).
    """
    out = np.zeros((nchunks, 4), np.int64)
    for c in prange(nchunks):
        _triangle_chunk(indptr, indices, part, lptr, lidx, c, nchunks, out[c])
    return out[:, 0].sum(), out[:, 1].sum(), out[:, 2].sum(), out[:, 3].sum()


@njit(cache=True)
def _triangle_chunk(indptr, indices, part, lptr, lidx, c, nchunks, res):
    n = indptr.size - 1
    mark = np.full(n, -1, indices.dtype)
    cnt2 = np.zeros(n, np.int32)
    touched = np.empty(n, indices.dtype)
    stamp = np.full(n, -1, np.int64)
    between = np.empty(n, indices.dtype)
    a1 = 0
    a2 = 0
    at = 0
    ak = 0
    for a in range(c, n, nchunks):
        pa = part[a]
        da = indptr[a + 1] - indptr[a]
        has_long = lptr[a + 1] > lptr[a]
        if not has_long:
            for p in range(indptr[a], indptr[a + 1]):
                x = indices[p]
                if part[x] > pa and lptr[x + 1] > lptr[x]:
                    has_long = True
                    break
        if not has_long:
            continue  # no triangle on any edge of a
        for p in range(indptr[a], indptr[a + 1]):
            mark[indices[p]] = a
        nt = 0
        for r in range(lptr[a], lptr[a + 1]):  # long upper neighbours w of a
            w = lidx[r]
            if part[w] < pa + 2:
                continue
            for q in range(indptr[w], indptr[w + 1]):
                y = indices[q]
                if cnt2[y] == 0:
                    touched[nt] = y
                    nt += 1
                cnt2[y] += 1
        for p in range(indptr[a], indptr[a + 1]):
            x = indices[p]
            px = part[x]
            if px <= pa:
                continue
            t = 0
            if px - pa >= 2:
                nb = 0
                for q in range(indptr[x], indptr[x + 1]):
                    y = indices[q]
                    if mark[y] == a:
                        t += 1
                        py = part[y]
                        if px - pa >= 3 and pa < py and py < px:
                            between[nb] = y
                            nb += 1
                if nb >= 2:  # 4-cliques with a and x as their lowest and highest nodes
                    for i in range(nb):
                        stamp[between[i]] = p
                    e2 = 0
                    for i in range(nb):
                        b = between[i]
                        for q in range(indptr[b], indptr[b + 1]):
                            if stamp[indices[q]] == p:
                                e2 += 1
                    ak += e2 // 2
            else:
                t = cnt2[x]
                for q in range(lptr[x], lptr[x + 1]):
                    y = lidx[q]
                    if part[y] < pa and mark[y] == a:
                        t += 1
            if t > 0:
                dx = indptr[x + 1] - indptr[x]
                a1 += t
                a2 += t * (t - 1) // 2
                at += t * (da + dx)
        for i in range(nt):
            cnt2[touched[i]] = 0
    res[0] = a1
    res[1] = a2
    res[2] = at
    res[3] = ak


@njit(parallel=True, cache=True)
def flagged_wedge_pass(indptr, indices, split, lptr, deg, nchunks, tcount):
    """General graphs: per-chunk 4-cycle, tailed-triangle and 4-clique counts, and triangle counts per edge.

    As :func:`four_cycles`, and the sign bit of ``cnt`` flags the lower neighbours of v,
    so a 2-path closing on a flagged node is a triangle (counted once, at its highest
    node, into ``tcount[chunk, lower-edge position]`` for its three edges).
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
                        m = first_at_least(indices, a, s, w)  # w is present in the slice
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
    return c4_out.sum(), tt_out.sum(), k4_out.sum()


@njit(parallel=True, cache=True)
def triangle_edge_sums(tcount):
    """``(sum_e t_e, sum_e C(t_e, 2))`` over the per-chunk triangle counters."""
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
