"""Data sets for pruning and training: CIFAR-10/100, Tiny-ImageNet (32x32), digits, synthetic.

:func:`get_dataset` returns an :class:`ImageDataset` (a map-style torch ``Dataset`` holding
the images in memory) whose items are normalised float images and integer labels::

    >>> from pruners.data import get_dataset, make_loader
    >>> train = get_dataset("cifar10", "~/data", "train")     # augmentation on
    >>> loader = make_loader(train, 128, shuffle=True)

Nothing is downloaded: a missing data set raises :class:`DataNotFoundError` describing
the layout expected under ``root``.

============  =====================================  =======  ===========  ===============
name          source under ``root``                  classes  input_shape  normalisation
============  =====================================  =======  ===========  ===============
cifar10       ``cifar-10-batches-py/`` pickles       10       3x32x32      training-set mean/std
cifar100      ``cifar-100-python/`` pickles          100      3x32x32      training-set mean/std
tinyimagenet  ``tiny-imagenet-200/`` (box to 32x32)  200      3x32x32      training-set mean/std
digits        bundled with scikit-learn               10       3x32x32 or   training-set mean/std
                                                                1x8x8 ...
digits_t2     digits, 2x2 tiles shuffled and rotated  10       as digits    training-set mean/std
digits_noisy  digits + fixed Gaussian noise (0.3)     10       as digits    training-set mean/std
synthetic     generated (class prototypes + noise)    any      any          none
============  =====================================  =======  ===========  ===============

Training splits of cifar10/cifar100/tinyimagenet are augmented by default (random crop 32
with padding 4, horizontal flip); test splits never are.
"""

from __future__ import annotations

import os
from typing import Any

from .base import DataNotFoundError, ImageDataset, channel_stats, make_loader, random_crop_flip
from .cifar import CIFAR_STATS, load_cifar
from .digits import NOISE_SIGMA, load_digits
from .synthetic import make_synthetic
from .tinyimagenet import load_tinyimagenet

__all__ = [
    "DATASETS",
    "canonical_dataset",
    "get_dataset",
    "dataset_info",
    "ImageDataset",
    "DataNotFoundError",
    "make_loader",
    "random_crop_flip",
]

#: Data sets known to :func:`get_dataset` with their number of classes and default input shape.
DATASETS: dict[str, dict[str, Any]] = {
    "cifar10": {"num_classes": 10, "input_shape": (3, 32, 32)},
    "cifar100": {"num_classes": 100, "input_shape": (3, 32, 32)},
    "tinyimagenet": {"num_classes": 200, "input_shape": (3, 32, 32)},
    "digits": {"num_classes": 10, "input_shape": (3, 32, 32)},
    "digits_t2": {"num_classes": 10, "input_shape": (3, 32, 32)},
    "digits_noisy": {"num_classes": 10, "input_shape": (3, 32, 32)},
    "synthetic": {"num_classes": 10, "input_shape": (3, 32, 32)},
}

_ALIASES = {"digits-t2": "digits_t2", "digitst2": "digits_t2", "digits-noisy": "digits_noisy", "digitsnoisy": "digits_noisy", "cifar-10": "cifar10", "cifar-100": "cifar100", "tiny-imagenet": "tinyimagenet", "tiny_imagenet": "tinyimagenet", "tiny-imagenet-200": "tinyimagenet"}
#: The digits data set and the variants made from it (their input shape is an option).
_DIGITS = ("digits", "digits_t2", "digits_noisy")
_SPLITS = {"train": "train", "test": "test", "val": "test", "valid": "test", "validation": "test"}


def canonical_dataset(name: str) -> str:
    """Canonical data set name (``"CIFAR-10"`` -> ``"cifar10"``); ``ValueError`` for unknown names."""
    key = str(name).lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    return key


def dataset_info(name: str, **options: Any) -> dict[str, Any]:
    """``{"num_classes", "input_shape"}`` of a data set without loading it (options as in :func:`get_dataset`)."""
    key = canonical_dataset(name)
    info = dict(DATASETS[key])
    if key in _DIGITS + ("synthetic",) and options.get("input_shape") is not None:
        info["input_shape"] = tuple(int(s) for s in options["input_shape"])
    if key == "synthetic" and options.get("num_classes") is not None:
        info["num_classes"] = int(options["num_classes"])
    return info


def get_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    split: str = "train",
    *,
    augment: bool | None = None,
    normalize: bool = True,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int | None = None,
    n_samples: int | None = None,
    random_state: int = 0,
    cache: bool = True,
    progress: bool | None = None,
) -> ImageDataset:
    """Load a data set split as an in-memory :class:`ImageDataset`.

    Parameters
    ----------
    name : str
        ``cifar10``, ``cifar100``, ``tinyimagenet``, ``digits``, ``digits_t2``, ``digits_noisy`` or
        ``synthetic``.
    root : path-like, optional
        Folder holding the data (see the table in the module docstring); unused by
        ``digits`` and ``synthetic``.  ``~`` is expanded.
    split : str
        ``train`` or ``test`` (``val`` is accepted; Tiny-ImageNet's labelled ``val``
        folder is its test split).
    augment : bool, optional
        Random crop (padding 4) and horizontal flip.  Default: on for the training split
        of cifar10/cifar100/tinyimagenet, off otherwise (flipping digits would change them).
    normalize : bool
        Per-channel ``(x - mean) / std`` with the training split's statistics.
    input_shape : tuple, optional
        ``digits``, ``digits_t2``, ``digits_noisy``: ``(1, 8, 8)`` native or an upsampled ``(C, H, W)`` (default
        ``(3, 32, 32)``); ``synthetic``: any shape (default ``(3, 32, 32)``).
    num_classes, n_samples, random_state :
        ``synthetic`` only (defaults 10 classes, 512 train / 256 test samples, seed 0).
    cache : bool
        Tiny-ImageNet: cache the decoded 32x32 arrays next to the data.
    progress : bool, optional
        Progress bar while decoding Tiny-ImageNet.
    """
    key = canonical_dataset(name)
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    split = _SPLITS[split]
    if root is not None:
        root = os.path.expanduser(os.fspath(root))
    if key != "synthetic" and (num_classes is not None or n_samples is not None):
        raise ValueError(f"num_classes and n_samples apply to the synthetic data set only, not {key!r}")
    if key not in _DIGITS + ("synthetic",) and input_shape is not None and tuple(input_shape) != (3, 32, 32):
        raise ValueError(f"{key} images are 3x32x32; input_shape={tuple(input_shape)} is not available")
    if augment is None:
        augment = split == "train" and key in ("cifar10", "cifar100", "tinyimagenet")
    classes = None
    if key in ("cifar10", "cifar100"):
        images, labels, classes = load_cifar(key, root, split)
        mean, std = CIFAR_STATS[key]
        n_cls = DATASETS[key]["num_classes"]
    elif key == "tinyimagenet":
        images, labels, classes = load_tinyimagenet(root, split, cache=cache, progress=progress)
        train_images = images if split == "train" else load_tinyimagenet(root, "train", cache=cache, progress=progress)[0]
        mean, std = channel_stats(train_images)
        n_cls = DATASETS[key]["num_classes"]
    elif key in _DIGITS:
        shape = tuple(input_shape) if input_shape is not None else (3, 32, 32)
        if len(shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W), got {shape}")
        variant = {"tiles": 2 if key == "digits_t2" else None, "noise": NOISE_SIGMA if key == "digits_noisy" else None}
        images, labels = load_digits(split, shape, **variant)
        mean, std = channel_stats(load_digits("train", shape, **variant)[0] if split != "train" else images)
        n_cls = 10
    else:
        shape = tuple(input_shape) if input_shape is not None else (3, 32, 32)
        n_cls = int(num_classes) if num_classes is not None else 10
        images, labels = make_synthetic(split, shape, n_cls, n_samples, random_state=random_state)
        if images.ndim != 4:
            raise ValueError(f"synthetic input_shape must be (C, H, W), got {shape}")
        mean = std = None
    if not normalize:
        mean = std = None
    return ImageDataset(
        images, labels, name=key, split=split, num_classes=n_cls, mean=mean, std=std, augment=augment, classes=classes
    )
