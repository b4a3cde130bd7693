"""The harder digits variants: digits_t2 (tiles shuffled and rotated) and digits_noisy (fixed pixel noise)."""

from __future__ import annotations

import torch

from pruners.data import DATASETS, get_dataset
from pruners.data.digits import NOISE_SIGMA, tile_shuffle
from topocore import names


def test_registered_in_both_tables():
    for name in ("digits_t2", "digits_noisy"):
        assert name in DATASETS and name in names.DATASETS
        assert names.canonical_dataset(name.replace("_", "-")) == name


def test_tile_shuffle_is_a_fixed_bijection_of_the_pixels():
    x = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 1, 8, 8)
    y = tile_shuffle(x, 2, random_state=0)
    assert torch.equal(y, tile_shuffle(x, 2, random_state=0))
    perm = y[0, 0].flatten().long()  # image 0 holds its own pixel indices
    assert sorted(perm.tolist()) == list(range(64))
    assert torch.equal(y[1, 0].flatten(), x[1, 0].flatten()[perm])  # the same map for every image
    assert not torch.equal(y, x)
    # every 2x2 tile stays a (rotated) 2x2 tile of the original
    tiles = {tuple(sorted(x[0, 0, r:r + 2, c:c + 2].flatten().tolist())) for r in range(0, 8, 2) for c in range(0, 8, 2)}
    assert {tuple(sorted(y[0, 0, r:r + 2, c:c + 2].flatten().tolist())) for r in range(0, 8, 2) for c in range(0, 8, 2)} == tiles


def test_variants_keep_labels_and_the_noise_is_fixed():
    plain = get_dataset("digits", split="test", input_shape=(1, 8, 8), normalize=False)
    t2 = get_dataset("digits_t2", split="test", input_shape=(1, 8, 8), normalize=False)
    noisy = get_dataset("digits_noisy", split="test", input_shape=(1, 8, 8), normalize=False)
    again = get_dataset("digits_noisy", split="test", input_shape=(1, 8, 8), normalize=False)
    assert torch.equal(plain.labels, t2.labels) and torch.equal(plain.labels, noisy.labels)
    assert torch.equal(noisy.images, again.images)  # the same images every time: a data set, not augmentation
    diff = noisy.images - plain.images
    assert abs(float(diff.std()) - NOISE_SIGMA) < 0.01
    up = get_dataset("digits_noisy", split="test", input_shape=(3, 16, 16), normalize=False)
    assert torch.equal(up.images[:, 0, ::2, ::2], noisy.images[:, 0])  # noise on native pixels, then upsampled
