"""Data sets for pruning and training: CIFAR-10/100, Tiny-ImageNet (32x32), the MNIST family, digits, synthetic.

:func:`get_dataset` returns an :class:`ImageDataset` (a map-style torch ``Dataset`` holding
the images in memory) whose items are normalised float images and integer labels::

    >>> from pruners.data import get_dataset, make_loader
    >>> train = get_dataset("cifar10", "~/data", "train")     # augmentation on
    >>> loader = make_loader(train, 128, shuffle=True)

Nothing is downloaded: a missing data set raises :class:`DataNotFoundError` describing
the layout expected under ``root``.

==============  =======================================  =======  ===========  ===============
name            source under ``root``                    classes  input_shape  normalisation
==============  =======================================  =======  ===========  ===============
cifar10         ``cifar-10-batches-py/`` pickles         10       3x32x32      training-set mean/std
cifar100        ``cifar-100-python/`` pickles            100      3x32x32      training-set mean/std
tinyimagenet    ``tiny-imagenet-200/`` (box to 32x32)    200      3x32x32      training-set mean/std
mnist           ``mnist/`` IDX files                     10       1x28x28      training-set mean/std
fashion_mnist   ``fashion_mnist/`` IDX files             10       1x28x28      training-set mean/std
kmnist          ``kmnist/`` IDX files                    10       1x28x28      training-set mean/std
emnist_letters  ``emnist_letters/`` IDX files            26       1x28x28      training-set mean/std
digits          bundled with scikit-learn                10       3x32x32 or   training-set mean/std
                                                                  1x8x8 ...
digits_t2       digits, 2x2 tiles shuffled and rotated   10       as digits    training-set mean/std
digits_noisy    digits + fixed Gaussian noise (0.3)      10       as digits    training-set mean/std
synthetic       generated (class prototypes + noise)     any      any          none
==============  =======================================  =======  ===========  ===============

The MNIST family's file names and folder spellings are in :mod:`pruners.data.idx`
(EMNIST letters' labels are shifted to 0..25).

Training splits of cifar10/cifar100/tinyimagenet are augmented by default (random crop 32
with padding 4, horizontal flip); test splits never are.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from topocore.errors import InputError
from topocore.names import DATASETS, canonical_dataset

from .base import DataNotFoundError, ImageDataset, channel_stats, make_loader, random_crop_flip
from .cifar import CIFAR_STATS, load_cifar
from .digits import NOISE_SIGMA, load_digits
from .idx import IDX_DATASETS, load_idx_dataset
from .synthetic import make_synthetic
from .tinyimagenet import load_tinyimagenet

__all__ = [
    "DATASETS",
    "LOADERS",
    "RESHAPABLE",
    "canonical_dataset",
    "get_dataset",
    "dataset_info",
    "ImageDataset",
    "DataNotFoundError",
    "make_loader",
    "random_crop_flip",
]

# ``DATASETS`` (class counts and default input shapes) and ``canonical_dataset`` (every
# spelling: "CIFAR_10", "Tiny ImageNet", ...) are topocore.names', re-exported here.

#: Data sets whose ``input_shape`` is chosen by the caller (the others are 3x32x32 images).
RESHAPABLE = frozenset({"digits", "digits_t2", "digits_noisy", "synthetic"})
_SPLITS = {"train": "train", "test": "test", "val": "test", "valid": "test", "validation": "test"}

_Loaded = tuple  # (images, labels, classes or None, mean or None, std or None, num_classes)


def _cifar(key: str, root: str | None, split: str, opts: dict[str, Any]) -> _Loaded:
    images, labels, classes = load_cifar(key, root, split)
    mean, std = CIFAR_STATS[key]
    return images, labels, classes, mean, std, DATASETS[key]["num_classes"]


def _tinyimagenet(key: str, root: str | None, split: str, opts: dict[str, Any]) -> _Loaded:
    def load(which: str):
        return load_tinyimagenet(root, which, cache=opts["cache"], progress=opts["progress"])

    images, labels, classes = load(split)
    mean, std = channel_stats(images if split == "train" else load("train")[0])
    return images, labels, classes, mean, std, DATASETS[key]["num_classes"]


def _digits(key: str, root: str | None, split: str, opts: dict[str, Any]) -> _Loaded:
    shape = opts["input_shape"] or DATASETS[key]["input_shape"]
    if len(shape) != 3:
        raise InputError(f"input_shape must be (C, H, W), got {shape}")
    variant = {"tiles": 2 if key == "digits_t2" else None, "noise": NOISE_SIGMA if key == "digits_noisy" else None}
    images, labels = load_digits(split, shape, **variant)
    mean, std = channel_stats(images if split == "train" else load_digits("train", shape, **variant)[0])
    return images, labels, None, mean, std, DATASETS[key]["num_classes"]


def _synthetic(key: str, root: str | None, split: str, opts: dict[str, Any]) -> _Loaded:
    shape = opts["input_shape"] or DATASETS[key]["input_shape"]
    n_cls = int(opts["num_classes"]) if opts["num_classes"] is not None else DATASETS[key]["num_classes"]
    images, labels = make_synthetic(split, shape, n_cls, opts["n_samples"], random_state=opts["random_state"])
    if images.ndim != 4:
        raise InputError(f"synthetic input_shape must be (C, H, W), got {shape}")
    return images, labels, None, None, None, n_cls


def _idx(key: str, root: str | None, split: str, opts: dict[str, Any]) -> _Loaded:
    images, labels, classes = load_idx_dataset(key, root, split)
    mean, std = channel_stats(images if split == "train" else load_idx_dataset(key, root, "train")[0])
    return images, labels, classes, mean, std, DATASETS[key]["num_classes"]


#: The data loaders by canonical name; the names are those of :data:`topocore.names.DATASETS`.
LOADERS: dict[str, Callable[[str, "str | None", str, dict[str, Any]], _Loaded]] = {
    "cifar10": _cifar,
    "cifar100": _cifar,
    "tinyimagenet": _tinyimagenet,
    "digits": _digits,
    "digits_t2": _digits,
    "digits_noisy": _digits,
    "synthetic": _synthetic,
    **{name: _idx for name in IDX_DATASETS},
}


def dataset_info(name: str, **options: Any) -> dict[str, Any]:
    """``{"num_classes", "input_shape"}`` of a data set without loading it (options as in :func:`get_dataset`)."""
    key = canonical_dataset(name)
    info = dict(DATASETS[key])
    if key in RESHAPABLE and options.get("input_shape") is not None:
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
    random_state: int | np.random.Generator = 0,
    cache: bool = True,
    progress: bool | None = None,
) -> ImageDataset:
    """Load a data set split as an in-memory :class:`ImageDataset`.

    Parameters
    ----------
    name : str
        ``cifar10``, ``cifar100``, ``tinyimagenet``, ``mnist``, ``fashion_mnist``, ``kmnist``,
        ``emnist_letters``, ``digits`` (and its harder variants ``digits_t2``, ``digits_noisy``,
        see :mod:`pruners.data.digits`) or ``synthetic``, in any
        spelling :func:`topocore.names.canonical_dataset` accepts (``"CIFAR_10"``,
        ``"Tiny ImageNet"``).
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
        ``digits`` and its variants: ``(1, 8, 8)`` native or an upsampled ``(C, H, W)`` (default
        ``(3, 32, 32)``); ``synthetic``: any shape (default ``(3, 32, 32)``).
    num_classes, n_samples, random_state :
        ``synthetic`` only (defaults 10 classes, 512 train / 256 test samples,
        ``random_state=0``; pass the same int for both splits so they share the class
        prototypes).
    cache : bool
        Tiny-ImageNet: cache the decoded 32x32 arrays next to the data.
    progress : bool, optional
        Progress bar while decoding Tiny-ImageNet.

    Raises
    ------
    topocore.errors.DataNotFoundError
        When the data set is not under ``root`` (the message gives the expected layout).
    topocore.errors.InputError
        For an unknown name or split, options the data set does not take, or corrupt files.
    """
    key = canonical_dataset(name)
    if split not in _SPLITS:
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    split = _SPLITS[split]
    if root is not None:
        root = os.path.expanduser(os.fspath(root))
    if key != "synthetic" and (num_classes is not None or n_samples is not None):
        raise InputError(f"num_classes and n_samples apply to the synthetic data set only, not {key!r}; leave them out")
    if key not in RESHAPABLE and input_shape is not None and tuple(input_shape) != tuple(DATASETS[key]["input_shape"]):
        raise InputError(
            f"{key} images are {'x'.join(map(str, DATASETS[key]['input_shape']))}; input_shape={tuple(input_shape)} is "
            "not available (leave input_shape out)"
        )
    if augment is None:
        augment = split == "train" and key in ("cifar10", "cifar100", "tinyimagenet")
    opts = {"input_shape": tuple(input_shape) if input_shape is not None else None, "num_classes": num_classes,
            "n_samples": n_samples, "random_state": random_state, "cache": cache, "progress": progress}
    images, labels, classes, mean, std, n_cls = LOADERS[key](key, root, split, opts)
    if not normalize:
        mean = std = None
    return ImageDataset(
        images, labels, name=key, split=split, num_classes=n_cls, mean=mean, std=std, augment=augment, classes=classes
    )
