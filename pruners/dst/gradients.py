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

from topocore.errors import InputError
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

    One in-place pass per step: the tracker keeps ``u = m / beta**k``, ``k`` steps after its
    last rescaling, so a step is ``u += beta**-k g``; every :data:`RESCALE_EVERY` steps ``u`` is
    multiplied by ``beta**k`` and ``k`` restarts at 0 (``beta**-64`` is about 850 for 0.9, far
    from float32's range).  :attr:`momentum` returns ``beta**k u``.
    """

    #: Steps between two rescalings of the accumulator.
    RESCALE_EVERY = 64

    def __init__(self, modules: Mapping[str, nn.Module], beta: float) -> None:
        if not (isinstance(beta, (int, float)) and 0.0 <= float(beta) < 1.0):
            raise InputError(f"the momentum coefficient must lie in [0, 1), got {beta!r}")
        self.beta = float(beta)
        self._u = {n: torch.zeros_like(raw_weight(m), dtype=torch.float32) for n, m in modules.items()}
        self._k = 0
        self._pending: dict[str, torch.Tensor] = {}
        self._hooks = [module.register_forward_hook(self._forward_hook(name)) for name, module in modules.items()]

    @property
    def momentum(self) -> dict[str, torch.Tensor]:
        """``{name: m}``, the current momentum of every layer (new tensors)."""
        factor = self.beta ** self._k
        return {n: u * factor for n, u in self._u.items()}

    def load(self, momentum: Mapping[str, torch.Tensor]) -> None:
        """Set the momentum (e.g. from a checkpoint)."""
        for n, u in self._u.items():
            u.copy_(momentum[n].to(u.device))
        self._k = 0

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
        """Fold the gradients captured since the last call into the momentum (one in-place pass per layer)."""
        captured, self._pending = self._pending, {}
        if not captured:
            return
        if grad_scale is not None and not all(bool(torch.isfinite(g.sum())) for g in captured.values()):
            return  # a non-finite sum: an overflow step of mixed precision, skipped by the optimiser too
        alpha = 1.0 if grad_scale is None else 1.0 / float(grad_scale)
        if self.beta == 0.0:  # no memory: m = g
            for name, u in self._u.items():
                u.zero_()
                if name in captured:
                    u.add_(captured[name], alpha=alpha)
            return
        self._k += 1
        weight = alpha * self.beta ** (-self._k)
        for name, u in self._u.items():
            if name in captured:
                u.add_(captured[name], alpha=weight)
        if self._k >= self.RESCALE_EVERY:
            factor = self.beta ** self._k
            for u in self._u.values():
                u.mul_(factor)
            self._k = 0

    def to(self, device: Any) -> "MomentumTracker":
        self._u = {n: u.to(device) for n, u in self._u.items()}
        self._pending = {}
        return self

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
