"""The :class:`MultipartiteGraph` container produced by :func:`encoders.encode`.

A multipartite graph encoding (MGE) of a sparse network is stored as flat numpy
arrays, never as per-edge Python objects, so that graphs with 10^8 edges fit in a
few GB:

``src``, ``dst``
    Integer node ids of each directed edge (``int32`` while the node count fits
    in it, ``int64`` beyond).
``weight``
    ``float32`` signed weight of each edge (the value of the weight tap, no
    rounding).
``edge_layer``
    ``int32`` index into :attr:`MultipartiteGraph.layers` of the layer that
    produced the edge.

Nodes are grouped in :class:`Partition` objects.  Partition 0 is the network input;
every other partition is the output of a weighted layer (conv or linear) in
topological order.  The id of a node is ``partition.offset + flat_index`` where
``flat_index`` is the row-major index into the partition's activation tensor of
shape ``partition.shape`` (``(C, H, W)`` or ``(F,)``), i.e. the order used by
``torch.flatten``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from topocore.errors import DataNotFoundError, InputError, ResourceLimitError
from topocore.io import atomic_write

__all__ = ["Partition", "LayerInfo", "MultipartiteGraph", "GraphTooLargeError", "node_dtype"]

FORMAT_VERSION = 1
INT32_MAX = np.iinfo(np.int32).max


class GraphTooLargeError(ResourceLimitError):
    """Raised when a conversion would build per-node/per-edge Python objects for a huge graph."""


def node_dtype(num_nodes: int) -> np.dtype:
    """Return the node-id dtype for a graph with ``num_nodes`` nodes (int32 if it fits, else int64)."""
    return np.dtype(np.int32) if num_nodes <= INT32_MAX else np.dtype(np.int64)


@dataclass(frozen=True)
class Partition:
    """One block of nodes of the multipartite graph: an activation tensor.

    Attributes
    ----------
    name : str
        Name of the tensor (``"input"`` for partition 0, else the producing layer or
        the residual addition that the layer writes into).
    shape : tuple of int
        Activation shape without the batch dimension, ``(C, H, W)`` or ``(F,)``.
    offset : int
        Node id of the first element.
    size : int
        Number of nodes, ``prod(shape)``.
    """

    name: str
    shape: tuple[int, ...]
    offset: int
    size: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if int(np.prod(self.shape, dtype=np.int64)) != self.size:
            raise InputError(
                f"partition {self.name!r}: size {self.size} != prod(shape {self.shape}); give size = prod(shape)"
            )
        if self.offset < 0:
            raise InputError(f"partition {self.name!r}: negative offset {self.offset}; offsets start at 0")

    @property
    def stop(self) -> int:
        """One past the last node id of this partition."""
        return self.offset + self.size

    def node_ids(self, dtype: Any = np.int64) -> np.ndarray:
        """Node ids of this partition as an array of shape :attr:`shape`."""
        return np.arange(self.offset, self.stop, dtype=dtype).reshape(self.shape)


@dataclass(frozen=True)
class LayerInfo:
    """A producer of edges.

    Attributes
    ----------
    name : str
        Module path of the layer in the model (e.g. ``"layer1.0.conv1"``), or a
        descriptive name for edges that no module owns (an identity shortcut).
    kind : str
        ``"conv"``, ``"linear"`` or ``"identity"`` (identity / option-A shortcut).
    in_partitions : tuple of int
        Indices of the partitions the layer reads (several after ``torch.cat``).
    out_partition : int
        Index of the partition the layer writes.
    param : str or None
        Name of the weight parameter (``"layer1.0.conv1.weight"``), None for
        identity edges.
    extra : dict
        Free-form description (kernel size, stride, folded pooling, ...).
    """

    name: str
    kind: str
    in_partitions: tuple[int, ...]
    out_partition: int
    param: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_partitions", tuple(int(p) for p in self.in_partitions))


class MultipartiteGraph:
    """Directed, weighted multipartite graph of a sparse network (see module docstring).

    Parameters
    ----------
    src, dst : array-like of int
        Edge endpoints (node ids).
    weight : array-like of float
        Signed edge weights, stored as float32.
    edge_layer : array-like of int
        Producing layer of each edge (index into ``layers``).
    partitions : sequence of Partition
        Node blocks; offsets must be contiguous starting at 0.
    layers : sequence of LayerInfo
        Edge producers.
    meta : dict, optional
        JSON-serialisable metadata (architecture, input shape, ...).
    validate : bool
        Check array shapes, dtypes and id ranges (O(E)).
    """

    def __init__(
        self,
        src: np.ndarray,
        dst: np.ndarray,
        weight: np.ndarray,
        edge_layer: np.ndarray,
        partitions: Sequence[Partition],
        layers: Sequence[LayerInfo] = (),
        meta: dict | None = None,
        *,
        validate: bool = True,
    ) -> None:
        self.partitions: list[Partition] = list(partitions)
        self.layers: list[LayerInfo] = list(layers)
        self.meta: dict = dict(meta or {})
        n = self.num_nodes
        idt = node_dtype(n)
        self.src = np.ascontiguousarray(src, dtype=idt)
        self.dst = np.ascontiguousarray(dst, dtype=idt)
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)
        self.edge_layer = np.ascontiguousarray(edge_layer, dtype=np.int32)
        if validate:
            self.validate()

    # ------------------------------------------------------------------ sizes
    @property
    def num_nodes(self) -> int:
        """Total number of nodes (sum of partition sizes)."""
        if not self.partitions:
            return 0
        return int(self.partitions[-1].stop)

    @property
    def num_edges(self) -> int:
        """Number of directed edges."""
        return int(self.src.shape[0])

    @property
    def partition_offsets(self) -> np.ndarray:
        """``int64`` array of length ``len(partitions) + 1`` with partition boundaries."""
        return np.array([p.offset for p in self.partitions] + [self.num_nodes], dtype=np.int64)

    def partition_of(self, nodes: np.ndarray | int) -> np.ndarray | int:
        """Index of the partition each node id belongs to."""
        off = self.partition_offsets
        out = np.searchsorted(off, np.asarray(nodes), side="right") - 1
        return int(out) if np.ndim(out) == 0 else out

    # ------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check structural invariants; raise :class:`~topocore.errors.InputError` naming the broken one."""
        off = 0
        for i, p in enumerate(self.partitions):
            if p.offset != off:
                raise InputError(
                    f"partition {i} ({p.name!r}) has offset {p.offset}, expected {off}; partitions must be "
                    "contiguous (build them with concat_partitions)"
                )
            off = p.stop
        m = self.src.shape
        for name in ("dst", "weight", "edge_layer"):
            arr = getattr(self, name)
            if arr.ndim != 1 or arr.shape != m:
                raise InputError(f"{name} has shape {arr.shape}, expected {m} like src; pass 1-D edge arrays of one length")
        n = self.num_nodes
        if self.num_edges:
            for name in ("src", "dst"):
                arr = getattr(self, name)
                lo, hi = int(arr.min()), int(arr.max())
                if lo < 0 or hi >= n:
                    raise InputError(
                        f"{name} holds node ids in [{lo}, {hi}] outside [0, {n}); node ids must index the partitions' nodes"
                    )
            lo, hi = int(self.edge_layer.min()), int(self.edge_layer.max())
            if lo < 0 or (self.layers and hi >= len(self.layers)):
                raise InputError(
                    f"edge_layer holds {lo}..{hi} but there are {len(self.layers)} layers; give one LayerInfo per layer index"
                )
        for i, layer in enumerate(self.layers):
            for pi in (*layer.in_partitions, layer.out_partition):
                if not 0 <= pi < len(self.partitions):
                    raise InputError(
                        f"layer {i} ({layer.name!r}) refers to missing partition {pi}; there are "
                        f"{len(self.partitions)} partitions"
                    )

    # ----------------------------------------------------------- conversions
    def to_scipy(self, *, weighted: bool = True, fmt: str = "csr") -> sp.spmatrix:
        """Directed adjacency matrix ``M[u, v] = |w_uv|`` (or 1 if ``weighted=False``).

        Returns an ``N x N`` scipy sparse matrix in ``fmt`` (``"csr"`` by default).
        Parallel edges, if any, are summed.  O(E log E) memory-light construction.
        """
        n = self.num_nodes
        data = np.abs(self.weight) if weighted else np.ones(self.num_edges, dtype=np.float32)
        mat = sp.coo_matrix((data, (self.src, self.dst)), shape=(n, n))
        return mat.asformat(fmt)

    def to_igraph(self, *, weighted: bool = True):
        """Directed :class:`igraph.Graph` with edge attribute ``weight`` (signed) and ``layer``.

        Vertex attribute ``partition`` holds each node's partition index.  igraph
        stores edges in C; the conversion passes the edge list as one array.
        """
        import igraph as ig

        edges = np.column_stack([self.src, self.dst]).astype(np.int64, copy=False)
        g = ig.Graph(n=self.num_nodes, edges=edges, directed=True)
        if weighted:
            g.es["weight"] = self.weight.astype(np.float64).tolist()
        g.es["layer"] = self.edge_layer.tolist()
        part = np.repeat(np.arange(len(self.partitions)), [p.size for p in self.partitions])
        g.vs["partition"] = part.tolist()
        return g

    def to_networkx(self, *, max_edges: int = 2_000_000, max_nodes: int = 2_000_000):
        """Directed :class:`networkx.DiGraph` with ``weight``, ``layer`` edge and ``partition`` node attributes.

        networkx stores every node and edge as Python objects (~500 bytes each),
        so graphs with more than ``max_edges`` edges or ``max_nodes`` nodes are
        refused with :class:`GraphTooLargeError`; raise the limits explicitly if
        you have the memory, or use :meth:`to_scipy` / :meth:`to_igraph`.
        Parallel edges, if any, are merged (last weight wins), as in ``DiGraph``.
        """
        if self.num_edges > max_edges or self.num_nodes > max_nodes:
            raise GraphTooLargeError(
                f"graph has {self.num_nodes:,} nodes and {self.num_edges:,} edges, above the networkx "
                f"limit (max_nodes={max_nodes:,}, max_edges={max_edges:,}); use to_scipy() or "
                "to_igraph() for large graphs, or pass larger max_nodes/max_edges"
            )
        import networkx as nx

        g = nx.DiGraph()
        for pi, p in enumerate(self.partitions):
            g.add_nodes_from(range(p.offset, p.stop), partition=pi)
        g.add_weighted_edges_from(
            zip(self.src.tolist(), self.dst.tolist(), self.weight.astype(np.float64).tolist())
        )
        for u, v, layer in zip(self.src.tolist(), self.dst.tolist(), self.edge_layer.tolist()):
            g.edges[u, v]["layer"] = layer
        return g

    # ----------------------------------------------------------- persistence
    def _metadata(self) -> dict:
        return {
            "format": "topometrics.MultipartiteGraph",
            "format_version": FORMAT_VERSION,
            "partitions": [asdict(p) for p in self.partitions],
            "layers": [asdict(layer) for layer in self.layers],
            "meta": self.meta,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the graph to ``path`` (a compressed ``.npz`` holding the arrays and a JSON header).

        The file is written to a temporary name and renamed, so an interrupted save
        never leaves a truncated file behind.  Returns the final path (``.npz`` is
        appended if missing).
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        header = json.dumps(self._metadata())
        return atomic_write(
            path,
            lambda fh: np.savez_compressed(
                fh,
                src=self.src,
                dst=self.dst,
                weight=self.weight,
                edge_layer=self.edge_layer,
                header=np.frombuffer(header.encode("utf-8"), dtype=np.uint8),
            ),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MultipartiteGraph":
        """Read a graph written by :meth:`save`.

        Raises :class:`~topocore.errors.DataNotFoundError` (a ``FileNotFoundError``) for a
        missing file and :class:`~topocore.errors.InputError` (a ``ValueError``) for a
        foreign, corrupt or newer-format file.
        """
        path = Path(path)
        if not path.exists():
            raise DataNotFoundError(f"no graph file at {path}; give the .npz path written by MultipartiteGraph.save")
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(bytes(z["header"]).decode("utf-8"))
                arrays = {k: z[k] for k in ("src", "dst", "weight", "edge_layer")}
        except (KeyError, ValueError, OSError, EOFError, json.JSONDecodeError) as exc:
            raise InputError(
                f"{path} is not a graph saved by MultipartiteGraph.save (corrupt or foreign file: {exc}); "
                "re-create it with topometrics encode or MultipartiteGraph.save"
            ) from exc
        if header.get("format") != "topometrics.MultipartiteGraph":
            raise InputError(
                f"{path} is not a topometrics MultipartiteGraph file; give a graph written by MultipartiteGraph.save"
            )
        if header.get("format_version", 0) > FORMAT_VERSION:
            raise InputError(
                f"{path} was written by a newer topometrics (format {header['format_version']}); upgrade topometrics"
            )
        try:
            parts = [Partition(p["name"], tuple(p["shape"]), p["offset"], p["size"]) for p in header["partitions"]]
            layers = [
                LayerInfo(
                    l["name"], l["kind"], tuple(l["in_partitions"]), l["out_partition"], l.get("param"), l.get("extra", {})
                )
                for l in header["layers"]
            ]
            return cls(**arrays, partitions=parts, layers=layers, meta=header.get("meta", {}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, InputError):
                detail = str(exc)
            elif isinstance(exc, KeyError):
                detail = f"its header lacks {exc.args[0]!r}" if exc.args else "its header is incomplete"
            else:
                detail = f"its header or arrays are inconsistent: {exc}"
            raise InputError(
                f"{path} is a damaged graph file ({detail}); re-create it with topometrics encode -o or "
                "MultipartiteGraph.save"
            ) from None

    # --------------------------------------------------------------- helpers
    def degrees(self) -> tuple[np.ndarray, np.ndarray]:
        """``(in_degree, out_degree)`` as int64 arrays of length N (parallel edges counted)."""
        n = self.num_nodes
        return (
            np.bincount(self.dst, minlength=n).astype(np.int64, copy=False),
            np.bincount(self.src, minlength=n).astype(np.int64, copy=False),
        )

    def layer_edges(self, layer: int | str) -> np.ndarray:
        """Indices of the edges produced by ``layer`` (index or name)."""
        if isinstance(layer, str):
            names = [l.name for l in self.layers]
            if layer not in names:
                raise KeyError(f"no layer named {layer!r}; layers are {names}")
            layer = names.index(layer)
        return np.flatnonzero(self.edge_layer == layer)

    def summary(self) -> str:
        """Human-readable table of partitions and layers."""
        lines = [f"MultipartiteGraph: {self.num_nodes:,} nodes, {self.num_edges:,} edges"]
        counts = np.bincount(self.edge_layer, minlength=len(self.layers)) if self.layers else []
        lines.append("partitions:")
        for i, p in enumerate(self.partitions):
            lines.append(f"  [{i:3d}] {p.name:<32s} shape={str(p.shape):<16s} nodes={p.size:,}")
        lines.append("layers:")
        for i, layer in enumerate(self.layers):
            ins = ",".join(str(x) for x in layer.in_partitions)
            lines.append(
                f"  [{i:3d}] {layer.name:<32s} {layer.kind:<8s} {ins:>7s} -> {layer.out_partition:<3d} "
                f"edges={int(counts[i]):,}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"MultipartiteGraph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
            f"partitions={len(self.partitions)}, layers={len(self.layers)})"
        )

    def __eq__(self, other: object) -> bool:  # structural equality, used by tests and round trips
        if not isinstance(other, MultipartiteGraph):
            return NotImplemented
        return (
            self.partitions == other.partitions
            and [asdict(a) for a in self.layers] == [asdict(b) for b in other.layers]
            and np.array_equal(self.src, other.src)
            and np.array_equal(self.dst, other.dst)
            and np.array_equal(self.weight, other.weight)
            and np.array_equal(self.edge_layer, other.edge_layer)
        )

    __hash__ = None  # mutable arrays: not hashable


def concat_partitions(shapes: Iterable[tuple[str, tuple[int, ...]]]) -> list[Partition]:
    """Build contiguous :class:`Partition` objects from ``(name, shape)`` pairs."""
    parts, off = [], 0
    for name, shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        parts.append(Partition(name, tuple(shape), off, size))
        off += size
    return parts
