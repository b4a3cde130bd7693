"""The CSR builder and the symmetric product against scipy.sparse, and their independence of the thread count.

``build_csr`` scatters the edges in one chunk per thread and sorts each row by merging
its ascending runs; the reference is scipy's COO -> CSR conversion (duplicates summed,
indices sorted), which shares no code with it.  The spectral operator reads only the
upper triangle; its products must equal ``A @ x`` from a scipy matrix, and neither
the CSR nor the eigenvalues may change with the number of numba threads.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topometrics
from topometrics import expansion
from topometrics._numba import num_threads
from topometrics.prepared import build_csr, prepare

from test_topometrics_reference import random_layered


def scipy_csr(src, dst, n, mode, weight=None, rank=None):
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    w = np.ones(src.size) if weight is None else np.abs(np.asarray(weight, dtype=np.float32)).astype(np.float64)
    keep = src != dst
    src, dst, w = src[keep], dst[keep], w[keep]
    if rank is not None:
        src, dst = rank[src], rank[dst]
    rows, cols = {"out": (src, dst), "in": (dst, src)}.get(mode, (np.concatenate([src, dst]),
                                                                     np.concatenate([dst, src])))
    if mode == "undirected":
        w = np.concatenate([w, w])
    m = sp.coo_matrix((w, (rows, cols)), shape=(n, n)).tocsr()
    m.sum_duplicates()
    m.sort_indices()
    return m


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 40),
    m=st.integers(0, 300),
    mode=st.sampled_from(["out", "in", "undirected"]),
    relabel=st.booleans(),
    threads=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**31 - 1),
)
def test_build_csr_matches_scipy(n, m, mode, relabel, threads, seed):
    """Random multigraphs with self-loops and repeated edges, in random order."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, m).astype(np.int32)
    dst = rng.integers(0, n, m).astype(np.int32)
    weight = rng.normal(size=m).astype(np.float32)
    rank = rng.permutation(n) if relabel else None
    with num_threads(threads):
        indptr, indices, data = build_csr(src, dst, n, mode=mode, weight=weight, rank=rank)
    want = scipy_csr(src, dst, n, mode, weight, rank)
    np.testing.assert_array_equal(indptr, want.indptr)
    np.testing.assert_array_equal(indices, want.indices)
    np.testing.assert_allclose(data, want.data, rtol=1e-5, atol=1e-6)
    assert indices.dtype == np.int32 and indptr.dtype == np.int64 and data.dtype == np.float32


def test_build_csr_is_the_same_for_any_thread_count():
    """Rows receive their entries in edge order whatever the chunks, so repeated edges sum in the same order."""
    rng = np.random.default_rng(3)
    n, m = 500, 20000
    src = rng.integers(0, n, m).astype(np.int32)
    dst = rng.integers(0, n, m).astype(np.int32)
    weight = rng.normal(size=m).astype(np.float32)
    rank = rng.permutation(n)
    with num_threads(1):
        one = build_csr(src, dst, n, mode="undirected", weight=weight, rank=rank)
    with num_threads(2):
        two = build_csr(src, dst, n, mode="undirected", weight=weight, rank=rank)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("laplacian", [False, True])
def test_upper_triangle_product_matches_scipy(laplacian):
    g = random_layered(np.random.default_rng(4), [40, 60, 60, 40], density=0.2, skip=0.05, parallel=0.05)
    pg = prepare(g)
    indptr, indices, data = pg.undirected()
    a = sp.csr_matrix((data.astype(np.float64), indices, indptr), shape=(pg.num_nodes,) * 2)
    deg = np.asarray(a.sum(axis=1)).ravel()
    op = expansion._SymmetricOperator(pg)
    if laplacian:
        op = op.with_laplacian(deg)
    x = np.random.default_rng(0).normal(size=pg.num_nodes)
    want = (deg * x - a @ x) if laplacian else a @ x
    np.testing.assert_allclose(op(x), want, rtol=1e-12, atol=1e-12)


def test_spectral_values_do_not_depend_on_threads(monkeypatch):
    """The ARPACK path (DENSE_LIMIT lowered) gives bitwise equal values with 1 and 2 numba threads."""
    g = random_layered(np.random.default_rng(9), [50, 80, 80, 50], density=0.15, skip=0.05)
    monkeypatch.setattr(expansion, "DENSE_LIMIT", 5)
    one = topometrics.compute(g, ["spectral_gap", "spectral_radius"], n_threads=1)
    two = topometrics.compute(g, ["spectral_gap", "spectral_radius"], n_threads=2)
    assert one["spectral_gap"] == two["spectral_gap"]
    assert one["spectral_radius"] == two["spectral_radius"]
