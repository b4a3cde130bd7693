"""MNIST-family IDX readers on tiny IDX files written by the tests (plain and gzip, broken ones refused)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from pruners.data import DATASETS, canonical_dataset, get_dataset
from pruners.data.idx import IDX_DATASETS, idx_file_names, load_idx_dataset, read_idx
from topocore import names
from topocore.errors import DataMismatchError, DataNotFoundError, InputError


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (an independent writer of the format)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_split(folder: Path, name: str, split: str, images: np.ndarray, labels: np.ndarray, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    img_name, lab_name = idx_file_names(name, split)
    for file_name, array in ((img_name, images), (lab_name, labels)):
        data = idx_bytes(array)
        if gz:
            (folder / f"{file_name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / file_name).write_bytes(data)


def fake(n: int, classes: int, offset: int = 0, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % classes + offset).astype(np.uint8)
    return images, labels


def test_names_and_registry_agree():
    assert set(IDX_DATASETS) == set(names.MNIST_DATASETS)
    for name in IDX_DATASETS:
        assert DATASETS[name]["num_classes"] == names.DATASETS[name]["num_classes"]
        assert tuple(DATASETS[name]["input_shape"]) == tuple(names.DATASETS[name]["input_shape"]) == (1, 28, 28)
    assert canonical_dataset("Fashion-MNIST") == "fashion_mnist" and names.canonical_dataset("EMNIST letters") == "emnist_letters"


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist"])
def test_round_trip_plain_and_gzip(tmp_path, name, gz):
    images, labels = fake(12, 10)
    write_split(tmp_path / name, name, "train", images, labels, gz)
    x, y, classes = load_idx_dataset(name, tmp_path, "train")
    assert x.dtype == torch.uint8 and tuple(x.shape) == (12, 1, 28, 28)
    assert np.array_equal(x[:, 0].numpy(), images) and np.array_equal(y.numpy(), labels.astype(np.int64))
    assert classes is None


def test_torchvision_layout_and_folder_spelling(tmp_path):
    images, labels = fake(5, 10)
    write_split(tmp_path / "FashionMNIST" / "raw", "fashion_mnist", "test", images, labels, gz=False)
    x, y, _ = load_idx_dataset("fashion_mnist", tmp_path, "test")
    assert len(y) == 5 and np.array_equal(x[:, 0].numpy(), images)


def test_emnist_letters_labels_shifted_and_images_transposed(tmp_path):
    images, labels = fake(52, 26, offset=1)
    write_split(tmp_path / "emnist_letters", "emnist_letters", "train", images, labels, gz=True)
    x, y, classes = load_idx_dataset("emnist_letters", tmp_path, "train")
    assert int(y.min()) == 0 and int(y.max()) == 25 and np.array_equal(y.numpy(), labels.astype(np.int64) - 1)
    assert np.array_equal(x[:, 0].numpy(), images.transpose(0, 2, 1))
    assert classes[0] == "a" and len(classes) == 26


def test_get_dataset_normalises_with_training_statistics(tmp_path):
    images, labels = fake(20, 10)
    write_split(tmp_path / "mnist", "mnist", "train", images, labels, gz=False)
    t_images, t_labels = fake(8, 10, seed=1)
    write_split(tmp_path / "mnist", "mnist", "test", t_images, t_labels, gz=True)
    train = get_dataset("MNIST", tmp_path, "train")
    test = get_dataset("mnist", tmp_path, "test")
    assert train.input_shape == (1, 28, 28) and train.num_classes == 10 and not train.augment
    x, _ = train.tensors()
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-2
    mean = images.astype(np.float64).mean() / 255
    assert float(test.mean) == pytest.approx(mean, rel=1e-6)
    with pytest.raises(ValueError, match="1x28x28"):
        get_dataset("mnist", tmp_path, "train", input_shape=(3, 32, 32))


def test_missing_files_name_the_layout(tmp_path):
    with pytest.raises(DataNotFoundError, match="t10k-images-idx3-ubyte") as err:
        get_dataset("kmnist", tmp_path, "test")
    assert "\n" not in str(err.value)
    with pytest.raises(DataNotFoundError, match="--data-root"):
        get_dataset("mnist", None, "train")
    images, labels = fake(3, 10)
    write_split(tmp_path / "mnist", "mnist", "train", images, labels, gz=False)
    (tmp_path / "mnist" / idx_file_names("mnist", "train")[1]).unlink()
    with pytest.raises(DataNotFoundError, match="train-labels-idx1-ubyte missing"):
        load_idx_dataset("mnist", tmp_path, "train")


def test_wrong_magic_is_refused(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((2, 3), np.uint8)))  # 2 dimensions where 3 are expected
    with pytest.raises(InputError, match="magic number 2050"):
        read_idx(path, ndim=3)
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 20)  # a gzip stream without the .gz name
    with pytest.raises(InputError, match="magic number"):
        read_idx(path, ndim=1)


@pytest.mark.parametrize("cut", [2, 10, 30])
def test_truncated_files_are_refused(tmp_path, cut):
    data = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    path = tmp_path / "t-idx3-ubyte"
    path.write_bytes(data[:cut])
    with pytest.raises(InputError, match="truncated"):
        read_idx(path, ndim=3)


def test_trailing_bytes_and_truncated_gzip_are_refused(tmp_path):
    data = idx_bytes(np.arange(6, dtype=np.uint8))
    path = tmp_path / "l-idx1-ubyte"
    path.write_bytes(data + b"\x00")
    with pytest.raises(InputError, match="longer than its header"):
        read_idx(path, ndim=1)
    gz = tmp_path / "l-idx1-ubyte.gz"
    gz.write_bytes(gzip.compress(data)[:-6])
    with pytest.raises(InputError, match=str(gz.name)):
        read_idx(gz, ndim=1)


def test_image_label_count_mismatch(tmp_path):
    images, labels = fake(6, 10)
    write_split(tmp_path / "mnist", "mnist", "train", images, labels[:5], gz=False)
    with pytest.raises(DataMismatchError, match="6 images but .* 5 labels"):
        load_idx_dataset("mnist", tmp_path, "train")
