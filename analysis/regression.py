"""Accuracy-drop regression with repeated K-fold cross-validation (paper Section 4.2.1).

For every group of networks (one sparsity in the *Sparsity-Fixed* scenario, one
architecture in the *Architecture-Fixed* scenario) each of the eight regressors
of :mod:`analysis.estimators` is cross-validated with ``n_repeats`` repetitions of
shuffled ``n_splits``-fold CV (``sklearn.model_selection.RepeatedKFold`` splits,
seeded by ``random_state``).  Features are min-max scaled inside the CV (fit on
the training folds); hyper-parameters are chosen by inner CV on the training folds
only.  In each repeat every row of the group is predicted once by a model that
did not see it; the adjusted R^2 and the MAE are computed on these pooled
out-of-fold predictions over all ``n`` rows (rows are taken in a seeded random
order, see :func:`group_arrays`)::

    R^2     = 1 - sum (y - yhat)^2 / sum (y - mean y)^2
    adj R^2 = 1 - (1 - R^2) (n - 1) / (n - p - 1)        (p = number of features)
    MAE     = mean |y - yhat|

and their mean and standard deviation over repeats are reported per regressor
and for the average of the regressors (per repeat, then over repeats).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from topocore.errors import InputError

from .estimators import INNER_FOLDS, REGRESSORS, fit_predict_all, reference_pipeline
from .schema import add_accuracy_drop, feature_columns

__all__ = [
    "SCENARIOS",
    "CVResult",
    "RegressionResults",
    "repeated_kfold_splits",
    "cross_validate",
    "run_scenarios",
    "regression_summary",
    "scenario_groups",
    "group_arrays",
]

#: Scenario name -> the column that defines its groups.
SCENARIOS = {"sparsity": "sparsity", "architecture": "arch"}
SCENARIO_TITLES = {"sparsity": "Sparsity-Fixed", "architecture": "Architecture-Fixed"}


def repeated_kfold_splits(n: int, n_splits: int = 5, n_repeats: int = 100, random_state: int | None = 0):
    """Test-fold index arrays per repeat: ``splits[r][k]`` (sorted).

    The same folds as ``RepeatedKFold(n_splits, n_repeats, random_state)``.
    """
    from sklearn.model_selection import RepeatedKFold

    if n < n_splits:
        raise InputError(f"a group with {n} rows cannot be split into {n_splits} folds; it needs at least {n_splits} rows")
    rkf = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=random_state)
    dummy = np.zeros((n, 1))
    tests = [te for _, te in rkf.split(dummy)]
    return [tests[r * n_splits : (r + 1) * n_splits] for r in range(n_repeats)]


@dataclass
class CVResult:
    """Out-of-fold predictions of every regressor and repeat for one group.

    Attributes
    ----------
    key : tuple
        Identifies the group, e.g. ``("unrolled", "sparsity", 0.9)``.
    features : list of str
    regressors : tuple of str
    X : ndarray (n, p)
        Unscaled features of the group's rows.
    y : ndarray (n,)
        Target (accuracy drop).
    index : Index
        Row labels of the group in the input table.
    predictions : ndarray (n_regressors, n_repeats, n)
        Out-of-fold predictions.
    """

    key: tuple
    features: list[str]
    regressors: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray
    index: pd.Index
    predictions: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.y.shape[0])

    def scores(self) -> pd.DataFrame:
        """Adjusted R^2, R^2 and MAE per regressor and repeat on pooled OOF predictions."""
        y = self.y
        n, p = self.X.shape
        sst = float(np.sum((y - y.mean()) ** 2))
        resid = self.predictions - y[None, None, :]
        sse = np.sum(resid**2, axis=2)
        r2 = 1.0 - sse / sst if sst > 0 else np.full(sse.shape, np.nan)
        # Undefined (NaN) for groups with n <= p + 1 (allowed with ``allow_small_groups``).
        adj = 1.0 - (1.0 - r2) * (n - 1) / (n - p - 1) if n - p - 1 > 0 else np.full(sse.shape, np.nan)
        mae = np.mean(np.abs(resid), axis=2)
        R, K = sse.shape
        return pd.DataFrame(
            {
                "regressor": np.repeat(np.array(self.regressors, dtype=object), K),
                "repeat": np.tile(np.arange(K), R),
                "r2": r2.ravel(),
                "adj_r2": adj.ravel(),
                "mae": mae.ravel(),
            }
        )


def _fit_chunk(X, y, chunk, regressors, engine):
    """OOF predictions for a list of repeats (each a list of test-index arrays).

    The group's values were checked once (finite, numeric: :func:`_prepare`), so
    scikit-learn's per-fit finiteness and parameter checks are switched off here
    (``assume_finite``, ``skip_parameter_validation``); each fit still validates
    shapes and types.
    """
    import warnings

    import sklearn
    from sklearn.exceptions import ConvergenceWarning

    n = y.shape[0]
    out = np.empty((len(regressors), len(chunk), n))
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for r, folds in enumerate(chunk):
            for test in folds:
                train = np.setdiff1d(np.arange(n), test, assume_unique=True)
                if engine == "fast":
                    out[:, r, test] = fit_predict_all(X[train], y[train], X[test], regressors)
                else:
                    for i, name in enumerate(regressors):
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", ConvergenceWarning)
                            model = reference_pipeline(name, X.shape[1])
                            out[i, r, test] = model.fit(X[train], y[train]).predict(X[test])
    return out


def _fit_chunk_tagged(t_id, c_id, X, y, chunk, regressors, engine):
    return t_id, c_id, len(chunk), _fit_chunk(X, y, chunk, regressors, engine)


@dataclass
class _Task:
    key: tuple
    X: np.ndarray
    y: np.ndarray
    chunks: list


def _run_tasks(tasks: list[_Task], regressors, engine, n_jobs, progress, desc):
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    jobs = []
    for t_id, task in enumerate(tasks):
        for c_id, chunk in enumerate(task.chunks):
            jobs.append((t_id, c_id, chunk))
    results: dict[tuple[int, int], np.ndarray] = {}
    total_fits = sum(len(c) for _, _, c in jobs)
    bar = tqdm(total=total_fits, desc=desc, unit="repeat", disable=not progress, leave=False)
    try:
        if n_jobs == 1 or len(jobs) == 1:
            for t_id, c_id, chunk in jobs:
                results[(t_id, c_id)] = _fit_chunk(tasks[t_id].X, tasks[t_id].y, chunk, regressors, engine)
                bar.update(len(chunk))
        else:
            par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            calls = (
                delayed(_fit_chunk_tagged)(t, c, tasks[t].X, tasks[t].y, ch, regressors, engine) for t, c, ch in jobs
            )
            for t_id, c_id, k, arr in par(calls):
                results[(t_id, c_id)] = arr
                bar.update(k)
    finally:
        bar.close()
    preds = []
    for t_id, task in enumerate(tasks):
        preds.append(np.concatenate([results[(t_id, c)] for c in range(len(task.chunks))], axis=1))
    return preds


def group_arrays(rows: pd.DataFrame, features: list[str], target: str, random_state) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Features, target and row labels of a group in a seeded random order.

    Rows are first put in a canonical order (by the network key columns when
    present) and then permuted with ``random_state``.  The outer folds are
    shuffled anyway; the permutation makes the *inner* cross-validations of
    LassoCV, ElasticNetCV and the PCR grid search (scikit-learn's unshuffled
    ``KFold(5)`` over the training rows) random splits instead of blocks of
    whatever order the table was sorted in (e.g. one architecture per block), and
    makes results independent of the input row order.
    """
    keys = [c for c in ("arch", "dataset", "method", "sparsity", "seed") if c in rows.columns]
    ordered = rows.sort_values(keys, kind="mergesort") if keys else rows
    perm = np.random.default_rng(random_state).permutation(len(ordered))
    ordered = ordered.iloc[perm]
    return ordered[features].to_numpy(dtype=np.float64), ordered[target].to_numpy(dtype=np.float64), ordered.index


def min_group_rows(n_splits: int = 5, inner_folds: int = INNER_FOLDS) -> int:
    """Smallest group that repeated ``n_splits``-fold CV can handle.

    Every outer training fold (``n - ceil(n / n_splits)`` rows) must hold at least
    ``inner_folds`` rows for the inner CV of LassoCV / ElasticNetCV / RidgeCV and
    PCR's grid search: 7 rows for 5 outer and 5 inner folds.
    """
    n = max(n_splits, inner_folds)
    while n - -(-n // n_splits) < inner_folds:
        n += 1
    return n


def _check_group(df: pd.DataFrame, key, n_splits: int, n_features: int, allow_small: bool = False) -> None:
    n = len(df)
    need = min_group_rows(n_splits)
    if n < need:
        raise InputError(
            f"group {key} has {n} rows; {n_splits}-fold CV with an inner {INNER_FOLDS}-fold CV on every training "
            f"fold needs at least {need} rows"
        )
    if n - n_features - 1 <= 0 and not allow_small:
        raise InputError(
            f"group {key} has {n} rows for {n_features} features: the adjusted R^2 needs n > p + 1; "
            "use fewer features, pool more networks per group, or pass allow_small_groups=True "
            "(importances only; the adjusted R^2 is then NaN)"
        )


def _prepare(table: pd.DataFrame, features, target: str) -> tuple[pd.DataFrame, list[str]]:
    table = table.copy(deep=False)
    table.attrs = {}  # pandas deep-copies attrs on every operation
    if target == "accuracy_drop" and "accuracy_drop" not in table.columns:
        table = add_accuracy_drop(table)
    if target not in table.columns:
        raise InputError(f"target column {target!r} is missing")
    feats = feature_columns(table, features)
    if not feats:
        raise InputError("no feature columns to regress on")
    sub = table[feats + [target]]
    if not np.isfinite(sub.to_numpy(dtype=float)).all():
        bad = int((~np.isfinite(sub.to_numpy(dtype=float))).any(axis=1).sum())
        raise InputError(f"{bad} rows have missing or non-finite feature or target values; drop them first")
    return table, feats


def _validate_common(regressors, engine, n_splits, n_repeats, n_jobs):
    regressors = tuple(regressors)
    unknown = [r for r in regressors if r not in REGRESSORS]
    if unknown:
        raise InputError(f"unknown regressors {unknown}; choose from {', '.join(REGRESSORS)}")
    if engine not in ("fast", "sklearn"):
        raise InputError(f"engine must be 'fast' or 'sklearn', got {engine!r}")
    if n_splits < 2:
        raise InputError("n_splits must be at least 2")
    if n_repeats < 1:
        raise InputError("n_repeats must be at least 1")
    if n_jobs is None or n_jobs == 0:
        raise InputError("n_jobs must be a non-zero integer (-1: all cores)")
    return regressors


def cross_validate(
    table: pd.DataFrame,
    features: Iterable[str] | None = None,
    *,
    target: str = "accuracy_drop",
    regressors: Sequence[str] = REGRESSORS,
    n_splits: int = 5,
    n_repeats: int = 100,
    random_state: int | None = 0,
    n_jobs: int = 1,
    engine: str = "fast",
    progress: bool = True,
    key: tuple = ("all",),
    allow_small_groups: bool = False,
) -> CVResult:
    """Repeated K-fold cross-validation of the regressors on one group (all rows of ``table``).

    Parameters
    ----------
    table : DataFrame
        Results table; ``accuracy_drop`` is derived when missing.
    features : list of str, optional
        Feature columns (default: every numeric non-key column).
    engine : {"fast", "sklearn"}
        ``"fast"`` uses :func:`analysis.estimators.make_regressor` (scikit-learn's
        estimators and the fast scikit-learn-compatible ones); ``"sklearn"`` the
        reference scikit-learn pipelines for all eight (slow; same folds and
        hyper-parameter search).
    n_jobs : int
        Worker processes over chunks of repeats (``-1``: all cores).
    allow_small_groups : bool
        Cross-validate a group with ``n <= p + 1`` rows (default: error).  Its
        out-of-fold predictions, hence feature importances, are defined; its
        adjusted R^2 is reported as NaN.
    """
    regressors = _validate_common(regressors, engine, n_splits, n_repeats, n_jobs)
    table, feats = _prepare(table, features, target)
    _check_group(table, key, n_splits, len(feats), allow_small_groups)
    X, y, index = group_arrays(table, feats, target, random_state)
    splits = repeated_kfold_splits(len(y), n_splits, n_repeats, random_state)
    chunk = max(1, int(np.ceil(n_repeats / (4 * max(1, _effective_jobs(n_jobs))))))
    task = _Task(key, X, y, [splits[i : i + chunk] for i in range(0, n_repeats, chunk)])
    (pred,) = _run_tasks([task], regressors, engine, n_jobs, progress, f"CV {key}")
    return CVResult(key, feats, regressors, X, y, index, pred)


def _effective_jobs(n_jobs: int) -> int:
    from joblib import effective_n_jobs

    return effective_n_jobs(n_jobs)


def scenario_groups(table: pd.DataFrame, scenario: str) -> list[tuple[object, pd.DataFrame]]:
    """``[(group value, rows)]`` of a scenario, in sorted order."""
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    col = SCENARIOS[scenario]
    if col not in table.columns:
        raise InputError(f"scenario {scenario!r} groups by column {col!r}, which is missing")
    return [(value, rows) for value, rows in table.groupby(col, sort=True)]


@dataclass
class RegressionResults:
    """Cross-validation results of several groups (and encodings).

    ``results`` maps ``(encoding, scenario, group)`` to :class:`CVResult`.
    """

    results: dict[tuple, CVResult] = field(default_factory=dict)
    n_repeats: int = 0
    random_state: int | None = 0

    def scores(self) -> pd.DataFrame:
        """Per (encoding, scenario, group, regressor, repeat): r2, adj_r2, mae."""
        frames = []
        for (enc, scen, grp), res in self.results.items():
            df = res.scores()
            df.insert(0, "group", grp)
            df.insert(0, "scenario", scen)
            df.insert(0, "encoding", enc)
            df["n_rows"] = res.n_rows
            df["n_features"] = len(res.features)
            frames.append(df)
        if not frames:
            return pd.DataFrame(columns=["encoding", "scenario", "group", "regressor", "repeat", "r2", "adj_r2", "mae"])
        return pd.concat(frames, ignore_index=True)

    def summary(self, per_regressor: bool = False) -> pd.DataFrame:
        """Mean and std over repeats; see :func:`regression_summary`."""
        return regression_summary(self.scores(), per_regressor=per_regressor)

    def __getitem__(self, key: tuple) -> CVResult:
        return self.results[key]

    def keys(self):
        return self.results.keys()


def regression_summary(scores: pd.DataFrame, per_regressor: bool = False) -> pd.DataFrame:
    """Summarise per-repeat scores.

    With ``per_regressor=False`` the regressors are averaged within each repeat
    first, then mean and std are taken over repeats (regressor ``"mean"``);
    with ``True`` every regressor gets its own row too.
    """
    keys = ["encoding", "scenario", "group"]
    meta = scores.groupby(keys, sort=False)[["n_rows", "n_features"]].first()
    avg = scores.groupby(keys + ["repeat"], sort=False)[["adj_r2", "mae", "r2"]].mean().reset_index()
    avg["regressor"] = "mean"
    parts = [avg]
    if per_regressor:
        parts.insert(0, scores[keys + ["regressor", "repeat", "adj_r2", "mae", "r2"]])
    allp = pd.concat(parts, ignore_index=True)
    out = (
        allp.groupby(keys + ["regressor"], sort=False)
        .agg(
            adj_r2_mean=("adj_r2", "mean"),
            adj_r2_std=("adj_r2", lambda s: float(np.std(s, ddof=1)) if len(s) > 1 else 0.0),
            mae_mean=("mae", "mean"),
            mae_std=("mae", lambda s: float(np.std(s, ddof=1)) if len(s) > 1 else 0.0),
            r2_mean=("r2", "mean"),
            n_repeats=("adj_r2", "size"),
        )
        .reset_index()
    )
    return out.merge(meta.reset_index(), on=keys, how="left")


def run_scenarios(
    tables: pd.DataFrame | Mapping[str, pd.DataFrame],
    features: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
    *,
    scenarios: Sequence[str] = ("sparsity", "architecture"),
    target: str = "accuracy_drop",
    regressors: Sequence[str] = REGRESSORS,
    n_splits: int = 5,
    n_repeats: int = 100,
    random_state: int | None = 0,
    n_jobs: int = 1,
    engine: str = "fast",
    progress: bool = True,
    min_rows: int | None = None,
    allow_small_groups: bool = False,
) -> RegressionResults:
    """Cross-validate every group of every scenario (and encoding) in one parallel run.

    Parameters
    ----------
    tables : DataFrame or dict
        One results table, or ``{encoding: table}``.
    features : list or dict, optional
        Feature columns (per encoding when a dict).
    scenarios : sequence
        Any of ``"sparsity"`` (Sparsity-Fixed: one group per sparsity, all
        architectures and data sets pooled) and ``"architecture"``
        (Architecture-Fixed: one group per architecture).
    random_state : int
        Seeds the folds; every group uses the same seed, so its folds do not depend
        on which other groups or encodings are run.
    min_rows : int, optional
        Skip (instead of failing on) groups with fewer rows; default: fail.
    allow_small_groups : bool
        Cross-validate groups with ``n <= p + 1`` rows instead of failing (their
        adjusted R^2 is NaN; importances are defined).  Used by the main job,
        whose Sparsity-Fixed groups hold one architecture only.

    Returns
    -------
    RegressionResults keyed by ``(encoding, scenario, group)``.
    """
    regressors = _validate_common(regressors, engine, n_splits, n_repeats, n_jobs)
    if isinstance(tables, pd.DataFrame):
        tables = {"table": tables}
    tasks: list[_Task] = []
    meta = []
    jobs = max(1, _effective_jobs(n_jobs))
    chunk = max(1, min(25, int(np.ceil(n_repeats / 2))))
    if jobs == 1:
        chunk = n_repeats
    for enc, table in tables.items():
        feats_in = features.get(enc) if isinstance(features, Mapping) else features
        table, feats = _prepare(table, feats_in, target)
        for scen in scenarios:
            for grp, rows in scenario_groups(table, scen):
                key = (enc, scen, grp)
                if min_rows is not None and len(rows) < min_rows:
                    continue
                _check_group(rows, key, n_splits, len(feats), allow_small_groups)
                X, y, index = group_arrays(rows, feats, target, random_state)
                splits = repeated_kfold_splits(len(y), n_splits, n_repeats, random_state)
                tasks.append(_Task(key, X, y, [splits[i : i + chunk] for i in range(0, n_repeats, chunk)]))
                meta.append((key, feats, index))
    if not tasks:
        raise InputError("no group to cross-validate")
    preds = _run_tasks(tasks, regressors, engine, n_jobs, progress, "regression CV")
    out = RegressionResults(n_repeats=n_repeats, random_state=random_state)
    for (key, feats, idx), task, pred in zip(meta, tasks, preds):
        out.results[key] = CVResult(key, feats, regressors, task.X, task.y, idx, pred)
    return out
