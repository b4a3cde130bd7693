"""SynFlow: iterative synaptic flow pruning (Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020).

Data-free.  The network is *linearised*: every parameter and buffer is replaced by its
absolute value, the model is put in eval mode and computed in float64.  With an all-ones
input ``1`` of ``input_shape`` (batch of one) and the scalar synaptic flow::

    R(w) = 1^T f(1; |w|)            (for a plain MLP: 1^T |W_L| ... |W_1| 1)

the score of weight ``w_j`` is ``S_j = | dR/dw_j * w_j |``.  Pruning is iterative: at
iteration ``k = 0 .. T-1`` the scores are recomputed on the currently masked network and
the ``round(N * d ** ((k + 1) / T))`` highest are kept globally (exponential schedule,
``d = n_keep / N`` the final density, ``T = iterations = 100``); pruned weights stay
pruned.  Cost: ``T`` forward/backward passes on a single input.

Reference: H. Tanaka, D. Kunin, D. L. K. Yamins, S. Ganguli. "Pruning neural networks
without any data by iteratively conserving synaptic flow". NeurIPS 2020.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..selection import exponential_schedule, global_top_k
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["linearize", "synflow_scores", "prune_synflow", "METHOD"]


@torch.no_grad()
def linearize(model: nn.Module) -> nn.Module:
    """In place: float64, eval mode, every floating parameter and buffer replaced by its absolute value."""
    model.double().eval()
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            tensor.abs_()
    return model


def synflow_scores(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """``|dR/dw * w|`` with ``R = sum(f(ones))`` for the prunable weights of an (already linearised) model."""
    weights = prunable_weights(model)
    dtype = next(iter(weights.values())).dtype
    x = torch.ones((1, *input_shape), dtype=dtype, device=model_device(model))
    r = model(x).sum()
    grads = torch.autograd.grad(r, list(weights.values()))
    return {name: (g * w).detach().abs() for (name, w), g in zip(weights.items(), grads)}


def prune_synflow(model: nn.Module, n_keep: int, ctx: Context, *, iterations: int = 100) -> dict[str, torch.Tensor]:
    """Iterative SynFlow with the exponential schedule; returns exactly ``n_keep`` kept weights."""
    input_shape = ctx.require_input_shape()
    linearize(model)
    weights = prunable_weights(model)
    original = {n: w.detach().clone() for n, w in weights.items()}
    masks = {n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()}
    total = sum(w.numel() for w in weights.values())
    schedule = exponential_schedule(total, n_keep, int(iterations))
    for keep in ctx.bar(schedule, "synflow"):
        with torch.no_grad():
            for n, w in weights.items():
                w.copy_(original[n] * masks[n])
        scores = synflow_scores(model, input_shape)
        for n in scores:
            scores[n][~masks[n]] = -math.inf
        masks = global_top_k(scores, keep)
    return masks


METHOD = PruningMethod("synflow", prune_synflow, needs_data=False, needs_input_shape=True, summary="|w * dR/dw| of the linearised net, 100 iterations")
