"""Robustness curves -> summary numbers, tables and the figure (pure table functions).

The sweep itself (perturbing a model and evaluating it) is **not** here: it needs the
models (:mod:`pruners`) and, for topometrics, the encoders, which the analysis layer may
not import.  It lives in the application layer as
:func:`topometrics.workflows.robustness.sweep` (also ``topometrics.workflows.sweep``) and
on the command line as ``topometrics robustness``; this module turns its table into
numbers and figures.

A *sweep table* has one row per ``(perturbation, fraction, repeat)`` of a network with at
least the columns ``perturbation``, ``fraction``, ``repeat``, ``accuracy``,
``base_accuracy`` (the unperturbed accuracy) and ``chance`` (``1 / num_classes``); tables
of several networks add key columns such as ``group``, ``checkpoint`` and ``seed``.

Summary numbers of one curve (:func:`curve_summary`)
----------------------------------------------------
* ``auc``: the area under accuracy-vs-fraction (trapezoidal rule over the swept
  fractions) divided by ``base_accuracy * (f_max - f_min)``, the area of a network that
  never degrades: 1 for a flat curve, about ``chance / base_accuracy`` for one that drops
  to chance at once; it exceeds 1 when a perturbation *improves* accuracy.
* ``f50``: the fraction at which accuracy first falls to ``(base_accuracy + chance) / 2``,
  halfway between the unperturbed accuracy and chance, linearly interpolated between the
  two swept fractions around the crossing; NaN when the curve never falls that low within
  the swept fractions (``f50_reached`` is then False).

:func:`summarize` gives their mean and standard deviation over repeats and seeds (all
curves of a group), with ``f50`` averaged over the curves that reached it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from topocore.errors import InputError

__all__ = [
    "CURVE_KEYS",
    "auc",
    "f50",
    "curve_summary",
    "summarize",
    "mean_curves",
    "robustness_figure",
    "perturbation_figure",
    "summary_markdown",
    "topometric_auc_correlation",
]

#: Columns that identify one curve within a sweep table of one network.
CURVE_KEYS = ("perturbation", "scope", "repeat")
_REQUIRED = ("perturbation", "fraction", "repeat", "accuracy", "base_accuracy", "chance")


def auc(fractions: Sequence[float], accuracy: Sequence[float], base_accuracy: float) -> float:
    """Normalised area under one accuracy-vs-fraction curve (module docstring).

    ``trapz(accuracy, fractions) / (base_accuracy * (max(fractions) - min(fractions)))``;
    a single fraction gives ``accuracy / base_accuracy``.  Complexity ``O(len(fractions))``.
    """
    f = np.asarray(fractions, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    if f.shape != a.shape or f.ndim != 1 or len(f) == 0:
        raise InputError(f"fractions and accuracy must be equal-length 1-d sequences, got {f.shape} and {a.shape}")
    if not base_accuracy > 0:
        return float("nan")
    if len(f) == 1:
        return float(a[0] / base_accuracy)
    area = float(np.sum((a[1:] + a[:-1]) * np.diff(f)) / 2.0)
    return area / (float(base_accuracy) * float(f[-1] - f[0]))


def f50(fractions: Sequence[float], accuracy: Sequence[float], base_accuracy: float, chance: float) -> float:
    """First fraction where accuracy reaches ``(base_accuracy + chance) / 2`` (linear interpolation), or NaN.

    A curve already at or below the threshold at its first fraction gives that fraction.
    """
    f = np.asarray(fractions, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    threshold = (float(base_accuracy) + float(chance)) / 2.0
    below = np.nonzero(a <= threshold)[0]
    if len(below) == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(f[0])
    f0, f1, a0, a1 = f[i - 1], f[i], a[i - 1], a[i]
    return float(f0 + (a0 - threshold) * (f1 - f0) / (a0 - a1))


def _check(table: pd.DataFrame) -> None:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"expected a sweep table (pandas DataFrame), got {type(table).__name__}")
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise InputError(
            f"the sweep table lacks the columns {missing}; pass the table of topometrics.workflows.robustness.sweep "
            "or robustness.csv of `topometrics robustness`"
        )


def curve_summary(table: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """One row per curve: ``by`` columns, the curve keys, ``base_accuracy``, ``chance``, ``auc``, ``f50``, ``f50_reached``.

    Curves are the row groups of ``by`` + :data:`CURVE_KEYS` (``scope`` only when present),
    each sorted by fraction.
    """
    _check(table)
    keys = [*by, *[k for k in CURVE_KEYS if k in table.columns]]
    missing = [k for k in by if k not in table.columns]
    if missing:
        raise InputError(f"cannot group curves by {missing}: no such column (columns: {', '.join(table.columns)})")
    rows = []
    for key, curve in table.groupby(keys, sort=False, dropna=False):
        curve = curve.sort_values("fraction")
        base = float(curve["base_accuracy"].iloc[0])
        chance = float(curve["chance"].iloc[0])
        value = f50(curve["fraction"], curve["accuracy"], base, chance)
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row.update(base_accuracy=base, chance=chance, auc=auc(curve["fraction"], curve["accuracy"], base), f50=value,
                   f50_reached=bool(np.isfinite(value)), max_fraction=float(curve["fraction"].max()))
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame, by: Sequence[str] = ("group",)) -> pd.DataFrame:
    """Mean and standard deviation of ``auc`` and ``f50`` over the curves (repeats, seeds) of each group.

    Columns: ``by``, ``perturbation`` (and ``scope``), ``curves`` (count), ``base_accuracy``
    (mean), ``auc_mean``, ``auc_sd``, ``f50_mean``, ``f50_sd`` (over the curves that reached
    f50), ``f50_reached`` (how many did) and ``max_fraction``.  Standard deviations are the
    sample ones (``ddof=1``; NaN for a single curve).  ``table`` is a sweep table (the curves
    are found with :func:`curve_summary`) or already a curve summary.
    """
    by = list(by)
    if "auc" in table.columns:
        curves = table
    else:  # one curve per network (checkpoint, else seed) and repeat
        network = next((c for c in ("checkpoint", "seed") if c in table.columns and c not in by), None)
        curves = curve_summary(table, by=[*by, *([network] if network else [])])
    keys = [*by, "perturbation", *(["scope"] if "scope" in curves.columns else [])]
    rows = []
    for key, group in curves.groupby(keys, sort=False, dropna=False):
        reached = group.loc[group["f50_reached"], "f50"]
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row.update(
            curves=int(len(group)), base_accuracy=float(group["base_accuracy"].mean()),
            auc_mean=float(group["auc"].mean()), auc_sd=float(group["auc"].std(ddof=1)) if len(group) > 1 else float("nan"),
            f50_mean=float(reached.mean()) if len(reached) else float("nan"),
            f50_sd=float(reached.std(ddof=1)) if len(reached) > 1 else float("nan"),
            f50_reached=int(len(reached)), max_fraction=float(group["max_fraction"].max()),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def mean_curves(table: pd.DataFrame, by: Sequence[str] = ("group",)) -> pd.DataFrame:
    """Accuracy per fraction: mean, standard deviation, min and max over the curves of each group and perturbation."""
    _check(table)
    keys = [*by, "perturbation", *(["scope"] if "scope" in table.columns else []), "fraction"]
    stats = table.groupby(keys, sort=False, dropna=False)["accuracy"].agg(["mean", "std", "min", "max", "count"])
    return stats.reset_index().rename(columns={"mean": "accuracy_mean", "std": "accuracy_sd", "min": "accuracy_min",
                                               "max": "accuracy_max", "count": "curves"})


def robustness_figure(table: pd.DataFrame, *, by: str = "group", perturbations: Sequence[str] | None = None,
                      title: str = ""):
    """Accuracy vs perturbed fraction: one panel per perturbation, one line per ``by`` group.

    Lines are the mean over the group's curves (repeats and seeds), the band its min-max; a
    dashed grey line marks chance.  Returns a :class:`matplotlib.figure.Figure`.
    """
    from matplotlib.figure import Figure

    _check(table)
    if by not in table.columns:
        table = table.assign(**{by: "network"})
    names = list(perturbations) if perturbations is not None else list(dict.fromkeys(table["perturbation"]))
    curves = mean_curves(table, by=[by])
    fig = Figure(figsize=(3.6 * len(names) + 0.4, 3.4), constrained_layout=True)
    axes = np.atleast_1d(fig.subplots(1, len(names), sharey=True))
    groups = list(dict.fromkeys(table[by]))
    colors = {g: f"C{i % 10}" for i, g in enumerate(groups)}
    chance = float(table["chance"].mean())
    for ax, name in zip(axes, names):
        for group in groups:
            c = curves[(curves[by] == group) & (curves["perturbation"] == name)].sort_values("fraction")
            if c.empty:
                continue
            ax.plot(c["fraction"], c["accuracy_mean"], marker="o", markersize=3, color=colors[group], label=str(group))
            ax.fill_between(c["fraction"], c["accuracy_min"], c["accuracy_max"], color=colors[group], alpha=0.2, linewidth=0)
        ax.axhline(chance, color="grey", linestyle="--", linewidth=0.8, label="chance")
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("noise scale f (x layer sd)" if name == "noise" else "fraction of active links perturbed")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    if title:
        fig.suptitle(title)
    return fig


def perturbation_figure(table: pd.DataFrame, *, group=None, by: str = "group", title: str = ""):
    """All perturbations of one group in one panel: accuracy vs fraction, a line per perturbation.

    ``group`` selects the rows whose ``by`` column equals it (``None``: the whole table).
    Lines are means over the group's curves (repeats and seeds), bands their min-max.
    """
    from matplotlib.figure import Figure

    _check(table)
    if group is not None:
        if by not in table.columns or not (table[by] == group).any():
            raise InputError(f"no rows with {by} == {group!r}; known: {sorted(set(table[by])) if by in table.columns else []}")
        table = table[table[by] == group]
    curves = mean_curves(table, by=[])
    fig = Figure(figsize=(5.6, 4.0), constrained_layout=True)
    ax = fig.subplots()
    for i, name in enumerate(dict.fromkeys(table["perturbation"])):
        c = curves[curves["perturbation"] == name].sort_values("fraction")
        label = name.replace("_", " ") + (" (f = noise sd / layer sd)" if name == "noise" else "")
        ax.plot(c["fraction"], c["accuracy_mean"], marker="o", markersize=3, color=f"C{i}", label=label)
        ax.fill_between(c["fraction"], c["accuracy_min"], c["accuracy_max"], color=f"C{i}", alpha=0.2, linewidth=0)
    ax.axhline(float(table["chance"].mean()), color="grey", linestyle="--", linewidth=0.8, label="chance")
    ax.set_xlabel("fraction of active links perturbed")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title or (str(group) if group is not None else ""), fontsize=9)
    return fig


def _cell(mean: float, sd: float, digits: int = 3) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if np.isfinite(sd) else "")


def summary_markdown(summary: pd.DataFrame, by: str = "group") -> str:
    """The AUC / f50 table of :func:`summarize` as Markdown (``> f_max`` where no curve reached f50)."""
    lines = [f"| {by} | perturbation | curves | unperturbed acc. | AUC (norm.) | f50 | f50 reached |", "|---|---|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        f50_cell = _cell(r["f50_mean"], r["f50_sd"], 2) if r["f50_reached"] else f"> {r['max_fraction']:g}"
        lines.append(f"| {r[by] if by in summary.columns else ''} | {r['perturbation']} | {int(r['curves'])} | "
                     f"{r['base_accuracy']:.3f} | {_cell(r['auc_mean'], r['auc_sd'])} | {f50_cell} | "
                     f"{int(r['f50_reached'])}/{int(r['curves'])} |")
    return "\n".join(lines)


def topometric_auc_correlation(networks: pd.DataFrame, metrics: Sequence[str], *, target: str = "auc",
                               by: str = "perturbation") -> pd.DataFrame:
    """Pearson and Spearman correlation of each topometric with ``target`` across networks.

    ``networks`` has one row per network and perturbation (e.g. the per-network mean AUC
    joined with the unperturbed network's topometrics); returns one row per ``by`` value and
    metric with ``pearson``, ``spearman`` and ``n`` (networks with both values).  A constant
    column gives NaN correlations.
    """
    missing = [c for c in [target, by, *metrics] if c not in networks.columns]
    if missing:
        raise InputError(f"cannot correlate: columns {missing} are missing; join the topometrics to the AUC table first")
    rows = []
    for key, group in networks.groupby(by, sort=False):
        for m in metrics:
            pair = group[[m, target]].astype(float).dropna()
            const = len(pair) < 3 or pair[m].nunique() < 2 or pair[target].nunique() < 2
            rows.append({by: key, "metric": m, "n": int(len(pair)),
                         "pearson": float("nan") if const else float(pair[m].corr(pair[target])),
                         "spearman": float("nan") if const else float(pair[m].corr(pair[target], method="spearman"))})
    return pd.DataFrame(rows)
