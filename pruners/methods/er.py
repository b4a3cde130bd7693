"""Erdős–Rényi (ER) layer-wise random pruning as Cunegatti et al. (TMLR 2024) ran it.

This is the ``er`` of the paper's published networks and accuracies (SET's rule, Mocanu
et al. 2018, adapted to convolutions over the whole weight shape).  Layer ``l`` with
weight shape ``(out, in, kh, kw)`` (``(out, in)`` for linear layers) gets density::

    d_l = min(1, eps * (out + in + kh + kw) / (out * in * kh * kw))

with ``eps`` from the authors' search for ``eps * sum_l sum(shape_l) = n_keep``
(:func:`pruners.layerwise.er_epsilon`; ``epsilon="exact"`` solves it exactly instead).
Unlike ``erk`` and ``er_channel``, a layer clipped at density 1 is **not** re-solved and
the search stops off its target, so the network keeps a number of weights close to but
not exactly ``n_keep`` (:func:`pruners.prune` warns with the achieved sparsity; e.g.
ResNet-20 at 0.9 keeps 2.8% fewer weights; Conv-6 at 0.6, whose first convolution
saturates, also fewer).  Where no layer saturates the densities are ERK's times
``eps_search / eps_exact``.  Counts per layer are within one weight of ``d_l N_l`` (the
authors drew Bernoulli masks with these probabilities), at uniformly random positions.
The per-layer densities match the published ``layer_sparsity`` of every ``er`` network of
Conv-6, ResNet-20, ResNet-32 and WRN-28-2 on the three data sets within binomial noise
(``tests/test_published_er.py``).  Data-free.

RigL's channel-only "ER" (density ``~ (n_in + n_out) / (n_in n_out)``, kernel ignored,
saturated layers re-solved) is the method ``er_channel``.

References: D. C. Mocanu et al. "Scalable training of artificial neural networks with
adaptive sparse connectivity inspired by network science". Nature Communications 2018;
E. Cunegatti, M. Farina, D. Bucur, G. Iacca. "Understanding Sparse Neural Networks from
their Topology via Multipartite Graph Representations". TMLR 2024 (code: the ``ER``
initialisation of its sparse-training module).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from topocore.errors import InputError

from ..layerwise import layerwise_random_masks
from ._common import Context, PruningMethod, model_device, prunable_weights

__all__ = ["prune_er", "METHOD"]


def prune_er(model: nn.Module, n_keep: int, ctx: Context, *, epsilon: str = "search") -> dict[str, torch.Tensor]:
    """The published ER densities (``epsilon="search"``, or ``"exact"``), random positions."""
    if epsilon not in ("search", "exact"):
        raise InputError(f"er: epsilon must be 'search' (as published) or 'exact', got {epsilon!r}")
    shapes = {n: tuple(w.shape) for n, w in prunable_weights(model).items()}
    density = None if ctx.sparsity is None else 1.0 - float(ctx.sparsity)  # the authors' target, unrounded
    masks = layerwise_random_masks(shapes, n_keep, "er", ctx.generator, solve=epsilon, density=density)
    return {n: m.to(model_device(model)) for n, m in masks.items()}


METHOD = PruningMethod(
    "er",
    prune_er,
    needs_data=False,
    needs_input_shape=False,
    summary="the published ER: density ~ sum(shape) / prod(shape), searched eps, no re-solve",
    exact_count=False,
)
