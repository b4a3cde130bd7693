"""Public API of the MGE encoder: :func:`encode` and :func:`count_edges`.

The definition of the encoding is in the docstring of :mod:`encoders.mge`.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from topocore.parallel import num_threads, resolve_n_threads

from ..errors import EncodingError
from ..graph import LayerInfo, MultipartiteGraph
from .interpret import Encoder

__all__ = ["encode", "count_edges"]


def encode(
    model: nn.Module,
    input_shape: Sequence[int],
    masks: dict | None = None,
    *,
    identity_shortcuts: bool = True,
    pad_nodes: bool = False,
    n_threads: int | None = None,
) -> MultipartiteGraph:
    """Unrolled, input-aware multipartite graph encoding (MGE) of a pruned network.

    Parameters
    ----------
    model : torch.nn.Module
        A CNN or MLP traceable by :mod:`torch.fx` (see :mod:`encoders.mge` for the
        supported operations).  It is not modified; the encoding does not depend on
        train/eval mode.
    input_shape : tuple of int
        Shape of one input sample without the batch dimension: ``(C, H, W)`` or
        ``(F,)``.
    masks : dict, optional
        ``{param_name: bool tensor}`` (e.g. ``"layer1.0.conv1.weight"``).  Weights
        without an entry use their ``weight_mask`` buffer (:mod:`torch.nn.utils.prune`),
        else their exact zeros (see :mod:`encoders.masks`).
    identity_shortcuts : bool
        Add weight-1 edges for parameter-free residual shortcuts (default True).
    pad_nodes : bool
        False (default): zero-padding positions are constants, not nodes.  True (the
        convention of the authors' published graphs): the zero-padding positions of
        the convolutions that read the network input (through transparent operations
        only, e.g. the first convolution of a CNN) are nodes of the input partition,
        which then has the padded shape ``(C, H + top + bottom, W + left + right)``
        (row-major ids, the real input in its interior), and every unmasked tap that
        reads a padding position gives an edge from it.  For a 3x32x32 input and a
        first 3x3 convolution with padding 1 this adds 3 * 34 * 34 - 3 * 32 * 32 = 396
        nodes.  Padding of later layers, and non-zero ``padding_mode`` (whose padding
        positions copy input nodes), are unchanged.
    n_threads : int or None
        numba threads of the edge-filling kernels (None: numba's setting; -1: all
        cores).  The result does not depend on it.

    Returns
    -------
    MultipartiteGraph
        Partition 0 is the input, then one partition per weighted layer output in
        topological order (residual branches share one).  Edges are grouped by layer
        in the same order; inside a layer by output node, then by tap.  ``meta``
        records ``input_shape``, ``model`` (class name), ``identity_shortcuts``,
        ``pad_nodes`` (with ``input_padding = [top, bottom, left, right]`` when
        True), ``version`` and the number of weights per mask source.

    Raises
    ------
    EncodingError
        Wrong ``input_shape`` (channel / feature mismatch, input too small).
    UnsupportedOperationError
        An operation without an encoding rule (names the op and the module path).
    UntraceableModelError
        The model cannot be traced by torch.fx.
    MaskError
        A mask for an unknown parameter, of the wrong shape or with values other
        than 0/1.
    topocore.errors.InputError
        An invalid ``n_threads``.  Every error above is an ``InputError`` too.

    Notes
    -----
    Time O(E + N + nnz(W)), memory 16 bytes per edge (int32 node ids) plus
    O(N + nnz(W)); no Python object per edge.  Reference: Cunegatti et al., TMLR 2024,
    Sections 3.1-3.2 and Appendix C.
    """
    shape = _check_arguments(model, input_shape, n_threads, pad_nodes)
    with torch.no_grad(), num_threads(n_threads):
        return Encoder(model, shape, masks, identity_shortcuts, pad_nodes).run()


def count_edges(
    model: nn.Module,
    input_shape: Sequence[int],
    masks: dict | None = None,
    *,
    identity_shortcuts: bool = True,
    pad_nodes: bool = False,
    per_layer: bool = False,
    n_threads: int | None = None,
) -> int | list[tuple[LayerInfo, int]]:
    """Number of edges :func:`encode` would produce, without building the edge arrays.

    Same arguments and errors as :func:`encode`.  Plain convolutions and linear layers
    are counted in closed form (``sum over unmasked taps of valid output rows x valid
    output columns``), folded pooling from the window sizes; only layers whose
    parallel edges are merged (overlapping pooling windows, reflect padding, a node
    read twice) need a counting pass.  Memory O(N + nnz(W)) instead of 16 bytes per
    edge, so the dense edge count of a large model (the denominator of an effective
    sparsity) is cheap.

    Returns the total, or with ``per_layer=True`` a list of ``(LayerInfo, count)`` in
    the order of :attr:`MultipartiteGraph.layers`.
    """
    shape = _check_arguments(model, input_shape, n_threads, pad_nodes)
    with torch.no_grad(), num_threads(n_threads):
        _, layers = Encoder(model, shape, masks, identity_shortcuts, pad_nodes).run(count_only=True)
    return layers if per_layer else int(sum(c for _, c in layers))


def graph_size(
    model: nn.Module,
    input_shape: Sequence[int],
    masks: dict | None = None,
    *,
    identity_shortcuts: bool = True,
    pad_nodes: bool = False,
    n_threads: int | None = None,
) -> tuple[int, int]:
    """``(num_nodes, num_edges)`` of the graph :func:`encode` would build, without building it.

    As :func:`count_edges` (closed-form counts, memory O(N + nnz(W))); the node count
    is the size of the final partitions.  What a memory estimate needs before encoding
    (:func:`topometrics.cost.memory_estimate`).
    """
    shape = _check_arguments(model, input_shape, n_threads, pad_nodes)
    with torch.no_grad(), num_threads(n_threads):
        partitions, layers = Encoder(model, shape, masks, identity_shortcuts, pad_nodes).run(count_only=True)
    return int(sum(p.size for p in partitions)), int(sum(c for _, c in layers))


def _check_arguments(model: Any, input_shape: Any, n_threads: Any, pad_nodes: Any = False) -> tuple[int, ...]:
    if not isinstance(pad_nodes, bool):
        raise EncodingError(f"pad_nodes must be True or False, got {pad_nodes!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise EncodingError(f"input_shape must be a tuple of positive ints like (3, 32, 32), got {input_shape!r}") from None
    if not shape or min(shape) < 1 or any(isinstance(s, bool) for s in input_shape):
        raise EncodingError(f"input_shape must be a tuple of positive ints like (3, 32, 32), got {input_shape!r}")
    resolve_n_threads(n_threads)
    return shape
