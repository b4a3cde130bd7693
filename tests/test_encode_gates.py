"""The encoder's rule for learned scalar gates (encoders.mge.gates), against the autograd Jacobian.

* per layer: a gated layer's edges between its partitions equal the Jacobian of
  ``z -> layer(g * z)`` (weighted layer reading a gated value), of ``z -> g * layer(z)``
  (gated fresh output merged into a sum) or ``g * I`` (gated identity branch);
* end to end: with BatchNorm and ReLU removed and the global average pool replaced by a
  sum, a ``dagnet`` is linear, and the dense input-to-output matrix of its MGE equals the
  autograd Jacobian of the network -- for every gate function, random wirings and gate
  values including exact zeros (hypothesis);
* a gate of exactly 0 removes its edges: the MGE equals the one of the same model with
  that edge switched off.
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

from encoders import UnsupportedOperationError, count_edges, encode
from pruners.models import get_model


def jacobian(f, in_shape) -> np.ndarray:
    x = torch.randn(1, *in_shape, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(f, x, vectorize=True)
    return J.reshape(J.numel() // x.numel(), x.numel()).numpy()


def layer_dense(g, li: int) -> np.ndarray:
    layer = g.layers[li]
    P, Q = g.partitions[layer.in_partitions[0]], g.partitions[layer.out_partition]
    idx = g.layer_edges(li)
    dense = np.zeros((Q.size, P.size))
    dense[g.dst[idx].astype(np.int64) - Q.offset, g.src[idx].astype(np.int64) - P.offset] = g.weight[idx]
    return dense


def graph_jacobian(g) -> np.ndarray:
    """Dense (output partition x input partition) matrix: every partition is the weighted sum of its in-edges."""
    n = g.num_nodes
    A = sp.csr_matrix((g.weight.astype(np.float64), (g.dst.astype(np.int64), g.src.astype(np.int64))), shape=(n, n))
    n_in = g.partitions[0].size
    V = np.zeros((n, n_in))
    V[:n_in] = np.eye(n_in)
    for p in g.partitions[1:]:
        V[p.offset : p.stop] = A[p.offset : p.stop] @ V
    out = g.partitions[-1]
    return V[out.offset : out.stop]


def _ident(x, *args, **kwargs):
    return x


def _global_sum(x, *args, **kwargs):
    return x.sum(dim=(2, 3), keepdim=True)


def linearized(model: nn.Module) -> nn.Module:
    """float64 copy without BatchNorm and ReLU, biases zeroed, global average pool as a sum."""
    model = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.zero_()
    for name, m in list(model.named_modules()):
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if isinstance(m, nn.BatchNorm2d):
            setattr(parent, attr, nn.Identity())
    gm = torch.fx.symbolic_trace(model)
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in (F.relu, torch.relu):
            node.target = _ident
        elif node.op == "call_function" and node.target is F.adaptive_avg_pool2d:
            node.target = _global_sum
    gm.recompile()
    return gm


# ----------------------------------------------------------------------------- per layer


class ScaledInput(nn.Module):
    """conv2(conv1(x) * tanh(alpha)): the gate scales conv2's weights."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        self.alpha = nn.Parameter(torch.tensor(value))

    def forward(self, x):
        return self.conv2(self.conv1(x) * torch.tanh(self.alpha))


class GatedSum(nn.Module):
    """conv2(g0 * conv1(x) + g1 * x): a gated fresh output and a gated identity branch."""

    def __init__(self, gates) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(2, 1, 1, bias=False)
        self.alpha = nn.Parameter(torch.tensor(gates, dtype=torch.float32))

    def forward(self, x):
        g = self.alpha.unbind(0)
        return self.conv2(self.conv1(x) * g[0] + x * g[1])


@pytest.mark.parametrize("value", [0.7, -1.3, 0.0])
def test_weighted_layer_reading_a_gated_value(value):
    torch.manual_seed(0)
    m = ScaledInput(value)
    g = encode(m, (1, 5, 5))
    li = [layer.name for layer in g.layers].index("conv2")
    gate = float(np.tanh(value))
    conv2 = copy.deepcopy(m.conv2).double()
    J = jacobian(lambda z: conv2(z * gate), (2, 5, 5))
    if value == 0.0:
        assert g.layer_edges(li).size == 0  # a zero gate removes the edges
    else:
        np.testing.assert_array_equal(layer_dense(g, li) != 0, J != 0)
        np.testing.assert_allclose(layer_dense(g, li), J, rtol=1e-6)
        assert g.layers[li].extra["gate"] == pytest.approx(gate)
    assert count_edges(m, (1, 5, 5)) == g.num_edges


@pytest.mark.parametrize("gates", [(0.5, -2.0), (1.5, 0.0), (0.0, 0.25)])
def test_gated_fresh_output_and_gated_identity_branch(gates):
    torch.manual_seed(1)
    m = GatedSum(list(gates))
    g = encode(m, (2, 4, 4))
    names = [layer.name for layer in g.layers]
    conv1 = copy.deepcopy(m.conv1).double()
    li = names.index("conv1")
    if gates[0] == 0.0:
        assert g.layer_edges(li).size == 0
    else:
        J = jacobian(lambda z: conv1(z) * gates[0], (2, 4, 4))
        np.testing.assert_allclose(layer_dense(g, li), J, rtol=1e-6)
    kinds = [layer.kind for layer in g.layers]
    if gates[1] == 0.0:
        assert "identity" not in kinds
    else:
        ii = kinds.index("identity")
        np.testing.assert_allclose(layer_dense(g, ii), gates[1] * np.eye(32), rtol=1e-7)
    # end to end: the whole (linear) network's Jacobian
    net = copy.deepcopy(m).double()
    np.testing.assert_allclose(graph_jacobian(g), jacobian(net, (2, 4, 4)), rtol=1e-6, atol=1e-12)


def test_constants_that_are_not_parameters_stay_transparent():
    class Half(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1, bias=False)
            self.register_buffer("c", torch.tensor(0.25))

        def forward(self, x):
            return self.conv(x * 0.5 * self.c)

    m = Half()
    g = encode(m, (1, 2, 2))
    assert np.allclose(g.weight, float(m.conv.weight.detach()))  # not scaled: fixed constants are not gates


def test_division_by_a_gate_and_products_of_gates():
    class Div(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1, bias=False)
            self.a = nn.Parameter(torch.tensor(2.0))
            self.b = nn.Parameter(torch.tensor(-3.0))

        def forward(self, x):
            return self.conv((x * self.b) / self.a)

    m = Div()
    g = encode(m, (1, 2, 2))
    np.testing.assert_allclose(g.weight, float(m.conv.weight) * -1.5, rtol=1e-6)


def test_unencodable_uses_of_gates_are_refused():
    class Cat(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 1, 1, bias=False)
            self.a = nn.Parameter(torch.tensor(2.0))

        def forward(self, x):
            return self.conv(torch.cat([x * self.a, x], 1))

    class Out(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)
            self.a = nn.Parameter(torch.tensor(2.0))

        def forward(self, x):
            return self.fc(x) * self.a

    with pytest.raises(UnsupportedOperationError, match="different learned scalars"):
        encode(Cat(), (1, 2, 2))
    with pytest.raises(UnsupportedOperationError, match="network output is multiplied"):
        encode(Out(), (4,))


# ----------------------------------------------------------------------------- dagnet end to end


def _set_gates(model, values) -> None:
    """Set the gate values g(alpha) of a dagnet (exact zeros through alpha = 0 for identity/tanh)."""
    with torch.no_grad():
        for k, v in enumerate(values):
            if model.gate == "identity":
                model.alpha[k] = v
            elif model.gate == "tanh":
                model.alpha[k] = float(np.arctanh(np.clip(v, -0.99, 0.99)))
            else:
                model.alpha[k] = float(np.log(np.clip(v, 0.01, 0.99) / (1 - np.clip(v, 0.01, 0.99))))


@st.composite
def dag_cases(draw):
    nodes = draw(st.sampled_from([(2, 2), (3, 2), (2, 2, 2)]))
    n = sum(nodes)
    edges = [(j, i) for i in range(1, n) for j in range(i)]
    keep = draw(st.lists(st.booleans(), min_size=len(edges), max_size=len(edges)))
    chosen = {e for e, k in zip(edges, keep) if k} | {(i, i + 1) for i in range(n - 1)}  # a chain keeps it connected
    gate = draw(st.sampled_from(["identity", "tanh", "sigmoid"]))
    values = draw(st.lists(st.sampled_from([0.0, 0.3, -0.8, 0.6, 1.7]), min_size=len(chosen), max_size=len(chosen)))
    seed = draw(st.integers(0, 1000))
    return nodes, sorted(chosen), gate, values, seed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_cases())
def test_dagnet_mge_equals_the_jacobian_of_the_linearised_network(case):
    nodes, edges, gate, values, seed = case
    torch.manual_seed(seed)
    model = get_model("dagnet", 3, (1, 4, 4), nodes=nodes, channels=2, graph=edges, gate=gate)
    _set_gates(model, values)
    g = encode(model, (1, 4, 4))
    g.validate()
    J = jacobian(linearized(model), (1, 4, 4))
    # edge weights are float32 (gate x weight rounded once): compare at float32 accuracy
    np.testing.assert_allclose(graph_jacobian(g), J, rtol=1e-5, atol=1e-6 * max(np.abs(J).max(), 1.0))
    assert count_edges(model, (1, 4, 4)) == g.num_edges


def test_a_zero_gate_removes_exactly_that_path():
    torch.manual_seed(3)
    model = get_model("dagnet", 3, (1, 4, 4), nodes=(3, 3), channels=2, gate="tanh")
    k0 = model.edges.index((1, 2))  # same stage: identity edges
    k1 = model.edges.index((0, 4))  # across stages: the reduce conv's edges
    zero, tiny, off = copy.deepcopy(model), copy.deepcopy(model), copy.deepcopy(model)
    with torch.no_grad():
        zero.alpha[[k0, k1]] = 0.0  # tanh(0) = 0: the gates are exactly 0, the paths are still traced
        tiny.alpha[[k0, k1]] = 1e-3  # the same structure with gates of about 1e-3
        off.edge_mask[[k0, k1]] = 0.0
    off._sync_structure()  # the paths are not traced at all
    gz, gt, go = (encode(m, (1, 4, 4)) for m in (zero, tiny, off))
    assert [p.shape for p in gz.partitions] == [p.shape for p in gt.partitions]
    pairs_z = set(zip(gz.src.tolist(), gz.dst.tolist()))
    pairs_t = dict(zip(zip(gt.src.tolist(), gt.dst.tolist()), gt.weight.tolist()))
    assert pairs_z < set(pairs_t)  # the zero gates only remove edges...
    gone = [pairs_t[e] for e in set(pairs_t) - pairs_z]
    scale = max(float(w.abs().max()) for w in (model.reduce["e0_4"].conv.weight, torch.ones(1)))
    # ...exactly those of the two gated paths: identity edges (2 channels x 4 x 4), reduce conv (2 x 4 channels x 2 x 2)
    assert len(gone) == 2 * 4 * 4 + 2 * 4 * 2 * 2
    assert max(abs(w) for w in gone) <= 1.1e-3 * scale
    # the zero-gated and the untraced models are the same linear map
    np.testing.assert_allclose(graph_jacobian(gz), graph_jacobian(go), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(graph_jacobian(gz), jacobian(linearized(zero), (1, 4, 4)), rtol=1e-5, atol=1e-6)
