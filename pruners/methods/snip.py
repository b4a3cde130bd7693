"""SNIP: single-shot connection sensitivity (Lee, Ajanthan & Torr, ICLR 2019).

Score of weight ``w_j`` on one labelled batch ``(x, y)``::

    S_j = | dL/dw_j * w_j |,      L = cross_entropy(f(x; w), y)

i.e. the magnitude of the derivative of the loss with respect to a multiplicative mask
``c_j`` at ``c = 1``.  The ``n_keep`` highest scores are kept globally (ties broken by
position).  Cost: one forward and one backward pass on ``batch_size`` samples.

The model is scored in train mode by default (BatchNorm uses batch statistics), on a
copy, so the caller's weights and running statistics are untouched.

Reference: N. Lee, T. Ajanthan, P. H. S. Torr. "SNIP: Single-shot Network Pruning based on
Connection Sensitivity". ICLR 2019.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..selection import global_top_k
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["snip_scores", "prune_snip", "METHOD"]


def snip_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """``|dL/dw * w|`` for every prunable weight of a plain model on the batch ``(x, y)``.

    Uses the model in its current mode; gradients of the model are overwritten.
    """
    weights = prunable_weights(model)
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(weights.values()))
    return {name: (g * w).detach().abs() for (name, w), g in zip(weights.items(), grads)}


def prune_snip(model: nn.Module, n_keep: int, ctx: Context, *, batch_size: int = 128, train_mode: bool = True) -> dict[str, torch.Tensor]:
    """Keep the ``n_keep`` weights with the highest SNIP score on ``batch_size`` samples."""
    stream = ctx.require_data(f"at least one batch; {batch_size} samples are used")
    device = model_device(model)
    x, y = stream.take(int(batch_size), device=device)
    model.train(train_mode)
    return global_top_k(snip_scores(model, x, y), n_keep)


METHOD = PruningMethod("snip", prune_snip, needs_data=True, needs_input_shape=False, summary="|g * w| on one batch, global top-k")
