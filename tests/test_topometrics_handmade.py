"""Hand-made graphs with answers worked out on paper, and degenerate graphs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import topometrics
from encoders.graph import MultipartiteGraph
from test_topometrics_reference import make_graph, reference_metrics

SQRT2 = math.sqrt(2.0)


def check(g, expected: dict, **kwargs):
    got = topometrics.compute(g, list(expected), **kwargs)
    for name, want in expected.items():
        if isinstance(want, float) and math.isnan(want):
            assert math.isnan(got[name]), name
        else:
            assert got[name] == pytest.approx(want, rel=1e-9, abs=1e-12), name


def test_path():
    # a -> b -> c -> d, one node per partition, unit weights
    g = make_graph([1, 1, 1, 1], [0, 1, 2], [1, 2, 3])
    golden = (1 + math.sqrt(5)) / 2
    check(
        g,
        {
            "sink": 0, "source": 0, "disconnected": 0, "r_out": 0.0, "r_in": 0.0,
            "n1": 3 / 4, "n2": (2 + 2 + 1 + 0) / 4, "motif4": 1, "kcore": 1.0, "strength": 3 / 4,
            "components": 1, "component_size": 4.0, "cut_edges": 3, "cut_nodes": 2,
            # P4: eigenvalues +-golden, +-1/golden; Laplacian max 2 + sqrt(2)
            "spectral_gap": golden - 1 / golden, "spectral_radius": 2 + SQRT2,
            "log_paths": 0.0, "effective_nodes": 1.0,
        },
    )
    assert topometrics.graphlet4_counts(g)["path"] == 1


def test_star():
    # centre in the input partition, three leaves in the output partition, weights 1, -2, 3
    g = make_graph([1, 3], [0, 0, 0], [1, 2, 3], [1.0, -2.0, 3.0])
    check(
        g,
        {
            "sink": 0, "source": 0, "disconnected": 0, "n1": 3 / 4, "n2": 3 / 4, "motif4": 1,
            "kcore": 1.0, "strength": 6 / 4, "components": 1, "cut_edges": 3, "cut_nodes": 1,
            # weighted star: eigenvalues +-sqrt(1 + 4 + 9), 0, 0
            "spectral_gap": math.sqrt(14.0), "log_paths": math.log(3), "effective_nodes": 1.0,
        },
    )
    assert topometrics.graphlet4_counts(g)["star"] == 1
    # unit-weight star K_{1,3}: Laplacian eigenvalues 0, 1, 1, 4
    check(make_graph([1, 3], [0, 0, 0], [1, 2, 3]), {"spectral_radius": 4.0, "spectral_gap": math.sqrt(3.0)})


def test_four_cycle():
    # a -> b, a -> c, b -> d, c -> d
    g = make_graph([1, 2, 1], [0, 0, 1, 2], [1, 2, 3, 3])
    check(
        g,
        {
            "n1": 1.0, "n2": (3 + 1 + 1 + 0) / 4, "motif4": 1, "kcore": 2.0, "components": 1,
            "cut_edges": 0, "cut_nodes": 0, "spectral_gap": 2.0, "spectral_radius": 4.0,
            "log_paths": math.log(2), "effective_nodes": 1.0,
        },
    )
    assert topometrics.graphlet4_counts(g)["cycle"] == 1


def test_triangle_with_a_tail():
    # a -> b -> c with the shortcut a -> c, then c -> d
    g = make_graph([1, 1, 1, 1], [0, 1, 0, 2], [1, 2, 2, 3])
    check(
        g,
        {
            "n2": (3 + 2 + 1 + 0) / 4, "motif4": 1, "kcore": (2 + 2 + 2 + 1) / 4, "components": 1,
            "cut_edges": 1, "cut_nodes": 1, "log_paths": math.log(2),
        },
    )
    counts = topometrics.graphlet4_counts(g)
    assert counts["tailed_triangle"] == 1 and counts["triangles"] == 1
    assert sum(v for k, v in counts.items() if k != "triangles") == 1


def test_sink_source_disconnected_and_effective():
    # P0 = {x0, x1}; P1 = {h0, h1, h2, h3}; P2 = {y}
    # x0 -> h0 -> y (a live path); x1 -> h1 (h1 is a sink); h2 -> y (h2 is a source); h3 isolated
    x0, x1, h0, h1, h2, h3, y = range(7)
    g = make_graph([2, 4, 1], [x0, h0, x1, h2], [h0, y, h1, y])
    dense = 2 * 4 + 4 * 1
    check(
        g,
        {
            "sink": 1, "source": 1, "disconnected": 1, "r_out": 1 / 4, "r_in": 1 / 4,
            "effective_nodes": 3 / 7, "effective_sparsity": 1 - 2 / dense, "log_paths": 0.0,
            "components": 3,
        },
        dense_num_edges=dense,
    )
    # the meta entry works as well as the argument
    g.meta["dense_num_edges"] = dense
    assert topometrics.compute(g, ["effective_sparsity"])["effective_sparsity"] == pytest.approx(1 - 2 / dense)


def test_effective_sparsity_needs_the_dense_count():
    g = make_graph([1, 1], [0], [1])
    with pytest.warns(topometrics.MissingDenseCountWarning, match="dense_num_edges"):
        assert math.isnan(topometrics.effective_sparsity(g))
    with pytest.raises(ValueError, match="smaller than"):
        topometrics.effective_sparsity(make_graph([1, 2], [0, 0], [1, 2]), dense_num_edges=1)
    with pytest.raises(ValueError, match="positive"):
        topometrics.effective_sparsity(g, dense_num_edges=0)


def test_log_paths_large_counts_do_not_overflow():
    # 60 layers of 4 nodes, complete bipartite between consecutive ones: 4 * 4^59 paths
    sizes = [4] * 60
    src, dst = [], []
    for i in range(59):
        for a in range(4):
            for b in range(4):
                src.append(4 * i + a)
                dst.append(4 * (i + 1) + b)
    g = make_graph(sizes, src, dst)
    assert topometrics.log_paths(g) == pytest.approx(60 * math.log(4), rel=1e-12)


def test_log_paths_follows_a_topological_order_when_ids_do_not():
    # edges go backwards in id order inside the middle partition: 1 -> 3 -> 2 -> 4
    g = make_graph([2, 2, 1], [0, 3, 2, 1], [3, 2, 4, 4])
    assert topometrics.log_paths(g) == pytest.approx(math.log(reference_paths(g)))
    cyclic = make_graph([1, 2], [1, 2], [2, 1])
    with pytest.raises(ValueError, match="cycle"):
        topometrics.log_paths(cyclic)


def reference_paths(g):
    ref = reference_metrics(g, motif=False)
    return math.exp(ref["log_paths"])


def test_no_edges():
    g = make_graph([3, 2, 2], [], [])
    n = 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", topometrics.MissingDenseCountWarning)
        got = topometrics.compute(g)
    assert got == pytest.approx(
        {
            "sink": 0, "source": 0, "disconnected": n, "r_out": 0.0, "r_in": 0.0, "n1": 0.0, "n2": 0.0,
            "motif4": 0, "kcore": 0.0, "strength": 0.0, "components": n, "component_size": 1.0,
            "cut_edges": 0, "cut_nodes": 0, "spectral_gap": 0.0, "spectral_radius": 0.0,
            "log_paths": -math.inf, "effective_sparsity": math.nan, "effective_nodes": 0.0,
        },
        nan_ok=True,
    )


def test_one_partition():
    # a single partition is both input and output: no sinks/sources; nodes are length-0 paths
    g = make_graph([3], [0, 1], [1, 2], [0.5, -0.5])
    check(
        g,
        {
            "sink": 0, "source": 0, "disconnected": 0, "n1": 2 / 3, "n2": 1.0, "components": 1,
            "cut_edges": 2, "cut_nodes": 1, "log_paths": math.log(3 + 2 + 1), "effective_nodes": 1.0,
            "spectral_gap": math.sqrt(0.5) - 0.0,
        },
    )


def test_disconnected_network():
    # two chains x0 -> h0 -> y0 and x1 -> h1 -> y1, plus an isolated hidden node
    g = make_graph([2, 3, 2], [0, 2, 1, 3], [2, 5, 3, 6])
    ref = reference_metrics(g, dense_num_edges=12)
    got = topometrics.compute(g, [*topometrics.DEFAULT_METRICS, "motif3"], dense_num_edges=12)
    assert got["motif3"] == 2  # the two chains are the connected 3-node subsets
    assert got["components"] == 3 and got["component_size"] == pytest.approx(7 / 3)
    assert got["cut_edges"] == 4 and got["cut_nodes"] == 2
    assert got["spectral_gap"] == pytest.approx(0.0, abs=1e-12)  # two identical components
    for name, value in ref.items():
        assert got[name] == pytest.approx(value, nan_ok=True), name


def test_single_node_and_empty_graph():
    one = make_graph([1], [], [])
    got = topometrics.compute(one, dense_num_edges=1)
    assert got["components"] == 1 and got["disconnected"] == 1
    assert math.isnan(got["spectral_gap"]) and got["spectral_radius"] == 0.0
    assert got["log_paths"] == 0.0  # the node is a length-0 path from input to output
    empty = MultipartiteGraph(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), [], [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", topometrics.MissingDenseCountWarning)
        got = topometrics.compute(empty)
    assert got["components"] == 0 and got["motif4"] == 0 and got["sink"] == 0
    for name in ("n1", "n2", "kcore", "strength", "component_size", "spectral_gap", "spectral_radius"):
        assert math.isnan(got[name]), name


def test_bipartite_graph_input_is_accepted():
    from encoders.bipartite import BipartiteGraph

    bg = BipartiteGraph("fc", "linear", "rolled", 3, 2, np.array([0, 1, 2]), np.array([0, 0, 1]),
                        np.array([1.0, 2.0, -3.0]), 0.5, "fc.weight")
    got = topometrics.compute(bg, ["n1", "components", "strength"])
    assert got == {"n1": 3 / 5, "components": 2.0, "strength": 6 / 5}


def test_compute_validates_its_arguments():
    g = make_graph([1, 1], [0], [1])
    with pytest.raises(ValueError, match="unknown metric"):
        topometrics.compute(g, ["sink", "nope"])
    with pytest.raises(ValueError, match="no metric"):
        topometrics.compute(g, [])
    with pytest.raises(TypeError, match="MultipartiteGraph"):
        topometrics.compute("graph.npz")
    with pytest.raises(ValueError, match="n_threads"):
        topometrics.compute(g, ["sink"], n_threads=0)
    assert topometrics.compute(g, "n1, sink") == {"n1": 0.5, "sink": 0.0}


def test_compute_timings_and_prepared_graph_reuse():
    g = make_graph([2, 2], [0, 1], [2, 3])
    pg = topometrics.prepare(g)
    timings = {}
    first = topometrics.compute(pg, ["n2", "kcore"], timings=timings)
    assert set(timings) == {"n2", "kcore"} and all(t >= 0 for t in timings.values())
    assert "undirected" in pg.cache  # a caller-owned PreparedGraph keeps its structures
    assert topometrics.compute(pg, ["n2", "kcore"]) == first
