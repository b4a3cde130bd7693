"""The eight regressors of the paper (Appendix A.6) by name, and the paper's scaling.

==================  ====================================================  ===============================================
name                estimator built by :func:`make_regressor`             scikit-learn reference (:func:`reference_pipeline`)
==================  ====================================================  ===============================================
``linear``          ``LinearRegression()``                                the same
``ridge``           ``RidgeCV(alphas=(0.1, 1, 10))`` (leave-one-out)      the same
``lasso``           :class:`~analysis.estimators.FastLassoCV`             ``LassoCV(cv=5)``
``elasticnet``      :class:`~analysis.estimators.FastElasticNetCV`        ``ElasticNetCV(cv=5, l1_ratio=0.5)``
``huber``           :class:`~analysis.estimators.FastHuberRegressor`      ``HuberRegressor(max_iter=10000)``
``pcr``             :class:`~analysis.estimators.FastPCRCV`               ``GridSearchCV(PCA() + LinearRegression(), cv=5)``
``bayesian_ridge``  ``BayesianRidge()``                                   the same
``ard``             :class:`~analysis.estimators.FastARDRegression`       ``ARDRegression()``
==================  ====================================================  ===============================================

Every regressor sees min-max scaled features (fitted on the training rows), as in
the paper's pipeline ``make_pipeline(MinMaxScaler(), estimator)``.  The fast
estimators choose hyper-parameters as scikit-learn does (same grids, unshuffled
``KFold(5)`` inner folds, tie-breaking) and converge tighter where scikit-learn
stops early (see their modules); the tests compare each with its reference.
"""

from __future__ import annotations

import numpy as np

from ._base import FastLinearModel
from .ard import FastARDRegression
from .enet import FastElasticNetCV, FastLassoCV
from .huber import FastHuberRegressor
from .pcr import FastPCRCV

__all__ = [
    "REGRESSORS",
    "REGRESSOR_LABELS",
    "INNER_FOLDS",
    "make_regressor",
    "minmax_scale_pair",
    "fit_predict",
    "fit_predict_all",
    "reference_pipeline",
]

#: Regressor names in the paper's order (Appendix A.6).
REGRESSORS = ("linear", "ridge", "lasso", "elasticnet", "huber", "pcr", "bayesian_ridge", "ard")
REGRESSOR_LABELS = {
    "linear": "Linear",
    "ridge": "Ridge",
    "lasso": "Lasso",
    "elasticnet": "ElasticNet",
    "huber": "Huber",
    "pcr": "PCR",
    "bayesian_ridge": "BayesianRidge",
    "ard": "ARD",
}

_EPS = np.finfo(np.float64).eps
RIDGE_ALPHAS = (0.1, 1.0, 10.0)
N_ALPHAS = 100
ALPHA_EPS = 1e-3
INNER_FOLDS = 5
ENET_L1_RATIO = 0.5
HUBER_EPSILON = 1.35
HUBER_ALPHA = 1e-4
#: Relative singular-value cutoff of LinearRegression (scikit-learn >= 1.7: ``tol=1e-6``).
LINEAR_RCOND = 1e-6


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown regressor {name!r}; choose from {', '.join(REGRESSORS)}")


def make_regressor(name: str):
    """A new, unfitted estimator for regressor ``name`` (one of :data:`REGRESSORS`).

    ``linear``, ``ridge`` and ``bayesian_ridge`` are scikit-learn's estimators; the
    others the fast scikit-learn-compatible estimators of this package (table above).
    """
    from sklearn.linear_model import BayesianRidge, LinearRegression, RidgeCV

    builders = {
        "linear": lambda: LinearRegression(),
        "ridge": lambda: RidgeCV(alphas=RIDGE_ALPHAS),
        "lasso": lambda: FastLassoCV(eps=ALPHA_EPS, n_alphas=N_ALPHAS, cv=INNER_FOLDS),
        "elasticnet": lambda: FastElasticNetCV(l1_ratio=ENET_L1_RATIO, eps=ALPHA_EPS, n_alphas=N_ALPHAS, cv=INNER_FOLDS),
        "huber": lambda: FastHuberRegressor(epsilon=HUBER_EPSILON, alpha=HUBER_ALPHA),
        "pcr": lambda: FastPCRCV(cv=INNER_FOLDS, tol=LINEAR_RCOND),
        "bayesian_ridge": lambda: BayesianRidge(),
        "ard": lambda: FastARDRegression(),
    }
    if name not in builders:
        raise _unknown(name)
    return builders[name]()


def minmax_scale_pair(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-max scale both arrays with the training rows' per-column range.

    Same arithmetic as ``sklearn.preprocessing.MinMaxScaler`` (a zero range scales
    by 1): ``X * scale + (0 - min * scale)`` with ``scale = 1 / range``.
    """
    lo = X_train.min(axis=0)
    rng = X_train.max(axis=0) - lo
    rng = np.where(rng < 10 * _EPS, 1.0, rng)
    scale = 1.0 / rng
    shift = 0.0 - lo * scale
    return X_train * scale + shift, X_test * scale + shift


def _checked_arrays(X_train, y_train, X_test):
    X = np.ascontiguousarray(X_train, dtype=np.float64)
    y = np.ascontiguousarray(y_train, dtype=np.float64)
    Xt = np.ascontiguousarray(X_test, dtype=np.float64)
    if X.ndim != 2 or Xt.ndim != 2 or y.ndim != 1 or len(X) != len(y) or X.shape[1] != Xt.shape[1]:
        raise ValueError(
            f"expected X_train (n, p), y_train (n,) and X_test (m, p), got shapes {X.shape}, {y.shape}, {Xt.shape}"
        )
    if not (np.isfinite(X).all() and np.isfinite(y).all() and np.isfinite(Xt).all()):
        raise ValueError("X_train, y_train and X_test must be finite (no NaN or infinity)")
    return X, y, Xt


def _fit_predict_checked(name: str, X: np.ndarray, y: np.ndarray, Xt: np.ndarray) -> np.ndarray:
    """Fit and predict on arrays already checked by :func:`_checked_arrays`.

    The fast estimators skip their per-call input checks (``check_input=False``);
    scikit-learn's own estimators validate their training data as usual.  Every
    regressor is linear, so the test rows are predicted as ``Xt @ coef_ +
    intercept_`` (the arithmetic of scikit-learn's ``predict``, without checking
    ``Xt`` again).
    """
    model = make_regressor(name)
    if isinstance(model, FastLinearModel):
        model.fit(X, y, check_input=False)
    else:
        model.fit(X, y)
    return Xt @ model.coef_ + model.intercept_


def fit_predict(name: str, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    """Fit regressor ``name`` on already-scaled training rows and predict ``X_test``.

    Parameters
    ----------
    name : str
        One of :data:`REGRESSORS`.
    X_train, y_train, X_test : array-like
        Finite numbers; features are expected min-max scaled (see
        :func:`minmax_scale_pair`), as in the paper's pipeline.
    """
    make_regressor(name)  # unknown names fail before the arrays are checked
    return _fit_predict_checked(name, *_checked_arrays(X_train, y_train, X_test))


def fit_predict_all(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    regressors: tuple[str, ...] | list[str] = REGRESSORS,
) -> np.ndarray:
    """Min-max scale with the training rows, then fit and predict every regressor.

    The inputs are checked once (finite, matching shapes), not by every fit.
    Returns an array of shape ``(len(regressors), len(X_test))``.
    """
    X, y, Xt = _checked_arrays(X_train, y_train, X_test)
    Xs, Xt = minmax_scale_pair(X, Xt)
    Xs = np.ascontiguousarray(Xs)
    Xt = np.ascontiguousarray(Xt)
    out = np.empty((len(regressors), Xt.shape[0]))
    for i, name in enumerate(regressors):
        out[i] = _fit_predict_checked(name, Xs, y, Xt)
    return out


def reference_pipeline(name: str, n_features: int):
    """The scikit-learn pipeline (MinMaxScaler + estimator) that regressor ``name`` reproduces."""
    import sklearn
    from sklearn.decomposition import PCA
    from sklearn.linear_model import (
        ARDRegression,
        BayesianRidge,
        ElasticNetCV,
        HuberRegressor,
        LassoCV,
        LinearRegression,
        RidgeCV,
    )
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    grid = {"alphas": N_ALPHAS} if (major, minor) >= (1, 7) else {"n_alphas": N_ALPHAS}
    est = {
        "linear": lambda: LinearRegression(),
        "ridge": lambda: RidgeCV(alphas=RIDGE_ALPHAS),
        "lasso": lambda: LassoCV(cv=INNER_FOLDS, eps=ALPHA_EPS, **grid),
        "elasticnet": lambda: ElasticNetCV(cv=INNER_FOLDS, l1_ratio=ENET_L1_RATIO, eps=ALPHA_EPS, **grid),
        "huber": lambda: HuberRegressor(epsilon=HUBER_EPSILON, alpha=HUBER_ALPHA, max_iter=10000),
        "pcr": lambda: GridSearchCV(
            make_pipeline(PCA(), LinearRegression()),
            {"pca__n_components": list(range(1, n_features + 1))},
            cv=INNER_FOLDS,
        ),
        "bayesian_ridge": lambda: BayesianRidge(),
        "ard": lambda: ARDRegression(),
    }
    if name not in est:
        raise _unknown(name)
    return make_pipeline(MinMaxScaler(), est[name]())
