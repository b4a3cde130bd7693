"""pruners.perturb: the five perturbations checked against their definitions (sorts, counts, multisets)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from pruners import apply_masks
from pruners.perturb import (
    DEFAULT_FRACTIONS,
    PERTURBATIONS,
    check_fractions,
    check_perturbations,
    noise,
    perturb,
    perturbable,
    random_removal,
    removal_count,
    reverse_weight_order_removal,
    shuffle,
    weight_order_removal,
)
from topocore.errors import InputError

FRACTIONS = list(DEFAULT_FRACTIONS) + [1.0]


def _layers(seed=0, shapes=((7, 5), (6, 7), (4, 6)), density=0.6):
    g = torch.Generator().manual_seed(seed)
    weights, masks = [], []
    for shape in shapes:
        m = torch.rand(shape, generator=g) < density
        w = torch.randn(shape, generator=g) * m
        weights.append(w.contiguous())
        masks.append(m.contiguous())
    return weights, masks


def _snapshots(fn, weights, masks, fractions=FRACTIONS, **kw):
    out = []
    for count in fn(weights, masks, fractions, **kw):
        out.append((count, [w.clone() for w in weights], [m.clone() for m in masks]))
    return out


@pytest.mark.parametrize("name", ["random_removal", "weight_order_removal", "reverse_weight_order_removal"])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_removal_counts_exact_and_nested(name, scope):
    weights, masks = _layers()
    before = [m.clone() for m in masks]
    n = [int(m.sum()) for m in before]
    snaps = _snapshots(PERTURBATIONS[name], weights, masks, scope=scope, generator=torch.Generator().manual_seed(3))
    previous = [torch.zeros_like(m) for m in before]
    for f, (count, ws, ms) in zip(FRACTIONS, snaps):
        removed = [b & ~m for b, m in zip(before, ms)]
        expected = removal_count(f, sum(n)) if scope == "global" else sum(removal_count(f, k) for k in n)
        assert count == expected == sum(int(r.sum()) for r in removed)
        if scope == "layer":
            assert [int(r.sum()) for r in removed] == [removal_count(f, k) for k in n]
        for r, p, w, m, b in zip(removed, previous, ws, ms, before):
            assert not bool((p & ~r).any())  # removed set at f contains the one at smaller f
            assert not bool((m & ~b).any())  # nothing is re-activated
            assert bool((w[~m] == 0).all())  # removed weights are exactly zero
        previous = removed
    assert all(not bool(m.any()) for m in snaps[-1][2])  # f = 1 removes everything


def test_removal_count_rounds_half_up():
    assert [removal_count(f, 10) for f in (0, 0.1, 0.25, 0.3, 0.7, 1.0)] == [0, 1, 3, 3, 7, 10]
    assert removal_count(0.3, 3) == 1 and removal_count(0.5, 3) == 2 and removal_count(0.9, 7) == 6


@pytest.mark.parametrize("descending", [True, False])
def test_weight_orders_remove_exactly_largest_or_smallest(descending):
    weights, masks = _layers(seed=1)
    before = [m.clone() for m in masks]
    original = [w.clone() for w in weights]
    values = torch.cat([w[m].abs() for w, m in zip(original, before)])
    fn = weight_order_removal if descending else reverse_weight_order_removal
    snaps = _snapshots(fn, weights, masks)
    ranked = np.sort(values.numpy())[::-1] if descending else np.sort(values.numpy())
    for f, (_, _, ms) in zip(FRACTIONS, snaps):
        removed = torch.cat([w[b & ~m].abs() for w, b, m in zip(original, before, ms)]).numpy()
        k = removal_count(f, len(values))
        np.testing.assert_array_equal(np.sort(removed), np.sort(ranked[:k]))


def test_weight_order_per_layer_against_sort():
    weights, masks = _layers(seed=2)
    before = [m.clone() for m in masks]
    original = [w.clone() for w in weights]
    snaps = _snapshots(reverse_weight_order_removal, weights, masks, fractions=[0.5], scope="layer")
    for w, b, m in zip(original, before, snaps[0][2]):
        vals = np.sort(w[b].abs().numpy())
        k = removal_count(0.5, len(vals))
        np.testing.assert_array_equal(np.sort(w[b & ~m].abs().numpy()), vals[:k])


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_shuffle_keeps_masks_and_each_layers_multiset(scope):
    weights, masks = _layers(seed=4)
    before = [m.clone() for m in masks]
    original = [w.clone() for w in weights]
    snaps = _snapshots(shuffle, weights, masks, scope=scope, generator=torch.Generator().manual_seed(0))
    moved_any = False
    n = sum(int(m.sum()) for m in before)
    for f, (count, ws, ms) in zip(FRACTIONS, snaps):
        assert count == (removal_count(f, n) if scope == "global" else sum(removal_count(f, int(m.sum())) for m in before))
        for w, w0, m, b in zip(ws, original, ms, before):
            assert torch.equal(m, b)
            np.testing.assert_array_equal(np.sort(w[b].numpy()), np.sort(w0[b].numpy()))
            assert bool((w[~b] == 0).all())
            moved_any = moved_any or not torch.equal(w, w0)
    assert torch.equal(snaps[0][1][0], original[0])  # f = 0: nothing selected
    assert moved_any


def test_noise_zero_is_identity_and_scale_is_per_layer():
    weights, masks = _layers(seed=5)
    original = [w.clone() for w in weights]
    snaps = _snapshots(noise, weights, masks, fractions=[0.0, 0.5, 1.0], generator=torch.Generator().manual_seed(1))
    assert snaps[0][0] == 0
    for w, w0 in zip(snaps[0][1], original):
        assert torch.equal(w, w0)
    for w_half, w_one, w0, m in zip(snaps[1][1], snaps[2][1], original, masks):
        d_half, d_one = (w_half - w0)[m].double(), (w_one - w0)[m].double()
        torch.testing.assert_close(d_one, 2 * d_half, rtol=1e-5, atol=1e-6)  # same draw, scaled by f
        assert bool((w_one[~m] == 0).all())
    # noise standard deviation ~ f * the layer's active sd on a big layer
    w = torch.randn(200, 300) * 3.0
    m = torch.ones_like(w, dtype=torch.bool)
    w0 = w.clone()
    list(noise([w], [m], [0.5], generator=torch.Generator().manual_seed(2)))
    assert math.isclose(float((w - w0).std()), 0.5 * float(w0.std(unbiased=False)), rel_tol=0.02)


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_same_generator_seed_same_result(name):
    a_w, a_m = _layers(seed=6)
    b_w, b_m = _layers(seed=6)
    sa = _snapshots(PERTURBATIONS[name], a_w, a_m, generator=torch.Generator().manual_seed(11))
    sb = _snapshots(PERTURBATIONS[name], b_w, b_m, generator=torch.Generator().manual_seed(11))
    for (ca, wa, ma), (cb, wb, mb) in zip(sa, sb):
        assert ca == cb
        assert all(torch.equal(x, y) for x, y in zip(wa, wb)) and all(torch.equal(x, y) for x, y in zip(ma, mb))


def test_random_removal_differs_between_seeds():
    a_w, a_m = _layers(seed=6)
    b_w, b_m = _layers(seed=6)
    list(random_removal(a_w, a_m, [0.5], generator=torch.Generator().manual_seed(1)))
    list(random_removal(b_w, b_m, [0.5], generator=torch.Generator().manual_seed(2)))
    assert not all(torch.equal(x, y) for x, y in zip(a_m, b_m))


@pytest.mark.parametrize("bad", [[0.1, 1.2], [-0.1, 0.5], [0.2, 0.1], [0.1, 0.1], [], [float("nan")]])
def test_bad_fractions(bad):
    with pytest.raises(InputError):
        check_fractions(bad)
    w, m = _layers()
    with pytest.raises(InputError):
        list(random_removal(w, m, bad))


def test_unknown_perturbation_lists_known():
    with pytest.raises(InputError, match="known: random_removal, weight_order_removal"):
        check_perturbations(["random_removal", "prune_everything"])
    assert check_perturbations(None) == list(PERTURBATIONS)
    assert check_perturbations("noise,shuffle") == ["noise", "shuffle"]


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 8)
        self.b = nn.Linear(8, 8)
        self.readout = nn.Linear(8, 3)

    def forward(self, x):
        return self.readout(torch.relu(self.b(torch.relu(self.a(x)))))


def _masked_net(seed=0, readout_mask=None):
    torch.manual_seed(seed)
    net = _Net()
    g = torch.Generator().manual_seed(seed)
    masks = {"a.weight": torch.rand(8, 6, generator=g) < 0.5, "b.weight": torch.rand(8, 8, generator=g) < 0.5}
    if readout_mask is not None:
        masks["readout.weight"] = readout_mask
    apply_masks(net, masks)
    return net, masks


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_dense_readout_untouched_unless_included(name):
    net, masks = _masked_net()
    readout = net.readout.weight.detach().clone()
    target = perturbable(net)
    assert target.names == ["a.weight", "b.weight"] and target.readout == "readout.weight"
    assert not target.readout_included
    for _ in perturb(target, name, [0.0, 0.5, 1.0], generator=torch.Generator().manual_seed(0)):
        assert torch.equal(net.readout.weight, readout)
    net2, _ = _masked_net()
    target2 = perturbable(net2, include_readout=True)
    assert target2.names[-1] == "readout.weight" and target2.readout_included
    list(perturb(target2, name, [0.0, 1.0], generator=torch.Generator().manual_seed(0)))
    if name != "shuffle":  # a shuffle of every link can, in principle, reproduce the readout
        assert not torch.equal(net2.readout.weight, readout)


def test_sparse_readout_is_perturbed_and_masks_are_the_models():
    readout_mask = torch.zeros(3, 8, dtype=torch.bool)
    readout_mask[:, :4] = True
    net, masks = _masked_net(readout_mask=readout_mask)
    target = perturbable(net)
    assert target.names == ["a.weight", "b.weight", "readout.weight"]
    for name, m in zip(target.names, target.masks):
        assert torch.equal(m, masks[name])
    assert not hasattr(net.a, "weight_mask")  # prune buffers made permanent: plain weights
    list(perturb(target, "random_removal", [1.0]))
    assert float(net.readout.weight.detach().abs().sum()) == 0.0
    assert float(net.b.weight.detach().abs().sum()) == 0.0


def test_exact_zeros_count_as_pruned_without_masks():
    torch.manual_seed(0)
    net = _Net()
    with torch.no_grad():
        net.a.weight[:, :3] = 0.0
    target = perturbable(net)
    assert target.zeros_as_pruned == 24
    assert target.num_active == 8 * 6 - 24 + 8 * 8
    list(perturb(target, "reverse_weight_order_removal", [0.5]))
    assert target.num_active == (8 * 6 - 24 + 8 * 8) - removal_count(0.5, 8 * 6 - 24 + 8 * 8)
