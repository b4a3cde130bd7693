"""Every topometric against a slow, independent reference written with networkx / brute force.

The reference functions here share no code with :mod:`topometrics`: they build a
networkx (multi)digraph from the edge list and follow the definitions literally
(brute force over all 4-node subsets for ``motif4``, path enumeration for
``log_paths``, dense LAPACK eigenvalues for the spectral metrics).  Other test
modules import :func:`reference_metrics` and the graph builders.
"""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topometrics
from encoders.graph import LayerInfo, MultipartiteGraph, concat_partitions
from topometrics import expansion

# ----------------------------------------------------------------- builders


def make_graph(sizes, src, dst, weight=None, meta=None) -> MultipartiteGraph:
    """A MultipartiteGraph with flat partitions of the given sizes."""
    parts = concat_partitions([(f"p{i}", (int(s),)) for i, s in enumerate(sizes)])
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if weight is None:
        weight = np.ones(src.size)
    layers = [LayerInfo(f"l{i}", "linear", (max(i - 1, 0),), i) for i in range(max(len(sizes), 1))]
    return MultipartiteGraph(src, dst, np.asarray(weight), np.zeros(src.size), parts, layers, meta=meta)


def random_layered(rng, sizes, density, skip=0.0, parallel=0.0) -> MultipartiteGraph:
    """Random MGE-like DAG: edges between consecutive partitions (density) and to i+2 (skip)."""
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    src, dst = [], []
    for i in range(len(sizes)):
        for j, p in ((i + 1, density), (i + 2, skip)):
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
    if parallel > 0 and src.size:
        dup = rng.random(src.size) < parallel
        src = np.concatenate([src, src[dup]])
        dst = np.concatenate([dst, dst[dup]])
    w = rng.normal(size=src.size)
    return make_graph(sizes, src, dst, w)


def random_digraph(rng, n, m, nparts=1) -> MultipartiteGraph:
    """Arbitrary directed graph (self-loops, reciprocal and parallel edges allowed)."""
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(nparts - 1, n - 1), replace=False)) if n > 1 else []
    sizes = np.diff(np.concatenate([[0], cuts, [n]])).astype(int)
    return make_graph(sizes, src, dst, rng.normal(size=m))


# --------------------------------------------------------------- references


def _multidigraph(g: MultipartiteGraph) -> nx.MultiDiGraph:
    G = nx.MultiDiGraph()
    G.add_nodes_from(range(g.num_nodes))
    for u, v, w in zip(g.src.tolist(), g.dst.tolist(), g.weight.astype(float).tolist()):
        G.add_edge(u, v, w=abs(w))
    return G


def _undirected_simple(g: MultipartiteGraph) -> nx.Graph:
    U = nx.Graph()
    U.add_nodes_from(range(g.num_nodes))
    for u, v, w in zip(g.src.tolist(), g.dst.tolist(), g.weight.astype(float).tolist()):
        if u == v:
            continue
        if U.has_edge(u, v):
            U[u][v]["w"] += abs(w)
        else:
            U.add_edge(u, v, w=abs(w))
    return U


def brute_connected_4sets(U: nx.Graph) -> tuple[int, dict]:
    """Connected induced 4-node subsets of U by enumerating all of them, with their classes."""
    adj = {v: set(U[v]) for v in U}
    classes = dict.fromkeys(["star", "path", "tailed_triangle", "cycle", "diamond", "clique"], 0)
    total = 0
    for quad in itertools.combinations(sorted(U), 4):
        s = set(quad)
        seen = {quad[0]}
        stack = [quad[0]]
        while stack:
            x = stack.pop()
            for y in adj[x] & s:
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        if len(seen) < 4:
            continue
        total += 1
        degs = sorted(len(adj[x] & s) for x in quad)
        m = sum(degs) // 2
        if m == 3:
            classes["star" if degs[-1] == 3 else "path"] += 1
        elif m == 4:
            classes["cycle" if degs == [2, 2, 2, 2] else "tailed_triangle"] += 1
        elif m == 5:
            classes["diamond"] += 1
        else:
            classes["clique"] += 1
    return total, classes


def _count_paths(g: MultipartiteGraph) -> int:
    """Number of directed paths (node sequences, length 0 included) from partition 0 to the last.

    Small graphs: enumeration with networkx; larger ones: exact integer powers of the
    0/1 adjacency matrix (``sum_k 1_last^T (A^T)^k 1_first``, finite on a DAG).
    """
    off = g.partition_offsets
    first = range(int(off[0]), int(off[1]))
    last = set(range(int(off[-2]), int(off[-1])))
    D = nx.DiGraph()
    D.add_nodes_from(range(g.num_nodes))
    D.add_edges_from((u, v) for u, v in zip(g.src.tolist(), g.dst.tolist()) if u != v)
    if g.num_nodes <= 12:
        count = 0
        for s in first:
            if s in last:
                count += 1
            for t in last:
                if t != s:
                    count += sum(1 for _ in nx.all_simple_paths(D, s, t))
        return count
    succ = {v: list(D.successors(v)) for v in D}
    vec = {v: 1 for v in first}
    count = 0
    for _ in range(g.num_nodes + 1):
        count += sum(c for v, c in vec.items() if v in last)
        nxt: dict[int, int] = {}
        for v, c in vec.items():
            for u in succ[v]:
                nxt[u] = nxt.get(u, 0) + c
        if not nxt:
            break
        vec = nxt
    return count


def reference_metrics(g: MultipartiteGraph, dense_num_edges=None, motif=True) -> dict[str, float]:
    """All metrics of ``g`` following the written definitions, with networkx and numpy."""
    n = g.num_nodes
    E = g.num_edges
    G = _multidigraph(g)
    U = _undirected_simple(g)
    off = g.partition_offsets
    first = set(range(int(off[0]), int(off[1]))) if len(off) > 1 else set()
    last = set(range(int(off[-2]), int(off[-1]))) if len(off) > 1 else set()
    indeg = dict(G.in_degree())
    outdeg = dict(G.out_degree())
    sinks = [v for v in G if v not in last and outdeg[v] == 0 and indeg[v] > 0]
    sources = [v for v in G if v not in first and indeg[v] == 0 and outdeg[v] > 0]
    out: dict[str, float] = {
        "sink": len(sinks),
        "source": len(sources),
        "disconnected": sum(1 for v in G if indeg[v] == 0 and outdeg[v] == 0),
        "r_out": sum(outdeg[v] for v in sources) / E if E else 0.0,
        "r_in": sum(indeg[v] for v in sinks) / E if E else 0.0,
    }
    D = nx.DiGraph(G)
    out["n1"] = np.mean([len(set(D.successors(v)) - {v}) for v in D]) if n else math.nan
    out["n2"] = (
        np.mean([len(set(nx.single_source_shortest_path_length(D, v, cutoff=2)) - {v}) for v in D]) if n else math.nan
    )
    if motif:
        out["motif4"] = brute_connected_4sets(U)[0]
        out["motif3"] = sum(  # 3-node subsets inducing a connected subgraph of U, by enumeration
            1 for trio in itertools.combinations(U.nodes, 3) if nx.is_connected(U.subgraph(trio))
        )
    out["kcore"] = np.mean(list(nx.core_number(U).values())) if n else math.nan
    out["strength"] = np.mean([sum(d["w"] for _, _, d in G.in_edges(v, data=True)) for v in G]) if n else math.nan
    comps = nx.number_weakly_connected_components(G) if n else 0
    out["components"] = comps
    out["component_size"] = n / comps if comps else math.nan
    out["cut_edges"] = sum(1 for _ in nx.bridges(U)) if n else 0
    out["cut_nodes"] = sum(1 for _ in nx.articulation_points(U)) if n else 0
    A = nx.to_numpy_array(U, nodelist=range(n), weight="w") if n else np.zeros((0, 0))
    ev = np.sort(np.linalg.eigvalsh(A))[::-1] if n else np.zeros(0)
    out["spectral_gap"] = float(ev[0] - ev[1]) if n >= 2 else math.nan
    L = np.diag(A.sum(axis=1)) - A
    out["spectral_radius"] = float(np.linalg.eigvalsh(L).max()) if n else math.nan
    if n and nx.is_directed_acyclic_graph(D):
        count = _count_paths(g)
        out["log_paths"] = math.log(count) if count else -math.inf
    fwd = set()
    for s in first:
        fwd |= {s} | nx.descendants(D, s)
    bwd = set()
    for t in last:
        bwd |= {t} | nx.ancestors(D, t)
    on_path_edges = sum(1 for u, v in zip(g.src.tolist(), g.dst.tolist()) if u in fwd and v in bwd)
    out["effective_sparsity"] = 1 - on_path_edges / dense_num_edges if dense_num_edges else math.nan
    out["effective_nodes"] = len(fwd & bwd) / n if n else math.nan
    return out


#: A is stored in float32 (like the weights), so merged parallel edges round there: the
#: eigenvalues move by about 1e-7 of the matrix norm, which for a tiny spectral gap is much
#: more than 1e-6 of the gap itself; the spectral tolerance is relative to
#: max(1, spectral_radius), an upper bound of the norm of A.
SPECTRAL_REL = 1e-6


def assert_metrics_equal(got: dict, want: dict, rel=1e-9, abs_=1e-9):
    for name, value in want.items():
        if name not in got:
            continue
        a, b = got[name], float(value)
        tol = max(rel, SPECTRAL_REL) if name.startswith("spectral") else rel
        atol = abs_
        if name.startswith("spectral"):
            norm = float(want.get("spectral_radius", 0.0))
            atol = max(abs_, SPECTRAL_REL * max(1.0, norm if math.isfinite(norm) else 0.0))
        if math.isnan(b):
            assert math.isnan(a), f"{name}: got {a}, want NaN"
        elif math.isinf(b):
            assert a == b, f"{name}: got {a}, want {b}"
        else:
            assert a == pytest.approx(b, rel=tol, abs=atol), f"{name}: got {a}, want {b}"


# -------------------------------------------------------------------- tests

ALL_BUT_EFFECTIVE_SPARSITY = [m for m in topometrics.METRICS if m != "effective_sparsity"]


@st.composite
def layered(draw, max_parts=5, max_size=6):
    k = draw(st.integers(1, max_parts))
    sizes = draw(st.lists(st.integers(1, max_size), min_size=k, max_size=k))
    density = draw(st.sampled_from([0.0, 0.15, 0.4, 0.7, 1.0]))
    skip = draw(st.sampled_from([0.0, 0.0, 0.2, 0.6]))
    parallel = draw(st.sampled_from([0.0, 0.0, 0.3]))
    seed = draw(st.integers(0, 2**32 - 1))
    return random_layered(np.random.default_rng(seed), sizes, density, skip, parallel)


@st.composite
def digraphs(draw, max_nodes=16):
    n = draw(st.integers(1, max_nodes))
    m = draw(st.integers(0, 3 * n))
    nparts = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return random_digraph(np.random.default_rng(seed), n, m, nparts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=layered())
def test_all_metrics_match_reference_on_random_layered_graphs(g):
    dense = 1 + g.num_edges * 2
    got = topometrics.compute(g, dense_num_edges=dense)
    assert list(got) == list(topometrics.DEFAULT_METRICS)
    assert_metrics_equal(got, reference_metrics(g, dense_num_edges=dense))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=digraphs())
def test_metrics_match_reference_on_arbitrary_digraphs(g):
    """Self-loops, reciprocal and parallel edges, cycles: everything but the path metrics."""
    names = [m for m in ALL_BUT_EFFECTIVE_SPARSITY if m != "log_paths"]
    got = topometrics.compute(g, names)
    want = reference_metrics(g)
    want.pop("log_paths", None)
    assert_metrics_equal(got, want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=digraphs(max_nodes=14))
def test_graphlet_classes_match_brute_force(g):
    _, classes = brute_connected_4sets(_undirected_simple(g))
    got = topometrics.graphlet4_counts(g)
    assert {k: got[k] for k in classes} == classes


@pytest.mark.parametrize("seed", range(3))
def test_motif4_brute_force_40_nodes(seed):
    rng = np.random.default_rng(seed)
    g = random_layered(rng, [8, 8, 8, 8, 8], density=0.25 + 0.1 * seed, skip=0.1)
    assert g.num_nodes == 40
    total, classes = brute_connected_4sets(_undirected_simple(g))
    assert topometrics.motif4(g) == total
    got = topometrics.graphlet4_counts(g)
    assert {k: got[k] for k in classes} == classes
    assert got["triangles"] == sum(nx.triangles(_undirected_simple(g)).values()) // 3


def test_motif4_dense_random_graph_with_cliques():
    """Dense enough for every class, 4-cliques included."""
    rng = np.random.default_rng(7)
    g = random_digraph(rng, 18, 110)
    total, classes = brute_connected_4sets(_undirected_simple(g))
    assert classes["clique"] > 0 and classes["diamond"] > 0
    assert topometrics.motif4(g) == total
    got = topometrics.graphlet4_counts(g)
    assert {k: got[k] for k in classes} == classes


def test_motif4_agrees_with_igraph_motif_count():
    import igraph as ig

    rng = np.random.default_rng(3)
    for _ in range(5):
        g = random_layered(rng, [5, 7, 6, 5], density=0.4, skip=0.3)
        G = ig.Graph(n=g.num_nodes, edges=np.column_stack([g.src, g.dst]).tolist(), directed=True).simplify()
        assert topometrics.motif4(g) == G.motifs_randesu_no(size=4)


def test_noninduced_counts_are_consistent_with_induced():
    g = random_digraph(np.random.default_rng(11), 16, 70)
    nc = topometrics.graphlet4_counts(g, induced=False)
    ic = topometrics.graphlet4_counts(g)
    # inclusion matrix: non-induced = sum over supergraphs of induced x (copies inside)
    assert nc["clique"] == ic["clique"]
    assert nc["diamond"] == ic["diamond"] + 6 * ic["clique"]
    assert nc["cycle"] == ic["cycle"] + ic["diamond"] + 3 * ic["clique"]
    assert nc["star"] == ic["star"] + ic["tailed_triangle"] + 2 * ic["diamond"] + 4 * ic["clique"]
    assert nc["path"] == ic["path"] + 2 * ic["tailed_triangle"] + 4 * ic["cycle"] + 6 * ic["diamond"] + 12 * ic["clique"]


@pytest.mark.parametrize("arpack", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_spectral_krylov_paths_match_dense(monkeypatch, seed, arpack):
    """Force the Krylov solvers (DENSE_LIMIT lowered) and compare with LAPACK on the full matrix.

    ``arpack=True`` caps the Lanczos basis at 3 vectors, so ARPACK (warm-started) takes over.
    """
    rng = np.random.default_rng(seed)
    g = random_layered(rng, [20, 30, 30, 20], density=0.15, skip=0.05)
    want = reference_metrics(g, motif=False)
    monkeypatch.setattr(expansion, "DENSE_LIMIT", 5)
    calls = []
    if arpack:
        monkeypatch.setattr(expansion, "_basis_limit", lambda n: 3)
        real_eigsh = expansion.spla.eigsh
        monkeypatch.setattr(expansion.spla, "eigsh", lambda *a, **k: calls.append(1) or real_eigsh(*a, **k))
    got = topometrics.compute(g, ["spectral_gap", "spectral_radius"], spectral_tol=1e-10)
    assert bool(calls) == arpack
    assert got["spectral_gap"] == pytest.approx(want["spectral_gap"], rel=1e-7, abs=1e-8)
    assert got["spectral_radius"] == pytest.approx(want["spectral_radius"], rel=1e-8)


def test_spectral_gap_zero_for_two_identical_components(monkeypatch):
    """Two copies of one component: mu_0 is repeated, the gap is exactly 0 (per-component merge)."""
    rng = np.random.default_rng(5)
    one = random_layered(rng, [6, 8, 6], density=0.6)
    n = one.num_nodes
    sizes = [6, 8, 6]
    # interleave the copies partition by partition so both sit in the same partitions
    def relabel(v, copy):
        p = int(np.searchsorted(np.cumsum(sizes), v, side="right"))
        start = sum(sizes[:p])
        return 2 * start + copy * sizes[p] + (v - start)

    src = [relabel(int(u), c) for c in (0, 1) for u in one.src]
    dst = [relabel(int(v), c) for c in (0, 1) for v in one.dst]
    w = np.concatenate([one.weight, one.weight])
    g = make_graph([2 * s for s in sizes], src, dst, w)
    assert g.num_nodes == 2 * n
    monkeypatch.setattr(expansion, "DENSE_LIMIT", 3)
    assert topometrics.spectral_gap(g) == 0.0
    assert topometrics.components(g) >= 2


def test_spectral_residual_is_checked(monkeypatch):
    """A Ritz value off by more than the tolerance is reported, not silently accepted."""
    rng = np.random.default_rng(2)
    g = random_layered(rng, [30, 40, 30], density=0.2)
    monkeypatch.setattr(expansion, "DENSE_LIMIT", 5)
    real = expansion._krylov_eigenpairs

    def off_by_a_bit(*args, **kwargs):
        vals, vecs = real(*args, **kwargs)
        return vals + 100 * expansion.DEFAULT_TOL * max(np.abs(vals).max(), 1.0), vecs

    monkeypatch.setattr(expansion, "_krylov_eigenpairs", off_by_a_bit)
    with pytest.warns(topometrics.SpectralAccuracyWarning, match="residual"):
        topometrics.spectral_radius(g)
    with pytest.warns(topometrics.SpectralAccuracyWarning, match="spectral_gap"):
        topometrics.spectral_gap(g)


def test_plain_lanczos_converges_without_arpack(monkeypatch):
    """On an MGE-like graph the unrestarted Lanczos meets the tolerance within its basis: ARPACK is not called."""
    g = random_layered(np.random.default_rng(7), [60, 90, 90, 60], density=0.1, skip=0.05)
    want = reference_metrics(g, motif=False)
    monkeypatch.setattr(expansion, "DENSE_LIMIT", 5)

    def no_arpack(*args, **kwargs):
        raise AssertionError("ARPACK called")

    monkeypatch.setattr(expansion.spla, "eigsh", no_arpack)
    got = topometrics.compute(g, ["spectral_gap", "spectral_radius"])
    assert got["spectral_gap"] == pytest.approx(want["spectral_gap"], rel=1e-3)
    assert got["spectral_radius"] == pytest.approx(want["spectral_radius"], rel=1e-4)


def test_spectral_non_convergence_raises(monkeypatch):
    g = random_layered(np.random.default_rng(3), [30, 40, 30], density=0.2)
    monkeypatch.setattr(expansion, "DENSE_LIMIT", 5)
    monkeypatch.setattr(expansion, "_basis_limit", lambda n: 2)

    def never(*args, **kwargs):
        raise expansion.spla.ArpackNoConvergence("no convergence", np.zeros(0), np.zeros((0, 0)))

    monkeypatch.setattr(expansion.spla, "eigsh", never)
    with pytest.raises(topometrics.SpectralConvergenceError, match="did not converge"):
        topometrics.spectral_radius(g)


def test_motif4_estimate_exact_when_every_node_is_sampled():
    g = random_layered(np.random.default_rng(4), [6, 8, 8, 6], density=0.5, skip=0.3)
    est = topometrics.motif4_estimate(g, sample=g.num_nodes)
    assert est.estimate == topometrics.motif4(g)
    assert est.stderr == 0.0 and est.sample == g.num_nodes
    assert topometrics.motif4_estimate(g, sample=1.0).estimate == topometrics.motif4(g)


def test_motif4_estimate_is_unbiased_within_its_standard_error():
    g = random_layered(np.random.default_rng(8), [20, 30, 30, 20], density=0.2, skip=0.2)
    exact = topometrics.motif4(g)
    ests = [topometrics.motif4_estimate(g, sample=15, random_state=s) for s in range(300)]
    values = np.array([e.estimate for e in ests])
    se_mean = values.std(ddof=1) / math.sqrt(values.size)
    assert abs(values.mean() - exact) < 4 * se_mean
    # the reported standard error matches the spread of the estimates
    reported = np.mean([e.stderr for e in ests])
    assert 0.6 < reported / values.std(ddof=1) < 1.6


def test_motif4_estimate_validates_sample():
    g = random_layered(np.random.default_rng(0), [3, 3], density=1.0)
    with pytest.raises(ValueError, match="fractional sample"):
        topometrics.motif4_estimate(g, sample=1.5)
    with pytest.raises(ValueError, match="at least 1"):
        topometrics.motif4_estimate(g, sample=0)
    with pytest.raises(ValueError, match="sample"):
        topometrics.motif4_estimate(g, sample="all")
    assert topometrics.motif4_estimate(g, sample=0.001).sample == 1


def test_compute_inexact_uses_the_estimate():
    g = random_layered(np.random.default_rng(9), [10, 12, 10], density=0.3)
    exact = topometrics.compute(g, ["motif4"])["motif4"]
    approx = topometrics.compute(g, ["motif4"], exact=False, motif_sample=1.0)["motif4"]
    assert approx == exact
    est = topometrics.compute(g, ["motif4"], exact=False, motif_sample=5, random_state=1)["motif4"]
    assert est == topometrics.motif4_estimate(g, 5, random_state=1).estimate


def test_parallel_and_serial_kernels_agree():
    g = random_layered(np.random.default_rng(12), [30, 40, 40, 30], density=0.2, skip=0.1)
    a = topometrics.compute(g, n_threads=1, dense_num_edges=10**6)
    b = topometrics.compute(g, n_threads=-1, dense_num_edges=10**6)
    assert_metrics_equal(a, b, rel=1e-12, abs_=1e-12)
