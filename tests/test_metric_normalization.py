"""The metric registry, :func:`topometrics.normalize`, and the divisors against the published table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import topometrics
from topocore.names import METRIC_CATEGORIES
from topocore.names import PAPER_METRICS as CANONICAL_PAPER_METRICS
from topometrics.registry import BIPARTITE_METRICS, EXTRA_METRICS, PAPER_METRICS


def test_registry_names_and_fields():
    """The registry implements exactly the canonical names of topocore.names, in Table 2 order."""
    assert PAPER_METRICS == CANONICAL_PAPER_METRICS and len(PAPER_METRICS) == 16
    assert list(EXTRA_METRICS) == ["log_paths", "effective_sparsity", "effective_nodes"]
    assert list(topometrics.METRICS) == list(CANONICAL_PAPER_METRICS) + list(EXTRA_METRICS) + ["motif3"]
    assert list(topometrics.DEFAULT_METRICS) == list(CANONICAL_PAPER_METRICS) + list(EXTRA_METRICS)
    for name, m in topometrics.METRICS.items():
        assert m.name == name
        assert m.category in ("local", "neighbor", "strength", "global", "expansion", "paths")
        if name in PAPER_METRICS or name == "motif3":
            assert m.category == METRIC_CATEGORIES[name].lower()
        else:
            assert m.category == "paths"
        assert m.divisor in ("nodes", "edges", None)
        assert m.definition and "\n" not in m.definition
        assert m.complexity.startswith("O(")
        assert callable(m.func)
    # the paper's rolled tables (analysis: BIPARTITE_FEATURES): a layer graph's motifs counted at size 3
    assert list(BIPARTITE_METRICS) == [
        "n1", "motif3", "kcore", "strength", "components", "component_size", "cut_edges", "cut_nodes",
        "spectral_gap", "spectral_radius",
    ]
    assert set(topometrics.BIPARTITE_DEFINABLE) == set(BIPARTITE_METRICS) | {"motif4"}


def test_normalize_dict():
    raw = {"sink": 10, "n1": 5.0, "components": 3, "cut_nodes": 4, "spectral_gap": 2.5, "extra": "x"}
    out = topometrics.normalize(raw, num_nodes=100, num_edges=1000)
    assert out == {"sink": 0.1, "n1": 0.005, "components": 3, "cut_nodes": 0.004, "spectral_gap": 2.5, "extra": "x"}
    assert raw["sink"] == 10  # input untouched
    assert math.isnan(topometrics.normalize({"sink": 1}, 0, 0)["sink"])
    # counts read from the values themselves
    assert topometrics.normalize({"sink": 5, "num_nodes": 10, "num_edges": 20})["sink"] == 0.5
    with pytest.raises(ValueError, match="num_nodes"):
        topometrics.normalize({"sink": 5})
    with pytest.raises(TypeError, match="dict"):
        topometrics.normalize([1, 2], 1, 1)


def test_zero_divisor_is_nan_in_every_form():
    """A graph without nodes / edges: NaN for a scalar, a Series and a DataFrame row alike (never inf)."""
    raw = {"sink": 3, "n1": 2.0, "motif4": 0.0, "components": 1, "num_nodes": 0, "num_edges": 0}
    as_dict = topometrics.normalize(raw)
    as_series = topometrics.normalize(pd.Series(raw, dtype=float))
    frame = pd.DataFrame([raw, {**raw, "num_nodes": 10, "num_edges": 20}])
    as_frame = topometrics.normalize(frame)
    as_frame_scalar = topometrics.normalize(frame.iloc[:1], 0, 0)
    as_frame_arrays = topometrics.normalize(frame, np.array([0, 10]), [0, 20])
    for name in ("sink", "n1", "motif4"):
        assert math.isnan(as_dict[name]) and math.isnan(as_series[name])
        assert math.isnan(as_frame.loc[0, name]) and math.isnan(as_frame_scalar.loc[0, name])
        assert math.isnan(as_frame_arrays.loc[0, name])
        assert as_frame.loc[1, name] == as_frame_arrays.loc[1, name] == topometrics.normalize(
            {name: raw[name]}, 10, 20)[name]
    # a metric without divisor passes through unchanged
    assert as_dict["components"] == as_series["components"] == as_frame.loc[0, "components"] == 1
    assert not np.isinf(as_frame.select_dtypes("number").to_numpy()).any()


def test_normalize_dataframe_and_series():
    df = pd.DataFrame(
        {"checkpoint": ["a", "b"], "num_nodes": [10, 20], "num_edges": [100, 400],
         "sink": [1, 2], "motif4": [1000.0, 800.0], "components": [1, 5]}
    )
    out = topometrics.normalize(df, df["num_nodes"], df["num_edges"])
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(df.columns)
    assert out["sink"].tolist() == [0.1, 0.1]
    assert out["motif4"].tolist() == [10.0, 2.0]
    assert out["components"].tolist() == [1, 5] and out["checkpoint"].tolist() == ["a", "b"]
    assert df["sink"].tolist() == [1, 2]  # input untouched
    by_name = topometrics.normalize(df, "num_nodes", "num_edges")
    pd.testing.assert_frame_equal(by_name, out)
    pd.testing.assert_frame_equal(topometrics.normalize(df), out)
    layers = pd.DataFrame({"rolled_n1": [4.0], "rolled_components": [2], "rolled_num_nodes": [8], "rolled_num_edges": [16],
                           "n1": [4.0]})
    scaled = topometrics.normalize(layers, "rolled_num_nodes", "rolled_num_edges", prefix="rolled_")
    assert scaled.loc[0, "rolled_n1"] == 0.25 and scaled.loc[0, "rolled_components"] == 2 and scaled.loc[0, "n1"] == 4.0
    row = topometrics.normalize(df.iloc[1])
    assert isinstance(row, pd.Series) and row["sink"] == 0.1 and row["motif4"] == 2.0


@pytest.fixture(scope="module")
def published(reference_dir):
    path = reference_dir / "mge-snn" / "graph_data" / "graph_metrics" / "unrolled" / "unrolled.csv"
    if not path.exists():
        pytest.skip(f"published table not found at {path}")
    return pd.read_csv(path)


# published column -> our metric name
PUBLISHED = {
    "sink_nodes": "sink", "source_nodes": "source", "disc_nodes": "disconnected", "r-out": "r_in",
    "r-in": "r_out", "2-hop_nei": "n2", "cut-edges": "cut_edges", "motif": "motif4",
    "no_connected_components": "components", "mean_connected_components": "component_size",
    "avg_node_strength": "strength", "1-hop_nei": "n1", "cut-nodes": "cut_nodes", "k-core": "kcore",
    "spectral_gap": "spectral_gap", "spectral_radius": "spectral_radius",
}


def _integral(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.abs(x - np.round(x)) < 1e-6 * np.maximum(1.0, np.abs(x))


def test_published_table_maps_onto_the_16_metrics(published):
    assert sorted(PUBLISHED.values()) == sorted(PAPER_METRICS)
    assert set(PUBLISHED) <= set(published.columns)


def test_published_r_columns_are_swapped(published):
    """Published ``r-out`` is our ``r_in`` (in-degrees of sinks) and ``r-in`` our ``r_out`` (out-degrees of
    sources): on every row ``r-out`` > 0 exactly when there are sink nodes and ``r-in`` > 0 exactly when
    there are source nodes, while the other pairing fails on dozens of rows (the few rows where these
    columns are missing are left out)."""
    from analysis.names import UNROLLED_COLUMN_MAP

    assert UNROLLED_COLUMN_MAP["r-out"] == PUBLISHED["r-out"] == "r_in"
    assert UNROLLED_COLUMN_MAP["r-in"] == PUBLISHED["r-in"] == "r_out"
    t = published.dropna(subset=["r-out", "r-in", "sink_nodes", "source_nodes"])
    assert len(t) > 2300
    # their sink count subtracts every output node, so it is negative (and says nothing) on the 2 rows
    # whose outputs include some without inputs
    t = t[t["sink_nodes"] >= 0]
    assert ((t["r-out"] > 0) == (t["sink_nodes"] > 0)).all()
    assert ((t["r-in"] > 0) == (t["source_nodes"] > 0)).all()
    assert ((t["r-in"] > 0) != (t["sink_nodes"] > 0)).sum() > 50
    assert ((t["r-out"] > 0) != (t["source_nodes"] > 0)).sum() > 50


def test_count_divisors_reproduce_published_integers(published):
    """A count divided by the right size, multiplied back, is an integer on every row."""
    for col, name in PUBLISHED.items():
        divisor = topometrics.METRICS[name].divisor
        if name in ("sink", "source", "disconnected", "cut_edges", "cut_nodes"):
            rows = published[published[col] > 0]
            size = rows["nodes"] if divisor == "nodes" else rows["edges"]
            other = rows["edges"] if divisor == "nodes" else rows["nodes"]
            assert _integral(rows[col] * size).all(), name
            assert _integral(rows[col] * other).mean() < 0.6, name
        if name in ("r_out", "r_in"):  # already a fraction of E: value * E is a count
            rows = published[published[col] > 0]
            assert divisor is None and _integral(rows[col] * rows["edges"]).all()
        if name == "components":
            assert divisor is None and _integral(published[col]).all()


def test_identities_in_published_table(published):
    n, e = published["nodes"].astype(float), published["edges"].astype(float)
    # n1: the official value counts the node itself: (1 + E/N) / E
    assert topometrics.METRICS["n1"].divisor == "edges"
    np.testing.assert_allclose(published["1-hop_nei"], (1 + e / n) / e, rtol=1e-9)
    # component_size = N / components, divided by N
    assert topometrics.METRICS["component_size"].divisor == "nodes"
    np.testing.assert_allclose(published["mean_connected_components"], 1 / published["no_connected_components"], rtol=1e-9)


def test_mean_metrics_are_divided_by_edges(published):
    """n2 / kcore: the node-normalised reading would put them below bounds they must satisfy."""
    n, e = published["nodes"].astype(float), published["edges"].astype(float)
    # n2 >= n1 = E / N: only division by E is compatible
    n1 = e / n
    assert ((published["2-hop_nei"] * e) >= n1).all()
    assert ((published["2-hop_nei"] * n) < n1).mean() > 0.8  # the node-normalised reading breaks it
    for name in ("n2", "kcore", "strength", "motif4"):
        assert topometrics.METRICS[name].divisor == "edges"
    # value * E for k-core grows with density (mean core number); value * N stays near 1
    dense = published[published["sparsity"] == 0.6]
    sparse = published[published["sparsity"] == 0.98]
    assert (dense["k-core"] * dense["edges"]).median() > 5 * (sparse["k-core"] * sparse["edges"]).median()
    assert 0.9 < (published["k-core"] * published["nodes"]).median() < 1.5
