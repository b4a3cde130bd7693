"""Global random pruning.

The kept set is a uniformly random subset of exactly ``n_keep`` of all prunable weights,
drawn from the seeded generator by the project's one random-position sampler
(:func:`pruners.selection.random_layer_masks`, also behind ``uniform``, ``er`` and ``erk``)
applied to the concatenation of every layer; per-layer densities are therefore only equal
in expectation (unlike ``uniform``).  Data-free, O(N).

Reference: Z. Liu et al. "The Unreasonable Effectiveness of Random Pruning: Return of the
Most Naive Baseline for Sparse Training". ICLR 2022 (global random baseline).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..selection import random_layer_masks
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["prune_random", "METHOD"]


def prune_random(model: nn.Module, n_keep: int, ctx: Context) -> dict[str, torch.Tensor]:
    """Keep a uniformly random set of exactly ``n_keep`` weights."""
    weights = prunable_weights(model)
    sizes = [w.numel() for w in weights.values()]
    flat = random_layer_masks({"all": (sum(sizes),)}, {"all": n_keep}, ctx.generator)["all"]
    device = model_device(model)
    return {n: part.reshape(w.shape).to(device) for (n, w), part in zip(weights.items(), torch.split(flat, sizes))}


METHOD = PruningMethod("random", prune_random, needs_data=False, needs_input_shape=False, summary="global uniform random")
