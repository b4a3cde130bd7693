"""Topology trajectories of dynamic sparse training: topometrics of every recorded state, and their plot.

:func:`topology_trajectory` measures the masks that a :class:`pruners.dst.DynamicSparsity`
kept with ``record_every=k`` (update 0 and every k-th update): for each state it builds the
MGE (:func:`encoders.encode`) of the model under that state's masks, computes the
requested topometrics (:func:`topometrics.compute`) and their size-normalised values
(:func:`topometrics.normalize`), and returns one tidy table.
:func:`trajectory_figure` plots a metric per panel against the epoch, one line per run
or group of runs.

Why here and not a method of the engine
---------------------------------------
:mod:`pruners` imports :mod:`topocore` only (the import-linter contracts in
``pyproject.toml``, ``docs/architecture.md``): the engine records the masks and the
history, and this application-layer function, which may import :mod:`pruners`,
:mod:`encoders` and the metric modules, measures them::

    ds = DynamicSparsity(model, masks, "ch3l3", record_every=1, ...)
    ...                                     # train, calling ds.step()
    table = topometrics.topology_trajectory(ds, metrics=["source", "sink"], input_shape=(784,))

Edge weights
------------
A recorded state holds masks only (bit-packed), not weights, so every weighted layer is
encoded with **unit weights** (every kept weight, the dense readout and the identity
shortcuts weigh 1).  The trajectory therefore describes the evolving topology: the
weighted metrics (``strength``, ``spectral_gap``, ``spectral_radius``) are those of the
unweighted graph.  The table says so in ``table.attrs["edge_weights"] == "unit"``.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from topocore.errors import InputError
from topocore.names import PAPER_METRICS, metric_label

__all__ = ["topology_trajectory", "trajectory_figure", "unit_weight_model", "TRAJECTORY_COLUMNS"]

#: Columns of :func:`topology_trajectory`'s table.
TRAJECTORY_COLUMNS = ("update", "epoch", "step", "metric", "value")


def unit_weight_model(model):
    """A CPU copy of ``model`` without pruning re-parametrisations whose conv/linear weights are all 1."""
    import torch

    from pruners.masks import copy_model, remove_masks
    from topocore.masks import prunable_types

    clone = copy_model(model)
    remove_masks(clone)
    with torch.no_grad():
        for module in clone.modules():
            if isinstance(module, prunable_types()):
                module.weight.fill_(1.0)
    return clone.cpu().eval()


def topology_trajectory(
    ds: Any,
    metrics: str | Iterable[str] | None = None,
    input_shape: Sequence[int] | None = None,
    *,
    exact: bool | str = True,
    motif_sample: int | float = 0.001,
    n2_sample: int | float = 0.01,
    n_threads: int | None = None,
    random_state: int | None = 0,
    memory_limit: int | str | None = None,
    progress: bool | None = None,
):
    """Topometrics of the MGE of every recorded state of a dynamic-sparse-training run.

    Parameters
    ----------
    ds : pruners.dst.DynamicSparsity
        Created with ``record_every=k``; its recorded states are measured.
    metrics : None, str or iterable of str
        Metric names of :data:`topometrics.METRICS` (default: the paper's 16).
    input_shape : tuple of int, optional
        Shape of one input sample; default ``ds.input_shape`` (set by ``pruners.train``).
    exact : bool or "auto"
        ``True`` (default): every metric exact.  ``"auto"``: ``motif4`` and ``n2`` are
        estimated (``motif_sample``, ``n2_sample``) only where the predicted work says the
        exact count cannot finish, as in :func:`topometrics.describe_many`; an estimated
        value is reported by a ``<metric>_stderr`` row of the same state and listed in
        ``table.attrs["estimated"]``.
    n_threads, random_state, memory_limit :
        As in :func:`topometrics.workflows.measure.measure_network` (numba kernel threads,
        the seed of estimates, the memory guard run before each state).
    progress : bool, optional
        tqdm bar over the states (default: on a terminal only).

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per state and quantity, columns ``update, epoch, step, metric,
        value``.  ``metric`` holds ``num_nodes``, ``num_edges``, every requested metric
        under its name (raw value) and under ``<metric>_norm`` (normalised by
        :func:`topometrics.normalize`).  ``attrs["edge_weights"] = "unit"`` (see the
        module docstring); ``attrs["estimated"]``: ``[(update, metric), ...]`` of the
        estimated values (empty when every value is exact).

    Every state is measured through :func:`topometrics.workflows.measure.measure_network`
    (the one measuring path of the application layer).  Complexity: one encoding and one
    metric computation per recorded state.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from topometrics.registry import resolve_metrics

    from .inputs import Network
    from .measure import measure_network

    if not hasattr(ds, "recorded_states"):
        raise InputError(f"topology_trajectory needs a pruners.dst.DynamicSparsity, got {type(ds).__name__}")
    names = resolve_metrics(list(PAPER_METRICS) if metrics is None else metrics)
    shape = input_shape if input_shape is not None else getattr(ds, "input_shape", None)
    if shape is None:
        raise InputError("topology_trajectory needs input_shape=(C, H, W) or (F,) (the shape of one input sample)")
    shape = tuple(int(s) for s in shape)
    states = ds.recorded_states()
    if not states:
        raise InputError("no recorded states: create the DynamicSparsity with record_every=k to keep its masks for the topology")
    model = unit_weight_model(ds.model)
    rows = []
    estimated = []
    disable = None if progress is None else not progress
    for state in tqdm(states, desc="topology", disable=disable, leave=False):
        key = {"update": int(state["update"]), "epoch": float(state["epoch"]), "step": int(state["step"])}
        what = f"the recorded state of update {key['update']}"
        net = Network(model=model, masks=state["masks"], input_shape=shape, source=what)
        row = measure_network(net, metrics=names, normalized=True, n_threads=n_threads, random_state=random_state,
                              exact=exact, motif_sample=motif_sample, n2_sample=n2_sample, memory_limit=memory_limit,
                              what=what)
        rows.append({**key, "metric": "num_nodes", "value": float(row["num_nodes"])})
        rows.append({**key, "metric": "num_edges", "value": float(row["num_edges"])})
        for name in names:
            rows.append({**key, "metric": name, "value": float(row[name])})
        for name in names:
            rows.append({**key, "metric": f"{name}_norm", "value": float(row[f"{name}_norm"])})
        for name in names:
            if row.get(f"{name}_method") == "estimate":
                rows.append({**key, "metric": f"{name}_stderr", "value": float(row[f"{name}_stderr"])})
                estimated.append((key["update"], name))
    table = pd.DataFrame(rows, columns=list(TRAJECTORY_COLUMNS))
    table.attrs["edge_weights"] = "unit"
    table.attrs["estimated"] = estimated
    return table


def trajectory_figure(
    table,
    metrics: Sequence[str] | None = None,
    *,
    normalized: bool = True,
    hue: str | None = None,
    x: str = "epoch",
    title: str | None = None,
):
    """Plot metrics against ``x`` (default the epoch), one panel per metric.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`topology_trajectory`, possibly of several runs stacked with extra
        columns (e.g. ``method``, ``seed``).
    metrics : sequence of str, optional
        Metrics to draw (default: every metric of the table except node/edge counts).
    normalized : bool
        Draw ``<metric>_norm`` values (default) or raw ones.
    hue : str, optional
        Column whose values get one line each (e.g. ``"method"``); rows sharing ``hue``
        and ``x`` (several seeds) are averaged and their min-max range is shaded.
    x : str
        Column on the horizontal axis.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Drawn without pyplot's global state; save with ``fig.savefig(path)``.
    """
    from matplotlib.figure import Figure

    if x not in table.columns or "metric" not in table.columns:
        raise InputError(f"trajectory table needs the columns metric, value and {x!r}")
    if hue is not None and hue not in table.columns:
        raise InputError(f"hue column {hue!r} not in the table (columns: {list(table.columns)})")
    base = sorted({m[: -len("_norm")] if m.endswith("_norm") else m for m in table["metric"] if not m.endswith("_stderr")}
                  - {"num_nodes", "num_edges"})
    chosen = list(metrics) if metrics is not None else base
    missing = [m for m in chosen if (f"{m}_norm" if normalized else m) not in set(table["metric"])]
    if missing or not chosen:
        raise InputError(f"metric(s) {missing or chosen} not in the trajectory table; it holds {base}")
    cols = min(3, len(chosen))
    rows = -(-len(chosen) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), constrained_layout=True)
    axes = fig.subplots(rows, cols, squeeze=False)
    groups = [(None, table)] if hue is None else list(table.groupby(hue, sort=True))
    weights = table.attrs.get("edge_weights")
    for k, metric in enumerate(chosen):
        ax = axes[k // cols][k % cols]
        key = f"{metric}_norm" if normalized else metric
        for label, group in groups:
            sub = group[group["metric"] == key]
            stats = sub.groupby(x)["value"].agg(["mean", "min", "max"]).reset_index()
            line = ax.plot(stats[x], stats["mean"], marker="o", markersize=3, label=None if label is None else str(label))[0]
            if (stats["max"] > stats["min"]).any():
                ax.fill_between(stats[x], stats["min"], stats["max"], color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel(x)
        ax.set_ylabel(f"{metric_label(metric)}{' (normalised)' if normalized else ''}")
        ax.set_title(metric_label(metric))
        ax.grid(alpha=0.3)
        if hue is not None:
            ax.legend(fontsize=8)
    for k in range(len(chosen), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    if title or weights:
        fig.suptitle((title or "topology trajectory") + (f" ({weights} edge weights)" if weights else ""))
    return fig
