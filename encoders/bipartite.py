"""The :class:`BipartiteGraph` container: one layer's rolled graph encoding.

:func:`encoders.rolled` and :func:`encoders.rolled_channel` return one of these per
weighted layer.  Left nodes are ``0 .. n_left - 1``, right nodes ``0 .. n_right - 1``;
edges are stored as parallel numpy arrays (left index, right index, weight).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from topocore.errors import InputError

from .graph import LayerInfo, MultipartiteGraph, Partition

__all__ = ["BipartiteGraph"]


@dataclass
class BipartiteGraph:
    """Directed bipartite graph (left -> right) of one weighted layer.

    Attributes
    ----------
    name : str
        Module path of the layer (``"layer1.0.conv1"``).
    kind : str
        ``"conv"`` or ``"linear"``.
    encoding : str
        ``"rolled"`` (left = Cin*kh*kw kernel entries) or ``"rolled_channel"``
        (left = Cin channels).
    n_left, n_right : int
        Node counts of the two sides.
    left, right : ndarray of int64
        Endpoints of each edge.
    weight : ndarray of float32
        Edge weights (the weight value for ``rolled``, the L2 norm of the kernel
        slice for ``rolled_channel``).
    density : float
        Unmasked fraction of the layer's weights.
    param : str
        Name of the weight parameter.
    """

    name: str
    kind: str
    encoding: str
    n_left: int
    n_right: int
    left: np.ndarray
    right: np.ndarray
    weight: np.ndarray
    density: float
    param: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.left = np.ascontiguousarray(self.left, dtype=np.int64)
        self.right = np.ascontiguousarray(self.right, dtype=np.int64)
        self.weight = np.ascontiguousarray(self.weight, dtype=np.float32)
        if not (self.left.shape == self.right.shape == self.weight.shape) or self.left.ndim != 1:
            raise InputError(
                f"{self.name}: left, right and weight must be 1-D arrays of one length, got shapes "
                f"{self.left.shape}, {self.right.shape}, {self.weight.shape}"
            )
        if self.left.size and (
            self.left.min() < 0 or self.left.max() >= self.n_left or self.right.min() < 0 or self.right.max() >= self.n_right
        ):
            raise InputError(
                f"{self.name}: edge endpoints outside [0, n_left) x [0, n_right); give n_left/n_right that cover them"
            )

    @property
    def num_edges(self) -> int:
        """Number of edges."""
        return int(self.left.size)

    @property
    def num_nodes(self) -> int:
        """``n_left + n_right``."""
        return int(self.n_left + self.n_right)

    def biadjacency(self, *, weighted: bool = True, absolute: bool = True) -> sp.csr_matrix:
        """``n_left x n_right`` CSR matrix ``B[i, j] = |w_ij|`` (or ``w_ij``, or 1)."""
        if weighted:
            data = np.abs(self.weight) if absolute else self.weight
        else:
            data = np.ones(self.num_edges, dtype=np.float32)
        return sp.csr_matrix((data, (self.left, self.right)), shape=(self.n_left, self.n_right))

    def degrees(self) -> tuple[np.ndarray, np.ndarray]:
        """``(left_degree, right_degree)`` as int64 arrays."""
        return (
            np.bincount(self.left, minlength=self.n_left).astype(np.int64),
            np.bincount(self.right, minlength=self.n_right).astype(np.int64),
        )

    def to_multipartite(self) -> MultipartiteGraph:
        """View as a two-partition :class:`MultipartiteGraph` (left = partition 0), for the topometrics."""
        parts = [Partition("left", (self.n_left,), 0, self.n_left), Partition("right", (self.n_right,), self.n_left, self.n_right)]
        layer = LayerInfo(self.name, self.kind, (0,), 1, self.param or None, {"encoding": self.encoding})
        return MultipartiteGraph(
            self.left,
            self.right + self.n_left,
            self.weight,
            np.zeros(self.num_edges, dtype=np.int32),
            parts,
            [layer],
            meta={"encoding": self.encoding, "layer": self.name},
        )
