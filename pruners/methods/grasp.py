"""GraSP: gradient signal preservation (Wang, Zhang & Grosse, ICLR 2020).

With ``g = dL/dw`` and ``H`` the Hessian of the loss, the score of weight ``w_j`` is::

    S_j = -( w * (H g) )_j,      L = cross_entropy(f(x; w) / T, y)

computed by double back-propagation: ``H g = d/dw ( g_detached . dL/dw )``.  Removing a
weight with a high score is the one that least reduces (or most increases) the gradient
flow, so the *highest* scores are removed globally, i.e. the ``n_keep`` lowest are kept
(ties broken by position).  Data: a class-balanced sample with ``samples_per_class``
examples per class (default 10) drawn from one pass of the data; temperature ``T = 200``.
Cost: three forward/backward passes on ``samples_per_class * num_classes`` samples.

The model is scored in train mode by default, on a copy.

Reference: C. Wang, G. Zhang, R. Grosse. "Picking Winning Tickets Before Training by
Preserving Gradient Flow". ICLR 2020.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..selection import global_top_k
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["grasp_scores", "prune_grasp", "METHOD"]


def grasp_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor, temperature: float = 200.0) -> dict[str, torch.Tensor]:
    """``-w * (H g)`` for every prunable weight of a plain model on ``(x, y)`` (current mode)."""
    weights = prunable_weights(model)
    params = list(weights.values())
    loss = F.cross_entropy(model(x) / temperature, y)
    g = [t.detach() for t in torch.autograd.grad(loss, params)]
    loss = F.cross_entropy(model(x) / temperature, y)
    g_graph = torch.autograd.grad(loss, params, create_graph=True)
    z = sum((a * b).sum() for a, b in zip(g_graph, g))
    hg = torch.autograd.grad(z, params)
    return {name: (-w * h).detach() for (name, w), h in zip(weights.items(), hg)}


def _num_classes(model: nn.Module, x: torch.Tensor) -> int:
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(x[:1])
    model.train(was)
    return int(out.shape[1])


def prune_grasp(
    model: nn.Module,
    n_keep: int,
    ctx: Context,
    *,
    samples_per_class: int = 10,
    temperature: float = 200.0,
    train_mode: bool = True,
) -> dict[str, torch.Tensor]:
    """Remove the highest GraSP scores: keep the ``n_keep`` lowest."""
    stream = ctx.require_data(f"labelled samples; {samples_per_class} per class are used")
    device = model_device(model)
    probe, _ = stream.take(1, device=device)
    num_classes = _num_classes(model, probe)
    x, y = stream.class_balanced(int(samples_per_class), num_classes, device=device)
    model.train(train_mode)
    scores = grasp_scores(model, x, y, temperature)
    return global_top_k({k: -v for k, v in scores.items()}, n_keep)


METHOD = PruningMethod(
    "grasp", prune_grasp, needs_data=True, needs_input_shape=False, summary="-w * (H g), remove the highest (class-balanced batch, T=200)"
)
