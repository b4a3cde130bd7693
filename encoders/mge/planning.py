"""Edge planning: final node numbering, edge counts, and filling the edge arrays.

:func:`build` numbers the alive partitions in topological order
(:func:`~encoders.mge.toposort.partition_order`), maps provisional node ids to final
ones, and makes a *plan* per job: its edge count and a ``fill(src, dst, wt)`` closure
writing its edges into a slice.  With the counts known, one array of each kind is
allocated for the whole graph and every plan fills its slice in place (numba kernels
of :mod:`encoders._kernels`), so peak memory is the final arrays plus O(N + nnz(W)).

Convolutions whose inputs are plain nodes, each read once, use the direct kernels
(closed-form counts); inputs that are pooled windows or nodes read twice (reflect
padding, a node duplicated by re-indexing) go through the list kernels, which merge
parallel edges when needed.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import torch

from .. import _kernels as K
from ..graph import LayerInfo, MultipartiteGraph, Partition, node_dtype
from .partitions import ConvJob, IdentityJob, PartitionTable, partitions_of
from .toposort import partition_order

__all__ = ["build"]


def build(table: PartitionTable, meta: dict, count_only: bool = False) -> Any:
    """Number the partitions, plan every job and fill the edge arrays.

    Returns the :class:`MultipartiteGraph` (``meta`` is stored as its metadata), or with
    ``count_only`` the pair ``(partitions, [(LayerInfo, edge count), ...])`` without
    allocating any edge array.
    """
    order = partition_order(table)
    final_index = {pi: k for k, pi in enumerate(order)}
    remap = np.full(table.prov_total, -1, dtype=np.int64)
    names_seen: dict[str, int] = {}
    partitions: list[Partition] = []
    off = 0
    for pi in order:
        p = table.parts[pi]
        remap[p.prov_off : p.prov_off + p.size] = np.arange(off, off + p.size, dtype=np.int64)
        name = p.name
        if name in names_seen:
            names_seen[name] += 1
            name = f"{name}_{names_seen[name]}"
        else:
            names_seen[name] = 0
        partitions.append(Partition(name, p.shape, off, p.size))
        off += p.size
    n_nodes = off
    bounds = np.array([q.offset for q in partitions] + [n_nodes], dtype=np.int64)
    idt = node_dtype(n_nodes)

    plans = []
    for job in table.jobs:
        if isinstance(job, ConvJob):
            plans.append(_plan_conv(table, job, remap, bounds, final_index))
        else:
            plans.append(_plan_identity(table, job, remap, bounds, final_index))
    total = int(sum(p["count"] for p in plans))
    if count_only:
        return partitions, [(plan["layer"], int(plan["count"])) for plan in plans]
    src = np.empty(total, dtype=idt)
    dst = np.empty(total, dtype=idt)
    wt = np.empty(total, dtype=np.float32)
    edge_layer = np.empty(total, dtype=np.int32)
    layers = []
    start = 0
    for li, plan in enumerate(plans):
        stop = start + plan["count"]
        plan["fill"](src[start:stop], dst[start:stop], wt[start:stop])
        edge_layer[start:stop] = li
        layers.append(plan["layer"])
        start = stop
    return MultipartiteGraph(src, dst, wt, edge_layer, partitions, layers, meta, validate=False)


def _plan_conv(table: PartitionTable, job: ConvJob, remap, bounds, final_index) -> dict:
    """Edge count and fill closure of a convolution or linear layer."""
    g = job.geom
    cout, groups = g["Cout"], g["groups"]
    cin_g, cout_g = g["Cin"] // groups, cout // groups
    mask = job.weight.mask.numpy().reshape(cout, cin_g, g["kh"], g["kw"])
    values = job.weight.weight.detach().to(torch.float32).cpu().numpy().reshape(mask.shape)
    if job.scale != 1.0:  # learned scalar gates on the input (encoders.mge.gates); a zero gate removes the edges
        values = (values.astype(np.float64) * job.scale).astype(np.float32)
        if job.scale == 0.0:
            mask = np.zeros_like(mask)
    co, ci, ky, kx = np.nonzero(mask)
    tap_w = np.ascontiguousarray(values[mask], dtype=np.float32)
    tap_ptr = np.zeros(cout + 1, dtype=np.int64)
    np.cumsum(np.bincount(co, minlength=cout), out=tap_ptr[1:])
    ci = ci.astype(np.int64)
    ky = ky.astype(np.int64)
    kx = kx.astype(np.int64)
    del co
    out_part = final_index[job.out_part]
    eptr, prov_nodes = table.job_inputs(job)
    geo = (g["H"], g["W"], cin_g, cout_g, g["Ho"], g["Wo"], g["sh"], g["sw"], g["ph"], g["pw"], g["dh"], g["dw"])
    out_off = int(bounds[out_part])
    direct = eptr is None
    if direct:
        ids = remap[prov_nodes]
        direct = np.unique(ids).size == ids.size
        if not direct:
            eptr, prov_nodes = table.expand(job.codes)
    if direct:
        vy = K.valid_positions(g["H"], g["Ho"], g["kh"], g["sh"], g["ph"], g["dh"])
        vx = K.valid_positions(g["W"], g["Wo"], g["kw"], g["sw"], g["pw"], g["dw"])
        counts = K.direct_counts(tap_ptr, ky, kx, vy, vx)
        in_nodes = ids
        merged = False

        def fill(src, dst, wt):
            starts = _exclusive_cumsum(counts)
            K.conv_direct_fill(ids, *geo, tap_ptr, ci, ky, kx, tap_w, out_off, starts, src, dst, wt)

    else:
        fin = remap[prov_nodes]
        loc2glob, local = np.unique(fin, return_inverse=True)
        local = local.astype(np.int64).reshape(-1)
        dedup = loc2glob.size < fin.size
        nchunk = max(1, min(cout, 4 * numba.get_num_threads()))
        if dedup:
            counts = np.zeros(cout, dtype=np.int64)
            K.conv_lists_count(eptr, local, max(loc2glob.size, 1), *geo, tap_ptr, ci, ky, kx, dedup, nchunk, counts)
        else:
            counts = K.lists_counts(np.diff(eptr), g, tap_ptr, ci, ky, kx)
        in_nodes = loc2glob
        merged = dedup

        def fill(src, dst, wt):
            starts = _exclusive_cumsum(counts)
            K.conv_lists_fill(
                eptr, local, loc2glob.astype(np.int64), *geo, tap_ptr, ci, ky, kx, tap_w, dedup, nchunk,
                out_off, starts, src, dst, wt,
            )

    in_parts = partitions_of(in_nodes, bounds)
    extra = dict(job.extra)
    extra["density"] = float(mask.mean()) if mask.size else 0.0
    extra["merged_parallel_edges"] = merged
    if job.scale != 1.0:
        extra["gate"] = float(job.scale)
    layer = LayerInfo(job.name, job.kind, in_parts, out_part, job.param, extra)
    return {"count": int(counts.sum()), "fill": fill, "layer": layer}


def _plan_identity(table: PartitionTable, job: IdentityJob, remap, bounds, final_index) -> dict:
    """Edges of an identity shortcut (weight 1; repeated pairs from pooled sources merged)."""
    out_part = final_index[job.out_part]
    out_off = int(bounds[out_part])
    eptr, prov_nodes = table.job_inputs(job)
    lens = np.diff(eptr)
    s = remap[prov_nodes]
    d = np.repeat(np.arange(job.codes.size, dtype=np.int64), lens) + out_off
    w = np.ones(s.size, dtype=np.float32)
    if lens.size and lens.max(initial=0) > 1:  # pooled sources: merge repeated (src, dst)
        n = max(int(bounds[-1]), 1)
        keys, counts = np.unique(d * n + s, return_counts=True)
        d, s, w = keys // n, keys % n, counts.astype(np.float32)
    extra = dict(job.extra)
    if job.weight != 1.0:  # the learned scalar gate of the branch (encoders.mge.gates)
        w = (w.astype(np.float64) * job.weight).astype(np.float32)
        extra["gate"] = float(job.weight)
        if job.weight == 0.0:  # a zero gate removes the edges
            s, d, w = s[:0], d[:0], w[:0]
    layer = LayerInfo(job.name, "identity", partitions_of(s, bounds), out_part, None, extra)

    def fill(src, dst, wt):
        src[:] = s
        dst[:] = d
        wt[:] = w

    return {"count": int(s.size), "fill": fill, "layer": layer}


def _exclusive_cumsum(counts: np.ndarray) -> np.ndarray:
    starts = np.zeros(counts.size, dtype=np.int64)
    if counts.size > 1:
        np.cumsum(counts[:-1], out=starts[1:])
    return starts

