"""NTK-SAP: neural tangent kernel spectrum-aware pruning (Wang, Li & Sun, ICLR 2023).

Data-free and weight-agnostic.  Every prunable weight gets a mask variable ``c_j``.  The
trace of the NTK of the masked network is approximated by a finite difference of the
outputs under a small random weight perturbation::

    R(c) = sum_x || f(x; θ ⊙ c) - f(x; (θ + ε δ) ⊙ c) ||^2,
    x ~ N(0, I) of input_shape,  δ ~ N(0, I),  θ freshly Kaiming-initialised

and the score is ``S_j = | dR/dc_j |`` on the kept weights.  Weights are re-drawn for every
estimate (``estimates`` per iteration, default 1), which makes the saliency independent of
the actual initial weights.  BatchNorm statistics are set from a train-mode pass of the
unperturbed masked network (momentum 1) and both outputs are computed in eval mode with
those statistics.  Pruning is iterative like SynFlow: ``T = iterations`` rounds (default 100)
with the exponential schedule ``round(N * d ** ((k + 1) / T))`` and pruned weights stay
pruned.  Defaults chosen here: ``batch_size = 64`` random inputs, ``epsilon = 1e-3``.
Cost: ``T * estimates`` times three forward passes and one backward pass on ``batch_size``
inputs.

Reference: Y. Wang, D. Li, R. Sun. "NTK-SAP: Improving Neural Network Pruning by Aligning
Training Dynamics". ICLR 2023.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.func import functional_call

from ..models._init import kaiming_init
from ..selection import exponential_schedule, global_top_k
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["ntksap_scores", "prune_ntksap", "METHOD"]

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def ntksap_scores(
    model: nn.Module,
    masks: dict[str, torch.Tensor],
    input_shape: tuple[int, ...],
    *,
    batch_size: int = 64,
    epsilon: float = 1e-3,
    estimates: int = 1,
) -> dict[str, torch.Tensor]:
    """``|dR/dc|`` summed over ``estimates`` draws of weights, inputs and perturbations (global torch RNG).

    ``model`` is re-initialised in place (Kaiming normal) for every draw.
    """
    weights = prunable_weights(model)
    device = model_device(model)
    dtype = next(iter(weights.values())).dtype
    c = {n: masks[n].to(dtype).clone().requires_grad_(True) for n in weights}
    total = {n: torch.zeros_like(w) for n, w in weights.items()}
    bns = [m for m in model.modules() if isinstance(m, _BN)]
    for _ in range(int(estimates)):
        kaiming_init(model)
        params = {n: p.detach() for n, p in model.named_parameters()}
        x = torch.randn((int(batch_size), *input_shape), device=device, dtype=dtype)
        with torch.no_grad():
            masked = {n: (p * masks[n] if n in weights else p) for n, p in params.items()}
            saved = [(bn.momentum, bn.training) for bn in bns]
            for bn in bns:
                bn.reset_running_stats()
                bn.momentum = 1.0
            model.train()
            functional_call(model, {**masked, **dict(model.named_buffers())}, (x,))
            for bn, (mom, _) in zip(bns, saved):
                bn.momentum = mom
        model.eval()
        buffers = dict(model.named_buffers())
        perturbed = {n: (p + epsilon * torch.randn_like(p) if n in weights else p) for n, p in params.items()}

        def forward(state: dict[str, torch.Tensor]) -> torch.Tensor:
            eff = {n: (t * c[n] if n in weights else t) for n, t in state.items()}
            return functional_call(model, {**eff, **buffers}, (x,))

        r = ((forward(params) - forward(perturbed)) ** 2).sum()
        grads = torch.autograd.grad(r, [c[n] for n in weights])
        for n, g in zip(weights, grads):
            total[n] += g.detach()
    return {n: (t * masks[n]).abs() for n, t in total.items()}


def prune_ntksap(
    model: nn.Module,
    n_keep: int,
    ctx: Context,
    *,
    iterations: int = 100,
    batch_size: int = 64,
    epsilon: float = 1e-3,
    estimates: int = 1,
) -> dict[str, torch.Tensor]:
    """Iterative NTK-SAP with the exponential schedule."""
    input_shape = ctx.require_input_shape()
    weights = prunable_weights(model)
    masks = {n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()}
    total = sum(w.numel() for w in weights.values())
    for keep in ctx.bar(exponential_schedule(total, n_keep, int(iterations)), "ntksap"):
        scores = ntksap_scores(model, masks, input_shape, batch_size=batch_size, epsilon=epsilon, estimates=estimates)
        for n in scores:
            scores[n][~masks[n]] = -math.inf
        masks = global_top_k(scores, keep)
    return masks


METHOD = PruningMethod("ntksap", prune_ntksap, needs_data=False, needs_input_shape=True, summary="finite-difference NTK trace saliency, 100 iterations")
