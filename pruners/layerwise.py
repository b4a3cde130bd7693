"""Layer-wise densities of the layer-wise random pruning methods (uniform, ER, ERK).

Given the prunable weight shapes and a global sparsity ``s`` (density ``D = 1 - s``):

* **uniform** (Zhu & Gupta 2017): ``d_l = D`` for every layer.
* **ER** (Erdős–Rényi, Mocanu et al. 2018): ``d_l = eps * (n_in + n_out) / (n_in * n_out)``
  with ``n_in, n_out`` the input/output channels (features) of the layer.
* **ERK** (Erdős–Rényi-Kernel, Evci et al. 2020, "Rigging the Lottery"):
  ``d_l = eps * sum(shape) / prod(shape)`` over the weight shape ``(out, in, kh, kw)``
  (``(out, in)`` for linear layers, where ERK equals ER).

``eps`` is the single scale for which ``sum_l d_l * N_l = D * N``.  A layer whose density
would exceed 1 is made dense and ``eps`` is re-solved on the remaining layers until no
density exceeds 1, as in RigL's reference implementation.  Because raising ``eps`` never
lowers a density, all offending layers can be made dense at once; the fixed point is the
same.  Cost: O(L^2) for L layers.
"""

from __future__ import annotations

import math
from typing import Sequence

from topocore.errors import InputError

__all__ = ["raw_er_scale", "raw_erk_scale", "scaled_densities", "layer_densities", "layerwise_random_masks"]


def raw_er_scale(shape: Sequence[int]) -> float:
    """``(n_in + n_out) / (n_in * n_out)`` from a weight shape ``(out, in, ...)``."""
    n_out, n_in = int(shape[0]), int(shape[1])
    return (n_in + n_out) / (n_in * n_out)


def raw_erk_scale(shape: Sequence[int]) -> float:
    """``sum(shape) / prod(shape)`` of a weight shape ``(out, in, kh, kw)`` or ``(out, in)``."""
    return sum(int(s) for s in shape) / math.prod(int(s) for s in shape)


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


def layer_densities(shapes: Sequence[Sequence[int]], density: float, kind: str) -> list[float]:
    """Per-layer densities for ``kind`` in ``{"uniform", "er", "erk"}`` at global ``density``."""
    sizes = [math.prod(int(s) for s in shape) for shape in shapes]
    if kind == "uniform":
        return [float(density)] * len(shapes)
    if kind == "er":
        raw = [raw_er_scale(s) for s in shapes]
    elif kind == "erk":
        raw = [raw_erk_scale(s) for s in shapes]
    else:
        raise InputError(f"unknown layer-wise scheme {kind!r}; use 'uniform', 'er' or 'erk'")
    return scaled_densities(raw, sizes, density)[0]


def layerwise_random_masks(shapes: "dict[str, Sequence[int]]", n_keep: int, kind: str, generator) -> "dict":
    """Masks with per-layer counts from :func:`layer_densities` and random positions inside each layer.

    The real per-layer targets ``d_l * N_l`` sum to ``n_keep``; they are rounded with
    :func:`pruners.selection.allocate_counts` so the global count is exact and every layer
    is within one weight of its target.
    """
    from .selection import allocate_counts, random_layer_masks

    names = list(shapes)
    sizes = [math.prod(int(s) for s in shapes[n]) for n in names]
    total = sum(sizes)
    density = n_keep / total if total else 1.0
    densities = layer_densities([shapes[n] for n in names], density, kind)
    counts = allocate_counts(densities, sizes, n_keep)
    return random_layer_masks({n: tuple(shapes[n]) for n in names}, dict(zip(names, counts)), generator)
