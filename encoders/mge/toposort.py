"""Topological order of the partitions: the order in which they are numbered.

A partition depends on every partition a job writing into it reads from.  The order
is Kahn's algorithm with a heap, so that among partitions ready at the same time the
one created first (dataflow order of the trace) comes first; the input partition is
therefore always partition 0.  O(P log P + total job input size).
"""

from __future__ import annotations

import heapq

from .partitions import PartitionTable, partitions_of

__all__ = ["partition_order"]


def partition_order(table: PartitionTable) -> list[int]:
    """Alive provisional partitions in a topological order of the layer DAG (ties: creation order)."""
    prov_bounds = table.prov_bounds()
    alive = [i for i, p in enumerate(table.parts) if p.alive]
    deps: dict[int, set[int]] = {i: set() for i in alive}
    for job in table.jobs:
        _, nodes = table.job_inputs(job)
        for q in partitions_of(nodes, prov_bounds):
            if q != job.out_part:
                deps[job.out_part].add(q)
    users: dict[int, list[int]] = {i: [] for i in alive}
    for i, ds in deps.items():
        for q in ds:
            users[q].append(i)
    indeg = {i: len(ds) for i, ds in deps.items()}
    heap = [i for i in alive if indeg[i] == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        i = heapq.heappop(heap)
        order.append(i)
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, u)
    if len(order) != len(alive):  # pragma: no cover - cannot happen for a traced DAG
        raise RuntimeError("internal error of the encoder: the partition graph has a cycle")
    return order
