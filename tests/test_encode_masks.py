"""Mask sources: the masks dict, torch.nn.utils.prune buffers, exact zeros."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

from encoders import MaskError, encode, resolve_masks
from encoders.masks import parameter_names, prunable_parameters, validate_masks
import pruners
from pruners.models import get_model

SHAPE = (3, 8, 8)


def small_model():
    torch.manual_seed(0)
    return get_model("resnet20", 10, SHAPE)


def test_prunable_parameters_in_registration_order():
    names = list(prunable_parameters(small_model()))
    assert names[0] == "conv1.weight" and names[-1] == "linear.weight"
    assert len(names) == 22


def test_prune_buffers_equal_dict_masks():
    model = small_model()
    masks = pruners.prune(model, "uniform", 0.7, random_state=0)
    expected = encode(model, SHAPE, masks)
    for name, mask in masks.items():
        module = model.get_submodule(name.rpartition(".")[0])
        prune.custom_from_mask(module, "weight", mask)
    assert "conv1.weight" in parameter_names(model) and "conv1.weight_orig" not in parameter_names(model)
    got = encode(model, SHAPE)
    assert got == expected
    assert got.meta["mask_sources"] == {"buffer": 22}
    resolved = resolve_masks(model)
    assert all(mw.source == "buffer" for mw in resolved.values())
    # values are the unmasked weight_orig, not weight * mask
    assert torch.equal(resolved["conv1.weight"].weight, model.conv1.weight_orig.detach())


def test_exact_zeros_equal_dict_masks():
    model = small_model()
    masks = pruners.prune(model, "uniform", 0.5, random_state=1)
    expected = encode(model, SHAPE, masks)
    with torch.no_grad():
        for name, mask in masks.items():
            model.get_parameter(name).mul_(mask)
    got = encode(model, SHAPE)
    assert got == expected and got.meta["mask_sources"] == {"zeros": 22}


def test_dict_overrides_buffer_and_falls_back_per_parameter():
    model = small_model()
    prune.random_unstructured(model.conv1, "weight", amount=0.5)
    keep_all = torch.ones_like(model.conv1.weight_orig, dtype=torch.bool)
    resolved = resolve_masks(model, {"conv1.weight": keep_all, "linear.weight": torch.zeros(10, 64)})
    assert resolved["conv1.weight"].source == "dict" and bool(resolved["conv1.weight"].mask.all())
    assert resolved["linear.weight"].source == "dict" and resolved["linear.weight"].density == 0.0
    assert resolved["layer1.0.conv1.weight"].source == "zeros"
    assert resolved["layer1.0.conv1.weight"].density == 1.0
    # numeric 0/1 masks are accepted (1 = kept)
    assert resolved["linear.weight"].mask.dtype == torch.bool
    assert resolve_masks(model)["conv1.weight"].source == "buffer"


def test_numpy_masks_accepted():
    model = small_model()
    masks = {k: v.numpy() for k, v in pruners.prune(model, "uniform", 0.9, random_state=2).items()}
    checked = validate_masks(model, masks)
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.bool for v in checked.values())
    g = encode(model, SHAPE, masks)
    assert g.num_edges > 0


def test_non_binary_mask_values_are_refused():
    """0.5 used to be kept silently; the one validator (topocore.masks) refuses it."""
    model = small_model()
    half = torch.full((16, 3, 3, 3), 0.5)
    with pytest.raises(MaskError, match=r"'conv1.weight' holds the value 0.5"):
        encode(model, SHAPE, {"conv1.weight": half})
    with pytest.raises(MaskError, match="0.5"):
        resolve_masks(model, {"conv1.weight": half})
    # a prune buffer is checked the same way
    prune.custom_from_mask(model.conv1, "weight", torch.ones(16, 3, 3, 3, dtype=torch.bool))
    with torch.no_grad():
        model.conv1.weight_mask.fill_(0.5)
    with pytest.raises(MaskError, match="0.5"):
        encode(model, SHAPE)


def test_buffer_spelling_keys_are_accepted():
    model = small_model()
    masks = pruners.prune(model, "uniform", 0.8, random_state=5)
    spelled = {f"{name}_mask": m.float() for name, m in masks.items()}
    assert encode(model, SHAPE, spelled) == encode(model, SHAPE, masks)
    with pytest.raises(MaskError, match="twice"):
        encode(model, SHAPE, {"conv1.weight": masks["conv1.weight"], "conv1.weight_mask": masks["conv1.weight"]})


def test_functional_weights_take_masks_through_the_same_validator():
    import torch.nn.functional as F

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, 2, 3, 3))
            self.fc = nn.Linear(3 * 2 * 2, 2)

        def forward(self, x):
            return self.fc(torch.flatten(F.conv2d(x, self.w), 1))

    torch.manual_seed(0)
    model = Functional()
    mask = torch.rand(3, 2, 3, 3) < 0.5
    g = encode(model, (2, 4, 4), {"w": mask})
    assert g.layers[0].param == "w" and g.meta["mask_sources"] == {"dict": 1, "zeros": 1}
    assert resolve_masks(model, {"w": mask}, params=["w"])["w"].density == pytest.approx(mask.float().mean().item())
    with pytest.raises(MaskError, match="0.5"):
        encode(model, (2, 4, 4), {"w": torch.full((3, 2, 3, 3), 0.5)})
    with pytest.raises(MaskError, match="shape"):
        encode(model, (2, 4, 4), {"w": torch.ones(3, 2, 3)})


def test_masked_weight_helpers():
    model = nn.Sequential(nn.Linear(4, 2))
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)
    mw = resolve_masks(model, {"0.weight": mask})["0.weight"]
    assert mw.density == pytest.approx(3 / 8)
    np.testing.assert_array_equal((mw.masked != 0).numpy(), mask.numpy())
