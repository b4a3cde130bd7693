"""Robustness sweeps (topometrics.workflows.robustness.sweep) and their summaries (analysis.robustness)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from analysis.robustness import auc, curve_summary, f50, mean_curves, summarize, topometric_auc_correlation
from pruners import apply_masks, evaluate, train
from pruners.perturb import removal_count
from topocore.errors import DataMismatchError, InputError
from topometrics.workflows.robustness import sweep


class SmallMLP(nn.Module):
    """64 -> 48 -> 32 -> 10 with a readout as last layer (like the zoo's mlp, smaller)."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.ModuleList([nn.Linear(64, 48), nn.Linear(48, 32)])
        self.readout = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.readout(x)


@pytest.fixture(scope="module")
def trained():
    from pruners.data import get_dataset

    torch.manual_seed(0)
    train_set = get_dataset("digits", split="train", input_shape=(1, 8, 8))
    test_set = get_dataset("digits", split="test", input_shape=(1, 8, 8))
    model = SmallMLP()
    g = torch.Generator().manual_seed(1)
    masks = {"hidden.0.weight": torch.rand(48, 64, generator=g) < 0.3, "hidden.1.weight": torch.rand(32, 48, generator=g) < 0.3}
    apply_masks(model, masks)
    train(model, masks, train_set, None, epochs=4, lr=0.05, batch_size=64, progress=False, random_state=0)
    return model, masks, test_set


FRACTIONS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


@pytest.fixture(scope="module")
def table(trained):
    model, masks, test_set = trained
    return sweep((model, masks, {"input_shape": [1, 8, 8]}), test_set, fractions=FRACTIONS, repeats=2)


def test_fraction_zero_is_the_unperturbed_accuracy(trained, table):
    model, _, test_set = trained
    expected = evaluate(model, test_set)
    assert expected > 0.5  # a trained network, so the curves mean something
    zero = table[table["fraction"] == 0.0]
    assert len(zero) == 5 * 2
    assert (zero["accuracy"] == expected).all() and (zero["base_accuracy"] == expected).all()
    assert (table["chance"] == 0.1).all()


def test_rows_and_removal_counts(trained, table):
    _, masks, _ = trained
    n = sum(int(m.sum()) for m in masks.values())
    assert len(table) == 5 * 2 * len(FRACTIONS)
    assert (table["links_before"] == n).all()
    removals = table[table["perturbation"].str.endswith("removal")]
    expected = removals["fraction"].map(lambda f: n - removal_count(f, n))
    assert (removals["active_links"] == expected).all()
    assert (removals["perturbed_links"] == removals["links_before"] - removals["active_links"]).all()
    kept = table[~table["perturbation"].str.endswith("removal")]
    assert (kept["active_links"] == n).all()  # shuffle and noise keep the topology
    full = removals[removals["fraction"] == 1.0]
    assert np.allclose(full["accuracy"], full["accuracy"].iloc[0])  # no link left: a constant prediction
    assert not table["readout_included"].any()


def test_weight_order_hurts_more_than_reverse(table):
    s = summarize(table.assign(group="net"))
    by = s.set_index("perturbation")["auc_mean"]
    assert by["weight_order_removal"] < by["reverse_weight_order_removal"]


def test_same_seed_same_table_any_n_jobs(trained, table):
    model, masks, test_set = trained
    again = sweep((model, masks, {"input_shape": [1, 8, 8]}), test_set, fractions=FRACTIONS, repeats=2, n_jobs=2)
    pd.testing.assert_frame_equal(table, again)
    other = sweep((model, masks, {"input_shape": [1, 8, 8]}), test_set, ["random_removal"], FRACTIONS, 2,
                  random_state=1)
    mine = table[table["perturbation"] == "random_removal"].reset_index(drop=True)
    assert not np.array_equal(other["curve_seed"], mine["curve_seed"])


def test_subset_of_perturbations_gives_the_same_curves(trained, table):
    model, masks, test_set = trained
    noise = sweep((model, masks, {"input_shape": [1, 8, 8]}), test_set, ["noise"], FRACTIONS, 2)
    pd.testing.assert_frame_equal(noise, table[table["perturbation"] == "noise"].reset_index(drop=True))


def test_the_callers_model_is_not_changed(trained):
    model, masks, test_set = trained
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    sweep((model, masks, {"input_shape": [1, 8, 8]}), test_set, ["random_removal"], [0.5, 1.0], 1)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_include_readout_perturbs_the_dense_readout(trained):
    model, masks, test_set = trained
    t = sweep((model, masks, {"input_shape": [1, 8, 8]}), test_set, ["random_removal"], [0.0, 1.0], 1, include_readout=True)
    assert t["readout_included"].all()
    assert t["links_before"].iloc[0] == sum(int(m.sum()) for m in masks.values()) + 32 * 10


def test_metrics_columns(trained):
    model, masks, test_set = trained
    t = sweep((model, masks, {"input_shape": [1, 8, 8]}), test_set, ["reverse_weight_order_removal"], [0.0, 0.5], 1,
              metrics=["sink", "spectral_gap"])
    for c in ("sink", "sink_norm", "spectral_gap", "spectral_gap_norm", "num_edges"):
        assert c in t.columns
    assert t["num_edges"].iloc[1] < t["num_edges"].iloc[0]


def test_model_without_masks_uses_exact_zeros(trained):
    model, masks, test_set = trained
    from pruners import copy_model, remove_masks

    plain = remove_masks(copy_model(model))
    t = sweep((plain, None, {"input_shape": [1, 8, 8]}), test_set, ["random_removal"], [0.0, 0.5], 1)
    ref = sweep((model, masks, {"input_shape": [1, 8, 8]}), test_set, ["random_removal"], [0.0, 0.5], 1)
    pruned = sum(int((~m).sum()) for m in masks.values())
    assert (t["links_before"] == ref["links_before"]).all()
    assert (t["zeros_as_pruned"] == pruned).all() and (ref["zeros_as_pruned"] == 0).all()  # said in the table
    pd.testing.assert_series_equal(t["accuracy"], ref["accuracy"])
    dense = {k: torch.ones_like(v) for k, v in masks.items()}  # all-True masks over pruned weights
    t2 = sweep((plain, dense, {"input_shape": [1, 8, 8]}), test_set, ["random_removal"], [0.0, 0.5], 1)
    assert (t2["zeros_as_pruned"] == pruned).all()
    pd.testing.assert_series_equal(t2["accuracy"], ref["accuracy"])


@pytest.mark.parametrize("fractions", [[0.0, 1.5], [0.5, 0.2], [-0.1, 0.3], [0.1, 0.1]])
def test_bad_fractions_refused(trained, fractions):
    model, masks, test_set = trained
    with pytest.raises(InputError, match="fraction"):
        sweep((model, masks), test_set, fractions=fractions)


def test_unknown_perturbation_lists_known(trained):
    model, masks, test_set = trained
    with pytest.raises(InputError, match="known: random_removal, weight_order_removal, reverse_weight_order_removal, shuffle, noise"):
        sweep((model, masks), test_set, ["drop_half"])


def test_data_of_the_wrong_shape(trained):
    model, masks, _ = trained
    x = torch.zeros(5, 3, 8, 8)
    y = torch.zeros(5, dtype=torch.long)
    with pytest.raises(DataMismatchError, match=r"\(3, 8, 8\).*\(1, 8, 8\)"):
        sweep((model, masks, {"input_shape": [1, 8, 8]}), (x, y))
    with pytest.raises(DataMismatchError, match="cannot evaluate"):
        sweep((model, masks), (x, y))  # no recorded input shape: the forward pass fails
    with pytest.raises(DataMismatchError, match="labels"):
        sweep((model, masks), (torch.zeros(5, 1, 8, 8), torch.full((5,), 12)))


# ------------------------------------------------------------------------ the summaries
def test_auc_of_known_curves():
    f = [0.0, 0.5, 1.0]
    assert auc(f, [0.8, 0.8, 0.8], 0.8) == pytest.approx(1.0)
    assert auc(f, [0.8, 0.4, 0.0], 0.8) == pytest.approx(0.5)
    assert auc([0.0, 0.1, 0.3], [1.0, 0.5, 0.5], 1.0) == pytest.approx((0.075 + 0.1) / 0.3)
    assert auc([0.0, 0.5], [0.5, 0.5], 0.0) != auc([0.0, 0.5], [0.5, 0.5], 0.0)  # NaN without a base accuracy


def test_f50_interpolates_and_is_nan_when_not_reached():
    # base 0.9, chance 0.1: threshold 0.5, crossed between 0.2 (0.7) and 0.4 (0.3) -> 0.3
    assert f50([0.0, 0.2, 0.4], [0.9, 0.7, 0.3], 0.9, 0.1) == pytest.approx(0.3)
    assert math.isnan(f50([0.0, 0.5], [0.9, 0.8], 0.9, 0.1))
    assert f50([0.0, 0.5], [0.9, 0.5], 0.9, 0.1) == pytest.approx(0.5)


def test_summarize_means_over_repeats_and_seeds():
    rows = []
    for seed, drop in ((0, 0.2), (1, 0.4)):
        for repeat, extra in ((0, 0.0), (1, 0.1)):
            for f, a in zip([0.0, 0.5, 1.0], [0.9, 0.9 - drop - extra, 0.1]):
                rows.append({"group": "g", "seed": seed, "perturbation": "random_removal", "repeat": repeat, "fraction": f,
                             "accuracy": a, "base_accuracy": 0.9, "chance": 0.1})
    table = pd.DataFrame(rows)
    curves = curve_summary(table, by=["group", "seed"])
    assert len(curves) == 4
    s = summarize(table, by=["group"]).iloc[0]
    expected = [auc([0, 0.5, 1], [0.9, 0.9 - d, 0.1], 0.9) for d in (0.2, 0.3, 0.4, 0.5)]
    assert s["curves"] == 4
    assert s["auc_mean"] == pytest.approx(np.mean(expected)) and s["auc_sd"] == pytest.approx(np.std(expected, ddof=1))
    f50s = [f50([0, 0.5, 1], [0.9, 0.9 - d, 0.1], 0.9, 0.1) for d in (0.2, 0.3, 0.4, 0.5)]
    assert s["f50_mean"] == pytest.approx(np.mean(f50s)) and s["f50_reached"] == 4
    m = mean_curves(table, by=["group"])
    assert m.loc[m["fraction"] == 0.5, "accuracy_mean"].item() == pytest.approx(0.9 - np.mean([0.2, 0.3, 0.4, 0.5]))


def test_correlation_of_topometric_with_auc():
    nets = pd.DataFrame({"perturbation": ["p"] * 5, "auc": [0.1, 0.2, 0.3, 0.4, 0.5], "sink": [5, 4, 3, 2, 1],
                         "flat": [1.0] * 5})
    c = topometric_auc_correlation(nets, ["sink", "flat"]).set_index("metric")
    assert c.loc["sink", "pearson"] == pytest.approx(-1.0) and c.loc["sink", "spearman"] == pytest.approx(-1.0)
    assert math.isnan(c.loc["flat", "pearson"])


def test_figures_have_a_line_per_group_and_per_perturbation(table):
    from analysis.robustness import perturbation_figure, robustness_figure

    t = pd.concat([table.assign(group="a"), table.assign(group="b", accuracy=table["accuracy"] * 0.5)])
    fig = robustness_figure(t)
    axes = fig.axes
    assert len(axes) == 5 and axes[0].get_title() == "random removal"
    assert [l.get_label() for l in axes[-1].get_lines()][:2] == ["a", "b"]
    one = perturbation_figure(t, group="b")
    assert len(one.axes) == 1 and len([l for l in one.axes[0].get_lines() if l.get_label() != "chance"]) == 5
    with pytest.raises(InputError, match="no rows"):
        perturbation_figure(t, group="c")


def test_zoo_mlp_checkpoint_dense_readout_untouched(tmp_path):
    """The mlp zoo model keeps its readout dense (prunable = False): never perturbed unless include_readout."""
    from pruners import build, load_checkpoint, prune, save_checkpoint
    from pruners.data import get_dataset
    from pruners.perturb import perturb, perturbable

    model = build("mlp", 10, (1, 8, 8), random_state=0, hidden=(40, 30))
    masks = prune(model, "er", 0.8, random_state=0)
    assert "readout.weight" not in masks
    path = save_checkpoint(tmp_path / "mlp.pt", model, masks, {"arch": "mlp", "num_classes": 10, "input_shape": [1, 8, 8],
                                                                "model_kwargs": {"hidden": [40, 30]}, "seed": 0})
    ck = load_checkpoint(path)
    readout = ck.model.readout.weight.detach().clone()
    target = perturbable(ck.model)
    assert target.readout == "readout.weight" and not target.readout_included
    for _ in perturb(target, "random_removal", [0.5, 1.0], generator=torch.Generator().manual_seed(0)):
        assert torch.equal(ck.model.readout.weight, readout)
    test = get_dataset("digits", split="test", input_shape=(1, 8, 8))
    t = sweep(path, test, ["random_removal", "noise"], [0.0, 0.5], 1)
    assert not t["readout_included"].any() and (t["links_before"] == sum(int(m.sum()) for m in masks.values())).all()
    with_readout = sweep(path, test, ["random_removal", "noise"], [0.0, 0.5], 1, include_readout=True)
    assert with_readout["readout_included"].all()
    assert (with_readout["links_before"] == t["links_before"] + 30 * 10).all()
    parallel = sweep(path, test, ["random_removal", "noise"], [0.0, 0.5], 1, include_readout=True, n_jobs=2)
    pd.testing.assert_frame_equal(with_readout, parallel)
