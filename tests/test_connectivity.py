"""pruners.connectivity: penalties (values and TopoNet's gradients), derive_topology, apply_topology, training."""

from __future__ import annotations

import math

import networkx as nx
import pytest
import torch

from pruners import load_checkpoint, save_checkpoint, train
from pruners.connectivity import (
    apply_topology,
    connectivity_penalty,
    derive_topology,
    topology_from_meta,
    topology_to_meta,
)
from pruners.data import get_dataset
from pruners.models import get_model
from topocore.errors import InputError


def small(gate="tanh", nodes=(3, 3), **kw):
    torch.manual_seed(0)
    return get_model("dagnet", 10, (1, 8, 8), nodes=nodes, channels=2, gate=gate, **kw)


def set_gates(model, values: dict) -> None:
    """Set |gate| of edges {(j, i): value} (identity gates: alpha = value)."""
    with torch.no_grad():
        for e, v in values.items():
            k = model.edges.index(e)
            model.alpha[k] = v if model.gate == "identity" else math.atanh(v)


def test_penalty_values():
    m = small(gate="identity")
    with torch.no_grad():
        m.alpha.copy_(torch.linspace(-1, 2, len(m.edges)))
    a = m.alpha.detach()
    assert connectivity_penalty("l1", 0.1)(m).item() == pytest.approx(0.1 * float(a.abs().sum()), rel=1e-6)
    assert connectivity_penalty("tanh_l1", 0.1)(m).item() == pytest.approx(0.1 * float(a.tanh().abs().sum()), rel=1e-6)
    # TopoNet adaptive: lam * sum over edges j -> i of log(in-degree of i) * |alpha|
    indeg = {i: sum(1 for _, t in m.edges if t == i) for i in range(6)}
    want = sum(0.1 * math.log(indeg[i]) * abs(float(a[k])) for k, (_, i) in enumerate(m.edges))
    assert connectivity_penalty("l1_adaptive", 0.1)(m).item() == pytest.approx(want, rel=1e-6)


def test_adaptive_penalty_gradient_is_toponets_update_and_follows_removed_edges():
    m = small(gate="identity")
    with torch.no_grad():
        m.alpha.copy_(torch.linspace(-1, 2, len(m.edges)))
        m.edge_mask[m.edges.index((0, 5))] = 0.0  # node 5 now has 4 active in-edges, not 5
    pen = connectivity_penalty("l1_adaptive", 0.5)
    m.alpha.grad = None
    pen(m).backward()
    for k, (j, i) in enumerate(m.edges):
        active = float(m.edge_mask[k])
        delta = sum(float(m.edge_mask[q]) for q, (_, t) in enumerate(m.edges) if t == i)
        want = 0.5 * math.log(delta) * math.copysign(1.0, m.alpha[k].item()) * active if active else 0.0
        assert float(m.alpha.grad[k]) == pytest.approx(want, abs=1e-7), (j, i)
    assert float(m.alpha.grad[m.edges.index((0, 1))]) == 0.0  # a single in-edge is not penalised (log 1 = 0)


@pytest.mark.parametrize("name, lam, match", [("l2", 0.1, "unknown connectivity penalty"), ("l1", -1, ">= 0"),
                                              ("l1", float("nan"), "finite"), ("l1", "x", "number")])
def test_bad_penalties(name, lam, match):
    with pytest.raises(InputError, match=match):
        connectivity_penalty(name, lam)


def test_models_without_gates_are_refused():
    resnet = get_model("resnet20", 10, (3, 8, 8))
    with pytest.raises(InputError, match="no gated edges"):
        connectivity_penalty("l1", 0.1)(resnet)
    with pytest.raises(InputError, match="no gated edges"):
        derive_topology(resnet)


def test_threshold_removes_weak_edges_dead_nodes_and_dead_edges():
    m = small()
    weak = {e: 0.001 for e in m.edges}
    strong = {(0, 1): 0.4, (1, 3): 0.3, (3, 5): 0.2, (0, 5): 0.05,  # two live paths
              (0, 2): 0.5,  # node 2 reached but never reaches the output: dead
              (4, 5): 0.5}  # node 4 reaches the output but is never reached: dead
    set_gates(m, {**weak, **strong})
    g = derive_topology(m, tau=0.006)
    assert set(g.edges) == {(0, 1), (1, 3), (3, 5), (0, 5)}
    assert set(g.nodes) == {0, 1, 3, 5}
    assert g.edges[1, 3]["weight"] == pytest.approx(0.3) and g.edges[1, 3]["gate"] == pytest.approx(0.3)
    assert [g.nodes[n]["stage"] for n in sorted(g.nodes)] == [0, 0, 1, 1]
    assert g.graph["rule"] == "threshold" and g.graph["tau"] == 0.006 and g.graph["initial_edges"] == 15
    assert set(derive_topology(m, tau=0.1).edges) == {(0, 1), (1, 3), (3, 5)}
    kept = derive_topology(m, tau=0.0)  # tau = 0 keeps every nonzero gate (dead parts still removed)
    assert set(kept.nodes) == set(range(6))


def test_no_path_left_names_tau_and_the_largest_tau_that_keeps_one():
    m = small()
    set_gates(m, {e: 0.001 for e in m.edges} | {(0, 1): 0.4, (1, 3): 0.3, (3, 5): 0.2})
    with pytest.raises(InputError, match=r"tau=0\.25.*largest tau that keeps one is 0\.2"):
        derive_topology(m, tau=0.25)


def test_topk_keeps_the_k_strongest_in_edges_per_node():
    m = small(gate="identity")
    with torch.no_grad():
        m.alpha.copy_(torch.tensor([0.1 * (k + 1) * (-1) ** k for k in range(len(m.edges))]))
    g = derive_topology(m, "topk", k=1)
    for i in range(1, 6):  # the latest (largest |alpha|) in-edge of each node wins
        ins = [(j, t) for j, t in m.edges if t == i]
        assert [e for e in g.edges if e[1] == i] in ([max(ins, key=lambda e: m.edges.index(e))], [])
    g2 = derive_topology(m, "topk", k=2)
    assert all(g2.in_degree(n) <= 2 for n in g2.nodes)
    assert nx.has_path(g2, 0, 5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(rule="magic"), "unknown topology rule"),
    (dict(tau=-0.1), ">= 0"),
    (dict(rule="topk", k=0), "k must be an integer >= 1"),
    (dict(rule="topk", tau=0.1), "tau applies"),
    (dict(rule="threshold", k=2), "k applies"),
])
def test_bad_rules(kwargs, match):
    with pytest.raises(InputError, match=match):
        derive_topology(small(), **kwargs)


def test_apply_gates_removed_edges_to_exactly_zero_and_checkpoint_records_it(tmp_path):
    m = small(gate="sigmoid")  # sigmoid gates are never 0 by themselves: the mask does it
    g = derive_topology(m, tau=0.006)
    keep = [(0, 1), (1, 5), (0, 5)]
    removed = apply_topology(m, keep)
    assert removed == len(m.edges) - 3
    gates = m.gate_values().detach()
    for k, e in enumerate(m.edges):
        assert (float(gates[k]) == 0.0) == (e not in keep)
    assert sorted(m.live_edges) == sorted(keep) and m.live_nodes == [0, 1, 5]
    g = derive_topology(m, tau=0.006, apply=True)
    assert set(g.edges) == set(keep)
    info = m.derived_topology
    assert topology_to_meta(g) == info and set(topology_from_meta(info).edges) == set(keep)
    meta = {"arch": "dagnet", "num_classes": 10, "input_shape": [1, 8, 8], "derived_topology": info,
            "model_kwargs": {"nodes": [3, 3], "channels": 2, "gate": "sigmoid"}}
    ck = load_checkpoint(save_checkpoint(tmp_path / "d.pt", m, None, meta))
    assert sorted(ck.model.live_edges) == sorted(keep)
    assert set(topology_from_meta(ck.meta["derived_topology"]).edges) == set(keep)
    with pytest.raises(InputError, match="not an edge of this model"):
        apply_topology(m, [(0, 4), (9, 10)])


def test_training_with_a_penalty_shrinks_the_gates_and_records_it():
    data = get_dataset("synthetic", split="train", input_shape=(1, 8, 8), n_samples=64)
    runs = {}
    for lam in (0.0, 0.5):
        torch.manual_seed(0)
        m = get_model("dagnet", 10, (1, 8, 8), nodes=(2, 2), channels=2)
        res = train(m, None, data, None, epochs=2, lr=0.05, batch_size=32, penalty=connectivity_penalty("tanh_l1", lam),
                    progress=False)
        assert all("penalty" in h for h in res.history)
        runs[lam] = float(m.gate_values().detach().abs().mean())
    assert runs[0.5] < runs[0.0] - 0.01
