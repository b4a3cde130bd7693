"""encoders.rolled and encoders.rolled_channel against brute-force loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

from encoders import MaskError, rolled, rolled_channel
import pruners
from pruners.models import get_model


class Reversed(nn.Module):
    """Modules registered in the opposite order of the dataflow, with a grouped conv."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6 * 2 * 2, 5)
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=3)
        self.stem = nn.Conv2d(2, 6, (2, 3), stride=2)

    def forward(self, x):
        x = self.dw(torch.relu(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


def brute_rolled(weight: np.ndarray, mask: np.ndarray, groups: int):
    edges = {}
    if weight.ndim == 2:
        for j in range(weight.shape[0]):
            for i in range(weight.shape[1]):
                if mask[j, i]:
                    edges[(i, j)] = weight[j, i]
        return edges
    cout, cin_g, kh, kw = weight.shape
    cout_g = cout // groups
    for co in range(cout):
        for cl in range(cin_g):
            ci = (co // cout_g) * cin_g + cl
            for ky in range(kh):
                for kx in range(kw):
                    if mask[co, cl, ky, kx]:
                        edges[((ci * kh + ky) * kw + kx, co)] = weight[co, cl, ky, kx]
    return edges


def brute_channel(weight: np.ndarray, mask: np.ndarray, groups: int):
    edges = {}
    if weight.ndim == 2:
        weight, mask = weight[:, :, None, None], mask[:, :, None, None]
    cout, cin_g = weight.shape[:2]
    cout_g = cout // groups
    for co in range(cout):
        for cl in range(cin_g):
            if mask[co, cl].any():
                ci = (co // cout_g) * cin_g + cl
                edges[(ci, co)] = float(np.sqrt(((weight[co, cl] * mask[co, cl]).astype(np.float64) ** 2).sum()))
    return edges


def as_dict(bg):
    return {(int(a), int(b)): float(w) for a, b, w in zip(bg.left, bg.right, bg.weight)}


@pytest.mark.parametrize("density", [0.0, 0.4, 1.0])
def test_rolled_and_channel_match_brute_force(density):
    torch.manual_seed(0)
    model = Reversed()
    gen = torch.Generator().manual_seed(1)
    masks = {n: torch.rand(p.shape, generator=gen) < density for n, p in model.named_parameters() if n.endswith("weight")}
    r, rc = rolled(model, masks), rolled_channel(model, masks)
    assert [b.name for b in r] == ["stem", "dw", "fc"] == [b.name for b in rc]
    assert [b.param for b in r] == ["stem.weight", "dw.weight", "fc.weight"]
    for b, c in zip(r, rc):
        m = model.get_submodule(b.name)
        w = m.weight.detach().numpy()
        mask = masks[b.param].numpy()
        groups = getattr(m, "groups", 1)
        assert b.encoding == "rolled" and c.encoding == "rolled_channel"
        assert b.density == pytest.approx(mask.mean()) and c.density == b.density
        if isinstance(m, nn.Conv2d):
            assert b.kind == "conv"
            assert (b.n_left, b.n_right) == (m.in_channels * m.kernel_size[0] * m.kernel_size[1], m.out_channels)
            assert (c.n_left, c.n_right) == (m.in_channels, m.out_channels)
        else:
            assert b.kind == "linear"
            assert (b.n_left, b.n_right) == (c.n_left, c.n_right) == (m.in_features, m.out_features)
        want = brute_rolled(w, mask, groups)
        got = as_dict(b)
        assert got.keys() == want.keys() and b.num_edges == len(want) == int(mask.sum())
        assert all(got[k] == pytest.approx(want[k]) for k in want)
        want_c = brute_channel(w, mask, groups)
        got_c = as_dict(c)
        assert got_c.keys() == want_c.keys()
        assert all(got_c[k] == pytest.approx(want_c[k], rel=1e-6) for k in want_c)


def test_grouped_conv_is_block_diagonal():
    model = Reversed()
    b = rolled(model)[1]  # dw: 6 -> 6, groups 3, 3x3
    B = b.biadjacency(weighted=False).toarray()  # (54, 6)
    for co in range(6):
        rows = np.flatnonzero(B[:, co])
        group = co // 2
        assert rows.min() >= group * 2 * 9 and rows.max() < (group + 1) * 2 * 9


def test_rolled_zoo_model_counts_and_bipartite_view():
    model = get_model("resnet20", 10, (3, 32, 32))
    masks = pruners.prune(model, "uniform", 0.9, random_state=0)
    r = rolled(model, masks)
    rc = rolled_channel(model, masks)
    assert len(r) == len(rc) == 22
    assert sum(b.num_edges for b in r) == sum(int(m.sum()) for m in masks.values())
    assert r[0].name == "conv1" and r[-1].name == "linear"
    # dataflow order: block convs before the shortcut conv of the same block
    names = [b.name for b in r]
    assert names.index("layer2.0.conv2") < names.index("layer2.0.shortcut.0")
    g = r[3].to_multipartite()
    assert g.num_edges == r[3].num_edges and g.num_nodes == r[3].n_left + r[3].n_right
    assert all(c.num_edges <= c.n_left * c.n_right for c in rc)


def test_rolled_uses_prune_buffers():
    model = Reversed()
    prune.l1_unstructured(model.stem, "weight", amount=0.5)
    b = rolled(model)[0]
    assert b.num_edges == int(model.stem.weight_mask.sum())
    assert b.density == pytest.approx(0.5, abs=0.02)


def test_rolled_mask_errors():
    with pytest.raises(MaskError, match="not a prunable parameter"):
        rolled(Reversed(), {"nope.weight": torch.ones(1)})
    with pytest.raises(MaskError, match="shape"):
        rolled_channel(Reversed(), {"fc.weight": torch.ones(5, 5)})


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Linear(3, 2)
        self.a = nn.Linear(4, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.b(self.a(x))
        return x


def test_untraceable_model_falls_back_to_registration_order_with_warning():
    with pytest.warns(RuntimeWarning, match="registration order"):
        r = rolled(Untraceable())
    assert [b.name for b in r] == ["b", "a"]


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 1, 3, 3))
        self.v = nn.Parameter(torch.randn(2, 4 * 4 * 4))

    def forward(self, x):
        x = torch.nn.functional.conv2d(x, self.w, None, 1, 1, 1, 2)
        return torch.nn.functional.linear(x.flatten(1), self.v)


def test_functional_layers_and_root_module():
    torch.manual_seed(0)
    model = Functional()
    r = rolled(model)
    assert [(b.param, b.kind, b.n_left, b.n_right) for b in r] == [("w", "conv", 2 * 9, 4), ("v", "linear", 64, 2)]
    assert as_dict(r[0]).keys() == brute_rolled(model.w.detach().numpy(), np.ones((4, 1, 3, 3), bool), 2).keys()
    rc = rolled_channel(model)
    assert sorted(as_dict(rc[0])) == [(0, 0), (0, 1), (1, 2), (1, 3)]
    root = rolled(nn.Conv2d(3, 2, 3))
    assert len(root) == 1 and root[0].param == "weight" and root[0].name == "conv" and root[0].num_edges == 54
