"""Iterative SNIP (de Jorge, Sanyal, Behl, Torr, Rogez & Dokania, ICLR 2021).

SNIP's score ``S_j = | dL/dw_j * w_j |`` (:mod:`pruners.methods.snip`) recomputed on the
currently masked network over ``T = iterations`` rounds (default 100) with the exponential
schedule: after round ``k = 0 .. T-1`` the ``round(N * d ** ((k + 1) / T))`` highest scores
are kept globally (``d`` the final density).  Here ``dL/dw_j`` is the gradient with respect
to the effective (masked) weight and ``w_j`` the unmasked initial value, i.e. the derivative
with respect to a multiplicative mask.  Pruned weights stay pruned (no resurrection, unlike
FORCE).  Every round draws a fresh batch of ``batch_size`` samples.  Cost: ``T`` forward
and backward passes.

Reference: P. de Jorge et al. "Progressive Skeletonization: Trimming more fat from a
network at initialization". ICLR 2021 (Iter SNIP).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..selection import exponential_schedule, global_top_k
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["prune_iter_snip", "METHOD"]


def prune_iter_snip(
    model: nn.Module,
    n_keep: int,
    ctx: Context,
    *,
    iterations: int = 100,
    batch_size: int = 128,
    train_mode: bool = True,
) -> dict[str, torch.Tensor]:
    """Iterative SNIP with the exponential schedule."""
    stream = ctx.require_data(f"labelled batches; {batch_size} fresh samples per iteration")
    device = model_device(model)
    model.train(train_mode)
    weights = prunable_weights(model)
    original = {n: w.detach().clone() for n, w in weights.items()}
    masks = {n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()}
    total = sum(w.numel() for w in weights.values())
    for keep in ctx.bar(exponential_schedule(total, n_keep, int(iterations)), "iter_snip"):
        with torch.no_grad():
            for n, w in weights.items():
                w.copy_(original[n] * masks[n])
        x, y = stream.take(int(batch_size), device=device)
        loss = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, list(weights.values()))
        scores = {}
        for (n, _), g in zip(weights.items(), grads):
            s = (g * original[n]).detach().abs()
            s[~masks[n]] = -math.inf
            scores[n] = s
        masks = global_top_k(scores, keep)
    return masks


METHOD = PruningMethod("iter_snip", prune_iter_snip, needs_data=True, needs_input_shape=False, summary="SNIP over 100 iterations, exponential schedule")
