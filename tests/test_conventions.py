"""``conventions="published"`` of compute / normalize / describe / per_layer, against igraph.

The oracle computes what the authors' code calls on the same graph: igraph's
``neighborhood_size(order=k, mode="out")`` (which counts the node itself) and
``strength(mode="all")`` over ``|float16(w)|`` edge weights.
"""

from __future__ import annotations

import math

import igraph as ig
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

import encoders
import pruners
import topometrics
from topocore.errors import InputError
from topometrics.conventions import CONVENTIONS

SHAPE = (3, 8, 8)


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, stride=2)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


@pytest.fixture(scope="module")
def pruned():
    torch.manual_seed(0)
    model = Small()
    with torch.no_grad():  # weights below float16 resolution and beyond: rounding must show
        model.conv1.weight.mul_(1e-3)
    masks = pruners.prune(model, "uniform", 0.6, random_state=1)
    return model, masks


def _igraph(graph):
    g = ig.Graph(n=graph.num_nodes, edges=np.column_stack([graph.src, graph.dst]).tolist(), directed=True)
    g.es["weight"] = np.abs(np.asarray(graph.weight).astype(np.float16)).astype(np.float64).tolist()
    return g


def test_compute_published_matches_the_authors_igraph_calls(pruned):
    model, masks = pruned
    graph = encoders.encode(model, SHAPE, masks, pad_nodes=True)
    names = ["n1", "n2", "strength", "sink", "components", "spectral_radius"]
    pub = topometrics.compute(graph, names, conventions="published")
    ours = topometrics.compute(graph, names)
    g = _igraph(graph)
    assert pub["n1"] == pytest.approx(np.mean(g.neighborhood_size(order=1, mode="out")), rel=1e-12)
    assert pub["n2"] == pytest.approx(np.mean(g.neighborhood_size(order=2, mode="out")), rel=1e-12)
    assert pub["strength"] == pytest.approx(np.mean(g.strength(weights="weight", mode="all")), rel=1e-6)
    assert pub["n1"] == pytest.approx(ours["n1"] + 1) and pub["n2"] == pytest.approx(ours["n2"] + 1)
    assert pub["strength"] != pytest.approx(2 * ours["strength"], rel=1e-9)  # float16 rounding shows ...
    assert pub["strength"] == pytest.approx(2 * ours["strength"], rel=1e-3)  # ... but is small
    assert pub["sink"] == ours["sink"] and pub["components"] == ours["components"]
    # the weighted Laplacian of the rounded weights (dense oracle)
    A = np.zeros((graph.num_nodes, graph.num_nodes))
    w = np.abs(graph.weight.astype(np.float16).astype(np.float64))
    np.add.at(A, (graph.src, graph.dst), w)
    A = A + A.T
    L = np.diag(A.sum(1)) - A
    assert pub["spectral_radius"] == pytest.approx(np.linalg.eigvalsh(L).max(), rel=1e-5)


def test_published_conventions_need_padding_nodes_and_valid_names(pruned):
    model, masks = pruned
    plain = encoders.encode(model, SHAPE, masks)
    with pytest.raises(InputError, match="pad_nodes=True"):
        topometrics.compute(plain, ["n1"], conventions="published")
    with pytest.raises(InputError, match="conventions must be"):
        topometrics.compute(plain, ["n1"], conventions="paper")
    assert CONVENTIONS == ("ours", "published")
    # a PreparedGraph is accepted too (its weights are re-rounded into a new one)
    padded = encoders.encode(model, SHAPE, masks, pad_nodes=True)
    pg = topometrics.prepare(padded)
    assert topometrics.compute(pg, ["strength"], conventions="published") == topometrics.compute(
        padded, ["strength"], conventions="published")


def test_normalize_published_refuses_values_of_our_conventions():
    values = {"n1": 0.5, "n2": 2.0, "sink": 3}
    assert topometrics.normalize(values, 10, 100)["n1"] == 0.005
    with pytest.raises(InputError, match="n1 = 0.5 < 1"):
        topometrics.normalize(values, 10, 100, conventions="published")
    ok = topometrics.normalize({"n1": 1.5, "n2": 2.0, "sink": 3}, 10, 100, conventions="published")
    assert ok == topometrics.normalize({"n1": 1.5, "n2": 2.0, "sink": 3}, 10, 100)  # the same divisors
    frame = pd.DataFrame({"rolled_n1": [1.2, 0.9], "n": [4, 4], "e": [8, 8]})
    with pytest.raises(InputError, match="rolled_n1"):
        topometrics.normalize(frame, "n", "e", prefix="rolled_", conventions="published")


def test_describe_published_is_encode_compute_normalize(pruned):
    model, masks = pruned
    names = ["sink", "source", "disconnected", "n1", "n2", "strength", "effective_sparsity"]
    s = topometrics.describe(model, SHAPE, masks, metrics=names, conventions="published", rolled=True)
    graph = encoders.encode(model, SHAPE, masks, pad_nodes=True)
    dense = topometrics.dense_num_edges(model, SHAPE, pad_nodes=True)
    raw = topometrics.compute(graph, names, conventions="published", dense_num_edges=dense)
    norm = topometrics.normalize(raw, graph.num_nodes, graph.num_edges, conventions="published")
    assert s["num_nodes"] == graph.num_nodes == encoders.encode(model, SHAPE, masks).num_nodes + 3 * (10 * 10 - 8 * 8)
    assert s["dense_num_edges"] == dense
    for n in names:
        assert s[n] == pytest.approx(raw[n]) and s[f"{n}_norm"] == pytest.approx(norm[n])
    table = topometrics.per_layer(model, masks, metrics=["n1", "strength"], encodings=("rolled",), conventions="published")
    assert s["rolled_n1"] == pytest.approx(table["rolled_n1"].mean())
    ours = topometrics.per_layer(model, masks, metrics=["n1", "strength"], encodings=("rolled",))
    np.testing.assert_allclose(table["rolled_n1"], ours["rolled_n1"] + 1)
    np.testing.assert_allclose(table["rolled_strength"], 2 * ours["rolled_strength"], rtol=1e-3)
    via_graph = topometrics.describe_graph(graph, metrics=names, conventions="published", dense_num_edges=dense)
    pd.testing.assert_series_equal(via_graph, s[via_graph.index])


def test_rolled_motif3_is_the_size3_motif_count(pruned):
    model, masks = pruned
    table = topometrics.per_layer(model, masks, encodings=("rolled",))
    assert "rolled_motif3" in table.columns and "rolled_motif4" not in table.columns
    for bg, value in zip(encoders.rolled(model, masks), table["rolled_motif3"]):
        u = ig.Graph(n=bg.n_left + bg.n_right, edges=np.column_stack([bg.left, bg.right + bg.n_left]).tolist())
        assert value == u.motifs_randesu_no(size=3)
        deg = np.asarray(u.degree())
        assert value == int((deg * (deg - 1) // 2).sum())  # bipartite: paths of length 2
    with4 = topometrics.per_layer(model, masks, metrics=["motif4"], encodings=("rolled",))
    assert "rolled_motif4" in with4.columns


def test_motif3_with_triangles_matches_igraph():
    rng = np.random.default_rng(0)
    src, dst = np.nonzero(np.triu(rng.random((30, 30)) < 0.2, 1))
    from encoders.graph import MultipartiteGraph, Partition

    g = MultipartiteGraph(src, dst, np.ones(src.size), np.zeros(src.size, np.int32), [Partition("all", (30,), 0, 30)])
    u = ig.Graph(n=30, edges=np.column_stack([src, dst]).tolist())
    assert u.transitivity_undirected() > 0  # there are triangles
    assert topometrics.motif3(g) == u.motifs_randesu_no(size=3)
    assert topometrics.compute(g, "motif3")["motif3"] == u.motifs_randesu_no(size=3)
    assert math.isclose(topometrics.normalize({"motif3": 10.0}, 5, 20)["motif3"], 0.5)


def test_describe_many_passes_the_conventions_on(pruned):
    """The application layer's one measuring path (metrics / grid --metrics) measures in the conventions asked."""
    from topometrics.workflows import describe_many

    model, masks = pruned
    names = ["n1", "strength", "sink"]
    table = describe_many([(model, masks)], input_shape=SHAPE, metrics=names, conventions="published", progress=False)
    want = topometrics.describe(model, SHAPE, masks, metrics=names, conventions="published")
    ours = topometrics.describe(model, SHAPE, masks, metrics=names)
    row = table.iloc[0]
    assert row["num_nodes"] == want["num_nodes"] == ours["num_nodes"] + 3 * 10 * 10 - 3 * 8 * 8
    for name in names:
        assert row[name] == pytest.approx(want[name]) and row[f"{name}_norm"] == pytest.approx(want[f"{name}_norm"])
    with pytest.raises(InputError, match="conventions"):
        describe_many([(model, masks)], input_shape=SHAPE, conventions="paper", progress=False)
