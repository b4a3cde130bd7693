"""Published conventions against the authors' published rows (``../shared``, skipped without it).

Conv-6 has no strided convolution and no residual shortcut, so the authors' encoder is
correct on it (see :mod:`topometrics.conventions`).  Networks pruned at random with the
published methods (uniform, ERK and the authors' ER) for CIFAR-10 at sparsities 0.9,
0.95 and 0.98, seeds 0-2, encoded and measured in ``conventions="published"``, must
have exactly the published node count, and their edge count and 13 weight-free
metrics (normalised as published) must lie within 3 standard deviations of the three
published rows of the same (method, sparsity) (mean against mean; at least one count
of the metric's divisor, so that a metric constant in the published rows may differ
by one node or edge).  ``motif4`` is estimated from 0.1% of the nodes, as the
authors did; their estimator (igraph's RAND-ESU estimate) is much noisier than ours
(a coefficient of variation of about 10% over seeds, against 0.2%), and three rows
estimate its spread poorly, so for ``motif4`` the standard deviation is at least the
pooled relative spread of all nine published cells times the cell's mean.  The
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
def motif_spread(published):
    """Pooled coefficient of variation of the published motif estimate over the nine cells."""
    cells = published[published["method"].isin(["uniform", "erk", "er"]) & published["sparsity"].isin([0.9, 0.95, 0.98])]
    stats = cells.groupby(["method", "sparsity"])["motif4"].agg(["mean", "std"])
    assert len(stats) == 9
    return float(np.sqrt(np.mean((stats["std"] / stats["mean"]) ** 2)))


@pytest.mark.parametrize("method,sparsity", CASES)
def test_conv6_random_masks_match_the_published_rows(published, conv6, motif_spread, method, sparsity):
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
        sd = pub[column].std()
        if column == "motif4":
            sd = max(sd, motif_spread * pub[column].mean())
        diff = abs(ours[column].mean() - pub[column].mean())
        if diff > 3 * sd + one:
            far[column] = (ours[column].mean(), pub[column].mean(), pub[column].std())
    assert not far, far
