"""The fast regressors are scikit-learn estimators: scikit-learn's own estimator checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from analysis.estimators import FastARDRegression, FastElasticNetCV, FastHuberRegressor, FastLassoCV, FastPCRCV

ESTIMATORS = [FastLassoCV(), FastElasticNetCV(), FastHuberRegressor(), FastPCRCV(), FastARDRegression()]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_drops_into_pipelines_and_grid_search(estimator):
    rng = np.random.default_rng(0)
    X = rng.random((60, 4)) * [1.0, 10.0, 100.0, 0.1]
    y = X @ [0.5, -0.03, 0.002, 4.0] + rng.normal(0, 0.01, 60)
    pipe = make_pipeline(MinMaxScaler(), clone(estimator))
    pred = cross_val_predict(pipe, X, y, cv=3)
    assert np.corrcoef(pred, y)[0, 1] > 0.9
    name = type(estimator).__name__.lower()
    param = {"fastlassocv": "eps", "fastelasticnetcv": "eps", "fasthuberregressor": "alpha", "fastpcrcv": "tol", "fastardregression": "tol"}[name]
    base = getattr(estimator, param)
    search = GridSearchCV(pipe, {f"{name}__{param}": [base, base * 2]}, cv=3).fit(X, y)
    assert search.best_estimator_[-1].get_params()[param] in (base, base * 2)


@pytest.mark.parametrize(
    "estimator,message",
    [
        (FastLassoCV(cv=1), "cv must be an integer >= 2"),
        (FastElasticNetCV(l1_ratio=0.0), r"l1_ratio must be in \(0.0, 1.0\]"),
        (FastElasticNetCV(eps=2.0), r"eps must be in"),
        (FastHuberRegressor(epsilon=0.5), r"epsilon must be in \[1.0"),
        (FastPCRCV(tol=-1.0), "tol must be in"),
        (FastARDRegression(max_iter=0), "max_iter must be an integer >= 1"),
        (FastARDRegression(threshold_lambda=True), "threshold_lambda must be a real number"),
    ],
)
def test_bad_parameters_fail_in_fit_with_the_parameter_named(estimator, message):
    X = np.random.default_rng(1).random((20, 3))
    with pytest.raises(ValueError, match=message):
        estimator.fit(X, X[:, 0])


def test_too_few_rows_for_the_inner_cv_names_n_samples():
    X = np.random.default_rng(2).random((4, 3))
    for est in (FastLassoCV(), FastElasticNetCV(), FastPCRCV()):
        with pytest.raises(ValueError, match="at least 5 training rows .*n_samples=4"):
            est.fit(X, X[:, 0])
