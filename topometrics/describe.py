"""One call from a pruned network (or a saved graph) to one row of measurements.

:func:`describe` encodes a model with :func:`encoders.encode`, measures it with
:func:`topometrics.compute` and :func:`topometrics.normalize`, and returns everything
as one :class:`pandas.Series`; :func:`describe_graph` does the same for a graph that
is already encoded (a :class:`~encoders.graph.MultipartiteGraph` or its ``.npz``
file).  Several results stack into a table with ``pandas.DataFrame([s1, s2, ...])``.

Index (always in this order)
----------------------------
1. ``num_nodes``, ``num_edges`` of the MGE;
2. ``dense_num_edges``: edges of the MGE of the same network with every weight kept
   (closed form, :func:`topometrics.dense_num_edges`; for :func:`describe_graph` the
   ``dense_num_edges`` argument or ``graph.meta["dense_num_edges"]``, else NaN);
3. ``sparsity``: the achieved fraction of pruned weights over all encoded weighted
   layers (each weight counted once, even when its layer is called twice);
   ``layer_sparsity_min``, ``layer_sparsity_mean``, ``layer_sparsity_max``: the
   same per layer, summarised (unweighted mean over layers).  Both come from the
   encoded layers' masks as :func:`encoders.encode` resolved them (``LayerInfo.extra``);
   NaN for a graph that does not record them;
4. every selected metric, raw, under its name, in the order selected (default: all
   of :data:`topometrics.METRICS`, the 16 paper metrics in Table 2 order then
   ``log_paths``, ``effective_sparsity``, ``effective_nodes``, as
   :func:`topometrics.compute` gives them);
5. with ``normalized=True``: ``<metric>_norm`` for every selected metric in the same
   order (:func:`topometrics.normalize`; metrics without a divisor repeat the raw
   value; NaN where the divisor is 0);
6. with ``rolled=True`` (:func:`describe` only): the layer-wise baselines of the
   rolled encoding, means over layers ignoring undefined values
   (:func:`topometrics.per_layer` + :func:`topometrics.aggregate_layers`):
   ``layer_density``, ``delta_r``, ``delta_r_imdb``, ``lambda_imsg``, then
   ``rolled_<metric>`` (raw) for every selected metric definable on one layer's
   bipartite graph (:data:`topometrics.BIPARTITE_METRICS`), where selecting
   ``motif4`` selects the rolled motif count ``rolled_motif3`` (a layer graph's motifs
   are counted at size 3, as in the paper's rolled tables); with
   ``rolled="baselines"`` the four baselines only (no metric runs on the layer
   graphs: about 1.3 s less per ResNet-20 at 3x32x32 and sparsity 0.9).

``conventions="published"`` puts every value on the scale of the authors' published
tables (:mod:`topometrics.conventions`, with its measured table of differences): the
MGE is encoded with the first layer's padding positions as nodes
(``encoders.encode(..., pad_nodes=True)``, which the sizes and ``dense_num_edges``
count too), weights are rounded to float16, ``n1`` / ``n2`` count the node itself and
``strength`` sums in- and out-edges.

Every value is a float64 (counts are exact below 2**53); the Series has no name.
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterable, Mapping, Sequence

from topocore.errors import InputError

from .computation import compute
from .conventions import check_conventions
from .paths import dense_num_edges as _dense_num_edges
from .registry import BIPARTITE_METRICS, normalize, resolve_metrics

__all__ = ["describe", "describe_graph", "SIZE_FIELDS", "ROLLED_BASELINES"]

#: The first entries of every result, in order.
SIZE_FIELDS = (
    "num_nodes",
    "num_edges",
    "dense_num_edges",
    "sparsity",
    "layer_sparsity_min",
    "layer_sparsity_mean",
    "layer_sparsity_max",
)
#: Rolled-encoding baselines reported with ``rolled=True`` before the ``rolled_<metric>`` means.
ROLLED_BASELINES = ("layer_density", "delta_r", "delta_r_imdb", "lambda_imsg")


def describe(
    model,
    input_shape: Sequence[int],
    masks: Mapping[str, Any] | None = None,
    *,
    metrics: str | Iterable[str] | None = None,
    normalized: bool = True,
    rolled: bool | str = False,
    n_threads: int | None = None,
    random_state: int | None = 0,
    exact: bool | str = "auto",
    motif_sample: int | float = 0.001,
    n2_sample: int | float = 0.01,
    methods: dict | None = None,
    conventions: str = "ours",
):
    """Size, sparsity and topometrics of a pruned network, as one pandas Series.

    Parameters
    ----------
    model : torch.nn.Module
        The network (not modified).
    input_shape : tuple of int
        Shape of one input sample, ``(C, H, W)`` or ``(F,)``.
    masks : dict, optional
        ``{param_name: bool tensor}``; else the model's prune buffers, else its exact
        zeros (as :func:`encoders.encode`).
    metrics : None, str or iterable of str
        Metric names (:data:`topometrics.METRICS`; a comma-separated string is
        accepted); None: all of them, as :func:`topometrics.compute`.
    normalized : bool
        Add ``<metric>_norm`` entries (:func:`topometrics.normalize`).
    rolled : bool or "baselines"
        Add the rolled-encoding baselines and ``rolled_<metric>`` means (True), the
        baselines only (``"baselines"``) or nothing (False); module docstring, item 6.
    n_threads : int or None
        numba threads for the encoder and the metric kernels (None: numba's setting;
        -1: all cores).  Results do not depend on it.
    random_state : int or None
        Seed of the spectral start vectors (as :func:`topometrics.compute`).
    exact, motif_sample, n2_sample, methods
        As in :func:`topometrics.compute`: ``exact="auto"`` (default) counts every metric
        exactly unless the exact ``motif4`` / ``n2`` cannot finish in reasonable time;
        ``False`` estimates them from node samples; ``methods`` (a dict) is filled with
        how each was obtained.
    conventions : {"ours", "published"}
        ``"published"``: values on the scale of the authors' published tables (module
        docstring and :mod:`topometrics.conventions`).

    Returns
    -------
    pandas.Series
        float64 values indexed as described in the module docstring; ``name`` None.

    Raises
    ------
    topocore.errors.InputError
        Unknown metrics, a non-boolean flag, an invalid ``n_threads`` or
        ``conventions``; the encoder's
        errors (:class:`encoders.EncodingError`, :class:`encoders.MaskError`, ...)
        are ``InputError`` too.
    topometrics.SpectralConvergenceError
        ARPACK did not converge (a ``RuntimeError``; see :func:`topometrics.compute`).

    Notes
    -----
    Cost: one encoding (16 bytes per edge), one closed-form dense edge count, the
    metrics (see :data:`topometrics.METRICS` for each complexity) and, with
    ``rolled``, the per-layer rolled metrics.

    Examples
    --------
    >>> row = topometrics.describe(model, (3, 32, 32), masks)          # doctest: +SKIP
    >>> table = pandas.DataFrame([topometrics.describe(m, (3, 32, 32)) for m in models])  # doctest: +SKIP
    """
    import encoders

    names = resolve_metrics(metrics)
    _check_flag("normalized", normalized)
    _check_exact(exact)
    if rolled != "baselines" and not isinstance(rolled, bool):
        raise InputError(f"rolled must be True or False, or 'baselines' for the four baselines only, got {rolled!r}")
    conventions = check_conventions(conventions)
    pad_nodes = conventions == "published"
    graph = encoders.encode(model, input_shape, masks, n_threads=n_threads, pad_nodes=pad_nodes)
    dense = _dense_num_edges(model, input_shape, pad_nodes=pad_nodes)
    row = _measure(
        graph, names, normalized, dense, n_threads, random_state, exact, motif_sample, n2_sample, methods, conventions
    )
    if rolled:
        bipartite = [] if rolled == "baselines" else _rolled_names(names)
        row.update(_rolled_baselines(model, masks, bipartite, n_threads, random_state, conventions))
    return _series(row)


def describe_graph(
    graph,
    *,
    metrics: str | Iterable[str] | None = None,
    normalized: bool = True,
    dense_num_edges: int | None = None,
    n_threads: int | None = None,
    random_state: int | None = 0,
    exact: bool | str = "auto",
    motif_sample: int | float = 0.001,
    n2_sample: int | float = 0.01,
    methods: dict | None = None,
    conventions: str = "ours",
):
    """Size, sparsity and topometrics of an encoded network, as one pandas Series.

    Parameters
    ----------
    graph : MultipartiteGraph or path
        A graph from :func:`encoders.encode`, or the ``.npz`` file written by
        :meth:`MultipartiteGraph.save`.
    metrics, normalized, n_threads, random_state, exact, motif_sample, n2_sample, methods, conventions
        As in :func:`describe`; ``conventions="published"`` needs a graph encoded with
        ``pad_nodes=True``.
    dense_num_edges : int, optional
        Edge count of the dense network's MGE (for ``dense_num_edges`` and
        ``effective_sparsity``); default ``graph.meta["dense_num_edges"]``.  Without
        either, both are NaN and :func:`topometrics.compute` warns
        (:class:`topometrics.MissingDenseCountWarning`) when ``effective_sparsity`` is
        selected.

    Returns
    -------
    pandas.Series
        The index of :func:`describe` without the rolled baselines.

    Raises
    ------
    topocore.errors.InputError
        As :func:`describe`; a file that is not a saved graph.
    topocore.errors.DataNotFoundError
        No file at the given path.
    """
    from encoders.graph import MultipartiteGraph

    if isinstance(graph, (str, os.PathLike)):
        graph = MultipartiteGraph.load(graph)
    if not isinstance(graph, MultipartiteGraph):
        raise TypeError(
            f"graph must be a MultipartiteGraph (encoders.encode) or the path of a saved one, got {type(graph).__name__}"
        )
    names = resolve_metrics(metrics)
    _check_flag("normalized", normalized)
    _check_exact(exact)
    conventions = check_conventions(conventions)
    dense = dense_num_edges if dense_num_edges is not None else graph.meta.get("dense_num_edges")
    return _series(
        _measure(
            graph, names, normalized, dense, n_threads, random_state, exact, motif_sample, n2_sample, methods,
            conventions,
        )
    )


# --------------------------------------------------------------------------- helpers


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {value!r}")


def _check_exact(value: Any) -> None:
    if not (isinstance(value, bool) or value == "auto"):
        raise InputError(f"exact must be True, False or 'auto', got {value!r}")


def _series(row: dict):
    import pandas as pd

    return pd.Series(row, dtype="float64", name=None)


def _measure(
    graph, names: list[str], normalized: bool, dense, n_threads, random_state, exact="auto", motif_sample=0.001,
    n2_sample=0.01, methods=None, conventions="ours",
) -> dict[str, float]:
    """Size fields, sparsity summary, raw and normalised metrics of one graph."""
    raw = compute(
        graph, names, random_state=random_state, n_threads=n_threads, dense_num_edges=dense, exact=exact,
        motif_sample=motif_sample, n2_sample=n2_sample, methods=methods, conventions=conventions,
    )
    row: dict[str, float] = {
        "num_nodes": float(graph.num_nodes),
        "num_edges": float(graph.num_edges),
        "dense_num_edges": math.nan if dense is None else float(dense),
    }
    row.update(_sparsity(graph))
    row.update(raw)
    if normalized:
        norm = normalize(raw, graph.num_nodes, graph.num_edges, conventions=conventions)
        row.update({f"{name}_norm": float(norm[name]) for name in names})
    return row


def _layer_weights(graph) -> list[tuple[int, float]] | None:
    """``(number of weights, kept fraction)`` of every distinct weight of the encoded layers.

    Read from the layer descriptions the encoder writes (``extra["density"]`` and the
    layer geometry); None when a weighted layer lacks them.
    """
    out: dict[str, tuple[int, float]] = {}
    for layer in graph.layers:
        if layer.kind not in ("conv", "linear") or layer.param in out:
            continue
        extra = layer.extra
        try:
            density = float(extra["density"])
            if layer.kind == "conv":
                kh, kw = extra["kernel_size"]
                numel = int(extra["out_shape"][0]) * (int(extra["in_shape"][0]) // int(extra["groups"])) * kh * kw
            else:
                numel = int(extra["in_shape"][0]) * int(extra["out_shape"][0])
        except (KeyError, TypeError, ValueError):
            return None
        out[layer.param] = (numel, density)
    return list(out.values()) or None


def _sparsity(graph) -> dict[str, float]:
    weights = _layer_weights(graph)
    if weights is None:
        return {name: math.nan for name in SIZE_FIELDS[3:]}
    total = sum(n for n, _ in weights)
    kept = sum(round(n * d) for n, d in weights)
    per_layer = [1.0 - d for _, d in weights]
    return {
        "sparsity": 1.0 - kept / total if total else math.nan,
        "layer_sparsity_min": min(per_layer),
        "layer_sparsity_mean": sum(per_layer) / len(per_layer),
        "layer_sparsity_max": max(per_layer),
    }


def _rolled_names(names: list[str]) -> list[str]:
    """The selected metrics definable on a layer graph; ``motif4`` selects the rolled ``motif3``."""
    rolled = ("motif3" if name == "motif4" else name for name in names)
    return list(dict.fromkeys(name for name in rolled if name in BIPARTITE_METRICS))


def _rolled_baselines(model, masks, bipartite: list[str], n_threads, random_state, conventions="ours") -> dict[str, float]:
    """Means over layers of the rolled encoding's baselines and of the ``bipartite`` metrics."""
    from topocore.tables import aggregate_layers

    from .layers import per_layer

    table = per_layer(
        model, masks, metrics=bipartite or None, encodings=("rolled",), random_state=random_state, n_threads=n_threads,
        conventions=conventions,
    )
    columns = [*ROLLED_BASELINES, *(f"rolled_{name}" for name in bipartite)]
    means = aggregate_layers(table, columns).iloc[0]
    return {column: float(means[column]) for column in columns}
