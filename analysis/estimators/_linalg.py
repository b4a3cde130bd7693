"""Small dense linear algebra in numba kernels, shared by the fast solvers.

The solvers run inside kernels that factorise many tiny (p <= ~20) symmetric
positive definite systems; LAPACK through numpy costs more in call overhead than the
arithmetic there.  One Cholesky factorisation serves the solve and the inverse.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def cholesky_factor(M, L, m):
    """Lower Cholesky factor of the leading ``m x m`` block of ``M`` into ``L``.

    Returns False when a pivot is not positive relative to the largest diagonal
    entry (numerically not positive definite); ``L`` is then undefined.
    """
    dmax = 0.0
    for i in range(m):
        dmax = max(dmax, M[i, i])
    for j in range(m):
        acc = M[j, j]
        for k in range(j):
            acc -= L[j, k] * L[j, k]
        if acc <= 1e-13 * dmax:
            return False
        L[j, j] = math.sqrt(acc)
        for i in range(j + 1, m):
            acc = M[i, j]
            for k in range(j):
                acc -= L[i, k] * L[j, k]
            L[i, j] = acc / L[j, j]
    return True


@njit(cache=True)
def cholesky_solve_ws(M, b, out, L, m):
    """Solve ``M[:m, :m] x = b[:m]`` (symmetric positive definite) into ``out`` with workspace ``L``.

    Returns False when the block is numerically singular; ``out`` is then undefined.
    """
    if not cholesky_factor(M, L, m):
        return False
    for i in range(m):
        acc = b[i]
        for k in range(i):
            acc -= L[i, k] * out[k]
        out[i] = acc / L[i, i]
    for i in range(m - 1, -1, -1):
        acc = out[i]
        for k in range(i + 1, m):
            acc -= L[k, i] * out[k]
        out[i] = acc / L[i, i]
    return True


@njit(cache=True)
def cholesky_solve(M, b, out):
    """Solve ``M x = b`` for symmetric positive definite ``M`` (result in ``out``); see :func:`cholesky_solve_ws`."""
    m = b.shape[0]
    return cholesky_solve_ws(M, b, out, np.empty((m, m)), m)


@njit(cache=True)
def cholesky_inverse(A, out):
    """Inverse of a symmetric positive definite matrix via one Cholesky factorisation (into ``out``).

    Returns False when ``A`` is not numerically positive definite.
    """
    m = A.shape[0]
    L = np.zeros((m, m))
    if not cholesky_factor(A, L, m):
        return False
    # inv(L) column by column (lower triangular), then inv(A) = inv(L)^T inv(L)
    Li = np.zeros((m, m))
    for c in range(m):
        Li[c, c] = 1.0 / L[c, c]
        for i in range(c + 1, m):
            acc = 0.0
            for k in range(c, i):
                acc -= L[i, k] * Li[k, c]
            Li[i, c] = acc / L[i, i]
    for i in range(m):
        for j in range(i, m):
            acc = 0.0
            for k in range(j, m):
                acc += Li[k, i] * Li[k, j]
            out[i, j] = acc
            out[j, i] = acc
    return True
