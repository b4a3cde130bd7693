"""What the fast estimators share: input validation, ``predict``, inner K-fold bounds.

The fast estimators are scikit-learn estimators (``RegressorMixin``,
``BaseEstimator``): parameters are stored unchanged by ``__init__`` and validated
by ``fit``; inputs go through :func:`sklearn.utils.validation.validate_data`
(finite, 2-D, numeric, ``n_features_in_``), so they drop into pipelines, grid
searches and ``clone``.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["FastLinearModel", "kfold_bounds", "center", "check_int", "check_real"]


def kfold_bounds(n: int, k: int) -> np.ndarray:
    """Start/stop of scikit-learn's unshuffled ``KFold(k)`` test folds over ``n`` rows.

    The first ``n % k`` folds hold ``n // k + 1`` rows, the others ``n // k``.
    Returns an int array of length ``k + 1``.
    """
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


def check_int(value, name: str, minimum: int) -> int:
    """``value`` as an int ``>= minimum`` (bools refused), else ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(value, name: str, low: float, high: float = np.inf, *, low_open: bool = False) -> float:
    """``value`` as a float in ``[low, high]`` (``(low, high]`` with ``low_open``), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    above = v > low if low_open else v >= low
    if not (above and v <= high):
        bound = ("(" if low_open else "[") + f"{low}, {high}]"
        raise ValueError(f"{name} must be in {bound}, got {value!r}")
    return v


class FastLinearModel(RegressorMixin, BaseEstimator):
    """Base of the fast linear regressors: ``predict(X) = X @ coef_ + intercept_``.

    Every ``fit(X, y, check_input=True)`` validates its inputs; ``check_input=False``
    trusts the caller, as scikit-learn's ``ElasticNet.fit(check_input=False)`` does
    (``X`` a finite C-contiguous float64 matrix, ``y`` a float64 vector).  The
    cross-validation loop of :mod:`analysis.regression` uses it: it checks a group's
    values once instead of in each of its thousands of fits.
    """

    def _validate_fit_data(self, X, y, *, check_input: bool = True, min_samples: int = 1, what: str = ""):
        """Validated float64, C-contiguous ``(X, y)``; sets ``n_features_in_``.

        ``check_input=False`` trusts the caller (as scikit-learn's ``ElasticNet.fit``
        does): ``X`` must already be a finite, C-contiguous float64 2-D array and
        ``y`` a float64 1-D array of matching length; only their shapes are used.
        With ``min_samples > 1`` fewer rows raise a ValueError naming ``n_samples``
        (``what`` says why that many are needed).
        """
        if check_input:
            X, y = validate_data(self, X, y, dtype=np.float64, order="C", y_numeric=True)
            y = np.ascontiguousarray(y, dtype=np.float64)
        else:
            self.n_features_in_ = X.shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        if X.shape[0] < min_samples:
            raise ValueError(
                f"{type(self).__name__} needs at least {min_samples} training rows (samples){what}, "
                f"got n_samples={X.shape[0]}"
            )
        return X, y

    @staticmethod
    def _fold_order(n: int, shuffle: bool, random_state) -> np.ndarray | None:
        """Row order whose contiguous blocks are the inner folds: None (unshuffled ``KFold``) or
        the permutation of ``KFold(shuffle=True, random_state=random_state)``."""
        if not shuffle:
            return None
        order = np.arange(n)
        check_random_state(random_state).shuffle(order)
        return order

    def predict(self, X):
        """Predict ``X @ coef_ + intercept_`` for the rows of ``X`` (n_samples, n_features)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._decision_function(X)

    def _decision_function(self, X):
        """``X @ coef_ + intercept_`` without input checks (``X``: float64, ``n_features_in_`` columns)."""
        return X @ self.coef_ + self.intercept_


def center(X: np.ndarray, y: np.ndarray):
    """``(X - mean X, y - mean y, mean X, mean y)`` (column means)."""
    xm = X.sum(axis=0) / X.shape[0]
    ym = y.sum() / y.shape[0]
    return X - xm, y - ym, xm, ym
