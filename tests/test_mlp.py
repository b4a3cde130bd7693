"""The ``mlp`` zoo model: architecture, flattening, the dense readout respected by every pruner."""

from __future__ import annotations

import pytest
import torch

import encoders
from pruners import METHODS, apply_masks, get_model, load_checkpoint, masks_from_model, prune, save_checkpoint
from pruners.data import get_dataset
from pruners.models import canonical_name
from topocore import names
from topocore.errors import InputError, MaskError
from topocore.masks import prunable_names, validate_masks

SHAPE = (1, 8, 8)


def test_default_architecture_is_the_papers():
    model = get_model("mlp", 10, (784,))
    assert [tuple(layer.weight.shape) for layer in model.hidden] == [(1000, 784), (1000, 1000), (1000, 1000)]
    assert tuple(model.readout.weight.shape) == (10, 1000)
    assert prunable_names(model) == ["hidden.0.weight", "hidden.1.weight", "hidden.2.weight"]
    assert canonical_name("Sparse-MLP") == "mlp" and names.canonical_arch("MLP") == "mlp"
    # get_model's defaults come from the constructor: 10 classes, a 784-pixel input
    default = get_model("mlp")
    assert default.input_shape == (784,) and tuple(default.readout.weight.shape) == (10, 1000)


def test_image_input_is_flattened_and_forward_matches_manual():
    torch.manual_seed(0)
    model = get_model("mlp", 3, SHAPE, hidden=(5, 4))
    x = torch.randn(7, *SHAPE)
    h = x.flatten(1)
    for layer in model.hidden:
        h = torch.relu(h @ layer.weight.T + layer.bias)
    expected = h @ model.readout.weight.T + model.readout.bias
    assert torch.allclose(model(x), expected, atol=1e-6)


def test_dense_readout_false_makes_the_readout_prunable():
    model = get_model("mlp", 10, SHAPE, hidden=(8,), dense_readout=False)
    assert prunable_names(model) == ["hidden.0.weight", "readout.weight"]


@pytest.mark.parametrize("bad", [{"hidden": (0, 4)}, {"hidden": "wide"}, {"input_shape": (0,)}])
def test_bad_options_are_input_errors(bad):
    kwargs = {"input_shape": SHAPE, **bad}
    with pytest.raises((InputError, ValueError)):
        get_model("mlp", 10, **kwargs)


def test_a_mask_for_the_dense_readout_is_refused():
    model = get_model("mlp", 10, SHAPE, hidden=(8,))
    with pytest.raises(MaskError, match="readout.weight"):
        validate_masks(model, {"readout.weight": torch.ones(10, 8, dtype=torch.bool)})
    with pytest.raises(MaskError, match="readout.weight"):
        apply_masks(model, {"readout.weight": torch.ones(10, 8, dtype=torch.bool)})


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits", split="train", input_shape=SHAPE)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_pruner_keeps_the_readout_dense(method, digits):
    torch.manual_seed(0)
    model = get_model("mlp", 10, SHAPE, hidden=(24, 16))
    # the published er searches its eps and keeps close to, not exactly, the target: its exact solve here
    options = {"epsilon": "exact"} if method == "er" else {}
    masks = prune(model, method, 0.8, data=digits, input_shape=SHAPE, random_state=1, progress=False, **options)
    assert sorted(masks) == ["hidden.0.weight", "hidden.1.weight"]
    total = 64 * 24 + 24 * 16
    assert sum(int(m.sum()) for m in masks.values()) == round(0.2 * total)
    apply_masks(model, masks)
    assert "readout.weight" not in masks_from_model(model)
    assert bool((model.readout.weight != 0).all())
    graph = encoders.encode(model, SHAPE, masks)
    assert graph.num_edges == round(0.2 * total) + 16 * 10  # the readout is encoded dense


def test_checkpoint_round_trip_keeps_options(tmp_path):
    torch.manual_seed(0)
    model = get_model("mlp", 10, SHAPE, hidden=(12, 6))
    masks = prune(model, "er", 0.5, random_state=0)
    meta = {"arch": "mlp", "num_classes": 10, "input_shape": list(SHAPE), "model_kwargs": {"hidden": [12, 6]}}
    save_checkpoint(tmp_path / "m.pt", model, masks, meta)
    ck = load_checkpoint(tmp_path / "m.pt")
    assert sorted(ck.masks) == sorted(masks)
    assert all(torch.equal(ck.masks[k], masks[k]) for k in masks)
    x = torch.randn(4, *SHAPE)
    model.eval()
    apply_masks(model, masks)
    assert torch.allclose(ck.model(x), model(x), atol=1e-6)


def test_the_encoder_still_encodes_the_dense_readout():
    import topometrics

    model = get_model("mlp", 10, SHAPE, hidden=(8,))
    assert topometrics.dense_num_edges(model, SHAPE) == 64 * 8 + 8 * 10
    masks = {"hidden.0.weight": torch.rand(8, 64) < 0.5, "readout.weight": torch.ones(10, 8, dtype=torch.bool)}
    graph = encoders.encode(model, SHAPE, masks)  # a mask for the kept-dense layer is accepted by the encoder
    assert graph.num_edges == int(masks["hidden.0.weight"].sum()) + 80
