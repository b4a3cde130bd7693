"""Ramanujan-based metrics versus layer density (paper Section 4.1 and Appendix D).

Input: a per-layer table (:func:`analysis.published.load_ramanujan_layers`, or any table
with ``arch, dataset, method, sparsity, seed, layer_id, layer_name,
layer_density`` and the metric columns).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .correlation import pearson
from .names import PAPER_METHODS, RAMANUJAN_COLUMNS

__all__ = ["density_correlations", "scaled_layer_profile"]


def density_correlations(
    layers: pd.DataFrame,
    *,
    dataset: str | None = "cifar10",
    methods: Sequence[str] | None = PAPER_METHODS,
    metrics: Sequence[str] = RAMANUJAN_COLUMNS,
) -> pd.DataFrame:
    """Pearson r between each metric and the layer density over all layers of an (arch, sparsity).

    All layers of all networks (methods, seeds) of the data set are pooled; layers
    where a metric is undefined (NaN: the layer graph violates the metric's
    constraints) are left out.  Fewer than 3 defined layers give NaN (the empty
    cells of the paper's Figure 5).

    Returns
    -------
    DataFrame with ``arch, sparsity, metric, r, n_layers``.
    """
    need = {"arch", "sparsity", "layer_density", *metrics} | ({"dataset"} if dataset else set()) | ({"method"} if methods else set())
    missing = sorted(need - set(layers.columns))
    if missing:
        raise ValueError(f"per-layer table lacks columns {missing}")
    sub = layers
    if dataset is not None:
        sub = sub[sub["dataset"] == dataset]
    if methods is not None:
        sub = sub[sub["method"].isin(list(methods))]
    if sub.empty:
        raise ValueError(f"no layers for dataset={dataset!r} and methods={methods}")
    rows = []
    for (arch, s), g in sub.groupby(["arch", "sparsity"], sort=True):
        dens = g["layer_density"].to_numpy(float)
        for m in metrics:
            vals = g[m].to_numpy(float)
            rows.append((arch, s, m, pearson(vals, dens), int(np.isfinite(vals).sum())))
    return pd.DataFrame(rows, columns=["arch", "sparsity", "metric", "r", "n_layers"])


def scaled_layer_profile(
    layers: pd.DataFrame,
    arch: str,
    dataset: str,
    sparsity: float,
    *,
    methods: Sequence[str] | None = PAPER_METHODS,
    metrics: Sequence[str] = ("layer_density",) + tuple(RAMANUJAN_COLUMNS),
) -> pd.DataFrame:
    """Per-layer values scaled to sum to 1 across layers (paper Figure 2).

    Each metric is averaged per layer over the networks (methods and seeds) of the
    triplet, ignoring undefined values, then divided by its sum over layers.

    Returns
    -------
    DataFrame with ``layer_id, layer_name, metric, value, scaled``.
    """
    sel = (layers["arch"] == arch) & (layers["dataset"] == dataset) & np.isclose(layers["sparsity"], sparsity)
    if methods is not None:
        sel &= layers["method"].isin(list(methods))
    sub = layers.loc[sel]
    if sub.empty:
        raise ValueError(f"no layers for {arch}/{dataset}/s={sparsity}")
    per_layer = sub.groupby(["layer_id", "layer_name"], sort=True)[list(metrics)].mean().reset_index()
    long = per_layer.melt(id_vars=["layer_id", "layer_name"], var_name="metric", value_name="value")
    totals = long.groupby("metric")["value"].transform(lambda v: np.nansum(v))
    long["scaled"] = long["value"] / totals.where(totals != 0, np.nan)
    return long
