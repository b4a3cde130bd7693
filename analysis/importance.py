"""Feature importance (paper Section 4.2.2).

The importance of feature ``j`` in a group is the Pearson correlation between the
feature and a regressor's out-of-fold predictions of the accuracy drop,
averaged over the repeats and the regressors::

    w_j = mean over (regressor, repeat) of  r( X[:, j], yhat_oof[regressor, repeat] )

A positive ``w_j`` means that larger values of the feature go with a larger
predicted accuracy drop (a worse sparse network).  Correlations that are
undefined (a constant feature, or a regressor predicting a constant such as a
Lasso choosing its largest penalty) are left out of the average and counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .correlation import pearson_columns
from .regression import CVResult, RegressionResults

__all__ = ["importance_of", "importance_table", "importance_vectors", "pearson_columns"]


def _nanmean(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means over the finite entries (NaN where none) and the count of undefined ones."""
    ok = np.isfinite(a)
    count = ok.sum(axis=0)
    total = np.where(ok, a, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return mean, a.shape[0] - count


def importance_of(result: CVResult, per_regressor: bool = False) -> pd.DataFrame:
    """Importance of each feature for one cross-validated group.

    Returns
    -------
    DataFrame with ``feature, importance, n_undefined`` (and ``regressor`` rows
    when ``per_regressor``; the average row has ``regressor == "mean"``).
    """
    R, K, n = result.predictions.shape
    r = pearson_columns(result.X, result.predictions.reshape(R * K, n)).reshape(R, K, -1)
    rows = []
    if per_regressor:
        for i, name in enumerate(result.regressors):
            vals, undefined = _nanmean(r[i])
            for j, f in enumerate(result.features):
                rows.append((name, f, vals[j], int(undefined[j])))
    vals, undefined = _nanmean(r.reshape(R * K, -1))
    for j, f in enumerate(result.features):
        rows.append(("mean", f, vals[j], int(undefined[j])))
    return pd.DataFrame(rows, columns=["regressor", "feature", "importance", "n_undefined"])


def importance_table(results: RegressionResults, per_regressor: bool = False) -> pd.DataFrame:
    """Importance for every ``(encoding, scenario, group)`` of a regression run (tidy)."""
    frames = []
    for (enc, scen, grp), res in results.results.items():
        df = importance_of(res, per_regressor=per_regressor)
        df.insert(0, "group", grp)
        df.insert(0, "scenario", scen)
        df.insert(0, "encoding", enc)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def importance_vectors(table: pd.DataFrame, encoding: str | None = None, scenario: str = "sparsity") -> pd.DataFrame:
    """Pivot an :func:`importance_table` to one row per group and one column per feature."""
    sub = table[(table["regressor"] == "mean") & (table["scenario"] == scenario)]
    if encoding is not None:
        sub = sub[sub["encoding"] == encoding]
    if sub.empty:
        raise ValueError(f"no importance rows for encoding={encoding!r}, scenario={scenario!r}")
    features = list(dict.fromkeys(sub["feature"]))
    wide = sub.pivot_table(index="group", columns="feature", values="importance", aggfunc="first", dropna=False)
    return wide[features]
