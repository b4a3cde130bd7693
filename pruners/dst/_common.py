"""Shared machinery of the dynamic-sparse-training methods: the method record, the update
context handed to a method, and the selection helpers (drop counts, smallest weights,
top scores with random tie-breaking, uniform sampling, capped apportionment).

Every helper works on one layer's *flattened* tensors (row-major ``weight.view(-1)``
positions) and draws random numbers only from the update's CPU ``torch.Generator``, so an
update is a deterministic function of the weights, the masks and that generator's state
on every device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

__all__ = [
    "DSTMethod",
    "LayerView",
    "LayerChange",
    "UpdateContext",
    "drop_count",
    "smallest_active",
    "top_scores",
    "sample_positions",
    "random_positions",
    "apportion",
]


@dataclass(frozen=True)
class DSTMethod:
    """A registry entry of :data:`pruners.dst.METHODS`.

    Attributes
    ----------
    name : str
        Registry name.
    function : callable
        ``function(ctx, **options) -> {layer name: LayerChange}``: which positions of every
        layer of ``ctx.layers`` to drop and to regrow at one update.
    scope : {"layer", "global"}
        What stays fixed: every layer's active count, or only their sum.
    options : dict
        ``{option: default}`` accepted as ``**method_options``.
    needs : tuple of str
        ``"gradient"`` (a dense gradient at update steps) and/or ``"momentum"`` (the
        engine tracks the momentum of the dense gradient at every step).
    summary : str
        One line for tables.
    check : callable, optional
        ``check(**options)`` raises :class:`~topocore.errors.InputError` for a bad option
        value; :func:`pruners.dst.check_config` calls it, so a bad value fails before any
        training (not at the first update).
    """

    name: str
    function: Callable[..., dict[str, "LayerChange"]]
    scope: str
    options: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    summary: str = ""
    check: Callable[..., None] | None = None

    @property
    def doc(self) -> str:
        """Docstring of the method's module (the rule, its paper, the choices made)."""
        import sys

        return sys.modules[self.function.__module__].__doc__ or ""


@dataclass
class LayerView:
    """One layer at an update, flattened (``numel`` positions in row-major order).

    ``mask`` is the layer's current boolean mask (do not modify it), ``weight`` its
    effective weights (zero where inactive), ``shape`` the parameter's shape.
    """

    name: str
    shape: tuple[int, ...]
    mask: torch.Tensor
    weight: torch.Tensor

    @property
    def numel(self) -> int:
        return int(self.mask.numel())

    @property
    def active(self) -> int:
        return int(self.mask.sum())

    @property
    def inactive(self) -> int:
        return self.numel - self.active


@dataclass
class LayerChange:
    """What one update does to one layer: flat positions dropped and regrown.

    ``regrown_random`` counts the regrown positions chosen by a random draw among
    candidates a score could not separate (ties at the cut, or no score at all).
    """

    dropped: torch.Tensor
    regrown: torch.Tensor
    regrown_random: int = 0


@dataclass
class UpdateContext:
    """What the engine hands to a method at one update.

    Attributes
    ----------
    layers : list of LayerView
        The layers taking part (layers of density 0 or 1 are left out, see the engine).
    fraction : float
        The scheduled drop fraction of this update.
    generator : torch.Generator
        CPU generator for every random draw of the update.
    state : dict
        Method-private state kept between updates and in checkpoints (plain values or
        tensors), e.g. DSR's adaptive threshold.
    gradients : callable or None
        ``gradients() -> {layer name: flat dense gradient}`` of the loss on one batch
        (computed on demand; methods needing ``"gradient"``).
    momentum : dict or None
        ``{layer name: flat momentum of the dense gradient}`` (methods needing ``"momentum"``).
    """

    layers: list[LayerView]
    fraction: float
    generator: torch.Generator
    state: dict[str, Any]
    gradients: Callable[[], dict[str, torch.Tensor]] | None = None
    momentum: dict[str, torch.Tensor] | None = None


def drop_count(active: int, inactive: int, fraction: float) -> int:
    """Links a layer drops for ``fraction``: ``round(fraction * active)``, capped.

    The cap keeps the update exact and meaningful: at most ``active - 1`` (a layer never
    loses its last link) and at most ``inactive`` (regrowth takes positions that were
    inactive before the update, so a layer cannot regrow more than it has free).
    """
    k = int(math.floor(fraction * active + 0.5))
    return max(0, min(k, active - 1, inactive))


def smallest_active(weight: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """Flat positions of the ``k`` active weights of smallest ``|w|`` (ties: lower position first)."""
    if k <= 0:
        return torch.empty(0, dtype=torch.long, device=mask.device)
    active = mask.nonzero().squeeze(1)
    magnitude = weight[active].abs()
    order = torch.sort(magnitude, stable=True).indices[:k]
    return active[order]


def sample_positions(n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """``k`` distinct integers drawn uniformly from ``range(n)`` (CPU int64), in draw order.

    For ``k`` small against ``n`` it draws with replacement and keeps first occurrences
    (sequential rejection: exactly uniform without replacement, O(k) expected); otherwise
    it takes the head of a random permutation.
    """
    if k < 0 or k > n:
        raise ValueError(f"cannot draw {k} distinct positions out of {n}")
    if k == 0:
        return torch.empty(0, dtype=torch.long)
    if 4 * k >= n:
        return torch.randperm(n, generator=generator)[:k]
    picked = np.empty(0, dtype=np.int64)
    while picked.size < k:
        need = k - picked.size
        draw = torch.randint(0, n, (need + need // 4 + 16,), generator=generator).numpy()
        merged = np.concatenate([picked, draw])
        _, first = np.unique(merged, return_index=True)
        picked = merged[np.sort(first)]
    return torch.from_numpy(picked[:k].copy())


def random_positions(candidates: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """``k`` flat positions drawn uniformly without replacement among ``candidates`` (a bool vector)."""
    index = candidates.nonzero().squeeze(1)
    pick = sample_positions(int(index.numel()), int(k), generator).to(index.device)
    return index[pick]


def top_scores(scores: torch.Tensor, candidates: torch.Tensor, k: int, generator: torch.Generator) -> tuple[torch.Tensor, int, float]:
    """The ``k`` candidate positions of highest score; ties at the cut broken at random.

    Every candidate whose score is above the ``k``-th largest candidate score is taken;
    the rest are drawn uniformly among the candidates tied at that score.  Returns
    ``(positions, drawn, cut)``: ``drawn`` is the number of positions chosen by that random
    draw (0 when the tied group is taken whole) and ``cut`` the ``k``-th largest score.
    """
    index = candidates.nonzero().squeeze(1)
    n = int(index.numel())
    if k <= 0:
        return torch.empty(0, dtype=torch.long, device=candidates.device), 0, math.inf
    if k > n:
        raise ValueError(f"cannot regrow {k} positions out of {n} candidates")
    values = scores[index]
    cut = torch.topk(values, k, sorted=True).values[-1]
    above = index[values > cut]
    tied = index[values == cut]
    need = k - int(above.numel())
    drawn = need if int(tied.numel()) > need else 0
    pick = sample_positions(int(tied.numel()), need, generator).to(tied.device)
    return torch.cat([above, tied[pick]]), drawn, float(cut)


def apportion(total: int, weights: list[float], caps: list[int]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights``, none above its cap.

    Largest-remainder rounding of ``total * w / sum(w)``; a share above its cap is cut to
    the cap and the excess is apportioned again among the uncapped entries (repeated until
    everything is placed).  Entries of weight 0 receive nothing unless the others are
    full; when every weight is 0 the split is proportional to the caps.  Needs
    ``sum(caps) >= total``.
    """
    if total < 0 or sum(caps) < total:
        raise ValueError(f"cannot place {total} links in capacities {caps}")
    n = len(weights)
    out = [0] * n
    remaining = total
    open_ = [i for i in range(n) if caps[i] > 0]
    while remaining > 0:
        w = [max(float(weights[i]), 0.0) for i in open_]
        if sum(w) <= 0 or not all(math.isfinite(x) for x in w):
            w = [float(caps[i] - out[i]) for i in open_]
        total_w = sum(w)
        exact = [remaining * x / total_w for x in w]
        share = [int(math.floor(e)) for e in exact]
        left = remaining - sum(share)
        order = sorted(range(len(open_)), key=lambda j: (-(exact[j] - share[j]), open_[j]))
        for j in order[:left]:
            share[j] += 1
        placed = 0
        still_open = []
        for j, i in enumerate(open_):
            room = caps[i] - out[i]
            take = min(share[j], room)
            out[i] += take
            placed += take
            if out[i] < caps[i]:
                still_open.append(i)
        remaining -= placed  # placed >= 1: the shares sum to `remaining` and every open entry has room
        open_ = still_open
    return out
