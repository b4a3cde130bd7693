"""The ImageNet zoo (ResNet-18/50, MobileNetV2) and the CIFAR MobileNetV2, against independent oracles.

* parameter counts: the published figures (He et al. 2016: 11.7M and 25.6M; Sandler et
  al. 2018 / torchvision: 3.5M, for 1000 classes);
* the new layer kinds (bottleneck with the stride on its 3x3 conv, depthwise conv with
  ReLU6, inverted residual with identity or conv shortcut) at small input sizes: each
  layer's edges equal the autograd Jacobian of the masked layer, and the whole block,
  made linear (BatchNorm and activations removed), equals the propagation through
  the graph;
* the names of the published data ("MobileNetV2") map to the CIFAR variant, whose MGE
  has the published node count minus the input padding ring their encoding keeps;
* at 224x224 every new model's edge count from :func:`encoders.count_edges` equals the
  number of edges :func:`encoders.encode` builds.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

import encoders
from encoders import encode
from pruners.models import MODELS, canonical_name, count_parameters, get_model
from pruners.models.imagenet_resnet import BasicBlock, Bottleneck
from pruners.models.mobilenet import InvertedResidual
from topocore import names


def random_masks(model: nn.Module, density: float, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        f"{name}.weight": torch.rand(m.weight.shape, generator=gen) < density
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    }


def jacobian(f, in_shape) -> np.ndarray:
    x = torch.randn(1, *in_shape, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(f, x, vectorize=True)
    return J.reshape(J.numel() // x.numel(), x.numel()).numpy()


def layer_block(g, li: int, in_part: int, out_part: int) -> np.ndarray:
    P, Q = g.partitions[in_part], g.partitions[out_part]
    idx = g.layer_edges(li)
    s = g.src[idx].astype(np.int64) - P.offset
    d = g.dst[idx].astype(np.int64) - Q.offset
    assert s.min(initial=0) >= 0 and s.max(initial=-1) < P.size and d.max(initial=-1) < Q.size
    dense = np.zeros((Q.size, P.size))
    dense[d, s] = g.weight[idx]
    return dense


def masked_copy(module: nn.Module, mask: torch.Tensor) -> nn.Module:
    m = copy.deepcopy(module).double()
    with torch.no_grad():
        m.weight.mul_(mask.double())
        if getattr(m, "bias", None) is not None:
            m.bias.zero_()
    return m


def _ident(x, *args, **kwargs):
    return x


def linearize(model: nn.Module, masks: dict) -> nn.Module:
    """The model as a linear map: masked weights, no biases, BatchNorm/ReLU/ReLU6/dropout removed,
    global average pooling replaced by a sum (the MGE's folded pooling keeps window sums)."""
    model = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(masks[f"{name}.weight"].double())
                if m.bias is not None:
                    m.bias.zero_()
    for name, m in list(model.named_modules()):
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if isinstance(m, (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Dropout)):
            setattr(parent, attr, nn.Identity())
        elif isinstance(m, nn.MaxPool2d):
            k, s, p = m.kernel_size, m.stride, m.padding
            setattr(parent, attr, _SumPool(k, s, p))
    gm = torch.fx.symbolic_trace(model)
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in (F.relu, torch.relu, F.relu6):
            node.target = _ident
        elif node.op == "call_function" and node.target is F.adaptive_avg_pool2d:
            node.target = _global_sum
    gm.recompile()
    return gm


class _SumPool(nn.Module):
    def __init__(self, k, s, p):
        super().__init__()
        self.k, self.s, self.p = k, s, p

    def forward(self, x):
        # sum over the window's real (non-padding) elements
        return F.avg_pool2d(x, self.k, self.s, self.p, count_include_pad=True) * (self.k * self.k)


def _global_sum(x, *args, **kwargs):
    return x.sum(dim=(2, 3), keepdim=True)


def propagate(g, x: np.ndarray) -> np.ndarray:
    n = g.num_nodes
    A = sp.csr_matrix((g.weight.astype(np.float64), (g.dst.astype(np.int64), g.src.astype(np.int64))), shape=(n, n))
    v = np.zeros(n)
    v[: g.partitions[0].size] = x.ravel()
    for p in g.partitions[1:]:
        v[p.offset : p.stop] = A[p.offset : p.stop] @ v
    return v


def assert_linear_network_matches(model: nn.Module, shape, masks) -> None:
    g = encode(model, shape, masks)
    g.validate()
    lin = linearize(model, masks)
    x = torch.randn(1, *shape, dtype=torch.float64)
    with torch.no_grad():
        y = lin(x).numpy().ravel()
    v = propagate(g, x.numpy())
    out = g.partitions[-1]
    np.testing.assert_allclose(v[out.offset : out.stop], y, rtol=1e-7, atol=1e-9 * np.abs(y).max())
    assert np.all(g.partition_of(g.src) < g.partition_of(g.dst))


# ----------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("name, exact, published", [
    ("resnet18", 11_689_512, 11.7e6),
    ("resnet50", 25_557_032, 25.6e6),
    ("mobilenet_v2_imagenet", 3_504_872, 3.5e6),
])
def test_parameter_counts_match_the_published_figures(name, exact, published):
    model = get_model(name)  # 1000 classes, 224x224 by default
    n = count_parameters(model)
    assert round(n, -5) == published
    assert n == exact  # torchvision's count of the same architecture (BatchNorm and classifier bias included)
    assert model.fc.out_features == 1000 if hasattr(model, "fc") else model.classifier.out_features == 1000


def test_default_shapes_and_forward():
    for name in ("resnet18", "mobilenet_v2_imagenet"):
        model = get_model(name, num_classes=5).eval()
        with torch.no_grad():
            assert model(torch.randn(1, 3, 224, 224)).shape == (1, 5)
    cifar = get_model("mobilenet_v2").eval()  # 10 classes, 32x32
    with torch.no_grad():
        assert cifar(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert 2.2e6 < count_parameters(cifar) < 2.4e6
    with pytest.raises(ValueError, match="at least 32x32"):
        get_model("resnet18", input_shape=(3, 16, 16))


def test_resnet50_stride_sits_on_the_3x3_conv():
    model = get_model("resnet50", num_classes=10, input_shape=(3, 64, 64))
    for stage in (model.layer2, model.layer3, model.layer4):
        first = stage[0]
        assert first.conv1.stride == (1, 1) and first.conv2.stride == (2, 2) and first.conv3.stride == (1, 1)
        assert first.downsample[0].stride == (2, 2)


def test_mobilenet_depthwise_and_relu6():
    model = get_model("mobilenet_v2_imagenet", num_classes=10, input_shape=(3, 32, 32))
    block = model.blocks[1]
    dw = block.depthwise[0]
    assert dw.groups == dw.in_channels == dw.out_channels and dw.weight.shape[1] == 1
    assert any(isinstance(m, nn.ReLU6) for m in model.modules())
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    assert model.blocks[0].expand is None  # t = 1: no expansion conv in the paper's network
    assert get_model("mobilenet_v2").blocks[0].expand is not None  # the CIFAR variant keeps it


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize("spelling", ["MobileNetV2", "MobileNet-V2", "mobilenetv2", "mobilenet_v2"])
def test_published_spellings_map_to_the_cifar_variant(spelling):
    assert names.canonical_arch(spelling) == "mobilenet_v2"
    assert canonical_name(spelling) == "mobilenet_v2"


def test_zoo_and_names_agree():
    assert set(MODELS) == set(names.ARCHS)
    for spelling, canon in [("ResNet-18", "resnet18"), ("resnet_50", "resnet50"),
                            ("MobileNetV2-ImageNet", "mobilenet_v2_imagenet")]:
        assert names.canonical_arch(spelling) == canon == canonical_name(spelling)


def test_cifar_variant_has_the_published_node_count():
    """Published rows: 1,676,182 nodes for CIFAR-10; the authors' encoding keeps the first conv's
    zero-padding ring of the input as nodes, 3 x (34^2 - 32^2) = 396 (also the gap for ResNet-20)."""
    model = get_model("mobilenet_v2")
    g = encode(model, (3, 32, 32), random_masks(model, 0.001, seed=0))
    assert g.num_nodes + 3 * (34**2 - 32**2) == 1_676_182
    r20 = get_model("resnet20")
    g20 = encode(r20, (3, 32, 32), random_masks(r20, 0.01, seed=0))
    assert g20.num_nodes + 396 == 191_894


# ----------------------------------------------------------------------------- layer Jacobians


BLOCKS = [
    ("bottleneck, stride on the 3x3, conv shortcut", lambda: Bottleneck(8, 4, stride=2), (8, 7, 7)),
    ("bottleneck, identity shortcut", lambda: Bottleneck(16, 4, stride=1), (16, 5, 5)),
    ("basic block, stride 2", lambda: BasicBlock(4, 8, stride=2), (4, 6, 6)),
    ("inverted residual, identity shortcut", lambda: InvertedResidual(4, 4, 6, 1), (4, 5, 5)),
    ("inverted residual, stride 2, no shortcut", lambda: InvertedResidual(4, 6, 6, 2), (4, 7, 7)),
    ("inverted residual, t=1 without expansion", lambda: InvertedResidual(8, 4, 1, 1), (8, 4, 4)),
    ("inverted residual (CIFAR), conv shortcut, t=1 expanded",
     lambda: InvertedResidual(4, 6, 1, 1, always_expand=True, conv_shortcut=True), (4, 5, 5)),
]


@pytest.mark.parametrize("label, make, shape", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_block_layers_match_jacobians(label, make, shape):
    torch.manual_seed(0)
    model = make().eval()
    masks = random_masks(model, 0.5, seed=1)
    g = encode(model, shape, masks)
    g.validate()
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert sorted(layer.name for layer in g.layers if layer.kind == "conv") == sorted(convs)
    # partition shapes are the conv outputs, in order
    outputs = {}
    hooks = [model.get_submodule(n).register_forward_hook(
        lambda mod, inp, out, n=n: outputs.__setitem__(n, (tuple(inp[0].shape[1:]), tuple(out.shape[1:]))))
        for n in convs]
    with torch.no_grad():
        model(torch.randn(1, *shape))
    for h in hooks:
        h.remove()
    for li, layer in enumerate(g.layers):
        (pin,) = layer.in_partitions
        P, Q = g.partitions[pin], g.partitions[layer.out_partition]
        dense = layer_block(g, li, pin, layer.out_partition)
        if layer.kind == "identity":
            J = jacobian(lambda x: x, P.shape)
        else:
            module = model.get_submodule(layer.name)
            assert (P.shape, Q.shape) == outputs[layer.name]
            J = jacobian(masked_copy(module, masks[layer.param]), P.shape)
        np.testing.assert_array_equal(dense != 0, J != 0)
        np.testing.assert_allclose(dense, J, rtol=1e-6, atol=0)
    assert_linear_network_matches(model, shape, masks)
    n_identity = sum(layer.kind == "identity" for layer in g.layers)
    identity_shortcut = getattr(model, "downsample", 0) is None or (
        getattr(model, "residual", False) and model.shortcut is None)
    assert n_identity == int(identity_shortcut)


def test_depthwise_edges_stay_in_their_channel():
    block = InvertedResidual(3, 3, 2, 1)
    masks = {k: torch.ones_like(v) for k, v in random_masks(block, 1.0, 0).items()}
    g = encode(block, (3, 4, 4), masks)
    li = next(i for i, layer in enumerate(g.layers) if layer.name == "depthwise.0")
    layer = g.layers[li]
    P, Q = g.partitions[layer.in_partitions[0]], g.partitions[layer.out_partition]
    idx = g.layer_edges(li)
    cin = (g.src[idx] - P.offset) // (P.shape[1] * P.shape[2])
    cout = (g.dst[idx] - Q.offset) // (Q.shape[1] * Q.shape[2])
    np.testing.assert_array_equal(cin, cout)
    # 6 channels, 3x3 kernel on 4x4 with padding 1: interior taps 9*4 + edges 6*8 + corners 4*4
    assert idx.size == 6 * (4 * 9 + 8 * 6 + 4 * 4)


@pytest.mark.parametrize("name, shape, density", [
    ("mobilenet_v2", (3, 8, 8), 0.5),
    ("mobilenet_v2_imagenet", (3, 32, 32), 0.3),
    ("resnet18", (3, 32, 32), 0.1),
    ("resnet50", (3, 32, 32), 0.03),
])
def test_whole_models_as_linear_networks(name, shape, density):
    torch.manual_seed(0)
    model = get_model(name, num_classes=7, input_shape=shape)
    assert_linear_network_matches(model, shape, random_masks(model, density, seed=2))


# ----------------------------------------------------------------------------- 224x224 edge counts


@pytest.mark.parametrize("name, density", [("resnet18", 0.002), ("resnet50", 0.001), ("mobilenet_v2_imagenet", 0.01)])
def test_edge_counts_at_224_equal_count_edges(name, density):
    model = get_model(name)
    masks = random_masks(model, density, seed=3)
    g = encode(model, (3, 224, 224), masks)
    assert encoders.count_edges(model, (3, 224, 224), masks) == g.num_edges
    per_layer = encoders.count_edges(model, (3, 224, 224), masks, per_layer=True)
    assert [c for _, c in per_layer] == np.bincount(g.edge_layer, minlength=len(g.layers)).tolist()
    assert g.partitions[0].shape == (3, 224, 224) and g.partitions[-1].shape == (1000,)
