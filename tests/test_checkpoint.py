"""Checkpoints and mask helpers: round trips, safety, clear errors."""

from __future__ import annotations

import pickle
from importlib import metadata

import pytest
import torch
import torch.nn as nn

from pruners import (
    Checkpoint,
    CheckpointError,
    apply_masks,
    get_model,
    load_checkpoint,
    masks_from_model,
    prunable_names,
    save_checkpoint,
    sparsity_of,
)
from pruners.masks import PRUNABLE_TYPES, effective_state_dict, enforce_masks, normalize_masks, remove_masks
from topocore.errors import InputError, MaskError
from topocore.masks import prunable_types, validate_masks

SHAPE = (3, 8, 8)


def _random_masks(model, density=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        name: torch.rand(p.shape, generator=g) < density
        for name, p in model.named_parameters()
        if name in set(prunable_names(model))
    }


def _meta(**extra):
    meta = {"arch": "resnet20", "num_classes": 10, "input_shape": SHAPE, "method": "random", "sparsity": 0.7, "seed": 3}
    meta.update(extra)
    return meta


def test_prunable_names_are_conv_and_linear_weights():
    model = get_model("resnet20", 10, SHAPE)
    names = prunable_names(model)
    assert names[0] == "conv1.weight" and names[-1] == "linear.weight"
    assert "layer1.0.conv1.weight" in names
    expected = [n + ".weight" for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert names == expected
    assert not any("bn" in n or n.endswith("bias") for n in names)


def test_apply_and_read_masks_roundtrip():
    torch.manual_seed(0)
    model = get_model("conv6", 10, SHAPE)
    masks = _random_masks(model)
    raw = {n: p.detach().clone() for n, p in model.named_parameters()}
    apply_masks(model, masks)
    back = masks_from_model(model)
    assert set(back) == set(masks)
    for name in masks:
        assert back[name].dtype == torch.bool and torch.equal(back[name], masks[name])
    # forward uses weight_orig * mask
    layer = model.features[0]
    assert torch.equal(layer.weight, raw["features.0.weight"] * masks["features.0.weight"])
    # replacing masks replaces (does not combine)
    ones = {n: torch.ones_like(m) for n, m in masks.items()}
    apply_masks(model, ones)
    assert all(bool(m.all()) for m in masks_from_model(model).values())
    assert torch.equal(model.features[0].weight, raw["features.0.weight"])


def test_masks_accept_buffer_names_and_01_tensors():
    model = get_model("resnet20", 10, SHAPE)
    w = model.conv1.weight
    m = (torch.rand(w.shape) < 0.5).float()
    out = normalize_masks(model, {"conv1.weight_mask": m})
    assert out["conv1.weight"].dtype == torch.bool and torch.equal(out["conv1.weight"], m.bool())


def test_mask_errors_are_clear():
    """Every mask entry point refuses through topocore's one validator (MaskError)."""
    model = get_model("resnet20", 10, SHAPE)
    shape = model.conv1.weight.shape
    bad = [
        ({"bn1.weight": torch.ones(16, dtype=torch.bool)}, "not a prunable parameter"),
        ({"conv1.weight": torch.ones(3, 3, dtype=torch.bool)}, "shape"),
        ({"conv1.weight": torch.full(shape, 0.5)}, "0.5"),
        ({"conv1.weight": torch.full(shape, float("nan"))}, "nan"),
        ({"conv1.weight_orig": torch.ones(shape)}, "parameter name"),
        ({"conv1.weight": torch.ones(shape), "conv1.weight_mask": torch.ones(shape)}, "twice"),
    ]
    for masks, match in bad:
        for entry in (apply_masks, normalize_masks, enforce_masks):
            with pytest.raises(MaskError, match=match):
                entry(model, masks)
    with pytest.raises(MaskError, match="dict"):
        normalize_masks(model, [torch.ones(shape)])
    assert not hasattr(model.conv1, "weight_mask")  # nothing was installed on the way


def test_normalize_masks_is_the_topocore_validator():
    model = get_model("resnet20", 10, SHAPE)
    some = {"linear.weight_mask": torch.zeros_like(model.linear.weight), "conv1.weight": torch.ones_like(model.conv1.weight)}
    assert list(normalize_masks(model, some)) == list(validate_masks(model, some)) == ["conv1.weight", "linear.weight"]
    full = normalize_masks(model, some, complete=True)
    expected = validate_masks(model, some, missing="dense")
    assert list(full) == prunable_names(model) == list(expected)
    assert all(torch.equal(full[n], expected[n]) for n in full)
    assert PRUNABLE_TYPES == prunable_types()


def test_masks_from_unpruned_model_are_dense():
    model = get_model("resnet20", 10, SHAPE)
    masks = masks_from_model(model)
    assert list(masks) == prunable_names(model)
    assert sparsity_of(masks) == 0.0


def test_enforce_and_remove_masks():
    model = get_model("conv6", 10, SHAPE)
    masks = _random_masks(model)
    apply_masks(model, masks)
    enforce_masks(model)
    assert torch.all(model.features[0].weight_orig[~masks["features.0.weight"]] == 0)
    remove_masks(model)
    assert not hasattr(model.features[0], "weight_mask")
    assert torch.all(model.features[0].weight[~masks["features.0.weight"]] == 0)
    state = effective_state_dict(model)
    assert "features.0.weight" in state and not any(k.endswith(("_orig", "_mask")) for k in state)


def test_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(1)
    model = get_model("resnet20", 10, SHAPE, shortcut="A")
    masks = _random_masks(model, 0.3)
    apply_masks(model, masks)
    # BN running stats differ from the defaults: they must survive the round trip
    model.train()
    with torch.no_grad():
        model(torch.randn(4, *SHAPE))
    model.eval()
    x = torch.randn(2, *SHAPE)
    with torch.no_grad():
        expected = model(x)
    path = save_checkpoint(tmp_path / "sub" / "ck.pt", model, None, _meta(model_kwargs={"shortcut": "A"}, accuracy=0.5))
    ck = load_checkpoint(path)
    assert isinstance(ck, Checkpoint) and ck.path == path
    assert ck.meta["arch"] == "resnet20" and ck.meta["num_classes"] == 10 and ck.meta["input_shape"] == list(SHAPE)
    assert ck.meta["method"] == "random" and ck.meta["sparsity"] == 0.7 and ck.meta["seed"] == 3
    assert ck.meta["accuracy"] == 0.5 and ck.meta["dense_accuracy"] is None and ck.meta["dataset"] is None
    assert ck.meta["version"] == metadata.version("topometrics")
    assert ck.meta["achieved_sparsity"] == pytest.approx(sparsity_of(masks))
    assert ck.training_state is None
    assert list(ck.masks) == prunable_names(ck.model)
    for name, mask in masks.items():
        assert torch.equal(ck.masks[name], mask)
    assert torch.equal(masks_from_model(ck.model)["conv1.weight"], masks["conv1.weight"])
    with torch.no_grad():
        assert torch.allclose(ck.model(x), expected, atol=1e-6)
    # stored weights are the effective ones: pruned entries exactly zero
    raw = torch.load(path, weights_only=True)
    assert torch.all(raw["state_dict"]["conv1.weight"][~masks["conv1.weight"]] == 0)


def test_explicit_masks_override_and_plain_model(tmp_path):
    model = get_model("conv6", 5, (1, 8, 8))
    masks = _random_masks(model, 0.5, seed=4)
    path = save_checkpoint(tmp_path / "a.pt", model, masks, {"arch": "CONV-6", "num_classes": 5, "input_shape": [1, 8, 8]})
    ck = load_checkpoint(path, install_masks=False)
    assert ck.meta["arch"] == "conv6"
    assert not hasattr(ck.model.features[0], "weight_mask")
    w = ck.model.features[0].weight
    assert torch.all(w[~masks["features.0.weight"]] == 0)
    assert torch.equal(w[masks["features.0.weight"]], model.features[0].weight[masks["features.0.weight"]])


def test_training_state_roundtrip(tmp_path):
    model = get_model("conv6", 10, SHAPE)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, *SHAPE)).sum().backward()
    opt.step()
    state = {"epoch": 3, "optimizer": opt.state_dict(), "history": [{"epoch": 1, "test_accuracy": 0.1}]}
    path = save_checkpoint(tmp_path / "t.pt", model, None, _meta(arch="conv6"), training_state=state)
    ck = load_checkpoint(path)
    assert ck.training_state["epoch"] == 3
    opt2 = torch.optim.SGD(ck.model.parameters(), lr=0.1, momentum=0.9)
    assert len(ck.training_state["optimizer"]["state"]) == len(opt.state_dict()["state"])
    assert opt2 is not None


def test_save_validates_meta(tmp_path):
    model = get_model("conv6", 10, SHAPE)
    with pytest.raises(ValueError, match="input_shape"):
        save_checkpoint(tmp_path / "x.pt", model, None, {"arch": "conv6", "num_classes": 10})
    with pytest.raises(InputError, match="meta.extra"):
        save_checkpoint(tmp_path / "x.pt", model, None, _meta(arch="conv6", extra=object()))
    with pytest.raises(ValueError, match="fraction"):
        save_checkpoint(tmp_path / "x.pt", model, None, _meta(arch="conv6", accuracy=91.2))
    with pytest.raises(InputError, match="unknown model"):
        save_checkpoint(tmp_path / "x.pt", model, None, _meta(arch="vgg"))
    assert not (tmp_path / "x.pt").exists()


def test_corrupt_truncated_and_foreign_files(tmp_path):
    model = get_model("conv6", 10, SHAPE)
    good = save_checkpoint(tmp_path / "good.pt", model, None, _meta(arch="conv6"))
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="corrupt|not a"):
        load_checkpoint(tmp_path / "text.pt")
    torch.save(model.state_dict(), tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a pruners checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)


class _Evil:
    def __reduce__(self):  # would run code if unpickled unsafely
        return (print, ("pwned",))


def test_checkpoint_cannot_execute_code(tmp_path, capsys):
    torch.save({"format": "pruners.checkpoint", "payload": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="weights_only|refuses"):
        load_checkpoint(tmp_path / "evil.pt")
    assert "pwned" not in capsys.readouterr().out
    with open(tmp_path / "plain.pkl", "wb") as fh:
        pickle.dump({"a": 1}, fh)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "plain.pkl")


def test_weights_that_do_not_fit_metadata(tmp_path):
    model = get_model("conv6", 10, SHAPE)
    path = save_checkpoint(tmp_path / "c.pt", model, None, _meta(arch="conv6"))
    payload = torch.load(path, weights_only=True)
    payload["meta"]["num_classes"] = 7
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "bad.pt")
