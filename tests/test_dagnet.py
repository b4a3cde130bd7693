"""The zoo's dagnet: wiring, gates, parameter counts, checkpoints and bad options."""

from __future__ import annotations

import math

import networkx as nx
import pytest
import torch
import torch.nn as nn

from pruners import load_checkpoint, save_checkpoint
from pruners.models import MODELS, count_parameters, get_model
from pruners.models.dagnet import build_edges
from topocore import names
from topocore.errors import InputError

SMALL = dict(nodes=(3, 3), channels=2)


def test_registered_under_its_canonical_name():
    assert "dagnet" in MODELS and "dagnet" in names.ARCHS
    assert set(MODELS) <= set(names.ARCHS)
    assert names.canonical_arch("DAGNet") == "dagnet"


def test_complete_wiring_reduce_blocks_and_parameter_count_by_hand():
    m = get_model("dagnet", 10, (1, 8, 8), nodes=(3, 3), channels=4)
    assert m.edges == [(j, i) for i in range(1, 6) for j in range(i)]
    assert m.stage_of == [0, 0, 0, 1, 1, 1]
    cross = [(j, i) for j, i in m.edges if m.stage_of[j] != m.stage_of[i]]
    assert sorted(m.reduce.keys()) == sorted(f"e{j}_{i}" for j, i in cross)
    assert all(m.reduce[f"e{j}_{i}"].conv.stride == (2, 2) for j, i in cross)
    c0, c1 = 4, 8
    node = lambda c: 9 * c * c + 2 * c + c * c  # noqa: E731  3x3 conv, BN (weight, bias), 1x1 residual
    expect = (9 * 1 * c0 + 2 * c0) + 2 * node(c0) + 3 * node(c1) + 9 * (c0 * c1 + 2 * c1) + (c1 * 10 + 10) + 15
    assert count_parameters(m) == expect == m.live_parameter_count()


def test_two_stages_apart_use_stride_four():
    m = get_model("dagnet", 10, (1, 8, 8), nodes=(2, 2, 2), channels=2)
    assert m.reduce["e0_5"].conv.stride == (4, 4)
    assert m(torch.randn(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("gate, value", [("identity", 1.0), ("tanh", 0.5), ("sigmoid", 0.5)])
def test_initial_gate_values(gate, value):
    m = get_model("dagnet", 10, (1, 8, 8), gate=gate, **SMALL)
    assert torch.allclose(m.gate_values(), torch.full((15,), value))
    m2 = get_model("dagnet", 10, (1, 8, 8), gate=gate, gate_init=0.25, **SMALL)
    assert torch.allclose(m2.gate_values(), torch.full((15,), 0.25))


@pytest.mark.parametrize("graph, kw", [("er", {"p": 0.3}), ("ws", {"k": 4, "p": 0.5}), ("ba", {"m": 2})])
def test_random_wirings_are_seeded_dags_with_every_node_on_a_path(graph, kw):
    n = 12
    a = build_edges(n, graph, random_state=1, **kw)
    assert a == build_edges(n, graph, random_state=1, **kw)
    assert any(build_edges(n, graph, random_state=s, **kw) != a for s in range(2, 6))
    g = nx.DiGraph(a)
    assert all(u < v for u, v in a) and nx.is_directed_acyclic_graph(g)
    assert set(g.nodes) == set(range(n))
    for v in range(n):
        assert nx.has_path(g, 0, v) and nx.has_path(g, v, n - 1)
    m = get_model("dagnet", 10, (1, 8, 8), nodes=(6, 6), channels=2, graph=graph, graph_random_state=1, **kw)
    assert m.edges == a and m(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_user_graph_and_absent_nodes():
    edges = [(0, 1), (1, 3), (0, 3), (3, 5)]  # nodes 2 and 4 unused: no parameters
    m = get_model("dagnet", 10, (1, 8, 8), graph=edges, **SMALL)
    assert sorted(m.blocks.keys()) == ["n1", "n3", "n5"]
    assert m.live_edges == sorted(edges, key=lambda e: (e[1], e[0]))
    g = nx.DiGraph(edges)
    assert get_model("dagnet", 10, (1, 8, 8), graph=g, **SMALL).edges == m.edges
    assert m(torch.randn(3, 1, 8, 8)).shape == (3, 10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(nodes=()), "no stage"),
    (dict(nodes=(3, 1)), "at least 2 nodes"),
    (dict(nodes=3), "tuple"),
    (dict(gate="relu"), "unknown gate"),
    (dict(graph="torus"), "unknown dagnet graph"),
    (dict(graph=[(0, 1), (1, 2), (2, 1), (2, 5)]), "cyclic"),
    (dict(graph=nx.DiGraph([(0, 1), (1, 0), (1, 5)])), "cyclic"),
    (dict(graph=[(0, 2), (2, 1), (1, 5)]), "higher to a lower"),
    (dict(graph=[(0, 1), (2, 3)]), "disconnected"),
    (dict(graph=[(0, 1), (1, 5), (2, 3)]), "disconnected"),
    (dict(graph=[(0, 1), (1, 9)]), "outside"),
    (dict(graph=nx.Graph([(0, 5)])), "undirected"),
    (dict(gate="tanh", gate_init=1.0), "range"),
    (dict(graph="complete", p=0.5), "random graphs"),
    (dict(graph="ws", k=9), "k <"),
])
def test_bad_options_raise_input_errors(kwargs, match):
    opts = {**SMALL, **kwargs}
    with pytest.raises(InputError, match=match):
        get_model("dagnet", 10, (1, 8, 8), **opts)


def test_checkpoint_round_trip_keeps_removed_edges_and_refuses_another_wiring(tmp_path):
    torch.manual_seed(0)
    m = get_model("dagnet", 10, (1, 8, 8), **SMALL)
    with torch.no_grad():
        m.edge_mask[[0, 4]] = 0.0
    m._sync_structure()
    meta = {"arch": "dagnet", "num_classes": 10, "input_shape": [1, 8, 8], "model_kwargs": {"nodes": [3, 3], "channels": 2}}
    path = save_checkpoint(tmp_path / "m.pt", m, None, meta)
    ck = load_checkpoint(path)
    assert ck.model.live_edges == m.live_edges and float(ck.model.gate_values().detach()[0]) == 0.0
    x = torch.randn(2, 1, 8, 8)
    m.eval()
    assert torch.allclose(ck.model(x), m(x), atol=1e-6)
    a = get_model("dagnet", 10, (1, 8, 8), graph=[(0, 1), (1, 5), (0, 2), (2, 5)], **SMALL)
    b = get_model("dagnet", 10, (1, 8, 8), graph=[(0, 1), (1, 5), (0, 3), (3, 5)], **SMALL)
    b_state = {k: v for k, v in b.state_dict().items() if not k.startswith(("blocks.n2", "blocks.n3"))}
    a_state = dict(a.state_dict())
    a_state["edge_index"] = b_state["edge_index"]
    with pytest.raises(RuntimeError, match="wiring differs"):
        a.load_state_dict(a_state)


def test_forward_is_fx_traceable_and_skips_dead_nodes():
    m = get_model("dagnet", 10, (1, 8, 8), **SMALL)
    with torch.no_grad():  # cut every edge out of node 2: it is dead, so is edge 1 -> 2
        for k, (j, i) in enumerate(m.edges):
            if j == 2:
                m.edge_mask[k] = 0.0
    m._sync_structure()
    assert 2 not in m.live_nodes and all(2 not in e for e in m.live_edges)
    gm = torch.fx.symbolic_trace(m)
    assert not any("n2" in str(node.target) for node in gm.graph.nodes)
    with torch.no_grad():
        m.edge_mask.zero_()
    m._sync_structure()
    with pytest.raises(InputError, match="no input-to-output path"):
        m(torch.randn(1, 1, 8, 8))


def test_initialisation_gains_and_bounded_activations_of_the_60_node_complete_dag():
    torch.manual_seed(0)
    m = get_model("dagnet", 10, (1, 8, 8), nodes=(2, 2), channels=64)
    assert m.blocks["n1"].residual.weight.std().item() == pytest.approx(1 / math.sqrt(64), rel=0.1)  # 1 in-edge
    assert m.blocks["n3"].residual.weight.std().item() == pytest.approx(1 / math.sqrt(128 * 3), rel=0.1)  # stage 1, 3 in-edges
    assert m.blocks["n1"].conv.weight.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.1)
    assert m.reduce["e0_2"].conv.weight.std().item() == pytest.approx(1 / math.sqrt(64), rel=0.1)
    assert isinstance(m.stem[0], nn.Conv2d)
    big = get_model("dagnet", 10, (1, 8, 8), channels=4).train()  # the default 60-node complete DAG
    with torch.no_grad():
        assert float(big(torch.randn(32, 1, 8, 8)).std()) < 3.0


@pytest.mark.parametrize("shape, graph", [((1, 9, 9), "complete"), ((1, 8, 8), "er")])
def test_fused_forward_equals_the_edge_by_edge_forward(shape, graph):
    """Eager mode pushes outputs with addcmul and runs grouped reduce blocks; fx sees the edge-by-edge pass."""
    import copy

    torch.manual_seed(0)
    kw = {"p": 0.5, "graph_random_state": 3} if graph == "er" else {}
    m = get_model("dagnet", 10, shape, nodes=(4, 4, 4), channels=4, graph=graph, **kw).double()
    with torch.no_grad():
        m.alpha.uniform_(-1, 1)
    fused, plain = copy.deepcopy(m), copy.deepcopy(m)
    plain.fused = False
    x = torch.randn(8, *shape, dtype=torch.float64)
    for training in (True, False):
        fused.train(training)
        plain.train(training)
        ya, yb = fused(x), plain(x)
        torch.testing.assert_close(ya, yb, rtol=1e-12, atol=1e-12)
        ya.square().sum().backward()
        yb.square().sum().backward()
        scale = max(float(p.grad.abs().max()) for p in plain.parameters())
        for (name, pa), pb in zip(fused.named_parameters(), plain.parameters()):
            torch.testing.assert_close(pa.grad, pb.grad, rtol=0, atol=1e-12 * scale, msg=name)
        for (name, ba), bb in zip(fused.named_buffers(), plain.buffers()):  # running statistics written back
            torch.testing.assert_close(ba, bb, rtol=0, atol=1e-12, msg=name)
    traced = torch.fx.symbolic_trace(fused)  # the traced module is the edge-by-edge pass
    assert sum(1 for n in traced.graph.nodes if n.op == "call_module" and n.target.startswith("reduce.")) > 0
    torch.testing.assert_close(traced(x), plain(x), rtol=1e-12, atol=1e-12)


def test_build_seeds_the_weights_and_graph_random_state_the_wiring():
    from pruners.models import build

    a = build("dagnet", 10, (1, 8, 8), random_state=0, nodes=(4, 4), channels=2, graph="er", graph_random_state=1)
    b = build("dagnet", 10, (1, 8, 8), random_state=5, nodes=(4, 4), channels=2, graph="er", graph_random_state=1)
    c = build("dagnet", 10, (1, 8, 8), random_state=0, nodes=(4, 4), channels=2, graph="er", graph_random_state=2)
    assert a.edges == b.edges != c.edges
    assert not torch.equal(a.stem[0].weight, b.stem[0].weight)
    again = build("dagnet", 10, (1, 8, 8), random_state=0, nodes=(4, 4), channels=2, graph="er", graph_random_state=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), again.parameters()))
