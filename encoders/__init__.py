"""Graph encodings of pruned neural networks.

:class:`MultipartiteGraph` is the unrolled, input-aware multipartite graph (MGE)
container; :func:`encode` builds it from a model (added by the encoder module).
"""

from .bipartite import BipartiteGraph
from .graph import GraphTooLargeError, LayerInfo, MultipartiteGraph, Partition

__all__ = ["MultipartiteGraph", "BipartiteGraph", "Partition", "LayerInfo", "GraphTooLargeError"]
