"""``snfs``: Sparse Networks From Scratch (sparse momentum), momentum-guided regrowth and redistribution.

Rule
----
The engine tracks, at every step, the exponential moving average of the *dense* gradient
of every masked layer, ``m <- beta m + dL/dW`` (``beta`` = option ``momentum``, 0.9 as
the optimiser's), at all positions, active or not.  At an update:

1. every layer drops ``k_l = round(f * active_l)`` of its active links with the smallest
   ``|w|`` (capped as in :func:`pruners.dst._common.drop_count`); ``K = sum_l k_l``;
2. the layers' shares of ``K`` are proportional to their mean momentum magnitude over
   their active links, ``mean(|m|[active_l])``, apportioned to integers by largest
   remainders; a layer cannot take more than its inactive positions, the excess goes to
   the others (:func:`pruners.dst._common.apportion`);
3. every layer regrows its share at the positions, inactive before the update, with the
   largest ``|m|`` (ties at the cut drawn at random, counted in ``regrown_random``).

The total active count stays exactly the same; the per-layer counts move.  New weights
start at 0 and their optimiser state is zeroed.

Choices where the paper leaves one
----------------------------------
* the dense momentum is tracked by the engine, since the masked optimiser only sees the
  gradient of active weights; under mixed precision the scaled gradients are divided by
  the scale passed to ``ds.step(grad_scale=...)`` (``pruners.train`` does) and steps with
  non-finite gradients are skipped, as the gradient scaler skips them;
* when every layer's mean momentum is 0 (an update before any step) the shares are the
  layers' own drop counts (no redistribution);
* Dettmers & Zettlemoyer keep the momentum of regrown weights in the optimiser; we zero it,
  like every other method here; a link dropped at an update is not regrown at once.

Reference
---------
T. Dettmers, L. Zettlemoyer. "Sparse Networks from Scratch: Faster Training without
Losing Performance". arXiv:1907.04840, 2019.
"""

from __future__ import annotations

from topocore.errors import InputError

from ._common import DSTMethod, LayerChange, UpdateContext, apportion, drop_count, smallest_active, top_scores

__all__ = ["update_snfs", "check_snfs_options", "METHOD"]


def check_snfs_options(momentum: float = 0.9) -> None:
    """Raise :class:`~topocore.errors.InputError` unless ``momentum`` is a number in [0, 1)."""
    if not (isinstance(momentum, (int, float)) and not isinstance(momentum, bool) and 0 <= momentum < 1):
        raise InputError(f"snfs momentum must be a number in [0, 1) (e.g. 0.9), got {momentum!r}")


def update_snfs(ctx: UpdateContext, momentum: float = 0.9) -> dict[str, LayerChange]:
    """Drop the smallest ``|w|`` per layer; redistribute by mean momentum; regrow the largest ``|momentum|``."""
    dropped = {}
    for layer in ctx.layers:
        k = drop_count(layer.active, layer.inactive, ctx.fraction)
        dropped[layer.name] = smallest_active(layer.weight, layer.mask, k)
    total = sum(int(d.numel()) for d in dropped.values())
    means = []
    for layer in ctx.layers:
        m = ctx.momentum[layer.name].abs()
        means.append(float(m[layer.mask].mean()) if layer.active else 0.0)
    caps = [layer.inactive for layer in ctx.layers]
    if sum(means) > 0:
        shares = apportion(total, means, caps)
    else:
        shares = [int(dropped[layer.name].numel()) for layer in ctx.layers]
    changes = {}
    for layer, share in zip(ctx.layers, shares):
        score = ctx.momentum[layer.name].abs()
        regrown, drawn, _ = top_scores(score, ~layer.mask, share, ctx.generator)
        changes[layer.name] = LayerChange(dropped[layer.name], regrown, drawn)
    return changes


METHOD = DSTMethod("snfs", update_snfs, scope="global", options={"momentum": 0.9}, needs=("momentum",),
                   summary="drop smallest |w|, shares by mean |momentum|, regrow the largest |momentum| (global count)",
                   check=check_snfs_options)
