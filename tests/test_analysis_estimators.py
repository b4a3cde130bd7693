"""The fast regressors of analysis.estimators against scikit-learn and optimality conditions.

``linear``, ``ridge`` and ``bayesian_ridge`` are scikit-learn's estimators (checked to
be built with the paper's parameters); every fast estimator is compared with its
scikit-learn counterpart (coefficients, hyper-parameters, predictions), never with itself.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ARDRegression, BayesianRidge, ElasticNetCV, HuberRegressor, LassoCV, LinearRegression, RidgeCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import MinMaxScaler

from analysis.estimators import (
    REGRESSORS,
    FastARDRegression,
    FastElasticNetCV,
    FastHuberRegressor,
    FastLassoCV,
    FastPCRCV,
    fit_predict,
    fit_predict_all,
    kfold_bounds,
    make_regressor,
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


def test_registry_uses_scikit_learn_estimators_with_the_papers_parameters():
    assert type(make_regressor("linear")) is LinearRegression
    assert make_regressor("linear").get_params() == LinearRegression().get_params()
    ridge = make_regressor("ridge")
    assert type(ridge) is RidgeCV and tuple(ridge.alphas) == (0.1, 1.0, 10.0)
    assert type(make_regressor("bayesian_ridge")) is BayesianRidge
    assert make_regressor("bayesian_ridge").get_params() == BayesianRidge().get_params()
    fast = {"lasso": FastLassoCV, "elasticnet": FastElasticNetCV, "huber": FastHuberRegressor, "pcr": FastPCRCV, "ard": FastARDRegression}
    for name, cls in fast.items():
        assert type(make_regressor(name)) is cls
    assert make_regressor("elasticnet").l1_ratio == 0.5
    assert {k: v for k, v in make_regressor("ard").get_params().items()} == {
        k: v for k, v in ARDRegression().get_params().items() if k not in ("compute_score", "copy_X", "verbose", "fit_intercept")
    }
    assert make_regressor("lasso") is not make_regressor("lasso")  # a fresh estimator per call


@pytest.mark.parametrize("name", ["pcr", "ard"])
@pytest.mark.parametrize("seed,collinear", [(0, False), (3, True)])
def test_pcr_and_ard_predictions_match_sklearn_pipelines(name, seed, collinear):
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
    from analysis.estimators.enet import alpha_grid, enet_path

    X, y, _ = _data(7, n=200, p=10, collinear=True)
    Xs, _ = minmax_scale_pair(X, X)
    Xc, yc = Xs - Xs.mean(axis=0), y - y.mean()
    n = len(yc)
    for ratio in (1.0, 0.5):
        alphas = alpha_grid(Xc, yc, ratio)
        coefs, fails = enet_path(Xc, yc, alphas, ratio)
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


@pytest.mark.parametrize("cls,ref_cls,kw", [(FastLassoCV, LassoCV, {}), (FastElasticNetCV, ElasticNetCV, {"l1_ratio": 0.5})])
@pytest.mark.parametrize("shuffle", [False, True])
def test_enet_estimators_match_sklearn_attributes(cls, ref_cls, kw, shuffle):
    X, y, Xt = _data(8, collinear=True)
    Xs = MinMaxScaler().fit_transform(X)
    folds = KFold(5, shuffle=True, random_state=3) if shuffle else 5
    fast = cls(shuffle=shuffle, random_state=3, **kw).fit(Xs, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = ref_cls(cv=folds, alphas=100, tol=1e-13, max_iter=1_000_000, **kw).fit(Xs, y)
    np.testing.assert_allclose(fast.alphas_, ref.alphas_, rtol=1e-12)
    np.testing.assert_allclose(fast.mse_path_, ref.mse_path_, rtol=1e-6)
    assert fast.alpha_ == pytest.approx(ref.alpha_, rel=1e-12)
    np.testing.assert_allclose(fast.coef_, ref.coef_, rtol=1e-6, atol=1e-9 * np.abs(ref.coef_).max())
    assert fast.intercept_ == pytest.approx(ref.intercept_, rel=1e-6, abs=1e-9)
    assert fast.n_iter_ >= 1 and fast.n_features_in_ == X.shape[1]


def test_pcr_chooses_the_grid_searchs_component_count():
    from sklearn.decomposition import PCA
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    X, y, Xt = _data(9, collinear=True)
    fast = FastPCRCV().fit(X, y)
    grid = GridSearchCV(make_pipeline(PCA(), LinearRegression()), {"pca__n_components": list(range(1, X.shape[1] + 1))}, cv=5).fit(X, y)
    assert fast.n_components_ == grid.best_params_["pca__n_components"]
    np.testing.assert_allclose(fast.cv_scores_, grid.cv_results_["mean_test_score"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.predict(Xt), grid.predict(Xt), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed,collinear", [(0, False), (3, True)])
def test_ard_matches_sklearn_attributes_and_predictive_std(seed, collinear):
    X, y, Xt = _data(seed, collinear=collinear)
    Xs = MinMaxScaler().fit_transform(X)
    fast = FastARDRegression().fit(Xs, y)
    ref = ARDRegression().fit(Xs, y)
    assert fast.solver_ == "numba" and fast.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(fast.coef_, ref.coef_, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(fast.lambda_, ref.lambda_, rtol=1e-6)
    assert fast.alpha_ == pytest.approx(ref.alpha_, rel=1e-7)
    np.testing.assert_allclose(fast.sigma_, ref.sigma_, rtol=1e-6, atol=1e-12)
    mean, std = fast.predict(Xs[:7], return_std=True)
    ref_mean, ref_std = ref.predict(Xs[:7], return_std=True)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-7)
    np.testing.assert_allclose(std, ref_std, rtol=1e-7)


def test_ard_with_fewer_rows_than_features_is_sklearns():
    rng = np.random.default_rng(4)
    X = rng.random((8, 12))
    y = X[:, 0] - 2 * X[:, 3] + rng.normal(0, 0.01, 8)
    fast = FastARDRegression().fit(X, y)
    ref = ARDRegression().fit(X, y)
    assert fast.solver_ == "sklearn"
    np.testing.assert_array_equal(fast.coef_, ref.coef_)
    np.testing.assert_array_equal(fast.predict(X), ref.predict(X))


def test_huber_estimator_attributes():
    X, y, _ = _data(2)
    Xs = MinMaxScaler().fit_transform(X)
    fast = FastHuberRegressor().fit(Xs, y)
    resid = y - Xs @ fast.coef_ - fast.intercept_
    np.testing.assert_array_equal(fast.outliers_, np.abs(resid) > 1.35 * fast.scale_)
    assert fast.outliers_[:5].all()  # the planted outliers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = HuberRegressor(max_iter=100000).fit(Xs, y)
    ours = _huber_objective(Xs, y, fast.coef_, fast.intercept_, fast.scale_)
    assert ours <= _huber_objective(Xs, y, sk.coef_, sk.intercept_, sk.scale_) * (1 + 1e-9)
    np.testing.assert_allclose(fast.coef_, sk.coef_, rtol=1e-3, atol=1e-4 * np.abs(sk.coef_).max())


@pytest.mark.parametrize("name", ["lasso", "elasticnet", "huber", "pcr", "ard"])
def test_unchecked_fit_of_the_cv_loop_equals_the_checked_one(name):
    X, y, Xt = _data(5)
    Xs, Xts = minmax_scale_pair(X, Xt)
    Xs, Xts = np.ascontiguousarray(Xs), np.ascontiguousarray(Xts)
    checked = make_regressor(name).fit(Xs, y).predict(Xts)
    unchecked = make_regressor(name).fit(Xs, y, check_input=False)._decision_function(Xts)
    np.testing.assert_array_equal(checked, unchecked)
    np.testing.assert_array_equal(fit_predict(name, Xs, y, Xts), checked)
    with pytest.raises(ValueError, match="finite"):
        fit_predict(name, np.where(Xs > 0.5, np.nan, Xs), y, Xts)
