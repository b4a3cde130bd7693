"""The multipartite graphlet path (triangles only through skips) against brute force and the general path.

:func:`topometrics.graphlet4_counts` takes the structured path whenever no edge of U
joins two nodes of one partition (every MGE): triangles, per-edge triangle counts and
4-cliques come from the long ("skip") edges only.  Here random multipartite graphs with
skips of span 2, 3 and 4 (so that 4-cliques occur) are checked against a brute-force
enumeration of all 4-node subsets, against networkx's triangle count, and against the
general path on the same graph.  The renumbering of U into priority order is checked by
the per-node outputs (core numbers, component labels) against networkx.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topometrics
from topometrics import _graphlet_kernels as K
from test_topometrics_reference import _undirected_simple, brute_connected_4sets, make_graph


def random_multipartite(rng, sizes, densities) -> "topometrics.PreparedGraph":
    """Edges from partition i to i + s with probability densities[s - 1] (s = 1, 2, ...)."""
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    src, dst = [], []
    for i in range(len(sizes)):
        for s, p in enumerate(densities, start=1):
            j = i + s
            if j >= len(sizes) or p <= 0:
                continue
            a = np.arange(offsets[i], offsets[i + 1])
            b = np.arange(offsets[j], offsets[j + 1])
            uu, vv = np.meshgrid(a, b, indexing="ij")
            keep = rng.random(uu.shape) < p
            src.append(uu[keep])
            dst.append(vv[keep])
    src = np.concatenate(src) if src else np.zeros(0, np.int64)
    dst = np.concatenate(dst) if dst else np.zeros(0, np.int64)
    flip = rng.random(src.size) < 0.2  # U ignores directions: some edges point backwards
    src, dst = np.where(flip, dst, src), np.where(flip, src, dst)
    return make_graph(sizes, src, dst, rng.normal(size=src.size))


@st.composite
def multipartite(draw, max_parts=6, max_size=4):
    k = draw(st.integers(1, max_parts))
    sizes = draw(st.lists(st.integers(1, max_size), min_size=k, max_size=k))
    densities = [draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))]
    densities += [draw(st.sampled_from([0.0, 0.0, 0.3, 0.8])) for _ in range(3)]
    seed = draw(st.integers(0, 2**32 - 1))
    return random_multipartite(np.random.default_rng(seed), sizes, densities)


def general_path_counts(g, monkeypatch) -> dict:
    with monkeypatch.context() as m:
        m.setattr(K, "crosses_partitions", lambda *args: False)
        return topometrics.graphlet4_counts(topometrics.prepare(g))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=multipartite())
def test_structured_counts_match_brute_force(g):
    U = _undirected_simple(g)
    total, classes = brute_connected_4sets(U)
    got = topometrics.graphlet4_counts(g)
    assert {k: got[k] for k in classes} == classes
    assert got["triangles"] == sum(nx.triangles(U).values()) // 3
    assert topometrics.motif4(g) == total


@pytest.mark.parametrize("seed", range(6))
def test_structured_and_general_paths_agree_on_larger_graphs(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    sizes = list(rng.integers(4, 12, size=7))
    g = random_multipartite(rng, sizes, [0.5, 0.3, 0.25, 0.2])
    pg = topometrics.prepare(g)
    assert K.crosses_partitions(*pg.undirected()[:2], pg.undirected_order()[2], 4)
    structured = topometrics.graphlet4_counts(g, induced=False)
    assert topometrics.graphlet4_counts(g) == general_path_counts(g, monkeypatch)
    assert structured["clique"] > 0 and structured["diamond"] > 0 and structured["triangles"] > 0
    U = _undirected_simple(g)
    assert structured["triangles"] == sum(nx.triangles(U).values()) // 3
    # 4-cycles (non-induced) against the closed-walk identity tr(A^4) = 8 C4 + 2 sum d^2 - 2 m
    A = nx.to_numpy_array(U, nodelist=range(g.num_nodes), weight=None)
    d = A.sum(axis=1)
    walks = np.trace(np.linalg.matrix_power(A.astype(np.int64), 4))
    assert 8 * structured["cycle"] == walks - 2 * int((d**2).sum()) + 2 * int(A.sum() // 2)


def test_bottleneck_skips_make_no_triangle():
    """Skips of span 3 over partitions with no edge to both ends (a bottleneck) give no triangle."""
    rng = np.random.default_rng(1)
    g = random_multipartite(rng, [5, 6, 6, 5, 6, 6, 5], [0.6, 0.0, 0.4])
    counts = topometrics.graphlet4_counts(g)
    assert counts["triangles"] == 0 == counts["diamond"] == counts["clique"] == counts["tailed_triangle"]
    assert counts["triangles"] == sum(nx.triangles(_undirected_simple(g)).values()) // 3


def test_edges_inside_a_partition_take_the_general_path():
    # a triangle inside one partition: no long edge at all
    g = make_graph([3, 1], [0, 1, 0, 0], [1, 2, 2, 3])
    pg = topometrics.prepare(g)
    assert not K.crosses_partitions(*pg.undirected()[:2], pg.undirected_order()[2], 4)
    counts = topometrics.graphlet4_counts(g)
    assert counts["triangles"] == 1 and counts["tailed_triangle"] == 1


def test_per_node_outputs_are_in_graph_ids():
    rng = np.random.default_rng(4)
    g = random_multipartite(rng, [6, 5, 7, 4, 6], [0.3, 0.2])
    U = _undirected_simple(g)
    core = nx.core_number(U)
    np.testing.assert_array_equal(topometrics.core_numbers(g), [core[v] for v in range(g.num_nodes)])
    labels, count = topometrics.global_.component_labels(g)
    assert count == nx.number_connected_components(U)
    for comp in nx.connected_components(U):
        assert len({int(labels[v]) for v in comp}) == 1
    order, rank, part = topometrics.prepare(g).undirected_order()
    np.testing.assert_array_equal(order[rank], np.arange(g.num_nodes))
    np.testing.assert_array_equal(part, g.partition_of(order))
