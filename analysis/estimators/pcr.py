"""Principal-component regression with the number of components chosen by inner K-fold CV.

:class:`FastPCRCV` is the estimator the paper's pipeline builds with scikit-learn as
``GridSearchCV(make_pipeline(PCA(), LinearRegression()), {"pca__n_components":
range(1, p + 1)}, cv=5)``, computed from one SVD per fold instead of ``p`` pipeline
fits per fold.

Definition: with the centred training rows ``X_c = U S V^T``, the regression of
``y`` on the first ``k`` principal-component scores ``X_c V_k`` has coefficients
``beta_j = u_j^T y_c / s_j`` (the scores are orthogonal), so every ``k`` is read off
one SVD; components with ``s_j <= tol * s_1`` get 0, as ``LinearRegression``'s
least squares (scikit-learn >= 1.7: ``tol=1e-6``) does.  The inner CV scores each
``k`` by the mean over folds of the validation R^2 (constant validation targets:
1 for an exact prediction, else 0, as ``r2_score``) and keeps the first best ``k``;
a fold with fewer rows or columns than ``k`` uses all its components (scikit-learn
refuses that ``k``, which then never wins; the choice is the same).  The model is
refitted on all rows.

Complexity: O(n p^2) per fold (one thin SVD), memory O(n p).
"""

from __future__ import annotations

import numpy as np

from ._base import FastLinearModel, center, check_int, check_real, kfold_bounds

__all__ = ["FastPCRCV"]


def _pcr_fit_all_k(X, y, tol):
    """SVD of the centred rows and the score coefficients for every ``k``: ``(x_mean, Vt, beta, y_mean)``."""
    Xc, yc, xm, ym = center(X, y)
    U, S, Vt = np.linalg.svd(Xc, full_matrices=False)
    beta = np.zeros(S.shape[0])
    if S.size:
        keep = S > tol * S[0]
        beta[keep] = (U[:, keep].T @ yc) / S[keep]
    return xm, Vt, beta, ym


def _cv_scores(X, y, bounds, tol):
    """Mean validation R^2 over the folds ``bounds`` for ``k = 1..p`` components."""
    n, p = X.shape
    n_folds = bounds.shape[0] - 1
    score = np.zeros(p)
    for f in range(n_folds):
        lo, hi = bounds[f], bounds[f + 1]
        train = np.ones(n, dtype=bool)
        train[lo:hi] = False
        xm, Vt, beta, ym = _pcr_fit_all_k(X[train], y[train], tol)
        Xva, yva = X[lo:hi], y[lo:hi]
        contrib = ((Xva - xm) @ Vt.T) * beta  # (n_val, r)
        preds = ym + np.cumsum(contrib, axis=1)  # prediction with k = 1..r components
        if preds.shape[1] < p:
            preds = np.concatenate([preds, np.repeat(preds[:, -1:], p - preds.shape[1], axis=1)], axis=1)
        sse = np.sum((yva[:, None] - preds) ** 2, axis=0)
        sst = np.sum((yva - yva.mean()) ** 2)
        if sst > 0.0:
            r2 = 1.0 - sse / sst
        else:
            r2 = np.where(sse == 0.0, 1.0, 0.0)
        score += r2 / n_folds
    return score


class FastPCRCV(FastLinearModel):
    """PCA + linear regression, number of components by inner K-fold CV (see the module docstring).

    Parameters
    ----------
    cv : int >= 2
        Number of inner folds (scikit-learn's ``KFold(cv)``: contiguous blocks).
    shuffle : bool
        Shuffle the rows before splitting them into folds, as ``KFold(cv,
        shuffle=True, random_state=random_state)`` does.
    random_state : None, int or numpy RandomState
        Seeds that shuffle; unused when ``shuffle=False`` (the fit is deterministic).
    tol : float
        Relative singular-value cutoff of the least squares (``LinearRegression(tol=...)``).

    Attributes
    ----------
    n_components_ : int
        The chosen number of components.
    cv_scores_ : ndarray (n_features,)
        Mean validation R^2 of ``k = 1..n_features`` components.
    components_ : ndarray (n_components_, n_features)
        Principal axes of the refit.
    coef_ : ndarray (n_features,)
        ``components_.T @ beta``: the model in the input space.
    intercept_ : float
    n_features_in_ : int

    Notes
    -----
    ``check_estimator`` passes in full (``tests/test_analysis_estimator_api.py``).
    Checked against the scikit-learn grid search in the tests.
    """

    def __init__(self, *, cv=5, shuffle=False, random_state=None, tol=1e-6):
        self.cv = cv
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol

    def fit(self, X, y, check_input: bool = True):
        """Score ``k = 1..n_features`` components by inner CV on ``(X, y)``; refit all rows with the best."""
        cv = check_int(self.cv, "cv", 2)
        tol = check_real(self.tol, "tol", 0.0)
        X, y = self._validate_fit_data(X, y, check_input=check_input, min_samples=cv, what=f" for its inner {cv}-fold cross-validation")
        n = X.shape[0]
        order = self._fold_order(n, self.shuffle, self.random_state)
        Xf, yf = (X, y) if order is None else (X[order], y[order])
        score = _cv_scores(Xf, yf, kfold_bounds(n, cv), tol)
        best = int(np.argmax(score))
        xm, Vt, beta, ym = _pcr_fit_all_k(X, y, tol)
        k = min(best + 1, beta.shape[0])
        self.cv_scores_ = score
        self.n_components_ = k
        self.components_ = Vt[:k]
        self.coef_ = Vt[:k].T @ beta[:k]
        self.intercept_ = float(ym - xm @ self.coef_)
        return self
