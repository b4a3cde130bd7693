"""Mask sources: the masks dict, torch.nn.utils.prune buffers, exact zeros."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

from encoders import encode, random_uniform_masks, resolve_masks
from encoders.masks import parameter_names, prunable_parameters, validate_masks
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
    masks = random_uniform_masks(model, 0.7, random_state=0)
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
    masks = random_uniform_masks(model, 0.5, random_state=1)
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
    # numeric masks are accepted (nonzero = kept)
    assert resolved["linear.weight"].mask.dtype == torch.bool
    assert resolve_masks(model)["conv1.weight"].source == "buffer"


def test_numpy_masks_accepted():
    model = small_model()
    masks = {k: v.numpy() for k, v in random_uniform_masks(model, 0.9, random_state=2).items()}
    checked = validate_masks(model, masks)
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.bool for v in checked.values())
    g = encode(model, SHAPE, masks)
    assert g.num_edges > 0


def test_random_uniform_masks_exact_layerwise_density():
    model = small_model()
    masks = random_uniform_masks(model, 0.9, random_state=3)
    for name, m in masks.items():
        n = m.numel()
        assert int(m.sum()) == round(0.1 * n), name
    again = random_uniform_masks(model, 0.9, random_state=3)
    assert all(torch.equal(masks[k], again[k]) for k in masks)
    other = random_uniform_masks(model, 0.9, random_state=4)
    assert any(not torch.equal(masks[k], other[k]) for k in masks)
    with pytest.raises(ValueError, match="sparsity"):
        random_uniform_masks(model, 1.5)


def test_masked_weight_helpers():
    model = nn.Sequential(nn.Linear(4, 2))
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)
    mw = resolve_masks(model, {"0.weight": mask})["0.weight"]
    assert mw.density == pytest.approx(3 / 8)
    np.testing.assert_array_equal((mw.masked != 0).numpy(), mask.numpy())
