"""Figures of the analysis (paper Figures 2-5), drawn without pyplot's global state.

Every function returns a :class:`matplotlib.figure.Figure`; save it with
:func:`save_figure` (PNG by default).  Nothing here changes the matplotlib backend.
"""

from __future__ import annotations

import textwrap

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .names import FEATURE_CATEGORIES, RAMANUJAN_COLUMNS, feature_label

__all__ = [
    "importance_heatmap",
    "ramanujan_profile_figure",
    "density_correlation_figure",
    "regression_figure",
    "save_figure",
]

_CMAP = "RdBu_r"


def _group_label(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:g}"
    return str(v)


def _annotated_heatmap(ax, values: np.ndarray, row_labels, col_labels, vmin=-1.0, vmax=1.0, fmt="{:.2f}"):
    im = ax.imshow(values, cmap=_CMAP, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(col_labels)), labels=col_labels)
    ax.set_yticks(range(len(row_labels)), labels=row_labels)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if np.isfinite(v):
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="white" if abs(v) > 0.6 else "black")
    return im


def importance_heatmap(
    importance: pd.DataFrame,
    *,
    encoding: str | None = "unrolled",
    scenario: str = "sparsity",
    title: str | None = None,
) -> Figure:
    """Heatmap of feature importance (rows: features, columns: groups), like Figures 3 and 4.

    ``importance`` is an :func:`analysis.importance.importance_table`.
    """
    sub = importance[(importance["regressor"] == "mean") & (importance["scenario"] == scenario)]
    if encoding is not None and "encoding" in sub.columns:
        sub = sub[sub["encoding"] == encoding]
    if sub.empty:
        raise ValueError(f"no importance rows for encoding={encoding!r}, scenario={scenario!r}")
    features = list(dict.fromkeys(sub["feature"]))
    groups = list(dict.fromkeys(sub["group"]))
    wide = sub.pivot_table(index="feature", columns="group", values="importance", aggfunc="first", dropna=False)
    wide = wide.reindex(index=features, columns=groups)
    labels = [f"{feature_label(f)} ({FEATURE_CATEGORIES[f]})" if f in FEATURE_CATEGORIES else feature_label(f) for f in features]
    fig = Figure(figsize=(1.1 * len(groups) + 3.2, 0.34 * len(features) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    im = _annotated_heatmap(ax, wide.to_numpy(float), labels, [_group_label(g) for g in groups])
    ax.set_xlabel("sparsity" if scenario == "sparsity" else "architecture")
    scen = "Sparsity-Fixed" if scenario == "sparsity" else "Architecture-Fixed"
    ax.set_title(textwrap.fill(title or f"Pearson r with predicted accuracy drop ({scen}{', ' + encoding if encoding else ''})", 48),
                 fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8, label="r")
    return fig


def ramanujan_profile_figure(profile: pd.DataFrame, *, title: str = "") -> Figure:
    """Grouped bars of per-layer values scaled to sum 1 (paper Figure 2).

    ``profile`` is an :func:`analysis.ramanujan.scaled_layer_profile` table.
    """
    metrics = list(dict.fromkeys(profile["metric"]))
    layers = profile[["layer_id", "layer_name"]].drop_duplicates().sort_values("layer_id")
    n_layers = len(layers)
    fig = Figure(figsize=(max(6.0, 0.35 * n_layers + 2), 3.6), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(metrics))
    x = np.arange(n_layers)
    for k, m in enumerate(metrics):
        vals = profile[profile["metric"] == m].set_index("layer_id").reindex(layers["layer_id"])["scaled"].to_numpy(float)
        ax.bar(x + (k - (len(metrics) - 1) / 2) * width, np.nan_to_num(vals), width=width, label=feature_label(m))
    ax.set_xticks(x, labels=list(layers["layer_name"]), rotation=90, fontsize=6)
    ax.set_ylabel("value / sum over layers")
    ax.set_title(textwrap.fill(title, 48), fontsize=9)
    ax.legend(fontsize=7)
    return fig


def density_correlation_figure(corr: pd.DataFrame, metrics: Sequence[str] = RAMANUJAN_COLUMNS, *, title: str = "") -> Figure:
    """One heatmap per Ramanujan metric of its correlation with layer density (paper Figure 5).

    ``corr`` is an :func:`analysis.ramanujan.density_correlations` table; rows are
    architectures, columns sparsities; empty cells are undefined correlations.
    """
    fig = Figure(figsize=(4.2 * len(metrics), 3.0), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    im = None
    for ax, m in zip(axes, metrics):
        sub = corr[corr["metric"] == m]
        wide = sub.pivot_table(index="arch", columns="sparsity", values="r", aggfunc="first", dropna=False)
        im = _annotated_heatmap(ax, wide.to_numpy(float), list(wide.index), [_group_label(c) for c in wide.columns])
        ax.set_title(feature_label(m), fontsize=9)
        ax.set_xlabel("sparsity")
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.8, label="Pearson r with Layer-Density")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def regression_figure(summary: pd.DataFrame, *, metric: str = "adj_r2") -> Figure:
    """Bars of the regressor-averaged adjusted R^2 (or MAE) per group, one panel per scenario."""
    sub = summary[summary["regressor"] == "mean"]
    scenarios = list(dict.fromkeys(sub["scenario"]))
    fig = Figure(figsize=(5.0 * len(scenarios), 3.4), layout="constrained")
    axes = fig.subplots(1, len(scenarios), squeeze=False)[0]
    for ax, scen in zip(axes, scenarios):
        s = sub[sub["scenario"] == scen]
        encs = list(dict.fromkeys(s["encoding"]))
        groups = list(dict.fromkeys(s["group"]))
        width = 0.8 / max(1, len(encs))
        x = np.arange(len(groups))
        for k, e in enumerate(encs):
            se = s[s["encoding"] == e].set_index("group").reindex(groups)
            ax.bar(
                x + (k - (len(encs) - 1) / 2) * width,
                se[f"{metric}_mean"].to_numpy(float),
                width=width,
                yerr=se[f"{metric}_std"].to_numpy(float),
                label=str(e),
                capsize=2,
            )
        ax.set_xticks(x, labels=[_group_label(g) for g in groups])
        ax.set_title("Sparsity-Fixed" if scen == "sparsity" else "Architecture-Fixed", fontsize=9)
        ax.set_ylabel("adjusted R^2" if metric == "adj_r2" else metric)
        ax.legend(fontsize=7)
        missing = [_group_label(g) for g in groups
                   if not np.isfinite(s[s["group"] == g][f"{metric}_mean"].to_numpy(float)).any()]
        if missing:  # say why a bar is absent instead of leaving an empty panel
            why = ("undefined (NaN): a group of n <= p + 1 networks has no adjusted R^2; see the MAE in table3"
                   if metric == "adj_r2" else "undefined (NaN)")
            where = "every group" if len(missing) == len(groups) else "group(s) " + ", ".join(missing)
            ax.text(0.5, 0.5, textwrap.fill(f"{metric} of {where} {why}", 40), transform=ax.transAxes, ha="center",
                    va="center", fontsize=8, color="0.3")
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write a figure (format from the suffix, PNG by default) and return the path."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
