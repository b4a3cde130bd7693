"""Lasso and elastic net with the penalty chosen by inner K-fold CV, solved exactly.

:class:`FastLassoCV` and :class:`FastElasticNetCV` are drop-in counterparts of
scikit-learn's ``LassoCV`` and ``ElasticNetCV`` (same objective, alpha grid,
unshuffled ``KFold`` inner folds and tie-breaking), 15-80x faster per fit on the
paper's tables (a few hundred rows, 10-16 features; ``benchmarks/bench_analysis.py``)
and converged tighter.

Objective (scikit-learn's, ``n`` training rows, ``r = l1_ratio``)::

    1 / (2 n) ||y - X w - c||^2 + alpha r ||w||_1 + alpha (1 - r) / 2 ||w||^2

Algorithm: the data are centred (the intercept is unpenalised) and each problem is
solved in Gram form by feature-sign search (Lee, Battle, Raina & Ng, NIPS 2007), an
active-set method that ends at a point satisfying the optimality (KKT) conditions to
rounding; when an active set is numerically singular, cyclic coordinate descent runs
until the duality gap is below ``tol * ||y - mean y||^2`` (scikit-learn stops at
``1e-4 * ||y||^2``, which on ill-conditioned tables moves predictions by up to ~0.1
standard deviations of the target).  Along the alpha grid (``n_alphas`` values
log-spaced from ``alpha_max = max |X_c^T y_c| / (n r)`` down to ``eps * alpha_max``)
solutions are warm-started.  The inner CV picks the first alpha with the smallest
mean validation MSE and the model is refitted on all rows.

Complexity: O(n p^2) per fold for the Gram matrix, then per alpha a few active-set
steps of O(p^3) each (p = number of features); memory O(p^2).
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit
from sklearn.exceptions import ConvergenceWarning

from ._base import FastLinearModel, check_int, check_real, kfold_bounds
from ._linalg import cholesky_solve_ws

__all__ = ["FastLassoCV", "FastElasticNetCV", "alpha_grid", "enet_path"]


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
def _enet_cd(Q, q, yy, w, l1, l2, tol, max_sweeps, ws):
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
def _enet_path_gram(Q, q, yy, l1s, l2s, tol, max_sweeps):
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
        if _enet_cd(Q, q, yy, w, l1s[k], l2s[k], tol, max_sweeps, ws) < 0:
            fails += 1
        coefs[k] = w
    return coefs, fails


@njit(cache=True)
def _centered_gram(X, y, lo, hi):
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


@njit(cache=True)
def _enet_cv_mse(X, y, l1_ratio, alphas, bounds, tol, max_sweeps):
    """Validation MSE along ``alphas`` for each inner fold ``[bounds[f], bounds[f + 1])``.

    Each fold's training rows are centred by their own means; solutions are
    warm-started along the (decreasing) alphas.  Returns ``(mse_path (K, F),
    mean_mse (K,), number of solves that did not converge)``.
    """
    n, p = X.shape
    K = alphas.shape[0]
    n_folds = bounds.shape[0] - 1
    path = np.zeros((K, n_folds))
    mean = np.zeros(K)
    ws = np.zeros((p, 2 * p + 8))
    w = np.zeros(p)
    fails = 0
    for f in range(n_folds):
        lo = bounds[f]
        hi = bounds[f + 1]
        Q, q, yy, xm, ym, m = _centered_gram(X, y, lo, hi)
        w[:] = 0.0
        for k in range(K):
            if _enet_cd(Q, q, yy, w, alphas[k] * l1_ratio * m, alphas[k] * (1.0 - l1_ratio) * m, tol, max_sweeps, ws) < 0:
                fails += 1
            acc = 0.0
            for i in range(lo, hi):
                pred = ym
                for j in range(p):
                    pred += (X[i, j] - xm[j]) * w[j]
                acc += (pred - y[i]) ** 2
            path[k, f] = acc / (hi - lo)
            mean[k] += acc / (hi - lo) / n_folds
    return path, mean, fails


@njit(cache=True)
def _enet_refit(X, y, l1_ratio, alphas, tol, max_sweeps):
    """Solution at ``alphas[-1]`` on all rows, warm-started along ``alphas``.

    Returns ``(coef, x_mean, y_mean, steps of the last solve, solves that did not converge)``.
    """
    n, p = X.shape
    Q, q, yy, xm, ym, m = _centered_gram(X, y, 0, 0)
    ws = np.zeros((p, 2 * p + 8))
    w = np.zeros(p)
    fails = 0
    steps = 0
    for k in range(alphas.shape[0]):
        steps = _enet_cd(Q, q, yy, w, alphas[k] * l1_ratio * m, alphas[k] * (1.0 - l1_ratio) * m, tol, max_sweeps, ws)
        if steps < 0:
            fails += 1
    return w, xm, ym, steps, fails


def alpha_grid(Xc: np.ndarray, yc: np.ndarray, l1_ratio: float, n_alphas: int = 100, eps: float = 1e-3) -> np.ndarray:
    """scikit-learn's alpha grid for centred data: ``n_alphas`` log-spaced values from
    ``max |Xc^T yc| / (n l1_ratio)`` down to ``eps`` times that (a tiny constant grid
    when ``y`` is uncorrelated with every column)."""
    amax = np.max(np.abs(Xc.T @ yc)) / (Xc.shape[0] * l1_ratio)
    if amax <= np.finfo(np.float64).resolution:
        return np.full(n_alphas, np.finfo(np.float64).resolution)
    return np.geomspace(amax, amax * eps, num=n_alphas)


def enet_path(Xc: np.ndarray, yc: np.ndarray, alphas: np.ndarray, l1_ratio: float, *, tol: float = 1e-10, max_iter: int = 200_000):
    """Exact elastic-net solutions of centred data along a decreasing ``alphas`` path.

    Row ``k`` of the returned ``(len(alphas), p)`` array minimises scikit-learn's
    objective at ``alphas[k]`` (no intercept: the data are centred).  Also returns
    the number of solves that did not converge.
    """
    n = Xc.shape[0]
    Q = Xc.T @ Xc
    q = Xc.T @ yc
    yy = float(yc @ yc)
    alphas = np.asarray(alphas, dtype=np.float64)
    return _enet_path_gram(Q, q, yy, alphas * l1_ratio * n, alphas * (1.0 - l1_ratio) * n, tol, max_iter)


class _ElasticNetCVBase(FastLinearModel):
    """Shared ``fit`` of :class:`FastLassoCV` and :class:`FastElasticNetCV`."""

    def _l1_ratio(self) -> float:  # pragma: no cover - defined by the subclasses
        raise NotImplementedError

    def fit(self, X, y, check_input: bool = True):
        """Choose alpha by inner K-fold CV on ``(X, y)``, then fit all rows at that alpha.

        Sets ``alpha_``, ``alphas_``, ``mse_path_`` (n_alphas, cv), ``coef_``,
        ``intercept_``, ``n_iter_`` (steps of the final solve: 1 when feature-sign
        search ended at the exact solution, else coordinate-descent sweeps) and
        ``n_features_in_``.  Warns (``ConvergenceWarning``) when a coordinate-descent
        fallback stopped at ``max_iter`` sweeps.
        """
        l1_ratio = self._l1_ratio()
        eps = check_real(self.eps, "eps", 0.0, 1.0, low_open=True)
        n_alphas = check_int(self.n_alphas, "n_alphas", 1)
        cv = check_int(self.cv, "cv", 2)
        tol = check_real(self.tol, "tol", 0.0, low_open=True)
        max_iter = check_int(self.max_iter, "max_iter", 1)
        X, y = self._validate_fit_data(X, y, check_input=check_input, min_samples=cv, what=f" for its inner {cv}-fold cross-validation")
        n = X.shape[0]
        alphas = alpha_grid(X - X.mean(axis=0), y - y.mean(), l1_ratio, n_alphas, eps)
        order = self._fold_order(n, self.shuffle, self.random_state)
        Xf, yf = (X, y) if order is None else (np.ascontiguousarray(X[order]), np.ascontiguousarray(y[order]))
        path, mean, fails = _enet_cv_mse(Xf, yf, l1_ratio, alphas, kfold_bounds(n, cv), tol, max_iter)
        best = int(np.argmin(mean))
        coef, xm, ym, steps, refit_fails = _enet_refit(X, y, l1_ratio, alphas[: best + 1], tol, max_iter)
        if fails or refit_fails:
            warnings.warn(
                f"{type(self).__name__}: {fails + refit_fails} coordinate-descent solves stopped at max_iter={max_iter} "
                f"sweeps before the duality gap reached tol={tol:g}; increase max_iter",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.alphas_ = alphas
        self.mse_path_ = path
        self.alpha_ = float(alphas[best])
        self.l1_ratio_ = l1_ratio
        self.coef_ = coef
        self.intercept_ = float(ym - xm @ coef)
        self.n_iter_ = int(steps) if steps > 0 else max_iter
        return self


class FastElasticNetCV(_ElasticNetCVBase):
    """Elastic net with alpha chosen by inner K-fold CV: ``sklearn.linear_model.ElasticNetCV``, exact.

    Same objective, alpha grid, folds and choice as ``ElasticNetCV(l1_ratio=l1_ratio,
    eps=eps, alphas=n_alphas, cv=cv)`` (for a float ``l1_ratio``); solved exactly
    instead of to scikit-learn's loose coordinate-descent tolerance (see the module
    docstring).  Checked against ``ElasticNetCV(tol=1e-13)`` in the tests.

    Parameters
    ----------
    l1_ratio : float in (0, 1]
        Mix of the L1 (``1``: lasso) and L2 penalties.
    eps : float in (0, 1]
        ``alpha_min / alpha_max`` of the grid.
    n_alphas : int
        Number of alphas on the grid.
    cv : int >= 2
        Number of inner folds (scikit-learn's ``KFold(cv)``: contiguous blocks).
    shuffle : bool
        Shuffle the rows before splitting them into folds, as ``KFold(cv,
        shuffle=True, random_state=random_state)`` does.
    random_state : None, int or numpy RandomState
        Seeds that shuffle; unused when ``shuffle=False`` (the fit is deterministic).
    tol : float
        Duality-gap tolerance (relative to ``||y - mean y||^2``) of the
        coordinate-descent fallback.
    max_iter : int
        Sweeps of the coordinate-descent fallback per alpha.

    Attributes
    ----------
    alpha_, l1_ratio_ : float
        The chosen penalty.
    alphas_ : ndarray (n_alphas,)
    mse_path_ : ndarray (n_alphas, cv)
        Validation MSE of each alpha on each inner fold.
    coef_ : ndarray (n_features,)
    intercept_ : float
    n_iter_ : int
    n_features_in_ : int

    Notes
    -----
    ``check_estimator`` passes in full (``tests/test_analysis_estimator_api.py``).
    Unlike scikit-learn's class, ``l1_ratio`` is one value (no search over
    ratios), there is no ``sample_weight``, ``positive`` or ``precompute`` option, and
    the intercept is always fitted.
    """

    def __init__(self, *, l1_ratio=0.5, eps=1e-3, n_alphas=100, cv=5, shuffle=False, random_state=None, tol=1e-10, max_iter=200_000):
        self.l1_ratio = l1_ratio
        self.eps = eps
        self.n_alphas = n_alphas
        self.cv = cv
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.max_iter = max_iter

    def _l1_ratio(self) -> float:
        return check_real(self.l1_ratio, "l1_ratio", 0.0, 1.0, low_open=True)


class FastLassoCV(_ElasticNetCVBase):
    """Lasso with alpha chosen by inner K-fold CV: ``sklearn.linear_model.LassoCV``, exact.

    :class:`FastElasticNetCV` with ``l1_ratio=1``; the same parameters (but
    ``l1_ratio``), attributes and notes.  Checked against ``LassoCV(tol=1e-13)`` in the tests.
    """

    def __init__(self, *, eps=1e-3, n_alphas=100, cv=5, shuffle=False, random_state=None, tol=1e-10, max_iter=200_000):
        self.eps = eps
        self.n_alphas = n_alphas
        self.cv = cv
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.max_iter = max_iter

    def _l1_ratio(self) -> float:
        return 1.0
