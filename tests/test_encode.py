"""encoders.encode against independent oracles.

* per layer: the edges between a layer's input and output partitions equal the
  nonzero pattern and values of the autograd Jacobian of the masked layer (of
  ``layer o average pool`` times the window size where a pooling is folded in, of the
  shortcut branch for identity layers);
* end to end: with BatchNorm and activations removed and pools replaced by sum pools
  the network is linear, and propagating an input through the graph's edges gives
  the network's output;
* closed-form edge counts, the hand-computed dense ResNet-20 total, hypothesis-generated
  convolution and pooling configurations.
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import encoders
from encoders import MultipartiteGraph, encode
from encoders.graph import node_dtype
from pruners.models import get_model
from pruners.models.resnet import PadShortcut

ZOO_SMALL = [
    ("conv6", {}, (3, 8, 8)),
    ("resnet20", {"shortcut": "B"}, (3, 8, 8)),
    ("resnet20", {"shortcut": "A"}, (3, 8, 8)),
    ("resnet32", {"shortcut": "A"}, (3, 4, 4)),
    ("wrn28_2", {}, (3, 8, 8)),
]


# ----------------------------------------------------------------------------- oracle helpers


def random_masks(model: nn.Module, density: float, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        f"{name}.weight": torch.rand(m.weight.shape, generator=gen) < density
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    }


def layer_block(g: MultipartiteGraph, li: int, in_part: int, out_part: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense (out x in) weight matrix and pattern of layer ``li``'s edges between two partitions."""
    P, Q = g.partitions[in_part], g.partitions[out_part]
    idx = g.layer_edges(li)
    s = g.src[idx].astype(np.int64)
    d = g.dst[idx].astype(np.int64)
    assert np.all((s >= P.offset) & (s < P.stop)), "edge from outside the input partition"
    assert np.all((d >= Q.offset) & (d < Q.stop)), "edge into outside the output partition"
    keys = (d - Q.offset) * P.size + (s - P.offset)
    assert np.unique(keys).size == keys.size, "parallel edges inside one layer"
    dense = np.zeros((Q.size, P.size))
    dense[d - Q.offset, s - P.offset] = g.weight[idx]
    pattern = np.zeros((Q.size, P.size), dtype=bool)
    pattern[d - Q.offset, s - P.offset] = True
    return dense, pattern


def masked_copy(module: nn.Module, mask: torch.Tensor) -> nn.Module:
    m = copy.deepcopy(module).double()
    with torch.no_grad():
        m.weight.mul_(mask.to(torch.float64))
        if getattr(m, "bias", None) is not None:
            m.bias.zero_()
    return m


def jacobian(f, in_shape: tuple[int, ...]) -> np.ndarray:
    x = torch.randn(1, *in_shape, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(f, x, vectorize=True)
    out_numel = J.numel() // x.numel()
    return J.reshape(out_numel, x.numel()).numpy()


def assert_matches_jacobian(dense: np.ndarray, pattern: np.ndarray, J: np.ndarray) -> None:
    assert dense.shape == J.shape
    np.testing.assert_array_equal(pattern, J != 0)
    np.testing.assert_allclose(dense, J, rtol=1e-6, atol=0)


def capture_shapes(model: nn.Module, input_shape) -> dict[str, tuple[tuple, tuple]]:
    shapes, hooks = {}, []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(
                m.register_forward_hook(
                    lambda mod, inp, out, name=name: shapes.__setitem__(name, (tuple(inp[0].shape[1:]), tuple(out.shape[1:])))
                )
            )
    model.eval()
    with torch.no_grad():
        model(torch.randn(2, *input_shape))
    for h in hooks:
        h.remove()
    return shapes


def folded_pool(arch: str, layer: str):
    """The pooling between a layer and its input partition in the zoo models, written by hand:
    (function of the pre-pool tensor, window size)."""
    if arch == "conv6" and layer in ("features.7", "features.14"):
        return (lambda z: F.avg_pool2d(z, 2)), 4
    if arch == "conv6" and layer == "classifier.0":
        return (lambda z: torch.flatten(F.avg_pool2d(z, 2), 1)), 4
    if arch in ("resnet20", "resnet32", "wrn28_2") and layer in ("linear", "fc"):
        return (lambda z: torch.flatten(F.adaptive_avg_pool2d(z, 1), 1)), None
    return None, 1


# ----------------------------------------------------------------------------- zoo: per-layer Jacobians


@pytest.mark.parametrize("arch,kw,shape", ZOO_SMALL, ids=lambda v: str(v))
def test_zoo_layers_match_jacobians(arch, kw, shape):
    torch.manual_seed(0)
    model = get_model(arch, 10, shape, **kw)
    masks = random_masks(model, 0.5, seed=1)
    g = encode(model, shape, masks)
    g.validate()
    shapes = capture_shapes(model, shape)
    kinds = [layer.kind for layer in g.layers]
    assert kinds.count("conv") + kinds.count("linear") == len(shapes)
    for li, layer in enumerate(g.layers):
        assert len(layer.in_partitions) == 1
        P, Q = g.partitions[layer.in_partitions[0]], g.partitions[layer.out_partition]
        dense, pattern = layer_block(g, li, layer.in_partitions[0], layer.out_partition)
        if layer.kind == "identity":
            branch = nn.Identity()
            try:
                mod = model.get_submodule(layer.name)
                if isinstance(mod, (PadShortcut, nn.Identity)):
                    branch = mod
            except AttributeError:
                pass  # WRN's `out + x`: no shortcut module, the identity
            J = jacobian(lambda x: branch(x), P.shape)
            assert_matches_jacobian(dense, pattern, J)
            continue
        module = model.get_submodule(layer.name)
        assert layer.param == f"{layer.name}.weight"
        in_shape, out_shape = shapes[layer.name]
        assert Q.shape == out_shape
        m = masked_copy(module, masks[layer.param])
        pool, window = folded_pool(arch, layer.name)
        if pool is None:
            assert P.shape == in_shape
            J = jacobian(m, P.shape)
        else:
            if window is None:  # global average pool
                window = P.shape[1] * P.shape[2]
            assert layer.extra["folded_pooling"], layer
            J = jacobian(lambda z: m(pool(z)), P.shape) * window
        assert_matches_jacobian(dense, pattern, J)


# ----------------------------------------------------------------------------- zoo: end to end


class SumPool(nn.Module):
    def __init__(self, k: int, s: int) -> None:
        super().__init__()
        self.k, self.s = k, s

    def forward(self, x):
        return F.avg_pool2d(x, self.k, self.s) * (self.k * self.k)


def _ident(x, *args, **kwargs):
    return x


def _global_sum(x, *args, **kwargs):
    return x.sum(dim=(2, 3), keepdim=True)


def linearize(model: nn.Module, masks: dict) -> nn.Module:
    """Copy of a zoo model as a linear map: masked weights, no biases, BN/ReLU removed, sum pools."""
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
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.Dropout)):
            setattr(parent, attr, nn.Identity())
        elif isinstance(m, nn.MaxPool2d):
            setattr(parent, attr, SumPool(m.kernel_size, m.stride))
    gm = torch.fx.symbolic_trace(model)
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in (F.relu, torch.relu):
            node.target = _ident
        elif node.op == "call_function" and node.target is F.adaptive_avg_pool2d:
            node.target = _global_sum
    gm.recompile()
    return gm


def propagate(g: MultipartiteGraph, x: np.ndarray) -> np.ndarray:
    """Values of every node when the input partition holds ``x`` and each partition is the
    weighted sum of its in-edges (partitions in index order)."""
    n = g.num_nodes
    A = sp.csr_matrix((g.weight.astype(np.float64), (g.dst.astype(np.int64), g.src.astype(np.int64))), shape=(n, n))
    v = np.zeros(n)
    v[: g.partitions[0].size] = x.ravel()
    for p in g.partitions[1:]:
        v[p.offset : p.stop] = A[p.offset : p.stop] @ v
    return v


@pytest.mark.parametrize("arch,kw,shape", ZOO_SMALL, ids=lambda v: str(v))
def test_zoo_end_to_end_linear_network(arch, kw, shape):
    torch.manual_seed(0)
    model = get_model(arch, 10, shape, **kw)
    masks = random_masks(model, 0.6, seed=2)
    g = encode(model, shape, masks)
    lin = linearize(model, masks)
    x = torch.randn(1, *shape, dtype=torch.float64)
    with torch.no_grad():
        y = lin(x).numpy().ravel()
    v = propagate(g, x.numpy())
    out = g.partitions[-1]
    np.testing.assert_allclose(v[out.offset : out.stop], y, rtol=1e-7, atol=1e-9 * np.abs(y).max())
    # every edge goes forward in partition order (partitions are topologically sorted)
    assert np.all(g.partition_of(g.src) < g.partition_of(g.dst))


def test_identity_shortcuts_false_drops_only_identity_edges():
    model = get_model("resnet20", 10, (3, 8, 8), shortcut="A")
    masks = random_masks(model, 0.5, seed=3)
    g1 = encode(model, (3, 8, 8), masks)
    g0 = encode(model, (3, 8, 8), masks, identity_shortcuts=False)
    ident = sum(int((g1.edge_layer == i).sum()) for i, layer in enumerate(g1.layers) if layer.kind == "identity")
    assert ident > 0
    assert g0.num_edges == g1.num_edges - ident
    assert all(layer.kind != "identity" for layer in g0.layers)
    assert g0.partitions == g1.partitions
    assert g0.meta["identity_shortcuts"] is False and g1.meta["identity_shortcuts"] is True


def test_option_a_shortcut_mapping_by_hand():
    """layer2.0 of an option-A ResNet at 3x8x8: input 16x8x8 -> output 32x4x4; the shortcut
    maps (c, 2y, 2x) -> (c + 8, y, x)."""
    model = get_model("resnet20", 10, (3, 8, 8), shortcut="A")
    g = encode(model, (3, 8, 8))
    li = [layer.name for layer in g.layers].index("layer2.0.shortcut")
    layer = g.layers[li]
    P, Q = g.partitions[layer.in_partitions[0]], g.partitions[layer.out_partition]
    assert P.shape == (16, 8, 8) and Q.shape == (32, 4, 4)
    idx = g.layer_edges(li)
    got = set(zip((g.src[idx] - P.offset).tolist(), (g.dst[idx] - Q.offset).tolist()))
    want = {((c * 8 + 2 * y) * 8 + 2 * x, ((c + 8) * 4 + y) * 4 + x) for c in range(16) for y in range(4) for x in range(4)}
    assert got == want
    assert np.all(g.weight[idx] == 1.0)


# ----------------------------------------------------------------------------- closed-form counts


def conv_count_closed_form(mask: np.ndarray, H, W, stride, padding, dilation) -> int:
    """sum over unmasked taps (co, ci, ky, kx) of #valid output rows(ky) * #valid output cols(kx)."""
    _, _, kh, kw = mask.shape
    Ho = (H + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    Wo = (W + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    rows = [sum(1 for oy in range(Ho) if 0 <= oy * stride[0] - padding[0] + ky * dilation[0] < H) for ky in range(kh)]
    cols = [sum(1 for ox in range(Wo) if 0 <= ox * stride[1] - padding[1] + kx * dilation[1] < W) for kx in range(kw)]
    per_tap = np.outer(rows, cols)
    return int((mask.sum(axis=(0, 1)) * per_tap).sum())


def test_conv_edge_counts_closed_form_resnet20():
    model = get_model("resnet20", 10, (3, 32, 32))
    masks = random_masks(model, 0.3, seed=4)
    g = encode(model, (3, 32, 32), masks)
    counts = np.bincount(g.edge_layer, minlength=len(g.layers))
    for li, layer in enumerate(g.layers):
        if layer.kind != "conv":
            continue
        m = model.get_submodule(layer.name)
        _, H, W = g.partitions[layer.in_partitions[0]].shape
        want = conv_count_closed_form(masks[layer.param].numpy(), H, W, m.stride, m.padding, m.dilation)
        assert counts[li] == want, layer.name


def dense_resnet20_edges(shortcut: str) -> int:
    """Edge count of the dense ResNet-20 MGE at 3x32x32, computed by hand.

    3x3 conv, stride 1, pad 1 on an n x n map: each (ci, co) pair has (3n - 2)^2 edges
    (the border rows/cols lose one tap each): 94^2 at 32, 46^2 at 16, 22^2 at 8.
    3x3 conv, stride 2, pad 1 from 2m to m: taps ky = 0 miss one output row, so
    (3m - 1)^2: 47^2 at 32 -> 16, 23^2 at 16 -> 8.  1x1 stride-2 shortcut: m^2 per pair.
    Identity shortcut: C*n*n; option A: Cin*m*m (the padded channels have no source).
    Global average pool 8x8 folded into the 64 -> 10 linear layer: 64 * 64 * 10.
    """
    s1 = {32: 94**2, 16: 46**2, 8: 22**2}
    s2 = {16: 47**2, 8: 23**2}
    total = 3 * 16 * s1[32]  # conv1
    total += 6 * 16 * 16 * s1[32] + 3 * 16 * 32 * 32  # layer1: 6 convs + 3 identities
    for cin, cout, m in ((16, 32, 16), (32, 64, 8)):  # layer2, layer3
        total += cin * cout * s2[m] + cout * cout * s1[m]  # first block convs
        total += cin * cout * m * m if shortcut == "B" else cin * m * m  # its shortcut
        total += 2 * (2 * cout * cout * s1[m] + cout * m * m)  # two identity blocks
    total += 64 * 64 * 10  # linear with folded global pool
    return total


@pytest.mark.parametrize("shortcut", ["B", "A"])
def test_dense_resnet20_total_edges(shortcut):
    model = get_model("resnet20", 10, (3, 32, 32), shortcut=shortcut)
    g = encode(model, (3, 32, 32), masks={n: torch.ones_like(p, dtype=torch.bool) for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1})
    assert g.num_edges == dense_resnet20_edges(shortcut)
    assert g.num_nodes == 3 * 1024 + 16 * 1024 * 7 + 32 * 256 * 6 + 64 * 64 * 6 + 10


def test_dense_resnet20_number_value():
    # a fixed number, so that a silent change of the definition is noticed
    assert dense_resnet20_edges("B") == 37_333_696
    assert dense_resnet20_edges("A") == 37_077_696


# ----------------------------------------------------------------------------- hypothesis: convolutions


@st.composite
def conv_configs(draw):
    groups = draw(st.integers(1, 3))
    cin_g = draw(st.integers(1, 3))
    cout_g = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "circular", "replicate"]))
    same = draw(st.booleans()) and mode == "zeros"
    if same:
        stride, padding = (1, 1), "same"
    else:
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    min_h = max(dh * (kh - 1) + 1 - (0 if same else 2 * padding[0]), 1)
    min_w = max(dw * (kw - 1) + 1 - (0 if same else 2 * padding[1]), 1)
    if mode in ("reflect", "circular") and not same:
        min_h, min_w = max(min_h, padding[0] + 1), max(min_w, padding[1] + 1)
    H = draw(st.integers(min_h, min_h + 5))
    W = draw(st.integers(min_w, min_w + 5))
    density = draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    seed = draw(st.integers(0, 10_000))
    return dict(groups=groups, cin=cin_g * groups, cout=cout_g * groups, kernel=(kh, kw), dilation=(dh, dw),
                stride=stride, padding=padding, padding_mode=mode, H=H, W=W, density=density, seed=seed)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs())
def test_conv_configs_match_jacobian(cfg):
    torch.manual_seed(cfg["seed"])
    conv = nn.Conv2d(cfg["cin"], cfg["cout"], cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                     dilation=cfg["dilation"], groups=cfg["groups"], padding_mode=cfg["padding_mode"], bias=True)
    with torch.no_grad():  # random nonzero weights
        conv.weight.copy_(torch.rand(conv.weight.shape) * 0.9 + 0.1)
        conv.weight.mul_(torch.where(torch.rand(conv.weight.shape) < 0.5, -1.0, 1.0))
    model = nn.Sequential(conv, nn.BatchNorm2d(cfg["cout"]), nn.ReLU())
    gen = torch.Generator().manual_seed(cfg["seed"])
    mask = torch.rand(conv.weight.shape, generator=gen) < cfg["density"]
    shape = (cfg["cin"], cfg["H"], cfg["W"])
    g = encode(model, shape, {"0.weight": mask})
    g.validate()
    assert [p.shape for p in g.partitions][0] == shape
    dense, pattern = layer_block(g, 0, 0, 1) if g.num_edges else (np.zeros((g.partitions[1].size, g.partitions[0].size)),) * 2
    J = jacobian(masked_copy(conv, mask), shape)
    assert_matches_jacobian(dense, pattern.astype(bool), J)
    if cfg["padding_mode"] == "zeros" and cfg["padding"] != "same":
        assert g.num_edges == conv_count_closed_form(mask.numpy(), cfg["H"], cfg["W"], cfg["stride"], cfg["padding"], cfg["dilation"])


# ----------------------------------------------------------------------------- hypothesis: pooling folded into the next layer


def window_matrix(pool, shape) -> np.ndarray:
    """Binary (pooled x pre-pool) membership matrix, from the pooling's response to one-hot inputs."""
    n = int(np.prod(shape))
    eye = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
    resp = pool(eye).reshape(n, -1)  # resp[u, o] = 1 iff u in window(o) (max of a one-hot)
    return (resp.T != 0).numpy()


@st.composite
def pool_configs(draw):
    kind = draw(st.sampled_from(["max", "avg", "adaptive_avg", "adaptive_max", "mean"]))
    C = draw(st.integers(1, 3))
    H, W = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    cfg = dict(kind=kind, C=C, H=H, W=W, seed=draw(st.integers(0, 1000)), functional=draw(st.booleans()))
    if kind in ("max", "avg"):
        k = (draw(st.integers(1, min(3, H))), draw(st.integers(1, min(3, W))))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
        d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if kind == "max" else (1, 1)
        if kind == "max" and (d[0] * (k[0] - 1) + 1 > H + 2 * p[0] or d[1] * (k[1] - 1) + 1 > W + 2 * p[1]):
            d = (1, 1)
        cfg.update(k=k, s=s, p=p, d=d, ceil=draw(st.booleans()))
    elif kind.startswith("adaptive"):
        cfg.update(out=(draw(st.integers(1, H)), draw(st.integers(1, W))))
    cfg["next"] = draw(st.sampled_from(["conv", "linear"]))
    return cfg


def make_pool(cfg):
    kind = cfg["kind"]
    if kind == "max":
        return nn.MaxPool2d(cfg["k"], cfg["s"], cfg["p"], cfg["d"], ceil_mode=cfg["ceil"]), \
            (lambda x: F.max_pool2d(x, cfg["k"], cfg["s"], cfg["p"], cfg["d"], ceil_mode=cfg["ceil"]))
    if kind == "avg":
        return nn.AvgPool2d(cfg["k"], cfg["s"], cfg["p"], ceil_mode=cfg["ceil"]), \
            (lambda x: F.avg_pool2d(x, cfg["k"], cfg["s"], cfg["p"], ceil_mode=cfg["ceil"]))
    if kind == "adaptive_avg":
        return nn.AdaptiveAvgPool2d(cfg["out"]), (lambda x: F.adaptive_avg_pool2d(x, cfg["out"]))
    if kind == "adaptive_max":
        return nn.AdaptiveMaxPool2d(cfg["out"]), (lambda x: F.adaptive_max_pool2d(x, cfg["out"]))
    return None, (lambda x: x.mean((2, 3), keepdim=True))


class PoolThen(nn.Module):
    def __init__(self, cfg, pool_module, pool_fn, n_in: int, pooled_shape) -> None:
        super().__init__()
        self.pre = nn.Conv2d(cfg["C"], cfg["C"], 1, bias=False)
        self.pool_module = pool_module if (pool_module is not None and not cfg["functional"]) else None
        self.pool_fn = pool_fn
        self.next_kind = cfg["next"]
        C = cfg["C"]
        if cfg["next"] == "conv":
            self.next = nn.Conv2d(C, 2, 2 if min(pooled_shape[1:]) >= 2 else 1, padding=1)
        else:
            self.next = nn.Linear(n_in, 3)

    def forward(self, x):
        x = F.relu(self.pre(x))
        x = self.pool_module(x) if self.pool_module is not None else self.pool_fn(x)
        if self.next_kind == "linear":
            x = x.flatten(1)
        return self.next(x)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_configs())
def test_pooling_folded_into_next_layer(cfg):
    torch.manual_seed(cfg["seed"])
    shape = (cfg["C"], cfg["H"], cfg["W"])
    pool_module, pool_fn = make_pool(cfg)
    pooled = pool_fn(torch.zeros(1, *shape)).shape[1:]
    model = PoolThen(cfg, pool_module, pool_fn, int(np.prod(pooled)), pooled)
    masks = random_masks(model, 0.6, seed=cfg["seed"])
    g = encode(model, shape, masks)
    g.validate()
    li = [layer.name for layer in g.layers].index("next")
    layer = g.layers[li]
    P = g.partitions[layer.in_partitions[0]]
    assert P.shape == shape and layer.in_partitions == (1,)
    m = masked_copy(model.next, masks["next.weight"])
    pre_shape = tuple(pooled)
    if cfg["next"] == "linear":
        J_next = jacobian(lambda z: m(z.flatten(1)), pre_shape)
    else:
        J_next = jacobian(m, pre_shape)
    Wm = window_matrix(pool_fn, shape).astype(np.float64)  # pooled x pre-pool
    want = J_next @ Wm
    want_pattern = ((J_next != 0).astype(np.int64) @ Wm.astype(np.int64)) > 0
    dense, pattern = layer_block(g, li, layer.in_partitions[0], layer.out_partition)
    np.testing.assert_array_equal(pattern, want_pattern)
    np.testing.assert_allclose(dense, want, rtol=1e-6, atol=1e-7)


def test_overlapping_maxpool_merges_parallel_edges():
    """3x3/stride-2 max pooling: a pre-pool node in two windows read by one output through two
    taps gives one edge whose weight is the sum of the two taps."""
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.MaxPool2d(3, 2, 1), nn.Conv2d(1, 1, 3, padding=1, bias=False))
    with torch.no_grad():
        model[2].weight.copy_(torch.arange(1.0, 10.0).view(1, 1, 3, 3))
    g = encode(model, (1, 6, 6))
    li = 1
    layer = g.layers[li]
    assert layer.extra["merged_parallel_edges"] is True
    dense, _ = layer_block(g, li, 0 + 1, 2)
    # output (0, 1, 1) reads pooled (0..2, 0..2); pooled window rows: o=0 -> {0,1}, o=1 -> {1,2,3}, o=2 -> {3,4,5}
    # pre-pool row 1 is in pooled rows 0 and 1, so node (1, 1) collects taps (ky, kx) in {0,1} x {0,1}
    w = np.arange(1.0, 10.0).reshape(3, 3)
    assert dense[1 * 3 + 1, 1 * 6 + 1] == pytest.approx(w[0:2, 0:2].sum())
    assert dense[1 * 3 + 1, 3 * 6 + 3] == pytest.approx(w[1:3, 1:3].sum())


# ----------------------------------------------------------------------------- cat, reshape, functional layers


class DenseNetLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(5, 4, 1)
        self.fc = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x):
        y = torch.cat([x, F.relu(self.a(x))], dim=1)
        z = self.b(y)
        z = F.avg_pool2d(z, 2)
        return self.fc(z.view(z.size(0), -1))


def test_cat_maps_channels_back_to_source_partitions():
    torch.manual_seed(0)
    model = DenseNetLike()
    masks = random_masks(model, 0.7, seed=5)
    g = encode(model, (2, 4, 4), masks)
    names = [layer.name for layer in g.layers]
    layer = g.layers[names.index("b")]
    assert layer.in_partitions == (0, 1)
    # Jacobian of b wrt its concatenated input, columns 0..31 -> input partition, 32..79 -> a's partition
    J = jacobian(masked_copy(model.b, masks["b.weight"]), (5, 4, 4))
    idx = g.layer_edges(names.index("b"))
    Q = g.partitions[layer.out_partition]
    dense = np.zeros((Q.size, 5 * 16))
    col = g.src[idx].astype(np.int64)  # input partition 0..31 then partition 1 starts at 32 == 2*16
    assert g.partitions[1].offset == 32
    dense[g.dst[idx] - Q.offset, col] = g.weight[idx]
    np.testing.assert_array_equal(dense != 0, J != 0)
    np.testing.assert_allclose(dense, J, rtol=1e-6)
    # end to end with the linearised model
    lin = copy.deepcopy(model).double()
    with torch.no_grad():
        for name, m in lin.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(masks[f"{name}.weight"].double())
                m.bias.zero_()
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        a = lin.a(x)
        z = F.avg_pool2d(lin.b(torch.cat([x, a], 1)), 2) * 4
        y = lin.fc(z.flatten(1)).numpy().ravel()
    v = propagate(g, x.numpy())
    np.testing.assert_allclose(v[g.partitions[-1].offset :], y, rtol=1e-9)


class FunctionalNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(4, 2, 3, 3))
        self.w2 = nn.Parameter(torch.randn(5, 4 * 2 * 2))

    def forward(self, x):
        x = F.conv2d(x, self.w1, None, 2, 1)
        x = torch.relu(x)
        return F.linear(x.reshape(x.shape[0], -1), self.w2)


def test_functional_conv_and_linear_with_parameter_weights():
    torch.manual_seed(0)
    model = FunctionalNet()
    mask = torch.rand(4, 2, 3, 3) < 0.5
    g = encode(model, (2, 4, 4), {"w1": mask})
    assert [layer.param for layer in g.layers] == ["w1", "w2"]
    dense, pattern = layer_block(g, 0, 0, 1)
    w = model.w1.detach().double() * mask
    J = jacobian(lambda x: F.conv2d(x, w, None, 2, 1), (2, 4, 4))
    assert_matches_jacobian(dense, pattern, J)
    assert g.layer_edges(1).size == 5 * 16


def test_mlp_input_shape_features():
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 3))
    mask = torch.tensor([[1, 0, 1, 0, 1, 0]] * 4, dtype=torch.bool)
    g = encode(model, (6,), {"0.weight": mask})
    assert [p.shape for p in g.partitions] == [(6,), (4,), (3,)]
    assert g.num_edges == 12 + 12
    dense, pattern = layer_block(g, 0, 0, 1)
    J = jacobian(masked_copy(model[0], mask), (6,))
    assert_matches_jacobian(dense, pattern, J)


# ----------------------------------------------------------------------------- properties of the result


def test_graph_metadata_dtypes_and_order():
    model = get_model("resnet20", 10, (3, 8, 8))
    g = encode(model, [3, 8, 8], random_masks(model, 0.5, 0))
    assert g.src.dtype == np.int32 and g.dst.dtype == np.int32
    assert g.weight.dtype == np.float32 and g.edge_layer.dtype == np.int32
    assert g.meta["input_shape"] == [3, 8, 8]
    assert g.meta["model"] == "CifarResNet"
    assert g.meta["identity_shortcuts"] is True
    assert "version" in g.meta and g.meta["mask_sources"] == {"dict": 22}
    assert np.all(np.diff(g.edge_layer) >= 0), "edges grouped by layer in order"
    assert g.partitions[0].name == "input" and g.partitions[0].shape == (3, 8, 8)
    assert g.partitions[1].name == "conv1"


def test_deterministic():
    model = get_model("wrn28_2", 10, (3, 8, 8))
    masks = random_masks(model, 0.3, 0)
    assert encode(model, (3, 8, 8), masks) == encode(model, (3, 8, 8), masks)


def test_thread_count_does_not_change_the_graph():
    import topocore.errors as te
    from encoders import count_edges

    model = get_model("resnet20", 10, (3, 8, 8))
    masks = random_masks(model, 0.5, 1)
    one = encode(model, (3, 8, 8), masks, n_threads=1)
    assert one == encode(model, (3, 8, 8), masks, n_threads=-1)
    assert count_edges(model, (3, 8, 8), masks, n_threads=1) == one.num_edges
    with pytest.raises(te.InputError, match="n_threads"):
        encode(model, (3, 8, 8), masks, n_threads=0)


def test_int64_node_ids(monkeypatch):
    model = get_model("conv6", 10, (3, 8, 8))
    masks = random_masks(model, 0.4, 0)
    g32 = encode(model, (3, 8, 8), masks)
    import encoders.graph as graph_mod
    import encoders.mge.planning as planning

    monkeypatch.setattr(planning, "node_dtype", lambda n: np.dtype(np.int64))
    monkeypatch.setattr(graph_mod, "node_dtype", lambda n: np.dtype(np.int64))
    g64 = encode(model, (3, 8, 8), masks)
    assert g64.src.dtype == np.int64 and g32.src.dtype == np.int32
    np.testing.assert_array_equal(g64.src, g32.src)
    np.testing.assert_array_equal(g64.dst, g32.dst)
    np.testing.assert_array_equal(g64.weight, g32.weight)
    assert node_dtype(g32.num_nodes) == np.int32


def test_save_load_round_trip(tmp_path):
    model = get_model("resnet20", 10, (3, 8, 8), shortcut="A")
    g = encode(model, (3, 8, 8), random_masks(model, 0.4, 0))
    path = g.save(tmp_path / "g.npz")
    h = MultipartiteGraph.load(path)
    assert h == g and h.meta == g.meta
    assert [layer.extra for layer in h.layers] == [layer.extra for layer in g.layers]


def test_model_not_modified():
    model = get_model("resnet20", 10, (3, 8, 8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    training = model.training
    encode(model, (3, 8, 8), random_masks(model, 0.5, 0))
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert model.training == training


def test_public_api_names():
    for name in ("encode", "rolled", "rolled_channel", "resolve_masks", "MultipartiteGraph", "BipartiteGraph"):
        assert hasattr(encoders, name)


# ----------------------------------------------------------------------------- residual additions in custom models


class ScaledResidual(nn.Module):
    """``0.5 * conv(x) + x``: the conv output (scaled by a constant) is the addition's partition."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1, bias=False)

    def forward(self, x):
        return 0.5 * self.conv(x) + x

    def linear_reference(self, x):  # the graph ignores constant scaling, like BatchNorm
        return self.conv(x) + x


class SharedBranch(nn.Module):
    """``relu(y) + x`` where ``y = conv1(x)`` also feeds ``conv2``: no branch is fresh, the
    addition gets its own partition fed by identity edges."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(2, 2, 1, bias=False)
        self.conv3 = nn.Conv2d(2, 2, 1, bias=False)

    def forward(self, x):
        y = self.conv1(x)
        z = torch.relu(y) + x
        return self.conv3(z) + self.conv2(y)

    def linear_reference(self, x):
        y = self.conv1(x)
        return self.conv3(y + x) + self.conv2(y)


class LateShortcut(nn.Module):
    """``a + y`` where ``a = conv1(x)`` is fresh but the shortcut ``y`` is computed after it (and
    used twice): the partition order must put ``y`` before the addition."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 3, 1, bias=False)
        self.conv2 = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        self.conv3 = nn.Conv2d(3, 3, 1, bias=False)

    def forward(self, x):
        a = self.conv1(x)
        y = self.conv2(x)
        return self.conv3(a + y) + self.conv3(y)

    def linear_reference(self, x):
        a = self.conv1(x)
        y = self.conv2(x)
        return self.conv3(a + y) + self.conv3(y)


@pytest.mark.parametrize("cls,n_parts,n_identity", [(ScaledResidual, 2, 1), (SharedBranch, 4, 2), (LateShortcut, 4, 1)])
def test_custom_residual_structures_end_to_end(cls, n_parts, n_identity):
    torch.manual_seed(0)
    model = cls().double()
    g = encode(model, (2, 4, 4))
    assert len(g.partitions) == n_parts
    assert sum(layer.kind == "identity" for layer in g.layers) == n_identity
    assert np.all(g.partition_of(g.src) < g.partition_of(g.dst))
    if cls is LateShortcut:
        assert [p.name for p in g.partitions] == ["input", "conv2", "add", "add_1"]
        assert [layer.name for layer in g.layers] == ["conv1", "conv2", "identity", "conv3", "conv3"]
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        y = model.linear_reference(x).numpy().ravel()
    v = propagate(g, x.numpy())
    np.testing.assert_allclose(v[g.partitions[-1].offset :], y, rtol=1e-6)


@pytest.mark.parametrize(
    "pad", [nn.ConstantPad2d((1, 0, 2, 1), 3.5), nn.ZeroPad2d(1), nn.ReflectionPad2d(1), nn.ReplicationPad2d((2, 1, 0, 1)), nn.CircularPad2d(1)]
)
def test_padding_modules_match_jacobian(pad):
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, bias=False)
    model = nn.Sequential(pad, conv)
    mask = torch.rand(conv.weight.shape) < 0.6
    g = encode(model, (2, 4, 5), {"1.weight": mask})
    assert [p.shape for p in g.partitions][0] == (2, 4, 5)
    dense, pattern = layer_block(g, 0, 0, 1)
    m = masked_copy(conv, mask)
    J = jacobian(lambda x: m(pad(x)), (2, 4, 5))
    assert_matches_jacobian(dense, pattern, J)


def test_root_module_is_a_layer():
    g = encode(nn.Conv2d(2, 3, 3), (2, 5, 5))
    assert g.layers[0].param == "weight" and g.num_edges == 2 * 3 * 9 * 9
    g = encode(nn.Linear(4, 3), (4,), {"weight": torch.eye(3, 4, dtype=torch.bool)})
    assert g.num_edges == 3


def test_indexing_with_an_activation_is_unsupported():
    class Gather(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return x[self.fc(x)]

    with pytest.raises(encoders.UnsupportedOperationError, match="indexing with an activation"):
        encode(Gather(), (3,))


@pytest.mark.parametrize("arch,kw,shape", ZOO_SMALL[:3] + [("wrn28_2", {}, (3, 8, 8))], ids=lambda v: str(v))
def test_count_edges_matches_encode(arch, kw, shape):
    model = get_model(arch, 10, shape, **kw)
    masks = random_masks(model, 0.5, seed=7)
    g = encode(model, shape, masks)
    assert encoders.count_edges(model, shape, masks) == g.num_edges
    per_layer = encoders.count_edges(model, shape, masks, per_layer=True)
    assert [layer for layer, _ in per_layer] == g.layers
    assert [c for _, c in per_layer] == np.bincount(g.edge_layer, minlength=len(g.layers)).tolist()
    assert encoders.count_edges(model, shape, masks, identity_shortcuts=False) == encode(
        model, shape, masks, identity_shortcuts=False
    ).num_edges


def test_count_edges_dense_resnet20_and_merged_layers():
    model = get_model("resnet20", 10, (3, 32, 32))
    dense = {n: torch.ones_like(p, dtype=torch.bool) for n, p in model.named_parameters() if p.dim() > 1}
    assert encoders.count_edges(model, (3, 32, 32), dense) == dense_resnet20_edges("B")
    overlap = nn.Sequential(nn.Conv2d(2, 3, 1), nn.MaxPool2d(3, 2, 1), nn.Conv2d(3, 2, 3, padding=1))
    assert encoders.count_edges(overlap, (2, 9, 7)) == encode(overlap, (2, 9, 7)).num_edges
