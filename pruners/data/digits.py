"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes): real data available offline.

Pixel values 0..16 are scaled to [0, 1].  The split is a fixed stratified 75/25 split
(``sklearn.model_selection.train_test_split``, ``random_state=0``): 1,347 training and
450 test images.  ``input_shape`` chooses the representation:

* ``(1, 8, 8)`` -- the native images;
* ``(C, H, W)`` with ``C`` in {1, 3} -- nearest-neighbour upsampling to ``H x W`` and the
  grey channel repeated ``C`` times; the default ``(3, 32, 32)`` fits every zoo model.

``digits_t2`` is a harder variant made the way Janik & Nowak (2021) made CIFAR10_T8 from
CIFAR-10: every native 8x8 image is cut into 2x2-pixel tiles, which are shuffled and each
rotated by a multiple of 90 degrees -- one fixed permutation and rotation for all images
(:func:`tile_shuffle`, ``random_state=0``) -- before any upsampling.  The class information
is kept (the map is a fixed bijection of the pixels) but local spatial structure is not.

``digits_noisy`` is a harder variant with fixed additive Gaussian noise: every native pixel
(in [0, 1]) gets ``N(0, 0.3**2)`` noise drawn once (seed 0 for the training split, 1 for
the test split), so the images are the same in every epoch (a harder data set, not an
augmentation).  A logistic regression on the raw 8x8 pixels drops from 0.97 to 0.88 test accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from topocore.errors import InputError

__all__ = ["load_digits", "tile_shuffle", "NOISE_SIGMA"]

#: Standard deviation of the fixed pixel noise of ``digits_noisy``.
NOISE_SIGMA = 0.3


def tile_shuffle(images: torch.Tensor, tile: int = 2, random_state: int = 0) -> torch.Tensor:
    """Cut ``(N, C, H, W)`` images into ``tile x tile`` tiles, permute the tiles and rotate each by
    a multiple of 90 degrees; the permutation and rotations are drawn once from ``random_state``
    and are the same for every image."""
    import numpy as np

    n, c, h, w = images.shape
    if h % tile or w % tile:
        raise InputError(f"images of {h}x{w} pixels cannot be cut into {tile}x{tile} tiles")
    rows, cols = h // tile, w // tile
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(rows * cols)
    turns = rng.integers(0, 4, size=rows * cols)
    tiles = images.reshape(n, c, rows, tile, cols, tile).permute(0, 1, 2, 4, 3, 5).reshape(n, c, rows * cols, tile, tile)
    tiles = tiles[:, :, torch.as_tensor(perm)]
    tiles = torch.stack([torch.rot90(tiles[:, :, t], int(turns[t]), dims=(-2, -1)) for t in range(rows * cols)], dim=2)
    return tiles.reshape(n, c, rows, cols, tile, tile).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w).contiguous()


def load_digits(
    split: str, input_shape: tuple[int, int, int] = (3, 32, 32), *, tiles: int | None = None,
    noise: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(float images (N, C, H, W) in [0, 1], labels (N,))`` of the ``train`` or ``test`` split.

    ``tiles=2`` applies :func:`tile_shuffle` to the native 8x8 images (the ``digits_t2`` data set);
    ``noise=sigma`` adds fixed Gaussian noise to the native pixels (``digits_noisy``).
    """
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
    if tiles is not None:
        x = tile_shuffle(x, int(tiles), random_state=0)
    if noise is not None:
        import numpy as np

        rng = np.random.default_rng(0 if split == "train" else 1)
        x = x + float(noise) * torch.from_numpy(rng.standard_normal(tuple(x.shape))).to(x.dtype)
    if (h, w) != (8, 8):
        x = F.interpolate(x, size=(h, w), mode="nearest")
    x = x.repeat(1, c, 1, 1)
    return x.contiguous(), y[idx].clone()
