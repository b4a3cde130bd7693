"""Topology trajectories of dynamic sparse training (application layer) and their figure."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import encoders
import topometrics
from pruners import get_model, prune
from pruners.dst import DynamicSparsity
from topocore.errors import InputError
from topometrics.workflows.trajectory import topology_trajectory, trajectory_figure, unit_weight_model

SHAPE = (1, 4, 4)


def _run(method="set", updates=4, record_every=2):
    torch.manual_seed(0)
    model = get_model("mlp", 3, SHAPE, hidden=(12, 10))
    masks = prune(model, "er", 0.7, random_state=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ds = DynamicSparsity(model, masks, method, epochs=updates + 1, steps_per_epoch=2, optimizer=opt, schedule="constant",
                         stop_at=1.0, record_every=record_every, input_shape=SHAPE)
    g = torch.Generator().manual_seed(0)
    states = [ds.masks]
    for _ in range(ds.total_steps):
        x, y = torch.randn(8, *SHAPE, generator=g), torch.randint(0, 3, (8,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if ds.step(batch=(x, y)):
            states.append(ds.masks)
    return ds, states


def test_recorded_states_are_the_masks_of_every_kth_update():
    ds, states = _run(updates=4, record_every=2)
    recorded = ds.recorded_states()
    assert [r["update"] for r in recorded] == [0, 2, 4]
    assert [r["epoch"] for r in recorded] == [0.0, 2.0, 4.0]
    for rec, expected in zip(recorded, states[::2]):
        assert all(torch.equal(rec["masks"][n], expected[n].cpu()) for n in expected)
    packed = ds.state_dict()["recorded"][0]["packed"]["hidden.1.weight"]
    assert packed.dtype == torch.uint8 and packed.numel() == -(-10 * 12 // 8)  # bit-packed


def test_trajectory_matches_direct_computation_on_unit_weights():
    ds, states = _run(updates=2, record_every=1)
    metrics = ["n1", "strength", "components", "effective_sparsity"]
    table = topology_trajectory(ds, metrics=metrics)
    assert list(table.columns) == ["update", "epoch", "step", "metric", "value"]
    assert table.attrs["edge_weights"] == "unit"
    assert sorted(table["update"].unique()) == [0, 1, 2]
    plain = get_model("mlp", 3, SHAPE, hidden=(12, 10))
    with torch.no_grad():
        for module in plain.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.fill_(1.0)
    for update, masks in enumerate(states):
        graph = encoders.encode(plain, SHAPE, {n: m.cpu() for n, m in masks.items()})
        dense = topometrics.dense_num_edges(plain, SHAPE)
        raw = topometrics.compute(graph, metrics, dense_num_edges=dense)
        norm = topometrics.normalize(raw, graph.num_nodes, graph.num_edges)
        got = table[table["update"] == update].set_index("metric")["value"]
        assert got["num_edges"] == graph.num_edges == sum(int(m.sum()) for m in masks.values()) + 10 * 3
        for m in metrics:
            assert got[m] == pytest.approx(raw[m]) and got[f"{m}_norm"] == pytest.approx(norm[m], nan_ok=True)
    # unit weights: strength is the mean in-degree
    assert table.query("update == 0 and metric == 'strength'")["value"].iloc[0] == pytest.approx(
        table.query("update == 0 and metric == 'num_edges'")["value"].iloc[0]
        / table.query("update == 0 and metric == 'num_nodes'")["value"].iloc[0])


def test_unit_weight_model_leaves_the_original_alone():
    ds, _ = _run(updates=1, record_every=1)
    before = {k: v.clone() for k, v in ds.model.state_dict().items()}
    clone = unit_weight_model(ds.model)
    assert all(torch.equal(before[k], v) for k, v in ds.model.state_dict().items())
    assert all(bool((m.weight == 1).all()) for m in clone.modules() if isinstance(m, torch.nn.Linear))
    assert not hasattr(clone.hidden[0], "weight_mask")


def test_figure_groups_runs_and_labels_axes():
    tables = []
    for method in ("set", "ch3l3"):
        ds, _ = _run(method, updates=2, record_every=1)
        t = topology_trajectory(ds, metrics=["n1", "kcore"])
        t["method"] = method
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    fig = trajectory_figure(table, ["n1", "kcore"], hue="method", title="digits")
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == 2 and axes[0].get_xlabel() == "epoch" and "N1" in axes[0].get_ylabel()
    assert {t.get_text() for t in axes[0].get_legend().get_texts()} == {"set", "ch3l3"}
    with pytest.raises(InputError, match="motif4"):
        trajectory_figure(table, ["motif4"])
    with pytest.raises(InputError, match="hue"):
        trajectory_figure(table, hue="seed")


def test_bad_input():
    torch.manual_seed(0)
    model = get_model("mlp", 3, SHAPE, hidden=(6,))
    masks = prune(model, "uniform", 0.5, random_state=0)
    ds = DynamicSparsity(model, masks, "set", epochs=1, steps_per_epoch=1)
    with pytest.raises(InputError, match="record_every"):
        topology_trajectory(ds, input_shape=SHAPE)
    ds = DynamicSparsity(model, masks, "set", epochs=1, steps_per_epoch=1, record_every=1)
    with pytest.raises(InputError, match="input_shape"):
        topology_trajectory(ds)
    with pytest.raises(ValueError, match="unknown metric"):
        topology_trajectory(ds, metrics=["bogus"], input_shape=SHAPE)
    with pytest.raises(InputError, match="DynamicSparsity"):
        topology_trajectory(object(), input_shape=SHAPE)


def test_entry_points_live_in_the_application_layer():
    import topometrics.workflows as workflows

    assert topometrics.topology_trajectory is topology_trajectory is workflows.topology_trajectory
    assert topometrics.trajectory_figure is trajectory_figure
    # pruners imports topocore only: the engine records states, the application layer measures them
    assert not hasattr(DynamicSparsity, "topology")


def test_estimated_values_are_reported():
    ds, _ = _run(updates=1, record_every=1)
    exact = topology_trajectory(ds, metrics=["motif4"])
    assert exact.attrs["estimated"] == [] and "motif4_stderr" not in set(exact["metric"])
    estimated = topology_trajectory(ds, metrics=["motif4"], exact=False, motif_sample=0.5)
    assert estimated.attrs["estimated"] == [(0, "motif4"), (1, "motif4")]
    stderr = estimated[estimated["metric"] == "motif4_stderr"]
    assert len(stderr) == 2 and bool((stderr["value"] >= 0).all())
    fig = trajectory_figure(estimated)  # standard errors are not drawn as a metric of their own
    assert len([a for a in fig.axes if a.get_visible()]) == 1
