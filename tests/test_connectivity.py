"""pruners.connectivity: penalties (values and TopoNet's gradients), derive_topology, apply_topology, training."""

from __future__ import annotations

import math

import networkx as nx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# ----------------------------------------------------------------------------- gradients against finite differences


@pytest.mark.parametrize("name", ["l1", "l1_adaptive", "tanh_l1"])
def test_penalty_gradients_match_central_finite_differences_and_hand_formulas(name):
    m = small(gate="identity", nodes=(3, 4)).double()
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        signs = torch.where(torch.rand(len(m.edges), generator=gen) < 0.5, -1.0, 1.0).double()
        m.alpha.copy_(signs * (0.2 + torch.rand(len(m.edges), generator=gen).double()))  # |alpha| >= 0.2: smooth
        m.edge_mask[[2, 7]] = 0.0
    pen = connectivity_penalty(name, 0.3)
    m.alpha.grad = None
    pen(m).backward()
    grad = m.alpha.grad.clone()
    h = 1e-6
    for k in range(len(m.edges)):
        with torch.no_grad():
            m.alpha[k] += h
            up = float(pen(m))
            m.alpha[k] -= 2 * h
            down = float(pen(m))
            m.alpha[k] += h
        assert float(grad[k]) == pytest.approx((up - down) / (2 * h), abs=1e-7), (name, m.edges[k])
    a = m.alpha.detach()
    mask = m.edge_mask
    if name == "l1":
        want = 0.3 * torch.sign(a) * mask
    elif name == "tanh_l1":  # d/da |tanh a| = sign(a) (1 - tanh^2 a)
        want = 0.3 * torch.sign(a) * (1 - torch.tanh(a) ** 2) * mask
    else:
        indeg = {i: sum(float(mask[q]) for q, (_, t) in enumerate(m.edges) if t == i) for i in range(m.num_nodes)}
        want = torch.tensor([0.3 * math.log(max(indeg[i], 1)) for _, i in m.edges], dtype=a.dtype) * torch.sign(a) * mask
    torch.testing.assert_close(grad, want, rtol=1e-12, atol=1e-15)


def test_a_training_step_descends_cross_entropy_plus_penalty():
    """One full-batch SGD step of pruners.train moves the gates by -lr * d(CE + penalty)/d(alpha)."""
    import copy

    import torch.nn.functional as F

    data = get_dataset("synthetic", split="train", input_shape=(1, 8, 8), n_samples=32)
    x = torch.stack([data[i][0] for i in range(len(data))])
    y = torch.as_tensor([int(data[i][1]) for i in range(len(data))])
    m = small(gate="tanh", nodes=(2, 3))
    with torch.no_grad():
        m.alpha.uniform_(-1, 1)
    pen = connectivity_penalty("tanh_l1", 0.7)
    ref = copy.deepcopy(m).train()
    loss = F.cross_entropy(ref(x), y)
    (g_ce,) = torch.autograd.grad(loss, ref.alpha, retain_graph=True)
    (g_pen,) = torch.autograd.grad(pen(ref), ref.alpha)
    lr = 0.05
    before = m.alpha.detach().clone()
    res = train(m, None, data, None, epochs=1, lr=lr, momentum=0.0, weight_decay=0.0, milestones=[], batch_size=32,
                penalty=pen, progress=False)
    torch.testing.assert_close(m.alpha.detach(), before - lr * (g_ce + g_pen), rtol=1e-5, atol=1e-6)
    assert float(g_pen.abs().max()) > 1e-2  # the penalty's part of the step is not negligible
    assert res.history[0]["penalty"] == pytest.approx(float(pen(ref).detach()), rel=1e-6)
    assert res.history[0]["train_loss"] == pytest.approx(float(loss), rel=1e-5)  # the cross-entropy alone


# ----------------------------------------------------------------------------- derived topology against brute force


def _brute_force_topology(model, rule, tau=None, k=None):
    """Edges kept by the rule, then every edge and node on some simple input-to-output path (enumerated)."""
    gates = model.gate_values().detach().tolist()
    cand = [(e, abs(g)) for e, g in zip(model.edges, gates) if g != 0.0]
    if rule == "threshold":
        kept = [e for e, w in cand if w >= tau]
    else:
        kept = []
        for i in range(model.num_nodes):
            ins = sorted([(w, e) for e, w in cand if e[1] == i], key=lambda t: (-t[0], t[1][0]))
            kept += [e for _, e in ins[:k]]
    g = nx.DiGraph(kept)
    t = model.output_node
    if 0 not in g or t not in g:
        return None
    paths = list(nx.all_simple_paths(g, 0, t))
    if not paths:
        return None
    return {(p[q], p[q + 1]) for p in paths for q in range(len(p) - 1)}, {v for p in paths for v in p}, paths


def _largest_tau(model):
    """max over input-to-output paths of the active gates of the smallest |gate| on the path (enumerated)."""
    gates = model.gate_values().detach().tolist()
    g = nx.DiGraph()
    for e, v in zip(model.edges, gates):
        if v != 0.0:
            g.add_edge(*e, w=abs(v))
    if 0 not in g or model.output_node not in g:
        return None
    paths = list(nx.all_simple_paths(g, 0, model.output_node))
    return max((min(g.edges[p[q], p[q + 1]]["w"] for q in range(len(p) - 1)) for p in paths), default=None)


GATE_LEVELS = [0.0, 0.001, 0.004, 0.006, 0.01, 0.05, 0.3, -0.2, -0.005]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(st.sampled_from(GATE_LEVELS), min_size=21, max_size=21),
    removed=st.lists(st.integers(0, 20), max_size=5),
    rule=st.sampled_from(["threshold", "topk"]),
    tau=st.sampled_from([0.0, 0.003, 0.006, 0.02]),
    k=st.integers(1, 3),
)
def test_derive_topology_against_enumerated_paths_and_its_macro_metrics_against_networkx(values, removed, rule, tau, k):
    from topometrics import dag

    m = small(gate="identity", nodes=(3, 4))  # 7 nodes, 21 edges
    with torch.no_grad():
        m.alpha.copy_(torch.tensor(values))
        m.edge_mask[removed] = 0.0
    m._sync_structure()
    oracle = _brute_force_topology(m, rule, tau=tau if rule == "threshold" else None, k=k)
    kwargs = {"tau": tau} if rule == "threshold" else {"k": k}
    if oracle is None:
        with pytest.raises(InputError, match="tau=" if rule == "threshold" else "top-"):
            derive_topology(m, rule, **kwargs)
        if rule == "threshold":
            limit = _largest_tau(m)
            if limit is not None:  # the largest tau the message names keeps a path, any larger one none
                assert limit < tau
                assert derive_topology(m, tau=limit).number_of_edges() > 0
                with pytest.raises(InputError, match=f"largest tau that keeps one is {limit:.4g}"):
                    derive_topology(m, tau=tau)
        return
    edges, nodes, paths = oracle
    g = derive_topology(m, rule, **kwargs)
    assert set(g.edges) == edges and set(g.nodes) == nodes
    gates = dict(zip(m.edges, m.gate_values().detach().tolist()))
    for j, i, d in g.edges(data=True):
        assert d["gate"] == gates[(j, i)] and d["weight"] == abs(gates[(j, i)]) and d["weight"] > 0
    assert all(g.nodes[v]["stage"] == (0 if v < 3 else 1) for v in g.nodes)
    # the macro metrics of the derived block DAG against enumeration and networkx
    lengths = [len(p) - 1 for p in paths]
    out = dag.compute(g)
    assert out["log_paths"] == pytest.approx(math.log(len(paths)), abs=1e-12)
    assert out["mean_path"] == pytest.approx(sum(lengths) / len(lengths), rel=1e-12)
    assert out["max_path"] == max(lengths) == nx.dag_longest_path_length(g, weight=None)
    assert out["edge_connectivity"] == nx.edge_connectivity(g, 0, m.output_node)
    assert out["mean_degree"] == pytest.approx(2 * len(edges) / len(nodes))
    assert out["ln_communicability"] == pytest.approx(
        math.log(nx.communicability(g.to_undirected())[0][m.output_node]), abs=1e-6)
    # applying it leaves a model whose live wiring is exactly the derived graph, and deriving again is stable
    apply_topology(m, g)
    assert set(m.live_edges) == edges
    assert set(derive_topology(m, rule, **kwargs).edges) == edges if rule == "threshold" else True


@pytest.mark.parametrize("rule, kwargs", [("threshold", {"tau": 0.006}), ("topk", {"k": 2})])
def test_a_removed_edge_and_an_edge_gated_to_zero_derive_the_same_graph(rule, kwargs):
    """Node 1 loses its only in-edge: by edge_mask in one model, by a gate of exactly 0 in the other."""
    values = {e: 0.01 * (1 + (e[0] * 7 + e[1] * 3) % 5) for e in small().edges}
    values[(1, 5)] = 0.5  # the strongest in-edge of node 5 comes from node 1, which becomes dead
    masked, zeroed = small(gate="identity"), small(gate="identity")
    set_gates(masked, values)
    set_gates(zeroed, {**values, (0, 1): 0.0})
    with torch.no_grad():
        masked.edge_mask[masked.edges.index((0, 1))] = 0.0
    masked._sync_structure()
    a, b = derive_topology(masked, rule, **kwargs), derive_topology(zeroed, rule, **kwargs)
    assert set(a.edges) == set(b.edges) and 1 not in a
    if rule == "topk":  # node 5 keeps (1, 5) and one more; (1, 5) then dies with node 1
        assert [e for e in a.edges if e[1] == 5] == [max(((j, 5) for j in (0, 2, 3, 4)), key=lambda e: values[e])]
