"""``topometrics train --dst`` and ``topometrics grid --dst`` (exit status 2 with one line on bad input)."""

from __future__ import annotations

import pytest

from pruners import load_checkpoint
from pruners.grid import read_results
from topometrics.cli import main

COMMON = ["--dataset", "digits", "--input-shape", "1,8,8", "--threads", "1", "--batch-size", "128"]


def test_train_dst_writes_a_checkpoint_with_method_options_and_history(tmp_path, capsys):
    out = tmp_path / "run.pt"
    assert main(["train", "--arch", "mlp", "--method", "er", "--sparsity", "0.95", "--epochs", "3", "-o", str(out),
                 "--dst", "ch3l3", "--dst-schedule", "constant", "--stop-at", "1", "--drop-fraction", "0.2", *COMMON]) == 0
    text = capsys.readouterr().out
    assert "dynamic sparse training ch3l3: 2 mask updates, ITOP rate" in text
    ck = load_checkpoint(out)
    dst = ck.meta["dst"]
    assert dst["method"] == "ch3l3" and dst["drop_fraction"] == 0.2 and dst["schedule"] == "constant" and dst["updates"] == 2
    history = ck.meta["dst_history"]
    assert set(history) >= {"update", "epoch", "layer", "active", "dropped", "regrown", "itop"} and max(history["update"]) == 2
    assert sorted(ck.masks) == ["hidden.0.weight", "hidden.1.weight", "hidden.2.weight"]  # the readout stays dense


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dst", "sgd"], "unknown dynamic sparse training method 'sgd'; known methods are"),
        (["--dst", "set", "--drop-fraction", "1.5"], r"drop_fraction must lie in (0, 1)"),
        (["--dst", "set", "--update-every", "0"], "update_every must be a positive integer"),
        (["--dst", "set", "--stop-at", "0"], "stop_at must lie in (0, 1]"),
        (["--dst", "set", "--dst-option", "momentum=0.5"], "'set' has no option(s) ['momentum']"),
        (["--dst-option", "momentum=0.5"], "--dst-option needs --dst METHOD"),
        (["--dst", "dsr", "--dst-option", "threshold=-1"], "dsr threshold must be a positive number or None"),
    ],
)
def test_train_dst_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "bad.pt"
    assert main(["train", "--arch", "mlp", "--method", "er", "--sparsity", "0.9", "--epochs", "1", "-o", str(out), *extra, *COMMON]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_grid_dst_trains_every_run_and_refuses_a_mixed_folder(tmp_path, capsys):
    args = ["grid", "--archs", "mlp", "--methods", "er", "--sparsities", "0.9", "--datasets", "digits", "--seeds", "0",
            "--out", str(tmp_path), "--train", "--epochs", "2", "--input-shape", "1,8,8", "--threads", "1",
            "--batch-size", "256"]
    assert main([*args, "--dst", "rigl", "--stop-at", "1"]) == 0
    df = read_results(tmp_path)
    assert list(df["dst"]) == ["rigl"] and df["status"].tolist() == ["trained"] and 0 < float(df["itop_rate"].iloc[0]) < 1
    ck = load_checkpoint(tmp_path / df["checkpoint"].iloc[0])
    assert ck.meta["dst"]["method"] == "rigl" and ck.meta["dst"]["updates"] == 1
    capsys.readouterr()
    assert main(args) == 2
    assert "trained with dst=rigl, this grid asks for dst=none" in capsys.readouterr().err
    assert main([*(a for a in args if a != "--train"), "--dst", "set"]) == 2
    assert "--dst trains with dynamic sparse training: add --train" in capsys.readouterr().err


def test_train_dst_on_mnist_idx_files_under_data_root(tmp_path, capsys):
    import gzip

    import numpy as np

    def idx(array):
        return bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()

    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, n in (("train", 40), ("t10k", 20)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{stem}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(images)))
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(idx(labels))
    out = tmp_path / "m.pt"
    # erk: exact counts (the published er keeps close to, not exactly, the target count: pruners.methods.er)
    assert main(["train", "--arch", "mlp", "--method", "erk", "--sparsity", "0.99", "--dataset", "mnist", "--data-root",
                 str(tmp_path / "data"), "--epochs", "2", "--batch-size", "16", "--threads", "1", "-o", str(out),
                 "--dst", "ch3l3", "--dst-schedule", "constant", "--stop-at", "1"]) == 0
    ck = load_checkpoint(out)
    assert ck.meta["input_shape"] == [1, 28, 28] and ck.meta["dst"]["updates"] == 1
    assert np.isclose(sum(int(m.sum()) for m in ck.masks.values()), round(0.01 * (784 * 1000 + 2 * 1000 * 1000)))
    assert main(["train", "--arch", "mlp", "--method", "er", "--sparsity", "0.99", "--dataset", "kmnist", "--data-root",
                 str(tmp_path / "data"), "--epochs", "1", "--threads", "1", "-o", str(tmp_path / "k.pt")]) == 2
    err = capsys.readouterr().err
    assert "kmnist train split not found" in err and "train-images-idx3-ubyte" in err and len(err.strip().splitlines()) == 1
