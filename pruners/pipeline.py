"""One pruning run from names: build a seeded zoo model, prune it, describe it in checkpoint metadata.

Used by the ``topometrics prune``, ``train`` and ``grid`` commands and handy in scripts::

    >>> from pruners.pipeline import prune_model
    >>> model, masks, meta = prune_model("resnet20", "erk", 0.9, dataset="cifar10")
    >>> pruners.save_checkpoint("r20-erk.pt", model, masks, meta)

The pseudo-method ``"dense"`` (sparsity 0, nothing pruned) gives dense baselines.
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

import torch
import torch.nn as nn

from ._rng import seeded
from .data import canonical_dataset, dataset_info, get_dataset
from .masks import apply_masks
from .methods import METHODS, _lookup, prune
from .models import canonical_name, get_model

__all__ = ["DENSE", "build_model", "prune_model", "canonical_method"]

#: Name of the no-pruning pseudo-method.
DENSE = "dense"


def canonical_method(method: str) -> str:
    """Registry name of ``method`` (``"dense"`` included); ``ValueError`` for unknown names."""
    if str(method).lower() == DENSE:
        return DENSE
    return _lookup(method).name


def build_model(
    arch: str,
    num_classes: int,
    input_shape: tuple[int, ...],
    seed: int,
    model_kwargs: Mapping[str, Any] | None = None,
) -> nn.Module:
    """``get_model(arch, ...)`` with its initialisation drawn from ``seed`` (the global RNG is preserved)."""
    with seeded(seed):
        return get_model(arch, int(num_classes), tuple(input_shape), **dict(model_kwargs or {}))


def prune_model(
    arch: str,
    method: str,
    sparsity: float,
    *,
    dataset: str | None = None,
    data_root: str | os.PathLike | None = None,
    seed: int = 0,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
    data: Any = None,
) -> tuple[nn.Module, dict[str, torch.Tensor], dict[str, Any]]:
    """Build ``arch`` initialised from ``seed``, prune it with ``method`` and return ``(model, masks, meta)``.

    The returned model carries the masks as ``torch.nn.utils.prune`` buffers.  ``num_classes``
    and ``input_shape`` default to the data set's (10 and 3x32x32 without a data set).
    Data-dependent methods read the training split of ``dataset`` (without augmentation)
    from ``data_root`` unless ``data`` is given.  ``meta`` is ready for
    :func:`pruners.save_checkpoint`.
    """
    arch = canonical_name(arch)
    method = canonical_method(method)
    key = canonical_dataset(dataset) if dataset is not None else None
    info = dataset_info(key, input_shape=input_shape) if key is not None else {"num_classes": 10, "input_shape": (3, 32, 32)}
    if num_classes is None:
        num_classes = info["num_classes"]
    if input_shape is None:
        input_shape = info["input_shape"]
    input_shape = tuple(int(s) for s in input_shape)
    if method == DENSE and float(sparsity) != 0.0:
        raise ValueError(f"the dense pseudo-method prunes nothing: use sparsity 0, not {sparsity}")
    model = build_model(arch, num_classes, input_shape, seed, model_kwargs).to(device)
    start = time.perf_counter()
    if method == DENSE:
        masks = prune(model, "magnitude", 0.0)
    else:
        if data is None and METHODS[method].needs_data:
            if key is None:
                raise ValueError(f"pruning method {method!r} is data-dependent: give a data set (dataset=..., --dataset)")
            data = get_dataset(key, data_root, "train", augment=False, input_shape=input_shape if key in ("digits", "digits_t2", "digits_noisy", "synthetic") else None)
        masks = prune(
            model, method, float(sparsity), data=data, input_shape=input_shape, random_state=int(seed), progress=progress, **dict(options or {})
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
        "seed": int(seed),
        "dataset": key,
        "accuracy": None,
        "dense_accuracy": None,
        "prune_options": dict(options or {}),
        "prune_seconds": round(seconds, 3),
        "trained_epochs": 0,
    }
    return model, masks, meta
