"""Dynamic sparse training: invariants of every method (MLP and CNN, hypothesis), each rule against an
independent oracle, the schedule, determinism, training integration, checkpoints and bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pruners import get_model, load_checkpoint, prune, train
from pruners.data import get_dataset
from pruners.dst import METHODS, DynamicSparsity, ch3l3_scores, check_config, drop_fraction_at, lookup, method_options
from pruners.dst._common import apportion, drop_count, sample_positions, top_scores
from topocore import names
from topocore.errors import InputError, MaskError
from topocore.masks import prunable_layers, raw_weight

LAYER_SCOPE = {"set", "rigl", "ch3l3"}
GLOBAL_SCOPE = {"snfs", "dsr"}


class SmallCNN(nn.Module):
    def __init__(self, c1: int, c2: int, k: int, classes: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, k, padding=k // 2)
        self.bn = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.conv1(x)))
        x = F.relu(self.conv2(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def random_masks(model, densities, seed):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for (name, module), d in zip(prunable_layers(model), densities):
        mask = torch.rand(raw_weight(module).shape, generator=g) < d
        flat = mask.view(-1)
        flat[0], flat[-1] = True, False  # density strictly between 0 and 1
        out[name] = mask
    return out


def build(kind, sizes, seed):
    torch.manual_seed(seed)
    if kind == "mlp":
        model = get_model("mlp", 3, (1, 4, 4), hidden=sizes)
        shape = (1, 4, 4)
    else:
        model = SmallCNN(sizes[0], sizes[1], 3 if len(sizes) < 3 else 1 + 2 * (sizes[2] % 2))
        shape = (1, 6, 6)
    return model, shape


def run_and_check(model, masks, method, shape, *, steps=6, seed=0, device="cpu", check=True, **options):
    """Train a few steps with an update at every step; check every invariant after every update."""
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    ds = DynamicSparsity(model, masks, method, epochs=steps, steps_per_epoch=1, optimizer=opt, schedule="constant",
                         stop_at=1.0, drop_fraction=options.pop("drop_fraction", 0.4), random_state=seed,
                         record_every=1, **options)
    g = torch.Generator().manual_seed(seed + 1)
    targets = {n: int(m.sum()) for n, m in ds.masks.items()}
    sequence = []
    for step in range(steps):
        x = torch.randn(8, *shape, generator=g).to(device)
        y = torch.randint(0, 3, (8,), generator=g).to(device)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        before = ds.masks
        updated = ds.step(batch=(x, y))
        after = ds.masks
        sequence.append({n: m.cpu().clone() for n, m in after.items()})
        if not check:
            continue
        assert updated == (step + 1 < steps)  # no update after the last step of training
        rows = ds.history[ds.history["update"] == ds.update_count]
        for name, module in ((n, m) for n, m in model.named_modules() if f"{n}.weight" in after):
            key = f"{name}.weight"
            w = raw_weight(module)
            # masks enforced: raw and effective weights exactly zero where pruned
            assert bool((w[~after[key]] == 0).all()) and bool((module.weight[~after[key]] == 0).all())
            if method in LAYER_SCOPE:
                assert int(after[key].sum()) == targets[key]
            if updated:
                dropped = before[key] & ~after[key]
                regrown = after[key] & ~before[key]
                row = rows[rows["layer"] == key].iloc[0]
                # the reported counts equal the mask differences: no position was both dropped and regrown,
                # so dropped positions were active and regrown ones inactive before the update
                assert int(dropped.sum()) == row["dropped"] and int(regrown.sum()) == row["regrown"]
                assert int(after[key].sum()) == row["active"]
                # regrown weights and their optimizer momentum start at 0
                assert bool((w[regrown] == 0).all())
                buf = opt.state[w]["momentum_buffer"]
                assert bool((buf[regrown] == 0).all()) and bool((buf[dropped] == 0).all())
        assert sum(int(m.sum()) for m in after.values()) == sum(targets.values())
    return ds, sequence


@st.composite
def configs(draw):
    kind = draw(st.sampled_from(["mlp", "cnn"]))
    if kind == "mlp":
        sizes = tuple(draw(st.lists(st.integers(2, 12), min_size=1, max_size=3)))
        n_layers = len(sizes)
    else:
        sizes = (draw(st.integers(2, 6)), draw(st.integers(2, 6)), draw(st.integers(0, 3)))
        n_layers = 3
    densities = draw(st.lists(st.floats(0.05, 0.95), min_size=n_layers, max_size=n_layers))
    seed = draw(st.integers(0, 10_000))
    return kind, sizes, densities, seed


@pytest.mark.parametrize("method", sorted(METHODS))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs())
def test_invariants_hold_for_random_shapes_and_densities(method, config):
    kind, sizes, densities, seed = config
    model, shape = build(kind, sizes, seed)
    masks = random_masks(model, densities, seed)
    ds, first = run_and_check(model, masks, method, shape, seed=seed)
    assert ds.update_count == 5 and len(ds.recorded_states()) == 6
    # the same random_state (and the same training) gives the same masks
    model2, _ = build(kind, sizes, seed)
    _, second = run_and_check(model2, random_masks(model2, densities, seed), method, shape, seed=seed, check=False)
    for a, b in zip(first, second):
        assert all(torch.equal(a[n], b[n]) for n in a)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("method", sorted(METHODS))
def test_cuda_gives_the_same_invariants(method):  # pragma: no cover - needs a GPU
    model, shape = build("cnn", (4, 5, 1), 0)
    masks = random_masks(model, [0.5, 0.3, 0.6], 0)
    ds, _ = run_and_check(model, masks, method, shape, device="cuda")
    assert all(m.device.type == "cuda" for m in ds.masks.values())


@pytest.mark.parametrize("method", sorted(METHODS))
def test_dense_readout_stays_out_of_every_method(method):
    torch.manual_seed(0)
    model = get_model("mlp", 3, (1, 4, 4), hidden=(10, 8))
    masks = prune(model, "er", 0.6, random_state=0)
    assert "readout.weight" not in masks
    ds, _ = run_and_check(model, masks, method, (1, 4, 4))
    assert set(ds.masks) == {"hidden.0.weight", "hidden.1.weight"}
    assert not hasattr(model.readout, "weight_mask") and bool((model.readout.weight != 0).all())
    with pytest.raises(MaskError, match="readout"):
        DynamicSparsity(model, {**masks, "readout.weight": torch.ones(3, 8, dtype=torch.bool)}, method, epochs=1, steps_per_epoch=1)


# ---------------------------------------------------------------- each rule against an oracle


def _one_update(method, *, seed=0, sizes=(20, 16), density=0.3, **options):
    torch.manual_seed(seed)
    model = get_model("mlp", 3, (1, 4, 4), hidden=sizes)
    masks = random_masks(model, [density] * len(sizes), seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ds = DynamicSparsity(model, masks, method, epochs=3, steps_per_epoch=1, optimizer=opt, schedule="constant",
                         stop_at=1.0, random_state=seed, **options)
    g = torch.Generator().manual_seed(seed)
    batches = [(torch.randn(16, 1, 4, 4, generator=g), torch.randint(0, 3, (16,), generator=g)) for _ in range(2)]
    for x, y in batches[:1]:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    weights = {n: (raw_weight(m) * ds.masks[n]).detach().clone() for n, m in ds._modules.items()}
    before = ds.masks
    return model, ds, opt, batches, weights, before


def _dense_gradient(model, ds, x, y):
    """Gradient w.r.t. every weight position through torch.func on the effective weights (independent of the engine)."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    effective = {}
    for name, module in ds._modules.items():
        prefix = name[: -len(".weight")]
        effective[f"{prefix}.weight"] = (raw_weight(module) * ds.masks[name]).detach().requires_grad_(True)
        params.pop(f"{prefix}.weight_orig")
    params.update(effective)
    plain = get_model("mlp", 3, (1, 4, 4), hidden=tuple(m.weight.shape[0] for m in model.hidden))
    out = torch.func.functional_call(plain, params, (x,))
    grads = torch.autograd.grad(F.cross_entropy(out, y), list(effective.values()))
    return dict(zip(effective, grads))


def _assert_drop_is_smallest(weights, before, after):
    for name in before:
        dropped = before[name] & ~after[name]
        kept = before[name] & after[name]
        if dropped.any() and kept.any():
            assert float(weights[name][dropped].abs().max()) <= float(weights[name][kept].abs().min())


def _assert_regrowth_is_top(scores, before, after, name):
    regrown = after[name] & ~before[name]
    others = ~before[name] & ~regrown
    if regrown.any() and others.any():
        assert float(scores[regrown].min()) >= float(scores[others].max())


def test_set_drops_smallest_and_regrows_uniformly():
    model, ds, opt, batches, weights, before = _one_update("set", drop_fraction=0.3)
    ds.step()
    after = ds.masks
    _assert_drop_is_smallest(weights, before, after)
    for name in before:
        k = drop_count(int(before[name].sum()), int((~before[name]).sum()), 0.3)
        assert int((before[name] & ~after[name]).sum()) == k
    # uniformity: over many draws every inactive position is chosen about equally often
    g = torch.Generator().manual_seed(0)
    candidates = torch.zeros(50, dtype=torch.bool)
    candidates[10:40] = True
    counts = torch.zeros(50)
    from pruners.dst._common import random_positions

    for _ in range(3000):
        counts[random_positions(candidates, 6, g)] += 1
    assert counts[~candidates].sum() == 0
    expected = 3000 * 6 / 30
    chi2 = float(((counts[candidates] - expected) ** 2 / expected).sum())
    assert chi2 < 70  # 29 degrees of freedom: p < 1e-4 above 70


def test_rigl_regrows_largest_dense_gradient():
    model, ds, opt, batches, weights, before = _one_update("rigl", drop_fraction=0.3)
    x, y = batches[1]
    grads = _dense_gradient(model, ds, x, y)
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    ds.step(batch=(x, y))
    after = ds.masks
    _assert_drop_is_smallest(weights, before, after)
    for name in before:
        _assert_regrowth_is_top(grads[name].abs(), before, after, name)
    assert all(torch.equal(buffers[k], v) for k, v in model.named_buffers() if not k.endswith("weight_mask"))


def test_rigl_draws_from_data_when_no_batch_is_given():
    torch.manual_seed(0)
    model = get_model("mlp", 3, (1, 4, 4), hidden=(6,))
    masks = prune(model, "uniform", 0.5, random_state=0)
    ds = DynamicSparsity(model, masks, "rigl", epochs=2, steps_per_epoch=1)
    with pytest.raises(InputError, match="batch"):
        ds.step()
    data = (torch.randn(20, 1, 4, 4), torch.randint(0, 3, (20,)))
    ds = DynamicSparsity(model, masks, "rigl", epochs=2, steps_per_epoch=1, data=data)
    assert ds.step() is True


def test_ch3l3_regrows_the_best_scores_of_the_dropped_graph():
    model, ds, opt, batches, weights, before = _one_update("ch3l3", drop_fraction=0.3, density=0.25)
    ds.step()
    after = ds.masks
    _assert_drop_is_smallest(weights, before, after)
    for name in before:
        dropped = before[name] & ~after[name]
        scores = ch3l3_scores(before[name] & ~dropped)
        _assert_regrowth_is_top(scores, before, after, name)


def test_ch3l3_falls_back_to_random_regrowth_and_counts_it():
    torch.manual_seed(0)
    model = get_model("mlp", 3, (1, 4, 4), hidden=(12,))
    mask = torch.zeros(12, 16, dtype=torch.bool)
    mask[torch.arange(12), torch.arange(12)] = True  # a matching: no length-3 path at all
    ds = DynamicSparsity(model, {"hidden.0.weight": mask}, "ch3l3", epochs=2, steps_per_epoch=1, drop_fraction=0.5,
                         schedule="constant", stop_at=1.0)
    ds.step()
    row = ds.history.iloc[-1]
    assert row["regrown"] == 6 and row["regrown_random"] == 6


def test_snfs_tracks_dense_momentum_and_redistributes_by_it():
    torch.manual_seed(0)
    model = get_model("mlp", 3, (1, 4, 4), hidden=(20, 16))
    masks = random_masks(model, [0.3, 0.3], 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ds = DynamicSparsity(model, masks, "snfs", epochs=4, steps_per_epoch=3, optimizer=opt, schedule="constant", stop_at=1.0,
                         momentum=0.8)
    g = torch.Generator().manual_seed(0)
    expected = {n: torch.zeros(m.shape) for n, m in ds.masks.items()}
    for step in range(2):
        x, y = torch.randn(16, 1, 4, 4, generator=g), torch.randint(0, 3, (16,), generator=g)
        grads = _dense_gradient(model, ds, x, y)
        for n in expected:
            expected[n] = 0.8 * expected[n] + grads[n]
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        ds.step()
    # third step of the epoch: an update; fold the last gradient first, as the engine does
    x, y = torch.randn(16, 1, 4, 4, generator=g), torch.randint(0, 3, (16,), generator=g)
    grads = _dense_gradient(model, ds, x, y)
    for n in expected:
        expected[n] = 0.8 * expected[n] + grads[n]
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
    before = ds.masks
    weights = {n: (raw_weight(m) * before[n]).detach().clone() for n, m in ds._modules.items()}
    assert ds.step() is True
    for n in expected:
        torch.testing.assert_close(ds.tracked_momentum[n], expected[n], rtol=1e-5, atol=1e-6)
    after = ds.masks
    _assert_drop_is_smallest(weights, before, after)
    dropped = {n: int((before[n] & ~after[n]).sum()) for n in before}
    regrown = {n: int((after[n] & ~before[n]).sum()) for n in before}
    means = [float(expected[n].abs()[before[n]].mean()) for n in before]
    shares = apportion(sum(dropped.values()), means, [int((~before[n]).sum()) for n in before])
    assert list(regrown.values()) == shares
    for n in before:
        _assert_regrowth_is_top(expected[n].abs(), before, after, n)


def test_dsr_threshold_adapts_and_reallocates_by_surviving_links():
    model, ds, opt, batches, weights, before = _one_update("dsr", drop_fraction=0.3, threshold=1e-6)
    ds.step()
    after = ds.masks
    assert ds.method_state["last_threshold"] == 1e-6
    dropped = sum(int((before[n] & ~after[n]).sum()) for n in before)
    assert dropped == 0 and ds.method_state["threshold"] == 2e-6  # too few below H: doubled
    model, ds, opt, batches, weights, before = _one_update("dsr", drop_fraction=0.3, threshold=10.0)
    ds.step()
    after = ds.masks
    assert ds.method_state["threshold"] == 5.0  # far too many below H: halved
    for n in before:
        d = before[n] & ~after[n]
        assert int(d.sum()) == drop_count(int(before[n].sum()), int((~before[n]).sum()), 1.0)
    model, ds, opt, batches, weights, before = _one_update("dsr", drop_fraction=0.3)
    ds.step()
    after = ds.masks
    h = ds.method_state["last_threshold"]
    surviving = []
    for n in before:
        d = before[n] & ~after[n]
        assert bool((weights[n][d].abs() < h).all()) and bool((weights[n][before[n] & ~d].abs() >= h).all())
        surviving.append(int((before[n] & ~d).sum()))
    total = sum(int((before[n] & ~after[n]).sum()) for n in before)
    regrown = [int((after[n] & ~before[n]).sum()) for n in before]
    assert regrown == apportion(total, surviving, [int((~before[n]).sum()) for n in before])


# ---------------------------------------------------------------- helpers, schedule, registry


def test_schedule():
    assert drop_fraction_at(0.0, 0.3, "cosine", 0.75) == pytest.approx(0.3)
    assert drop_fraction_at(0.375, 0.3, "cosine", 0.75) == pytest.approx(0.15)
    assert drop_fraction_at(0.75, 0.3, "cosine", 0.75) == 0.0
    assert drop_fraction_at(0.5, 0.3, "constant", 0.75) == 0.3
    model = get_model("mlp", 3, (1, 4, 4), hidden=(8,))
    masks = prune(model, "uniform", 0.5, random_state=0)
    ds = DynamicSparsity(model, masks, "set", epochs=8, steps_per_epoch=5, update_every=2, stop_at=0.75)
    assert [s for s in range(1, 41) if ds.is_update_step(s)] == [10, 20]
    ds = DynamicSparsity(model, masks, "set", epochs=2, steps_per_epoch=5, update_unit="step", update_every=3, stop_at=1.0)
    assert [s for s in range(1, 11) if ds.is_update_step(s)] == [3, 6, 9]
    for _ in range(10):
        ds.step()
    with pytest.raises(InputError, match="more than 10 times"):
        ds.step()
    expected = [0.0] + [0.15 * (1 + math.cos(math.pi * s / 10)) for s in (3, 6, 9)]
    assert list(ds.history["drop_fraction"]) == pytest.approx(expected)
    assert list(ds.history["epoch"]) == [0.0, 0.6, 1.2, 1.8] and list(ds.history["step"]) == [0, 3, 6, 9]


def test_helpers():
    g = torch.Generator().manual_seed(0)
    for n, k in [(10, 10), (1000, 3), (50, 20), (7, 0)]:
        s = sample_positions(n, k, g)
        assert len(s) == k and len(set(s.tolist())) == k and (s.numel() == 0 or int(s.max()) < n)
    scores = torch.tensor([5.0, 1.0, 3.0, 3.0, 3.0, 0.0])
    pos, drawn, cut = top_scores(scores, torch.tensor([True, True, True, True, True, False]), 3, g)
    assert 0 in pos.tolist() and set(pos.tolist()) <= {0, 2, 3, 4} and drawn == 2 and cut == 3.0
    assert apportion(10, [1.0, 1.0, 2.0], [100, 100, 100]) == [2, 3, 5] or apportion(10, [1.0, 1.0, 2.0], [100, 100, 100]) == [3, 2, 5]
    assert apportion(10, [1.0, 0.0, 9.0], [5, 5, 2]) == [5, 3, 2]
    assert apportion(4, [0.0, 0.0], [3, 1]) == [3, 1]
    assert drop_count(10, 100, 0.99) == 9 and drop_count(10, 2, 0.5) == 2 and drop_count(1, 5, 0.5) == 0


def test_registry_names_and_aliases():
    assert set(METHODS) <= set(names.DST_METHODS)
    assert lookup("RLR").name == "set" and lookup("CH3-L3").name == "ch3l3"
    assert method_options("dsr") == {"threshold": None, "tolerance": 0.1}
    for m in METHODS.values():
        assert m.scope == ("layer" if m.name in LAYER_SCOPE else "global")
        assert "Reference" in m.doc and "Choices" in m.doc


# ---------------------------------------------------------------- bad input


@pytest.fixture()
def small():
    torch.manual_seed(0)
    model = get_model("mlp", 3, (1, 4, 4), hidden=(8, 6))
    return model, prune(model, "uniform", 0.5, random_state=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "sgd"}, r"unknown dynamic sparse training method 'sgd'; known methods are ch3l3, dsr, rigl, set \(alias rlr\), snfs"),
        ({"method": "snip"}, "unknown dynamic sparse training method 'snip'"),
        ({"drop_fraction": 0.0}, r"drop_fraction must lie in \(0, 1\)"),
        ({"drop_fraction": 1.0}, r"drop_fraction must lie in \(0, 1\)"),
        ({"update_every": 0}, "update_every must be a positive integer"),
        ({"update_every": -2}, "update_every must be a positive integer"),
        ({"stop_at": 0.0}, r"stop_at must lie in \(0, 1\]"),
        ({"stop_at": 1.5}, r"stop_at must lie in \(0, 1\]"),
        ({"schedule": "linear"}, "schedule must be one of constant, cosine"),
        ({"update_unit": "batch"}, "update_unit must be one of epoch, step"),
        ({"record_every": 0}, "record_every must be a positive integer"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"method": "dsr", "momentum": 0.9}, r"'dsr' has no option\(s\) \['momentum'\]"),
        ({"method": "dsr", "threshold": -1.0}, "dsr threshold must be a positive number or None"),
        ({"method": "dsr", "threshold": "big"}, "dsr threshold must be a positive number or None"),
        ({"method": "dsr", "tolerance": 1.0}, r"dsr tolerance must be a number in \[0, 1\)"),
        ({"method": "snfs", "momentum": True}, r"snfs momentum must be a number in \[0, 1\)"),
    ],
)
def test_bad_arguments_are_one_line_input_errors(small, kwargs, match):
    model, masks = small
    kwargs = {"method": "set", **kwargs}
    method = kwargs.pop("method")
    with pytest.raises(InputError, match=match) as err:
        DynamicSparsity(model, masks, method, **kwargs)
    assert "\n" not in str(err.value)


def test_bad_masks_and_models(small):
    model, masks = small
    with pytest.raises(MaskError, match="no mask for the prunable layer"):
        DynamicSparsity(model, {"hidden.0.weight": masks["hidden.0.weight"]}, "set")
    with pytest.raises(MaskError, match="shape"):
        DynamicSparsity(model, {**masks, "hidden.0.weight": torch.ones(3, 3, dtype=torch.bool)}, "set")
    with pytest.raises(InputError, match="no prunable"):
        DynamicSparsity(nn.Sequential(nn.ReLU()), {}, "set")
    ds = DynamicSparsity(model, masks, "set")
    with pytest.raises(InputError, match="epochs=... and steps_per_epoch"):
        ds.step()
    with pytest.raises(InputError, match="set up for epochs=3"):
        DynamicSparsity(model, masks, "set", epochs=3, steps_per_epoch=1).bind(epochs=4, steps_per_epoch=1)


def test_density_zero_or_one_layers_are_a_documented_no_op():
    torch.manual_seed(0)
    model = get_model("mlp", 3, (1, 4, 4), hidden=(8, 6))
    masks = {"hidden.0.weight": torch.ones(8, 16, dtype=torch.bool), "hidden.1.weight": torch.zeros(6, 8, dtype=torch.bool)}
    masks["hidden.1.weight"][0, 0] = True
    with pytest.warns(UserWarning, match="hidden.0.weight.*density 0 or 1"):
        ds = DynamicSparsity(model, masks, "snfs", epochs=2, steps_per_epoch=1, schedule="constant", stop_at=1.0)
    assert ds.frozen == ["hidden.0.weight"]
    ds.step()
    assert torch.equal(ds.masks["hidden.0.weight"], masks["hidden.0.weight"])
    assert int(ds.masks["hidden.1.weight"].sum()) == 1  # a layer never loses its last link


# ---------------------------------------------------------------- training integration and checkpoints


SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits", split="train", input_shape=SHAPE), get_dataset("digits", split="test", input_shape=SHAPE)


def _mlp(seed=0):
    torch.manual_seed(seed)
    model = get_model("mlp", 10, SHAPE, hidden=(64, 64))
    return model, prune(model, "er", 0.9, random_state=seed)


def test_train_with_dst_learns_keeps_counts_and_checkpoints(tmp_path, digits):
    train_set, test_set = digits
    model, masks = _mlp()
    meta = {"arch": "mlp", "num_classes": 10, "input_shape": list(SHAPE), "model_kwargs": {"hidden": [64, 64]}}
    result = train(model, masks, train_set, test_set, epochs=4, lr=0.05, batch_size=64, progress=False,
                   checkpoint=tmp_path / "run.pt", meta=meta, dst={"method": "set", "drop_fraction": 0.3, "schedule": "constant", "stop_at": 1.0})
    ds = result.dst
    assert result.accuracy > 0.5
    assert ds.update_count == 3 and ds.steps_per_epoch == math.ceil(len(train_set) / 64)
    assert {n: int(m.sum()) for n, m in ds.masks.items()} == {n: int(m.sum()) for n, m in masks.items()}
    assert any(not torch.equal(ds.masks[n], masks[n]) for n in masks)
    assert [h["dst_updates"] for h in result.history] == [1, 2, 3, 3] and result.history[-1]["itop"] == ds.itop_rate
    ck = load_checkpoint(tmp_path / "run.pt")
    assert all(torch.equal(ck.masks[n], ds.masks[n]) for n in masks)
    assert ck.meta["dst"]["method"] == "set" and ck.meta["dst"]["schedule"] == "constant"
    assert ck.meta["dst"]["itop_rate"] == pytest.approx(ds.itop_rate)
    assert ck.meta["dst_history"] == ds.history_records()
    for name, module in ck.model.named_modules():
        if f"{name}.weight" in masks:
            assert bool((module.weight[~ds.masks[f"{name}.weight"]] == 0).all())


def test_resume_continues_the_dynamic_sparsity_exactly(tmp_path, digits):
    train_set, test_set = digits
    meta = {"arch": "mlp", "num_classes": 10, "input_shape": list(SHAPE), "model_kwargs": {"hidden": [64, 64]}}
    spec = {"method": "rigl", "drop_fraction": 0.3}
    model, masks = _mlp()
    full = train(model, masks, train_set, test_set, epochs=3, lr=0.05, batch_size=64, progress=False, dst=spec)
    path = tmp_path / "r.pt"
    model, masks = _mlp()
    stop = {"n": 0}

    def interrupt(record):
        stop["n"] += 1
        if stop["n"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(model, masks, train_set, test_set, epochs=3, lr=0.05, batch_size=64, progress=False, dst=spec,
              checkpoint=path, meta=meta, on_epoch=interrupt)
    ck = load_checkpoint(path)
    with pytest.raises(InputError, match="same dst"):
        train(ck.model, None, train_set, test_set, epochs=3, lr=0.05, batch_size=64, progress=False, checkpoint=path,
              meta=meta, resume=True)
    ck = load_checkpoint(path)
    resumed = train(ck.model, None, train_set, test_set, epochs=3, lr=0.05, batch_size=64, progress=False, dst=spec,
                    checkpoint=path, meta=meta, resume=True)
    assert resumed.resumed_from == 1
    assert all(torch.equal(resumed.dst.masks[n].cpu(), full.dst.masks[n].cpu()) for n in masks)
    assert resumed.dst.history.equals(full.dst.history)
    assert resumed.accuracy == pytest.approx(full.accuracy)


def test_train_accepts_an_engine_and_refuses_other_masks(digits):
    train_set, test_set = digits
    model, masks = _mlp()
    ds = DynamicSparsity(model, masks, "dsr", schedule="constant")
    result = train(model, None, train_set, None, epochs=2, lr=0.05, batch_size=128, progress=False, dst=ds)
    assert result.dst is ds and ds.epochs == 2 and ds.update_count == 1 and ds.optimizer is not None
    other = prune(model, "uniform", 0.5, random_state=3)
    with pytest.raises(InputError, match="differ"):
        train(model, other, train_set, None, epochs=2, progress=False, dst=ds)
    with pytest.raises(InputError, match="dst must be a method name"):
        train(model, None, train_set, None, epochs=1, progress=False, dst=3)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.99])
def test_momentum_tracker_matches_the_recurrence_over_many_rescalings(beta):
    from torch.nn.utils import prune as torch_prune

    from pruners.dst.gradients import MomentumTracker

    torch.manual_seed(0)
    layer = nn.Linear(5, 4)
    torch_prune.identity(layer, "weight")  # the effective weight is recomputed at every forward, as in training
    tracker = MomentumTracker({"weight": layer}, beta)
    expected = torch.zeros(4, 5)
    g = torch.Generator().manual_seed(1)
    for step in range(150):  # more than two rescalings of the accumulator
        x = torch.randn(3, 5, generator=g)
        scale = 2.0 ** (step % 3) if step % 2 else None  # some steps scaled, as under mixed precision
        with torch.no_grad():
            out = x @ layer.weight_orig.T + layer.bias
            expected = beta * expected + 2 * out.T @ x  # d/dW sum((Wx + b)^2)
        layer.zero_grad()
        ((1.0 if scale is None else scale) * layer(x).pow(2).sum()).backward()
        tracker.fold(scale)
    torch.testing.assert_close(tracker.momentum["weight"], expected, rtol=1e-4, atol=1e-4)
    tracker.close()


def test_snfs_refuses_a_bad_momentum(small):
    model, masks = small
    with pytest.raises(InputError, match=r"snfs momentum must be a number in \[0, 1\)"):
        DynamicSparsity(model, masks, "snfs", momentum=1.0)
    with pytest.raises(InputError, match=r"snfs momentum must be a number in \[0, 1\)"):
        check_config("snfs", momentum="fast")  # checked with the configuration, before any model or training
