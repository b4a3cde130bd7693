"""Names used by :mod:`analysis`: the toolkit's canonical names and the published data's spellings.

Architectures, data sets, pruning methods, the paper's 16 metrics, their categories
and plot labels, and the alias rules all come from :mod:`topocore.names` (the one
source of truth) and are re-exported here under the names :mod:`analysis` has always
used (``UNROLLED_FEATURES`` is ``topocore.names.PAPER_METRICS``, ``FEATURE_LABELS``
is ``METRIC_LABELS``, ...).  What is defined here is specific to the analysis and to
the data published with the paper (Cunegatti et al., TMLR 2024): the results-table
key columns, the feature sets of its three encodings and the maps translating its
column names to ours.
"""

from __future__ import annotations

from topocore.names import (
    DST_METHODS,
    KNOWN_METHODS,
    METRIC_CATEGORIES,
    METRIC_LABELS,
    OTHER_METHODS,
    PAI_METHODS,
    PAPER_ARCHS,
    PAPER_DATASETS,
    PAPER_METHODS,
    PAPER_METRICS,
    PAPER_SPARSITIES,
    RANDOM_METHODS,
    canonical_arch,
    canonical_dataset,
    canonical_method,
    metric_label,
)

__all__ = [
    "PAPER_ARCHS",
    "PAPER_DATASETS",
    "PAPER_METHODS",
    "PAI_METHODS",
    "RANDOM_METHODS",
    "DST_METHODS",
    "OTHER_METHODS",
    "KNOWN_METHODS",
    "PAPER_SPARSITIES",
    "UNROLLED_FEATURES",
    "BIPARTITE_FEATURES",
    "EXTRA_FEATURES",
    "RAMANUJAN_COLUMNS",
    "BASELINE_COLUMNS",
    "ANY_BASELINE_COLUMNS",
    "KEY_COLUMNS",
    "REQUIRED_COLUMNS",
    "FEATURE_LABELS",
    "FEATURE_CATEGORIES",
    "ENCODINGS",
    "UNROLLED_COLUMN_MAP",
    "ROLLED_COLUMN_MAP",
    "ROLLED_SHORT_COLUMN_MAP",
    "RAMANUJAN_COLUMN_MAP",
    "canonical_arch",
    "canonical_dataset",
    "canonical_method",
    "feature_label",
]

#: One row per sparse network is identified by these columns.
KEY_COLUMNS = ("arch", "dataset", "method", "sparsity", "seed")
#: Columns every results table must carry (plus feature columns).
REQUIRED_COLUMNS = KEY_COLUMNS + ("accuracy", "dense_accuracy")

#: The 16 topometrics of the unrolled multipartite encoding (paper Table 2 order).
UNROLLED_FEATURES = PAPER_METRICS
#: The 10 topometrics the published data gives for one bipartite layer graph (rolled
#: encodings); a rolled layer graph is directed bipartite, so its motifs have 3 nodes.
BIPARTITE_FEATURES = (
    "n1",
    "motif3",
    "kcore",
    "strength",
    "components",
    "component_size",
    "cut_edges",
    "cut_nodes",
    "spectral_gap",
    "spectral_radius",
)
#: Metrics ``topometrics.compute`` gives beyond the paper's 16 (never features by default).
EXTRA_FEATURES = ("log_paths", "effective_sparsity", "effective_nodes")
#: Per-network means of the per-layer Ramanujan metrics of the published data and of the layer
#: density.  The published ``degree_bound`` / ``iterative_degree_bound`` are the bound *ratios*
#: (``topometrics.per_layer``'s ``delta_r_bound_ratio`` / ``delta_r_imdb_bound_ratio``: delta_r
#: divided by sqrt(d_L - 1) + sqrt(d_R - 1); at most 1), not the absolute ``delta_r`` /
#: ``delta_r_imdb``, which are 8-15x larger on the published layers; a ranking by either is
#: the same only within one layer, so the columns keep the ratio names.
RAMANUJAN_COLUMNS = ("delta_r_bound_ratio", "delta_r_imdb_bound_ratio", "lambda_imsg")
BASELINE_COLUMNS = ("layer_density",) + RAMANUJAN_COLUMNS
#: Every baseline column a results table may carry: the published ratios and, from
#: ``topometrics.describe(..., rolled=True)``, the absolute ``delta_r`` / ``delta_r_imdb``.
ANY_BASELINE_COLUMNS = ("layer_density", "delta_r", "delta_r_bound_ratio", "delta_r_imdb", "delta_r_imdb_bound_ratio",
                        "lambda_imsg")

#: Encodings of the published data: name -> feature columns.
ENCODINGS = {
    "unrolled": UNROLLED_FEATURES,
    "rolled": BIPARTITE_FEATURES,
    "rolled_channel": BIPARTITE_FEATURES,
}

#: Published ``unrolled.csv`` column -> our metric name.
UNROLLED_COLUMN_MAP = {
    "sink_nodes": "sink",
    "source_nodes": "source",
    "disc_nodes": "disconnected",
    # swapped: their "r-out" sums the in-degrees of sink nodes (our r_in) and "r-in" the out-degrees of
    # source nodes (our r_out); on all 2,337 rows "r-out" > 0 exactly when sink_nodes > 0 and "r-in" > 0
    # exactly when source_nodes > 0 (tests/test_metric_normalization.py)
    "r-out": "r_in",
    "r-in": "r_out",
    "1-hop_nei": "n1",
    "2-hop_nei": "n2",
    "motif": "motif4",
    "k-core": "kcore",
    "avg_node_strength": "strength",
    "no_connected_components": "components",
    "mean_connected_components": "component_size",
    "cut-edges": "cut_edges",
    "cut-nodes": "cut_nodes",
    "spectral_gap": "spectral_gap",
    "spectral_radius": "spectral_radius",
}
#: Published rolled / rolled_channel per-layer columns (57-column schema) -> our names.
ROLLED_COLUMN_MAP = {
    "nei_one_hop": "n1",
    "motifs_count": "motif3",
    "coreness_all": "kcore",
    "strenght_all": "strength",
    "weak_clusters": "components",
    "mean_weak": "component_size",
    "bridges": "cut_edges",
    "a_point": "cut_nodes",
    "spectral_gap_weighted_undirected": "spectral_gap",
    "spectral_radius_laplacian_weighted_undirected": "spectral_radius",
}
#: The 21-column schema of two published per-layer files -> our names (same quantities).
ROLLED_SHORT_COLUMN_MAP = {
    "1-hop_nei": "n1",
    "motif": "motif3",
    "k-core": "kcore",
    "avg_node_strength": "strength",
    "no_connected_components": "components",
    "mean_connected_components": "component_size",
    "cut-edges": "cut_edges",
    "cut-nodes": "cut_nodes",
    "spectral_gap": "spectral_gap",
    "spectral_radius": "spectral_radius",
}
#: Published ``ramanunjan_results`` per-layer columns -> our names (``layer_sparsity`` holds the
#: layer's kept fraction, i.e. its density; the two bounds are ratios, see ``RAMANUJAN_COLUMNS``).
RAMANUJAN_COLUMN_MAP = {
    "degree_bound": "delta_r_bound_ratio",
    "iterative_degree_bound": "delta_r_imdb_bound_ratio",
    "iterative_spectral_gap": "lambda_imsg",
    "layer_sparsity": "layer_density",
}

#: Short plot labels (``topocore.names.METRIC_LABELS``).
FEATURE_LABELS = METRIC_LABELS
#: Paper Table 2 categories (``topocore.names.METRIC_CATEGORIES``).
FEATURE_CATEGORIES = METRIC_CATEGORIES
#: Short plot label of a feature column (``topocore.names.metric_label``).
feature_label = metric_label
