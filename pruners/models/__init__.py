"""CIFAR model zoo: Conv-6, ResNet-20, ResNet-32, Wide-ResNet-28-2 and the DAG-wired dagnet (written from the papers).

Use :func:`get_model`::

    >>> from pruners.models import get_model
    >>> model = get_model("resnet20", num_classes=10, input_shape=(3, 32, 32))

Names follow the paper's accuracy tables (``conv6``, ``resnet20``, ``resnet32``,
``wrn28_2``); common spellings such as ``"Resnet-20"`` or ``"Wide-Resnet-28-2"`` are
accepted too (see :func:`canonical_name`).  All weights of conv and linear layers are
initialised Kaiming-normal (fan-in, ReLU gain); BatchNorm weights to 1 and biases to 0.
"""

from __future__ import annotations

import re
from typing import Callable

import torch.nn as nn

from .conv import Conv6
from .dagnet import DAGNet, dagnet
from .resnet import CifarResNet, resnet20, resnet32
from .wide_resnet import WideResNet, wrn28_2

__all__ = [
    "MODELS",
    "get_model",
    "canonical_name",
    "Conv6",
    "DAGNet",
    "dagnet",
    "CifarResNet",
    "WideResNet",
    "resnet20",
    "resnet32",
    "wrn28_2",
    "count_parameters",
]

MODELS: dict[str, Callable[..., nn.Module]] = {
    "conv6": Conv6,
    "resnet20": resnet20,
    "resnet32": resnet32,
    "wrn28_2": wrn28_2,
    "dagnet": dagnet,
}

_ALIASES = {
    "conv6": "conv6",
    "resnet20": "resnet20",
    "resnet32": "resnet32",
    "wrn282": "wrn28_2",
    "wideresnet282": "wrn28_2",
    "dagnet": "dagnet",
}


def canonical_name(name: str) -> str:
    """Map a model name in any common spelling to the zoo's canonical name.

    ``"CONV-6"`` -> ``"conv6"``, ``"Resnet-20"`` -> ``"resnet20"``,
    ``"Wide-Resnet-28-2"`` -> ``"wrn28_2"``.  Raises ``KeyError`` listing the zoo
    for unknown names.
    """
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    if key not in _ALIASES:
        raise KeyError(f"unknown model {name!r}; the zoo has {sorted(MODELS)}")
    return _ALIASES[key]


def get_model(
    name: str,
    num_classes: int = 10,
    input_shape: tuple[int, ...] = (3, 32, 32),
    **kwargs,
) -> nn.Module:
    """Build a zoo model.

    Parameters
    ----------
    name : str
        ``conv6``, ``resnet20``, ``resnet32``, ``wrn28_2`` or ``dagnet`` (aliases accepted).
    num_classes : int
        Size of the classifier output.
    input_shape : tuple
        ``(C, H, W)`` of one input sample without the batch dimension.  The
        models adapt their first layer to ``C`` and (Conv-6) their first linear
        layer to ``H`` and ``W``.
    **kwargs
        Architecture options, e.g. ``shortcut="A"`` for the ResNets; ``nodes``, ``channels``,
        ``graph``, ``gate``, ... for ``dagnet`` (see :mod:`pruners.models.dagnet`).
    """
    canon = canonical_name(name)
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) with positive entries, got {input_shape!r}")
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
    return MODELS[canon](num_classes=int(num_classes), input_shape=shape, **kwargs)


def count_parameters(model: nn.Module, *, prunable_only: bool = False) -> int:
    """Number of parameters (only conv/linear weights when ``prunable_only``)."""
    if not prunable_only:
        return sum(p.numel() for p in model.parameters())
    return sum(
        m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    )
