"""Global random pruning.

Every prunable weight gets an i.i.d. ``Uniform(0, 1)`` score drawn from the seeded
generator and the ``n_keep`` highest are kept: the kept set is a uniformly random subset
of size ``n_keep`` of all prunable weights, so per-layer densities are only equal in
expectation.  Data-free, O(N).

Reference: Z. Liu et al. "The Unreasonable Effectiveness of Random Pruning: Return of the
Most Naive Baseline for Sparse Training". ICLR 2022 (global random baseline).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..selection import global_top_k
from ._common import Context, PruningMethod, prunable_weights

__all__ = ["prune_random", "METHOD"]


def prune_random(model: nn.Module, n_keep: int, ctx: Context) -> dict[str, torch.Tensor]:
    """Keep a uniformly random set of exactly ``n_keep`` weights."""
    scores = {n: torch.rand(w.shape, generator=ctx.generator, dtype=torch.float64) for n, w in prunable_weights(model).items()}
    return global_top_k(scores, n_keep)


METHOD = PruningMethod("random", prune_random, needs_data=False, needs_input_shape=False, summary="global uniform random")
