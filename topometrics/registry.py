"""The metric registry :data:`METRICS` and :func:`normalize`.

Normalisation divisors
----------------------
The paper normalises each topometric "based on the number of nodes/edges present
in the graph representation to prevent graph size/network density from being a
confounding variable" (Cunegatti et al. 2024, footnote 7) without listing the
divisor of each metric.  The divisors below reproduce the authors' published table
(``mge-snn/graph_data/graph_metrics/unrolled/unrolled.csv``, 2,337 rows holding the
node count N and edge count E next to the normalised values); the evidence is
checked by ``tests/test_metric_normalization.py`` against that file:

==================  ========  ==============================================================
metric              divisor   evidence in the published table
==================  ========  ==============================================================
sink, source,       nodes     value x N is an integer on every row (x E is not).
disconnected
r_out, r_in         none      already fractions of E by definition (value x E is an integer).
n1                  edges     the value equals ``(1 + E/N) / E`` exactly on every row (the
                              official count includes the node itself; ours does not).
n2                  edges     value x N (about 9 at sparsity 0.6) would be below n1 = E/N;
                              value x E matches our raw n2 in magnitude.
motif4              edges     value x E matches the exact count of the same kind of graph
                              (about 1e12 for ResNet-20 at 0.6); value x N is 100x smaller.
kcore               edges     value x E matches our mean core number (about 82 for ResNet-20
                              at 0.6); value x N is about 1 at every sparsity.
strength            edges     value x E decreases with sparsity like the edge weights do;
                              value x N increases.
components          none      published values are integers (raw counts).
component_size      nodes     the value equals ``1 / components`` = ``(N / components) / N``.
cut_edges           edges     value x E is an integer on every row (x N is not).
cut_nodes           edges     value x E is an integer on every row (x N is not): the authors
                              divided the articulation-point count by E, and so do we.
spectral_gap,       none      published values are unnormalised eigenvalues.
spectral_radius
log_paths,          none      extras (not in the paper): already a log-count or fractions.
effective_sparsity,
effective_nodes
==================  ========  ==============================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from topocore.errors import InputError
from topocore.names import METRIC_CATEGORIES
from topocore.names import PAPER_METRICS as _PAPER_NAMES

from . import expansion, global_, local, neighbor, paths, strength, triads

__all__ = [
    "Metric",
    "METRICS",
    "PAPER_METRICS",
    "EXTRA_METRICS",
    "OTHER_METRICS",
    "DEFAULT_METRICS",
    "BIPARTITE_METRICS",
    "BIPARTITE_DEFINABLE",
    "CATEGORIES",
    "normalize",
    "resolve_metrics",
]


@dataclass(frozen=True)
class Metric:
    """Description of one topometric.

    Attributes
    ----------
    name : str
        Registry key (also the column name in result tables).
    category : str
        ``"local"``, ``"neighbor"``, ``"strength"``, ``"global"``, ``"expansion"``
        (the paper's Table 2) or ``"paths"`` (end-to-end extras).
    definition : str
        One-line definition.
    complexity : str
        Time complexity of this implementation.
    divisor : str or None
        ``"nodes"``, ``"edges"`` or None: what :func:`normalize` divides by.
    func : callable
        ``func(graph) -> number``; accepts a MultipartiteGraph, BipartiteGraph or
        PreparedGraph.
    graph : str
        ``"G"`` (directed MGE) or ``"U"`` (underlying undirected simple graph).
    bipartite : bool
        Definable on a single layer's bipartite graph (rolled / rolled-channel
        encodings), following the paper's section 4.1.
    """

    name: str
    category: str
    definition: str
    complexity: str
    divisor: str | None
    func: Callable[..., Any] = field(repr=False, compare=False)
    graph: str = "G"
    bipartite: bool = False


#: Categories of :attr:`Metric.category`: the paper's Table 2 categories
#: (:data:`topocore.names.METRIC_CATEGORIES`, lower-cased) and ``"paths"`` for the extras.
CATEGORIES: tuple[str, ...] = (
    *dict.fromkeys(METRIC_CATEGORIES[name].lower() for name in _PAPER_NAMES),
    "paths",
)

# What each metric is and how it is computed, keyed by name.  The *names* of the
# paper's 16 metrics, their order and categories come from topocore.names
# (PAPER_METRICS, METRIC_CATEGORIES); EXTRA_METRICS names the metrics that are not in
# the paper.  Fields: definition, complexity, divisor, func, graph ("G" or "U"), bipartite.
_SPECS: dict[str, tuple] = {
    "sink": ("nodes outside the last partition with out-degree 0 and in-degree > 0", "O(N + E)", "nodes",
             local.sink, "G", False),
    "source": ("nodes outside partition 0 with in-degree 0 and out-degree > 0", "O(N + E)", "nodes",
               local.source, "G", False),
    "disconnected": ("nodes with in-degree = out-degree = 0", "O(N + E)", "nodes", local.disconnected, "G", False),
    "r_out": ("(sum of out-degrees of source nodes) / E", "O(N + E)", None, local.r_out, "G", False),
    "r_in": ("(sum of in-degrees of sink nodes) / E", "O(N + E)", None, local.r_in, "G", False),
    "n1": ("mean number of distinct nodes one directed edge away (self excluded)", "O(N + E)", "edges",
           neighbor.n1, "G", True),
    "n2": ("mean number of distinct nodes at directed distance 1 or 2 (self excluded)",
           "O(sum_v indeg(v) outdeg(v))", "edges", neighbor.n2, "G", False),
    "motif4": ("number of 4-node subsets whose induced subgraph is weakly connected",
               "O(sum_v wedges u-w below v), nodes in degree order", "edges", neighbor.motif4, "U", True),
    "motif3": ("number of 3-node subsets whose induced subgraph is weakly connected (sum_v C(d_v, 2) - 2 T)",
               "O(N + E) when bipartite by partition parity, else O(E^1.5)", "edges", triads.motif3, "U", True),
    "kcore": ("mean core number of the nodes of U", "O(N + E)", "edges", strength.kcore, "U", True),
    "strength": ("mean over nodes of the sum of abs(w) over incoming edges", "O(N + E)", "edges",
                 strength.strength, "G", True),
    "components": ("number of weakly connected components (isolated nodes count)", "O(N + E)", None,
                   global_.components, "U", True),
    "component_size": ("N / components", "O(N + E)", "nodes", global_.component_size, "U", True),
    "cut_edges": ("number of bridges of U", "O(N + E)", "edges", global_.cut_edges, "U", True),
    "cut_nodes": ("number of articulation points of U", "O(N + E)", "edges", global_.cut_nodes, "U", True),
    "spectral_gap": ("mu_0 - mu_1, the two largest eigenvalues of A (A_uv = abs(w_uv))",
                     "O(m E) Lanczos, m iterations", None, expansion.spectral_gap, "U", True),
    "spectral_radius": ("largest eigenvalue of the weighted Laplacian D - A", "O(m E) Lanczos, m iterations", None,
                        expansion.spectral_radius, "U", True),
    "log_paths": ("natural log of the number of directed paths from partition 0 to the last", "O(N + E)", None,
                  paths.log_paths, "G", False),
    "effective_sparsity": ("1 - (edges on an input-to-output path) / (edges of the dense network's MGE)",
                           "O(N + E)", None, paths.effective_sparsity, "G", False),
    "effective_nodes": ("fraction of nodes on at least one input-to-output path", "O(N + E)", None,
                        paths.effective_nodes, "G", False),
}
#: End-to-end extras computed by :func:`topometrics.compute` in addition to the 16 (not in the paper).
EXTRA_METRICS: tuple[str, ...] = ("log_paths", "effective_sparsity", "effective_nodes")
#: Registered metrics computed only when named: ``motif3``, the rolled encodings' motif count.
OTHER_METRICS: tuple[str, ...] = ("motif3",)
#: The paper's 16 topometrics, in the order of its Table 2 (:data:`topocore.names.PAPER_METRICS`).
PAPER_METRICS: tuple[str, ...] = _PAPER_NAMES
#: What :func:`topometrics.compute` computes when no metric is named.
DEFAULT_METRICS: tuple[str, ...] = (*PAPER_METRICS, *EXTRA_METRICS)

if set(_SPECS) != set(DEFAULT_METRICS) | set(OTHER_METRICS):  # pragma: no cover - a programming error
    raise RuntimeError(
        "topometrics.registry implements "
        f"{sorted(set(_SPECS) ^ (set(DEFAULT_METRICS) | set(OTHER_METRICS)))} differently from topocore.names"
    )


def _metric(name: str) -> Metric:
    definition, complexity, divisor, func, graph, bipartite = _SPECS[name]
    category = METRIC_CATEGORIES[name].lower() if name in METRIC_CATEGORIES and name not in EXTRA_METRICS else "paths"
    return Metric(name, category, definition, complexity, divisor, func, graph, bipartite)


#: Every registered metric: the paper's 16 in Table 2 order, the extras, then ``motif3``.
METRICS: dict[str, Metric] = {name: _metric(name) for name in (*DEFAULT_METRICS, *OTHER_METRICS)}
#: The metrics of the rolled (layer-wise) encodings, as in the paper's rolled tables: those
#: definable on one layer's bipartite graph, with the size-3 motif count (a bipartite layer
#: graph's motifs are counted at size 3; ``motif4`` stays computable there by name).
BIPARTITE_METRICS: tuple[str, ...] = tuple(
    "motif3" if n == "motif4" else n for n, m in METRICS.items() if m.bipartite and n != "motif3"
)
#: Every metric definable on one layer's bipartite graph (:attr:`Metric.bipartite`).
BIPARTITE_DEFINABLE: tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.bipartite)


def resolve_metrics(metrics) -> list[str]:
    """Validate a metric selection (None: :data:`DEFAULT_METRICS`, a name, a comma-separated string or names)."""
    if metrics is None:
        return list(DEFAULT_METRICS)
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    names = list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise InputError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    if not names:
        raise InputError(f"no metric selected; choose from {list(METRICS)}")
    seen: dict[str, None] = {}
    for m in names:
        seen.setdefault(m, None)
    return list(seen)


def _divide(value: Any, by: Any) -> Any:
    """``value / by`` with NaN wherever ``by`` is 0: the same rule for scalars, arrays and pandas objects."""
    if np.ndim(by) == 0:
        by = float(by)
        if by != 0:
            return value / by
        return math.nan if np.ndim(value) == 0 else value * math.nan
    if not isinstance(by, np.ndarray) and not hasattr(by, "iloc"):  # a list or tuple of counts
        by = np.asarray(by, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = value / by
    zero = by == 0
    if hasattr(out, "iloc"):  # pandas: aligned on the index when ``by`` is a Series
        return out.mask(zero)
    return np.where(zero, math.nan, out)


def normalize(values, num_nodes=None, num_edges=None, *, prefix: str = "", conventions: str = "ours"):
    """Divide each registered metric by its :attr:`Metric.divisor` (paper footnote 7).

    Parameters
    ----------
    values : dict, pandas.Series or pandas.DataFrame
        Raw metric values keyed by metric name (dict / Series index / DataFrame
        columns).  Keys that are not registered metrics, or whose divisor is None,
        pass through unchanged.
    num_nodes, num_edges : number, pandas.Series or str
        Node and edge counts of the graph(s).  For a DataFrame pass Series aligned
        with its rows, or column names; when omitted, the ``num_nodes`` /
        ``num_edges`` entries of ``values`` are used.
    prefix : str
        Only keys ``prefix + metric_name`` are normalised (e.g. ``"rolled_"`` for the
        columns of :func:`topometrics.per_layer`, with
        ``num_nodes="rolled_num_nodes", num_edges="rolled_num_edges"``).
    conventions : {"ours", "published"}
        The conventions the raw ``values`` were computed in
        (:mod:`topometrics.conventions`).  The divisors are the same in both (ours
        reproduce the published table); with ``"published"`` the values are checked
        to be published ones: a raw ``n1`` or ``n2`` below 1 (the node itself is
        counted there) raises :class:`~topocore.errors.InputError`, since such
        values were computed in our conventions and would be mixed with published
        ones.  Pass ``num_nodes`` / ``num_edges`` of the published-conventions graph
        (with its padding nodes).

    Returns
    -------
    The same type as ``values`` (a new object) with normalised values.

    Notes
    -----
    A divisor of 0 (a graph without nodes or edges) gives NaN, whatever the form of
    ``values``: a dict, a Series, or a DataFrame row whose count is 0 (never ``inf``);
    the metric is undefined there, and NaN keeps such rows out of means and fits.
    """
    import pandas as pd

    from .conventions import PLUS_ONE, check_conventions

    if check_conventions(conventions) == "published" and isinstance(values, (dict, pd.Series, pd.DataFrame)):
        for name in PLUS_ONE:
            key = prefix + name
            if key in values:
                raw = np.asarray(values[key], dtype=float)
                if np.any(raw < 1.0):
                    raise InputError(
                        f"{key} = {float(np.nanmin(raw)):g} < 1 cannot be a published-conventions value (the node itself "
                        "is counted there); compute it with conventions='published' or normalise with conventions='ours'"
                    )
    is_frame = isinstance(values, pd.DataFrame)

    def _count(arg, key):
        if arg is None:
            if key not in values:
                raise InputError(f"normalize needs {key}: pass it or include a {key!r} entry/column in values")
            return values[key]
        if isinstance(arg, str):
            if arg not in values:
                raise InputError(f"column {arg!r} (for {key}) not found in values; pass a column name of values or the counts")
            return values[arg]
        return arg

    nodes = _count(num_nodes, "num_nodes")
    edges = _count(num_edges, "num_edges")

    def lookup(key):
        if not isinstance(key, str) or not key.startswith(prefix):
            return None
        return METRICS.get(key[len(prefix):])

    if is_frame:
        out = values.copy()
        for col in out.columns:
            m = lookup(col)
            if m is None or m.divisor is None:
                continue
            by = nodes if m.divisor == "nodes" else edges
            out[col] = _divide(out[col].astype(float), by)
        return out
    if isinstance(values, pd.Series):
        out = values.copy()
        for key in out.index:
            m = lookup(key)
            if m is not None and m.divisor is not None:
                out[key] = _divide(float(out[key]), float(nodes if m.divisor == "nodes" else edges))
        return out
    if not isinstance(values, dict):
        raise TypeError(f"values must be a dict, pandas Series or DataFrame, got {type(values).__name__}")
    result = {}
    for key, value in values.items():
        m = lookup(key)
        if m is None or m.divisor is None:
            result[key] = value
        else:
            by = nodes if m.divisor == "nodes" else edges
            result[key] = _divide(float(value), float(by))
    return result
