"""Graph encodings of pruned neural networks.

* :func:`encode` -- the unrolled, input-aware multipartite graph encoding (MGE) of a
  pruned CNN, a :class:`MultipartiteGraph` (see :mod:`encoders.mge` for the definition);
* :func:`rolled` and :func:`rolled_channel` -- the layer-wise baseline encodings, one
  :class:`BipartiteGraph` per weighted layer (see :mod:`encoders.rolled`);
* :func:`resolve_masks` -- where each weight's mask comes from (see :mod:`encoders.masks`).
"""

from .bipartite import BipartiteGraph
from .errors import EncodingError, MaskError, UnsupportedOperationError, UntraceableModelError
from .graph import GraphTooLargeError, LayerInfo, MultipartiteGraph, Partition
from .masks import MaskedWeight, random_uniform_masks, resolve_masks
from .mge import encode
from .rolled import rolled, rolled_channel

__all__ = [
    "encode",
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
    "random_uniform_masks",
]
