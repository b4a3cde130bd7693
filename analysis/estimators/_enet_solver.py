"""Exact elastic-net solver in Gram form (numba kernels) used by :mod:`.enet`.

Problem (scikit-learn's objective times ``n``, centred data, Gram form)::

    minimise  1/2 w^T Q w - q^T w + l1 ||w||_1 + l2/2 ||w||^2,   Q = X_c^T X_c,  q = X_c^T y_c

solved by feature-sign search (Lee, Battle, Raina & Ng, NIPS 2007), with cyclic
coordinate descent to a duality-gap tolerance as the fallback when an active set is
numerically singular (:func:`enet_cd`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._linalg import cholesky_solve_ws

__all__ = ["enet_cd", "enet_path_gram", "centered_gram"]


@njit(cache=True)
def _symv(Q, x, out):
    """``out = Q @ x`` with plain loops (keeps the kernels free of BLAS bindings)."""
    p = x.shape[0]
    for i in range(p):
        acc = 0.0
        for j in range(p):
            acc += Q[i, j] * x[j]
        out[i] = acc


@njit(cache=True)
def _enet_gap(Q, q, yy, w, H, l1, l2):
    """Duality gap of 1/2||y - Xw||^2 + l1||w||_1 + l2/2||w||^2 from Gram quantities."""
    qw = 0.0
    wH = 0.0
    ww = 0.0
    w1 = 0.0
    dual_norm = 0.0
    for j in range(w.shape[0]):
        qw += q[j] * w[j]
        wH += w[j] * H[j]
        ww += w[j] * w[j]
        w1 += abs(w[j])
        g = abs(q[j] - H[j] - l2 * w[j])
        if g > dual_norm:
            dual_norm = g
    rr = max(yy - 2.0 * qw + wH, 0.0)
    yr = yy - qw
    s = 1.0
    if dual_norm > l1 and dual_norm > 0.0:
        s = l1 / dual_norm
    primal = 0.5 * rr + 0.5 * l2 * ww + l1 * w1
    dual = s * yr - 0.5 * s * s * (rr + l2 * ww)
    return primal - dual


@njit(cache=True)
def _enet_objective(Q, q, x, idx, m, l1, l2):
    """Objective at ``x`` whose nonzeros are among ``idx[:m]`` (constant term dropped)."""
    f = 0.0
    for a in range(m):
        i = idx[a]
        xi = x[i]
        if xi == 0.0:
            continue
        acc = 0.0
        for c in range(m):
            acc += Q[i, idx[c]] * x[idx[c]]
        f += xi * (0.5 * acc + 0.5 * l2 * xi - q[i]) + l1 * abs(xi)
    return f


@njit(cache=True)
def _gradient(Q, q, x, l2, g):
    """``g = Q x + l2 x - q`` using only the nonzero entries of ``x``."""
    p = x.shape[0]
    for i in range(p):
        g[i] = l2 * x[i] - q[i]
    for j in range(p):
        xj = x[j]
        if xj != 0.0:
            for i in range(p):
                g[i] += Q[i, j] * xj


@njit(cache=True)
def _signs_gradient_optimal(Q, q, x, l1, l2, g, theta, ktol):
    """Set ``theta = sign(x)`` and ``g`` (see :func:`_gradient`); True when every nonzero
    coefficient satisfies its optimality condition ``|g_j + l1 theta_j| <= ktol``."""
    for j in range(x.shape[0]):
        theta[j] = 1.0 if x[j] > 0 else (-1.0 if x[j] < 0 else 0.0)
    _gradient(Q, q, x, l2, g)
    for j in range(x.shape[0]):
        if x[j] != 0.0 and abs(g[j] + l1 * theta[j]) > ktol:
            return False
    return True


@njit(cache=True)
def _enet_feature_sign(Q, q, x, l1, l2, max_steps, ws):
    """Exact minimiser of ``1/2 x^T Q x - q^T x + l1 ||x||_1 + l2/2 ||x||^2`` (in place).

    Feature-sign search (Lee, Battle, Raina & Ng, NIPS 2007): activate the zero
    coefficient violating its optimality condition most, solve the quadratic
    problem on the active set with the current signs, and line-search the segment
    to that solution over the points where a coefficient changes sign.  Each
    step decreases the objective and the active set and signs determine the
    iterate, so the search ends after finitely many steps at a point satisfying the
    optimality (KKT) conditions to rounding.  Warm-starts from ``x``.  ``ws`` is a
    (p, 2p + 8) float workspace.  Returns False when ``max_steps`` is exhausted or
    an active set is numerically singular.
    """
    p = x.shape[0]
    M = ws[:, :p]
    L = ws[:, p : 2 * p]
    g = ws[:, 2 * p]
    theta = ws[:, 2 * p + 1]
    b = ws[:, 2 * p + 2]
    xhat = ws[:, 2 * p + 3]
    xa = ws[:, 2 * p + 4]
    trial = ws[:, 2 * p + 5]
    idxf = ws[:, 2 * p + 6]
    scale = 1e-300
    for j in range(p):
        scale = max(scale, abs(q[j]), Q[j, j])
    ktol = 1e-11 * scale
    need_activation = _signs_gradient_optimal(Q, q, x, l1, l2, g, theta, ktol)
    idx = np.empty(p, dtype=np.int64)
    for step in range(max_steps):
        if need_activation:
            best = -1
            best_v = l1 + ktol
            for j in range(p):
                if x[j] == 0.0 and abs(g[j]) > best_v and (Q[j, j] + l2) > 0.0:
                    best_v = abs(g[j])
                    best = j
            if best < 0:
                return True
            theta[best] = -1.0 if g[best] > 0 else 1.0
        # feature-sign step on the active set
        m = 0
        for j in range(p):
            if theta[j] != 0.0:
                idx[m] = j
                m += 1
        for a in range(m):
            b[a] = q[idx[a]] - l1 * theta[idx[a]]
            for c in range(m):
                M[a, c] = Q[idx[a], idx[c]]
            M[a, a] += l2
        if not cholesky_solve_ws(M, b, xhat, L, m):
            return False
        # candidate points: the full step and every sign change along the segment
        for j in range(p):
            trial[j] = x[j]
        for a in range(m):
            xa[a] = x[idx[a]]
            trial[idx[a]] = xhat[a]
        best_f = _enet_objective(Q, q, trial, idx, m, l1, l2)
        best_t = 1.0
        best_a = -1
        for a in range(m):
            if xa[a] != 0.0 and xa[a] * xhat[a] <= 0.0:
                t = xa[a] / (xa[a] - xhat[a])
                for c in range(m):
                    trial[idx[c]] = xa[c] + t * (xhat[c] - xa[c])
                trial[idx[a]] = 0.0
                f = _enet_objective(Q, q, trial, idx, m, l1, l2)
                if f < best_f:
                    best_f = f
                    best_t = t
                    best_a = a
        for c in range(m):
            x[idx[c]] = xa[c] + best_t * (xhat[c] - xa[c])
        if best_a >= 0:
            x[idx[best_a]] = 0.0
        # optimality of the nonzero coefficients; if violated, another feature-sign step
        need_activation = _signs_gradient_optimal(Q, q, x, l1, l2, g, theta, ktol)
    return False


@njit(cache=True)
def enet_cd(Q, q, yy, w, l1, l2, tol, max_sweeps, ws):
    """Exact elastic-net solution in Gram form, warm-started from ``w`` (in place).

    Minimises ``1/2 w^T Q w - q^T w + l1 ||w||_1 + l2/2 ||w||^2`` by feature-sign
    search; if that fails (singular active set), by cyclic coordinate descent
    until the duality gap is below ``tol * yy``.  Returns the number of steps
    (``-1`` when coordinate descent hit ``max_sweeps``).
    """
    p = w.shape[0]
    x = ws[:, 2 * p + 7]
    for j in range(p):
        x[j] = w[j]
    if _enet_feature_sign(Q, q, x, l1, l2, 50 * p + 100, ws):
        for j in range(p):
            w[j] = x[j]
        return 1
    H = np.empty(p)
    _symv(Q, w, H)
    target = tol * yy
    for sweep in range(max_sweeps):
        wmax = 0.0
        dwmax = 0.0
        for j in range(p):
            qjj = Q[j, j]
            if qjj == 0.0:
                continue
            wj = w[j]
            rho = q[j] - H[j] + qjj * wj
            if rho > l1:
                nw = (rho - l1) / (qjj + l2)
            elif rho < -l1:
                nw = (rho + l1) / (qjj + l2)
            else:
                nw = 0.0
            d = nw - wj
            if d != 0.0:
                for i in range(p):
                    H[i] += d * Q[i, j]
                w[j] = nw
            if abs(d) > dwmax:
                dwmax = abs(d)
            if abs(nw) > wmax:
                wmax = abs(nw)
        if wmax == 0.0 or dwmax <= 1e-7 * wmax:
            _symv(Q, w, H)
            if _enet_gap(Q, q, yy, w, H, l1, l2) <= target:
                return sweep + 1
    return -1


@njit(cache=True)
def enet_path_gram(Q, q, yy, l1s, l2s, tol, max_sweeps):
    """Exact solutions along a decreasing penalty path with warm starts.

    Row ``k`` of the result minimises ``1/2 w^T Q w - q^T w + l1s[k] ||w||_1 +
    l2s[k]/2 ||w||^2``.  Also returns the number of coordinate-descent fallbacks
    that hit ``max_sweeps``.
    """
    p = Q.shape[0]
    w = np.zeros(p)
    ws = np.zeros((p, 2 * p + 8))
    coefs = np.zeros((l1s.shape[0], p))
    fails = 0
    for k in range(l1s.shape[0]):
        if enet_cd(Q, q, yy, w, l1s[k], l2s[k], tol, max_sweeps, ws) < 0:
            fails += 1
        coefs[k] = w
    return coefs, fails


@njit(cache=True)
def centered_gram(X, y, lo, hi):
    """Gram quantities of the rows outside ``[lo, hi)``, centred by their own means.

    Returns ``(Q, q, yy, x_mean, y_mean, n_rows)`` with ``Q = Xc^T Xc``,
    ``q = Xc^T yc`` and ``yy = yc^T yc``.
    """
    n, p = X.shape
    m = n - (hi - lo)
    xm = np.zeros(p)
    ym = 0.0
    for i in range(n):
        if lo <= i < hi:
            continue
        ym += y[i]
        for j in range(p):
            xm[j] += X[i, j]
    ym /= m
    for j in range(p):
        xm[j] /= m
    Q = np.zeros((p, p))
    q = np.zeros(p)
    yy = 0.0
    d = np.empty(p)
    for i in range(n):
        if lo <= i < hi:
            continue
        r = y[i] - ym
        yy += r * r
        for j in range(p):
            d[j] = X[i, j] - xm[j]
        for j in range(p):
            q[j] += d[j] * r
            for k in range(j, p):
                Q[j, k] += d[j] * d[k]
    for j in range(p):
        for k in range(j):
            Q[j, k] = Q[k, j]
    return Q, q, yy, xm, ym, m
