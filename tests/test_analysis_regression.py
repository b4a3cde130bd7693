"""Repeated-CV regression and feature importance on synthetic tables with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.estimators import REGRESSORS
from analysis.importance import importance_of, importance_table, importance_vectors, pearson_columns
from analysis.regression import cross_validate, regression_summary, repeated_kfold_splits, run_scenarios

METHODS = ("snip", "grasp", "synflow", "prospr", "uniform", "er", "erk")


def linear_table(seed=0, noise=0.01, archs=("conv6", "resnet20", "resnet32", "wrn28_2"), n_noise=4):
    """accuracy_drop = 0.3 + 0.4 x1 - 0.3 x2 + N(0, noise); x3.. are irrelevant."""
    rng = np.random.default_rng(seed)
    rows = []
    for arch in archs:
        for ds in ("cifar10", "cifar100", "tinyimagenet"):
            for m in METHODS:
                for s in (0.6, 0.8, 0.9, 0.95, 0.98):
                    x = rng.random(2 + n_noise)
                    drop = 0.3 + 0.4 * x[0] - 0.3 * x[1] + rng.normal(0, noise)
                    row = {"arch": arch, "dataset": ds, "method": m, "sparsity": s, "seed": 0, "dense_accuracy": 0.9}
                    row["accuracy"] = 0.9 * (1 - drop)
                    row.update({f"x{i + 1}": v * (10.0 ** i) for i, v in enumerate(x)})  # wildly different scales
                    rows.append(row)
    return pd.DataFrame(rows)


FEATURES = [f"x{i}" for i in range(1, 7)]


@pytest.fixture(scope="module")
def scenario_results():
    return run_scenarios(linear_table(), FEATURES, n_repeats=2, random_state=0, progress=False)


def test_repeated_kfold_splits_partition_rows():
    splits = repeated_kfold_splits(23, 5, 3, random_state=1)
    assert len(splits) == 3
    for folds in splits:
        allidx = np.sort(np.concatenate(folds))
        assert np.array_equal(allidx, np.arange(23)) and sorted(len(f) for f in folds) == [4, 4, 5, 5, 5]
    assert not np.array_equal(splits[0][0], splits[1][0])
    again = repeated_kfold_splits(23, 5, 3, random_state=1)
    assert all(np.array_equal(a, b) for fa, fb in zip(splits, again) for a, b in zip(fa, fb))


def test_known_linear_answer_high_adjusted_r2(scenario_results):
    summary = scenario_results.summary(per_regressor=True)
    assert set(summary["scenario"]) == {"sparsity", "architecture"}
    assert len(summary[summary["regressor"] == "mean"]) == 5 + 4
    assert (summary["adj_r2_mean"] > 0.9).all(), summary[summary["adj_r2_mean"] <= 0.9]
    assert (summary["mae_mean"] < 0.03).all()
    assert set(summary["regressor"]) == set(REGRESSORS) | {"mean"}


def test_importance_concentrates_on_the_two_true_features(scenario_results):
    imp = importance_table(scenario_results)
    for scen in ("sparsity", "architecture"):
        wide = importance_vectors(imp, scenario=scen)
        assert (wide["x1"] > 0.6).all() and (wide["x2"] < -0.4).all()
        noise = wide[["x3", "x4", "x5", "x6"]].abs()
        # the true features dominate every group; irrelevant ones stay at chance level (|r| ~ 1/sqrt(n))
        assert (noise.max(axis=1) < wide["x2"].abs()).all()
        assert noise.to_numpy().mean() < 0.15


def test_scores_follow_their_definitions(scenario_results):
    res = scenario_results[("table", "architecture", "conv6")]
    scores = res.scores()
    y = res.y
    n, p = res.X.shape
    pred = res.predictions[REGRESSORS.index("ridge"), 1]
    r2 = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    row = scores[(scores.regressor == "ridge") & (scores.repeat == 1)].iloc[0]
    assert row["r2"] == pytest.approx(r2)
    assert row["adj_r2"] == pytest.approx(1 - (1 - r2) * (n - 1) / (n - p - 1))
    assert row["mae"] == pytest.approx(np.mean(np.abs(y - pred)))
    summ = regression_summary(scenario_results.scores())
    mean_row = summ[(summ.scenario == "architecture") & (summ.group == "conv6")].iloc[0]
    per_repeat = scores.groupby("repeat")["adj_r2"].mean()
    assert mean_row["adj_r2_mean"] == pytest.approx(per_repeat.mean())
    assert mean_row["adj_r2_std"] == pytest.approx(per_repeat.std(ddof=1))


def test_out_of_fold_predictions_never_see_their_row():
    # y depends on a row-specific feature only; leaking the row into training would make LinearRegression exact
    table = linear_table(archs=("conv6",), n_noise=0)
    res = cross_validate(table, ["x1", "x2"], regressors=("linear",), n_repeats=2, progress=False)
    resid = res.y - res.predictions[0, 0]
    assert np.std(resid) > 0.005  # the noise level (0.01) survives out of fold


def test_fast_engine_matches_sklearn_engine():
    table = linear_table(archs=("conv6",))
    kw = dict(regressors=("linear", "ridge", "pcr", "bayesian_ridge"), n_repeats=1, random_state=3, progress=False)
    fast = cross_validate(table, FEATURES, engine="fast", **kw)
    ref = cross_validate(table, FEATURES, engine="sklearn", **kw)
    np.testing.assert_allclose(fast.predictions, ref.predictions, rtol=1e-7, atol=1e-10)


def test_parallel_run_is_identical_to_serial():
    table = linear_table(archs=("conv6",))
    kw = dict(regressors=("ridge", "lasso", "huber"), n_repeats=4, random_state=2, progress=False)
    a = cross_validate(table, FEATURES, n_jobs=1, **kw)
    b = cross_validate(table, FEATURES, n_jobs=2, **kw)
    np.testing.assert_array_equal(a.predictions, b.predictions)


def test_pearson_columns_against_numpy():
    rng = np.random.default_rng(0)
    X = rng.random((30, 3))
    X[:, 2] = 1.0
    P = rng.random((4, 30))
    P[3] = 2.0
    r = pearson_columns(X, P)
    for i in range(3):
        for j in range(2):
            assert r[i, j] == pytest.approx(np.corrcoef(X[:, j], P[i])[0, 1])
    assert np.isnan(r[:, 2]).all() and np.isnan(r[3]).all()


def test_importance_of_counts_undefined_correlations():
    table = linear_table(archs=("conv6",))
    table["const"] = 1.0
    res = cross_validate(table, FEATURES + ["const"], regressors=("linear", "ridge"), n_repeats=1, progress=False)
    imp = importance_of(res, per_regressor=True)
    const = imp[(imp.feature == "const") & (imp.regressor == "mean")].iloc[0]
    assert np.isnan(const["importance"]) and const["n_undefined"] == 2
    assert set(imp["regressor"]) == {"linear", "ridge", "mean"}


def test_bad_input_errors():
    table = linear_table(archs=("conv6",))
    for n in (4, 6):  # 6 rows: outer training folds of 4 rows cannot hold the inner 5-fold CV
        with pytest.raises(ValueError, match="needs at least 7 rows"):
            cross_validate(table.iloc[:n], ["x1"], n_repeats=1, progress=False)
    assert np.isfinite(cross_validate(table.iloc[:7], ["x1"], n_repeats=1, progress=False).predictions).all()
    with pytest.raises(ValueError, match="n > p \\+ 1"):
        cross_validate(table.iloc[:7], FEATURES, n_repeats=1, progress=False)
    with pytest.raises(ValueError, match="not in the table"):
        cross_validate(table, ["nope"], n_repeats=1, progress=False)
    with pytest.raises(ValueError, match="missing"):
        cross_validate(table.drop(columns="dense_accuracy"), ["x1"], n_repeats=1, progress=False)
    with pytest.raises(ValueError, match="unknown regressors"):
        cross_validate(table, ["x1"], regressors=("svm",), n_repeats=1, progress=False)
    with pytest.raises(ValueError, match="unknown scenario"):
        run_scenarios(table, ["x1"], scenarios=("dataset",), n_repeats=1, progress=False)
    bad = table.copy()
    bad.loc[3, "x1"] = np.nan
    with pytest.raises(ValueError, match="missing or non-finite"):
        cross_validate(bad, ["x1"], n_repeats=1, progress=False)
    small = table[table["sparsity"] == 0.6].iloc[:3]
    with pytest.raises(ValueError, match="needs at least 7 rows"):
        run_scenarios(pd.concat([table, small.assign(sparsity=0.5)]), ["x1"], n_repeats=1, progress=False)
    res = run_scenarios(pd.concat([table, small.assign(sparsity=0.5)]), ["x1"], n_repeats=1, progress=False, min_rows=10)
    assert ("table", "sparsity", 0.5) not in res.keys()


def test_results_do_not_depend_on_the_input_row_order():
    table = linear_table(archs=("conv6",))
    shuffled = table.sample(frac=1.0, random_state=5)
    kw = dict(regressors=("lasso", "pcr"), n_repeats=1, random_state=4, progress=False)
    a = cross_validate(table, FEATURES, **kw)
    b = cross_validate(shuffled, FEATURES, **kw)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    assert list(a.index) == list(b.index)


def test_small_groups_allowed_for_importance_only():
    """n <= p + 1 rows: an error by default; with allow_small_groups the importances exist and adj R^2 is NaN."""
    from analysis.importance import importance_table
    from analysis.regression import run_scenarios

    rng = np.random.default_rng(3)
    feats = [f"f{i}" for i in range(12)]
    rows = []
    for s in (0.9, 0.95):
        for i in range(10):
            x = rng.normal(size=12)
            rows.append(
                dict(arch="resnet20", dataset="cifar100", method=f"m{i}", sparsity=s, seed=0,
                     accuracy=0.5 - 0.05 * x[0] + 0.001 * rng.normal(), dense_accuracy=0.7, **dict(zip(feats, x)))
            )
    table = pd.DataFrame(rows)
    with pytest.raises(ValueError, match="allow_small_groups"):
        run_scenarios(table, feats, scenarios=("sparsity",), n_repeats=2, progress=False)
    res = run_scenarios(table, feats, scenarios=("sparsity",), n_repeats=3, progress=False, allow_small_groups=True)
    scores = res.scores()
    assert scores["adj_r2"].isna().all() and scores["mae"].notna().all()
    imp = importance_table(res)
    assert imp["importance"].notna().all()
    # accuracy drop grows with f0 (accuracy falls): f0 carries the largest positive importance in every group
    for _, grp in imp.groupby("group"):
        assert grp.set_index("feature")["importance"].idxmax() == "f0"


def test_min_group_rows_leaves_every_inner_cv_enough_rows():
    from analysis.regression import min_group_rows

    assert min_group_rows() == 7  # 7 - ceil(7/5) = 5 training rows for the inner 5-fold CV
    for k in (2, 3, 5, 10):
        n = min_group_rows(k)
        assert n >= k and n - -(-n // k) >= 5
        assert n == k or (n - 1) - -(-(n - 1) // k) < 5  # smallest such n
