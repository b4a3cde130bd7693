"""Table helpers shared by the metric and analysis layers.

:func:`aggregate_layers` is the one way a per-layer table becomes per-network values
(the rolled and Ramanujan baselines, computed by ``topometrics.per_layer`` or read from
the published data by ``analysis``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import InputError

__all__ = ["aggregate_layers", "SPECTRAL_COLUMNS"]

#: Columns holding spectra of a layer's adjacency or Laplacian: 0 for a layer without edges.
SPECTRAL_COLUMNS = ("spectral_gap", "spectral_radius")


def aggregate_layers(layers, columns: Sequence[str] | None = None, *, by: Sequence[str] = (), edges_column: str = "edges"):
    """Network-level values: the mean of each column over the layers where it is defined.

    Definition
    ----------
    For every group of rows sharing the ``by`` columns (one network; the whole table when
    ``by`` is empty) and every column ``c``: the mean of ``c`` over the group's layers
    whose value is not NaN; NaN when no layer of the group defines it.  Before averaging,
    a layer without edges (``edges_column`` equal to 0, when that column exists) gets
    spectral gap and spectral radius 0, the eigenvalues of its zero matrix.  The number of
    layers averaged is in the column ``num_layers``.

    Parameters
    ----------
    layers : pandas.DataFrame
        One row per layer.
    columns : sequence of str, optional
        Columns to average; default: every numeric column not in ``by``.
    by : sequence of str
        Columns identifying a network.
    edges_column : str
        Column with each layer's edge count (optional).

    Returns
    -------
    pandas.DataFrame
        One row per group, ``by`` columns first, then ``num_layers`` and ``columns``.

    Complexity: O(rows x columns).
    """
    import pandas as pd

    if not isinstance(layers, pd.DataFrame):
        raise InputError(f"expected a per-layer pandas DataFrame, got {type(layers).__name__}")
    by = list(by)
    missing = [c for c in by if c not in layers.columns]
    if missing:
        raise InputError(f"per-layer table lacks the column(s) {missing} that identify a network")
    if columns is None:
        columns = [c for c in layers.select_dtypes("number").columns if c not in by]
    columns = list(columns)
    lacking = [c for c in columns if c not in layers.columns]
    if lacking:
        raise InputError(f"per-layer table lacks the column(s) {lacking}")
    work = layers[by + columns].copy()
    for c in columns:
        work[c] = pd.to_numeric(work[c], errors="coerce").astype(float)
    if edges_column in layers.columns:
        empty = pd.to_numeric(layers[edges_column], errors="coerce").to_numpy() == 0
        for c in SPECTRAL_COLUMNS:
            if c in columns:
                work.loc[empty & work[c].isna().to_numpy(), c] = 0.0
    if by:
        grouped = work.groupby(by, sort=True, dropna=False)
        out = grouped[columns].mean()
        out.insert(0, "num_layers", grouped.size())
        return out.reset_index()
    row = {"num_layers": len(work)}
    row.update({c: float(work[c].mean(skipna=True)) if work[c].notna().any() else np.nan for c in columns})
    return pd.DataFrame([row])
