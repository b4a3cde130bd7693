"""The rank job's result: rankings, RBO, mixture coefficients and networks, with their views."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.ranking import ImportanceModel

from .config import STRATEGIES, STRATEGY_LABELS, TRUTHS

__all__ = ["RankResult"]


@dataclass
class RankResult:
    """Rankings of one job.

    Attributes
    ----------
    rankings : DataFrame
        Long table ``sparsity, dataset, strategy, position, method`` (position 1 = best;
        strategy ``published`` is the paper's ranking when it exists).
    rbo : DataFrame
        ``sparsity, dataset, strategy, rbo``: mean extrapolated RBO against the true
        ranking: the measured accuracies of the ranked checkpoints when they all have
        one (strategy ``measured``), else the paper's published ranking; NaN when
        neither exists.
    coefficients : DataFrame
        ``sparsity, dataset, method, coefficient``: the mixture coefficients (lower ranks higher).
    networks : DataFrame
        Every network of the job (raw topometrics and baselines, published accuracies
        where known).
    importance : ImportanceModel
        The importance vectors used.
    notes : list of str
        What the scoring data and the reference networks were.
    """

    rankings: pd.DataFrame
    rbo: pd.DataFrame
    coefficients: pd.DataFrame
    networks: pd.DataFrame
    importance: ImportanceModel
    notes: list[str] = field(default_factory=list)

    def ranking(self, strategy: str, sparsity: float, dataset: str | None = None) -> list[str]:
        """The methods of one strategy's ranking at ``sparsity``, best first."""
        r = self.rankings[(self.rankings["strategy"] == strategy) & np.isclose(self.rankings["sparsity"], sparsity)]
        if dataset is not None:
            r = r[r["dataset"] == dataset]
        return r.sort_values("position")["method"].tolist()

    def wide(self, sparsity: float, dataset: str | None = None) -> pd.DataFrame:
        """One sparsity's rankings as columns (position x strategy) with an ``RBO`` row."""
        r = self.rankings[np.isclose(self.rankings["sparsity"], sparsity)]
        if dataset is not None:
            r = r[r["dataset"] == dataset]
        order = [s for s in TRUTHS + STRATEGIES if s in set(r["strategy"])]
        table = r.pivot_table(index="position", columns="strategy", values="method", aggfunc="first").reindex(columns=order)
        table.columns = [STRATEGY_LABELS.get(c, c) for c in table.columns]
        table = table.fillna("")
        rbo = self.rbo[np.isclose(self.rbo["sparsity"], sparsity)]
        if dataset is not None:
            rbo = rbo[rbo["dataset"] == dataset]
        if rbo["rbo"].notna().any():
            vals = rbo.groupby("strategy")["rbo"].mean()
            row = {STRATEGY_LABELS.get(s, s): (f"{vals[s]:.3f}" if s in vals and np.isfinite(vals[s]) else "") for s in order}
            for truth in TRUTHS:
                if truth in order:
                    row[STRATEGY_LABELS[truth]] = "1.000"
            table.loc["RBO"] = pd.Series(row)
        table.index = [str(i) for i in table.index]
        table.index.name = "rank"
        return table

    def summary(self) -> pd.DataFrame:
        """Mean and std of the RBO of each strategy over the ranked triplets."""
        rbo = self.rbo.dropna(subset=["rbo"])
        if rbo.empty:
            return pd.DataFrame(columns=["strategy", "mean_rbo", "std_rbo", "triplets"])
        out = rbo.groupby("strategy")["rbo"].agg(mean_rbo="mean", std_rbo="std", triplets="size").reindex(
            [s for s in STRATEGIES if s in set(rbo["strategy"])]
        )
        return out.reset_index()

    def to_text(self) -> str:
        """Tables of every ranked (data set, sparsity) and the RBO summary, for the terminal."""
        from .render import to_text

        return to_text(self)

    def to_markdown(self) -> str:
        """The rankings as a Markdown report."""
        from .render import to_markdown

        return to_markdown(self)

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write ``networks.csv``, ``rankings.csv``, ``rbo.csv``, ``coefficients.csv``,
        ``importance.csv``, ``report.md`` and ``ranking.png`` into ``out``."""
        from .render import save

        return save(self, out)
