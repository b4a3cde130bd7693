"""Sparse multilayer perceptron: the fully connected network of dynamic-sparse-training studies.

``input -> hidden[0] -> ... -> hidden[-1] -> num_classes`` fully connected layers with
ReLU after every hidden layer and no normalisation, as in Mocanu et al. 2018 (SET) and in
the robustness study of Sulyok et al. (their Figure 1a: a 28x28 input, three sparse
hidden layers of 1000 units and a dense readout).  An image-shaped input (``(C, H, W)``)
is flattened first, so the model takes the MNIST-family and digits images directly.

With ``dense_readout=True`` (the default) the readout layer is marked ``prunable = False``
(see :func:`topocore.masks.is_prunable`): it never receives a mask, so every pruner
(``pruners.prune``) and every dynamic-sparse-training method (``pruners.dst``) keeps it
dense and global sparsities count the hidden layers only.

Parameter names: ``hidden.0.weight``, ``hidden.1.weight``, ... and ``readout.weight``
(every layer has a bias).  Initialisation: Kaiming-normal (fan-in, ReLU gain) weights and
zero biases, like the rest of the zoo.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from topocore.errors import InputError

from ._init import kaiming_init

__all__ = ["MLP", "mlp"]


class MLP(nn.Module):
    """Fully connected ReLU network ``prod(input_shape) -> *hidden -> num_classes``."""

    def __init__(
        self,
        num_classes: int = 10,
        input_shape: Sequence[int] = (784,),
        hidden: Sequence[int] = (1000, 1000, 1000),
        dense_readout: bool = True,
    ) -> None:
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        if not shape or min(shape) < 1:
            raise InputError(f"mlp input_shape must hold positive sizes, got {tuple(input_shape)!r}")
        try:
            widths = [int(h) for h in hidden]
        except (TypeError, ValueError):
            raise InputError(f"mlp hidden must be a sequence of layer widths like (1000, 1000, 1000), got {hidden!r}") from None
        if any(w < 1 for w in widths):
            raise InputError(f"mlp hidden widths must be positive, got {tuple(widths)}")
        if int(num_classes) < 1:
            raise InputError(f"num_classes must be >= 1, got {num_classes!r}")
        self.input_shape = shape
        self.dense_readout = bool(dense_readout)
        sizes = [math.prod(shape)] + widths
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.readout = nn.Linear(sizes[-1], int(num_classes))
        if self.dense_readout:
            self.readout.prunable = False
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.readout(x)


def mlp(
    num_classes: int = 10,
    input_shape: Sequence[int] = (784,),
    hidden: Sequence[int] = (1000, 1000, 1000),
    dense_readout: bool = True,
) -> MLP:
    """The sparse-training MLP (3 x 1000 hidden units, dense readout by default)."""
    return MLP(num_classes, input_shape, hidden, dense_readout)
