"""Markdown and CSV renderings of the result tables (Tables 3, 4, 11, 12 analogues)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .estimators import REGRESSOR_LABELS

__all__ = ["markdown_table", "table3", "table3_markdown", "rbo_markdown", "write_table"]

STRATEGY_ORDER = (
    "layer_density", "delta_r", "delta_r_bound_ratio", "delta_r_imdb", "delta_r_imdb_bound_ratio", "lambda_imsg",
    "mixture", "mixture_loto",
)
STRATEGY_HEADERS = {
    "layer_density": "Layer density",
    "delta_r": "Δr",
    "delta_r_bound_ratio": "Δr / bound",
    "delta_r_imdb": "Δr_imdb",
    "delta_r_imdb_bound_ratio": "Δr_imdb / bound",
    "lambda_imsg": "λ_imsg",
    "mixture": "Mixture (paper, in-sample)",
    "mixture_loto": "Mixture (leave-one-triplet-out)",
}
SCENARIO_TITLES = {"sparsity": "Sparsity-Fixed", "architecture": "Architecture-Fixed"}


def _cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return ""
        return f"{v:g}" if float(v).is_integer() and abs(v) < 1e6 else f"{v:.4g}"
    return str(v).replace("|", "\\|")


def markdown_table(df: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown table of a DataFrame (index dropped)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _pm(mean, std, digits=3) -> str:
    if mean is None or not np.isfinite(mean):
        return ""
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def table3(summary: pd.DataFrame) -> pd.DataFrame:
    """Table 3 analogue (CSV form): regressor-averaged adjusted R^2 and MAE per encoding and group."""
    sub = summary[summary["regressor"] == "mean"].copy()
    cols = ["encoding", "scenario", "group", "adj_r2_mean", "adj_r2_std", "mae_mean", "mae_std", "n_rows", "n_features", "n_repeats"]
    return sub[cols].reset_index(drop=True)


def table3_markdown(summary: pd.DataFrame, regressor: str = "mean") -> str:
    """Table 3 analogue in Markdown: one row per (scenario, group), one column per encoding."""
    sub = summary[summary["regressor"] == regressor]
    encs = list(dict.fromkeys(sub["encoding"]))
    out = []
    for scen in dict.fromkeys(sub["scenario"]):
        s = sub[sub["scenario"] == scen]
        rows = []
        for grp in dict.fromkeys(s["group"]):
            row = {"group": grp}
            for e in encs:
                r = s[(s["group"] == grp) & (s["encoding"] == e)]
                if r.empty:
                    row[f"{e} adj. R²"] = ""
                    row[f"{e} MAE"] = ""
                    continue
                r = r.iloc[0]
                row[f"{e} adj. R²"] = _pm(r["adj_r2_mean"], r["adj_r2_std"])
                row[f"{e} MAE"] = _pm(r["mae_mean"], r["mae_std"])
            rows.append(row)
        title = SCENARIO_TITLES.get(scen, scen)
        label = "average of the regressors" if regressor == "mean" else REGRESSOR_LABELS.get(regressor, regressor)
        out.append(f"**{title}** ({label}; mean ± std over CV repeats)\n\n" + markdown_table(pd.DataFrame(rows)))
    return "\n".join(out)


def rbo_markdown(table: pd.DataFrame, strategies: Sequence[str] | None = None) -> str:
    """Markdown of an :func:`analysis.ranking.rbo_table` (mean ± std over data sets)."""
    present = [s for s in STRATEGY_ORDER if f"{s}_mean" in table.columns]
    extra = [c[: -len("_mean")] for c in table.columns if c.endswith("_mean") and c[: -len("_mean")] not in present]
    strategies = list(strategies) if strategies is not None else present + extra
    rows = []
    for r in table.itertuples(index=False):
        d = r._asdict()
        row = {"arch": d["arch"], "sparsity": d["sparsity"]}
        for s in strategies:
            row[STRATEGY_HEADERS.get(s, s)] = _pm(d.get(f"{s}_mean"), d.get(f"{s}_std", 0.0))
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


def write_table(df: pd.DataFrame, path: str | Path, markdown: str | None = None, title: str = "") -> list[Path]:
    """Write ``df`` as ``<path>.csv`` and (with ``markdown``) ``<path>.md``; returns the paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    csv = path.with_suffix(".csv")
    df.to_csv(csv, index=False)
    written = [csv]
    if markdown is not None:
        md = path.with_suffix(".md")
        md.write_text((f"# {title}\n\n" if title else "") + markdown, encoding="utf-8")
        written.append(md)
    return written
