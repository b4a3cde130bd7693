"""``topometrics prune``: checkpoints from the command line, clear errors."""

from __future__ import annotations

import torch

from pruners import load_checkpoint, prunable_names
from pruners.pipeline import build_model, prune_model
from topometrics.cli import main


def test_prune_cli_writes_loadable_checkpoint(tmp_path, capsys):
    out = tmp_path / "r20.pt"
    rc = main(["prune", "--arch", "resnet20", "--method", "synflow", "--sparsity", "0.9", "--input-shape", "3,8,8",
               "--num-classes", "7", "--seed", "3", "-O", "iterations=4", "--shortcut", "A", "--threads", "1", "-o", str(out)])
    assert rc == 0
    assert "sparsity 0.9000" in capsys.readouterr().out
    ck = load_checkpoint(out)
    assert ck.meta["method"] == "synflow" and ck.meta["sparsity"] == 0.9 and ck.meta["seed"] == 3
    assert ck.meta["num_classes"] == 7 and ck.meta["input_shape"] == [3, 8, 8]
    assert ck.meta["model_kwargs"] == {"shortcut": "A"} and ck.meta["prune_options"] == {"iterations": 4}
    assert abs(ck.sparsity - 0.9) < 1e-4
    # the same run through the library gives the same masks (seeded model and pruning)
    _, masks, _ = prune_model("resnet20", "synflow", 0.9, random_state=3, num_classes=7, input_shape=(3, 8, 8),
                              model_kwargs={"shortcut": "A"}, options={"iterations": 4})
    assert all(torch.equal(masks[n], ck.masks[n]) for n in prunable_names(ck.model))


def test_prune_cli_data_dependent_with_digits(tmp_path):
    out = tmp_path / "c6.pt"
    assert main(["prune", "--arch", "conv6", "--method", "snip", "--sparsity", "0.8", "--dataset", "digits",
                 "--input-shape", "1,8,8", "-O", "batch_size=32", "--threads", "1", "-o", str(out)]) == 0
    ck = load_checkpoint(out)
    assert ck.meta["dataset"] == "digits" and ck.meta["input_shape"] == [1, 8, 8] and ck.meta["num_classes"] == 10


def test_prune_cli_errors(tmp_path, capsys):
    assert main(["prune", "--arch", "resnet20", "--method", "snip", "--sparsity", "0.9", "--threads", "1"]) == 2
    assert "data-dependent" in capsys.readouterr().err
    assert main(["prune", "--arch", "resnet20", "--method", "nope", "--sparsity", "0.9", "--threads", "1"]) == 2
    assert "unknown pruning method" in capsys.readouterr().err
    assert main(["prune", "--arch", "vgg", "--method", "er", "--sparsity", "0.9", "--threads", "1"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["prune", "--arch", "conv6", "--method", "snip", "--sparsity", "0.9", "--dataset", "cifar10",
                 "--data-root", str(tmp_path), "--threads", "1"]) == 2
    assert "cifar-10-batches-py" in capsys.readouterr().err


def test_dense_pseudo_method_and_seeded_models():
    model, masks, meta = prune_model("resnet20", "dense", 0.0, input_shape=(3, 8, 8))
    assert meta["method"] == "dense" and all(bool(m.all()) for m in masks.values())
    a = build_model("conv6", 10, (3, 8, 8), random_state=1)
    b = build_model("conv6", 10, (3, 8, 8), random_state=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
