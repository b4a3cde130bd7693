"""Channel-only Erdős–Rényi layer-wise random pruning (RigL's "ER"; Evci et al. 2020).

Layer ``l`` with ``n_in`` input and ``n_out`` output channels (features) gets density::

    d_l = min(1, eps * (n_in + n_out) / (n_in * n_out))

with one ``eps`` solved so that ``sum_l d_l N_l = n_keep``; a layer that would exceed
density 1 is made dense and ``eps`` re-solved (RigL's procedure, see
:mod:`pruners.layerwise`).  Counts per layer are exact (largest-remainder rounding of
``d_l N_l``, global count exactly ``n_keep``) at uniformly random positions.  For
convolutions the kernel size is ignored (use ``erk`` to include it).  Data-free.

This is **not** the ``er`` of Cunegatti et al.'s published networks: that one (method
``er``) counts the whole weight shape, searches ``eps`` and does not re-solve saturated
layers.  On Conv-6 at sparsity 0.8 this rule gives 3.0x the MGE edges of the published
``er`` networks (108.3M against 35.7M, CIFAR-10, 3 seeds, the published conventions).

References: U. Evci, T. Gale, J. Menick, P. S. Castro, E. Elsen. "Rigging the Lottery:
Making All Tickets Winners". ICML 2020; S. Liu et al. "The Unreasonable Effectiveness of
Random Pruning". ICLR 2022; D. C. Mocanu et al. Nature Communications 2018.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..layerwise import layerwise_random_masks
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["prune_er_channel", "METHOD"]


def prune_er_channel(model: nn.Module, n_keep: int, ctx: Context) -> dict[str, torch.Tensor]:
    """Channel-only ER densities, random positions."""
    shapes = {n: tuple(w.shape) for n, w in prunable_weights(model).items()}
    masks = layerwise_random_masks(shapes, n_keep, "er_channel", ctx.generator)
    return {n: m.to(model_device(model)) for n, m in masks.items()}


METHOD = PruningMethod(
    "er_channel",
    prune_er_channel,
    needs_data=False,
    needs_input_shape=False,
    summary="RigL's ER: density ~ (n_in + n_out) / (n_in n_out), random positions",
)
