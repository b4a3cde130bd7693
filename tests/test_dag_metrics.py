"""topometrics.dag: macro metrics of block graphs against networkx, brute force and exact arithmetic."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topometrics
from topocore import names
from topocore.errors import InputError
from topometrics import dag


@st.composite
def random_dags(draw):
    """A DAG on 2..9 nodes (edges j -> i, j < i) with a path from 0 to n-1; some nodes may be dead."""
    n = draw(st.integers(2, 9))
    pairs = [(j, i) for i in range(1, n) for j in range(i)]
    keep = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(e for e, k in zip(pairs, keep) if k)
    inner = draw(st.lists(st.integers(1, n - 2), max_size=n, unique=True)) if n > 2 else []
    path = [0, *sorted(inner), n - 1]
    g.add_edges_from(zip(path[:-1], path[1:]))
    return g


def _paths(g):
    return list(nx.all_simple_paths(g, 0, max(g.nodes)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags())
def test_path_statistics_against_enumeration(g):
    t = max(g.nodes)
    paths = _paths(g)
    lengths = [len(p) - 1 for p in paths]
    assert dag.log_paths(g, 0, t) == pytest.approx(math.log(len(paths)), abs=1e-12)
    assert dag.mean_path(g, 0, t) == pytest.approx(np.mean(lengths), rel=1e-12)
    assert dag.max_path(g, 0, t) == max(lengths)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags())
def test_connectivity_degree_and_communicability_against_networkx(g):
    t = max(g.nodes)
    assert dag.edge_connectivity(g, 0, t) == nx.edge_connectivity(g, 0, t)
    assert dag.mean_degree(g, 0, t) == pytest.approx(np.mean([d for _, d in g.degree()]))
    comm = nx.communicability(g.to_undirected())[0][t]  # eigen-expansion: accurate for these small graphs
    assert dag.ln_communicability(g, 0, t) == pytest.approx(math.log(comm), abs=1e-6)


def test_communicability_is_exact_where_the_eigen_expansion_cancels():
    """On a 30-node chain G(0, 29) ~ 1/29! ~ 1e-31: far below exp(lambda_max) * 1e-16."""
    import mpmath

    mpmath.mp.dps = 80
    chain = nx.path_graph(30, create_using=nx.DiGraph)
    a = mpmath.matrix(nx.to_numpy_array(chain.to_undirected()).tolist())
    exact = float(mpmath.log(mpmath.expm(a)[0, 29]))
    assert dag.ln_communicability(chain) == pytest.approx(exact, abs=1e-10)
    assert exact == pytest.approx(-math.lgamma(30), abs=0.05)  # dominated by the single shortest walk


def test_complete_dag_of_60_nodes_by_hand():
    g = nx.DiGraph([(j, i) for i in range(60) for j in range(i)])
    assert g.number_of_edges() == 1770
    assert dag.log_paths(g) == pytest.approx(58 * math.log(2))  # any subset of the 58 inner nodes
    assert dag.mean_path(g) == pytest.approx(30.0)  # 1 + 58 / 2
    assert dag.max_path(g) == 59
    assert dag.edge_connectivity(g) == 59  # the input's out-degree
    assert dag.mean_degree(g) == 59
    assert dag.pca_elongation(g) < 0.05  # Janik & Nowak: the complete DAG has pca_elongation 0
    assert dag.q1d(g) is False


def test_exact_path_count_beyond_float_range():
    # 1100 layers of two parallel nodes: 2**1100 paths, more than a float64 can hold
    g = nx.DiGraph()
    prev = ["s"]
    for layer in range(1100):
        cur = [(layer, 0), (layer, 1)]
        g.add_edges_from((p, c) for p in prev for c in cur)
        prev = cur
    g.add_edges_from((p, "t") for p in prev)
    assert dag.log_paths(g) == pytest.approx(1100 * math.log(2))


def test_pca_elongation_range_chain_and_seed():
    chain = nx.path_graph(12, create_using=nx.DiGraph)
    assert dag.pca_elongation(chain) > 0.95
    star = nx.DiGraph([(0, i) for i in range(1, 9)] + [(i, 9) for i in range(1, 9)])
    v0 = dag.pca_elongation(star, init="random", random_state=0)
    assert 0.0 <= v0 <= 1.0
    assert dag.pca_elongation(star, init="random", random_state=0) == v0  # seeded
    assert dag.pca_elongation(star) == dag.pca_elongation(star)  # the circular start is deterministic
    with pytest.raises(InputError, match="init"):
        dag.pca_elongation(star, init="spiral")
    ladder = nx.DiGraph([(i, i + 1) for i in range(11)] + [(i, i + 2) for i in range(10)])
    assert dag.q1d(ladder) == (dag.pca_elongation(ladder) > 0.25 and dag.edge_connectivity(ladder) > 1)
    assert dag.q1d(ladder) is True  # a long, 2-connected strip is quasi-one-dimensional


def test_compute_returns_all_metrics_and_stage_counts():
    g = nx.DiGraph([(0, 1), (0, 2), (1, 2), (2, 3), (1, 3)])
    nx.set_node_attributes(g, {0: 0, 1: 0, 2: 1, 3: 1}, "stage")
    out = dag.compute(g)
    assert list(out)[: len(dag.METRICS)] == list(dag.METRICS)
    assert out["num_nodes"] == 4 and out["num_edges"] == 5
    assert (out["nodes_stage0"], out["nodes_stage1"]) == (2, 2)
    assert (out["edges_stage0"], out["edges_stage1"]) == (1, 4)  # edges counted in their target's stage
    assert out["q1d"] == (out["pca_elongation"] > 0.25 and out["edge_connectivity"] > 1)
    assert dag.compute(g, metrics=["log_paths"]) == {"log_paths": math.log(3), **dag.stage_counts(g)}


@pytest.mark.parametrize("graph, match", [
    (nx.DiGraph([(0, 1), (1, 2), (2, 0)]), "cyclic"),
    (nx.DiGraph([(0, 2), (1, 2)]), "in-degree 0"),
    (nx.DiGraph([(0, 1), (0, 2)]), "out-degree 0"),
    (nx.Graph([(0, 1)]), "DiGraph"),
    (nx.DiGraph([(0, 0)]), "node"),
])
def test_bad_graphs_are_refused(graph, match):
    with pytest.raises(InputError, match=match):
        dag.compute(graph)


def test_bad_endpoints_are_refused():
    g = nx.DiGraph([(0, 1), (2, 3)])
    with pytest.raises(InputError, match="no path"):
        dag.log_paths(g, 0, 3)
    with pytest.raises(InputError, match="not in the block graph"):
        dag.log_paths(g, 0, 9)
    with pytest.raises(InputError, match="same node"):
        dag.log_paths(g, 0, 0)
    with pytest.raises(InputError, match="unknown macro metric"):
        dag.compute(nx.DiGraph([(0, 1)]), metrics=["sink"])


def test_registry_is_its_own_category_and_matches_the_names():
    assert tuple(dag.METRICS) == names.MACRO_METRICS
    assert {m.category for m in dag.METRICS.values()} == {"macro"}
    assert all(m.category != "macro" for m in topometrics.METRICS.values())
    assert not set(dag.METRICS) & set(names.PAPER_METRICS)
    for m in dag.METRICS.values():  # networkx-style docstrings: definition, complexity, reference
        doc = m.func.__doc__
        assert "Complexity" in doc and "Reference" in doc, m.name


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags())
def test_pca_elongation_is_the_first_component_of_scikit_learns_pca_of_the_layout(g):
    """2 (V1 - 1/2) with V1 scikit-learn's explained-variance ratio on networkx's Kamada-Kawai positions."""
    from sklearn.decomposition import PCA

    und = nx.Graph(g.to_undirected())
    pos = nx.kamada_kawai_layout(und, pos=nx.circular_layout(und), weight=None)
    xy = np.array([pos[n] for n in und.nodes])
    value = dag.pca_elongation(g, 0, max(g.nodes))
    if np.allclose(xy, xy[0]):
        assert value == 0.0
        return
    v1 = PCA(n_components=2).fit(xy).explained_variance_ratio_[0]
    assert value == pytest.approx(2 * (v1 - 0.5), abs=1e-9)
    assert 0.0 <= value <= 1.0 + 1e-12
