"""Pearson correlation, written once for the analysis (feature importance, Ramanujan metrics).

Definition: for paired samples ``a`` and ``b`` of length ``n``,
``r = sum (a - mean a)(b - mean b) / sqrt(sum (a - mean a)^2 sum (b - mean b)^2)``,
clipped to ``[-1, 1]`` against rounding.  ``r`` is undefined (NaN) when either side
is constant; a side counts as constant when its centred norm is at most ``1e-12``
times ``max |values| * sqrt(n)`` (rounding noise of a constant column).
"""

from __future__ import annotations

import numpy as np

__all__ = ["pearson_columns", "pearson"]


def pearson_columns(X: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Pearson r between every column of ``X`` (n, p) and every row of ``P`` (m, n).

    Returns an (m, p) array; NaN where either side is constant.
    Complexity O(m n p).
    """
    X = np.asarray(X, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    Pc = P - P.mean(axis=1, keepdims=True)
    xs = np.sqrt(np.sum(Xc * Xc, axis=0))
    ps = np.sqrt(np.sum(Pc * Pc, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (Pc @ Xc) / (ps[:, None] * xs[None, :])
    # Constant sides (zero norm up to rounding) have no correlation.
    tiny_x = xs <= 1e-12 * (np.abs(X).max(axis=0) * np.sqrt(X.shape[0]) + 1e-300)
    tiny_p = ps <= 1e-12 * (np.abs(P).max(axis=1) * np.sqrt(P.shape[1]) + 1e-300)
    r[:, tiny_x] = np.nan
    r[tiny_p, :] = np.nan
    return np.clip(r, -1.0, 1.0)


def pearson(a, b, *, min_pairs: int = 3) -> float:
    """Pearson r of two samples over the pairs where both are finite.

    NaN when fewer than ``min_pairs`` such pairs remain or either side is constant
    on them.  Complexity O(n).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"pearson needs samples of equal length, got {a.size} and {b.size}")
    ok = np.isfinite(a) & np.isfinite(b)
    if int(ok.sum()) < min_pairs:
        return float("nan")
    return float(pearson_columns(a[ok, None], b[None, ok])[0, 0])
