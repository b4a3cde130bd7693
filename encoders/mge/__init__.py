"""The unrolled, input-aware multipartite graph encoding (MGE) of a pruned CNN.

Cunegatti et al., "Understanding Sparse Neural Networks from their Topology via
Multipartite Graph Representations", TMLR 2024, Sections 3.1-3.2 and Appendix C.

Definition (what :func:`encode` builds)
---------------------------------------
Nodes are the elements of activation tensors: partition 0 is the network input and
every other partition is the output of a weighted layer (``Conv2d`` or ``Linear``) in
topological order.  A node id is ``partition.offset + flat_index`` with the row-major
index of the ``(C, H, W)`` (or ``(F,)``) tensor.

* **Conv2d** (any kernel, stride, padding, dilation, groups): an edge
  ``(ci, y, x) -> (co, oy, ox)`` for every unmasked weight tap that multiplies input
  ``(ci, y, x)`` into output ``(co, oy, ox)``; zero-padding positions are not nodes
  and give no edge (with ``pad_nodes=True``, the convention of the authors' published
  graphs, the padding positions of the convolutions reading the network input are
  nodes of the input partition, with an edge for every unmasked tap reading them).  Weight = the tap's (unmasked) value, as float32.  With
  ``padding_mode`` ``reflect``/``replicate``/``circular`` a padding position is a copy
  of an input node, so two taps can reach the same node: those parallel edges are
  merged (summed), which is exactly the layer's Jacobian.
* **Linear**: edge ``i -> j`` iff ``W[j, i]`` is unmasked.
* **Pooling** (``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``,
  ``AdaptiveMaxPool2d`` as modules or functional calls, and ``mean``/``sum``/``amax``
  over spatial dims) creates no partition; it is folded into the next weighted layer
  (Appendix C): each edge ``s -> t`` of that layer becomes ``u -> t`` for every ``u``
  in the pooling window of ``s`` (padding positions excluded), with the weight of
  ``s -> t``; parallel edges created by overlapping windows are merged into one edge
  whose weight is the sum.  The weights are therefore those of the Jacobian of
  (next layer o sum-pool), i.e. the Jacobian of (next layer o average pool) times the
  window size; max pooling uses the same windows.  Pooling of pooling composes the
  windows (a node reached through several windows is counted once per window).
* **Residual additions**: the branches of ``a + b`` write into one partition.  The
  output partition of a weighted layer whose only consumer is the addition (through
  BatchNorm, activations, ...) becomes the addition's partition, and a weighted
  shortcut (1x1 conv) adds its own edges into it.  Every other branch is an identity
  shortcut: edges ``(c, y, x) -> (c, y, x)`` of weight 1.0 from the node each
  element comes from (for the option-A shortcut ``x[:, :, ::2, ::2]`` zero-padded with
  channels, the subsampled, channel-shifted mapping; zero-padded channels give no
  edge), produced by a layer of kind ``"identity"``; none if
  ``identity_shortcuts=False``.  An addition none of whose branches is a fresh
  weighted output gets its own partition fed by identity edges (so it keeps its
  place in the dataflow).  Edges of different layers are never merged.
* **torch.cat** (any dim), flatten, view/reshape, permute, slicing, constant padding
  re-index elements; channel ranges map back to their source partitions.
  Constants (padding values, constant tensors) are not nodes.
* **Learned scalar gates**: multiplying an activation by a one-element tensor computed
  from a parameter (``x * tanh(alpha)``, ``x * alpha[k]``, ...) scales every edge of
  that path by the gate's value -- the weights of the layer that reads it, the identity
  edges of a residual branch, or the edges into a gated fresh output merged into a sum
  -- and a gate that is exactly 0 removes those edges (see :mod:`encoders.mge.gates`).
* **BatchNorm** and other normalisation layers, activations, dropout, identity and
  arithmetic with other constants are transparent (treated as the identity map).  Biases
  are ignored.  Normalisation layers that mix features (LayerNorm, GroupNorm) are
  treated as transparent too, like BatchNorm.

Anything else (multiplying two activations, attention, recurrent layers, 1-D or 3-D
convolutions, ...) raises :class:`~encoders.errors.UnsupportedOperationError` naming
the operation and module path.

Implementation
--------------
The model is traced with :mod:`torch.fx`.  Every activation is represented by a
*code tensor*: an ``int64`` tensor of the activation's shape (batch of 1) holding, for
each element, ``node + 1``, ``0`` for a constant, or ``-(k + 1)`` for entry ``k`` of a
table of pooling windows.  Shape operations (view, flatten, cat, slicing, pad, ...)
are executed by torch on the code tensor itself, so any re-indexing torch can do is
supported without a rule per case.  Weighted layers record a job; when the
partitions are final, the edge count of every job is computed (closed form for
plain convolutions), one array of each kind is allocated for the whole graph, and
numba kernels fill each layer's slice in place (see :mod:`encoders._kernels`).

Complexity: O(E) time and 16 bytes per edge (int32 ids) plus O(N + nnz(W)) for the
layer descriptions; no Python object per edge.

Modules
-------
:mod:`~encoders.mge.api`
    :func:`encode` and :func:`count_edges`, argument checks.
:mod:`~encoders.mge.interpret`
    the fx interpreter: walks the traced graph, dispatches each node to its rule
    (transparent ops, re-indexing, arithmetic, residual additions).
:mod:`~encoders.mge.ops`
    the operation tables the dispatcher reads and the symbolic value :class:`Sym`.
:mod:`~encoders.mge.layers`
    the rules of the weighted layers (``Conv2d``, ``Linear`` and their functional forms).
:mod:`~encoders.mge.pooling`
    pooling geometry (windows, output sizes) and the folding rules of pooling and
    spatial reductions.
:mod:`~encoders.mge.gates`
    the rule for learned scalar gates (scales carried by symbolic values).
:mod:`~encoders.mge.partitions`
    partition bookkeeping: provisional partitions, layer jobs and the pooled-window table.
:mod:`~encoders.mge.toposort`
    the topological order of the final partitions.
:mod:`~encoders.mge.planning`
    final node numbering, edge counts and the filling of the edge arrays.
"""

from __future__ import annotations

from .api import count_edges, encode, graph_size

__all__ = ["encode", "count_edges", "graph_size"]
