"""``encoders.encode(..., pad_nodes=True)``: the input's zero-padding positions as input nodes.

Oracle: with padding nodes, the first layer's edges are the autograd Jacobian of the
masked convolution *without* padding applied to the padded input tensor (the padding
positions are then ordinary inputs); every other layer is the graph without padding
nodes, shifted by the added node count; and propagating a zero-padded input through the
graph gives the linearised network's output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import encoders
from encoders import encode
from pruners.models import get_model
from test_encode import (
    ZOO_SMALL,
    assert_matches_jacobian,
    jacobian,
    layer_block,
    linearize,
    masked_copy,
    propagate,
    random_masks,
)


def _unpadded(conv: nn.Conv2d) -> nn.Conv2d:
    """The same convolution without padding (weights shared)."""
    out = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=0,
                    dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None)
    out.load_state_dict(conv.state_dict())
    return out


@pytest.mark.parametrize("arch,kw,shape", ZOO_SMALL, ids=lambda v: str(v))
def test_zoo_first_layer_is_the_jacobian_on_the_padded_input(arch, kw, shape):
    torch.manual_seed(0)
    model = get_model(arch, 10, shape, **kw)
    masks = random_masks(model, 0.4, seed=4)
    g0 = encode(model, shape, masks)
    g1 = encode(model, shape, masks, pad_nodes=True)
    g1.validate()
    first_name = g0.layers[0].name
    first = model.get_submodule(first_name)
    p = first.padding[0]
    c, h, w = shape
    padded = (c, h + 2 * p, w + 2 * p)
    added = c * (padded[1] * padded[2] - h * w)
    assert g1.partitions[0].shape == padded and g1.num_nodes == g0.num_nodes + added
    assert g1.meta["pad_nodes"] is True and g1.meta["input_padding"] == [p, p, p, p] and g0.meta["pad_nodes"] is False
    assert g1.layers[0].extra["pad_nodes"] is True and g1.layers[0].extra["padding"] == [p, p, p, p]
    # first layer: Jacobian of the unpadded convolution on the padded tensor
    dense, pattern = layer_block(g1, 0, 0, g1.layers[0].out_partition)
    J = jacobian(masked_copy(_unpadded(first), masks[f"{first_name}.weight"]), padded)
    assert_matches_jacobian(dense, pattern, J)
    # every other layer: the same edges as without padding nodes, ids shifted by the added nodes
    for li in range(1, len(g0.layers)):
        e0, e1 = g0.layer_edges(li), g1.layer_edges(li)
        np.testing.assert_array_equal(g1.src[e1].astype(np.int64), g0.src[e0].astype(np.int64) + added)
        np.testing.assert_array_equal(g1.dst[e1].astype(np.int64), g0.dst[e0].astype(np.int64) + added)
        np.testing.assert_array_equal(g1.weight[e1], g0.weight[e0])
    # the first layer's edges from real inputs are those of the graph without padding nodes
    interior = np.zeros(padded, dtype=bool)
    interior[:, p : p + h, p : p + w] = True
    from_real = interior.ravel()[g1.src[g1.layer_edges(0)].astype(np.int64)]
    assert int(from_real.sum()) == g0.layer_edges(0).size
    assert encoders.count_edges(model, shape, masks, pad_nodes=True) == g1.num_edges
    # end to end: padding nodes hold 0, the graph computes the linearised network
    x = torch.randn(1, *shape, dtype=torch.float64)
    with torch.no_grad():
        y = linearize(model, masks)(x).numpy().ravel()
    v = propagate(g1, F.pad(x, (p, p, p, p)).numpy())
    out = g1.partitions[-1]
    np.testing.assert_allclose(v[out.offset : out.stop], y, rtol=1e-7, atol=1e-9 * np.abs(y).max())


def test_published_node_counts_of_conv6_and_resnet20():
    """3 x 34 x 34 - 3 x 32 x 32 = 396 padding nodes for a 3x32x32 input (the published graphs)."""
    published = {"conv6": 233366, "resnet20": 191894}  # node counts of every CIFAR-10 row of unrolled.csv
    for arch in ("conv6", "resnet20"):
        model = get_model(arch, 10, (3, 32, 32))
        masks = random_masks(model, 0.0, seed=0)  # node counts do not depend on the masks
        g = encode(model, (3, 32, 32), masks, pad_nodes=True)
        assert g.partitions[0].size == 3 * 34 * 34
        assert g.num_nodes == encode(model, (3, 32, 32), masks).num_nodes + 396 == published[arch]


class TwoReaders(nn.Module):
    """Two convolutions read the input with different paddings (the encoder pads by the larger)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(2, 3, 5, padding=(2, 1))
        self.fc = nn.Linear(3 * 5 * 5 + 3 * 5 * 3, 4)

    def forward(self, x):
        return self.fc(torch.cat([torch.flatten(self.a(x), 1), torch.flatten(self.b(x), 1)], 1))


def test_several_convolutions_read_the_input():
    torch.manual_seed(1)
    model = TwoReaders()
    masks = random_masks(model, 0.6, seed=5)
    shape = (2, 5, 5)
    g = encode(model, shape, masks, pad_nodes=True)
    g.validate()
    assert g.partitions[0].shape == (2, 9, 7) and g.meta["input_padding"] == [2, 2, 1, 1]
    full = torch.randn(1, 2, 9, 7, dtype=torch.float64)
    for name, crop in (("a", (slice(1, 8), slice(0, 7))), ("b", (slice(0, 9), slice(0, 7)))):
        li = [layer.name for layer in g.layers].index(name)
        dense, pattern = layer_block(g, li, 0, g.layers[li].out_partition)
        conv = masked_copy(_unpadded(getattr(model, name)), masks[f"{name}.weight"])

        def f(z, conv=conv, crop=crop):
            return conv(z[:, :, crop[0], crop[1]])

        J = torch.autograd.functional.jacobian(f, full, vectorize=True)
        J = J.reshape(-1, full.numel()).numpy()
        assert_matches_jacobian(dense, pattern, J)


def test_non_zero_padding_modes_and_mlps_are_unchanged():
    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect")
    model = nn.Sequential(conv)
    masks = {"0.weight": torch.ones(3, 2, 3, 3, dtype=torch.bool)}
    assert encode(model, (2, 4, 4), masks, pad_nodes=True).partitions == encode(model, (2, 4, 4), masks).partitions
    mlp = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    assert encode(mlp, (6,), pad_nodes=True).partitions == encode(mlp, (6,)).partitions
    with pytest.raises(ValueError, match="pad_nodes must be True or False"):
        encode(mlp, (6,), pad_nodes=1)


@st.composite
def zero_padded_convs(draw):
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    H = draw(st.integers(max(dil[0] * (kh - 1) + 1 - 2 * ph, 1), 8))
    W = draw(st.integers(max(dil[1] * (kw - 1) + 1 - 2 * pw, 1), 8))
    return dict(cin=cin, cout=cout, kernel=(kh, kw), padding=(ph, pw), stride=stride, dilation=dil, H=H, W=W,
                density=draw(st.sampled_from([0.3, 0.7, 1.0])), seed=draw(st.integers(0, 10_000)))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zero_padded_convs())
def test_conv_configs_with_padding_nodes_match_jacobian(cfg):
    torch.manual_seed(cfg["seed"])
    conv = nn.Conv2d(cfg["cin"], cfg["cout"], cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                     dilation=cfg["dilation"])
    with torch.no_grad():
        conv.weight.copy_((torch.rand(conv.weight.shape) * 0.9 + 0.1) * torch.where(torch.rand(conv.weight.shape) < 0.5, -1.0, 1.0))
    gen = torch.Generator().manual_seed(cfg["seed"])
    mask = torch.rand(conv.weight.shape, generator=gen) < cfg["density"]
    shape = (cfg["cin"], cfg["H"], cfg["W"])
    g = encode(nn.Sequential(conv, nn.ReLU()), shape, {"0.weight": mask}, pad_nodes=True)
    ph, pw = cfg["padding"]
    padded = (cfg["cin"], cfg["H"] + 2 * ph, cfg["W"] + 2 * pw)
    assert g.partitions[0].shape == padded
    P, Q = g.partitions
    if g.num_edges:
        dense, pattern = layer_block(g, 0, 0, 1)
    else:
        dense = pattern = np.zeros((Q.size, P.size))
    J = jacobian(masked_copy(_unpadded(conv), mask), padded)
    assert_matches_jacobian(dense, pattern.astype(bool), J)
