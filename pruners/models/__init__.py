"""Model zoo (the paper's CIFAR models, ImageNet-scale ones and the sparse MLP, written from the papers) and models of your own.

CIFAR (default input ``(3, 32, 32)``, 10 classes): Conv-6, ResNet-20, ResNet-32,
Wide-ResNet-28-2 and the CIFAR MobileNetV2 of the authors' published data
(``mobilenet_v2``).  ImageNet (default input ``(3, 224, 224)``, 1000 classes):
``resnet18``, ``resnet50`` and ``mobilenet_v2_imagenet``.  Fully connected (default
input ``(784,)``, 10 classes; any input shape, flattened): ``mlp``, the sparse MLP of
the dynamic-sparse-training studies (3 x 1000 hidden units, dense readout).  The DAG-wired
``dagnet`` of :mod:`pruners.models.dagnet` (blocks with learnable edge gates).

Use :func:`build` (seeded) or :func:`get_model`::

    >>> from pruners.models import build
    >>> model = build("resnet20", num_classes=10, input_shape=(3, 32, 32), random_state=0)
    >>> mine = build("mypackage.nets:small_cnn", 10, (3, 32, 32), random_state=0)
    >>> tv = build("torchvision.models:resnet18", 10, (3, 32, 32))   # when torchvision is installed

Zoo names follow the paper's accuracy tables (``conv6``, ``resnet20``, ``resnet32``,
``wrn28_2``); every spelling :func:`topocore.names.canonical_arch` knows (``"Resnet-20"``,
``"Wide-Resnet-28-2"``) is accepted (see :func:`canonical_name`).  A name holding ``":"``
is a model spec ``"package.module:factory"``, imported and called (see
:mod:`pruners.models.factory`).  All weights of conv and linear layers of the zoo are
initialised Kaiming-normal (fan-in, ReLU gain); BatchNorm weights to 1 and biases to 0.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
import torch.nn as nn

from topocore import names
from topocore.errors import InputError
from topocore.masks import prunable_layers
from topocore.random import seeded

from .conv import Conv6
from .dagnet import DAGNet, dagnet
from .factory import call_factory, is_spec, parse_spec, resolve_factory
from .imagenet_resnet import ImageNetResNet, resnet18, resnet50
from .mlp import MLP, mlp
from .mobilenet import MobileNetV2, mobilenet_v2, mobilenet_v2_imagenet
from .resnet import CifarResNet, resnet20, resnet32
from .wide_resnet import WideResNet, wrn28_2

__all__ = [
    "MODELS",
    "build",
    "get_model",
    "canonical_name",
    "canonical_model",
    "is_spec",
    "resolve_factory",
    "Conv6",
    "DAGNet",
    "dagnet",
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
    "MLP",
    "mlp",
    "count_parameters",
]

#: The zoo: canonical name -> constructor ``(num_classes=, input_shape=, **options)``.
#: Its names are :data:`topocore.names.ARCHS`; a model registered here at run time is
#: accepted under its registry name.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "conv6": Conv6,
    "resnet20": resnet20,
    "resnet32": resnet32,
    "wrn28_2": wrn28_2,
    "mobilenet_v2": mobilenet_v2,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v2_imagenet": mobilenet_v2_imagenet,
    "mlp": mlp,
    "dagnet": dagnet,
}

#: Zoo models that accept any input shape (flattened), not only ``(C, H, W)``.
_ANY_INPUT_SHAPE = {"mlp"}


def canonical_name(name: str) -> str:
    """Canonical zoo name of ``name`` in any spelling of :func:`topocore.names.canonical_arch`.

    ``"CONV-6"`` -> ``"conv6"``, ``"Resnet-20"`` -> ``"resnet20"``,
    ``"Wide-Resnet-28-2"`` -> ``"wrn28_2"``.  Raises :class:`~topocore.errors.InputError`
    listing the zoo for unknown names.
    """
    extra = tuple(m for m in MODELS if m not in names.ARCHS)
    try:
        key = names.canonical_arch(name, extra=extra)
    except InputError:
        key = None
    if key not in MODELS:
        raise InputError(
            f"unknown model {name!r}; the zoo has {', '.join(sorted(MODELS))}, and a model of your own is "
            "given as 'package.module:factory'"
        )
    return key


def canonical_model(arch_or_spec: str) -> str:
    """:func:`canonical_name` of a zoo name; a ``"package.module:factory"`` spec normalised (not imported)."""
    if is_spec(arch_or_spec):
        module, attr = parse_spec(arch_or_spec)
        return f"{module}:{attr}"
    return canonical_name(arch_or_spec)


def get_model(
    name: str,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a zoo model or the model of a ``"package.module:factory"`` spec (torch's global RNG initialises it).

    Parameters
    ----------
    name : str
        A zoo name (``conv6``, ``resnet20``, ``resnet32``, ``wrn28_2``, ``mobilenet_v2``,
        ``resnet18``, ``resnet50``, ``mobilenet_v2_imagenet``, ``mlp``, ``dagnet``; aliases accepted), or a
        model spec (see :mod:`pruners.models.factory`).
    num_classes : int, optional
        Size of the classifier output (default: the model's own, 10 for the CIFAR models
        and specs, 1000 for the ImageNet ones).
    input_shape : tuple, optional
        Shape of one input sample without the batch dimension: ``(C, H, W)`` for the zoo,
        whose models adapt their first layer to ``C`` and (Conv-6) their first linear
        layer to ``H`` and ``W`` (default: the model's own, ``(3, 32, 32)`` for the CIFAR
        models and specs, ``(3, 224, 224)`` for the ImageNet ones); ``mlp`` takes any
        shape and flattens it (``(784,)``, its default, or ``(1, 28, 28)``); any shape for
        a spec (passed on when the factory takes it).
    **kwargs
        Architecture options, e.g. ``shortcut="A"`` for the ResNets, ``hidden=(1000, 1000,
        1000)`` and ``dense_readout=True`` for ``mlp`` (see :mod:`pruners.models.mlp`), or
        keyword arguments of the factory.
    """
    if not is_spec(name):
        defaults = inspect.signature(MODELS[canonical_name(name)]).parameters
        if num_classes is None and "num_classes" in defaults and defaults["num_classes"].default is not inspect.Parameter.empty:
            num_classes = defaults["num_classes"].default
        if input_shape is None and "input_shape" in defaults and defaults["input_shape"].default is not inspect.Parameter.empty:
            input_shape = defaults["input_shape"].default
    num_classes = 10 if num_classes is None else num_classes
    input_shape = (3, 32, 32) if input_shape is None else input_shape
    if int(num_classes) < 1:
        raise InputError(f"num_classes must be >= 1, got {num_classes!r}")
    shape = tuple(int(s) for s in input_shape)
    if is_spec(name):
        if not shape or min(shape) < 1:
            raise InputError(f"input_shape must hold positive sizes, got {input_shape!r}")
        return call_factory(name, int(num_classes), shape, kwargs)
    canon = canonical_name(name)
    if not shape or min(shape) < 1 or (len(shape) != 3 and canon not in _ANY_INPUT_SHAPE):
        raise InputError(f"input_shape must be (C, H, W) with positive entries, got {input_shape!r}")
    constructor = MODELS[canon]
    try:
        inspect.signature(constructor).bind(num_classes=int(num_classes), input_shape=shape, **kwargs)
    except TypeError:
        params = inspect.signature(constructor).parameters
        options = [n for n in params if n not in ("num_classes", "input_shape")]
        raise InputError(
            f"zoo model {canon!r} has no option(s) {sorted(set(kwargs) - set(options))}; its options are {options or 'none'}"
        ) from None
    return constructor(num_classes=int(num_classes), input_shape=shape, **kwargs)


def build(
    arch_or_spec: str,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    *,
    random_state: None | int | np.random.Generator = None,
    **kwargs: Any,
) -> nn.Module:
    """The one way to build a model from a name: a zoo model or a ``"package.module:factory"`` spec.

    Parameters
    ----------
    arch_or_spec : str
        A zoo name in any known spelling (``"resnet20"``, ``"Wide-Resnet-28-2"``) or a
        model spec such as ``"mypackage.nets:small_cnn"`` or ``"torchvision.models:resnet18"``
        (imported; called with ``num_classes`` and ``input_shape`` when it accepts them;
        see :mod:`pruners.models.factory`).
    num_classes : int
        Classifier outputs.
    input_shape : tuple
        One sample's shape without the batch dimension (``(C, H, W)`` for the zoo).
    random_state : None, int or numpy.random.Generator
        Seeds the initialisation (torch's global RNG is forked, so the caller's state is
        unchanged); ``None`` draws from torch's global RNG like any torch constructor.
    **kwargs
        Architecture options (``shortcut="A"``) or keyword arguments of the factory.

    Raises
    ------
    topocore.errors.InputError
        For an unknown zoo name, a spec whose module or factory cannot be found, options
        the model does not take, or a factory that returns no ``torch.nn.Module``.
    """
    if random_state is None:
        return get_model(arch_or_spec, num_classes, input_shape, **kwargs)
    with seeded(random_state):
        return get_model(arch_or_spec, num_classes, input_shape, **kwargs)


def count_parameters(model: nn.Module, *, prunable_only: bool = False) -> int:
    """Number of parameters (only the prunable conv/linear weights when ``prunable_only``)."""
    if not prunable_only:
        return sum(p.numel() for p in model.parameters())
    return sum(m.weight.numel() for _, m in prunable_layers(model))
