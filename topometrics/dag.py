"""Macro-topology metrics of a block graph: the DAG of blocks of a DAG-wired network.

The graph characteristics of Janik & Nowak (2021, "Connectivity Properties of Neural
Networks Under Performance-Resources Trade-off", Table 2 and Appendix F) for the block
graph that :func:`pruners.connectivity.derive_topology` reads off a trained ``dagnet``.
They live in their own registry, :data:`METRICS` of this module (category ``"macro"``),
and never mix with the 16 topometrics of the unrolled MGE (:data:`topometrics.METRICS`).

Every metric takes ``(graph, source=None, target=None)``: a :class:`networkx.DiGraph`
(acyclic; an edge attribute ``weight`` may be present and is ignored: Janik & Nowak's
definitions count edges) and its input and output nodes.  By default ``source`` is the
unique node with in-degree 0 and ``target`` the unique node with out-degree 0;
:class:`~topocore.errors.InputError` is raised when either is not unique, when the graph
is cyclic, or when ``target`` cannot be reached from ``source``.  :func:`compute` returns
all of them and the node and edge counts per stage.

=====================  =================================================================
metric                 definition
=====================  =================================================================
``log_paths``          ln(number of source-to-target paths)
``mean_path``          mean length (edges) over all source-to-target paths
``max_path``           largest length (edges) of a source-to-target path
``ln_communicability`` ln([exp(A)]_st) of the undirected 0/1 adjacency A (Estrada & Hatano)
``edge_connectivity``  fewest edges whose removal leaves no source-to-target path
``mean_degree``        mean over nodes of in-degree + out-degree, 2E / N
``pca_elongation``     2 (V1 - 1/2), V1 the first principal component's explained-variance
                       ratio of the 2-D Kamada-Kawai layout (layout dependent)
``q1d``                pca_elongation > 0.25 and edge_connectivity > 1
=====================  =================================================================
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from topocore.errors import InputError

from .registry import Metric

__all__ = [
    "METRICS",
    "compute",
    "log_paths",
    "mean_path",
    "max_path",
    "ln_communicability",
    "edge_connectivity",
    "mean_degree",
    "pca_elongation",
    "q1d",
    "stage_counts",
    "endpoints",
]


# --------------------------------------------------------------------------- validation


def endpoints(graph, source=None, target=None) -> tuple[Any, Any]:
    """Validated ``(source, target)`` of a block graph (see the module docstring).

    Raises :class:`~topocore.errors.InputError` for a graph that is not a non-empty
    directed acyclic :class:`networkx.DiGraph`, an ambiguous or unknown endpoint, or no
    path from ``source`` to ``target``.  Time O(N + E).
    """
    import networkx as nx

    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        raise InputError(f"a block graph must be a networkx.DiGraph, got {type(graph).__name__}")
    if graph.number_of_nodes() < 2:
        raise InputError(f"the block graph has {graph.number_of_nodes()} node(s); it needs an input and an output node")
    if not nx.is_directed_acyclic_graph(graph):
        cycle = [u for u, _ in nx.find_cycle(graph)]
        raise InputError(f"the block graph is cyclic (cycle {cycle}); the macro metrics need a directed acyclic graph")
    if source is None:
        roots = [n for n, d in graph.in_degree() if d == 0]
        if len(roots) != 1:
            raise InputError(
                f"the block graph has {len(roots)} nodes with in-degree 0 ({roots[:5]}); pass source= (the input "
                "node) or remove the dead nodes (pruners.connectivity.derive_topology does)"
            )
        source = roots[0]
    if target is None:
        leaves = [n for n, d in graph.out_degree() if d == 0]
        if len(leaves) != 1:
            raise InputError(
                f"the block graph has {len(leaves)} nodes with out-degree 0 ({leaves[:5]}); pass target= (the output "
                "node) or remove the dead nodes (pruners.connectivity.derive_topology does)"
            )
        target = leaves[0]
    for name, node in (("source", source), ("target", target)):
        if node not in graph:
            raise InputError(f"{name} node {node!r} is not in the block graph")
    if source == target:
        raise InputError(f"source and target are the same node {source!r}")
    if not nx.has_path(graph, source, target):
        raise InputError(f"the block graph has no path from {source!r} to {target!r}")
    return source, target


def _path_dp(graph, source, target) -> tuple[int, int, int]:
    """Exact (number of paths, sum of their lengths, longest length) from source to target."""
    import networkx as nx

    count: dict[Any, int] = {source: 1}
    length: dict[Any, int] = {source: 0}
    longest: dict[Any, int] = {source: 0}
    for v in nx.topological_sort(graph):
        if v == source:
            continue
        c = s = 0
        best = -1
        for u in graph.predecessors(v):
            cu = count.get(u)
            if cu:
                c += cu
                s += length[u] + cu
                best = max(best, longest[u] + 1)
        if c:
            count[v], length[v], longest[v] = c, s, best
        if v == target:
            break
    return count[target], length[target], longest[target]


# --------------------------------------------------------------------------- path statistics


def log_paths(graph, source=None, target=None) -> float:
    """Natural logarithm of the number of source-to-target paths.

    Definition: ``ln |{paths source -> ... -> target}|`` (Janik & Nowak 2021, Table 6).

    The count is exact: dynamic programming in topological order,
    ``paths(v) = sum over predecessors u of paths(u)``, in Python's arbitrary-precision
    integers (so it never overflows: the 60-node complete DAG has 2**58 paths), and only
    the final count is logged.

    Complexity: O(N + E) big-integer additions.

    Reference: Janik & Nowak, "Connectivity Properties of Neural Networks Under
    Performance-Resources Trade-off", 2021, Table 2.
    """
    source, target = endpoints(graph, source, target)
    return math.log(_path_dp(graph, source, target)[0])


def mean_path(graph, source=None, target=None) -> float:
    """Mean length (number of edges) over all source-to-target paths.

    Definition: ``sum over paths P of |P| / number of paths``.  Exact by dynamic
    programming (not enumeration): with ``c(v)`` the number of paths from the source to
    ``v`` and ``L(v)`` the sum of their lengths, ``L(v) = sum over predecessors u of
    L(u) + c(u)``; the mean is ``L(target) / c(target)`` (integers, one final division).

    Complexity: O(N + E) big-integer operations.

    Reference: Janik & Nowak 2021, Table 2 (``mean_path``, "the depth of the network").
    """
    source, target = endpoints(graph, source, target)
    count, total, _ = _path_dp(graph, source, target)
    return total / count


def max_path(graph, source=None, target=None) -> float:
    """Largest length (number of edges) of a source-to-target path.

    Definition: ``max over paths P of |P|``, by dynamic programming in topological order
    (``longest(v) = 1 + max over predecessors u reachable from the source``).  On a graph
    whose every node lies on a source-to-target path (a derived topology) this is
    :func:`networkx.dag_longest_path_length`, Janik & Nowak's ``max_path*``.

    Complexity: O(N + E).

    Reference: Janik & Nowak 2021, Table 2.
    """
    source, target = endpoints(graph, source, target)
    return float(_path_dp(graph, source, target)[2])


# --------------------------------------------------------------------------- communicability


def _undirected_adjacency(graph):
    import scipy.sparse as sp

    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    if graph.number_of_edges():
        rows, cols = np.array([[index[u], index[v]] for u, v in graph.edges if u != v], dtype=np.int64).T
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
    n = len(nodes)
    a = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n)).tocsr()
    a = a + a.T
    a.data[:] = 1.0  # 0/1 adjacency of the underlying simple undirected graph
    return a, index


def ln_communicability(graph, source=None, target=None) -> float:
    """Natural logarithm of the communicability between the source and the target.

    Definition (Estrada & Hatano 2008): with ``A`` the 0/1 adjacency matrix of the
    underlying undirected graph (edge directions and weights dropped, as in
    :func:`networkx.communicability`),
    ``G(s, t) = [exp(A)]_st = sum_k (A^k)_st / k! = sum_i phi_s^i phi_t^i exp(lambda_i)``,
    a weighted count of the walks between ``s`` and ``t``; the metric is ``ln G(s, t)``.

    Computed stably: ``A`` is non-negative, so the Taylor series has only non-negative
    terms and is summed without cancellation (the eigen-expansion cancels to nothing
    when ``G(s, t)`` is tiny next to ``exp(lambda_max)``, e.g. on a long chain).  The
    vector ``A^k e_t / k!`` is rescaled at every step and its scale kept in log space
    (no overflow), and the sum stops when the tail bound
    ``||A^k e_t / k!|| r / (1 - r)`` with ``r = d_max / (k + 1) < 1`` is below
    ``1e-17`` times the sum (``d_max`` bounds the spectral radius).

    Complexity: O(K E) with K ~ 2 d_max + O(log(1/eps)) sparse matrix-vector products.

    Reference: E. Estrada and N. Hatano, "Communicability in complex networks", Phys.
    Rev. E 77, 036111 (2008); Janik & Nowak 2021, Table 2.
    """
    source, target = endpoints(graph, source, target)
    a, index = _undirected_adjacency(graph)
    u, v = index[source], index[target]
    dmax = float(a.sum(axis=1).max())
    x = np.zeros(a.shape[0])
    x[v] = 1.0
    scale = 0.0  # log of the factor that multiplies x
    total = -math.inf  # log of the running sum of (A^k e_v / k!)_u
    k = 0
    while True:
        k += 1
        x = a @ x / k
        m = float(x.max())
        if m <= 0.0:  # pragma: no cover - a connected pair always has walks of every length >= distance
            break
        x /= m
        scale += math.log(m)
        if x[u] > 0.0:
            total = np.logaddexp(total, scale + math.log(x[u]))
        if k + 1 > dmax and total > -math.inf:
            r = dmax / (k + 1)
            tail = scale + math.log(float(np.linalg.norm(x))) + math.log(r / (1.0 - r)) if r > 0 else -math.inf
            if tail < total + math.log(1e-17):
                break
    return float(total)


# --------------------------------------------------------------------------- connectivity and degree


def edge_connectivity(graph, source=None, target=None) -> float:
    """Fewest edges whose removal leaves no directed path from the source to the target.

    Definition: the local edge connectivity ``lambda(s, t)``; by Menger's theorem the
    number of edge-disjoint ``s -> t`` paths, i.e. the maximum ``s -> t`` flow with unit
    capacities.  Computed with :func:`scipy.sparse.csgraph.maximum_flow` (Dinic) on the
    directed graph.

    Complexity: O(sqrt(E) E) for unit capacities.

    Reference: Janik & Nowak 2021, Table 6 (``edge_connectivity*``, networkx's
    :func:`~networkx.algorithms.connectivity.connectivity.edge_connectivity`).
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import maximum_flow

    source, target = endpoints(graph, source, target)
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    pairs = np.array([[index[u], index[v]] for u, v in graph.edges if u != v], dtype=np.int32).reshape(-1, 2)
    cap = sp.csr_matrix((np.ones(len(pairs), dtype=np.int32), (pairs[:, 0], pairs[:, 1])), shape=(len(nodes),) * 2)
    return float(maximum_flow(cap, index[source], index[target], method="dinic").flow_value)


def mean_degree(graph, source=None, target=None) -> float:
    """Mean over nodes of the degree (in-degree + out-degree): ``2 E / N``.

    ``source`` and ``target`` are validated like every metric's but do not enter the value.

    Complexity: O(1) after validation (O(N + E)).

    Reference: Janik & Nowak 2021, Table 6 (``mean_degree*``).
    """
    endpoints(graph, source, target)
    return 2.0 * graph.number_of_edges() / graph.number_of_nodes()


# --------------------------------------------------------------------------- layout


def pca_elongation(graph, source=None, target=None, *, init: str = "circular", random_state: int | None = 0) -> float:
    """Elongation of the graph's Kamada-Kawai drawing: ``2 (V1 - 1/2)``.

    Definition: the nodes are laid out in 2-D by :func:`networkx.kamada_kawai_layout` on
    the underlying undirected, unweighted graph (shortest-path distances as target
    lengths), starting from networkx's default, the circular layout in node order
    (``init="circular"``, deterministic; ``random_state`` is not used), or from
    :func:`networkx.random_layout` seeded with ``random_state`` (``init="random"``);
    ``V1`` is the explained-variance ratio of the first principal component of the node
    positions (the larger eigenvalue of their 2x2 covariance over the trace), in
    ``[1/2, 1]``; the metric ``2 (V1 - 1/2)`` lies in ``[0, 1]``: 0 for an isotropic
    drawing (the complete DAG), 1 for nodes on a line (a chain).

    Janik & Nowak's Appendix F prints ``2 V1 - 0.5``, which is at least 0.5 for every
    graph; that contradicts their Table 2 (values 0.37 and 0.44), their statement that the
    complete DAG has ``pca_elongation = 0``, and makes their Q1D criterion
    ``pca_elongation > 0.25`` always true.  ``2 (V1 - 1/2)`` satisfies all three, so it
    is used here.

    Layout dependent: Kamada-Kawai finds a local minimum of its energy, so the value can
    change with the start positions (``init``, ``random_state``) and the networkx version;
    compare ``init="random"`` over a few seeds to see how much.  The circular start is
    also the fast one on dense graphs (the complete graph's circle is already optimal).

    Complexity: O(N^2) memory and O(N^2) per optimiser iteration (Kamada-Kawai), plus
    O(N (N + E)) for the all-pairs shortest paths.

    Reference: Janik & Nowak, "Neural networks on random graphs", 2020, and 2021, Table 6;
    T. Kamada and S. Kawai, Inf. Process. Lett. 31 (1989) 7-15.
    """
    import networkx as nx

    endpoints(graph, source, target)
    und = nx.Graph()
    und.add_nodes_from(graph.nodes)
    und.add_edges_from((u, v) for u, v in graph.edges if u != v)
    if init == "circular":
        start = nx.circular_layout(und)
    elif init == "random":
        start = nx.random_layout(und, seed=random_state)
    else:
        raise InputError(f"init must be 'circular' or 'random', got {init!r}")
    pos = nx.kamada_kawai_layout(und, pos=start, weight=None)
    xy = np.array([pos[n] for n in und.nodes], dtype=np.float64)
    xy -= xy.mean(axis=0)
    eig = np.linalg.eigvalsh(xy.T @ xy)
    if eig.sum() <= 0:
        return 0.0
    v1 = float(eig[-1] / eig.sum())
    return 2.0 * (v1 - 0.5)


def q1d(graph, source=None, target=None, *, init: str = "circular", random_state: int | None = 0) -> bool:
    """The quasi-one-dimensional (Q1D) criterion: ``pca_elongation > 0.25`` and ``edge_connectivity > 1``.

    Janik & Nowak (2020) found this family of random-DAG wirings to perform well; their
    2021 paper observes that learned topologies are mostly Q1D.  Layout dependent through
    :func:`pca_elongation` (``init``, ``random_state``).

    Complexity: that of :func:`pca_elongation`.

    Reference: Janik & Nowak 2021, Section 4 ("Graph characteristics").
    """
    return bool(pca_elongation(graph, source, target, init=init, random_state=random_state) > 0.25
                and edge_connectivity(graph, source, target) > 1)


# --------------------------------------------------------------------------- counts


def stage_counts(graph) -> dict[str, int]:
    """Node and edge counts in total and per stage.

    ``num_nodes``, ``num_edges``, and when every node has a ``stage`` attribute,
    ``nodes_stage{s}`` (nodes of stage ``s``) and ``edges_stage{s}`` (edges whose target
    node lies in stage ``s``, the edges that feed stage ``s``'s blocks, cross-stage reduce
    edges included) for ``s = 0 .. max stage``.  Time O(N + E).
    """
    out = {"num_nodes": graph.number_of_nodes(), "num_edges": graph.number_of_edges()}
    stages = dict(graph.nodes(data="stage"))
    if stages and all(s is not None for s in stages.values()):
        top = max(int(s) for s in stages.values())
        for s in range(top + 1):
            out[f"nodes_stage{s}"] = sum(1 for v in stages.values() if int(v) == s)
        for s in range(top + 1):
            out[f"edges_stage{s}"] = sum(1 for _, v in graph.edges if int(stages[v]) == s)
    return out


# --------------------------------------------------------------------------- registry


_M = Metric
#: The macro-topology metrics, category ``"macro"`` (a registry of their own).
METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        _M("log_paths", "macro", "ln of the number of input-to-output paths", "O(N + E)", None, log_paths, "DAG"),
        _M("mean_path", "macro", "mean length (edges) of the input-to-output paths", "O(N + E)", None, mean_path, "DAG"),
        _M("max_path", "macro", "largest length (edges) of an input-to-output path", "O(N + E)", None, max_path, "DAG"),
        _M("ln_communicability", "macro", "ln [exp(A)]_io of the undirected 0/1 adjacency", "O(d_max E)", None,
           ln_communicability, "U"),
        _M("edge_connectivity", "macro", "fewest edges cutting every input-to-output path", "O(sqrt(E) E)", None,
           edge_connectivity, "DAG"),
        _M("mean_degree", "macro", "2 E / N", "O(N + E)", None, mean_degree, "DAG"),
        _M("pca_elongation", "macro", "2 (V1 - 1/2) of the PCA of the Kamada-Kawai layout", "O(N^2) per iteration",
           None, pca_elongation, "U"),
        _M("q1d", "macro", "pca_elongation > 0.25 and edge_connectivity > 1", "O(N^2) per iteration", None, q1d, "U"),
    ]
}

_SEEDED: dict[str, bool] = {"pca_elongation": True, "q1d": True}


def compute(graph, source=None, target=None, *, init: str = "circular", random_state: int | None = 0,
            metrics: list[str] | None = None) -> dict[str, Any]:
    """All macro metrics of a block graph, then its node and edge counts (:func:`stage_counts`).

    Parameters
    ----------
    graph : networkx.DiGraph
    source, target : node, optional
        Input and output nodes (default: the unique in-degree-0 and out-degree-0 nodes).
    init, random_state :
        Start of the Kamada-Kawai layout (``pca_elongation``, ``q1d``): ``"circular"``
        (default, deterministic) or ``"random"`` seeded with ``random_state``.
    metrics : list of str, optional
        A subset of :data:`METRICS` (default all, in registry order).

    Returns
    -------
    dict
        ``{name: value}``: floats, ``q1d`` a bool, counts ints.  ``q1d`` reuses the
        computed ``pca_elongation`` and ``edge_connectivity``.
    """
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise InputError(f"unknown macro metric(s) {unknown}; choose from {list(METRICS)}")
    source, target = endpoints(graph, source, target)
    out: dict[str, Any] = {}
    for name in names:
        if name == "q1d":
            elong = (out["pca_elongation"] if "pca_elongation" in out
                     else pca_elongation(graph, source, target, init=init, random_state=random_state))
            conn = out["edge_connectivity"] if "edge_connectivity" in out else edge_connectivity(graph, source, target)
            out[name] = bool(elong > 0.25 and conn > 1)
            continue
        func: Callable[..., Any] = METRICS[name].func
        out[name] = (func(graph, source, target, init=init, random_state=random_state) if _SEEDED.get(name)
                     else func(graph, source, target))
    out.update(stage_counts(graph))
    return out
