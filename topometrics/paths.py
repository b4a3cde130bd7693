"""End-to-end path topometrics on the MGE (input partition -> output partition).

These need the unrolled, input-aware encoding: no layer-wise encoding sees whole
input-to-output paths.  "Paths" are directed paths of ``G`` (node sequences; parallel
edges are merged) that start in partition 0 (the network input) and end in the
last partition (the network output).  When the graph has a single partition, it is
both the input and the output and every node is a path of length 0.

* ``log_paths``: natural log of the number of such paths, by dynamic programming
  over a topological order in log space (the count overflows float64 for deep
  networks).  Janik & Nowak, "Analyzing neural networks based on random graphs",
  2020, study path counts of this kind.
* ``effective_sparsity`` and ``effective_nodes``: the edges / nodes that lie on at
  least one input-to-output path (Vysogorets & Kempe, "Connectivity matters: neural
  network pruning through the lens of effective sparsity", JMLR 2023); an edge
  ``u -> v`` lies on such a path iff ``u`` is reachable from partition 0 and the
  last partition is reachable from ``v``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numba import njit

from topocore.errors import InputError

from .prepared import prepare

__all__ = ["log_paths", "effective_sparsity", "effective_nodes", "on_path_masks", "dense_num_edges", "MissingDenseCountWarning"]


class MissingDenseCountWarning(UserWarning):
    """``effective_sparsity`` needs the edge count of the dense network and none was given."""


@njit(cache=True)
def _topological_order(indptr, indices):
    """Kahn's algorithm on an out-CSR; returns (order, ok) where ok is False on a cycle."""
    n = indptr.size - 1
    indeg = np.zeros(n, np.int64)
    for p in range(indptr[-1]):
        indeg[indices[p]] += 1
    order = np.empty(n, np.int64)
    head = 0
    tail = 0
    for v in range(n):
        if indeg[v] == 0:
            order[tail] = v
            tail += 1
    while head < tail:
        v = order[head]
        head += 1
        for p in range(indptr[v], indptr[v + 1]):
            u = indices[p]
            indeg[u] -= 1
            if indeg[u] == 0:
                order[tail] = u
                tail += 1
    return order, tail == n


@njit(cache=True)
def _is_forward(indptr, indices):
    """True when every edge goes from a lower to a higher node id (node order is topological)."""
    n = indptr.size - 1
    for v in range(n):
        for p in range(indptr[v], indptr[v + 1]):
            if indices[p] <= v:
                return False
    return True


@njit(cache=True)
def _log_path_counts(in_indptr, in_indices, order, first_end):
    """log(number of paths from nodes < first_end to every node), in topological ``order``."""
    n = in_indptr.size - 1
    logp = np.full(n, -np.inf)
    for i in range(n):
        v = order[i]
        m = 0.0 if v < first_end else -np.inf
        for p in range(in_indptr[v], in_indptr[v + 1]):
            x = logp[in_indices[p]]
            if x > m:
                m = x
        if m == -np.inf:
            continue
        s = math.exp(0.0 - m) if v < first_end else 0.0
        for p in range(in_indptr[v], in_indptr[v + 1]):
            x = logp[in_indices[p]]
            if x > -np.inf:
                s += math.exp(x - m)
        logp[v] = m + math.log(s)
    return logp


@njit(cache=True)
def _reach(indptr, indices, lo, hi):
    """Boolean mask of the nodes reachable from the nodes lo..hi-1 (themselves included)."""
    n = indptr.size - 1
    seen = np.zeros(n, np.bool_)
    queue = np.empty(n, np.int64)
    tail = 0
    for v in range(lo, hi):
        seen[v] = True
        queue[tail] = v
        tail += 1
    head = 0
    while head < tail:
        v = queue[head]
        head += 1
        for p in range(indptr[v], indptr[v + 1]):
            u = indices[p]
            if not seen[u]:
                seen[u] = True
                queue[tail] = u
                tail += 1
    return seen


def _io_bounds(pg) -> tuple[int, int, int]:
    off = pg.partition_offsets
    n = pg.num_nodes
    if len(off) < 2:
        return 0, 0, n
    return int(off[1]), int(off[-2]), n


def on_path_masks(graph) -> tuple[np.ndarray, np.ndarray]:
    """``(forward, backward)`` boolean node masks.

    ``forward[v]``: v is reachable from partition 0 (input nodes included);
    ``backward[v]``: the last partition is reachable from v (output nodes included).
    A node lies on an input-to-output path iff both hold.  O(N + E).
    """
    pg = prepare(graph)
    if "on_path" not in pg.cache:
        first_end, last_start, n = _io_bounds(pg)
        fwd = _reach(*pg.out_csr(), 0, first_end)
        bwd = _reach(*pg.in_csr(), last_start, n)
        pg.cache["on_path"] = (fwd, bwd)
    return pg.cache["on_path"]


def log_paths(graph) -> float:
    """Natural log of the number of directed paths from partition 0 to the last partition.

    Dynamic programming in log space over a topological order: ``P(v) = [v in
    partition 0] + sum over in-neighbours u of P(u)``, result
    ``log(sum over v in the last partition of P(v))``; ``-inf`` when there is no such
    path.  Complexity O(N + E).  Raises :class:`~topocore.errors.InputError` (a
    ``ValueError``) if G has a directed cycle.
    Reference: Janik & Nowak 2020 (path counts of sparse random networks).
    """
    pg = prepare(graph)
    first_end, last_start, n = _io_bounds(pg)
    if n == 0:
        return float("-inf")
    out_ip, out_ix = pg.out_csr()
    if _is_forward(out_ip, out_ix):
        order = np.arange(n, dtype=np.int64)
    else:
        order, ok = _topological_order(out_ip, out_ix)
        if not ok:
            raise InputError(
                "the graph has a directed cycle, so path counts are undefined; pass an acyclic graph "
                "(an MGE from encoders.encode is acyclic)"
            )
    in_ip, in_ix = pg.in_csr()
    logp = _log_path_counts(in_ip, in_ix, order, first_end)
    last = logp[last_start:n]
    m = float(last.max())
    if m == -math.inf:
        return m
    return m + math.log(float(np.exp(last - m).sum()))


def _edges_on_path(pg) -> int:
    if "edges_on_path" not in pg.cache:
        fwd, bwd = on_path_masks(pg)
        g = pg.graph
        pg.cache["edges_on_path"] = int(np.count_nonzero(fwd[g.src] & bwd[g.dst]))
    return pg.cache["edges_on_path"]


def effective_sparsity(graph, dense_num_edges: int | None = None) -> float:
    """``1 - (edges on at least one input-to-output path) / (edges of the dense network's MGE)``.

    The denominator is the number of edges the MGE of the unpruned network has
    (every weight tap present): ``dense_num_edges`` when given, else
    ``graph.meta["dense_num_edges"]`` (recorded by the encoder when it knows it).
    Without either, the value is NaN and a :class:`MissingDenseCountWarning` says
    how to supply it.  Edges of G are counted with multiplicity.  Complexity
    O(N + E).  Reference: Vysogorets & Kempe, JMLR 2023 (effective sparsity).
    """
    pg = prepare(graph)
    dense = dense_num_edges if dense_num_edges is not None else pg.graph.meta.get("dense_num_edges")
    if dense is None:
        warnings.warn(
            "effective_sparsity needs the edge count of the dense (unpruned) network's MGE; pass "
            "dense_num_edges=... or store it in graph.meta['dense_num_edges'] (NaN returned)",
            MissingDenseCountWarning,
            stacklevel=2,
        )
        return float("nan")
    dense = int(dense)
    if dense <= 0:
        raise InputError(
            f"dense_num_edges must be positive, got {dense}; pass the dense MGE's edge count "
            "(topometrics.dense_num_edges(model, input_shape))"
        )
    on = _edges_on_path(pg)
    if on > dense:
        raise InputError(
            f"dense_num_edges={dense} is smaller than the {on} edges on input-output paths; pass the edge "
            "count of the unpruned network's MGE (topometrics.dense_num_edges(model, input_shape))"
        )
    return 1.0 - on / dense


def effective_nodes(graph) -> float:
    """Fraction of nodes that lie on at least one input-to-output path.

    A node is effective when it is reachable from partition 0 and reaches the last
    partition (input and output nodes included when they do).  NaN for a graph
    without nodes.  Complexity O(N + E).  Reference: Vysogorets & Kempe, JMLR 2023
    (effective nodes).
    """
    pg = prepare(graph)
    if pg.num_nodes == 0:
        return float("nan")
    fwd, bwd = on_path_masks(pg)
    return float(np.count_nonzero(fwd & bwd)) / pg.num_nodes


def dense_num_edges(model, input_shape, *, identity_shortcuts: bool = True, pad_nodes: bool = False) -> int:
    """Number of edges of the MGE of ``model`` with every weight kept (the denominator of
    :func:`effective_sparsity`; ``pad_nodes`` as in :func:`encoders.encode`).

    Counted in closed form by :func:`encoders.count_edges` with all-True masks for every
    weighted layer (``Conv2d`` / ``Linear`` modules and parameters passed to
    ``F.conv2d`` / ``F.linear``): the same number :func:`encoders.encode` would give,
    without building the dense graph (16 bytes per edge, about 3 GB for
    Wide-ResNet-28-2).  Prune buffers and exact zeros of the model are ignored.
    """
    import torch

    from encoders import count_edges, resolve_masks
    from encoders.trace import weighted_layers

    params = list(dict.fromkeys(layer.param for layer in weighted_layers(model)))
    masks = {name: torch.ones(tuple(mw.weight.shape), dtype=torch.bool) for name, mw in resolve_masks(model, params=params).items()}
    return int(count_edges(model, tuple(input_shape), masks, identity_shortcuts=identity_shortcuts, pad_nodes=pad_nodes))
