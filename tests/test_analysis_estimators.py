"""The fast regressors of analysis.estimators against scikit-learn and optimality conditions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNetCV, HuberRegressor, LassoCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import MinMaxScaler

from analysis.estimators import (
    REGRESSORS,
    fit_predict,
    fit_predict_all,
    kfold_bounds,
    minmax_scale_pair,
    reference_pipeline,
)


def _data(seed=0, n=120, p=8, collinear=False):
    rng = np.random.default_rng(seed)
    X = rng.random((n, p)) * rng.uniform(0.5, 50, p)
    if collinear:  # near-duplicate columns make the problem ill-conditioned, like the published tables
        X[:, 1] = X[:, 0] * 2.0 + rng.normal(0, 1e-3, n)
        X[:, 3] = X[:, 2] + X[:, 0] + rng.normal(0, 1e-2, n)
    y = 0.02 * X[:, 0] - 0.004 * X[:, 2] + rng.normal(0, 0.05, n)
    y[:5] += 1.5  # a few outliers for Huber
    return X[:96], y[:96], X[96:]


def test_kfold_bounds_match_sklearn():
    for n in (10, 11, 23, 96, 250):
        b = kfold_bounds(n, 5)
        expected = [te for _, te in KFold(5).split(np.zeros((n, 1)))]
        assert [list(range(b[i], b[i + 1])) for i in range(5)] == [list(t) for t in expected]


def test_minmax_matches_sklearn_including_constant_column():
    rng = np.random.default_rng(1)
    X = rng.random((30, 4))
    X[:, 2] = 7.0
    Xt = rng.random((5, 4)) * 2
    a, b = minmax_scale_pair(X, Xt)
    s = MinMaxScaler().fit(X)
    np.testing.assert_allclose(a, s.transform(X), atol=1e-15)
    np.testing.assert_allclose(b, s.transform(Xt), atol=1e-15)


@pytest.mark.parametrize("name", ["linear", "ridge", "pcr", "bayesian_ridge", "ard"])
@pytest.mark.parametrize("seed,collinear", [(0, False), (3, True)])
def test_closed_form_and_bayesian_match_sklearn(name, seed, collinear):
    X, y, Xt = _data(seed, collinear=collinear)
    fast = fit_predict_all(X, y, Xt, [name])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = reference_pipeline(name, X.shape[1]).fit(X, y).predict(Xt)
    np.testing.assert_allclose(fast, ref, rtol=1e-7, atol=1e-9 * np.abs(y).max())


@pytest.mark.parametrize("name,cls,kw", [("lasso", LassoCV, {}), ("elasticnet", ElasticNetCV, {"l1_ratio": 0.5})])
@pytest.mark.parametrize("seed,collinear", [(0, False), (5, True)])
def test_lasso_enet_match_tightly_converged_sklearn(name, cls, kw, seed, collinear):
    X, y, Xt = _data(seed, collinear=collinear)
    fast = fit_predict_all(X, y, Xt, [name])[0]
    scaler = MinMaxScaler().fit(X)
    with warnings.catch_warnings():  # the reference may stop a hair short of tol=1e-13; it is still ~1e-11 exact
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = cls(cv=5, alphas=100, tol=1e-13, max_iter=1_000_000, **kw).fit(scaler.transform(X), y)
    np.testing.assert_allclose(fast, ref.predict(scaler.transform(Xt)), rtol=1e-6, atol=1e-8)
    # scikit-learn's default tolerance gives nearly the same answer on well-conditioned data
    if not collinear:
        loose = reference_pipeline(name, X.shape[1]).fit(X, y).predict(Xt)
        np.testing.assert_allclose(fast, loose, atol=1e-3 * np.std(y))


def test_enet_path_solutions_satisfy_kkt_on_ill_conditioned_data():
    from analysis.estimators import _alpha_grid, _center_np, _enet_path

    X, y, _ = _data(7, n=200, p=10, collinear=True)
    Xs, _ = minmax_scale_pair(X, X)
    Xc, yc, _, _ = _center_np(Xs, y)
    n = len(yc)
    for ratio in (1.0, 0.5):
        alphas = _alpha_grid(Xc, yc, ratio)
        coefs, fails = _enet_path(Xc, yc, alphas, ratio)
        assert fails == 0
        for a, w in zip(alphas, coefs):
            # subgradient of (1/2n)||y - Xw||^2 + a*ratio*|w|_1 + a(1-ratio)/2 ||w||^2
            g = -Xc.T @ (yc - Xc @ w) / n + a * (1 - ratio) * w
            l1 = a * ratio
            on = w != 0
            assert np.all(np.abs(g[on] + l1 * np.sign(w[on])) <= 1e-9 * max(1.0, l1))
            assert np.all(np.abs(g[~on]) <= l1 * (1 + 1e-8) + 1e-12)


def _huber_objective(X, y, w, c, sigma, eps=1.35, alpha=1e-4):
    """Owen's objective written independently of the package."""
    z = (y - X @ w - c) / sigma
    h = np.where(np.abs(z) <= eps, z * z, 2 * eps * np.abs(z) - eps * eps)
    return len(y) * sigma + sigma * h.sum() + alpha * w @ w


def test_huber_reaches_the_minimum_of_its_objective():
    X, y, Xt = _data(2)
    Xs, Xts = minmax_scale_pair(X, Xt)
    pred_test = fit_predict("huber", Xs, y, Xts)
    pred_train = fit_predict("huber", Xs, y, Xs)
    # recover (w, c) from predictions on the training rows (least squares is exact here)
    A = np.column_stack([Xs, np.ones(len(y))])
    coef = np.linalg.lstsq(A, pred_train, rcond=None)[0]
    w, c = coef[:-1], coef[-1]
    np.testing.assert_allclose(Xts @ w + c, pred_test, atol=1e-10)
    # optimal sigma for fixed (w, c) solves a 1-d convex problem
    res1 = minimize(lambda s: _huber_objective(Xs, y, w, c, s[0]), x0=[0.1], bounds=[(1e-9, None)], method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12})
    sigma = res1.x[0]
    ours = _huber_objective(Xs, y, w, c, sigma)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = HuberRegressor(max_iter=100000).fit(Xs, y)
    theirs = _huber_objective(Xs, y, sk.coef_, sk.intercept_, sk.scale_)
    assert ours <= theirs + 1e-9 * abs(theirs)
    # no descent direction from our solution: a tightly converged generic optimiser gains nothing
    x0 = np.concatenate([w, [c, sigma]])
    p = len(w)
    res = minimize(lambda t: _huber_objective(Xs, y, t[:p], t[p], t[p + 1]), x0, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-12, "fatol": 1e-14})
    assert res.fun >= ours - 1e-9 * abs(ours)


def test_all_regressors_run_and_errors_are_clear():
    X, y, Xt = _data(4)
    out = fit_predict_all(X, y, Xt)
    assert out.shape == (len(REGRESSORS), len(Xt)) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="unknown regressor"):
        fit_predict("svm", X, y, Xt)
    with pytest.raises(ValueError, match="at least 5 training rows"):
        fit_predict("lasso", X[:4], y[:4], Xt)
    with pytest.raises(ValueError, match="unknown regressor"):
        reference_pipeline("svm", 3)


def test_shared_lasso_enet_kernel_matches_separate_fits():
    X, y, Xt = _data(6, collinear=True)
    both = fit_predict_all(X, y, Xt, ("lasso", "elasticnet"))
    np.testing.assert_array_equal(both[0], fit_predict_all(X, y, Xt, ("lasso",))[0])
    np.testing.assert_array_equal(both[1], fit_predict_all(X, y, Xt, ("elasticnet",))[0])
