"""The MNIST family from its standard IDX files: MNIST, Fashion-MNIST, KMNIST, EMNIST letters.

Nothing is downloaded.  Each data set lives in its own folder under ``root``; the files
keep their distribution names, plain or gzip-compressed (``.gz``), directly in that folder
or in its ``raw/`` sub-folder (torchvision's layout)::

    root/
      mnist/            train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
                        t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]
      fashion_mnist/    (same four names; Zalando's distribution)
      kmnist/           (same four names; the KMNIST distribution)
      emnist_letters/   emnist-letters-train-images-idx3-ubyte[.gz]  emnist-letters-train-labels-idx1-ubyte[.gz]
                        emnist-letters-test-images-idx3-ubyte[.gz]   emnist-letters-test-labels-idx1-ubyte[.gz]

Folder names are matched case-insensitively with ``-``/``_`` ignored, and torchvision's
``MNIST``, ``FashionMNIST``, ``KMNIST`` and ``EMNIST`` folders are accepted too.

IDX format (LeCun et al.): a 4-byte magic number -- two zero bytes, a type byte (``0x08``
= unsigned byte, the only type these data sets use) and the number of dimensions -- then
one big-endian ``uint32`` per dimension, then the data in row-major order.  Images files
have 3 dimensions (magic 2051), label files 1 (magic 2049).  A file with another magic
number, a size that does not match its header (truncated or with trailing bytes), or
image and label files of different lengths is refused with an error naming the file and
the problem.

Per data set: 28x28 grey images, returned as ``uint8`` tensors ``(N, 1, 28, 28)``.
EMNIST letters: labels 1..26 in the files are shifted to 0..25, and the images, stored
transposed in the EMNIST distribution, are transposed back so letters read upright (as
torchvision does).
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np
import torch

from topocore.errors import DataMismatchError, DataNotFoundError, InputError

__all__ = ["IDX_DATASETS", "read_idx", "load_idx_dataset", "idx_file_names"]

#: ``{name: (folder spellings, file prefix, num_classes, label offset, transpose)}``.
IDX_DATASETS: dict[str, dict] = {
    "mnist": {"folders": ("mnist",), "prefix": "", "num_classes": 10, "label_offset": 0, "transpose": False},
    "fashion_mnist": {"folders": ("fashion_mnist", "fashionmnist"), "prefix": "", "num_classes": 10, "label_offset": 0, "transpose": False},
    "kmnist": {"folders": ("kmnist",), "prefix": "", "num_classes": 10, "label_offset": 0, "transpose": False},
    "emnist_letters": {"folders": ("emnist_letters", "emnist"), "prefix": "emnist-letters-", "num_classes": 26, "label_offset": 1, "transpose": True},
}

_MAGIC = {3: 2051, 1: 2049}
_UBYTE = 0x08


def idx_file_names(name: str, split: str) -> tuple[str, str]:
    """The (images, labels) file names of ``split`` (``train``/``test``) of an IDX data set, without ``.gz``."""
    spec = IDX_DATASETS[name]
    if spec["prefix"]:
        stem = f"{spec['prefix']}{'train' if split == 'train' else 'test'}"
    else:
        stem = "train" if split == "train" else "t10k"
    return f"{stem}-images-idx3-ubyte", f"{stem}-labels-idx1-ubyte"


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _folders(name: str, root: Path) -> list[Path]:
    """Candidate folders of data set ``name`` under ``root`` that exist, in preference order."""
    wanted = {_key(f) for f in IDX_DATASETS[name]["folders"]}
    found = []
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.is_dir() and _key(child.name) in wanted:
                found += [child, child / "raw"]
    return [f for f in found if f.is_dir()]


def _find(folder_list: list[Path], file_name: str) -> Path | None:
    for folder in folder_list:
        for candidate in (folder / file_name, folder / f"{file_name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _layout(name: str, root: object) -> str:
    images, labels = idx_file_names(name, "train")
    t_images, t_labels = idx_file_names(name, "test")
    folder = IDX_DATASETS[name]["folders"][0]
    return (
        f"expected the folder {root}/{folder}/ (or its raw/ sub-folder) holding {images}, {labels}, "
        f"{t_images} and {t_labels} (each plain or .gz)"
    )


def read_idx(path: str | os.PathLike, *, ndim: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes with ``ndim`` dimensions (``.gz`` decompressed).

    Raises :class:`~topocore.errors.InputError` naming the file for a wrong magic number,
    a non-``uint8`` type, or a size that disagrees with the header.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as exc:  # gzip raises BadGzipFile (OSError) or EOFError on a cut archive
        raise InputError(f"cannot read the IDX file {path}: {exc}; replace it with an intact copy") from None
    if len(data) < 4:
        raise InputError(f"{path} is truncated ({len(data)} bytes, shorter than the 4-byte IDX magic number); replace it")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or data[3] != ndim or data[2] != _UBYTE:
        raise InputError(
            f"{path} has the magic number {magic} (0x{magic:08x}), not {_MAGIC[ndim]} (0x{_MAGIC[ndim]:08x}) of an IDX "
            f"file of unsigned bytes with {ndim} dimension(s); is it the right file, or still compressed without a .gz name?"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError(f"{path} is truncated: {len(data)} bytes, shorter than its {header}-byte header; replace it")
    dims = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise InputError(
            f"{path} is {what}: its header announces {'x'.join(map(str, dims))} bytes of data ({expected} bytes in all) "
            f"but the file holds {len(data)}; replace it with an intact copy"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def load_idx_dataset(name: str, root: str | os.PathLike | None, split: str) -> tuple[torch.Tensor, torch.Tensor, list[str] | None]:
    """``(uint8 images (N, 1, 28, 28), int64 labels (N,), class names or None)`` of an IDX data set split."""
    if name not in IDX_DATASETS:
        raise InputError(f"unknown IDX data set {name!r}; known: {', '.join(IDX_DATASETS)}")
    spec = IDX_DATASETS[name]
    if root is None:
        raise DataNotFoundError(f"{name} is read from IDX files: pass --data-root (Python: root=...); {_layout(name, '<root>')}")
    root_path = Path(root)
    folders = _folders(name, root_path)
    images_name, labels_name = idx_file_names(name, split)
    images_path = _find(folders, images_name)
    labels_path = _find(folders, labels_name)
    if images_path is None or labels_path is None:
        missing = [n for n, p in ((images_name, images_path), (labels_name, labels_path)) if p is None]
        looked = ", ".join(str(f) for f in folders) if folders else f"no {spec['folders'][0]}/ folder under {root_path}"
        raise DataNotFoundError(f"{name} {split} split not found ({', '.join(missing)} missing; looked in {looked}): {_layout(name, root_path)}")
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[0] != labels.shape[0]:
        raise DataMismatchError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds {labels.shape[0]} labels; "
            "the two files must come from the same split and release"
        )
    labels = labels.astype(np.int64) - spec["label_offset"]
    if labels.size and (labels.min() < 0 or labels.max() >= spec["num_classes"]):
        raise DataMismatchError(
            f"{labels_path} holds labels outside {spec['label_offset']}..{spec['num_classes'] - 1 + spec['label_offset']} "
            f"(found {labels.min() + spec['label_offset']}..{labels.max() + spec['label_offset']}); is it the {name} label file?"
        )
    if spec["transpose"]:
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    classes = [chr(ord("a") + k) for k in range(26)] if name == "emnist_letters" else None
    return torch.from_numpy(images).unsqueeze(1).contiguous(), torch.from_numpy(labels), classes
