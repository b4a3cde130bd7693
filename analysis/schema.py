"""Results tables: their schema, validation, the accuracy drop and per-layer aggregation.

A *results table* has one row per sparse network with the columns
``arch, dataset, method, sparsity, seed, accuracy, dense_accuracy`` plus feature
columns; accuracies are fractions in ``[0, 1]``.  The accuracy drop of a sparse
network is ``accuracy_drop = 1 - accuracy / dense_accuracy`` (paper Section 4.2).

Feature columns are taken as given: :mod:`analysis` never normalises them.  Raw
topometrics (as ``topometrics.compute`` returns them) are normalised by the caller
first, e.g. ``table[features] = topometrics.normalize(table[features],
table["num_nodes"], table["num_edges"])`` (``topometrics analyze`` does that).

Functions that clean data append one line per change to a ``messages`` list and log
it on the ``analysis.data`` logger, so that nothing is dropped or filled silently.
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from topocore.errors import DataMismatchError, InputError
from topocore.names import DENSE
from topocore.tables import SPECTRAL_COLUMNS
from topocore.tables import aggregate_layers as _mean_over_layers

from .names import KEY_COLUMNS, REQUIRED_COLUMNS, canonical_arch, canonical_dataset, canonical_method

__all__ = [
    "BOOKKEEPING_COLUMNS",
    "feature_columns",
    "validate_table",
    "add_accuracy_drop",
    "fill_edgeless_spectra",
    "drop_incomplete_networks",
    "aggregate_layers",
]

logger = logging.getLogger("analysis.data")

#: Numeric columns of results tables that describe a run, never a feature (graph sizes, timings,
#: the achieved sparsity and training length written by ``topometrics grid`` / ``metrics``).
BOOKKEEPING_COLUMNS = frozenset(
    {
        "accuracy_drop", "num_nodes", "num_edges", "dense_num_edges", "nodes", "edges", "graph_nodes",
        "graph_edges", "dense_accuracy_std", "achieved_sparsity", "trained_epochs", "prune_seconds",
        "train_seconds", "num_classes",
    }
)


def report(messages: list[str], text: str) -> None:
    """Append ``text`` to ``messages`` and log it (the cleaning steps' record)."""
    messages.append(text)
    logger.info(text)


def network_label(arch, dataset, method, sparsity, seed) -> str:
    """``conv6/cifar10/snip/s=0.9/seed=0``: how cleaning reports name a network."""
    return f"{arch}/{dataset}/{method}/s={sparsity:g}/seed={seed}"


def feature_columns(df: pd.DataFrame, features: Iterable[str] | None = None) -> list[str]:
    """Feature columns of a results table.

    With ``features`` given, checks they exist; otherwise returns every numeric
    column that is not a key, accuracy or bookkeeping column.
    """
    if features is not None:
        features = list(features)
        missing = [f for f in features if f not in df.columns]
        if missing:
            raise InputError(f"feature columns {missing} are not in the table (it has {list(df.columns)})")
        return features
    skip = set(REQUIRED_COLUMNS) | BOOKKEEPING_COLUMNS
    return [c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])]


def validate_table(
    df: pd.DataFrame,
    features: Iterable[str] | None = None,
    *,
    extra_methods: Sequence[str] = (),
    require_dense: bool = True,
) -> pd.DataFrame:
    """Check a results table and return a canonicalised copy.

    Canonicalises ``arch``, ``dataset`` and ``method`` spellings
    (:mod:`topocore.names`; architectures and data sets the toolkit does not know are
    kept, lower-cased) and rounds ``sparsity`` to 6 decimals.  Feature values are
    used as given (see the module docstring).

    Raises
    ------
    topocore.errors.InputError
        Missing columns, unknown method names (declare others in
        ``extra_methods``), dense-baseline rows (method ``dense``), accuracies outside ``[0, 1]`` (percent tables must be
        divided by 100), duplicated networks, non-numeric or missing feature values.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    required = list(KEY_COLUMNS) + ["accuracy"] + (["dense_accuracy"] if require_dense else [])
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"results table lacks required columns {missing}; a results table has one row per "
            f"sparse network with {', '.join(REQUIRED_COLUMNS)} plus feature columns"
        )
    if len(df) == 0:
        raise InputError("results table is empty")
    out = df.copy()
    out["arch"] = [canonical_arch(a, strict=False) for a in out["arch"]]
    out["dataset"] = [canonical_dataset(d, strict=False) for d in out["dataset"]]
    out["method"] = [canonical_method(m, extra=extra_methods) for m in out["method"]]
    if (out["method"] == DENSE).any():
        raise InputError(
            f"{int((out['method'] == DENSE).sum())} rows have method 'dense': a results table holds sparse networks "
            "only; drop the dense baselines (analysis.pipeline.prepare_results_table does) and give their accuracy "
            "as dense_accuracy"
        )
    out["sparsity"] = pd.to_numeric(out["sparsity"], errors="raise").astype(float).round(6)
    for col in ("accuracy", "dense_accuracy"):
        if col not in out.columns:
            continue
        vals = pd.to_numeric(out[col], errors="coerce")
        if vals.isna().any():
            bad = out.loc[vals.isna(), list(KEY_COLUMNS)].head(3).to_dict("records")
            raise InputError(f"column {col!r} has missing or non-numeric values, e.g. at {bad}")
        if (vals < 0).any() or (vals > 1).any():
            raise InputError(
                f"column {col!r} has values outside [0, 1] (max {vals.max():.4g}); accuracies must be "
                "fractions: divide percent values by 100 (CLI: --accuracy-percent)"
            )
        out[col] = vals.astype(float)
    if require_dense and (out["dense_accuracy"] <= 0).any():
        raise InputError("dense_accuracy must be positive to compute the accuracy drop")
    dup = out.duplicated(list(KEY_COLUMNS), keep=False)
    if dup.any():
        first = out.loc[dup, list(KEY_COLUMNS)].head(3).to_dict("records")
        raise InputError(
            f"{int(dup.sum())} rows share (arch, dataset, method, sparsity, seed), e.g. {first}; "
            "drop duplicated networks or give them distinct seeds"
        )
    if features is not None:
        feats = feature_columns(out, features)
        for f in feats:
            vals = pd.to_numeric(out[f], errors="coerce")
            if vals.isna().any() or not np.isfinite(vals.to_numpy(dtype=float)).all():
                n_bad = int((vals.isna() | ~np.isfinite(vals.to_numpy(dtype=float))).sum())
                raise InputError(
                    f"feature {f!r} has {n_bad} missing or non-finite values; drop those rows "
                    "(the published-data loaders report and drop them) or impute them first"
                )
            out[f] = vals.astype(float)
    return out


def add_accuracy_drop(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with ``accuracy_drop = 1 - accuracy / dense_accuracy``."""
    for col in ("accuracy", "dense_accuracy"):
        if col not in df.columns:
            raise InputError(f"cannot compute the accuracy drop: column {col!r} is missing")
    out = df.copy()
    out["accuracy_drop"] = 1.0 - out["accuracy"] / out["dense_accuracy"]
    return out


# --------------------------------------------------------------------------- per-layer tables


def fill_edgeless_spectra(
    layers: pd.DataFrame, features: Sequence[str], *, messages: list[str] | None = None, what: str = "layers"
) -> pd.DataFrame:
    """Spectral gap and radius 0 on layers without edges (the eigenvalues of a zero matrix).

    The same rule as :func:`topocore.tables.aggregate_layers` applies; done here first
    so that it is reported (count per column) and seen by :func:`drop_incomplete_networks`.
    """
    messages = [] if messages is None else messages
    layers = layers.copy()
    empty = layers["edges"] == 0
    for col in SPECTRAL_COLUMNS:
        if col in features and col in layers.columns:
            fill = empty & layers[col].isna()
            if fill.any():
                layers.loc[fill, col] = 0.0
                report(messages, f"{what}: {int(fill.sum())} edgeless layers: {col} set to 0 (zero adjacency matrix)")
    return layers


def drop_incomplete_networks(
    layers: pd.DataFrame, features: Sequence[str], *, messages: list[str] | None = None, what: str = "layers"
) -> pd.DataFrame:
    """Remove every layer of a network that has a missing value of ``features`` in any of its layers.

    A data-quality rule of the published per-layer tables: a network mean over only
    some of its layers is not comparable with the others, so the whole network goes
    (reported, naming each network).  Networks are identified by the key columns.
    """
    messages = [] if messages is None else messages
    keys = list(KEY_COLUMNS)
    incomplete = layers[list(features)].isna().any(axis=1).groupby([layers[k] for k in keys]).transform("any")
    if not incomplete.any():
        return layers
    bad = layers.loc[incomplete, keys].drop_duplicates().sort_values(keys)
    listing = "; ".join(network_label(*row) for row in bad.itertuples(index=False))
    report(messages, f"{what}: dropped {len(bad)} networks with missing layer values: {listing}")
    return layers.loc[~incomplete.to_numpy()]


def aggregate_layers(
    layers: pd.DataFrame,
    features: Sequence[str],
    *,
    messages: list[str] | None = None,
    what: str = "layers",
) -> pd.DataFrame:
    """Mean of each feature over a network's layers, one row per network.

    Three explicit steps, each reported in ``messages``:

    1. :func:`fill_edgeless_spectra` - layers without edges have undefined spectra
       (published as NaN); their spectral gap and radius become 0;
    2. :func:`drop_incomplete_networks` - a network keeping any other missing value
       is dropped;
    3. :func:`topocore.tables.aggregate_layers` - the toolkit's one per-layer ->
       per-network mean.

    The layers of one network must agree on its ``accuracy`` (else
    :class:`~topocore.errors.DataMismatchError`).

    Returns
    -------
    DataFrame with the key columns, ``accuracy`` and ``features``, sorted by the keys.
    """
    messages = [] if messages is None else messages
    keys = list(KEY_COLUMNS)
    features = list(features)
    layers = fill_edgeless_spectra(layers, features, messages=messages, what=what)
    accuracy = layers.groupby(keys, sort=True)["accuracy"]
    spread = accuracy.max() - accuracy.min()
    if (spread > 1e-12).any():
        raise DataMismatchError(f"{what}: layers of one network disagree on its accuracy: {spread[spread > 1e-12].index[:3].tolist()}")
    layers = drop_incomplete_networks(layers, features, messages=messages, what=what)
    means = _mean_over_layers(layers, features, by=keys)
    first_accuracy = layers.groupby(keys, sort=True)["accuracy"].first().reset_index()
    out = means.merge(first_accuracy, on=keys, how="left", validate="one_to_one")
    return out[keys + ["accuracy"] + features]
