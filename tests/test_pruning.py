"""Pruning methods: exact counts, definitions against independent oracles, determinism, no side effects."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from pruners import METHODS, apply_masks, get_model, masks_from_model, method_options, prunable_names, prune
from pruners.methods.grasp import grasp_scores
from pruners.methods.prospr import prospr_scores
from pruners.methods.snip import snip_scores
from pruners.methods.synflow import linearize, synflow_scores
from pruners.selection import global_top_k, n_to_keep
from topocore.errors import InputError

ZOO = ["conv6", "resnet20", "resnet32", "wrn28_2"]
SMALL = (3, 8, 8)
ITERATIVE = {"synflow", "iter_snip", "ntksap"}


def _data(n=40, shape=SMALL, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g), torch.arange(n) % classes


def _fast(method):
    """Options that only shrink iteration counts and batch sizes (for tests about counts)."""
    opts = {}
    if method in ITERATIVE:
        opts["iterations"] = 3
    if "batch_size" in method_options(method):
        opts["batch_size"] = 8
    if method == "grasp":
        opts["samples_per_class"] = 2
    if method == "prospr":
        opts["inner_steps"] = 1
    return opts


def _total(model):
    params = dict(model.named_parameters())
    return sum(params[n].numel() for n in prunable_names(model))


def test_registry_has_every_method():
    assert set(METHODS) == {
        "snip", "grasp", "synflow", "prospr", "uniform", "er", "er_channel", "erk", "iter_snip", "ntksap", "magnitude", "random"
    }
    for entry in METHODS.values():
        assert "Reference" in entry.doc or "Reference:" in entry.doc or "References" in entry.doc, entry.name
    assert method_options("synflow") == {"iterations": 100}
    assert method_options("grasp")["samples_per_class"] == 10 and method_options("grasp")["temperature"] == 200.0
    assert method_options("prospr")["inner_steps"] == 3 and method_options("prospr")["inner_lr"] == 0.5


@pytest.mark.parametrize("arch", ZOO)
@pytest.mark.parametrize("sparsity", [0.6, 0.98])
def test_exact_global_sparsity_every_method(arch, sparsity):
    model = get_model(arch, 10, SMALL)
    data = _data()
    total = _total(model)
    expected_keep = n_to_keep(total, sparsity)
    for method in METHODS:
        if not METHODS[method].exact_count:
            continue  # the published ER: tests/test_pruners_selection.py
        masks = prune(model, method, sparsity, data=data, input_shape=SMALL, random_state=0, **_fast(method))
        assert list(masks) == prunable_names(model), method
        assert all(m.dtype == torch.bool and m.shape == dict(model.named_parameters())[n].shape for n, m in masks.items())
        assert sum(int(m.sum()) for m in masks.values()) == expected_keep, (arch, method)
    assert [m for m in METHODS if not METHODS[m].exact_count] == ["er"]


def test_snip_equals_mask_derivative():
    """SNIP score == |dL/dc| at c = 1 for w -> w * c (computed independently via functional_call)."""
    torch.manual_seed(0)
    model = get_model("resnet20", 10, SMALL).train()
    x, y = _data(16)
    names = prunable_names(model)
    params = {n: p.detach() for n, p in model.named_parameters()}
    c = {n: torch.ones_like(params[n], requires_grad=True) for n in names}
    state = {n: (p * c[n] if n in c else p) for n, p in params.items()}
    loss = F.cross_entropy(functional_call(copy.deepcopy(model), {**state, **dict(model.named_buffers())}, (x,)), y)
    grads = torch.autograd.grad(loss, [c[n] for n in names])
    expected = {n: g.abs() for n, g in zip(names, grads)}
    got = snip_scores(copy.deepcopy(model), x, y)
    for n in names:
        torch.testing.assert_close(got[n], expected[n], rtol=1e-4, atol=1e-7)
    # prune('snip') on exactly this batch keeps the top-k of these scores
    masks = prune(model, "snip", 0.9, data=(x, y), batch_size=16)
    flat = torch.cat([expected[n].flatten() for n in names])
    kth = flat.sort(descending=True).values[n_to_keep(flat.numel(), 0.9) - 1]
    for n in names:
        s = expected[n]
        assert bool(masks[n][s > kth * (1 + 1e-4)].all()) and not bool(masks[n][s < kth * (1 - 1e-4)].any())


def test_synflow_two_layer_linear_hand_derived():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    w1, b1 = net[0].weight.detach().double().abs(), net[0].bias.detach().double().abs()
    w2 = net[2].weight.detach().double().abs()
    # R = 1^T (|W2| (|W1| 1 + |b1|) + |b2|); dR/dW1_ij = sum_k |W2|_ki; dR/dW2_ki = (|W1| 1 + |b1|)_i
    expected_1 = w1 * w2.sum(0)[:, None]
    expected_2 = w2 * (w1.sum(1) + b1)[None, :]
    lin = linearize(copy.deepcopy(net))
    scores = synflow_scores(lin, (4,))
    torch.testing.assert_close(scores["0.weight"], expected_1)
    torch.testing.assert_close(scores["2.weight"], expected_2)
    # one iteration of prune('synflow') = top-k of these scores; the caller's net is untouched
    before = copy.deepcopy(net.state_dict())
    masks = prune(net, "synflow", 0.5, input_shape=(4,), iterations=1)
    assert masks == {k: v for k, v in masks.items()}
    oracle = global_top_k({"0.weight": expected_1, "2.weight": expected_2}, n_to_keep(18, 0.5))
    for n in masks:
        assert torch.equal(masks[n], oracle[n])
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])


def test_synflow_iterations_prune_in_order():
    """Iterative SynFlow: a weight whose path is cut earlier has zero flow and is pruned first."""
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 1.0], [0.01, 0.01]]))
        net[1].weight.copy_(torch.tensor([[1.0, 0.02]]))
    masks = prune(net, "synflow", 0.5, input_shape=(2,), iterations=10)
    # the weak hidden unit (row 1 and its output weight) goes: 3 of 6 weights removed
    assert masks["0.weight"].tolist() == [[True, True], [False, False]]
    assert masks["1.weight"].tolist() == [[True, False]]


def test_grasp_matches_explicit_hessian():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    names = ["0.weight", "2.weight"]
    params = dict(net.named_parameters())
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]
    flat0 = torch.cat([params[n].detach().flatten() for n in names])

    def loss_of(flat):
        parts = torch.split(flat, sizes)
        state = {**{k: v.detach() for k, v in params.items()}, **{n: p.reshape(s) for n, p, s in zip(names, parts, shapes)}}
        return F.cross_entropy(functional_call(net, state, (x,)) / 200.0, y)

    g = torch.autograd.functional.jacobian(loss_of, flat0)
    h = torch.autograd.functional.hessian(loss_of, flat0)
    expected = -flat0 * (h @ g)
    got = grasp_scores(net, x, y, 200.0)
    torch.testing.assert_close(torch.cat([got[n].flatten() for n in names]), expected, rtol=1e-8, atol=1e-14)


def test_grasp_removes_highest_scores_with_balanced_sample():
    torch.manual_seed(2)
    model = get_model("conv6", 4, (1, 8, 8))
    x = torch.randn(40, 1, 8, 8)
    y = torch.arange(40) % 4
    masks = prune(model, "grasp", 0.8, data=(x, y), samples_per_class=10)
    # recompute on the same class-balanced sample (all 40 samples, shuffled: BN and the mean loss ignore order)
    work = copy.deepcopy(model).train()
    scores = grasp_scores(work, x, y)
    flat = torch.cat([s.flatten() for s in scores.values()])
    thr = flat.sort().values[n_to_keep(flat.numel(), 0.8) - 1]  # kept: the lowest scores
    tol = 1e-4 * flat.abs().max()
    for n, s in scores.items():
        assert bool(masks[n][s < thr - tol].all()) and not bool(masks[n][s > thr + tol].any())


def _tiny_mlp():
    torch.manual_seed(5)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


def test_prospr_meta_gradient_matches_finite_differences():
    net = _tiny_mlp()
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(5, 3, generator=gen, dtype=torch.float64), torch.randint(0, 2, (5,), generator=gen)) for _ in range(4)]
    got = prospr_scores(net, batches, inner_lr=0.5, momentum=0.9)
    names = ["0.weight", "2.weight"]
    base = {n: p.detach().clone() for n, p in net.named_parameters()}

    def final_loss(masks):
        """Plain re-implementation: SGD+momentum on w with the forward using w * c, no autograd through c."""
        w = {n: t.clone() for n, t in base.items()}
        v = {n: torch.zeros_like(t) for n, t in base.items()}
        for x, y in batches[:-1]:
            state = {n: (t * masks[n] if n in masks else t).requires_grad_(True) for n, t in w.items()}
            loss = F.cross_entropy(functional_call(net, state, (x,)), y)
            grads = torch.autograd.grad(loss, list(state.values()))
            for (n, t), g in zip(w.items(), grads):
                g_w = g * masks[n] if n in masks else g  # chain rule through w * c
                v[n] = 0.9 * v[n] + g_w
                w[n] = t - 0.5 * v[n]
        x, y = batches[-1]
        state = {n: (t * masks[n] if n in masks else t) for n, t in w.items()}
        return F.cross_entropy(functional_call(net, state, (x,)), y).item()

    h = 1e-6
    for n in names:
        for idx in [(0, 0), (1, 2), (1, 1)]:
            plus = {m: torch.ones_like(base[m]) for m in names}
            minus = {m: torch.ones_like(base[m]) for m in names}
            plus[n][idx] += h
            minus[n][idx] -= h
            fd = (final_loss(plus) - final_loss(minus)) / (2 * h)
            assert got[n][idx].item() == pytest.approx(abs(fd), rel=1e-5, abs=1e-9), (n, idx)


def test_iter_snip_one_iteration_equals_snip():
    model = get_model("resnet20", 10, SMALL)
    data = _data(16)
    a = prune(model, "snip", 0.9, data=data, batch_size=16, random_state=4)
    b = prune(model, "iter_snip", 0.9, data=data, batch_size=16, iterations=1, random_state=4)
    assert all(torch.equal(a[n], b[n]) for n in a)


def test_magnitude_keeps_largest_weights():
    model = get_model("resnet20", 10, SMALL)
    masks = prune(model, "magnitude", 0.7)
    params = dict(model.named_parameters())
    kept = torch.cat([params[n].detach().abs()[m] for n, m in masks.items()])
    dropped = torch.cat([params[n].detach().abs()[~m] for n, m in masks.items()])
    assert kept.min() >= dropped.max()


def test_ntksap_is_weight_agnostic_and_deterministic():
    a_model = get_model("resnet20", 10, SMALL)
    b_model = get_model("resnet20", 10, SMALL)  # different initial weights
    opts = dict(iterations=2, batch_size=4)
    a = prune(a_model, "ntksap", 0.9, input_shape=SMALL, random_state=7, **opts)
    b = prune(b_model, "ntksap", 0.9, input_shape=SMALL, random_state=7, **opts)
    c = prune(a_model, "ntksap", 0.9, input_shape=SMALL, random_state=8, **opts)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_same_seed_same_mask_and_no_side_effects(method):
    torch.manual_seed(11)
    model = get_model("conv6", 10, SMALL)
    model.train()
    with torch.no_grad():  # non-default BN statistics, so an accidental update would show
        model(torch.randn(8, *SMALL))
    before = copy.deepcopy(model.state_dict())
    rng_before = torch.get_rng_state()
    data = _data(32)
    opts = _fast(method)
    first = prune(model, method, 0.9, data=data, input_shape=SMALL, random_state=5, **opts)
    second = prune(model, method, 0.9, data=data, input_shape=SMALL, random_state=5, **opts)
    assert all(torch.equal(first[n], second[n]) for n in first)
    assert model.training  # mode restored / untouched
    state = model.state_dict()
    assert set(state) == set(before)
    for k, v in state.items():
        assert torch.equal(v, before[k]), f"{method} changed {k}"
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng_before)  # global RNG untouched
    if method in ("random", "uniform", "er", "er_channel", "erk", "snip", "iter_snip", "prospr", "ntksap"):
        other = prune(model, method, 0.9, data=data, input_shape=SMALL, random_state=6, **opts)
        assert not all(torch.equal(first[n], other[n]) for n in first)


def test_prune_does_not_disturb_existing_masks():
    model = get_model("resnet20", 10, SMALL)
    old = prune(model, "random", 0.5)
    apply_masks(model, old)
    model(torch.randn(2, *SMALL)).sum().backward()  # leaves a non-leaf `weight` attribute behind
    new = prune(model, "magnitude", 0.8)
    assert all(torch.equal(masks_from_model(model)[n], old[n]) for n in old)
    # the masked weights are zero, so magnitude never keeps a previously pruned weight
    assert all(not bool((new[n] & ~old[n]).any()) for n in old)


@pytest.mark.parametrize("method", ["snip", "grasp", "prospr", "iter_snip"])
def test_data_dependent_without_data(method):
    with pytest.raises(ValueError, match=rf"{method}.*data="):
        prune(get_model("resnet20", 10, SMALL), method, 0.9)


@pytest.mark.parametrize("method", ["synflow", "ntksap"])
def test_input_shape_required(method):
    with pytest.raises(ValueError, match=rf"{method}.*input_shape="):
        prune(get_model("resnet20", 10, SMALL), method, 0.9)


def test_bad_arguments():
    model = get_model("resnet20", 10, SMALL)
    with pytest.raises(ValueError, match="unknown pruning method"):
        prune(model, "obd", 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        prune(model, "random", 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        prune(model, "random", -0.1)
    with pytest.raises(InputError, match="no option"):
        prune(model, "random", 0.5, iterations=3)
    with pytest.raises(ValueError, match="inputs .* labels"):
        prune(model, "snip", 0.5, data=(torch.randn(4, *SMALL), torch.zeros(3, dtype=torch.long)))
    with pytest.raises(InputError, match="pairs"):
        prune(model, "snip", 0.5, data=[torch.randn(4, *SMALL)])
    assert all(bool(m.all()) for m in prune(model, "magnitude", 0.0).values())


def test_data_as_loader_and_dataset_and_aliases():
    x, y = _data(24)
    ds = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(ds, batch_size=5, shuffle=False)
    model = get_model("resnet20", 10, SMALL)
    for data in (loader, ds, (x.numpy(), y.numpy())):
        masks = prune(model, "iter-snip", 0.8, data=data, iterations=2, batch_size=7)
        assert sum(int(m.sum()) for m in masks.values()) == n_to_keep(_total(model), 0.8)
    # a loader without shuffling and a batch covering all data: snip is the same for any data source
    a = prune(model, "snip", 0.8, data=loader, batch_size=24)
    b = prune(model, "snip", 0.8, data=(x, y), batch_size=24)
    scores = snip_scores(copy.deepcopy(model).train(), x, y)
    flat = torch.cat([s.flatten() for s in scores.values()])
    assert sum(int((a[n] != b[n]).sum()) for n in a) <= 2  # only float near-ties may differ
    assert flat.numel() == _total(model)


def test_grasp_chunks_sum_like_the_whole_batch():
    """In eval mode (no batch statistics) chunked g and Hg equal the whole-batch ones."""
    torch.manual_seed(4)
    model = get_model("resnet20", 10, SMALL).eval()
    x, y = _data(24)
    whole = grasp_scores(copy.deepcopy(model), x, y)
    chunked = grasp_scores(copy.deepcopy(model), x, y, chunk_size=7)
    for n in whole:
        torch.testing.assert_close(chunked[n], whole[n], rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("method", ["random", "uniform"])
def test_random_positions_are_uniform(method):
    """Over many seeds every weight is kept equally often (binomial bounds); ``uniform`` also keeps
    the same count in every layer, ``random`` only in expectation (hypergeometric)."""
    net = nn.Sequential(nn.Linear(6, 5, bias=False), nn.Linear(5, 4, bias=False))  # 30 + 20 weights
    runs, density = 400, 0.3
    counts = {n: torch.zeros(p.shape) for n, p in net.named_parameters()}
    per_layer = []
    for seed in range(runs):
        masks = prune(net, method, 1 - density, random_state=seed)
        assert sum(int(m.sum()) for m in masks.values()) == 15
        per_layer.append(int(masks["0.weight"].sum()))
        for n, m in masks.items():
            counts[n] += m
    freq = torch.cat([c.flatten() for c in counts.values()]) / runs
    sd = (density * (1 - density) / runs) ** 0.5
    assert float((freq - density).abs().max()) < 5 * sd  # no position favoured (P(fail) < 1e-4)
    if method == "uniform":
        assert set(per_layer) == {9}  # 0.3 * 30 in the first layer, every time
    else:
        assert len(set(per_layer)) > 1 and abs(sum(per_layer) / runs - 9) < 0.5  # hypergeometric mean 15 * 30 / 50
