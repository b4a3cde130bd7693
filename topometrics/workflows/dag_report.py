"""Outputs of the ``dag`` workflows: GraphML, a drawing, a per-run report and the Table-2 summary."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from topocore.io import atomic_write, atomic_write_bytes

__all__ = ["write_graphml", "read_graphml", "draw_topology", "summary_table", "summary_markdown", "report_markdown",
           "SUMMARY_ROWS"]

#: Rows of the Table-2 style summary: (column, label, decimals).  Macro metrics first
#: (Janik & Nowak's Table 2 order), then their Table 1 counts and the accuracies.
SUMMARY_ROWS: tuple[tuple[str, str, int], ...] = (
    ("log_paths", "log_paths", 2),
    ("mean_path", "mean_path", 2),
    ("max_path", "max_path", 2),
    ("ln_communicability", "ln_communicability", 2),
    ("edge_connectivity", "edge_connectivity", 2),
    ("mean_degree", "mean_degree", 2),
    ("pca_elongation", "pca_elongation", 2),
    ("q1d", "Q1D (fraction of runs)", 2),
    ("num_nodes", "nodes", 1),
    ("num_edges", "edges", 1),
    ("sparsity", "sparsity (edges removed)", 3),
    ("params_derived", "parameters (derived)", 0),
    ("accuracy_trained", "accuracy, trained", 3),
    ("accuracy_thresholded", "accuracy, thresholded", 3),
    ("accuracy_retrained", "accuracy, retrained from scratch", 3),
)


def write_graphml(graph, path: str | Path) -> Path:
    """Write a block graph as GraphML atomically (graph attributes that GraphML cannot hold are dropped)."""
    import networkx as nx

    g = graph.copy()
    g.graph = {k: v for k, v in graph.graph.items() if isinstance(v, (int, float, str, bool))}
    return atomic_write(path, lambda fh: nx.write_graphml(g, fh), mode="wb")


def read_graphml(path: str | Path):
    """Read a block graph written by :func:`write_graphml` (integer node ids restored)."""
    import networkx as nx

    return nx.read_graphml(path, node_type=int)


def draw_topology(graph, path: str | Path, *, title: str = "", random_state: int | None = None) -> Path:
    """Draw a block graph (Kamada-Kawai layout, nodes coloured by stage, edge width by gate) to a PNG.

    The layout starts from the circular layout (as :func:`topometrics.dag.pca_elongation` does), or
    from a random layout seeded with ``random_state`` when one is given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    und = nx.Graph()
    und.add_nodes_from(graph.nodes)
    und.add_edges_from(graph.edges)
    start = nx.circular_layout(und) if random_state is None else nx.random_layout(und, seed=random_state)
    pos = nx.kamada_kawai_layout(und, pos=start, weight=None)
    stages = [int(graph.nodes[n].get("stage", 0)) for n in graph.nodes]
    cmap = plt.get_cmap("Set2")
    weights = np.array([float(d.get("weight", 1.0)) for _, _, d in graph.edges(data=True)])
    widths = 0.5 + 3.0 * weights / weights.max() if weights.size and weights.max() > 0 else 1.0
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=120)
    nx.draw_networkx_edges(graph, pos, ax=ax, width=widths, alpha=0.55, arrows=True, arrowsize=8,
                           edge_color="0.35", node_size=220)
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=220, node_color=[cmap(s) for s in stages], edgecolors="black",
                           linewidths=0.6)
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=7)
    src, dst = graph.graph.get("input"), graph.graph.get("output")
    for node, label in ((src, "input"), (dst, "output")):
        if node in pos:
            ax.annotate(label, pos[node], xytext=(6, 6), textcoords="offset points", fontsize=8, color="crimson")
    for s in sorted(set(stages)):
        ax.scatter([], [], color=cmap(s), edgecolors="black", label=f"stage {s}")
    ax.legend(loc="best", fontsize=8, frameon=False)
    ax.set_title(title or f"block graph: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges", fontsize=9)
    ax.set_xlabel("Kamada-Kawai layout (edge width: gate magnitude |g|)", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def _group_label(row: Mapping[str, Any]) -> str:
    shape = row.get("input_shape")
    return f"{row.get('dataset')} {str(shape).replace(',', 'x')}" if shape is not None else str(row.get("dataset"))


def summary_table(rows, rows_spec: Iterable[tuple[str, str, int]] = SUMMARY_ROWS):
    """Mean +- sample standard deviation (ddof 1) per data set, in the form of Janik & Nowak's Table 2.

    ``rows`` is a DataFrame (or list of dicts) of runs with a ``dataset`` column (and
    ``input_shape``); failed rows (a non-empty ``error``) are left out.  Returns a
    DataFrame: one row per metric, one column per ``dataset input_shape`` group, cells
    ``"mean ± sd"`` with the row's decimals (thousands separated); the header row ``runs``
    gives the number of runs per group.
    """
    import pandas as pd

    frame = pd.DataFrame(rows).copy()
    if "error" in frame.columns:
        frame = frame[frame["error"].isna() | (frame["error"].astype(str) == "")]
    if frame.empty:
        return pd.DataFrame()
    frame["_group"] = [_group_label(r) for r in frame.to_dict("records")]
    groups = list(dict.fromkeys(frame["_group"]))
    out: dict[str, dict[str, str]] = {}
    for g in groups:
        part = frame[frame["_group"] == g]
        col = {"runs": str(len(part))}
        for column, label, decimals in rows_spec:
            if column not in part.columns:
                continue
            values = pd.to_numeric(part[column].map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v),
                                   errors="coerce").dropna()
            if values.empty:
                col[label] = "n/a"
                continue
            mean = float(values.mean())
            sd = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            fmt = f"{{:,.{decimals}f}}"
            col[label] = fmt.format(mean) + (" ± " + fmt.format(sd) if not math.isnan(sd) else "")
        out[g] = col
    table = pd.DataFrame(out)
    table.index.name = "metric"
    return table


def summary_markdown(table) -> str:
    """A summary table as a Markdown table."""
    if table.empty:
        return "(no successful runs)\n"
    cols = list(table.columns)
    lines = ["| metric | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for idx, row in table.iterrows():
        lines.append(f"| {idx} | " + " | ".join(str(row[c]) if isinstance(row[c], str) else "" for c in cols) + " |")
    return "\n".join(lines) + "\n"


def report_markdown(report: Mapping[str, Any]) -> str:
    """The per-run ``report.md``: configuration, accuracies, block graph and its metrics."""
    cfg = report.get("config", {})
    lines = [
        f"# dagnet on {cfg.get('dataset')} ({'x'.join(str(s) for s in cfg.get('input_shape', []))}), seed {report.get('seed')}",
        "",
        f"- model: nodes {cfg.get('nodes')}, channels {cfg.get('channels')}, graph {cfg.get('graph')!r}, gate "
        f"{cfg.get('gate')!r}; penalty {cfg.get('penalty')} with lambda {cfg.get('lam')}",
        f"- training: {cfg.get('epochs')} epochs, lr {cfg.get('lr')}, batch {cfg.get('batch_size')}; retraining "
        f"{cfg.get('retrain_epochs')} epochs",
        f"- derivation: rule {report.get('rule')!r}"
        + (f", tau {report.get('tau')}" if report.get("tau") is not None else f", k {report.get('k')}"),
        "",
        "| accuracy | value |",
        "|---|---|",
    ]
    for key in ("accuracy_trained", "accuracy_thresholded", "accuracy_retrained"):
        value = report.get(key)
        lines.append(f"| {key.split('_', 1)[1]} | {'-' if value is None else f'{value:.4f}'} |")
    lines += ["", "| block graph | value |", "|---|---|"]
    for key in ("num_nodes", "num_edges", "initial_edges", "sparsity", "params_initial", "params_derived",
                "log_paths", "mean_path", "max_path", "ln_communicability", "edge_connectivity", "mean_degree",
                "pca_elongation", "q1d"):
        if key in report:
            value = report[key]
            lines.append(f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |")
    mge = {k: v for k, v in report.items() if k.startswith("mge_")}
    if mge:
        lines += ["", "| MGE of the derived network (raw) | value |", "|---|---|"]
        lines += [f"| {k[4:]} | {v:.6g} |" if isinstance(v, float) else f"| {k[4:]} | {v} |" for k, v in mge.items()]
    lines += ["", "Files: `trained.pt` (with the penalty), `derived.pt` (removed edges gated to exactly 0), "
              "`retrained.pt` (derived topology from scratch), `topology.graphml`, `topology.png`, `report.json`.", ""]
    return "\n".join(lines)
