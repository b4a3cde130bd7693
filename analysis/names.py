"""Canonical names: architectures, data sets, pruning methods and feature columns.

Every table handled by :mod:`analysis` uses these spellings.  The published data of
the paper (Cunegatti et al., TMLR 2024) spells them differently; the maps below
translate its column and value names.
"""

from __future__ import annotations

import re

__all__ = [
    "PAPER_ARCHS",
    "PAPER_DATASETS",
    "PAPER_METHODS",
    "PAI_METHODS",
    "RANDOM_METHODS",
    "KNOWN_METHODS",
    "PAPER_SPARSITIES",
    "UNROLLED_FEATURES",
    "BIPARTITE_FEATURES",
    "EXTRA_FEATURES",
    "RAMANUJAN_COLUMNS",
    "BASELINE_COLUMNS",
    "KEY_COLUMNS",
    "REQUIRED_COLUMNS",
    "FEATURE_LABELS",
    "FEATURE_CATEGORIES",
    "ENCODINGS",
    "canonical_arch",
    "canonical_dataset",
    "canonical_method",
    "feature_label",
]

#: The paper's four architectures, data sets, five sparsities and seven pruning methods.
PAPER_ARCHS = ("conv6", "resnet20", "resnet32", "wrn28_2")
PAPER_DATASETS = ("cifar10", "cifar100", "tinyimagenet")
PAPER_SPARSITIES = (0.6, 0.8, 0.9, 0.95, 0.98)
PAI_METHODS = ("snip", "grasp", "synflow", "prospr")
RANDOM_METHODS = ("uniform", "er", "erk")
PAPER_METHODS = PAI_METHODS + RANDOM_METHODS
#: Dynamic sparse training methods that also appear in the published data.
DST_METHODS = ("snfs", "rigl", "itop", "dsr")
#: Other pruners of this project (``pruners.prune``).
OTHER_METHODS = ("iter_snip", "ntksap", "magnitude", "random")
KNOWN_METHODS = PAPER_METHODS + DST_METHODS + OTHER_METHODS

#: One row per sparse network is identified by these columns.
KEY_COLUMNS = ("arch", "dataset", "method", "sparsity", "seed")
#: Columns every results table must carry (plus feature columns).
REQUIRED_COLUMNS = KEY_COLUMNS + ("accuracy", "dense_accuracy")

#: The 16 topometrics of the unrolled multipartite encoding (paper Table 2 order).
UNROLLED_FEATURES = (
    "sink",
    "source",
    "disconnected",
    "r_out",
    "r_in",
    "n1",
    "n2",
    "motif4",
    "kcore",
    "strength",
    "components",
    "component_size",
    "cut_edges",
    "cut_nodes",
    "spectral_gap",
    "spectral_radius",
)
#: The 10 topometrics definable on one bipartite layer graph (rolled encodings);
#: a rolled layer graph is directed bipartite, so its motifs have 3 nodes.
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
#: Metrics computed by ``topometrics.compute`` beyond the paper's 16 (not features by default).
EXTRA_FEATURES = ("log_paths", "effective_sparsity", "effective_nodes")
#: Per-network means of the per-layer Ramanujan metrics and of the layer density.
RAMANUJAN_COLUMNS = ("delta_r", "delta_r_imdb", "lambda_imsg")
BASELINE_COLUMNS = ("layer_density",) + RAMANUJAN_COLUMNS

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
#: Published ``ramanunjan_results`` per-layer columns -> our names.
RAMANUJAN_COLUMN_MAP = {
    "degree_bound": "delta_r",
    "iterative_degree_bound": "delta_r_imdb",
    "iterative_spectral_gap": "lambda_imsg",
    "layer_sparsity": "layer_density",
}

#: Short plot labels.
FEATURE_LABELS = {
    "sink": "sink",
    "source": "source",
    "disconnected": "disc.",
    "r_out": "r-out",
    "r_in": "r-in",
    "n1": "N1",
    "n2": "N2",
    "motif4": "motif(4)",
    "motif3": "motif(3)",
    "kcore": "k-core",
    "strength": "S",
    "components": "C",
    "component_size": "C_avg",
    "cut_edges": "cut-edges",
    "cut_nodes": "cut-nodes",
    "spectral_gap": "gap(A)",
    "spectral_radius": "rho(L)",
    "layer_density": "Layer-Density",
    "delta_r": "Delta_r",
    "delta_r_imdb": "Delta_r_imdb",
    "lambda_imsg": "lambda_imsg",
}
#: Paper Table 2 categories.
FEATURE_CATEGORIES = {
    "sink": "Local",
    "source": "Local",
    "disconnected": "Local",
    "r_out": "Local",
    "r_in": "Local",
    "n1": "Neighbor",
    "n2": "Neighbor",
    "motif4": "Neighbor",
    "motif3": "Neighbor",
    "kcore": "Strength",
    "strength": "Strength",
    "components": "Global",
    "component_size": "Global",
    "cut_edges": "Global",
    "cut_nodes": "Global",
    "spectral_gap": "Expansion",
    "spectral_radius": "Expansion",
}

_ARCH_ALIASES = {
    "conv6": "conv6",
    "resnet20": "resnet20",
    "resnet32": "resnet32",
    "wrn282": "wrn28_2",
    "wideresnet282": "wrn28_2",
    "wideresnet28x2": "wrn28_2",
    "mobilenetv2": "mobilenetv2",
}
_DATASET_ALIASES = {
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "tinyimagenet": "tinyimagenet",
    "tinyimagenet200": "tinyimagenet",
}
_METHOD_ALIASES = {re.sub(r"[^a-z0-9]", "", m): m for m in KNOWN_METHODS}
_METHOD_ALIASES.update(
    {
        "erdosrenyi": "er",
        "erdosrenyikernel": "erk",
        "prospect": "prospr",
        "itersnip": "iter_snip",
        "iterativesnip": "iter_snip",
    }
)


def _key(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def canonical_arch(name: object) -> str:
    """``"Wide-Resnet-28-2"`` -> ``"wrn28_2"``; unknown names are returned lower-cased."""
    key = _key(name)
    return _ARCH_ALIASES.get(key, str(name).strip().lower())


def canonical_dataset(name: object) -> str:
    """``"CIFAR-10"`` -> ``"cifar10"``; unknown names are returned lower-cased."""
    key = _key(name)
    return _DATASET_ALIASES.get(key, str(name).strip().lower())


def canonical_method(name: object, extra: tuple[str, ...] | list[str] = ()) -> str:
    """``"SynFlow"`` -> ``"synflow"``.

    Raises
    ------
    ValueError
        For a name that is neither a known method nor listed in ``extra``.
    """
    key = _key(name)
    if key in _METHOD_ALIASES:
        return _METHOD_ALIASES[key]
    extra_keys = {_key(e): str(e) for e in extra}
    if key in extra_keys:
        return extra_keys[key]
    raise ValueError(
        f"unknown pruning method {name!r}; known methods are {', '.join(KNOWN_METHODS)}. "
        "To analyse another pruner, declare it (Python: extra_methods=[...]; "
        "CLI: --extra-methods NAME,...)."
    )


def feature_label(name: str) -> str:
    """Short plot label of a feature column (the name itself when unregistered)."""
    return FEATURE_LABELS.get(name, name)
