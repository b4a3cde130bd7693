"""Topometrics of small random MGEs from :func:`encoders.encode` against the networkx reference.

Small convolutions, pooling, residual blocks and high sparsity (dead nodes), so that
every metric meets the encoder's real structures: skip edges (triangles), folded
pooling windows, isolated nodes, several components.
"""

from __future__ import annotations

import igraph as ig
import numpy as np
import pytest
import torch
import torch.nn as nn

import encoders
import pruners
import topometrics
from pruners.models import get_model
from test_topometrics_reference import (
    _undirected_simple,
    assert_metrics_equal,
    brute_connected_4sets,
    reference_metrics,
)


class ConvStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 2, 3, padding=1)
        self.c2 = nn.Conv2d(2, 2, 2, stride=2)
        self.fc = nn.Linear(2 * 2 * 2, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.c2(torch.relu(self.c1(x)))), 1))


class Pooled(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = self.pool(torch.relu(self.c1(x)))
        x = self.gap(torch.relu(self.c2(x)))
        return self.fc(torch.flatten(x, 1))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 3, 3, padding=1)
        self.a = nn.Conv2d(3, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = self.b(torch.relu(self.a(x)))
        return self.fc(torch.flatten(torch.relu(x + y), 1))


def _dense_edges(model, shape):
    return topometrics.dense_num_edges(model, shape)


CASES = [
    (ConvStack, (1, 4, 4), 0.3),
    (ConvStack, (1, 4, 4), 0.8),
    (Pooled, (2, 4, 4), 0.6),
    (Pooled, (2, 4, 4), 0.95),
    (Residual, (1, 4, 4), 0.5),
    (Residual, (1, 4, 4), 0.9),
]


@pytest.mark.parametrize("factory,shape,sparsity", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_encoded_graphs_match_reference(factory, shape, sparsity, seed):
    torch.manual_seed(seed)
    model = factory()
    masks = pruners.prune(model, "uniform", sparsity, random_state=seed)
    graph = encoders.encode(model, shape, masks)
    dense = _dense_edges(model, shape)
    got = topometrics.compute(graph, dense_num_edges=dense)
    small = graph.num_nodes <= 45
    want = reference_metrics(graph, dense_num_edges=dense, motif=small)
    if not small:
        G = ig.Graph(n=graph.num_nodes, edges=np.column_stack([graph.src, graph.dst]).tolist()).simplify()
        want["motif4"] = G.motifs_randesu_no(size=4)
    assert_metrics_equal(got, want)
    # graphlet classes against brute force where affordable
    if small:
        _, classes = brute_connected_4sets(_undirected_simple(graph))
        counts = topometrics.graphlet4_counts(graph)
        assert {k: counts[k] for k in classes} == classes
    assert 0.0 <= got["effective_sparsity"] <= 1.0
    assert got["effective_sparsity"] >= sparsity - 0.2  # at least about the nominal sparsity


def test_residual_graph_has_triangles_and_all_metrics_defined():
    torch.manual_seed(3)
    model = Residual()
    graph = encoders.encode(model, (1, 4, 4))
    counts = topometrics.graphlet4_counts(graph)
    assert counts["triangles"] > 0 and counts["tailed_triangle"] > 0 and counts["diamond"] > 0


@pytest.mark.parametrize("sparsity", [0.8, 0.97])
def test_zoo_resnet_on_a_tiny_input(sparsity):
    """ResNet-20 (identity shortcuts, downsampling, global pooling) at input 3x2x2."""
    torch.manual_seed(0)
    model = get_model("resnet20", 4, (3, 2, 2))
    masks = pruners.prune(model, "uniform", sparsity, random_state=0)
    graph = encoders.encode(model, (3, 2, 2), masks)
    dense = _dense_edges(model, (3, 2, 2))
    got = topometrics.compute(graph, dense_num_edges=dense)
    want = reference_metrics(graph, dense_num_edges=dense, motif=False)
    G = ig.Graph(n=graph.num_nodes, edges=np.column_stack([graph.src, graph.dst]).tolist()).simplify()
    want["motif4"] = G.motifs_randesu_no(size=4)
    assert_metrics_equal(got, want)
    if sparsity > 0.9:
        assert got["disconnected"] > 0 and got["sink"] + got["source"] > 0


def test_dense_num_edges_equals_dense_encoding():
    """The closed-form dense count equals the edge count of the actually encoded dense model."""
    import torch

    from encoders import encode
    from pruners.models import get_model

    for arch in ("resnet20", "conv6"):
        model = get_model(arch, num_classes=10, input_shape=(3, 8, 8))
        ones = {n + ".weight": torch.ones_like(m.weight, dtype=torch.bool) for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
        assert topometrics.dense_num_edges(model, (3, 8, 8)) == encode(model, (3, 8, 8), ones).num_edges
