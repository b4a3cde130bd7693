"""Erdős–Rényi-Kernel (ERK) layer-wise random pruning (Evci et al. 2020).

A layer with weight shape ``(out, in, kh, kw)`` (``(out, in)`` for linear layers) gets
density::

    d_l = min(1, eps * (out + in + kh + kw) / (out * in * kh * kw))

with one ``eps`` solved so that ``sum_l d_l N_l = n_keep``; a layer that would exceed
density 1 is made dense and ``eps`` re-solved until none does, as in RigL's reference
implementation (:mod:`pruners.layerwise`).  Counts per layer are exact (largest-remainder
rounding of ``d_l N_l``, global count exactly ``n_keep``) at uniformly random positions.
Data-free.

Reference: U. Evci, T. Gale, J. Menick, P. S. Castro, E. Elsen. "Rigging the Lottery:
Making All Tickets Winners". ICML 2020.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..layerwise import layerwise_random_masks
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["prune_erk", "METHOD"]


def prune_erk(model: nn.Module, n_keep: int, ctx: Context) -> dict[str, torch.Tensor]:
    """ERK densities, random positions."""
    shapes = {n: tuple(w.shape) for n, w in prunable_weights(model).items()}
    masks = layerwise_random_masks(shapes, n_keep, "erk", ctx.generator)
    return {n: m.to(model_device(model)) for n, m in masks.items()}


METHOD = PruningMethod("erk", prune_erk, needs_data=False, needs_input_shape=False, summary="density ~ sum(shape) / prod(shape), random positions")
