"""Published conventions against the authors' published rows (``../shared``, skipped without it).

Conv-6 has no strided convolution and no residual shortcut, so the authors' encoder is
correct on it (see :mod:`topometrics.conventions`).  Networks pruned at random with the
published methods (uniform, ERK and the authors' ER) for CIFAR-10 at sparsities 0.9,
0.95 and 0.98, seeds 0-2, encoded and measured in ``conventions="published"``, must
have exactly the published node count, and their edge count and 13 weight-free
metrics (normalised as published) must lie within 3 standard deviations of the three
published rows of the same (method, sparsity) (mean against mean; at least one count
of the metric's divisor, so that a metric constant in the published rows may differ
by one node or edge).  Three rows estimate a spread poorly, so the standard deviation
of a cell is at least the pooled relative spread of the metric over all nine
published cells (root mean square of std / |mean| over the cells where the metric is
not 0) times the cell's mean.  That matters for two kinds of metric: ``motif4``,
estimated from 0.1% of the nodes as the authors did, whose estimator (igraph's
RAND-ESU estimate) is much noisier than ours (a coefficient of variation of about 10%
over seeds, against 0.2%); and the metrics made of whole channels, such as ``source``
and ``r_out`` of uniform masks, where a first-layer filter with all 27 weights pruned
(probability 0.9^27 = 0.058 at sparsity 0.9, so Binomial(64, 0.058) of them, 3.7 +- 1.9)
makes its 1024 output positions sources: the published uniform 0.9 rows have about
4, 3 and 3 such filters and a spread of 0.5 filter, ours 5, 5 and 4 (pooled relative
spread of ``r_out``: 0.39).  A swapped or mis-mapped column still fails by orders of
magnitude (published ``r-out`` is 0.0001 where our ``r_out`` is 0.012).  The
weight-based metrics (strength, spectral gap and radius) are not compared: the
published rows come from trained networks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import encoders
import pruners
import topometrics
from analysis.names import UNROLLED_COLUMN_MAP
from topocore.names import canonical_method
from topometrics.conventions import published_graph

SHAPE = (3, 32, 32)
WEIGHT_FREE = (
    "sink", "source", "disconnected", "r_out", "r_in", "n1", "n2", "motif4", "kcore",
    "components", "component_size", "cut_edges", "cut_nodes",
)
CASES = [(method, sparsity) for method in ("uniform", "erk", "er") for sparsity in (0.9, 0.95, 0.98)]


@pytest.fixture(scope="module")
def published(reference_dir):
    table = pd.read_csv(reference_dir / "mge-snn" / "graph_data" / "graph_metrics" / "unrolled" / "unrolled.csv")
    table = table[(table["model"] == "CONV-6") & (table["dataset"] == "CIFAR-10")].rename(columns=UNROLLED_COLUMN_MAP)
    table["method"] = [canonical_method(m) for m in table["pruning"]]
    return table


@pytest.fixture(scope="module")
def conv6():
    return pruners.get_model("conv6", 10, SHAPE)


@pytest.fixture(scope="module")
def relative_spread(published):
    """Pooled coefficient of variation of each published column over the nine cells (where its mean is not 0)."""
    cells = published[published["method"].isin(["uniform", "erk", "er"]) & published["sparsity"].isin([0.9, 0.95, 0.98])]
    groups = cells.groupby(["method", "sparsity"])
    assert groups.ngroups == 9
    out = {}
    for column in ("edges", *WEIGHT_FREE):
        stats = groups[column].agg(["mean", "std"])
        stats = stats[stats["mean"] != 0]
        out[column] = float(np.sqrt(np.mean((stats["std"] / stats["mean"].abs()) ** 2))) if len(stats) else 0.0
    return out


@pytest.mark.parametrize("method,sparsity", CASES)
def test_conv6_random_masks_match_the_published_rows(published, conv6, relative_spread, method, sparsity):
    rows = []
    for seed in (0, 1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # er keeps the published densities, not n_keep
            masks = pruners.prune(conv6, method, sparsity, random_state=seed)
        graph = encoders.encode(conv6, SHAPE, masks, pad_nodes=True)
        pg = topometrics.prepare(published_graph(graph))  # float16 weights once, one set of CSR structures
        exact = [m for m in WEIGHT_FREE if m != "motif4"]
        raw = topometrics.compute(pg, exact, exact=True, conventions="published")
        raw.update(topometrics.compute(pg, ["motif4"], exact=False, random_state=seed, conventions="published"))
        norm = topometrics.normalize(raw, graph.num_nodes, graph.num_edges, conventions="published")
        rows.append({"nodes": graph.num_nodes, "edges": graph.num_edges, **norm})
        del graph, pg
    ours = pd.DataFrame(rows)
    pub = published[(published["method"] == method) & np.isclose(published["sparsity"], sparsity)]
    assert len(pub) == 3
    assert (ours["nodes"] == pub["nodes"].iloc[0]).all() and (pub["nodes"] == pub["nodes"].iloc[0]).all()
    nodes, edges = float(pub["nodes"].iloc[0]), float(pub["edges"].mean())
    far = {}
    for column in ("edges", *WEIGHT_FREE):
        # one count in the column's unit: counts of edges / components, fractions of N or E otherwise
        metric = topometrics.METRICS.get(column)
        divisor = "edges" if column in ("r_out", "r_in") else (metric.divisor if metric else None)
        one = 1.0 / {"nodes": nodes, "edges": edges}[divisor] if divisor else 1.0
        sd = max(pub[column].std(), relative_spread[column] * abs(pub[column].mean()))
        diff = abs(ours[column].mean() - pub[column].mean())
        if diff > 3 * sd + one:
            far[column] = (ours[column].mean(), pub[column].mean(), pub[column].std())
    assert not far, far
