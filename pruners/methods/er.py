"""Erdős–Rényi (ER) layer-wise random pruning (Mocanu et al. 2018).

Layer ``l`` with ``n_in`` input and ``n_out`` output channels (features) gets density::

    d_l = min(1, eps * (n_in + n_out) / (n_in * n_out))

with one ``eps`` solved so that ``sum_l d_l N_l = n_keep``; a layer that would exceed
density 1 is made dense and ``eps`` re-solved (RigL's procedure, see
:mod:`pruners.layerwise`).  Counts per layer are exact (largest-remainder rounding of
``d_l N_l``, global count exactly ``n_keep``) at uniformly random positions.  For
convolutions the kernel size is ignored (use ``erk`` to include it).  Data-free.

References: D. C. Mocanu et al. "Scalable training of artificial neural networks with
adaptive sparse connectivity inspired by network science". Nature Communications 2018;
S. Liu et al. "The Unreasonable Effectiveness of Random Pruning". ICLR 2022.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..layerwise import layerwise_random_masks
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["prune_er", "METHOD"]


def prune_er(model: nn.Module, n_keep: int, ctx: Context) -> dict[str, torch.Tensor]:
    """ER densities, random positions."""
    shapes = {n: tuple(w.shape) for n, w in prunable_weights(model).items()}
    masks = layerwise_random_masks(shapes, n_keep, "er", ctx.generator)
    return {n: m.to(model_device(model)) for n, m in masks.items()}


METHOD = PruningMethod("er", prune_er, needs_data=False, needs_input_shape=False, summary="density ~ (n_in + n_out) / (n_in n_out), random positions")
