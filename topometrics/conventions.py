"""Measurement conventions: ours (default) and those of the authors' published data.

``conventions="ours"`` is what every function of :mod:`topometrics` computes by
default: the definitions in the docstring of each metric.  ``conventions="published"``
puts a network on the scale of the 2,337 rows the authors of Cunegatti et al. (TMLR
2024) published (``graph_metrics/unrolled/unrolled.csv``), so that your own networks
can be analysed next to theirs (e.g. one accuracy-drop regression on both).  It is an
argument of :func:`topometrics.compute`, :func:`topometrics.describe`,
:func:`topometrics.describe_graph`, :func:`topometrics.normalize` and
:func:`topometrics.per_layer`, and ``--conventions published`` of ``topometrics encode``, ``metrics`` and
``grid --metrics`` (through :func:`topometrics.workflows.describe_many` and its
``conventions`` argument).

Differences (measured on the same masks and weights unless stated)
------------------------------------------------------------------
======================  ==============================  =================================  ==========================================
quantity                ours                            published                          measured
======================  ==============================  =================================  ==========================================
input padding           zero-padding positions are      the first layer's padding          published Conv-6 / ResNet-20 node counts =
                        constants, not nodes            positions are input nodes with     ours + 396 = 3 x 34 x 34 - 3 x 32 x 32 on
                                                        their edges (``encode(...,         every row; Conv-6 edges +0.03% (uniform,
                                                        pad_nodes=True)``)                 0.9)
``n1``, ``n2``          distinct nodes at distance      the node itself counted too        published raw = ours + 1 exactly (igraph
                        1 (1-2), the node excluded                                         ``neighborhood_size``); normalised
                                                                                           ``n1`` = ``(1 + E/N) / E`` on all 2,337 rows
``strength``            mean in-strength,               mean of in- plus out-strength,     published = 2 x ours on the same weights
                        ``sum |w| / N``                 ``2 sum |w| / N``
edge weights            float32                         ``|float16(w)|``                   relative change <= 2^-11 for ``|w| >= 6.1e-5``
                                                                                           (float16's normal range); below, fewer bits
normalisation           sink, source, disconnected,     the same divisors                  ours were chosen to reproduce theirs (see
                        component_size / N; n1, n2,                                        :mod:`topometrics.registry`)
                        motif4, kcore, strength,
                        cut_edges, cut_nodes / E
======================  ==============================  =================================  ==========================================

With these four conventions the 13 weight-free metrics of Conv-6 networks pruned at
random (uniform, ERK, the authors' ER; CIFAR-10, sparsities 0.9 / 0.95 / 0.98, 3
seeds) agree with the published rows of the same method and sparsity within 3
standard deviations (at least the metric's relative spread pooled over the nine
cells; three rows estimate a spread poorly), and the node counts exactly
(``tests/test_published_conventions.py``).
The weight-based metrics (``strength``, ``spectral_gap``, ``spectral_radius``) are not
comparable on freshly initialised weights: the published rows were computed on
trained networks.  Spectral values agree on the same graph: their code gives the
same spectral radius as ours (35.3832 and 35.38323 for ResNet-20 at sparsity 0.98,
uniform masks, seed 0).

Not imitated (documented only): two errors of the authors' encoder change their
graphs of networks with strided convolutions or identity shortcuts (ResNets,
WRN-28-2), not Conv-6.  (1) Strided convolutions are unrolled with a wrong window
walk, so stride-2 layers are encoded wrongly: on ResNet-20, every published ERK row
from sparsity 0.6 to 0.9 has exactly 1504 sinks and 2000 sources, where a correct graph
has none (ours: 0 and 0 at 0.6 and 0.9).  (2) Identity shortcuts are dropped: the
published ResNet-20 edge counts with uniform masks at 0.98 (735,408 / 743,438 /
751,670 for CIFAR-10 / CIFAR-100 / Tiny-ImageNet) match our graph without
identity-shortcut edges (745,747; ``encode(..., identity_shortcuts=False)``), not with
them (819,475).  Published values of such networks therefore measure other graphs
than the networks, in either convention.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from topocore.errors import InputError

__all__ = ["CONVENTIONS", "check_conventions", "published_graph", "to_published", "PLUS_ONE", "DOUBLED"]

#: Accepted values of the ``conventions`` argument.
CONVENTIONS = ("ours", "published")
#: Metrics whose published raw value counts the node itself: ours + 1.
PLUS_ONE = ("n1", "n2")
#: Metrics whose published raw value sums in- and out-edges: 2 x ours.
DOUBLED = ("strength",)


def check_conventions(conventions: Any) -> str:
    """Validate a ``conventions`` argument (``"ours"`` or ``"published"``)."""
    if conventions not in CONVENTIONS:
        raise InputError(f"conventions must be 'ours' or 'published', got {conventions!r}")
    return str(conventions)


def published_graph(graph: Any) -> Any:
    """``graph`` with its weights rounded to float16 (their absolute values are what the metrics use).

    A :class:`~topometrics.prepared.PreparedGraph` whose weights are already float16
    values is returned as is; otherwise a new graph object shares the edge arrays
    and holds the rounded weights (4 bytes per edge; a PreparedGraph's cached
    structures are rebuilt).  An MGE from :func:`encoders.encode` must have been
    encoded with ``pad_nodes=True``.

    Raises
    ------
    topocore.errors.InputError
        An MGE encoded without padding nodes (the published graphs have them).
    """
    from encoders.bipartite import BipartiteGraph
    from encoders.graph import MultipartiteGraph

    from .prepared import PreparedGraph

    base = graph.graph if isinstance(graph, PreparedGraph) else graph
    if isinstance(base, MultipartiteGraph) and base.meta.get("encoding") == "mge" and not base.meta.get("pad_nodes"):
        raise InputError(
            "conventions='published' needs the MGE encoded with the first layer's padding positions as nodes; "
            "encode with encoders.encode(..., pad_nodes=True) (CLI: topometrics encode --conventions published)"
        )
    weight = base.weight
    rounded = _float16(weight)
    if np.array_equal(rounded, weight):
        return graph
    if isinstance(base, BipartiteGraph):
        import dataclasses

        return dataclasses.replace(base, weight=rounded)
    if isinstance(base, MultipartiteGraph):
        out = MultipartiteGraph.__new__(MultipartiteGraph)
        out.__dict__.update(base.__dict__)
        out.weight = rounded
        out.meta = {**base.meta, "weights": "float16"}
        if isinstance(graph, PreparedGraph):
            return PreparedGraph(out, n_threads=graph.n_threads)
        return out
    raise TypeError(f"expected a MultipartiteGraph, BipartiteGraph or PreparedGraph, got {type(base).__name__}")


def _float16(weight: np.ndarray) -> np.ndarray:
    """``float32(float16(w))`` elementwise, as the authors stored their edge weights."""
    with np.errstate(over="ignore"):
        return np.asarray(weight).astype(np.float16).astype(np.float32)


def to_published(values: dict[str, float]) -> dict[str, float]:
    """Raw values computed on a published-conventions graph, in published conventions.

    ``n1`` and ``n2`` + 1 (the node itself), ``strength`` x 2 (in- plus out-edges);
    NaN stays NaN.  Other metrics are unchanged.
    """
    out = dict(values)
    for name in PLUS_ONE:
        if name in out and not math.isnan(out[name]):
            out[name] = out[name] + 1.0
    for name in DOUBLED:
        if name in out:
            out[name] = 2.0 * out[name]
    return out
