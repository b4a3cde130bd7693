"""Sparse training: masks exact at every step, learning on digits, per-epoch checkpoints and resume, CLI."""

from __future__ import annotations

import pytest
import torch

from pruners import evaluate, get_model, load_checkpoint, masks_from_model, prune, recipe, save_checkpoint, train
from pruners.data import get_dataset
from pruners.pipeline import build_model
from pruners.training import scaled_milestones
from topocore.errors import InputError
from topometrics.cli import main

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits", split="train", input_shape=SHAPE), get_dataset("digits", split="test", input_shape=SHAPE)


def _meta(arch="resnet20", **extra):
    return {"arch": arch, "num_classes": 10, "input_shape": list(SHAPE), "method": "erk", "sparsity": 0.8, "seed": 0, "dataset": "synthetic", **extra}


def _violations_hook(model, masks, log):
    """Forward pre-hooks recording any non-zero pruned entry (raw or effective) at every step."""
    handles = []
    for name, module in model.named_modules():
        key = f"{name}.weight"
        if key in masks:
            mask = masks[key]

            def hook(mod, _inp, mask=mask, key=key):
                bad = int((mod.weight_orig[~mask] != 0).sum()) + int((mod.weight[~mask] != 0).sum())
                log.append((key, bad))

            handles.append(module.register_forward_pre_hook(hook))
    return handles


def test_training_on_digits_learns_and_keeps_pruned_weights_zero(digits):
    train_set, test_set = digits
    model = build_model("resnet20", 10, SHAPE, random_state=0)
    masks = prune(model, "snip", 0.8, data=train_set, batch_size=128)
    result = train(model, masks, train_set, test_set, epochs=3, lr=0.05, batch_size=64, milestones=[2], progress=False)
    assert result.accuracy > 0.6  # chance is 0.1
    assert len(result.history) == 3 and result.history[-1]["test_accuracy"] == result.accuracy
    assert result.history[0]["lr"] == 0.05 and result.history[2]["lr"] == pytest.approx(0.005)
    assert evaluate(model, test_set) == pytest.approx(result.accuracy)
    for name, module in model.named_modules():
        key = f"{name}.weight"
        if key in masks:
            assert torch.equal(module.weight_mask.bool(), masks[key])
            assert bool((module.weight_orig[~masks[key]] == 0).all()) and bool((module.weight[~masks[key]] == 0).all())
    assert all(torch.equal(masks_from_model(model)[n], masks[n]) for n in masks)


def test_masks_enforced_after_every_step():
    x, y = torch.randn(96, *SHAPE), torch.arange(96) % 10
    model = build_model("conv6", 10, SHAPE, random_state=1)
    masks = prune(model, "random", 0.7, random_state=2)
    log: list = []
    handles = _violations_hook(model, masks, log)
    # momentum and weight decay would move raw pruned weights if they were not re-zeroed
    train(model, masks, (x, y), None, epochs=2, lr=0.5, weight_decay=0.1, batch_size=16, progress=False)
    for h in handles:
        h.remove()
    steps_seen = {k for k, _ in log}
    assert len(log) >= 12 * len(steps_seen) and sum(b for _, b in log) == 0


def test_per_epoch_checkpoints_and_resume_is_exact(tmp_path):
    data = get_dataset("synthetic", split="train", input_shape=SHAPE, n_samples=96)
    test = get_dataset("synthetic", split="test", input_shape=SHAPE, n_samples=64)
    masks = prune(build_model("resnet20", 10, SHAPE, random_state=3), "erk", 0.8, random_state=3)
    kwargs = dict(epochs=3, lr=0.05, batch_size=32, milestones=[2], random_state=5, progress=False)

    # uninterrupted reference run
    ref_model = build_model("resnet20", 10, SHAPE, random_state=3)
    ref = train(ref_model, masks, data, test, checkpoint=tmp_path / "ref.pt", meta=_meta(), **kwargs)

    class Stop(Exception):
        pass

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Stop

    model = build_model("resnet20", 10, SHAPE, random_state=3)
    ck = tmp_path / "run.pt"
    with pytest.raises(Stop):
        train(model, masks, data, test, checkpoint=ck, meta=_meta(), on_epoch=stop_after_two, **kwargs)
    # epoch 1 was checkpointed; epoch 2's save comes after on_epoch, so the file holds epoch 1
    partial = load_checkpoint(ck)
    assert partial.training_state["epoch"] == 1 and partial.meta["accuracy"] is None and partial.meta["trained_epochs"] == 1
    resumed_model = load_checkpoint(ck).model
    res = train(resumed_model, None, data, test, checkpoint=ck, meta=_meta(), resume=True, **kwargs)
    assert res.resumed_from == 1 and len(res.history) == 3
    assert res.accuracy == ref.accuracy
    final = load_checkpoint(ck)
    assert final.training_state is None and final.meta["accuracy"] == ref.accuracy and final.meta["trained_epochs"] == 3
    ref_ck = load_checkpoint(tmp_path / "ref.pt")
    for (k, v), (k2, v2) in zip(final.model.state_dict().items(), ref_ck.model.state_dict().items()):
        assert k == k2 and torch.allclose(v.float(), v2.float(), atol=1e-6), k
    # resuming a finished run returns the stored result without training
    again = train(build_model("resnet20", 10, SHAPE, random_state=3), masks, data, test, checkpoint=ck, meta=_meta(), resume=True, **kwargs)
    assert again.accuracy == ref.accuracy and again.resumed_from == 3
    with pytest.raises(ValueError, match="epochs"):
        partial_path = tmp_path / "p2.pt"
        save_checkpoint(partial_path, model, masks, _meta(), training_state={"epoch": 1, "epochs": 7})
        train(model, masks, data, test, checkpoint=partial_path, meta=_meta(), resume=True, **kwargs)


def test_recipe_and_milestones():
    assert recipe("cifar10", "resnet20") == {"epochs": 160, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "milestones": [80, 120], "gamma": 0.1, "batch_size": 128}
    assert recipe("cifar100", "Wide-Resnet-28-2")["weight_decay"] == 5e-4
    assert recipe("tinyimagenet", "conv6")["milestones"] == [30, 60, 80] and recipe("tinyimagenet")["epochs"] == 100
    assert scaled_milestones([80, 120], 160, 16) == [8, 12]
    assert scaled_milestones([80, 120], 160, 2) == [1]
    assert scaled_milestones([80, 120], 160, 1) == []


def test_train_argument_errors():
    model = get_model("resnet20", 10, SHAPE)
    with pytest.raises(ValueError, match="epochs"):
        train(model, None, (torch.randn(4, *SHAPE), torch.zeros(4, dtype=torch.long)), epochs=0)
    with pytest.raises(ValueError, match="meta"):
        train(model, None, (torch.randn(4, *SHAPE), torch.zeros(4, dtype=torch.long)), epochs=1, checkpoint="x.pt")
    with pytest.raises(InputError, match="training data"):
        train(model, None, "data", epochs=1, progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (mixed-precision path)")
def test_cuda_mixed_precision_keeps_masks_exact():
    data = get_dataset("synthetic", split="train", input_shape=(3, 32, 32), n_samples=256)
    test = get_dataset("synthetic", split="test", input_shape=(3, 32, 32), n_samples=128)
    model = build_model("resnet20", 10, (3, 32, 32), random_state=0)
    masks = prune(model, "synflow", 0.9, input_shape=(3, 32, 32), iterations=10)
    result = train(model, masks, data, test, epochs=2, lr=0.05, batch_size=64, device="cuda", progress=False)
    assert result.amp and result.device.startswith("cuda")
    for name, module in model.named_modules():
        if f"{name}.weight" in masks:
            m = masks[f"{name}.weight"].cuda()
            assert module.weight_orig.is_cuda and bool((module.weight_orig[~m] == 0).all())
            assert bool((module.weight[~m] == 0).all())
    back = masks_from_model(model)
    assert all(torch.equal(back[n].cpu(), masks[n]) for n in masks)
    assert result.accuracy > 0.2


def test_train_cli_from_checkpoint_and_resume(tmp_path, capsys):
    pruned = tmp_path / "p.pt"
    assert main(["prune", "--arch", "resnet20", "--method", "erk", "--sparsity", "0.9", "--dataset", "synthetic",
                 "--input-shape", "1,8,8", "--threads", "1", "-o", str(pruned)]) == 0
    out = tmp_path / "t.pt"
    args = ["train", str(pruned), "--epochs", "2", "--batch-size", "64", "--threads", "1", "-o", str(out)]
    assert main(args) == 0
    assert "test accuracy" in capsys.readouterr().out
    ck = load_checkpoint(out)
    assert ck.meta["trained_epochs"] == 2 and 0.0 <= ck.meta["accuracy"] <= 1.0 and ck.meta["dataset"] == "synthetic"
    assert ck.meta["milestones"] == [1] and ck.meta["lr"] == 0.1 and ck.meta["weight_decay"] == 1e-4
    assert all(torch.equal(ck.masks[n], load_checkpoint(pruned).masks[n]) for n in ck.masks)
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    assert "already trained" in capsys.readouterr().out
    # prune-and-train in one go
    out2 = tmp_path / "t2.pt"
    assert main(["train", "--arch", "conv6", "--method", "magnitude", "--sparsity", "0.5", "--dataset", "synthetic",
                 "--input-shape", "1,8,8", "--epochs", "1", "--threads", "1", "-o", str(out2)]) == 0
    assert load_checkpoint(out2).meta["method"] == "magnitude"
    assert main(["train", "--arch", "conv6", "--threads", "1"]) == 2
    assert "--method" in capsys.readouterr().err


def test_training_is_reproducible_with_augmentation_and_leaves_global_rng():
    data = get_dataset("synthetic", split="train", input_shape=SHAPE, n_samples=64, augment=True)
    masks = prune(build_model("resnet20", 10, SHAPE, random_state=0), "erk", 0.5)
    states = []
    for _ in range(2):
        model = build_model("resnet20", 10, SHAPE, random_state=0)
        rng = torch.get_rng_state()
        train(model, masks, data, None, epochs=1, batch_size=16, random_state=9, progress=False)
        assert torch.equal(torch.get_rng_state(), rng)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    other = build_model("resnet20", 10, SHAPE, random_state=0)
    train(other, masks, data, None, epochs=1, batch_size=16, random_state=10, progress=False)
    assert not all(torch.equal(states[0][k], v) for k, v in other.state_dict().items())


def test_default_milestones_never_divide_the_lr_before_the_first_step():
    """With epochs=1 the default milestones (half, three quarters of epochs) round to 0: none is kept."""
    from pruners.data import get_dataset
    from pruners.models import get_model

    data = get_dataset("synthetic", split="train", input_shape=(1, 8, 8), n_samples=16)
    torch.manual_seed(0)
    model = get_model("dagnet", 10, (1, 8, 8), nodes=(2, 2), channels=2)
    result = train(model, None, data, None, epochs=1, lr=0.05, batch_size=16, progress=False)
    assert result.history[0]["lr"] == 0.05
