"""Turning scores or per-layer densities into masks with exact counts.

* :func:`n_to_keep` -- how many of ``total`` weights a global ``sparsity`` keeps.
* :func:`global_top_k` -- keep the ``k`` highest scores over all layers; ties are broken
  deterministically (lower position first, positions ordered layer by layer in module
  order, row-major inside a layer); NaN scores count as ``-inf``.  O(N) via
  ``torch.kthvalue`` plus a pass over the tied entries.
* :func:`allocate_counts` -- integer per-layer counts from real-valued densities whose sum
  is exactly a global target (largest-remainder rounding, each count within 1 of
  ``density * size``).
* :func:`random_layer_masks` -- per-layer masks with exactly the given counts at uniformly
  random positions.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch

from topocore.errors import InputError

__all__ = ["n_to_keep", "global_top_k", "allocate_counts", "random_layer_masks", "exponential_schedule"]


def n_to_keep(total: int, sparsity: float) -> int:
    """Number of weights kept when removing ``round(sparsity * total)`` of ``total`` (halves round up)."""
    removed = int(math.floor(float(sparsity) * int(total) + 0.5))
    return int(total) - min(max(removed, 0), int(total))


def global_top_k(scores: Mapping[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Masks keeping exactly the ``k`` highest scores over all tensors of ``scores``.

    Ties at the threshold are resolved in favour of the lower global position (layers in
    the mapping's order, entries in row-major order), so the result is a deterministic
    function of the scores.  ``NaN`` is treated as ``-inf``.  Returns bool tensors on
    the scores' devices.
    """
    names = list(scores)
    flats = [scores[n].detach().reshape(-1).to(torch.float64) for n in names]
    sizes = [f.numel() for f in flats]
    total = sum(sizes)
    k = int(k)
    if not 0 <= k <= total:
        raise InputError(f"cannot keep {k} of {total} weights; k must lie in [0, {total}]")
    if total == 0:
        return {n: torch.zeros_like(scores[n], dtype=torch.bool) for n in names}
    device = flats[0].device
    flat = torch.cat([f.to(device) for f in flats])
    flat = torch.where(torch.isnan(flat), torch.full_like(flat, -math.inf), flat)
    if k == 0:
        keep = torch.zeros(total, dtype=torch.bool, device=device)
    elif k == total:
        keep = torch.ones(total, dtype=torch.bool, device=device)
    else:
        # the k-th largest value is the (total - k + 1)-th smallest
        threshold = torch.kthvalue(flat.cpu(), total - k + 1).values.to(device)
        keep = flat > threshold
        missing = k - int(keep.sum())
        if missing > 0:
            tied = torch.nonzero(flat == threshold, as_tuple=False).reshape(-1)[:missing]
            keep[tied] = True
    out = {}
    for name, part in zip(names, torch.split(keep, sizes)):
        out[name] = part.reshape(scores[name].shape).to(scores[name].device)
    return out


def allocate_counts(densities: Sequence[float], sizes: Sequence[int], total_keep: int) -> list[int]:
    """Integer counts ``c_l`` with ``sum(c_l) == total_keep``, ``0 <= c_l <= sizes[l]`` and ``|c_l - d_l n_l| < 1``.

    Largest-remainder rounding of the real targets ``d_l * n_l``: every layer gets the
    floor, and the missing units go to the largest fractional parts (earlier layers
    first on ties).  The real targets must sum to ``total_keep`` up to rounding error.
    """
    if len(densities) != len(sizes):
        raise InputError("densities and sizes differ in length; give one density per layer")
    targets = [min(max(float(d), 0.0), 1.0) * int(n) for d, n in zip(densities, sizes)]
    counts = [min(int(math.floor(t + 1e-9)), int(n)) for t, n in zip(targets, sizes)]
    remainder = int(total_keep) - sum(counts)
    fractions = [t - c for t, c in zip(targets, counts)]
    if remainder > 0:
        order = sorted(range(len(sizes)), key=lambda i: (-fractions[i], i))
        for i in order:
            if remainder == 0:
                break
            if counts[i] < sizes[i]:
                counts[i] += 1
                remainder -= 1
    elif remainder < 0:
        order = sorted(range(len(sizes)), key=lambda i: (fractions[i], i))
        for i in order:
            if remainder == 0:
                break
            if counts[i] > 0:
                counts[i] -= 1
                remainder += 1
    if remainder != 0:
        raise InputError(f"cannot place {total_keep} weights in layers of sizes {list(sizes)}; keep at most their sum")
    return counts


def random_layer_masks(
    shapes: Mapping[str, torch.Size],
    counts: Mapping[str, int],
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Per-layer bool masks with exactly ``counts[name]`` kept entries at uniformly random positions."""
    out = {}
    for name, shape in shapes.items():
        n = math.prod(shape)
        c = int(counts[name])
        if not 0 <= c <= n:
            raise InputError(f"cannot keep {c} of {n} weights in {name!r}; counts must lie in [0, layer size]")
        flat = torch.zeros(n, dtype=torch.bool)
        if c:
            flat[torch.randperm(n, generator=generator)[:c]] = True
        out[name] = flat.reshape(shape)
    return out


def exponential_schedule(total: int, n_keep: int, iterations: int) -> list[int]:
    """Kept counts of an iterative pruning run: ``round(total * d ** ((k + 1) / iterations))``.

    ``d = n_keep / total`` is the final density; the last entry is exactly ``n_keep`` and the
    counts never increase (Tanaka et al. 2020, Section 6).
    """
    if iterations < 1:
        raise InputError(f"iterations must be >= 1, got {iterations}; pass iterations=1 or more")
    if total == 0:
        return [0] * iterations
    density = n_keep / total
    counts = [int(round(total * density ** ((k + 1) / iterations))) for k in range(iterations)]
    counts[-1] = n_keep
    for i in range(1, iterations):
        counts[i] = min(counts[i], counts[i - 1])
    return [max(c, n_keep) for c in counts]
