"""RBO against hand computations, the topometric-mixture ranking, and the ranking evaluation."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from analysis.ranking import (
    ImportanceModel,
    baseline_ranking,
    estimate_importance,
    evaluate_rankings,
    ground_truth_ranking,
    mean_rbo,
    mixture_coefficients,
    rank_methods,
    rbo_ext,
    rbo_table,
)

EFFECT = {"snip": 0.00, "grasp": 0.02, "synflow": 0.04, "prospr": 0.06, "uniform": 0.08, "er": 0.10, "erk": 0.12}


def webber_rbo_ext(a, b, p):
    """Webber et al. (2010) Eq. 32 for two full rankings of the same k items, written out."""
    k = len(a)
    X = [len(set(a[:d]) & set(b[:d])) for d in range(1, k + 1)]
    return X[-1] / k * p**k + (1 - p) / p * sum(X[d - 1] / d * p**d for d in range(1, k + 1))


def test_rbo_identical_rankings_score_one():
    items = ["a", "b", "c", "d", "e"]
    for p in (0.25, 0.5, 0.75, 0.9):
        assert rbo_ext(items, items, p) == pytest.approx(1.0)
    assert mean_rbo(items, items) == pytest.approx(1.0)


def test_rbo_hand_computed_permutations():
    # Swapping the top two of four: X = (0, 2, 3, 4), so RBO_ext = (1-p)(p + p^2 + p^3) + p^4 = p.
    for p in (0.25, 0.5, 0.75):
        assert rbo_ext(["a", "b", "c", "d"], ["b", "a", "c", "d"], p) == pytest.approx(p)
    assert mean_rbo(["a", "b", "c", "d"], ["b", "a", "c", "d"]) == pytest.approx(0.5)
    # Reversal of four at p = 1/2: X = (0, 0, 2, 4): (1/2)(1/4 * 2/3 + 1/8 * 1) + 1/16 = 5/24.
    assert rbo_ext(list("abcd"), list("dcba"), 0.5) == pytest.approx(5 / 24)


def test_rbo_matches_webber_formula_on_all_permutations_of_five():
    base = list("abcde")
    for perm in itertools.permutations(base):
        for p in (0.25, 0.5, 0.75):
            assert rbo_ext(base, list(perm), p) == pytest.approx(webber_rbo_ext(base, list(perm), p), abs=1e-12)


def test_rbo_bad_input():
    with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
        rbo_ext(["a"], ["a"], 1.0)
    with pytest.raises(ValueError, match="repeats items"):
        rbo_ext(["a", "a"], ["a", "b"], 0.5)


def test_mixture_coefficients_by_hand():
    x = pd.DataFrame({"f": [0.0, 1.0, 2.0], "g": [10.0, 30.0, 20.0]}, index=["m1", "m2", "m3"])
    wa = pd.Series({"f": 0.5, "g": -1.0})
    ws = pd.Series({"f": 1.5, "g": 0.0})
    # triplet scaling: f -> (0, .5, 1), g -> (0, 1, .5); weights (w_a + w_s)/2 = (1, -0.5)
    r = mixture_coefficients(x, wa, ws)
    np.testing.assert_allclose(r.to_numpy(), [0.0, 0.5 - 0.5, 1.0 - 0.25])
    assert rank_methods(x, wa, ws) == ["m1", "m2", "m3"]  # ties broken by name
    # raw values: r = f - 0.5 g
    assert rank_methods(x, wa, ws, scaling="none") == ["m2", "m3", "m1"]
    lo, hi = pd.Series({"f": 0.0, "g": 0.0}), pd.Series({"f": 4.0, "g": 40.0})
    r_ref = mixture_coefficients(x, wa, ws, feature_min=lo, feature_max=hi)
    np.testing.assert_allclose(r_ref.to_numpy(), [0 - 0.5 * 0.25, 0.25 - 0.5 * 0.75, 0.5 - 0.5 * 0.5])
    # per-seed rows with a method column are averaged; arrays are accepted for the weights
    seeds = pd.DataFrame({"method": ["m1", "m1", "m2"], "f": [0.0, 2.0, 0.5], "g": [0.0, 0.0, 0.0]})
    assert rank_methods(seeds, np.array([1.0, 0.0]), np.array([1.0, 0.0])) == ["m2", "m1"]
    with pytest.raises(ValueError, match="scaling"):
        rank_methods(x, wa, ws, scaling="zscore")
    with pytest.raises(ValueError, match="feature_min"):
        rank_methods(x, wa, ws, scaling="reference")
    with pytest.raises(ValueError, match="shape"):
        rank_methods(x, np.ones(3), np.ones(3))


def test_truth_and_baseline_rankings():
    t = pd.DataFrame({"method": ["a", "a", "b", "c"], "accuracy": [0.5, 0.7, 0.65, 0.1], "layer_density": [1.0, 1.0, np.nan, 3.0]})
    assert ground_truth_ranking(t) == ["b", "a", "c"]
    assert baseline_ranking(t, "layer_density") == ["c", "a", "b"]  # undefined last
    with pytest.raises(ValueError, match="missing"):
        baseline_ranking(t, "delta_r")


def ranking_table(seed=0, archs=("conv6", "resnet20"), datasets=("cifar10", "cifar100"), sparsities=(0.6, 0.9, 0.98)):
    """Accuracy drop = 0.3 s + method effect; feature x1 tracks the effect, x2 the sparsity, x3 is noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for arch in archs:
        for ds in datasets:
            for m, eff in EFFECT.items():
                for s in sparsities:
                    for sd in range(3):
                        drop = 0.3 * s + eff + rng.normal(0, 0.002)
                        rows.append(
                            {
                                "arch": arch,
                                "dataset": ds,
                                "method": m,
                                "sparsity": s,
                                "seed": sd,
                                "dense_accuracy": 0.9,
                                "accuracy": 0.9 * (1 - drop),
                                "x1": 5 * eff + rng.normal(0, 0.01),
                                "x2": s + rng.normal(0, 0.01),
                                "x3": rng.random(),
                                "layer_density": -eff + rng.normal(0, 1e-4),
                                "delta_r": rng.random(),
                            }
                        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def evaluated():
    table = ranking_table()
    per = evaluate_rankings(table, ["x1", "x2", "x3"], n_repeats=1, loto=True, loto_repeats=1, progress=False)
    return table, per


def test_mixture_recovers_the_true_order(evaluated):
    table, per = evaluated
    assert set(per["strategy"]) == {"mixture", "mixture_loto", "layer_density", "delta_r"}
    mix = per[per["strategy"].isin(["mixture", "mixture_loto"])]
    assert len(mix) == 2 * 12 * 3  # strategies x triplets x subsets
    assert np.allclose(mix["rbo"], 1.0)
    assert (mix["predicted"] == mix["truth"]).all()
    dens = per[per["strategy"] == "layer_density"]
    assert np.allclose(dens["rbo"], 1.0)  # density = -effect: higher density ranks higher
    assert per[per["strategy"] == "delta_r"]["rbo"].mean() < 0.9
    full = per[(per["subset"] == "all") & (per["strategy"] == "mixture")].iloc[0]
    assert full["truth"] == ">".join(EFFECT) and full["n_methods"] == 7
    pai = per[(per["subset"] == "pai") & (per["strategy"] == "mixture")].iloc[0]
    assert pai["truth"] == "snip>grasp>synflow>prospr"


def test_rbo_table_layout(evaluated):
    _, per = evaluated
    tab = rbo_table(per, "all")
    assert list(tab.columns[:2]) == ["arch", "sparsity"]
    assert {"mixture_mean", "mixture_std", "mixture_loto_mean", "layer_density_mean"} <= set(tab.columns)
    assert list(tab["sparsity"]) == ["0.6", "0.9", "0.98", "Avg"] * 2
    rows = per[(per.subset == "all") & (per.strategy == "delta_r") & (per.arch == "conv6") & (per.sparsity == 0.9)]["rbo"]
    got = tab[(tab.arch == "conv6") & (tab.sparsity == "0.9")].iloc[0]
    assert got["delta_r_mean"] == pytest.approx(rows.mean()) and got["delta_r_std"] == pytest.approx(rows.std(ddof=1))
    with pytest.raises(ValueError, match="no rankings"):
        rbo_table(per, "dst")


def test_importance_model_ranks_one_triplet():
    table = ranking_table()
    model = estimate_importance(table, ["x1", "x2", "x3"], n_repeats=1, progress=False)
    assert isinstance(model, ImportanceModel) and model.features == ["x1", "x2", "x3"]
    wa, ws = model.vectors("resnet20", 0.9)
    assert wa["x1"] > 0.5 and ws["x1"] > 0.5
    trip = table[(table.arch == "resnet20") & (table.dataset == "cifar10") & (table.sparsity == 0.9)]
    assert model.rank(trip, "resnet20", 0.9) == list(EFFECT)
    got = rank_methods(trip[["method", "x1", "x2", "x3"]], wa, ws, feature_min=model.feature_min, feature_max=model.feature_max)
    assert got == list(EFFECT)
    with pytest.raises(KeyError, match="no Architecture-Fixed importance"):
        model.vectors("vgg16", 0.9)
    with pytest.raises(KeyError, match="no Sparsity-Fixed importance"):
        model.vectors("resnet20", 0.5)
