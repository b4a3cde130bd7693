"""In-memory image datasets with CIFAR-style augmentation and per-channel normalisation."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from topocore.errors import DataNotFoundError, InputError
from topocore.random import seed_of

__all__ = ["ImageDataset", "DataNotFoundError", "make_loader", "random_crop_flip", "channel_stats"]


def random_crop_flip(img: torch.Tensor, padding: int = 4, flip: bool = True) -> torch.Tensor:
    """Random crop of the original size from the zero-padded image, then a horizontal flip with p = 0.5.

    ``img`` is one ``(C, H, W)`` float image in [0, 1] (padding is black, as in the
    standard CIFAR recipe).  Uses the global torch RNG.
    """
    c, h, w = img.shape
    if padding > 0:
        padded = F.pad(img, (padding, padding, padding, padding))
        i = int(torch.randint(0, 2 * padding + 1, (1,)))
        j = int(torch.randint(0, 2 * padding + 1, (1,)))
        img = padded[:, i : i + h, j : j + w]
    if flip and bool(torch.rand(()) < 0.5):
        img = img.flip(-1)
    return img


class ImageDataset(torch.utils.data.Dataset):
    """Images held in memory with labels, normalised per channel, optionally augmented.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)``, ``uint8`` in [0, 255] or floating point in [0, 1] (or any range
        for synthetic data).
    labels : torch.Tensor
        ``(N,)`` integer class indices.
    name, split : str
        Data set name and split, for display.
    num_classes : int
    mean, std : sequence of float or None
        Per-channel normalisation ``(x - mean) / std`` applied after augmentation; ``None``
        leaves the values as they are.
    augment : bool
        Random crop (padding 4) and horizontal flip on every access (training only).
    flip : bool
        Whether augmentation includes the horizontal flip.

    ``dataset[i]`` returns ``(float32 image (C, H, W), int label)``.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        name: str,
        split: str,
        num_classes: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        augment: bool = False,
        flip: bool = True,
        classes: Sequence[str] | None = None,
    ) -> None:
        images = torch.as_tensor(images)
        labels = torch.as_tensor(labels).long()
        if images.ndim != 4 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise InputError(
                f"images must be (N, C, H, W) and labels (N,), got {tuple(images.shape)} and {tuple(labels.shape)}; "
                "pass one label per image"
            )
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise InputError(
                f"labels must lie in [0, {num_classes}), got range [{int(labels.min())}, {int(labels.max())}]; pass "
                "num_classes covering every label"
            )
        self.images = images.contiguous()
        self.labels = labels.contiguous()
        self.name = name
        self.split = split
        self.num_classes = int(num_classes)
        c = images.shape[1]
        self.mean = None if mean is None else torch.tensor(list(mean), dtype=torch.float32).reshape(c, 1, 1)
        self.std = None if std is None else torch.tensor(list(std), dtype=torch.float32).reshape(c, 1, 1)
        self.augment = bool(augment)
        self.flip = bool(flip)
        self.classes = list(classes) if classes is not None else None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one sample."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def _to_float(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self._to_float(self.images[index])
        if self.augment:
            x = random_crop_flip(x, 4, self.flip)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x, int(self.labels[index])

    def tensors(self, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised, un-augmented ``(inputs, labels)`` of the first ``limit`` samples (all by default)."""
        n = len(self) if limit is None else min(int(limit), len(self))
        x = self._to_float(self.images[:n])
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x, self.labels[:n].clone()

    def __repr__(self) -> str:
        return (
            f"ImageDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes}, augment={self.augment})"
        )


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of ``(N, C, H, W)`` images scaled to [0, 1]."""
    c = images.shape[1]
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    n = 0
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk]
        x = x.double() / 255.0 if x.dtype == torch.uint8 else x.double()
        s += x.sum(dim=(0, 2, 3))
        s2 += (x * x).sum(dim=(0, 2, 3))
        n += x.shape[0] * x.shape[2] * x.shape[3]
    mean = s / n
    std = (s2 / n - mean * mean).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def make_loader(
    dataset: torch.utils.data.Dataset,
    batch_size: int = 128,
    *,
    shuffle: bool = False,
    num_workers: int = 0,
    drop_last: bool = False,
    random_state: None | int | np.random.Generator = None,
    generator: torch.Generator | None = None,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` with this project's threading rules.

    ``num_workers=0`` (the default) loads in the main process, which is right on CPU.
    With workers, the ``spawn`` start method is used (forking a process that has started
    numba's OpenMP layer or CUDA is unsafe) and workers persist across epochs.
    ``random_state`` (or an explicit ``generator``, whose state can be saved) fixes the
    shuffling order; with neither, torch's global RNG shuffles.
    """
    if generator is None and random_state is not None:
        generator = torch.Generator().manual_seed(seed_of(random_state))
    kwargs = {}
    if num_workers > 0:
        kwargs = {"multiprocessing_context": "spawn", "persistent_workers": True}
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=int(batch_size),
        shuffle=shuffle,
        num_workers=int(num_workers),
        drop_last=drop_last,
        generator=generator,
        pin_memory=pin_memory,
        **kwargs,
    )


def describe_root(root: str | os.PathLike | None) -> str:
    return "<no --data-root given>" if root is None else os.fspath(root)
