"""Partition bookkeeping of the encoder: provisional partitions, layer jobs, pooled windows.

While the interpreter walks the traced graph, partitions are *provisional*: each has a
block of provisional node ids (``prov_off .. prov_off + size``); a residual addition
can merge a fresh weighted output into another partition (the merged one is then
dead).  Weighted layers and identity shortcuts record a *job* (what to read, which
partition to write).  Code tensors refer to provisional node ids (``node + 1``) or to
entries of the *pooled-window table* (``-(k + 1)``: a list of node ids, the pooling
window of one output element); :meth:`PartitionTable.expand` turns codes into CSR
lists of node ids.  :mod:`encoders.mge.toposort` and :mod:`encoders.mge.planning` then
number the alive partitions and build the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..masks import MaskedWeight

__all__ = ["Part", "ConvJob", "IdentityJob", "PartitionTable", "ranges", "partitions_of"]


@dataclass
class Part:
    """A provisional partition: name, activation shape (no batch), first provisional id."""

    name: str
    shape: tuple[int, ...]
    prov_off: int
    alive: bool = True

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class ConvJob:
    """A weighted layer (``"conv"`` or ``"linear"``): reads ``codes``, writes partition ``out_part``."""

    name: str
    kind: str  # "conv" | "linear"
    param: str
    weight: MaskedWeight
    codes: np.ndarray  # flat int64 codes of the (Cin, H, W) input, after pre-padding
    geom: dict
    out_part: int
    extra: dict = field(default_factory=dict)
    scale: float = 1.0  # learned scalar gate(s) multiplying the weights (0: no edges)


@dataclass
class IdentityJob:
    """A parameter-free residual shortcut: element ``i`` of ``codes`` feeds node ``i`` of ``out_part``."""

    name: str
    codes: np.ndarray  # flat int64 codes, one per output element
    out_part: int
    extra: dict = field(default_factory=dict)
    weight: float = 1.0  # edge weight: 1, or the learned scalar gate of the branch


class PartitionTable:
    """Provisional partitions, the jobs that write into them and the pooled-window table."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.prov_total = 0
        self.jobs: list[ConvJob | IdentityJob] = []
        self._pool_ptr_chunks: list[np.ndarray] = [np.zeros(1, np.int64)]
        self._pool_node_chunks: list[np.ndarray] = []
        self._pool_count = 0
        self._pool_cache: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ partitions
    def new_partition(self, name: str, shape: tuple[int, ...]) -> int:
        """Append a provisional partition; return its index."""
        part = Part(name, tuple(int(s) for s in shape), self.prov_total)
        self.parts.append(part)
        self.prov_total += part.size
        return len(self.parts) - 1

    def identity_code(self, pidx: int) -> torch.Tensor:
        """Code tensor (batch 1) whose element ``i`` is node ``i`` of partition ``pidx``."""
        p = self.parts[pidx]
        return torch.arange(p.prov_off + 1, p.prov_off + p.size + 1, dtype=torch.int64).view(1, *p.shape)

    def merge(self, src: int, dst: int) -> None:
        """Partition ``src`` (fresh, unconsumed) is the same tensor as ``dst``: retarget its producers."""
        if self.parts[src].shape != self.parts[dst].shape:  # pragma: no cover - guarded by the shape check
            raise RuntimeError("internal error of the encoder: merging partitions of different shapes")
        for job in self.jobs:
            if job.out_part == src:
                job.out_part = dst
        self.parts[src].alive = False

    def prov_bounds(self) -> np.ndarray:
        """First provisional id of every partition (dead ones included), then the total."""
        return np.array([p.prov_off for p in self.parts] + [self.prov_total], dtype=np.int64)

    # ------------------------------------------------------------------ pooled windows
    def _pool_table(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pool_cache is None:
            ptr = np.concatenate(self._pool_ptr_chunks)
            nodes = np.concatenate(self._pool_node_chunks) if self._pool_node_chunks else np.zeros(0, np.int64)
            self._pool_cache = (ptr, nodes)
        return self._pool_cache

    def expand(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR lists of provisional node ids, one list per code."""
        codes = np.asarray(codes, dtype=np.int64).ravel()
        n = codes.size
        lens = np.zeros(n, dtype=np.int64)
        pos = codes > 0
        neg = codes < 0
        lens[pos] = 1
        if neg.any():
            ptr, nodes = self._pool_table()
            k = -codes[neg] - 1
            lens[neg] = ptr[k + 1] - ptr[k]
        eptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=eptr[1:])
        enodes = np.empty(int(eptr[-1]), dtype=np.int64)
        enodes[eptr[:-1][pos]] = codes[pos] - 1
        if neg.any():
            lneg = lens[neg]
            enodes[ranges(eptr[:-1][neg], lneg)] = nodes[ranges(ptr[k], lneg)]
        return eptr, enodes

    def add_pooled(self, eptr: np.ndarray, enodes: np.ndarray) -> np.ndarray:
        """Append node lists to the pooling table; return their (negative) codes."""
        m = eptr.size - 1
        base = self._pool_count
        last = self._pool_ptr_chunks[-1][-1]
        self._pool_ptr_chunks.append(last + eptr[1:])
        self._pool_node_chunks.append(enodes)
        self._pool_count += m
        self._pool_cache = None
        return -(base + np.arange(m, dtype=np.int64)) - 1

    # ------------------------------------------------------------------ jobs
    def job_inputs(self, job: ConvJob | IdentityJob) -> tuple[np.ndarray | None, np.ndarray]:
        """``(eptr, provisional nodes)`` read by a job; ``eptr`` is None when every code is one node."""
        cached = getattr(job, "_inputs", None)
        if cached is None:
            codes = job.codes
            if isinstance(job, ConvJob) and codes.size and bool((codes > 0).all()):
                cached = (None, codes - 1)
            else:
                cached = self.expand(codes)
            job._inputs = cached  # type: ignore[union-attr]
        return cached


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for each pair."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.zeros(lengths.size, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offs[1:])
    return np.repeat(np.asarray(starts, dtype=np.int64) - offs, lengths) + np.arange(total, dtype=np.int64)


def partitions_of(nodes: np.ndarray, bounds: np.ndarray) -> tuple[int, ...]:
    """Sorted indices of the partitions (``bounds``: first id of each, then the total) holding ``nodes``."""
    if nodes.size == 0:
        return ()
    parts = np.unique(np.searchsorted(bounds, np.unique(nodes), side="right") - 1)
    return tuple(int(p) for p in parts)
