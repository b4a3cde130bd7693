"""Synthetic labelled images for tests and smoke runs.

Every class ``k`` has a prototype ``P_k ~ N(0, I)`` of ``input_shape`` drawn from
``random_state``; a sample of class ``k`` is ``P_k + noise * N(0, I)``.  Train and test share
the prototypes and differ in the noise, so a network can learn the task.  Labels cycle
through the classes (balanced) in a seeded random order.
"""

from __future__ import annotations

import numpy as np
import torch

from topocore.errors import InputError
from topocore.random import seed_of

__all__ = ["make_synthetic"]


def make_synthetic(
    split: str,
    input_shape: tuple[int, ...] = (3, 32, 32),
    num_classes: int = 10,
    n_samples: int | None = None,
    noise: float = 1.0,
    random_state: int | np.random.Generator = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(float images (N, *input_shape), labels (N,))``; ``n_samples`` defaults to 512 (train) / 256 (test).

    ``random_state`` (an int seed, or a Generator giving one draw) fixes the prototypes and samples.
    """
    if n_samples is None:
        n_samples = 512 if split == "train" else 256
    if int(num_classes) < 1 or int(n_samples) < 1:
        raise InputError(f"num_classes and n_samples must be positive, got {num_classes} and {n_samples}")
    shape = tuple(int(s) for s in input_shape)
    seed = seed_of(random_state)
    g = torch.Generator().manual_seed(seed)
    prototypes = torch.randn((int(num_classes), *shape), generator=g)
    g_split = torch.Generator().manual_seed(seed * 2 + (1 if split == "train" else 2))
    labels = (torch.arange(int(n_samples)) % int(num_classes))[torch.randperm(int(n_samples), generator=g_split)]
    x = prototypes[labels] + float(noise) * torch.randn((int(n_samples), *shape), generator=g_split)
    return x, labels
