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


# ----------------------------------------------------------------------------- the forward pass from its definition


def _reference_forward(m, x):
    """The dagnet written from the issue's definition with functional ops and the model's parameters.

    No module's forward is called: the stem is BN(conv3x3(x)); node i aggregates
    ``sum over live in-edges j -> i of g(alpha_ji) * R_ji(x_j)`` (``R_ji`` the strided 1x1 conv + BN of an
    edge crossing stages, the identity within a stage) and outputs BN(conv3x3(ReLU(a))) + conv1x1(a); the
    head is global average pooling and the linear layer.  Live edges come from networkx (active edges on an
    input-to-output path); gate functions are written out here.  Batch norms use batch statistics in
    training mode (on copies of the running statistics) and the running statistics in eval mode.
    """
    import torch.nn.functional as F

    def bn(mod, t):
        return F.batch_norm(t, mod.running_mean.clone(), mod.running_var.clone(), mod.weight, mod.bias,
                            mod.training, mod.momentum, mod.eps)

    a = m.alpha
    g = {"identity": a, "tanh": (torch.exp(2 * a) - 1) / (torch.exp(2 * a) + 1), "sigmoid": 1 / (1 + torch.exp(-a))}[m.gate]
    g = g * m.edge_mask
    n = m.num_nodes
    active = nx.DiGraph()
    active.add_nodes_from(range(n))
    active.add_edges_from(e for e, on in zip(m.edges, m.edge_mask.tolist()) if on)
    live = (nx.descendants(active, 0) | {0}) & (nx.ancestors(active, n - 1) | {n - 1})
    stem_conv, stem_bn = m.stem
    outs = {0: bn(stem_bn, F.conv2d(x, stem_conv.weight, padding=1))}
    for i in sorted(live - {0}):
        agg = 0
        for k, (j, t) in enumerate(m.edges):
            if t != i or j not in live or not m.edge_mask[k]:
                continue
            h = outs[j]
            if m.stage_of[j] != m.stage_of[i]:
                red = m.reduce[f"e{j}_{i}"]
                h = bn(red.bn, F.conv2d(h, red.conv.weight, stride=2 ** (m.stage_of[i] - m.stage_of[j])))
            agg = agg + g[k] * h
        blk = m.blocks[f"n{i}"]
        outs[i] = bn(blk.bn, F.conv2d(F.relu(agg), blk.conv.weight, padding=1)) + F.conv2d(agg, blk.residual.weight)
    y = outs[n - 1].mean(dim=(2, 3))
    return F.linear(y, m.fc.weight, m.fc.bias)


@pytest.mark.parametrize("gate", ["identity", "tanh", "sigmoid"])
@pytest.mark.parametrize("graph", ["complete", "ws"])
def test_forward_and_gate_gradients_match_the_definition(gate, graph):
    """Fused (eager) and edge-by-edge (fx) passes against the explicit forward, with removed and dead edges."""
    import copy

    torch.manual_seed(1)
    kw = {"k": 4, "p": 0.5, "graph_random_state": 2} if graph == "ws" else {}
    m = get_model("dagnet", 7, (2, 9, 9), nodes=(3, 3, 3), channels=3, graph=graph, gate=gate, **kw).double()
    with torch.no_grad():
        m.alpha.uniform_(-1.5, 1.5)
        for bn_ in (mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)):  # non-trivial running statistics
            bn_.running_mean.uniform_(-0.5, 0.5)
            bn_.running_var.uniform_(0.5, 2.0)
            bn_.weight.uniform_(0.5, 1.5)
            bn_.bias.uniform_(-0.5, 0.5)
        m.edge_mask[[1, 4]] = 0.0  # removed edges; in the complete graph (0, 2) and (1, 3)
        out_of_2 = [k for k, (j, _) in enumerate(m.edges) if j == 2]
        m.edge_mask[out_of_2] = 0.0  # node 2 (if present) no longer reaches the output: dead
    m._sync_structure()
    assert 2 not in m.live_nodes
    x = torch.randn(5, 2, 9, 9, dtype=torch.float64)
    traced = torch.fx.symbolic_trace(m)
    for training in (False, True):
        ref_model, model = copy.deepcopy(m).train(training), copy.deepcopy(m).train(training)
        want = _reference_forward(ref_model, x)
        got = model(x)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
        traced.train(training)
        torch.testing.assert_close(traced(x), want, rtol=1e-10, atol=1e-10)
        # the gradient with respect to the gates flows through the fused pass as through the definition
        (ga,) = torch.autograd.grad(got.sin().sum(), model.alpha)
        (gr,) = torch.autograd.grad(want.sin().sum(), ref_model.alpha)
        torch.testing.assert_close(ga, gr, rtol=1e-9, atol=1e-12)
        removed = (m.edge_mask == 0).nonzero().flatten()
        assert torch.all(ga[removed] == 0)  # a removed edge gets no gradient


def test_gate_values_are_the_documented_functions():
    for gate, f in (("identity", lambda a: a), ("tanh", math.tanh), ("sigmoid", lambda a: 1 / (1 + math.exp(-a)))):
        m = get_model("dagnet", 10, (1, 8, 8), gate=gate, **SMALL)
        with torch.no_grad():
            m.alpha.copy_(torch.linspace(-2, 2, len(m.edges)))
            m.edge_mask[3] = 0.0
        want = [0.0 if k == 3 else f(a) for k, a in enumerate(m.alpha.tolist())]
        assert m.gate_values().tolist() == pytest.approx(want, rel=1e-6, abs=1e-7)


def test_stage_resolutions_and_channels():
    """Stage s runs at the input resolution divided by 2**s (rounded up) with channels * 2**s channels."""
    m = get_model("dagnet", 10, (3, 9, 9), nodes=(2, 2, 2), channels=3).eval()
    shapes = {}
    hooks = [m.blocks[name].register_forward_hook(lambda mod, inp, out, name=name: shapes.__setitem__(name, out.shape))
             for name in m.blocks]
    m.fused = False
    m(torch.randn(1, 3, 9, 9))
    for h in hooks:
        h.remove()
    assert shapes == {"n1": (1, 3, 9, 9), "n2": (1, 6, 5, 5), "n3": (1, 6, 5, 5), "n4": (1, 12, 3, 3),
                      "n5": (1, 12, 3, 3)}
    assert m.widths == (3, 6, 12) and get_model("dagnet", 10, (3, 9, 9), nodes=(2, 2), channels=(5, 7)).widths == (5, 7)


def test_get_model_random_state_fixes_wiring_and_weights_without_touching_the_global_generator():
    kw = dict(nodes=(4, 4), channels=2, graph="ba", m=2)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = get_model("dagnet", 10, (1, 8, 8), random_state=7, **kw)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's generator is untouched
    b = get_model("dagnet", 10, (1, 8, 8), random_state=7, **kw)
    c = get_model("dagnet", 10, (1, 8, 8), random_state=8, **kw)
    assert a.edges == b.edges == build_edges(8, "ba", m=2, random_state=7)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert c.edges != a.edges or not torch.equal(c.stem[0].weight, a.stem[0].weight)
    d = get_model("dagnet", 10, (1, 8, 8), random_state=7, graph_random_state=3, **kw)  # the wiring seed overrides
    assert d.edges == build_edges(8, "ba", m=2, random_state=3)
