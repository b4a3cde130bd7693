"""CIFAR-10 and CIFAR-100 from the standard python-pickle batches (Krizhevsky 2009).

Expected layout (nothing is downloaded)::

    ROOT/cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch
    ROOT/cifar-100-python/train, test

``ROOT`` may also be the batch folder itself.  Each pickle holds a dict with ``data``
(``N x 3072`` uint8, channel-major 32x32 images) and ``labels`` (CIFAR-10) or
``fine_labels`` (CIFAR-100).  The pickles are read with a restricted unpickler that only
rebuilds numpy arrays, so a tampered file cannot execute code.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topocore.errors import InputError

from .base import DataNotFoundError, describe_root

__all__ = ["load_cifar", "CIFAR_STATS", "read_pickle_batch"]

#: Per-channel mean and std of the CIFAR training sets (images scaled to [0, 1]).
CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}

_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", 100),
}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: CIFAR batches only contain numpy arrays")


def read_pickle_batch(path: Path) -> dict[str, Any]:
    """Read one CIFAR pickle batch safely; keys are returned as ``str``."""
    with open(path, "rb") as fh:
        raw = _NumpyOnlyUnpickler(io.BufferedReader(fh), encoding="bytes").load()
    if not isinstance(raw, dict):
        raise InputError(
            f"{path} is not a CIFAR batch (expected a dict, got {type(raw).__name__}); unpack the python version of the data set again"
        )
    return {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in raw.items()}


def _find_folder(name: str, root: str | os.PathLike | None) -> Path:
    folder, train_files, test_files, _, _ = _LAYOUT[name]
    layout = (
        f"{name} not found under {describe_root(root)}. Expected the python version of the data set "
        f"(https://www.cs.toronto.edu/~kriz/cifar.html) unpacked as ROOT/{folder}/"
        f"{{{', '.join(train_files + test_files)}}} (or ROOT pointing at that folder); pass ROOT with "
        "--data-root / root=..."
    )
    if root is None:
        raise DataNotFoundError(layout)
    base = Path(root)
    for candidate in (base / folder, base):
        if all((candidate / f).is_file() for f in train_files + test_files):
            return candidate
    raise DataNotFoundError(layout)


def load_cifar(name: str, root: str | os.PathLike | None, split: str) -> tuple[torch.Tensor, torch.Tensor, list[str] | None]:
    """``(uint8 images (N, 3, 32, 32), labels (N,), class names or None)`` of a CIFAR split."""
    if name not in _LAYOUT:
        raise InputError(f"unknown CIFAR variant {name!r}; use 'cifar10' or 'cifar100'")
    folder = _find_folder(name, root)
    _, train_files, test_files, label_key, num_classes = _LAYOUT[name]
    files = train_files if split == "train" else test_files
    images, labels = [], []
    for f in files:
        try:
            batch = read_pickle_batch(folder / f)
            data = np.asarray(batch["data"], dtype=np.uint8)
            lab = np.asarray(batch[label_key], dtype=np.int64)
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as exc:
            raise InputError(
                f"{folder / f} is not a valid {name} batch ({type(exc).__name__}: {exc}); unpack the python version of the "
                "data set again"
            ) from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != lab.shape[0]:
            raise InputError(
                f"{folder / f}: expected data of shape (N, 3072) and N labels, got {data.shape} and {lab.shape}; unpack the "
                "python version of the data set again"
            )
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
    x = torch.from_numpy(np.concatenate(images))
    y = torch.from_numpy(np.concatenate(labels))
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise InputError(f"{name} labels outside [0, {num_classes}) in {folder}; unpack the python version of the data set again")
    classes = None
    meta_file = folder / ("batches.meta" if name == "cifar10" else "meta")
    if meta_file.is_file():
        try:
            meta = read_pickle_batch(meta_file)
            key = "label_names" if name == "cifar10" else "fine_label_names"
            classes = [c.decode() if isinstance(c, bytes) else str(c) for c in meta.get(key, [])] or None
        except (pickle.UnpicklingError, ValueError, EOFError):
            classes = None  # class names are cosmetic; the images and labels were read fine
    return x, y, classes
