"""One pruning run from names: build a seeded model, prune it, describe it in checkpoint metadata.

Used by the ``topometrics prune``, ``train`` and ``grid`` commands and handy in scripts::

    >>> from pruners.pipeline import prune_model
    >>> model, masks, meta = prune_model("resnet20", "erk", 0.9, dataset="cifar10", random_state=0)
    >>> pruners.save_checkpoint("r20-erk.pt", model, masks, meta)

``arch`` is a zoo name or a model spec ``"package.module:factory"`` (see
:func:`pruners.models.build`).  The pseudo-method ``"dense"`` (sparsity 0, nothing pruned)
gives dense baselines.
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn

from topocore.errors import InputError
from topocore.names import DENSE
from topocore.random import seed_of

from .data import RESHAPABLE, canonical_dataset, dataset_info, get_dataset
from .masks import apply_masks
from .methods import METHODS, prune
from .methods import canonical_method as _registry_method
from .models import build, canonical_model

__all__ = ["DENSE", "build_model", "prune_model", "canonical_method"]


def canonical_method(method: str) -> str:
    """Registry name of ``method`` (``"dense"`` included); :class:`~topocore.errors.InputError` for unknown names.

    The spellings are those of :func:`topocore.names.canonical_method`.
    """
    return _registry_method(method, dense=True)


def build_model(
    arch: str,
    num_classes: int,
    input_shape: tuple[int, ...],
    random_state: None | int | np.random.Generator,
    model_kwargs: Mapping[str, Any] | None = None,
) -> nn.Module:
    """:func:`pruners.models.build` with the options as a dict: the model initialised from ``random_state``.

    ``arch`` is a zoo name or a ``"package.module:factory"`` spec; the caller's global RNG
    state is preserved (unless ``random_state`` is ``None``).
    """
    model_kwargs = dict(model_kwargs or {})
    clash = sorted({"num_classes", "input_shape", "random_state"} & set(model_kwargs))
    if clash:
        raise InputError(f"model options {clash} duplicate arguments of their own; pass them directly, not in model_kwargs")
    return build(arch, int(num_classes), tuple(input_shape), random_state=random_state, **model_kwargs)


def prune_model(
    arch: str,
    method: str,
    sparsity: float,
    *,
    dataset: str | None = None,
    data_root: str | os.PathLike | None = None,
    random_state: int | np.random.Generator | None = 0,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
    data: Any = None,
) -> tuple[nn.Module, dict[str, torch.Tensor], dict[str, Any]]:
    """Build ``arch`` initialised from ``random_state``, prune it with ``method`` and return ``(model, masks, meta)``.

    ``arch`` is a zoo name or a ``"package.module:factory"`` spec.  The returned model
    carries the masks as ``torch.nn.utils.prune`` buffers.  ``num_classes`` and
    ``input_shape`` default to the data set's (10 and 3x32x32 without a data set).
    Data-dependent methods read the training split of ``dataset`` (without augmentation)
    from ``data_root`` unless ``data`` is given.  ``random_state`` (an int; ``None`` or a
    Generator give one drawn int) seeds both the initialisation and the pruning and is
    recorded as ``meta["seed"]``.  ``meta`` is ready for :func:`pruners.save_checkpoint`.
    """
    arch = canonical_model(arch)
    method = canonical_method(method)
    seed = seed_of(random_state)
    key = canonical_dataset(dataset) if dataset is not None else None
    info = dataset_info(key, input_shape=input_shape) if key is not None else {"num_classes": 10, "input_shape": (3, 32, 32)}
    if num_classes is None:
        num_classes = info["num_classes"]
    if input_shape is None:
        input_shape = info["input_shape"]
    input_shape = tuple(int(s) for s in input_shape)
    if method == DENSE and float(sparsity) != 0.0:
        raise InputError(f"the dense pseudo-method prunes nothing: use sparsity 0, not {sparsity}")
    model = build_model(arch, num_classes, input_shape, seed, model_kwargs).to(device)
    start = time.perf_counter()
    if method == DENSE:
        masks = prune(model, "magnitude", 0.0)
    else:
        if data is None and METHODS[method].needs_data:
            if key is None:
                raise InputError(f"pruning method {method!r} is data-dependent: give a data set (dataset=..., --dataset)")
            data = get_dataset(key, data_root, "train", augment=False, input_shape=input_shape if key in RESHAPABLE else None)
        masks = prune(
            model, method, float(sparsity), data=data, input_shape=input_shape, random_state=seed, progress=progress,
            **dict(options or {}),
        )
    seconds = time.perf_counter() - start
    apply_masks(model, masks)
    meta: dict[str, Any] = {
        "arch": arch,
        "num_classes": int(num_classes),
        "input_shape": list(input_shape),
        "model_kwargs": dict(model_kwargs or {}),
        "method": method,
        "sparsity": float(sparsity),
        "seed": seed,
        "dataset": key,
        "accuracy": None,
        "dense_accuracy": None,
        "prune_options": dict(options or {}),
        "prune_seconds": round(seconds, 3),
        "trained_epochs": 0,
    }
    return model, masks, meta
