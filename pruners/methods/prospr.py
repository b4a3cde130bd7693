"""ProsPr: prospect pruning with meta-gradients (Alizadeh, Tailor, Zintgraf, van Amersfoort, Farquhar, Lane & Gal, ICLR 2022).

Every prunable weight gets a multiplicative mask variable ``c_j = 1``.  Starting from the
initial weights ``w_0``, ``M = inner_steps`` (default 3) steps of SGD with momentum
(``inner_lr = 0.5``, ``momentum = 0.9``) are taken on the masked network ``f(x; w ⊙ c)``,
each on a fresh batch, keeping the computational graph::

    v_{t+1} = momentum * v_t + dL_t/dw (w_t ⊙ c),    w_{t+1} = w_t - inner_lr * v_{t+1}

The score is the meta-gradient of the loss on a further fresh batch after the ``M``
steps::

    S_j = | dL(w_M(c) ⊙ c) / dc_j |  at c = 1

and the ``n_keep`` highest scores are kept globally (ties broken by position).  The model
is in train mode (BatchNorm batch statistics), on a copy.  Cost: ``M + 1`` forward passes,
``M`` double-backward passes and one backward through the whole unrolled trajectory;
memory grows with ``M * batch_size``.

Reference: M. Alizadeh et al. "Prospect Pruning: Finding Trainable Weights at
Initialization using Meta-Gradients". ICLR 2022.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from topocore.errors import InputError

from ..selection import global_top_k
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["prospr_scores", "prune_prospr", "METHOD"]


def prospr_scores(
    model: nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    *,
    inner_lr: float = 0.5,
    momentum: float = 0.9,
) -> dict[str, torch.Tensor]:
    """``|dL_final/dc|`` after ``len(batches) - 1`` differentiable SGD steps (the last batch scores).

    ``model`` must be a plain model (no pruning re-parametrisation); it is used through
    ``torch.func.functional_call`` and its parameters are not modified (BatchNorm buffers
    are updated as in any train-mode forward pass).
    """
    if len(batches) < 1:
        raise InputError("prospr_scores needs at least one batch; pass a list of (inputs, labels) batches")
    weights = prunable_weights(model)
    names_w = set(weights)
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    masks = {n: torch.ones_like(params[n], requires_grad=True) for n in weights}
    current = {n: p.clone().requires_grad_(True) for n, p in params.items()}
    velocity = {n: torch.zeros_like(p) for n, p in params.items()}

    def loss_at(state: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        effective = {n: (t * masks[n] if n in names_w else t) for n, t in state.items()}
        out = functional_call(model, {**effective, **buffers}, (x,))
        return F.cross_entropy(out, y)

    for x, y in batches[:-1]:
        loss = loss_at(current, x, y)
        grads = torch.autograd.grad(loss, list(current.values()), create_graph=True)
        new_state = {}
        for (n, t), g in zip(current.items(), grads):
            velocity[n] = momentum * velocity[n] + g
            new_state[n] = t - inner_lr * velocity[n]
        current = new_state
    x, y = batches[-1]
    final = loss_at(current, x, y)
    meta = torch.autograd.grad(final, [masks[n] for n in weights])
    return {n: g.detach().abs() for n, g in zip(weights, meta)}


def prune_prospr(
    model: nn.Module,
    n_keep: int,
    ctx: Context,
    *,
    inner_steps: int = 3,
    inner_lr: float = 0.5,
    momentum: float = 0.9,
    batch_size: int = 128,
) -> dict[str, torch.Tensor]:
    """Keep the ``n_keep`` weights of highest ``|meta-gradient|``."""
    if int(inner_steps) < 0:
        raise InputError(f"prospr option inner_steps must be >= 0, got {inner_steps}; pass inner_steps=0 or more")
    stream = ctx.require_data(f"labelled batches; {inner_steps + 1} fresh batches of {batch_size} samples are used")
    device = model_device(model)
    batches = [stream.take(int(batch_size), device=device) for _ in range(int(inner_steps) + 1)]
    model.train()
    scores = prospr_scores(model, batches, inner_lr=float(inner_lr), momentum=float(momentum))
    return global_top_k(scores, n_keep)


METHOD = PruningMethod("prospr", prune_prospr, needs_data=True, needs_input_shape=False, summary="|meta-gradient| after 3 SGD steps")
