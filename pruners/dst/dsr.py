"""``dsr``: Dynamic Sparse Reparameterization, a global adaptive threshold and reallocation.

Rule
----
The method keeps one global magnitude threshold ``H``.  At an update with scheduled drop
fraction ``f`` and ``A`` active links in all layers, the target number of links to drop
is ``N_p = round(f * A)``:

1. every layer drops its active links with ``|w| < H`` (smallest first, capped per layer
   as in :func:`pruners.dst._common.drop_count`); ``K`` links are dropped in all;
2. ``H`` adapts for the next update: doubled when ``K < (1 - tolerance) N_p``, halved when
   ``K > (1 + tolerance) N_p`` (Mostafa & Wang's rule, ``tolerance`` 0.1 by default);
3. the ``K`` free links are reallocated to the layers in proportion to their surviving
   links (active minus dropped), apportioned to integers by largest remainders, no layer
   above its inactive positions (:func:`pruners.dst._common.apportion`), and regrown
   uniformly at random among each layer's positions that were inactive before the update.

The total active count stays exactly the same.  New weights start at 0 and their optimiser
state is zeroed.

Choices where the paper leaves one
----------------------------------
* initial threshold: option ``threshold`` (a positive float), or ``None`` (default): at
  the first update ``H`` is the ``N_p``-th smallest ``|w|`` of all active links, so the first
  update drops about ``N_p`` links; afterwards it adapts as above.  ``H`` is kept in the
  engine's state (and in checkpoints) and reported in ``ds.method_state``;
* links exactly at ``|w| == H`` are kept (strict ``<``);
* every regrown link is a random draw, so ``regrown_random`` equals ``regrown``;
  a link dropped at an update is not regrown at once.

Reference
---------
H. Mostafa, X. Wang. "Parameter Efficient Training of Deep Convolutional Neural Networks
by Dynamic Sparse Reparameterization". ICML 2019.
"""

from __future__ import annotations

import math

import torch

from topocore.errors import InputError

from ._common import DSTMethod, LayerChange, UpdateContext, apportion, drop_count, random_positions, smallest_active

__all__ = ["update_dsr", "check_dsr_options", "METHOD"]


def check_dsr_options(threshold: float | None = None, tolerance: float = 0.1) -> None:
    """Raise :class:`~topocore.errors.InputError` for a bad ``threshold`` or ``tolerance``."""
    if threshold is not None and not (
        isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and threshold > 0 and math.isfinite(threshold)
    ):
        raise InputError(f"dsr threshold must be a positive number or None (adapted from the first update), got {threshold!r}")
    if not (isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool) and 0 <= tolerance < 1):
        raise InputError(f"dsr tolerance must be a number in [0, 1) (e.g. 0.1), got {tolerance!r}")


def update_dsr(ctx: UpdateContext, threshold: float | None = None, tolerance: float = 0.1) -> dict[str, LayerChange]:
    """Drop below the global threshold, adapt it, reallocate by surviving links, regrow at random."""
    check_dsr_options(threshold, tolerance)
    total_active = sum(layer.active for layer in ctx.layers)
    target = int(math.floor(ctx.fraction * total_active + 0.5))
    h = ctx.state.get("threshold")
    if h is None:
        h = threshold
    if h is None:
        magnitudes = torch.cat([layer.weight[layer.mask].abs().float().cpu() for layer in ctx.layers])
        h = float(torch.sort(magnitudes).values[min(target, magnitudes.numel() - 1)]) if magnitudes.numel() else 0.0
    dropped = {}
    for layer in ctx.layers:
        below = int(((layer.weight.abs() < h) & layer.mask).sum())
        k = min(below, drop_count(layer.active, layer.inactive, 1.0))
        dropped[layer.name] = smallest_active(layer.weight, layer.mask, k)
    total = sum(int(d.numel()) for d in dropped.values())
    if total < (1 - tolerance) * target:
        ctx.state["threshold"] = 2.0 * h
    elif total > (1 + tolerance) * target:
        ctx.state["threshold"] = 0.5 * h
    else:
        ctx.state["threshold"] = h
    ctx.state["last_threshold"] = h
    surviving = [layer.active - int(dropped[layer.name].numel()) for layer in ctx.layers]
    caps = [layer.inactive for layer in ctx.layers]
    shares = apportion(total, [float(s) for s in surviving], caps)
    changes = {}
    for layer, share in zip(ctx.layers, shares):
        regrown = random_positions(~layer.mask.cpu(), share, ctx.generator).to(layer.mask.device)
        changes[layer.name] = LayerChange(dropped[layer.name], regrown, int(regrown.numel()))
    return changes


METHOD = DSTMethod("dsr", update_dsr, scope="global", options={"threshold": None, "tolerance": 0.1},
                   summary="drop below a global adaptive |w| threshold, reallocate by surviving links, regrow at random",
                   check=check_dsr_options)
