"""Layer-wise densities of the layer-wise random pruning methods (uniform, ER, ER-channel, ERK).

Given the prunable weight shapes and a global sparsity ``s`` (density ``D = 1 - s``, ``N``
prunable weights, ``N_l`` in layer ``l``):

* **uniform** (Zhu & Gupta 2017): ``d_l = D`` for every layer.
* **er** -- ER as Cunegatti et al. (TMLR 2024) ran it, the method behind their published
  ``er`` networks and accuracies (SET's rule, Mocanu et al. 2018, adapted to convolutions
  by counting the whole weight shape): ``d_l = min(1, eps * sum(shape) / prod(shape))``
  over the weight shape ``(out, in, kh, kw)``, with ``eps`` from a search for
  ``eps * sum_l sum(shape_l) = D * N`` (:func:`er_epsilon`).  Layers whose density is
  clipped at 1 are **not** re-solved, so the network keeps fewer than ``D * N`` weights
  when a layer saturates; and the search stops off the target (see :func:`er_epsilon`).
  Where no layer saturates, the densities are ERK's times ``eps_search / eps_exact``.
* **er_channel** -- RigL's "ER" (Evci et al. 2020; Liu et al. 2022): ``d_l = eps * (n_in +
  n_out) / (n_in * n_out)`` with ``n_in, n_out`` the input/output channels (features) of the
  layer (the kernel size is ignored).
* **erk** (Erdős–Rényi-Kernel, Evci et al. 2020, "Rigging the Lottery"):
  ``d_l = eps * sum(shape) / prod(shape)`` over the weight shape ``(out, in, kh, kw)``
  (``(out, in)`` for linear layers, where ERK equals ER-channel).

For ``er_channel`` and ``erk``, ``eps`` is the single scale for which ``sum_l d_l * N_l = D *
N``.  A layer whose density would exceed 1 is made dense and ``eps`` is re-solved on the
remaining layers until no density exceeds 1, as in RigL's reference implementation.
Because raising ``eps`` never lowers a density, all offending layers can be made dense at
once; the fixed point is the same.  Cost: O(L^2) for L layers.
"""

from __future__ import annotations

import math
from typing import Sequence

from topocore.errors import InputError

__all__ = [
    "KINDS",
    "raw_er_channel_scale",
    "raw_erk_scale",
    "er_epsilon",
    "scaled_densities",
    "layer_densities",
    "layerwise_random_masks",
]

#: Layer-wise schemes of :func:`layer_densities`.
KINDS = ("uniform", "er", "er_channel", "erk")
#: Schemes whose counts sum exactly to the requested number of kept weights.
EXACT_COUNT_KINDS = ("uniform", "er_channel", "erk")

#: Parameters of the published ER search (Cunegatti et al.'s code): start, first relative
#: step, step decay per iteration, stopping tolerance in weights.
_SEARCH_START, _SEARCH_STEP, _SEARCH_DECAY, _SEARCH_TOLERANCE = 10.0, 0.5, 0.95, 5.0


def raw_er_channel_scale(shape: Sequence[int]) -> float:
    """``(n_in + n_out) / (n_in * n_out)`` from a weight shape ``(out, in, ...)`` (RigL's ER)."""
    n_out, n_in = int(shape[0]), int(shape[1])
    return (n_in + n_out) / (n_in * n_out)


def raw_erk_scale(shape: Sequence[int]) -> float:
    """``sum(shape) / prod(shape)`` of a weight shape ``(out, in, kh, kw)`` or ``(out, in)``."""
    return sum(int(s) for s in shape) / math.prod(int(s) for s in shape)


def er_epsilon(shapes: Sequence[Sequence[int]], n_keep: float, *, solve: str = "search") -> float:
    """``eps`` of the published ER rule: ``eps * sum_l sum(shape_l)`` should equal ``n_keep``.

    ``solve="exact"`` returns ``n_keep / sum_l sum(shape_l)``.  ``solve="search"`` (default)
    returns the ``eps`` the authors' code used, whose layer densities match the published
    ``layer_sparsity`` of every ``er`` network (``tests/test_published_er.py``): a
    multiplicative search that starts at ``eps = 10`` with relative step ``0.5``; at each
    iteration it evaluates ``c = eps * S``, multiplies ``eps`` by ``1 - step`` when ``c``
    exceeds the target and by ``1 + step`` otherwise, multiplies ``step`` by ``0.95``, and
    stops when that ``c`` was within 5 weights of the target.  Because the step is applied
    after ``c`` was evaluated, the returned ``eps`` is off the exact one by the last step
    (``eps_exact * (1 -/+ step)``; for ResNet-20 at sparsity 0.9, 0.972 ``eps_exact``).
    O(iterations), about 60.
    """
    total_dims = sum(sum(int(s) for s in shape) for shape in shapes)
    target = float(n_keep)
    if total_dims <= 0:
        raise InputError("no weights to prune; pass at least one weight shape")
    if solve == "exact":
        return target / total_dims
    if solve != "search":
        raise InputError(f"unknown ER epsilon solver {solve!r}; use 'search' (as published) or 'exact'")
    eps, step = _SEARCH_START, _SEARCH_STEP
    for _ in range(10_000):
        current = eps * total_dims
        eps *= (1.0 - step) if current > target else (1.0 + step)
        step *= _SEARCH_DECAY
        if abs(current - target) < _SEARCH_TOLERANCE:
            return eps
    raise InputError(  # the step shrinks geometrically: a target beyond ~e^(+-10) of the start
        f"the published ER search cannot reach {target:g} kept weights from eps = 10 with {total_dims} "
        "summed dimensions; use solve='exact'"
    )


def scaled_densities(raw: Sequence[float], sizes: Sequence[int], density: float) -> tuple[list[float], float]:
    """Densities ``min(1, eps * raw_l)`` with ``sum_l d_l * sizes_l = density * sum(sizes)``.

    Returns ``(densities, eps)``.  Layers whose density would exceed 1 are set dense and
    ``eps`` is re-solved on the others (RigL's procedure).  ``eps`` is ``inf`` when every
    layer ends up dense (``density == 1``).
    """
    if not 0.0 <= density <= 1.0:
        raise InputError(f"density must lie in [0, 1], got {density}; pass the fraction of weights kept")
    total = sum(int(n) for n in sizes)
    target = density * total
    dense: set[int] = set()
    eps = math.inf
    while True:
        free = [i for i in range(len(sizes)) if i not in dense]
        if not free:
            break
        budget = target - sum(sizes[i] for i in dense)
        divisor = sum(raw[i] * sizes[i] for i in free)
        eps = budget / divisor
        over = {i for i in free if eps * raw[i] > 1.0}
        if not over:
            break
        dense |= over
    densities = [1.0 if i in dense else max(0.0, eps * raw[i]) for i in range(len(sizes))]
    return densities, eps


def layer_densities(shapes: Sequence[Sequence[int]], density: float, kind: str, *, solve: str = "search") -> list[float]:
    """Per-layer densities for ``kind`` in :data:`KINDS` at global ``density``.

    ``solve`` chooses the ``eps`` of ``kind="er"`` (see :func:`er_epsilon`); the other
    kinds ignore it.
    """
    sizes = [math.prod(int(s) for s in shape) for shape in shapes]
    if kind == "uniform":
        return [float(density)] * len(shapes)
    if kind == "er":
        if not 0.0 <= density <= 1.0:
            raise InputError(f"density must lie in [0, 1], got {density}; pass the fraction of weights kept")
        eps = er_epsilon(shapes, density * sum(sizes), solve=solve)
        return [min(1.0, eps * raw_erk_scale(s)) for s in shapes]
    if kind == "er_channel":
        raw = [raw_er_channel_scale(s) for s in shapes]
    elif kind == "erk":
        raw = [raw_erk_scale(s) for s in shapes]
    else:
        raise InputError(f"unknown layer-wise scheme {kind!r}; use one of {', '.join(KINDS)}")
    return scaled_densities(raw, sizes, density)[0]


def layerwise_random_masks(
    shapes: "dict[str, Sequence[int]]",
    n_keep: int,
    kind: str,
    generator,
    *,
    solve: str = "search",
    density: float | None = None,
) -> "dict":
    """Masks with per-layer counts from :func:`layer_densities` and random positions inside each layer.

    The real per-layer targets ``d_l * N_l`` are rounded with
    :func:`pruners.selection.allocate_counts` so every layer is within one weight of its
    target.  For the kinds of :data:`EXACT_COUNT_KINDS` the targets sum to ``n_keep`` and
    so do the counts; for ``"er"`` the counts sum to the rounded sum of its targets, which
    differs from ``n_keep`` (see :func:`layer_densities`).  ``density`` is the global
    density the scheme aims at (default ``n_keep / total``); the published ER search
    aims at ``total * (1 - sparsity)``, and the ``eps`` it stops at depends on that target
    to the fraction of a weight.
    """
    from .selection import allocate_counts, random_layer_masks

    names = list(shapes)
    sizes = [math.prod(int(s) for s in shapes[n]) for n in names]
    total = sum(sizes)
    if density is None:
        density = n_keep / total if total else 1.0
    densities = layer_densities([shapes[n] for n in names], density, kind, solve=solve)
    if kind not in EXACT_COUNT_KINDS:
        n_keep = min(total, int(math.floor(sum(d * n for d, n in zip(densities, sizes)) + 0.5)))
    counts = allocate_counts(densities, sizes, n_keep)
    return random_layer_masks({n: tuple(shapes[n]) for n in names}, dict(zip(names, counts)), generator)
