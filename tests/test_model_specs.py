"""Any model, not only the zoo: ``"package.module:factory"`` specs in build, prune_model, checkpoints and grids."""

from __future__ import annotations

import sys
import textwrap
import warnings

import pytest
import torch

import pruners
from pruners import load_checkpoint, prune, save_checkpoint
from pruners.grid import read_results
from topometrics.workflows.grid import run_grid
from pruners.models import build, canonical_model, factory, get_model
from pruners.pipeline import build_model, prune_model
from topocore.errors import CheckpointError, InputError

MODULE = "pruners_test_user_nets"
SPEC = f"{MODULE}:small_cnn"
SHAPE = (1, 8, 8)

SOURCE = '''
import torch
import torch.nn as nn


class SmallCNN(nn.Module):
    def __init__(self, num_classes=10, input_shape=(3, 8, 8), width=4):
        super().__init__()
        c, h, w = input_shape
        self.conv = nn.Conv2d(c, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width * h * w, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


def small_cnn(num_classes, input_shape, width=4):
    return SmallCNN(num_classes, input_shape, width)


def through_kwargs(**kwargs):
    return SmallCNN(**kwargs)


def fixed():
    return SmallCNN(5, (1, 8, 8))


def not_a_module(num_classes):
    return "a string"


NOT_CALLABLE = 3
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A small CNN factory module written by the test and put on sys.path."""
    (tmp_path / f"{MODULE}.py").write_text(SOURCE)
    (tmp_path / "pruners_test_broken.py").write_text("import pruners_test_not_installed_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield MODULE
    for name in (MODULE, "pruners_test_broken"):
        sys.modules.pop(name, None)


def test_build_calls_the_factory_with_classes_and_shape(user_module):
    rng = torch.get_rng_state()
    a = build(SPEC, 7, SHAPE, random_state=0)
    b = pruners.build(f" {MODULE} : small_cnn ", 7, SHAPE, random_state=0)  # spaces around the parts are ignored
    assert torch.equal(torch.get_rng_state(), rng)  # seeded on a forked RNG
    assert type(a).__name__ == "SmallCNN" and a.fc.out_features == 7 and a.conv.in_channels == 1
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = build(SPEC, 7, SHAPE, random_state=1)
    assert not torch.equal(a.conv.weight, c.conv.weight)
    wide = get_model(SPEC, 3, SHAPE, width=6)  # model options go to the factory
    assert wide.conv.out_channels == 6 and wide(torch.randn(2, *SHAPE)).shape == (2, 3)
    assert build_model(SPEC, 3, SHAPE, 0, {"width": 2}).conv.out_channels == 2
    assert canonical_model(f" {MODULE}:small_cnn") == SPEC and canonical_model("Resnet-20") == "resnet20"


def test_num_classes_through_kwargs_and_a_factory_without_it(user_module):
    m = build(f"{MODULE}:through_kwargs", 4, (3, 8, 8))
    assert m.fc.out_features == 4 and m.conv.in_channels == 3  # input_shape is not passed through **kwargs
    assert factory.factory_arguments(sys.modules[MODULE].through_kwargs) == {"num_classes": True, "input_shape": False}
    with pytest.warns(UserWarning, match="takes no num_classes argument.*keeps its own output size"):
        fixed = build(f"{MODULE}:fixed", 10, SHAPE)
    assert fixed.fc.out_features == 5
    class_spec = build(f"{MODULE}:SmallCNN", 2, SHAPE)  # a class is a factory too
    assert class_spec.fc.out_features == 2


@pytest.mark.parametrize("spec, match", [
    ("pruners_test_no_such_module.nets:make", "cannot import the module 'pruners_test_no_such_module.nets'.*PYTHONPATH"),
    ("pruners_test_broken:make", "needs the module 'pruners_test_not_installed_dependency'"),
    (f"{MODULE}:nope", f"module '{MODULE}' has no attribute 'nope'.*small_cnn"),
    (f"{MODULE}:NOT_CALLABLE", "is a int, not callable"),
    (f"{MODULE}:not_a_module", "returned a str, not a torch.nn.Module"),
    (f"{MODULE}:", "malformed"),
    ("a:b:c", "malformed"),
])
def test_spec_errors_are_input_errors(user_module, spec, match):
    with pytest.raises(InputError, match=match):
        build(spec, 10, SHAPE)


def test_options_the_factory_does_not_take(user_module):
    with pytest.raises(InputError, match="cannot be called with.*depth"):
        build(SPEC, 10, SHAPE, depth=3)
    with pytest.raises(InputError, match="duplicate"):
        build_model(SPEC, 10, SHAPE, 0, {"num_classes": 3})
    with pytest.raises(InputError, match="input_shape must hold positive sizes"):
        get_model(SPEC, 10, (1, 0, 8))


def test_torchvision_absent_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if not installed
    with pytest.raises(InputError, match="needs torchvision, which is not installed.*pip install torchvision"):
        build("torchvision.models:resnet18", 10, (3, 32, 32))


def test_torchvision_model_when_installed():
    pytest.importorskip("torchvision")
    model = build("torchvision.models:resnet18", 10, (3, 32, 32), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # num_classes reached the model through **kwargs: no warning
        build("torchvision.models:resnet18", 10, (3, 32, 32))
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    masks = prune(model, "erk", 0.9, random_state=0)
    assert abs(pruners.sparsity_of(masks) - 0.9) < 1e-4


def test_prune_model_and_checkpoint_round_trip(user_module, tmp_path):
    model, masks, meta = prune_model(SPEC, "snip", 0.8, dataset="digits", input_shape=SHAPE, random_state=2,
                                     model_kwargs={"width": 3}, options={"batch_size": 32})
    assert meta["arch"] == SPEC and meta["model_kwargs"] == {"width": 3} and meta["seed"] == 2
    assert abs(pruners.sparsity_of(masks) - 0.8) < 1e-3
    path = save_checkpoint(tmp_path / "mine.pt", model, masks, meta)
    # the file names code to run: refused unless trusted
    with pytest.raises(CheckpointError, match=rf"factory '{SPEC}'.*trusted='{SPEC}'"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="trusted="):
        load_checkpoint(path, trusted="other_module:small_cnn")
    for trusted in (SPEC, [SPEC, "x:y"], True):
        ck = load_checkpoint(path, trusted=trusted)
        assert type(ck.model).__name__ == "SmallCNN" and ck.model.conv.out_channels == 3
        assert list(ck.masks) == list(masks) and all(torch.equal(ck.masks[n], masks[n].cpu()) for n in masks)
        with torch.no_grad():
            x = torch.randn(4, *SHAPE)
            assert torch.allclose(ck.model.eval()(x), model.eval()(x))
        assert torch.equal(ck.model.conv.weight_mask.bool(), masks["conv.weight"])
    # the same run again gives the same model and masks
    again, masks2, _ = prune_model(SPEC, "snip", 0.8, dataset="digits", input_shape=SHAPE, random_state=2,
                                   model_kwargs={"width": 3}, options={"batch_size": 32})
    assert all(torch.equal(masks[n], masks2[n]) for n in masks)


def test_grid_with_a_model_spec(user_module, tmp_path):
    out = tmp_path / "g"
    df = run_grid([SPEC], ["er", "dense"], [0.9], ["digits"], [0], out, input_shape=SHAPE)
    assert set(df["arch"]) == {SPEC} and set(df["status"]) == {"pruned"}
    rel = df.loc[df.method == "er", "checkpoint"].item()
    assert rel == f"checkpoints/digits/{MODULE}--small_cnn/er/s0.9-seed0.pt"
    assert load_checkpoint(out / rel, trusted=SPEC).meta["arch"] == SPEC
    # resuming with training reloads the pruned checkpoints (the grid trusts the specs it was given)
    df = run_grid([SPEC], ["er"], [0.9], ["digits"], [0], out, input_shape=SHAPE, train=True,
                  train_options={"epochs": 1, "batch_size": 64})
    row = df[df.method == "er"]
    assert row["status"].item() == "trained" and 0.0 <= row["accuracy"].item() <= 1.0
    assert len(read_results(out)) == 2
    with pytest.raises(InputError, match="cannot import the module"):
        run_grid(["pruners_test_no_such_module:make"], ["er"], [0.9], ["digits"], [0], tmp_path / "h", input_shape=SHAPE)
    assert not (tmp_path / "h").exists()
