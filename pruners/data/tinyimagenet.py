"""Tiny-ImageNet (200 classes, 64x64) box-downsampled to 32x32, as in the paper (Chrabaszcz et al. 2017).

Expected layout (the standard ``tiny-imagenet-200.zip`` unpacked; nothing is downloaded)::

    ROOT/tiny-imagenet-200/wnids.txt
    ROOT/tiny-imagenet-200/train/<wnid>/images/*.JPEG
    ROOT/tiny-imagenet-200/val/images/*.JPEG
    ROOT/tiny-imagenet-200/val/val_annotations.txt   (file name <TAB> wnid <TAB> box ...)

``ROOT`` may also be the ``tiny-imagenet-200`` folder itself.  The labelled ``val`` split
serves as the test split (the official test images have no labels).  Class indices
follow the sorted ``wnids``.  Images are converted to RGB and resized to 32x32 with the
box filter (for 64x64 inputs: the mean of every 2x2 block).  Decoding 110,000 JPEGs takes
a while, so the result is cached next to the data as ``tinyimagenet32_<split>.npz``
(``cache=False`` disables it; an unwritable folder only skips the cache).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from topocore.errors import InputError
from topocore.io import atomic_write

from .base import DataNotFoundError, describe_root

__all__ = ["load_tinyimagenet", "box_downsample"]


def box_downsample(img: np.ndarray, size: int = 32) -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 image to ``(size, size, 3)`` with the box filter (area average)."""
    from PIL import Image

    if img.shape[0] == img.shape[1] and img.shape[0] % size == 0:
        f = img.shape[0] // size
        blocks = img.reshape(size, f, size, f, img.shape[2]).astype(np.float64).mean(axis=(1, 3))
        return np.floor(blocks + 0.5).astype(np.uint8)
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BOX))


def _find_folder(root: str | os.PathLike | None) -> Path:
    layout = (
        f"tinyimagenet not found under {describe_root(root)}. Expected the unpacked tiny-imagenet-200.zip: "
        "ROOT/tiny-imagenet-200/{wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG, "
        "val/val_annotations.txt} (or ROOT pointing at tiny-imagenet-200); pass ROOT with --data-root / root=..."
    )
    if root is None:
        raise DataNotFoundError(layout)
    base = Path(root)
    for candidate in (base / "tiny-imagenet-200", base):
        if (candidate / "wnids.txt").is_file() and (candidate / "train").is_dir() and (candidate / "val" / "val_annotations.txt").is_file():
            return candidate
    raise DataNotFoundError(layout)


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def load_tinyimagenet(
    root: str | os.PathLike | None, split: str, *, cache: bool = True, progress: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``(uint8 images (N, 3, 32, 32), labels (N,), wnids)`` of the ``train`` or ``test`` (= val) split."""
    folder = _find_folder(root)
    wnids = sorted(w.strip() for w in (folder / "wnids.txt").read_text().split() if w.strip())
    index = {w: i for i, w in enumerate(wnids)}
    cache_file = folder / f"tinyimagenet32_{split}.npz"
    if cache and cache_file.is_file():
        with np.load(cache_file) as z:
            if list(z["wnids"]) == wnids:
                return torch.from_numpy(z["images"]), torch.from_numpy(z["labels"]), wnids
    items: list[tuple[Path, int]] = []
    if split == "train":
        for w in wnids:
            img_dir = folder / "train" / w / "images"
            if not img_dir.is_dir():
                raise DataNotFoundError(f"tinyimagenet: class folder {img_dir} is missing (wnid {w} is listed in wnids.txt)")
            items += [(p, index[w]) for p in sorted(img_dir.iterdir()) if p.suffix.lower() in (".jpeg", ".jpg", ".png")]
    else:
        for line in (folder / "val" / "val_annotations.txt").read_text().splitlines():
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            if parts[1] not in index:
                raise InputError(
                    f"tinyimagenet: val_annotations.txt names wnid {parts[1]!r} absent from wnids.txt; unpack "
                    "tiny-imagenet-200.zip again"
                )
            items.append((folder / "val" / "images" / parts[0], index[parts[1]]))
    if not items:
        raise DataNotFoundError(f"tinyimagenet: no images found for split {split!r} under {folder}")
    images = np.empty((len(items), 3, 32, 32), dtype=np.uint8)
    labels = np.empty(len(items), dtype=np.int64)
    disable = None if progress is None else not progress
    for i, (path, label) in enumerate(tqdm(items, desc=f"tinyimagenet {split}", disable=disable, leave=False)):
        images[i] = box_downsample(_read_rgb(path)).transpose(2, 0, 1)
        labels[i] = label
    if cache:
        try:
            atomic_write(cache_file, lambda fh: np.savez(fh, images=images, labels=labels, wnids=np.array(wnids)))
        except OSError as exc:  # a read-only data folder only costs the decoding time next run; reported
            warnings.warn(
                f"could not write the Tiny-ImageNet cache {cache_file} ({exc}); the images are decoded again next time "
                "(make the folder writable or pass cache=False)",
                stacklevel=2,
            )
    return torch.from_numpy(images), torch.from_numpy(labels), wnids
