"""Data loaders on generated fake CIFAR pickles and a fake Tiny-ImageNet folder; digits; synthetic."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from pruners.data import DataNotFoundError, dataset_info, get_dataset, make_loader, random_crop_flip
from pruners.data.cifar import CIFAR_STATS
from pruners.data.tinyimagenet import box_downsample


def _write_cifar10(root, n_per_batch=6, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n_per_batch)]
        with open(folder / name, "wb") as fh:  # bytes keys, as in the original Python 2 pickles
            pickle.dump({b"batch_label": b"fake", b"data": data, b"labels": labels}, fh, protocol=2)
        batches[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, fh, protocol=2)
    return batches


def test_cifar10_from_fake_pickles(tmp_path):
    batches = _write_cifar10(tmp_path)
    train = get_dataset("cifar10", tmp_path, "train", augment=False)
    assert len(train) == 30 and train.input_shape == (3, 32, 32) and train.num_classes == 10
    assert train.classes == [f"c{i}" for i in range(10)]
    data, labels = batches["data_batch_2"]
    x, y = train[6]  # first image of the second batch
    assert y == labels[0]
    raw = torch.tensor(data[0], dtype=torch.float32).reshape(3, 32, 32) / 255
    mean, std = (torch.tensor(v).reshape(3, 1, 1) for v in CIFAR_STATS["cifar10"])
    torch.testing.assert_close(x, (raw - mean) / std)
    test = get_dataset("CIFAR-10", tmp_path / "cifar-10-batches-py", "test")  # the batch folder itself works too
    assert len(test) == 6 and not test.augment
    assert get_dataset("cifar10", tmp_path, "train").augment  # training split augmented by default
    xs, ys = test.tensors()
    assert xs.shape == (6, 3, 32, 32) and ys.tolist() == batches["test_batch"][1]


def test_cifar100_from_fake_pickles(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (("train", 8), ("test", 4)):
        with open(folder / name, "wb") as fh:  # str keys (a Python 3 pickle) are accepted as well
            pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "fine_labels": list(range(90, 90 + n)), "coarse_labels": [0] * n}, fh)
    ds = get_dataset("cifar100", tmp_path, "train")
    assert len(ds) == 8 and ds.num_classes == 100 and ds.labels.tolist() == list(range(90, 98))
    assert len(get_dataset("cifar100", tmp_path, "test")) == 4


def test_cifar_pickle_cannot_execute_code(tmp_path):
    _write_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": []}, fh)
    with pytest.raises(ValueError, match="not a valid cifar10 batch"):
        get_dataset("cifar10", tmp_path, "test")


def test_missing_data_describes_layout(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"cifar-10-batches-py/.*data_batch_1.*test_batch"):
        get_dataset("cifar10", tmp_path, "train")
    with pytest.raises(DataNotFoundError, match="cifar-100-python"):
        get_dataset("cifar100", None, "train")
    with pytest.raises(DataNotFoundError, match=r"tiny-imagenet-200/\{wnids.txt, train/<wnid>/images"):
        get_dataset("tinyimagenet", tmp_path, "train")
    with pytest.raises(ValueError, match="unknown data set"):
        get_dataset("imagenet21k", tmp_path)
    with pytest.raises(ValueError, match="split"):
        get_dataset("digits", split="dev")


def _write_tiny(root, wnids=("n02", "n01", "n03"), per_class=3, n_val=4, size=64):
    from PIL import Image

    rng = np.random.default_rng(2)
    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for w in wnids:
        d = base / "train" / w / "images"
        d.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(d / f"{w}_{i}.JPEG", quality=95)
    lines = []
    for i in range(n_val):
        w = wnids[i % len(wnids)]
        name = f"val_{i}.JPEG"
        # one grey-scale image, as the real data set contains some
        arr = rng.integers(0, 256, (size, size), dtype=np.uint8) if i == 0 else rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(base / "val" / "images" / name, quality=95)
        lines.append(f"{name}\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return base


def test_tinyimagenet_from_fake_folder(tmp_path):
    from PIL import Image

    base = _write_tiny(tmp_path)
    train = get_dataset("tinyimagenet", tmp_path, "train", augment=False, normalize=False)
    assert len(train) == 9 and train.num_classes == 200 and train.input_shape == (3, 32, 32)
    assert train.classes == ["n01", "n02", "n03"]  # sorted wnids give the class indices
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # oracle: mean of every 2x2 block of the decoded image
    decoded = np.asarray(Image.open(base / "train" / "n01" / "images" / "n01_0.JPEG").convert("RGB")).astype(np.float64)
    expected = np.floor(decoded.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3)) + 0.5).transpose(2, 0, 1)
    assert np.array_equal(train.images[0].numpy(), expected.astype(np.uint8))
    test = get_dataset("tinyimagenet", base, "val")
    assert len(test) == 4 and test.labels.tolist() == [1, 0, 2, 1]  # n02, n01, n03, n02
    assert (base / "tinyimagenet32_train.npz").is_file()
    again = get_dataset("tinyimagenet", tmp_path, "train", augment=False, normalize=False)  # from the cache
    assert torch.equal(again.images, train.images)
    mean = train.images.double().div(255).mean(dim=(0, 2, 3))
    assert torch.allclose(test.mean.flatten().double(), mean, atol=1e-6)  # train statistics normalise the test split


def test_box_downsample_non_multiple_size():
    img = np.full((40, 40, 3), 7, dtype=np.uint8)
    assert box_downsample(img).shape == (32, 32, 3) and (box_downsample(img) == 7).all()


def test_digits_representations():
    train = get_dataset("digits", split="train")
    test = get_dataset("digits", split="test")
    assert len(train) == 1347 and len(test) == 450 and train.input_shape == (3, 32, 32)
    assert not train.augment
    native = get_dataset("digits", split="train", input_shape=(1, 8, 8), normalize=False)
    assert native.input_shape == (1, 8, 8) and float(native.images.max()) == 1.0
    up = get_dataset("digits", split="train", normalize=False)
    # nearest upsampling: every 4x4 block repeats one native pixel, in all three channels
    assert torch.equal(up.images[:, 0, ::4, ::4], native.images[:, 0])
    assert torch.equal(up.images[:, 1], up.images[:, 0]) and torch.equal(up.images[:, 2], up.images[:, 0])
    x, _ = train.tensors()
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 0.01
    assert sorted(set(test.labels.tolist())) == list(range(10))
    assert dataset_info("digits", input_shape=(1, 8, 8)) == {"num_classes": 10, "input_shape": (1, 8, 8)}


def test_synthetic():
    a = get_dataset("synthetic", split="train", input_shape=(1, 8, 8), num_classes=4, n_samples=20, random_state=3)
    b = get_dataset("synthetic", split="train", input_shape=(1, 8, 8), num_classes=4, n_samples=20, random_state=3)
    t = get_dataset("synthetic", split="test", input_shape=(1, 8, 8), num_classes=4, n_samples=20, random_state=3)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, t.images)
    assert a.num_classes == 4 and sorted(a.labels.tolist()) == sorted([i % 4 for i in range(20)])
    with pytest.raises(ValueError, match="synthetic data set only"):
        get_dataset("digits", num_classes=3)


def test_augmentation_crop_and_flip():
    img = torch.arange(2 * 6 * 6, dtype=torch.float32).reshape(2, 6, 6) + 1
    torch.manual_seed(0)
    seen_flip = seen_shift = False
    for _ in range(50):
        out = random_crop_flip(img, padding=2)
        assert out.shape == img.shape
        # every output is a (possibly flipped) window of the zero-padded image
        padded = torch.nn.functional.pad(img, (2, 2, 2, 2))
        found = False
        for cand in (out, out.flip(-1)):
            for i in range(5):
                for j in range(5):
                    if torch.equal(padded[:, i : i + 6, j : j + 6], cand):
                        found = True
                        seen_shift |= (i, j) != (2, 2)
                        seen_flip |= cand is not out
        assert found
    assert seen_flip and seen_shift


def test_make_loader_shuffles_reproducibly():
    ds = get_dataset("synthetic", split="train", input_shape=(1, 4, 4), n_samples=30)
    first = [y.tolist() for _, y in make_loader(ds, 8, shuffle=True, random_state=1)]
    second = [y.tolist() for _, y in make_loader(ds, 8, shuffle=True, random_state=1)]
    assert first == second and len(first) == 4
