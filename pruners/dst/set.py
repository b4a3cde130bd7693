"""``set`` (alias ``rlr``): Sparse Evolutionary Training, random link regrowth.

Rule
----
At an update every layer drops ``round(f * active)`` of its active links with the
smallest ``|w|`` and regrows as many uniformly at random among its positions that were
inactive before the update.  The layer's active count is unchanged.

Choices where the paper leaves one (or where we depart from it)
---------------------------------------------------------------
* Mocanu et al. remove the fraction of the smallest positive *and* of the largest
  negative weights separately; we drop by ``|w|`` (the form later papers use and the
  issue specifies);
* new weights start at 0 (Mocanu et al. draw them from the initial distribution; zero keeps
  the network's function unchanged at the update, as in RigL) and their optimiser state
  is zeroed;
* a link dropped at an update is not regrown at the same update (candidates are the
  positions inactive before it); the drop count is capped as in
  :func:`pruners.dst._common.drop_count`;
* every regrown link is a random draw, so ``regrown_random`` equals ``regrown``.

References
----------
D. C. Mocanu, E. Mocanu, P. Stone, P. H. Nguyen, M. Gibescu, A. Liotta. "Scalable
training of artificial neural networks with adaptive sparse connectivity inspired by
network science". Nature Communications 9, 2383 (2018).
Random link regrowth (RLR) is the name of the same rule in Sulyok et al., "Robustness in
sparse artificial neural networks trained with adaptive topology".
"""

from __future__ import annotations

from ._common import DSTMethod, LayerChange, UpdateContext, drop_count, random_positions, smallest_active

__all__ = ["update_set", "METHOD"]


def update_set(ctx: UpdateContext) -> dict[str, LayerChange]:
    """Drop the smallest ``|w|`` per layer, regrow as many uniformly at random."""
    changes = {}
    for layer in ctx.layers:
        k = drop_count(layer.active, layer.inactive, ctx.fraction)
        dropped = smallest_active(layer.weight, layer.mask, k)
        regrown = random_positions(~layer.mask.cpu(), k, ctx.generator).to(layer.mask.device)
        changes[layer.name] = LayerChange(dropped, regrown, int(regrown.numel()))
    return changes


METHOD = DSTMethod("set", update_set, scope="layer", summary="drop smallest |w|, regrow uniformly at random (per layer)")
