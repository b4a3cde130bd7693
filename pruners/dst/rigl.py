"""``rigl``: Rigged Lottery, regrowth by dense gradient magnitude.

Rule
----
At an update every layer drops ``round(f * active)`` of its active links with the
smallest ``|w|`` and regrows as many at the positions, inactive before the update, with
the largest ``|dL/dW|`` of the *dense* gradient: the gradient of the loss with respect to
every position of the weight, computed by one extra forward and backward pass on a batch
at the update step (the batch just trained on when the training loop passes it to
``ds.step(batch=...)``, else the next batch of the engine's ``data``).  New weights start
at 0 and their optimiser state is zeroed.  With the cosine schedule the drop fraction
anneals from ``drop_fraction`` to 0 at ``stop_at`` of training (Evci et al.'s default
``0.3`` and ``0.75``).

Choices where the paper leaves one
----------------------------------
* the extra pass runs in the model's current train/eval mode, in float32 without autocast,
  and leaves BatchNorm running statistics exactly as they were;
* a link dropped at an update is not regrown at the same update (Evci et al. allow it;
  we take candidates among the positions inactive before the update so every regrown
  link is new); ties in ``|gradient|`` at the cut (e.g. several zero gradients of dead
  units) are broken uniformly at random and counted in ``regrown_random``.

Reference
---------
U. Evci, T. Gale, J. Menick, P. S. Castro, E. Elsen. "Rigging the Lottery: Making All
Tickets Winners". ICML 2020.
"""

from __future__ import annotations

from ._common import DSTMethod, LayerChange, UpdateContext, drop_count, smallest_active, top_scores

__all__ = ["update_rigl", "METHOD"]


def update_rigl(ctx: UpdateContext) -> dict[str, LayerChange]:
    """Drop the smallest ``|w|`` per layer, regrow the largest dense ``|gradient|``."""
    gradients = ctx.gradients()
    changes = {}
    for layer in ctx.layers:
        k = drop_count(layer.active, layer.inactive, ctx.fraction)
        dropped = smallest_active(layer.weight, layer.mask, k)
        score = gradients[layer.name].abs()
        regrown, drawn, _ = top_scores(score, ~layer.mask, k, ctx.generator)
        changes[layer.name] = LayerChange(dropped, regrown, drawn)
    return changes


METHOD = DSTMethod("rigl", update_rigl, scope="layer", needs=("gradient",),
                   summary="drop smallest |w|, regrow the largest dense |gradient| (per layer)")
