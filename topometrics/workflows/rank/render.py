"""Rendering of a :class:`~.result.RankResult`: terminal text, Markdown report, figure, output files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from topocore.io import atomic_write_csv, atomic_write_text

from .config import STRATEGIES, STRATEGY_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from analysis.ranking import ImportanceModel

    from .result import RankResult

__all__ = ["to_text", "to_markdown", "ranking_figure", "save", "importance_long"]


def _keys(result: "RankResult"):
    return result.rankings[["dataset", "sparsity"]].drop_duplicates().sort_values(["dataset", "sparsity"])


def to_text(result: "RankResult") -> str:
    """Tables of every ranked (data set, sparsity) and the RBO summary, for the terminal."""
    lines = list(result.notes)
    for ds, s in _keys(result).itertuples(index=False):
        lines.append("")
        lines.append(f"{ds}, sparsity {s:g} (best first):")
        lines.append(result.wide(s, ds).to_string())
    summ = result.summary()
    if not summ.empty:
        lines.append("")
        lines.append("Agreement with the true ranking (mean RBO over the sparsities above, p in {0.25, 0.5, 0.75}):")
        for r in summ.itertuples(index=False):
            # a spread needs two sparsities: one gives its value and n = 1, not "+- 0.000"
            spread = f"+- {r.std_rbo:.3f}" if r.triplets > 1 and np.isfinite(r.std_rbo) else f"(n = {int(r.triplets)})"
            lines.append(f"  {STRATEGY_LABELS.get(r.strategy, r.strategy):<20s} {r.mean_rbo:.3f} {spread}")
    return "\n".join(lines)


def to_markdown(result: "RankResult") -> str:
    """The rankings as a Markdown report."""
    from analysis.report import markdown_table

    parts = ["# Ranking of pruning methods by topometric mixture", ""]
    parts += [f"- {n}" for n in result.notes]
    for ds, s in _keys(result).itertuples(index=False):
        parts += ["", f"## {ds}, sparsity {s:g}", "", markdown_table(result.wide(s, ds).reset_index())]
    summ = result.summary()
    if not summ.empty:
        parts += ["", "## Mean RBO against the true ranking", "", markdown_table(summ)]
    return "\n".join(parts) + "\n"


def importance_long(model: "ImportanceModel") -> pd.DataFrame:
    """Both importance tables stacked: ``group, scenario, <feature>...``."""
    a = model.w_arch.copy()
    a.insert(0, "scenario", "architecture")
    s = model.w_sparsity.copy()
    s.insert(0, "scenario", "sparsity")
    a.index = a.index.map(str)
    s.index = s.index.map(str)
    both = pd.concat([a, s])
    both.index.name = "group"
    return both.reset_index()


def save(result: "RankResult", out: str | os.PathLike) -> dict[str, Path]:
    """Write ``networks.csv``, ``rankings.csv``, ``rbo.csv``, ``coefficients.csv``,
    ``importance.csv``, ``report.md`` and ``ranking.png`` into ``out`` (each atomically)."""
    from analysis.figures import save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in (
        ("networks", result.networks),
        ("rankings", result.rankings),
        ("rbo", result.rbo),
        ("coefficients", result.coefficients),
        ("importance", importance_long(result.importance)),
    ):
        paths[name] = atomic_write_csv(out / f"{name}.csv", df)
    paths["report"] = atomic_write_text(out / "report.md", to_markdown(result))
    paths["figure"] = save_figure(ranking_figure(result), out / "ranking.png")
    return paths


def ranking_figure(result: "RankResult"):
    """Two panels: RBO of every strategy per sparsity, and the mixture's ranks next to the true ones."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.1, 1])
    rbo = result.rbo.dropna(subset=["rbo"])
    if not rbo.empty:
        piv = rbo.groupby(["sparsity", "strategy"])["rbo"].mean().unstack("strategy")
        piv = piv.reindex(columns=[s for s in STRATEGIES if s in piv.columns])
        width = 0.8 / max(1, piv.shape[1])
        x = np.arange(len(piv.index))
        for j, strat in enumerate(piv.columns):
            ax1.bar(x + (j - (piv.shape[1] - 1) / 2) * width, piv[strat].to_numpy(), width, label=STRATEGY_LABELS.get(strat, strat))
        ax1.set_xticks(x, [f"{s:g}" for s in piv.index])
        ax1.set_ylim(0, 1.25)
        ax1.set_yticks(np.linspace(0, 1, 6))
        ax1.set_xlabel("sparsity")
        ax1.set_ylabel("RBO vs true ranking")
        ax1.legend(fontsize=8, loc="upper center", ncol=3, frameon=False)
        ax1.set_title("Agreement with the true ranking")
    else:
        ax1.text(0.5, 0.5, "no published ranking for these networks", ha="center", va="center")
        ax1.set_axis_off()
    mix = result.rankings[result.rankings["strategy"] == "mixture"]
    truth_name = "measured" if (result.rankings["strategy"] == "measured").any() else "published"
    pub = result.rankings[result.rankings["strategy"] == truth_name]
    sparsities = sorted(mix["sparsity"].unique())
    methods = sorted(mix["method"].unique())
    grid = np.full((len(methods), len(sparsities)), np.nan)
    for j, s in enumerate(sparsities):
        sub = mix[np.isclose(mix["sparsity"], s)]
        for m, pos in zip(sub["method"], sub["position"]):
            grid[methods.index(m), j] = pos
    im = ax2.imshow(grid, cmap="viridis_r", aspect="auto")
    for i, m in enumerate(methods):
        for j, s in enumerate(sparsities):
            p = pub[np.isclose(pub["sparsity"], s) & (pub["method"] == m)]["position"]
            label = f"{int(grid[i, j])}" if np.isfinite(grid[i, j]) else ""
            if len(p):
                label += f" ({int(p.iloc[0])})"
            light = np.isfinite(grid[i, j]) and grid[i, j] <= (np.nanmax(grid) + 1) / 2
            ax2.text(j, i, label, ha="center", va="center", color="black" if light else "white", fontsize=9)
    ax2.set_xticks(range(len(sparsities)), [f"{s:g}" for s in sparsities])
    ax2.set_yticks(range(len(methods)), methods)
    ax2.set_xlabel("sparsity")
    ax2.set_ylabel("pruning method")
    ax2.set_title(f"Mixture rank ({truth_name} rank)")
    fig.colorbar(im, ax=ax2, label="predicted rank")
    return fig
