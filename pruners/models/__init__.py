"""Model zoo: the paper's CIFAR models and ImageNet-scale ones (written from the papers).

CIFAR (default input ``(3, 32, 32)``, 10 classes): Conv-6, ResNet-20, ResNet-32,
Wide-ResNet-28-2 and the CIFAR MobileNetV2 of the authors' published data
(``mobilenet_v2``).  ImageNet (default input ``(3, 224, 224)``, 1000 classes):
``resnet18``, ``resnet50`` and ``mobilenet_v2_imagenet``.

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
from .imagenet_resnet import ImageNetResNet, resnet18, resnet50
from .mobilenet import MobileNetV2, mobilenet_v2, mobilenet_v2_imagenet
from .resnet import CifarResNet, resnet20, resnet32
from .wide_resnet import WideResNet, wrn28_2

__all__ = [
    "MODELS",
    "get_model",
    "canonical_name",
    "Conv6",
    "CifarResNet",
    "WideResNet",
    "resnet20",
    "resnet32",
    "wrn28_2",
    "ImageNetResNet",
    "MobileNetV2",
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v2_imagenet",
    "count_parameters",
]

MODELS: dict[str, Callable[..., nn.Module]] = {
    "conv6": Conv6,
    "resnet20": resnet20,
    "resnet32": resnet32,
    "wrn28_2": wrn28_2,
    "mobilenet_v2": mobilenet_v2,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v2_imagenet": mobilenet_v2_imagenet,
}

_ALIASES = {
    "conv6": "conv6",
    "resnet20": "resnet20",
    "resnet32": "resnet32",
    "wrn282": "wrn28_2",
    "wideresnet282": "wrn28_2",
    "mobilenetv2": "mobilenet_v2",
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "mobilenetv2imagenet": "mobilenet_v2_imagenet",
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
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    **kwargs,
) -> nn.Module:
    """Build a zoo model.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS` (aliases accepted).
    num_classes : int, optional
        Size of the classifier output (default: 10 for the CIFAR models, 1000 for
        the ImageNet ones).
    input_shape : tuple, optional
        ``(C, H, W)`` of one input sample without the batch dimension (default:
        ``(3, 32, 32)`` for the CIFAR models, ``(3, 224, 224)`` for the ImageNet
        ones).  The models adapt their first layer to ``C`` and (Conv-6) their
        first linear layer to ``H`` and ``W``.
    **kwargs
        Architecture options, e.g. ``shortcut="A"`` for the ResNets.
    """
    canon = canonical_name(name)
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W) with positive entries, got {input_shape!r}")
        kwargs["input_shape"] = shape
    if num_classes is not None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
        kwargs["num_classes"] = int(num_classes)
    return MODELS[canon](**kwargs)


def count_parameters(model: nn.Module, *, prunable_only: bool = False) -> int:
    """Number of parameters (only conv/linear weights when ``prunable_only``)."""
    if not prunable_only:
        return sum(p.numel() for p in model.parameters())
    return sum(
        m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    )
