"""The main job's result, pinned: a change that moves the headline ranking or its RBO fails here.

A reduced ``topometrics rank``: ResNet-20 at 3x8x8 inputs, SNIP, SynFlow, ERK and uniform
at sparsity 0.98, references CIFAR-100 and Tiny-ImageNet, 2 x 5-fold CV (about 20 s of CPU
on 2 cores).  The values were obtained by running this configuration (twice, identical) and
are asserted exactly: the rankings as lists, the RBOs as the fractions they are (rankings of
4 methods give rational RBOs), the mixture coefficients to 1e-6 relative.  If a deliberate
change moves them, re-run the command below, check the new values and update them here with
the reason in the commit message:

    topometrics rank --methods snip,synflow,erk,uniform --sparsity 0.98 --input-shape 3,8,8 \
        --repeats 2 -j 1 --out pinned -q
"""

from __future__ import annotations

import pandas as pd
import pytest

from topometrics.cli import main

ARGS = ["rank", "--methods", "snip,synflow,erk,uniform", "--sparsity", "0.98", "--input-shape", "3,8,8",
        "--repeats", "2", "-j", "1", "-q"]

RANKINGS = {
    "published": ["erk", "synflow", "snip", "uniform"],  # the paper's CIFAR-10 accuracies (shipped data)
    "mixture": ["erk", "snip", "uniform", "synflow"],
    "layer_density": ["snip", "synflow", "erk", "uniform"],
    "delta_r": ["synflow", "snip", "erk", "uniform"],
    "delta_r_imdb": ["synflow", "erk", "snip", "uniform"],
    "lambda_imsg": ["synflow", "snip", "erk", "uniform"],
}
RBO = {  # extrapolated RBO against the published ranking, mean over p in {0.25, 0.5, 0.75}
    "mixture": 31 / 36,  # 0.8611...
    "layer_density": 19 / 48,  # 0.3958...
    "delta_r": 19 / 48,
    "delta_r_imdb": 1 / 2,
    "lambda_imsg": 19 / 48,
}
COEFFICIENTS = {  # mixture coefficient (lower ranks higher)
    "erk": -1.6653305967458705,
    "snip": 1.0726752886003317,
    "uniform": 1.8290857071341715,
    "synflow": 3.576005888847185,
}


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    out = tmp_path_factory.mktemp("pinned")
    assert main([*ARGS, "--out", str(out)]) == 0
    return out


def test_rankings_are_pinned(pinned):
    rankings = pd.read_csv(pinned / "rankings.csv")
    assert set(rankings["sparsity"]) == {0.98} and set(rankings["dataset"]) == {"cifar10"}
    got = {s: g.sort_values("position")["method"].tolist() for s, g in rankings.groupby("strategy")}
    assert got == RANKINGS


def test_rbo_is_pinned(pinned):
    rbo = pd.read_csv(pinned / "rbo.csv").set_index("strategy")["rbo"]
    assert set(rbo.index) == set(RBO)
    for strategy, value in RBO.items():
        assert rbo[strategy] == pytest.approx(value, abs=1e-12), strategy


def test_mixture_coefficients_are_pinned(pinned):
    coef = pd.read_csv(pinned / "coefficients.csv").set_index("method")["coefficient"]
    assert coef.to_dict() == pytest.approx(COEFFICIENTS, rel=1e-6)
    assert sorted(coef.index, key=lambda m: coef[m]) == RANKINGS["mixture"]
