"""Graph encodings of pruned neural networks.

* :func:`encode` -- the unrolled, input-aware multipartite graph encoding (MGE) of a
  pruned CNN, a :class:`MultipartiteGraph` (see :mod:`encoders.mge` for the definition);
* :func:`rolled` and :func:`rolled_channel` -- the layer-wise baseline encodings, one
  :class:`BipartiteGraph` per weighted layer (see :mod:`encoders.rolled`);
* :func:`resolve_masks` -- where each weight's mask comes from (see :mod:`encoders.masks`;
  masks are checked by :func:`topocore.masks.validate_masks`, the toolkit's one mask
  validator).  Random masks come from the pruners:
  ``pruners.prune(model, "uniform", sparsity, random_state=...)``.

The graph containers need only numpy and scipy; the functions that read torch models
(and numba) are imported on first use, so ``import encoders`` stays light for code
that only loads saved graphs.
"""

from __future__ import annotations

import importlib
from typing import Any

from .bipartite import BipartiteGraph
from .errors import EncodingError, MaskError, UnsupportedOperationError, UntraceableModelError
from .graph import GraphTooLargeError, LayerInfo, MultipartiteGraph, Partition

_LAZY = {
    "encode": "mge",
    "count_edges": "mge",
    "graph_size": "mge",
    "rolled": "rolled",
    "rolled_channel": "rolled",
    "resolve_masks": "masks",
    "MaskedWeight": "masks",
}

__all__ = [
    "encode",
    "count_edges",
    "graph_size",
    "rolled",
    "rolled_channel",
    "MultipartiteGraph",
    "BipartiteGraph",
    "Partition",
    "LayerInfo",
    "GraphTooLargeError",
    "EncodingError",
    "UnsupportedOperationError",
    "UntraceableModelError",
    "MaskError",
    "MaskedWeight",
    "resolve_masks",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
