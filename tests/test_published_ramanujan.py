"""The published Ramanujan columns are the bound *ratios* (``../shared``; skipped without it).

The authors' ``degree_bound`` / ``iterative_degree_bound`` are
``delta_r / (sqrt(d_L - 1) + sqrt(d_R - 1))`` and its IMDB mean, i.e. our
``delta_r_bound_ratio`` / ``delta_r_imdb_bound_ratio``, not the absolute ``delta_r`` /
``delta_r_imdb`` they were once mapped to.  Checked three ways: the ratio is at most 1 on
every published layer; on a dense layer (a complete bipartite graph, mu_hat = 0) it is
exactly 1 in their data and in our ratio, while our absolute ``delta_r`` is the bound
itself; and on Conv-6 with uniform random masks our per-layer ratios sit next to the
published ones where the absolute values are about ten times larger.
"""

from __future__ import annotations

import numpy as np
import pytest

import topometrics
from analysis.names import RAMANUJAN_COLUMN_MAP, RAMANUJAN_COLUMNS
from analysis.published import load_ramanujan_layers
from pruners import prune
from pruners.models import build


@pytest.fixture(scope="module")
def layers(reference_dir):
    return load_ramanujan_layers(reference_dir / "mge-snn" / "graph_data")


def test_published_bounds_are_ratios_at_most_one(layers):
    assert RAMANUJAN_COLUMN_MAP["degree_bound"] == "delta_r_bound_ratio"
    assert RAMANUJAN_COLUMN_MAP["iterative_degree_bound"] == "delta_r_imdb_bound_ratio"
    assert set(RAMANUJAN_COLUMNS) == {"delta_r_bound_ratio", "delta_r_imdb_bound_ratio", "lambda_imsg"}
    for col in ("delta_r_bound_ratio", "delta_r_imdb_bound_ratio"):
        values = layers[col].dropna().to_numpy()
        assert len(values) > 10_000
        assert values.max() == pytest.approx(1.0, abs=1e-12)  # reached on dense layers, never exceeded


def test_dense_layers_have_ratio_one_not_the_absolute_bound(layers):
    dense = layers[(layers.arch == "conv6") & (layers.layer_density == 1.0)]
    assert len(dense) > 100 and np.allclose(dense["delta_r_bound_ratio"], 1.0, rtol=0, atol=1e-9)
    model = build("conv6", 10, (3, 32, 32), random_state=0)
    ours = topometrics.per_layer(model, None, metrics=None, encodings=("rolled",))
    assert (ours["layer_density"] == 1.0).all()
    assert np.allclose(ours["delta_r_bound_ratio"], 1.0)
    # the absolute delta_r of a complete bipartite graph is the bound sqrt(d_L - 1) + sqrt(d_R - 1) >> 1
    assert (ours["delta_r"] > 5).all()


@pytest.mark.parametrize("sparsity", [0.9, 0.98])
def test_conv6_uniform_ratios_match_the_published_layers(layers, sparsity):
    pub = layers[
        (layers.arch == "conv6") & (layers.dataset == "cifar10") & (layers.method == "uniform")
        & np.isclose(layers.sparsity, sparsity)
    ]
    pub_mean = pub.groupby("layer_id", sort=True)["delta_r_bound_ratio"].mean().to_numpy()
    model = build("conv6", 10, (3, 32, 32), random_state=0)
    ours = topometrics.per_layer(model, prune(model, "uniform", sparsity, random_state=0), metrics=None,
                                 encodings=("rolled",))
    assert len(ours) == len(pub_mean) == 9
    ratio_err = np.abs(ours["delta_r_bound_ratio"].to_numpy() - pub_mean)
    absolute_err = np.abs(ours["delta_r"].to_numpy() - pub_mean)
    assert np.median(ratio_err) < 0.03
    assert np.median(absolute_err) > 5 * np.median(ratio_err)
