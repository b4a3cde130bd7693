"""Ramanujan baselines and per-layer metrics on the rolled encodings."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

import encoders
import pruners
import topometrics
from encoders.bipartite import BipartiteGraph
from test_topometrics_reference import assert_metrics_equal, reference_metrics


def bipartite(n_left, n_right, left, right, weight=None, name="fc"):
    left = np.asarray(left)
    weight = np.ones(left.size) if weight is None else np.asarray(weight)
    return BipartiteGraph(name, "linear", "rolled", n_left, n_right, left, np.asarray(right), weight,
                          left.size / (n_left * n_right), f"{name}.weight")


def reference_delta_r(left, right, n_left, n_right, whole_layer=False):
    """Independent: eigenvalues of the full bipartite adjacency of the non-isolated nodes.

    ``whole_layer``: the published rule for a layer's delta_r (any degrees, at least 4
    nodes); else the Ramanujan requirement min(d_L, d_R) >= 3 of the IMDB subgraphs."""
    G = nx.Graph()
    G.add_edges_from((("L", int(a)), ("R", int(b))) for a, b in zip(left, right))
    if G.number_of_edges() == 0:
        return math.nan, math.nan
    lefts = [v for v in G if v[0] == "L"]
    rights = [v for v in G if v[0] == "R"]
    d_l = sum(G.degree(v) for v in lefts) / len(lefts)
    d_r = sum(G.degree(v) for v in rights) / len(rights)
    if (G.number_of_nodes() < 4) if whole_layer else (min(d_l, d_r) < 3):
        return math.nan, math.nan
    ev = np.sort(np.abs(np.linalg.eigvalsh(nx.to_numpy_array(G))))[::-1]
    # +-sigma_1 are the trivial pair; the next magnitude is sigma_2
    bound = math.sqrt(d_l - 1) + math.sqrt(d_r - 1)
    return bound - ev[2], bound


def reference_ramanujan(bg: BipartiteGraph):
    left, right, w = bg.left, bg.right, np.abs(bg.weight.astype(float))
    dr, bound = reference_delta_r(left, right, bg.n_left, bg.n_right, whole_layer=True)
    deg = np.bincount(left, minlength=bg.n_left)
    diffs, ratios, gaps = [], [], []
    for d in sorted(set(deg[deg >= 3].tolist())):
        sel = np.isin(left, np.flatnonzero(deg == d))
        value, b = reference_delta_r(left[sel], right[sel], bg.n_left, bg.n_right)
        if math.isnan(value):
            continue
        diffs.append(value)
        ratios.append(value / b)
        G = nx.Graph()
        for a, c, x in zip(left[sel], right[sel], w[sel]):
            G.add_edge(("L", int(a)), ("R", int(c)), weight=x)
        ev = np.sort(np.abs(np.linalg.eigvalsh(nx.to_numpy_array(G))))[::-1]
        gaps.append(ev[0] - ev[2])
    mean = lambda xs: float(np.mean(xs)) if xs else math.nan  # noqa: E731
    return {
        "delta_r": dr, "delta_r_bound": bound, "delta_r_bound_ratio": dr / bound if bound == bound and bound else math.nan,
        "delta_r_imdb": mean(diffs), "delta_r_imdb_bound_ratio": mean(ratios), "lambda_imsg": mean(gaps),
        "imdb_subgraphs": len(diffs),
    }


def test_complete_bipartite_is_ramanujan():
    # K_{3,4}: d_L = 4, d_R = 3, sigma = (sqrt(12), 0, ...): delta_r = sqrt(3) + sqrt(2)
    left, right = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    w = np.arange(1, 13, dtype=float)
    out = topometrics.ramanujan_metrics(bipartite(3, 4, left.ravel(), right.ravel(), w))
    assert out["delta_r"] == pytest.approx(math.sqrt(3) + math.sqrt(2), abs=1e-9)
    assert out["delta_r_bound_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert out["imdb_subgraphs"] == 1 and out["delta_r_imdb"] == pytest.approx(out["delta_r"])
    s = np.linalg.svd(w.reshape(3, 4), compute_uv=False)
    assert out["lambda_imsg"] == pytest.approx(s[0] - s[1])


def test_sparse_layer_follows_the_published_rule():
    # a matching of 3 edges: every degree 1, bound 0, sigma_2 = 1: delta_r = -1 (published ratio -inf -> NaN)
    out = topometrics.ramanujan_metrics(bipartite(4, 4, [0, 1, 2], [0, 1, 2]))
    assert out["delta_r"] == pytest.approx(-1.0) and out["delta_r_bound"] == 0.0
    assert math.isnan(out["delta_r_bound_ratio"])
    assert all(math.isnan(out[k]) for k in ("delta_r_imdb", "lambda_imsg"))  # IMDB keeps min degree 3
    assert out["imdb_subgraphs"] == 0
    # a star K_{1,3}: 4 nodes, d_L = 3, d_R = 1, rank 1: delta_r = sqrt(2) + 0 - 0, ratio 1 (as published)
    star = topometrics.ramanujan_metrics(bipartite(1, 3, [0, 0, 0], [0, 1, 2]))
    assert star["delta_r"] == pytest.approx(math.sqrt(2)) and star["delta_r_bound_ratio"] == pytest.approx(1.0)
    # fewer than 4 nodes: undefined, as in the published data
    assert math.isnan(topometrics.ramanujan_metrics(bipartite(1, 2, [0, 0], [0, 1]))["delta_r"])
    empty = topometrics.ramanujan_metrics(bipartite(3, 3, [], []))
    assert math.isnan(empty["delta_r"])


@pytest.mark.parametrize("seed", range(6))
def test_ramanujan_matches_reference_on_random_layers(seed):
    rng = np.random.default_rng(seed)
    n_left, n_right = int(rng.integers(6, 40)), int(rng.integers(4, 16))
    mask = rng.random((n_left, n_right)) < rng.uniform(0.2, 0.8)
    left, right = np.nonzero(mask)
    bg = bipartite(n_left, n_right, left, right, rng.normal(size=left.size))
    got = topometrics.ramanujan_metrics(bg)
    want = reference_ramanujan(bg)
    for key, value in want.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-7, abs=1e-9), key


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2)
        self.fc = nn.Linear(8 * 3 * 3, 5)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


def test_per_layer_table_and_aggregate():
    torch.manual_seed(0)
    model = Tiny()
    masks = pruners.prune(model, "uniform", 0.5, random_state=0)
    table = topometrics.per_layer(model, masks)
    assert isinstance(table, pd.DataFrame)
    assert table["layer"].tolist() == ["conv1", "conv2", "fc"]
    assert table["param"].tolist() == ["conv1.weight", "conv2.weight", "fc.weight"]
    for enc in ("rolled", "rolled_channel"):
        for m in topometrics.BIPARTITE_METRICS:
            assert f"{enc}_{m}" in table.columns
        assert f"{enc}_num_nodes" in table.columns and f"{enc}_num_edges" in table.columns
    rolled = encoders.rolled(model, masks)
    channel = encoders.rolled_channel(model, masks)
    for i, (bg, cg) in enumerate(zip(rolled, channel)):
        row = table.iloc[i]
        assert row["layer_density"] == pytest.approx(masks[bg.param].float().mean().item())
        want = reference_ramanujan(bg)
        for key in ("delta_r", "delta_r_imdb", "lambda_imsg", "delta_r_bound_ratio"):
            if math.isnan(want[key]):
                assert math.isnan(row[key])
            else:
                assert row[key] == pytest.approx(want[key], rel=1e-7, abs=1e-9), (bg.name, key)
        for enc, graph in (("rolled", bg), ("rolled_channel", cg)):
            ref = reference_metrics(graph.to_multipartite())
            got = {m: row[f"{enc}_{m}"] for m in topometrics.BIPARTITE_METRICS}
            assert_metrics_equal(got, {k: v for k, v in ref.items() if k in got})
    from topocore.tables import aggregate_layers

    assert topometrics.aggregate_layers is aggregate_layers  # one function for the whole toolkit
    frame = topometrics.aggregate_layers(table)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 1 and frame.loc[0, "num_layers"] == 3
    agg = frame.iloc[0]
    assert agg["layer_density"] == pytest.approx(table["layer_density"].mean())
    defined = table["delta_r"].dropna()
    if len(defined):
        assert agg["delta_r"] == pytest.approx(defined.mean())
    else:
        assert math.isnan(agg["delta_r"])
    assert "layer" not in agg


def test_per_layer_options_and_errors():
    model = Tiny()
    t = topometrics.per_layer(model, metrics=None, encodings=("rolled",))
    assert not any(c.startswith("rolled_channel") for c in t.columns)
    assert "rolled_n1" not in t.columns and "delta_r" in t.columns
    with pytest.raises(ValueError, match="not definable"):
        topometrics.per_layer(model, metrics=["n2"])
    with pytest.raises(ValueError, match="unknown encoding"):
        topometrics.per_layer(model, encodings=("unrolled",))
    with pytest.raises(ValueError, match="DataFrame"):
        topometrics.aggregate_layers({"a": [1]})
