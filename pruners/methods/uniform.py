"""Uniform layer-wise random pruning (Zhu & Gupta 2017).

Every prunable layer keeps the same fraction ``d = n_keep / N`` of its weights: layer ``l``
keeps ``round(d * N_l)`` weights (largest-remainder rounding so the global count is
exactly ``n_keep``) at uniformly random positions drawn from the seeded generator.  First
and last layers are included.  Data-free, O(N).

Reference: M. Zhu, S. Gupta. "To prune, or not to prune: exploring the efficacy of pruning
for model compression". arXiv:1710.01878, 2017.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..layerwise import layerwise_random_masks
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["prune_uniform", "METHOD"]


def prune_uniform(model: nn.Module, n_keep: int, ctx: Context) -> dict[str, torch.Tensor]:
    """Same density in every layer, random positions."""
    shapes = {n: tuple(w.shape) for n, w in prunable_weights(model).items()}
    masks = layerwise_random_masks(shapes, n_keep, "uniform", ctx.generator)
    return {n: m.to(model_device(model)) for n, m in masks.items()}


METHOD = PruningMethod("uniform", prune_uniform, needs_data=False, needs_input_shape=False, summary="same density per layer, random positions")
