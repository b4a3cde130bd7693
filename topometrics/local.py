"""Local connectivity topometrics: sink, source and disconnected nodes, removable connections.

All five are computed from the in- and out-degrees of the directed MGE ``G`` in
O(N + E) time (Cunegatti et al., TMLR 2024, section 3.3, "Local Connectivity").
Degrees count every directed edge.  Partition 0 is the network input and the last
partition the network output; their nodes are excluded from ``source`` and
``sink`` respectively, since inputs have no incoming and outputs no outgoing
edges by construction.
"""

from __future__ import annotations

import numpy as np

from .prepared import PreparedGraph, prepare

__all__ = ["sink", "source", "disconnected", "r_out", "r_in", "sink_mask", "source_mask"]


def _boundaries(pg: PreparedGraph) -> tuple[int, int]:
    """(end of partition 0, start of the last partition) as node ids."""
    off = pg.partition_offsets
    if len(off) < 2:
        return 0, 0
    return int(off[1]), int(off[-2])


def sink_mask(graph) -> np.ndarray:
    """Boolean array: nodes outside the last partition with out-degree 0 and in-degree > 0."""
    pg = prepare(graph)
    if "sink_mask" not in pg.cache:
        indeg, outdeg = pg.degrees()
        _, last_start = _boundaries(pg)
        mask = (outdeg == 0) & (indeg > 0)
        mask[last_start:] = False
        pg.cache["sink_mask"] = mask
    return pg.cache["sink_mask"]


def source_mask(graph) -> np.ndarray:
    """Boolean array: nodes outside partition 0 with in-degree 0 and out-degree > 0."""
    pg = prepare(graph)
    if "source_mask" not in pg.cache:
        indeg, outdeg = pg.degrees()
        first_end, _ = _boundaries(pg)
        mask = (indeg == 0) & (outdeg > 0)
        mask[:first_end] = False
        pg.cache["source_mask"] = mask
    return pg.cache["source_mask"]


def sink(graph) -> int:
    """Number of sink nodes.

    Definition: nodes outside the last partition with out-degree 0 and in-degree > 0
    (they receive a signal that reaches no output).  Complexity O(N + E).
    Reference: Cunegatti et al. 2024, Table 2 ("sink").
    """
    return int(np.count_nonzero(sink_mask(graph)))


def source(graph) -> int:
    """Number of source nodes.

    Definition: nodes outside partition 0 (the input) with in-degree 0 and
    out-degree > 0 (they feed the network a constant that depends on no input).
    Complexity O(N + E).  Reference: Cunegatti et al. 2024, Table 2 ("source").
    """
    return int(np.count_nonzero(source_mask(graph)))


def disconnected(graph) -> int:
    """Number of disconnected nodes: in-degree = out-degree = 0, in any partition.

    Complexity O(N + E).  Reference: Cunegatti et al. 2024, Table 2 ("disc.").
    """
    indeg, outdeg = prepare(graph).degrees()
    return int(np.count_nonzero((indeg == 0) & (outdeg == 0)))


def r_out(graph) -> float:
    """Removable outgoing connections: (sum of out-degrees of the source nodes) / E.

    These edges carry no input-dependent signal.  0.0 for a graph without edges.
    Complexity O(N + E).  Reference: Cunegatti et al. 2024, section 3.3, item 4.
    """
    pg = prepare(graph)
    if pg.num_edges == 0:
        return 0.0
    _, outdeg = pg.degrees()
    return float(outdeg[source_mask(pg)].sum()) / pg.num_edges


def r_in(graph) -> float:
    """Removable incoming connections: (sum of in-degrees of the sink nodes) / E.

    These edges carry a signal that never reaches the output.  0.0 for a graph
    without edges.  Complexity O(N + E).  Reference: Cunegatti et al. 2024,
    section 3.3, item 5.
    """
    pg = prepare(graph)
    if pg.num_edges == 0:
        return 0.0
    indeg, _ = pg.degrees()
    return float(indeg[sink_mask(pg)].sum()) / pg.num_edges
