"""Expansion topometrics: spectral gap of the adjacency matrix, spectral radius of the Laplacian.

``A`` is the symmetric weighted adjacency matrix of ``U`` with ``A_uv = |w_uv|``
(Pal et al. 2022: undirected graph, absolute weights); ``L = D - A`` its weighted
Laplacian, ``D = diag(sum_u A_vu)``.

Numerics
--------
* Graphs (or connected components) with at most :data:`DENSE_LIMIT` nodes are
  solved exactly with a dense symmetric eigensolver (LAPACK ``syevd``).
* Larger ones use the Lanczos method with full reorthogonalization and no
  restarts (Parlett 1998, ch. 13; Gram-Schmidt repeated when it loses more than
  30% of the norm, Daniel et al. 1976) while its basis fits
  100 vectors and 512 MB (:func:`topometrics.cost.lanczos_basis_vectors`); if it has not
  converged by then, ARPACK's implicitly restarted Lanczos method (Lehoucq et al.
  1998, via :func:`scipy.sparse.linalg.eigsh`, basis 32) continues from the
  current Ritz vectors.  Without restarts the Krylov space keeps everything it
  has seen: on ResNet-20 at sparsity 0.6 the gap takes 45 products and the radius
  13 (residual checks included) against ARPACK's 64 and 18.  Both run on a parallel
  numba sparse matrix-vector product that reads only the upper triangle of the
  symmetric CSR (each stored entry serves both ``A_uv x_v`` and ``A_vu x_u``: half
  the memory traffic of a full gather, about 25 against 36 ms per product on
  ResNet-20 at 0.6), with a **fixed start vector** (uniform in [0.5, 1.5], seeded
  by ``random_state``), so results are deterministic, for any number of threads.
* Tolerance: Lanczos (and ARPACK) stop when every wanted Ritz pair has residual
  ``||A x - theta x|| <= tol * max(|theta|, eps^(2/3))``; default ``tol = 1e-4``,
  the accuracy the analysis needs: its regressions min-max scale every feature,
  and moving every published ``spectral_gap`` and ``spectral_radius`` by a
  relative 1e-4 changes no adjusted R^2 and no importance by 1e-3 and no
  importance order (``tests/test_spectral_tolerance.py``, on the authors' table).
  For a symmetric operator the eigenvalue error is at most the residual and in
  practice about its square over the gap to the next eigenvalue: on ResNet-20 at
  sparsity 0.6 the gap and radius at 1e-4 differ from those at 1e-10 by 4e-8 and
  2e-8 relative (66 and 22 products at 1e-10).  The achieved
  residual of every returned pair is then recomputed independently; since ``A``
  and ``L`` are symmetric, an eigenvalue lies within that residual of each
  returned value.  If a residual exceeds ``10 * tol * max(|mu_0|, 1)``, a
  :class:`SpectralAccuracyWarning` names the metric and the residual.  Failure to
  converge raises :class:`SpectralConvergenceError` (after one ARPACK retry with a
  larger Krylov subspace).
* ``spectral_gap`` and ``spectral_radius`` share one prepared operator (the row
  chunks balanced by stored entries, the row sums ``D``) and one start vector, kept
  in :attr:`PreparedGraph.cache`; the Laplacian is the same product with ``D``.
* ``spectral_gap`` is computed per weakly connected component and merged: the
  spectrum of ``A`` is the union of its components' spectra, and the top
  eigenvalue of a connected component is simple (Perron-Frobenius), so a top
  eigenvalue shared by several components (a zero gap) is found exactly, which
  a single Lanczos run cannot guarantee.  Components whose Gershgorin bound (max
  row sum) lies below the current second-largest value are skipped.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numba import njit, prange

from .cost import ARPACK_NCV, lanczos_basis_vectors
from ._numba import num_threads, single_threaded_blas
from .global_ import u_component_labels
from .prepared import prepare

__all__ = [
    "spectral_gap",
    "spectral_radius",
    "top_adjacency_eigenvalues",
    "SpectralAccuracyWarning",
    "SpectralConvergenceError",
    "DENSE_LIMIT",
    "DEFAULT_TOL",
]

#: Components with at most this many nodes use the dense eigensolver.
DENSE_LIMIT = 2000
#: Default ARPACK relative tolerance (see the module docstring for why it suffices).
DEFAULT_TOL = 1e-4


class SpectralAccuracyWarning(UserWarning):
    """The achieved eigen-residual exceeds the documented tolerance."""


class SpectralConvergenceError(RuntimeError):
    """ARPACK did not converge."""


#: Number of partial-sum buffers of the symmetric product: a constant, so that results do not depend on threads;
#: each costs 8 bytes per node (78 MB on ResNet-50 at 224x224); two keep the two cores of the reference machine busy.
SPMV_PARTS = 2


@njit(parallel=True, cache=True)
def _spmv(indptr, indices, data, upper, rows, local, bounds, diag, laplacian, x, partial, y):
    """``y = A[rows][:, rows] @ x`` (or ``L x``) reading only the upper triangle of ``A``.

    Each stored entry ``u < v`` of the upper triangle (``upper[u]``: first entry of row
    ``u`` above ``u``) is read once and serves both products: ``y_u += A_uv x_v`` is
    summed along the row, ``y_v += A_uv x_u`` goes to the partial-sum buffer of the
    row chunk; half the memory traffic of a gather over the full symmetric CSR.
    ``bounds`` cuts the rows into :data:`SPMV_PARTS` chunks of equal upper work, one
    buffer each, summed in chunk order, so the floating-point result is the same for
    any number of threads.  ``rows`` holds sorted node ids closed under adjacency
    (whole components) and ``local`` maps a node id to its position in ``x``; both are
    ignored when ``rows`` is empty (all nodes, identity map).
    """
    full = rows.size == 0
    n = x.size
    parts = bounds.size - 1
    for c in prange(parts):
        buf = partial[c]
        for i in range(n):
            buf[i] = 0.0
        for i in range(bounds[c], bounds[c + 1]):
            u = i if full else rows[i]
            xi = x[i]
            s = 0.0
            if full:
                for p in range(upper[u], indptr[u + 1]):
                    v = indices[p]
                    a = data[p]
                    s += a * x[v]
                    buf[v] += a * xi
            else:
                for p in range(upper[u], indptr[u + 1]):
                    j = local[indices[p]]
                    a = data[p]
                    s += a * x[j]
                    buf[j] += a * xi
            buf[i] += s
    for i in prange(n):
        s = 0.0
        for c in range(parts):
            s += partial[c, i]
        y[i] = diag[i] * x[i] - s if laplacian else s


class _SymmetricOperator:
    """Matrix-vector products with ``A`` (or ``L = D - A``) restricted to whole components."""

    def __init__(self, pg, rows=None, local=None, laplacian=False, diag=None, bounds=None):
        indptr, indices, data = pg.undirected()
        self.indptr, self.indices, self.data = indptr, indices, data
        self.upper = pg.undirected_split()
        self.rows = np.zeros(0, dtype=np.int64) if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
        self.local = np.zeros(0, dtype=np.int64) if local is None else local
        self.n = pg.num_nodes if rows is None else self.rows.size
        self.laplacian = laplacian
        self.diag = np.zeros(self.n) if diag is None else np.ascontiguousarray(diag, dtype=np.float64)
        self.n_threads = pg.n_threads
        if bounds is None:
            ids = np.arange(self.n) if rows is None else self.rows
            work = np.cumsum(indptr[ids + 1] - self.upper[ids])
            total = work[-1] if work.size else 0
            cuts = np.searchsorted(work, np.linspace(0, total, SPMV_PARTS + 1)[1:-1])
            bounds = np.concatenate([[0], cuts, [self.n]]).astype(np.int64)
        self.bounds = bounds

    def with_laplacian(self, diag) -> "_SymmetricOperator":
        """The same rows and chunks, as ``L = diag - A``."""
        op = object.__new__(_SymmetricOperator)
        op.__dict__.update(self.__dict__)
        op.laplacian = True
        op.diag = np.ascontiguousarray(diag, dtype=np.float64)
        return op

    def __call__(self, x) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64).ravel()
        y = np.empty(self.n)
        if getattr(self, "partial", None) is None:  # one scratch per operator, reused by every product
            self.partial = np.empty((self.bounds.size - 1, self.n))
        with num_threads(self.n_threads):
            _spmv(self.indptr, self.indices, self.data, self.upper, self.rows, self.local, self.bounds, self.diag,
                  self.laplacian, x, self.partial, y)
        return y


@njit(cache=True)
def _row_sums(indptr, data):
    n = indptr.size - 1
    out = np.zeros(n, np.float64)
    for i in range(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += data[p]
        out[i] = s
    return out


def _start_vector(n: int, random_state) -> np.ndarray:
    return np.random.default_rng(random_state).uniform(0.5, 1.5, n)


def _shared(pg, random_state) -> tuple:
    """``(row sums D, operator of A on all of U, start vector on all of U)``, built once per graph.

    The operator's row chunks and the start vector serve both metrics whenever U has
    one component with edges (every MGE below extreme sparsity).
    """
    key = ("spectral_shared", random_state)
    if key not in pg.cache:
        indptr, _, data = pg.undirected()
        pg.cache[key] = (_row_sums(indptr, data), _SymmetricOperator(pg), _start_vector(pg.num_nodes, random_state))
    return pg.cache[key]


def _plain_lanczos(matvec, n: int, k: int, tol: float, v0: np.ndarray, max_basis: int):
    """Top-``k`` Ritz pairs of Lanczos with full reorthogonalization, without restarts.

    Step ``j`` extends the orthonormal basis ``V`` by ``A v_j`` orthogonalized against
    every earlier vector (classical Gram-Schmidt, repeated when it loses more than
    30% of the norm: Daniel, Gragg, Kaufman & Stewart 1976); the Ritz values are the
    eigenvalues of the tridiagonal ``T_j`` and the residual of Ritz pair ``i`` is
    ``|beta_j s_ji|`` (Parlett, *The Symmetric Eigenvalue Problem*, 1998, ch. 13).
    Stops when every top-``k`` pair meets ARPACK's criterion
    ``|beta_j s_ji| <= tol * max(|theta_i|, eps^(2/3))``.

    Returns ``(values, vectors, True)`` on convergence, else ``(None, start, False)``
    with ``start`` the sum of the current top-``k`` Ritz vectors (a warm start for
    ARPACK) once ``max_basis`` vectors are used.
    """
    m_max = max(1, min(n, max_basis))
    basis = np.empty((m_max, n))
    alpha = np.zeros(m_max)
    beta = np.zeros(m_max)
    q = np.asarray(v0, dtype=np.float64) / np.linalg.norm(v0)
    floor = np.finfo(np.float64).eps ** (2 / 3)
    theta = s = None
    for j in range(m_max):
        basis[j] = q
        w = matvec(q)
        alpha[j] = float(q @ w)
        w -= alpha[j] * q
        if j:
            w -= beta[j - 1] * basis[j - 1]
        norm = float(np.linalg.norm(w))
        for _ in range(3):
            h = basis[: j + 1] @ w
            w -= h @ basis[: j + 1]
            alpha[j] += h[j]
            before, norm = norm, float(np.linalg.norm(w))
            if norm > 0.7 * before:
                break
        beta[j] = norm
        if j + 1 >= k:
            vals, vecs = scipy.linalg.eigh_tridiagonal(alpha[: j + 1], beta[:j])
            theta, s = vals[::-1][:k], vecs[:, ::-1][:, :k]
            if norm <= floor * max(abs(float(vals[-1])), abs(float(vals[0])), 1.0):
                if j + 1 == n:  # the whole space: the Ritz values are the eigenvalues
                    return theta, basis[: j + 1].T @ s, True
                break  # an invariant subspace that may miss an eigenvector: ARPACK restarts
            if np.all(np.abs(norm * s[-1]) <= tol * np.maximum(np.abs(theta), floor)):
                return theta, basis[: j + 1].T @ s, True
        if norm == 0.0:
            break
        q = w / norm
    if s is None:
        return None, np.asarray(v0, dtype=np.float64), False
    return None, basis[: s.shape[0]].T @ s.sum(axis=1), False


def _krylov_eigenpairs(matvec, n: int, k: int, tol: float, v0: np.ndarray, what: str):
    """Top-``k`` algebraic eigenpairs: plain Lanczos, and ARPACK when its basis would outgrow the budget."""
    vals, vecs, done = _plain_lanczos(matvec, n, k, tol, v0, _basis_limit(n))
    if done:
        return vals, vecs
    op = spla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    ncv = min(n, 16 if k == 1 else ARPACK_NCV)
    # one retry with a larger Krylov subspace and more iterations
    for basis, maxiter in ((ncv, max(1000, 10 * n)), (min(n, 4 * ncv), max(5000, 50 * n))):
        try:
            return spla.eigsh(op, k=k, which="LA", v0=vecs, tol=tol, ncv=basis, maxiter=maxiter)
        except spla.ArpackNoConvergence as exc:
            failure = exc
    raise SpectralConvergenceError(
        f"{what}: ARPACK did not converge to tol={tol:g} on a {n}-node operator; "
        "pass a larger tol (spectral_tol) or report the graph"
    ) from failure


def _basis_limit(n: int) -> int:
    """Lanczos vectors kept (:func:`topometrics.cost.lanczos_basis_vectors`)."""
    return lanczos_basis_vectors(n)


def _lanczos(matvec, n: int, k: int, *, tol: float, random_state, what: str, v0=None) -> np.ndarray:
    """Top-``k`` algebraic eigenvalues (descending) of a symmetric operator, residual-checked."""
    if v0 is None:
        v0 = _start_vector(n, random_state)
    vals, vecs = _krylov_eigenpairs(matvec, n, k, tol, v0, what)
    order = np.argsort(vals)[::-1]
    vals = vals[order]
    vecs = vecs[:, order]
    scale = max(abs(float(vals[0])), 1.0)
    for j in range(vals.size):
        x = vecs[:, j] / np.linalg.norm(vecs[:, j])
        r = float(np.linalg.norm(matvec(x) - vals[j] * x))
        if r > 10 * tol * scale:
            warnings.warn(
                f"{what}: eigenvalue {vals[j]:.10g} has residual {r:.3g} above the tolerance "
                f"10*tol*max(|mu_0|, 1) = {10 * tol * scale:.3g}; the value may be inaccurate",
                SpectralAccuracyWarning,
                stacklevel=3,
            )
    return vals


def top_adjacency_eigenvalues(graph, k: int = 2, *, tol: float = DEFAULT_TOL, random_state=0) -> np.ndarray:
    """The ``k`` largest algebraic eigenvalues of ``A`` (descending; fewer if N < k).

    Computed per weakly connected component and merged (module docstring).
    """
    with single_threaded_blas():
        return _top_adjacency_eigenvalues(graph, k, tol, random_state)


def _top_adjacency_eigenvalues(graph, k, tol, random_state) -> np.ndarray:
    pg = prepare(graph)
    key = ("adjacency_top", k, tol, random_state)
    if key in pg.cache:
        return pg.cache[key]
    n = pg.num_nodes
    if n == 0:
        return np.zeros(0)
    indptr, indices, data = pg.undirected()
    labels, ncomp = u_component_labels(pg)
    sizes = np.bincount(labels, minlength=ncomp)
    rowsum, full_op, start = _shared(pg, random_state)
    bound = np.zeros(ncomp)
    np.maximum.at(bound, labels, rowsum)
    best: list[float] = []
    # isolated nodes contribute eigenvalue 0 (no self-loops in U)
    singles = int(np.count_nonzero(sizes == 1))
    best.extend([0.0] * min(singles, k))
    big = np.flatnonzero(sizes > 1)
    big = big[np.argsort(-bound[big], kind="stable")]
    if big.size:
        order = np.argsort(labels, kind="stable")
        starts = np.zeros(ncomp + 1, dtype=np.int64)
        np.cumsum(sizes, out=starts[1:])
        local = np.empty(n, dtype=np.int64)
    for c in big:
        best.sort(reverse=True)
        if len(best) >= k and bound[c] < best[k - 1]:
            break  # every remaining component is bounded below the current k-th value
        nodes = order[starts[c] : starts[c + 1]]
        s = nodes.size
        local[nodes] = np.arange(s)
        if s <= DENSE_LIMIT:
            sub = np.zeros((s, s))
            for i, v in enumerate(nodes):
                a, b = indptr[v], indptr[v + 1]
                sub[i, local[indices[a:b]]] = data[a:b]
            vals = scipy.linalg.eigh(sub, eigvals_only=True, subset_by_index=[max(0, s - k), s - 1])
            best.extend(float(x) for x in vals)
        else:
            if big.size == 1:  # c is the only component with edges: the full operator needs no gathers
                matvec, v0 = full_op, start
            else:
                # equal components get equal start vectors, hence bitwise equal eigenvalues (a zero gap)
                matvec, v0 = _SymmetricOperator(pg, rows=nodes, local=local), _start_vector(s, random_state)
            vals = _lanczos(matvec, matvec.n, min(k, s - 1), tol=tol, random_state=random_state, what="spectral_gap",
                            v0=v0)
            best.extend(float(x) for x in vals)
    best.sort(reverse=True)
    out = np.array(best[:k])
    pg.cache[key] = out
    return out


def spectral_gap(graph, *, tol: float = DEFAULT_TOL, random_state=0) -> float:
    """Spectral gap of the adjacency matrix: ``mu_0 - mu_1``.

    Definition: the difference between the two largest algebraic eigenvalues of
    ``A`` (symmetric, ``A_uv = |w_uv|``).  NaN for a graph with fewer than 2 nodes.
    Complexity O(k m E) for Lanczos (m iterations), O(N^3) below ``DENSE_LIMIT``.
    Accuracy: see the module docstring.  Reference: Cunegatti et al. 2024,
    section 3.3, item 15; Hoang et al. 2023.
    """
    vals = top_adjacency_eigenvalues(graph, 2, tol=tol, random_state=random_state)
    if vals.size < 2:
        return float("nan")
    return float(vals[0] - vals[1])


def spectral_radius(graph, *, tol: float = DEFAULT_TOL, random_state=0) -> float:
    """Spectral radius of the weighted Laplacian: the largest eigenvalue of ``L = D - A``.

    NaN for a graph without nodes.  Complexity as :func:`spectral_gap`.
    Reference: Cunegatti et al. 2024, section 3.3, item 16; Preciado et al. 2013.
    """
    with single_threaded_blas():
        return _spectral_radius(graph, tol, random_state)


def _spectral_radius(graph, tol, random_state) -> float:
    pg = prepare(graph)
    n = pg.num_nodes
    if n == 0:
        return float("nan")
    key = ("laplacian_top", tol, random_state)
    if key in pg.cache:
        return pg.cache[key]
    indptr, indices, data = pg.undirected()
    deg, full_op, start = _shared(pg, random_state)
    if n <= DENSE_LIMIT:
        lap = -sp.csr_matrix((data.astype(np.float64), indices, indptr), shape=(n, n)).toarray()
        lap[np.diag_indices(n)] += deg
        value = float(scipy.linalg.eigh(lap, eigvals_only=True, subset_by_index=[n - 1, n - 1])[0])
    elif indptr[-1] == 0:
        value = 0.0
    else:
        matvec = full_op.with_laplacian(deg)
        value = float(_lanczos(matvec, n, 1, tol=tol, random_state=random_state, what="spectral_radius", v0=start)[0])
    pg.cache[key] = value
    return value
