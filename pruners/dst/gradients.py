"""Gradients that dynamic sparse training needs beyond the masked optimiser's.

With :mod:`torch.nn.utils.prune` re-parametrisations the optimiser only sees the gradient
of active weights (``dL/dW * mask``).  RigL and SNFS need the *dense* gradient ``dL/dW``
at every position:

* :func:`dense_gradients` -- one extra forward and backward pass on a batch (RigL);
* :class:`MomentumTracker` -- the momentum ``m <- beta m + dL/dW`` of the dense gradient,
  read at every backward pass by a hook on each masked layer's effective weight (SNFS).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from topocore.masks import raw_weight

__all__ = ["dense_gradients", "MomentumTracker"]


def dense_gradients(
    model: nn.Module,
    modules: Mapping[str, nn.Module],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """``{name: flat dL/dW}`` of the loss on ``(x, y)`` w.r.t. every position of each masked weight.

    The pass runs in the model's current train/eval mode, in float32 (autocast off), and
    leaves every buffer (BatchNorm running statistics) exactly as it was.
    """
    names = list(modules)
    device = raw_weight(modules[names[0]]).device
    x, y = x.to(device), y.to(device)
    buffers = {name: b.detach().clone() for name, b in model.named_buffers() if not name.endswith("weight_mask")}
    try:
        with torch.enable_grad(), torch.autocast(device_type=device.type, enabled=False):
            loss = loss_fn(model(x), y)
            weights = [modules[n].weight for n in names]  # the effective weights of this forward pass
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
    finally:
        with torch.no_grad():
            current = dict(model.named_buffers())
            for name, value in buffers.items():
                current[name].copy_(value)
    return {n: (torch.zeros_like(w) if g is None else g.detach()).reshape(-1) for n, w, g in zip(names, weights, grads)}


class MomentumTracker:
    """Momentum of the dense gradient of masked layers: ``m <- beta m + dL/dW`` once per optimiser step.

    A forward hook on every module registers a tensor hook on the effective weight used in
    that pass; the gradients of one step are summed (a layer called twice counts twice) and
    folded by :meth:`fold`, divided by the loss scale of mixed precision when given.  Under
    mixed precision (a ``grad_scale`` given) a step whose gradients are not finite (an
    overflow step, skipped by the optimiser too) is not folded.
    """

    def __init__(self, modules: Mapping[str, nn.Module], beta: float) -> None:
        self.beta = float(beta)
        self.momentum = {n: torch.zeros_like(raw_weight(m), dtype=torch.float32) for n, m in modules.items()}
        self._pending: dict[str, torch.Tensor] = {}
        self._hooks = [module.register_forward_hook(self._forward_hook(name)) for name, module in modules.items()]

    def _forward_hook(self, name: str):
        def hook(module, _inputs, _output):
            weight = getattr(module, "weight", None)
            if torch.is_grad_enabled() and isinstance(weight, torch.Tensor) and weight.requires_grad:
                weight.register_hook(lambda grad: self._capture(name, grad))

        return hook

    def _capture(self, name: str, grad: torch.Tensor) -> None:
        # Keep autograd's tensor without copying it (it is only read, in fold); a layer
        # called twice in one pass gets the sum as a new tensor.
        grad = grad.detach()
        self._pending[name] = grad if name not in self._pending else self._pending[name] + grad

    @torch.no_grad()
    def fold(self, grad_scale: float | None = None) -> None:
        """Fold the gradients captured since the last call into the momentum (two in-place passes per layer)."""
        captured, self._pending = self._pending, {}
        if not captured:
            return
        if grad_scale is not None and not all(bool(torch.isfinite(g.sum())) for g in captured.values()):
            return  # a non-finite sum: an overflow step of mixed precision, skipped by the optimiser too
        alpha = 1.0 if grad_scale is None else 1.0 / float(grad_scale)
        for name, momentum in self.momentum.items():
            momentum.mul_(self.beta)
            if name in captured:
                momentum.add_(captured[name], alpha=alpha)

    def to(self, device: Any) -> "MomentumTracker":
        self.momentum = {n: m.to(device) for n, m in self.momentum.items()}
        self._pending = {}
        return self

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
