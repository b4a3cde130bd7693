"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes): real data available offline.

Pixel values 0..16 are scaled to [0, 1].  The split is a fixed stratified 75/25 split
(``sklearn.model_selection.train_test_split``, ``random_state=0``): 1,347 training and
450 test images.  ``input_shape`` chooses the representation:

* ``(1, 8, 8)`` -- the native images;
* ``(C, H, W)`` with ``C`` in {1, 3} -- nearest-neighbour upsampling to ``H x W`` and the
  grey channel repeated ``C`` times; the default ``(3, 32, 32)`` fits every zoo model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from topocore.errors import InputError

__all__ = ["load_digits"]


def load_digits(split: str, input_shape: tuple[int, int, int] = (3, 32, 32)) -> tuple[torch.Tensor, torch.Tensor]:
    """``(float images (N, C, H, W) in [0, 1], labels (N,))`` of the ``train`` or ``test`` split."""
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    c, h, w = (int(s) for s in input_shape)
    if c not in (1, 3):
        raise InputError(f"digits are grey-scale: input_shape must have 1 or 3 channels, got {input_shape}")
    bunch = _sk_load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    idx_train, idx_test = train_test_split(torch.arange(len(y)).numpy(), test_size=0.25, random_state=0, stratify=y.numpy())
    idx = torch.as_tensor(idx_train if split == "train" else idx_test)
    x = x[idx].unsqueeze(1)
    if (h, w) != (8, 8):
        x = F.interpolate(x, size=(h, w), mode="nearest")
    x = x.repeat(1, c, 1, 1)
    return x.contiguous(), y[idx].clone()
