"""topometrics.describe / describe_graph: one Series per network, checked against the pieces and networkx."""

from __future__ import annotations

import math
import subprocess
import sys

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

import encoders
import pruners
import topometrics
from pruners.models import get_model
from topocore.errors import InputError
from topometrics.describe import ROLLED_BASELINES, SIZE_FIELDS


def assert_same(a: float, b: float) -> None:
    if isinstance(b, float) and math.isnan(b):
        assert math.isnan(a)
    else:
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12)


# ----------------------------------------------------------------------------- zoo model against the pieces


@pytest.fixture(scope="module")
def zoo():
    torch.manual_seed(0)
    model = get_model("resnet20", 10, (3, 4, 4))
    masks = pruners.prune(model, "uniform", 0.8, random_state=0)
    return model, (3, 4, 4), masks


def test_describe_equals_encode_compute_normalize_count_edges(zoo):
    model, shape, masks = zoo
    s = topometrics.describe(model, shape, masks)
    names = list(topometrics.DEFAULT_METRICS)
    assert list(s.index) == [*SIZE_FIELDS, *names, *(f"{n}_norm" for n in names)]
    assert s.name is None and s.dtype == np.float64

    graph = encoders.encode(model, shape, masks)
    ones = {name: torch.ones_like(m) for name, m in masks.items()}
    dense = encoders.count_edges(model, shape, ones)
    assert (s["num_nodes"], s["num_edges"], s["dense_num_edges"]) == (graph.num_nodes, graph.num_edges, dense)

    # achieved sparsity straight from the masks
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    per_layer = [1 - int(m.sum()) / m.numel() for m in masks.values()]
    assert_same(s["sparsity"], 1 - kept / total)
    assert_same(s["layer_sparsity_min"], min(per_layer))
    assert_same(s["layer_sparsity_mean"], float(np.mean(per_layer)))
    assert_same(s["layer_sparsity_max"], max(per_layer))

    raw = topometrics.compute(graph, dense_num_edges=dense)
    norm = topometrics.normalize(raw, graph.num_nodes, graph.num_edges)
    for name in names:
        assert_same(s[name], raw[name])
        assert_same(s[f"{name}_norm"], norm[name])


def test_describe_graph_matches_describe(zoo, tmp_path):
    model, shape, masks = zoo
    names = ["sink", "n1", "components", "effective_sparsity"]
    want = topometrics.describe(model, shape, masks, metrics=names)
    graph = encoders.encode(model, shape, masks)
    dense = int(want["dense_num_edges"])
    pd.testing.assert_series_equal(topometrics.describe_graph(graph, metrics=names, dense_num_edges=dense), want)
    path = graph.save(tmp_path / "g.npz")
    pd.testing.assert_series_equal(topometrics.describe_graph(path, metrics=names, dense_num_edges=dense), want)
    graph.meta["dense_num_edges"] = dense
    pd.testing.assert_series_equal(topometrics.describe_graph(graph, metrics=names), want)


def test_describe_graph_without_dense_count_says_so(zoo):
    model, shape, masks = zoo
    graph = encoders.encode(model, shape, masks)
    with pytest.warns(topometrics.MissingDenseCountWarning):
        s = topometrics.describe_graph(graph, metrics=["effective_sparsity", "sink"])
    assert math.isnan(s["dense_num_edges"]) and math.isnan(s["effective_sparsity"])
    assert s["sink"] == topometrics.compute(graph, ["sink"])["sink"]


# ----------------------------------------------------------------------------- hand-made model against networkx


def hand_made():
    """Linear(4, 3) -> ReLU -> Linear(3, 2) with masks giving a sink, a source and an isolated input."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    m1 = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)  # hidden 2 gets nothing
    m2 = torch.tensor([[1, 0, 1], [1, 0, 0]], dtype=torch.bool)  # hidden 1 feeds nothing
    return model, {"0.weight": m1, "2.weight": m2}


def networkx_graph(model, masks) -> nx.DiGraph:
    """The MGE built by hand: inputs 0..3, hidden 4..6, outputs 7..8, edge i -> j iff W[j, i] is kept."""
    g = nx.DiGraph()
    g.add_nodes_from(range(9))
    for (name, mask), (src_off, dst_off) in zip(masks.items(), [(0, 4), (4, 7)]):
        w = model.get_parameter(name).detach()
        for j, i in zip(*np.nonzero(mask.numpy())):
            g.add_edge(src_off + int(i), dst_off + int(j), weight=abs(float(w[j, i])))
    return g


def test_hand_made_model_against_networkx():
    model, masks = hand_made()
    s = topometrics.describe(model, (4,), masks)
    g = networkx_graph(model, masks)
    u = g.to_undirected()
    n, e = g.number_of_nodes(), g.number_of_edges()
    assert (s["num_nodes"], s["num_edges"], s["dense_num_edges"]) == (n, e, 4 * 3 + 3 * 2)
    assert s["sparsity"] == pytest.approx(1 - e / 18)
    assert s["layer_sparsity_min"] == pytest.approx(1 - 3 / 6) and s["layer_sparsity_max"] == pytest.approx(1 - 3 / 12)
    last = {7, 8}
    sinks = [v for v in g if v not in last and g.out_degree(v) == 0 and g.in_degree(v) > 0]
    sources = [v for v in g if v >= 4 and g.in_degree(v) == 0 and g.out_degree(v) > 0]
    assert sinks == [5] and sources == [6]  # the masks were chosen for this
    assert s["sink"] == len(sinks) and s["source"] == len(sources)
    assert s["disconnected"] == sum(1 for v in g if g.degree(v) == 0)
    assert s["components"] == nx.number_weakly_connected_components(g)
    assert s["cut_edges"] == len(list(nx.bridges(u)))
    assert s["cut_nodes"] == len(list(nx.articulation_points(u)))
    assert s["kcore"] == pytest.approx(np.mean(list(nx.core_number(u).values())))
    strength = np.mean([sum(d["weight"] for _, _, d in g.in_edges(v, data=True)) for v in g])
    assert s["strength"] == pytest.approx(strength, rel=1e-6)
    # divisors of the paper's footnote 7: sink by nodes, cut_edges by edges, components unchanged
    assert s["sink_norm"] == pytest.approx(len(sinks) / n)
    assert s["cut_edges_norm"] == pytest.approx(s["cut_edges"] / e)
    assert s["components_norm"] == s["components"]


def test_selection_flags_and_threads():
    model, masks = hand_made()
    s = topometrics.describe(model, (4,), masks, metrics="n1,sink", normalized=False)
    assert list(s.index) == [*SIZE_FIELDS, "n1", "sink"]
    one = topometrics.describe(model, (4,), masks, metrics=["n1", "spectral_gap"], n_threads=1)
    assert list(one.index) == [*SIZE_FIELDS, "n1", "spectral_gap", "n1_norm", "spectral_gap_norm"]
    pd.testing.assert_series_equal(one, topometrics.describe(model, (4,), masks, metrics=["n1", "spectral_gap"], n_threads=-1))


@pytest.mark.parametrize("kwargs, match", [
    ({"metrics": ["nope"]}, "unknown metric"),
    ({"metrics": []}, "no metric"),
    ({"normalized": "yes"}, "normalized must be True or False"),
    ({"rolled": 1}, "rolled must be True or False"),
    ({"n_threads": 0}, "n_threads"),
])
def test_bad_arguments_are_input_errors(kwargs, match):
    model, masks = hand_made()
    with pytest.raises(InputError, match=match):
        topometrics.describe(model, (4,), masks, **kwargs)


def test_bad_masks_and_shapes_are_input_errors():
    model, masks = hand_made()
    with pytest.raises(InputError, match="0.5"):
        topometrics.describe(model, (4,), {"0.weight": torch.full((3, 4), 0.5)})
    with pytest.raises(InputError, match="input features"):
        topometrics.describe(model, (5,), masks)
    with pytest.raises(TypeError, match="MultipartiteGraph"):
        topometrics.describe_graph(model)


# ----------------------------------------------------------------------------- rolled baselines


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 6, 3)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2)
        self.fc = nn.Linear(8 * 2 * 2, 5)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


def test_rolled_baselines_are_the_per_layer_means():
    torch.manual_seed(2)
    model = SmallCNN()
    masks = pruners.prune(model, "uniform", 0.5, random_state=3)
    names = ["sink", "n1", "motif4", "spectral_gap"]
    s = topometrics.describe(model, (2, 7, 7), masks, metrics=names, rolled=True)
    bipartite = ["n1", "motif3", "spectral_gap"]  # sink needs consecutive layers; a layer's motifs have size 3
    rolled = [*ROLLED_BASELINES, *(f"rolled_{n}" for n in bipartite)]
    assert list(s.index) == [*SIZE_FIELDS, *names, *(f"{n}_norm" for n in names), *rolled]
    table = topometrics.per_layer(model, masks, metrics=bipartite, encodings=("rolled",))
    for column in rolled:
        assert_same(s[column], float(table[column].mean(skipna=True)))
    assert s["layer_density"] == pytest.approx(np.mean([float(m.float().mean()) for m in masks.values()]))
    plain = topometrics.describe(model, (2, 7, 7), masks, metrics=names)
    pd.testing.assert_series_equal(s[plain.index], plain)
    # "baselines": the four baselines only, equal to those of rolled=True
    base = topometrics.describe(model, (2, 7, 7), masks, metrics=names, rolled="baselines")
    assert list(base.index) == [*plain.index, *ROLLED_BASELINES]
    pd.testing.assert_series_equal(base, s[base.index])
    with pytest.raises(InputError, match="rolled must be True or False"):
        topometrics.describe(model, (2, 7, 7), masks, metrics=names, rolled="all")


def test_inexact_motif4_is_the_sampled_estimate():
    torch.manual_seed(2)
    model = SmallCNN()
    masks = pruners.prune(model, "uniform", 0.5, random_state=3)
    s = topometrics.describe(model, (2, 7, 7), masks, metrics=["motif4", "n1"], exact=False, motif_sample=0.5,
                             random_state=4)
    graph = encoders.encode(model, (2, 7, 7), masks)
    want = topometrics.motif4_estimate(graph, 0.5, 4).estimate
    assert_same(s["motif4"], float(want))
    assert_same(s["n1"], topometrics.compute(graph, ["n1"])["n1"])
    g = topometrics.describe_graph(graph, metrics=["motif4"], exact=False, motif_sample=0.5, random_state=4)
    assert_same(g["motif4"], float(want))


# ----------------------------------------------------------------------------- export


def test_lazy_export_survives_importing_the_submodule():
    code = (
        "import topometrics.describe, topometrics, types\n"
        "from topometrics.describe import describe_graph\n"
        "assert isinstance(topometrics.describe, types.FunctionType), topometrics.describe\n"
        "assert topometrics.describe.__module__ == 'topometrics.describe'\n"
        "assert topometrics.describe_graph is describe_graph\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert callable(topometrics.describe) and callable(topometrics.describe_graph)


def test_layer_sparsity_unknown_for_graphs_without_layer_masks():
    bg = encoders.BipartiteGraph("l", "linear", "rolled", 3, 2, np.array([0, 1]), np.array([0, 1]), np.ones(2), 1 / 3)
    s = topometrics.describe_graph(bg.to_multipartite(), metrics=["n1"])
    assert s["num_edges"] == 2 and math.isnan(s["sparsity"]) and math.isnan(s["layer_sparsity_mean"])
