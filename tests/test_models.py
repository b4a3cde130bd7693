"""Model zoo: shapes, parameter counts, names."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from pruners.models import canonical_name, count_parameters, get_model
from topocore.errors import InputError

EXPECTED = {  # (approximate total parameters for 10 classes, relative tolerance)
    "conv6": (2.3e6, 0.05),
    "resnet20": (2.7e5, 0.05),
    "resnet32": (4.6e5, 0.05),
    "wrn28_2": (1.47e6, 0.05),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_counts_and_forward(name):
    model = get_model(name, num_classes=10, input_shape=(3, 32, 32))
    target, tol = EXPECTED[name]
    assert abs(count_parameters(model) - target) / target < tol
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_small_inputs_and_class_counts(name):
    model = get_model(name, num_classes=7, input_shape=(1, 8, 8)).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 8, 8)).shape == (3, 7)


def test_exact_resnet20_counts():
    # Hand count: conv weights of ResNet-20 with option-B shortcuts + fc.
    convs = 3 * 16 * 9 + 6 * 16 * 16 * 9 + (16 * 32 * 9 + 5 * 32 * 32 * 9 + 16 * 32) + (32 * 64 * 9 + 5 * 64 * 64 * 9 + 32 * 64)
    fc = 64 * 10
    model = get_model("resnet20")
    assert count_parameters(model, prunable_only=True) == convs + fc
    a = get_model("resnet20", shortcut="A")
    assert count_parameters(a, prunable_only=True) == convs + fc - 16 * 32 - 32 * 64


def test_option_a_shortcut_forward():
    model = get_model("resnet32", shortcut="A").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in model.modules())


@pytest.mark.parametrize(
    "alias,canon",
    [("CONV-6", "conv6"), ("Resnet-20", "resnet20"), ("resnet32", "resnet32"), ("Wide-Resnet-28-2", "wrn28_2"), ("wrn28_2", "wrn28_2")],
)
def test_aliases(alias, canon):
    assert canonical_name(alias) == canon


def test_bad_names_and_shapes():
    with pytest.raises(InputError, match="unknown model 'vgg16'.*package.module:factory"):
        get_model("vgg16")
    with pytest.raises(InputError, match="no option.*shortcut"):
        get_model("conv6", shortcut="A")
    with pytest.raises(ValueError, match="input_shape"):
        get_model("resnet20", input_shape=(32, 32))
    with pytest.raises(ValueError, match="at least 8x8"):
        get_model("conv6", input_shape=(3, 4, 4))


def test_kaiming_init_scale():
    torch.manual_seed(0)
    model = get_model("conv6")
    w = model.features[3].weight  # 64 -> 64 conv, fan_in = 576
    assert abs(w.std().item() - (2 / 576) ** 0.5) < 0.01
