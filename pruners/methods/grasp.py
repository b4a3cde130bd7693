"""GraSP: gradient signal preservation (Wang, Zhang & Grosse, ICLR 2020).

With ``g = dL/dw`` and ``H`` the Hessian of the loss, the score of weight ``w_j`` is::

    S_j = -( w * (H g) )_j,      L = cross_entropy(f(x; w) / T, y)

computed by double back-propagation: ``H g = d/dw ( g_detached . dL/dw )``.  Removing a
weight with a high score is the one that least reduces (or most increases) the gradient
flow, so the *highest* scores are removed globally, i.e. the ``n_keep`` lowest are kept
(ties broken by position).  Data: a class-balanced sample with ``samples_per_class``
examples per class (default 10) drawn from one pass of the data; temperature ``T = 200``.
The loss is the mean over that sample, processed in chunks of at most ``batch_size`` (256)
samples to bound memory (Tiny-ImageNet: 2,000 samples), as the reference implementation
splits its sample.  Cost: three forward/backward passes on ``samples_per_class *
num_classes`` samples.

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


def grasp_scores(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, temperature: float = 200.0, chunk_size: int | None = None
) -> dict[str, torch.Tensor]:
    """``-w * (H g)`` for every prunable weight of a plain model on ``(x, y)`` (current mode).

    The loss is the mean over all samples.  With ``chunk_size`` the samples are processed
    in chunks (``g`` and ``H g`` are the sample-weighted sums of the chunks' terms), which
    bounds memory; in train mode BatchNorm then uses each chunk's statistics.
    """
    weights = prunable_weights(model)
    params = list(weights.values())
    n = x.shape[0]
    step = n if not chunk_size else max(1, int(chunk_size))
    chunks = [(x[i : i + step], y[i : i + step]) for i in range(0, n, step)]
    g = [torch.zeros_like(p) for p in params]
    for xc, yc in chunks:
        loss = F.cross_entropy(model(xc) / temperature, yc) * (xc.shape[0] / n)
        for acc, t in zip(g, torch.autograd.grad(loss, params)):
            acc += t.detach()
    hg = [torch.zeros_like(p) for p in params]
    for xc, yc in chunks:
        loss = F.cross_entropy(model(xc) / temperature, yc) * (xc.shape[0] / n)
        g_graph = torch.autograd.grad(loss, params, create_graph=True)
        z = sum((a * b).sum() for a, b in zip(g_graph, g))
        for acc, t in zip(hg, torch.autograd.grad(z, params)):
            acc += t
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
    batch_size: int = 256,
) -> dict[str, torch.Tensor]:
    """Remove the highest GraSP scores: keep the ``n_keep`` lowest (samples in chunks of ``batch_size``)."""
    stream = ctx.require_data(f"labelled samples; {samples_per_class} per class are used")
    device = model_device(model)
    probe, _ = stream.take(1, device=device)
    num_classes = _num_classes(model, probe)
    x, y = stream.class_balanced(int(samples_per_class), num_classes, device=device)
    model.train(train_mode)
    scores = grasp_scores(model, x, y, temperature, chunk_size=batch_size)
    return global_top_k({k: -v for k, v in scores.items()}, n_keep)


METHOD = PruningMethod(
    "grasp", prune_grasp, needs_data=True, needs_input_shape=False, summary="-w * (H g), remove the highest (class-balanced batch, T=200)"
)
