"""Many networks -> one table: the toolkit's one path from an input to a row of measurements.

:func:`describe_many` reads every item (:func:`~topometrics.workflows.inputs.load_network`:
checkpoint paths, saved graphs, ``(model, masks)`` pairs, ...) and measures it with
:func:`topometrics.describe` (models) or :func:`topometrics.describe_graph` (saved
graphs).  ``topometrics metrics``, the ``grid --metrics`` hook and the ``rank`` job use
it (through :func:`iter_describe` / :func:`measure_item`); nothing else in the
toolkit encodes and measures a network.

Columns of a row, in this order
-------------------------------
1. ``checkpoint``: the path as given (only when some item is a path);
2. the item's metadata (checkpoint ``meta``, graph ``meta`` or the ``meta`` of a
   ``(model, masks, meta)`` item): ``arch, dataset, method, sparsity, seed, accuracy,
   dense_accuracy, num_classes, input_shape, model_kwargs`` when present, then the other
   keys alphabetically; lists are written ``"3,32,32"`` and dicts as JSON, so the
   table saves to CSV as it is.  ``sparsity`` is the *requested* sparsity of the
   metadata;
3. the measurements of :func:`topometrics.describe` (see :mod:`topometrics.describe`):
   ``num_nodes, num_edges, dense_num_edges``, ``achieved_sparsity`` (describe's
   ``sparsity``: the pruned fraction of the encoded weights, which replaces a
   checkpoint's own ``achieved_sparsity``), ``layer_sparsity_min/mean/max``,
   ``connected_input_output`` (False for a network cut in two: no input-to-output
   path, ``log_paths`` = -inf; a :class:`topometrics.paths.DisconnectedNetworkWarning`
   says so too), every
   metric raw, ``<metric>_norm`` with ``normalized``, the rolled baselines with
   ``rolled``, and for ``motif4`` / ``n2`` ``<metric>_method`` (``exact`` or
   ``estimate``: ``exact="auto"`` estimates them only when the exact count cannot
   finish in reasonable time) and ``<metric>_stderr`` (0 when exact);
4. ``metrics_seconds`` with ``timings=True`` (load, encode and measure).

Costs are those of :func:`topometrics.describe` per item; ``n_jobs`` worker processes
(joblib's loky) measure items in parallel, each with ``n_threads`` numba threads and
one torch thread.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

from topocore.errors import InputError, TopometricsError

from .inputs import Network, load_network

__all__ = ["describe_many", "iter_describe", "measure_item", "measure_network", "measure_task", "check_finite", "Measured", "META_ORDER", "order_columns"]

#: Metadata columns written first, in this order, when present.
META_ORDER = (
    "arch", "dataset", "method", "sparsity", "seed", "accuracy", "dense_accuracy", "num_classes", "input_shape",
    "model_kwargs",
)
#: describe's field renamed in tables (the metadata's ``sparsity`` is the requested one).
RENAMED = {"sparsity": "achieved_sparsity"}


@dataclass
class Measured:
    """One item of :func:`iter_describe`: its position, the item, and its row or its error."""

    index: int
    item: Any
    row: dict | None = None
    error: TopometricsError | None = None


def _plain(value: Any) -> Any:
    """A CSV-friendly value (lists/tuples as comma-joined strings, dicts as JSON)."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def measure_network(
    net: Network,
    *,
    metrics: str | Iterable[str] | None = None,
    normalized: bool = True,
    rolled: bool | str = False,
    n_threads: int | None = None,
    random_state: int | None = 0,
    exact: bool | str = "auto",
    motif_sample: int | float = 0.001,
    n2_sample: int | float = 0.01,
    memory_limit: int | str | None = None,
    what: str | None = None,
    conventions: str = "ours",
) -> dict[str, Any]:
    """The measurement columns (item 3 of the module docstring) of one loaded network.

    :func:`topometrics.describe` for a model, :func:`topometrics.describe_graph` for a
    saved graph; describe's ``sparsity`` is returned as ``achieved_sparsity``, the node
    and edge counts as integers, and for ``motif4`` / ``n2`` how they were obtained:
    ``<metric>_method`` (``exact`` or ``estimate``) and ``<metric>_stderr`` (0 when exact).
    A model whose every prunable weight is pruned is refused
    (:func:`topocore.masks.check_not_fully_pruned`, a :class:`~topocore.errors.MaskError`);
    a network cut in two gets ``connected_input_output`` False and a
    :class:`~topometrics.paths.DisconnectedNetworkWarning`.
    With ``memory_limit`` (bytes, or ``"available"``) the memory guard
    (:func:`topometrics.workflows.guard.check_memory`) runs first, on closed-form counts.
    ``conventions="published"`` measures on the scale of the authors' published tables
    (:mod:`topometrics.conventions`); a saved graph must then have been encoded with
    the padding nodes (``pad_nodes=True``).
    """
    import topometrics

    from ..registry import resolve_metrics
    from .guard import check_memory

    names = resolve_metrics(metrics)
    what = what or net.source or "the network"
    if net.graph is None and net.model is not None:
        from topocore.masks import check_not_fully_pruned

        check_not_fully_pruned(net.model, net.masks, what=what)
    if rolled and net.graph is not None:
        raise InputError(
            f"{net.source or 'a saved graph'}: the rolled baselines need the model, a saved graph holds only its "
            "MGE; measure the checkpoint instead, or use rolled=False"
        )
    if net.graph is None and net.input_shape is None:
        raise InputError(
            "the input shape of a model item is unknown: pass input_shape= (or give (model, masks, meta) with "
            "meta['input_shape'])"
        )
    if memory_limit is not None:
        if net.graph is not None:
            nodes, edges = net.graph.num_nodes, net.graph.num_edges
        else:
            from encoders import graph_size

            nodes, edges = graph_size(net.model, net.input_shape, net.masks, pad_nodes=conventions == "published")
        sparsity = net.meta.get("sparsity")
        check_memory(what, nodes, edges, names, memory_limit, n_threads,
                     float(sparsity) if isinstance(sparsity, (int, float)) and not isinstance(sparsity, bool) else None)
    check_finite(net, what)
    methods: dict = {}
    probe = "log_paths" not in names  # the input-output connectivity comes from log_paths (O(N + E))
    options = dict(metrics=names + ["log_paths"] if probe else names, normalized=normalized, n_threads=n_threads,
                   random_state=random_state, exact=exact, motif_sample=motif_sample, n2_sample=n2_sample,
                   methods=methods, conventions=conventions)
    if net.graph is not None:
        values = topometrics.describe_graph(net.graph, **options)
    else:
        values = topometrics.describe(net.model, net.input_shape, net.masks, rolled=rolled, **options)
    row = {RENAMED.get(k, k): float(v) for k, v in values.items()}
    row["num_nodes"], row["num_edges"] = int(row["num_nodes"]), int(row["num_edges"])
    row["connected_input_output"] = bool(row["log_paths"] > float("-inf"))
    if probe:
        row.pop("log_paths")
        row.pop("log_paths_norm", None)
    if not row["connected_input_output"]:
        import warnings

        from ..paths import DisconnectedNetworkWarning

        warnings.warn(DisconnectedNetworkWarning(
            f"{what} is cut in two: no path leads from its input to its output "
            "(connected_input_output is False, log_paths -inf), so its output does not depend on its input; "
            "its topometrics describe a broken network"
        ), stacklevel=2)
    for name in names:
        if name in methods:
            row[f"{name}_method"] = methods[name]["method"]
            row[f"{name}_stderr"] = float(methods[name]["stderr"])
    return row


def check_finite(net: Network, what: str) -> None:
    """Refuse a network whose weights hold NaN or infinite values, before any kernel runs.

    Such weights make the graph's edge weights meaningless and the spectral solvers fail
    with an unrelated error; a :class:`~topocore.errors.InputError` names the tensor and
    the number of bad values.  Cost: one pass over the weights (O(parameters) or O(E)).
    """
    import numpy as np

    if net.graph is not None:
        bad = int(np.count_nonzero(~np.isfinite(net.graph.weight)))
        if bad:
            raise InputError(
                f"{what}: the graph holds {bad} NaN/inf edge weights; re-encode it from a checkpoint with finite weights"
            )
        return
    import torch

    for name, tensor in list(net.model.named_parameters()) + list(net.model.named_buffers()):
        if not torch.is_floating_point(tensor):
            continue
        bad = int((~torch.isfinite(tensor.detach())).sum())
        if bad:
            name = name.removesuffix("_orig")  # a torch.nn.utils.prune re-parametrisation: the weight's own name
            raise InputError(
                f"{what}: {name} holds {bad} NaN/inf values (of {tensor.numel()}); the network cannot be measured: "
                "use a checkpoint saved before training diverged, or fix the weights"
            )


def measure_item(
    item: Any,
    *,
    metrics: str | Iterable[str] | None = None,
    normalized: bool = True,
    rolled: bool | str = False,
    input_shape: Sequence[int] | None = None,
    n_threads: int | None = None,
    random_state: int | None = 0,
    exact: bool | str = "auto",
    motif_sample: int | float = 0.001,
    n2_sample: int | float = 0.01,
    memory_limit: int | str | None = None,
    timings: bool = False,
    arch: str | None = None,
    num_classes: int | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    trusted: bool | str | Iterable[str] = (),
    conventions: str = "ours",
    missing_masks: str = "error",
) -> dict[str, Any]:
    """The row of one item (module docstring); the arguments are those of :func:`describe_many`."""
    t0 = time.perf_counter()
    net = load_network(
        item, input_shape=input_shape, arch=arch, num_classes=num_classes, model_kwargs=model_kwargs, trusted=trusted,
        missing_masks=missing_masks,
    )
    values = measure_network(
        net, metrics=metrics, normalized=normalized, rolled=rolled, n_threads=n_threads, random_state=random_state,
        exact=exact, motif_sample=motif_sample, n2_sample=n2_sample, memory_limit=memory_limit,
        conventions=conventions, what=net.source or (str(item) if isinstance(item, (str, os.PathLike)) else None),
    )
    row: dict[str, Any] = {}
    if net.source is not None:
        row["checkpoint"] = net.source
    row.update({k: _plain(v) for k, v in net.meta.items()})
    if net.input_shape is not None:
        row["input_shape"] = _plain(list(net.input_shape))
    row.update(values)
    if timings:
        row["metrics_seconds"] = round(time.perf_counter() - t0, 3)
    return row


def measure_task(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Batch task (:func:`topometrics.workflows.batch.run_batch`): ``spec["item"]`` measured with ``spec["options"]``
    (``spec["extra"]``: constant columns added to the row, e.g. ``conventions``)."""
    return {**measure_item(spec["item"], **spec["options"]), **spec.get("extra", {})}


def iter_describe(
    items: Iterable[Any],
    *,
    n_jobs: int | None = 1,
    progress: bool = True,
    desc: str = "describe",
    **options: Any,
) -> Iterator[Measured]:
    """Measure ``items`` one by one; yields a :class:`Measured` per item, in order.

    ``options`` are those of :func:`measure_item`.  A user-fixable error of one item
    (a :class:`~topocore.errors.TopometricsError`: missing file, bad checkpoint,
    unsupported layer, NaN weights, ...) is yielded as ``Measured.error`` and the others
    go on; any other exception is a bug and propagates.  With ``n_jobs > 1`` the items
    are measured by the batch layer's local worker processes
    (:class:`~topometrics.workflows.batch.LocalExecutor`: items are pickled to them),
    each with ``n_threads`` (default 1) numba threads.
    """
    from tqdm.auto import tqdm

    from .batch import LocalExecutor

    items = list(items)
    executor = LocalExecutor(n_jobs, n_threads=options.get("n_threads"))
    specs = [(i, {"item": item, "options": options}) for i, item in enumerate(items)]
    bar = tqdm(total=len(items), desc=desc, unit="net", disable=not progress or not items)
    waiting: dict[int, Measured] = {}
    nxt = 0
    try:
        for index, outcome in executor.map(measure_task, specs):
            if "row" in outcome:
                result = Measured(index, items[index], row=outcome["row"])
            elif outcome.get("user_error") and outcome.get("exception") is not None:
                result = Measured(index, items[index], error=outcome["exception"])
            elif outcome.get("exception") is not None:  # a bug: keep its traceback
                raise outcome["exception"]
            else:
                raise RuntimeError(f"measuring item {index} failed: {outcome['error']}\n{outcome.get('traceback', '')}")
            label = result.row.get("checkpoint") if result.row else None
            if label:
                bar.set_postfix_str(str(label)[-40:])
            bar.update(1)
            waiting[index] = result
            while nxt in waiting:
                yield waiting.pop(nxt)
                nxt += 1
    finally:
        bar.close()


def describe_many(
    items: Iterable[Any],
    *,
    metrics: str | Iterable[str] | None = None,
    normalized: bool = True,
    rolled: bool | str = False,
    input_shape: Sequence[int] | None = None,
    n_jobs: int | None = 1,
    n_threads: int | None = None,
    random_state: int | None = 0,
    progress: bool = True,
    errors: str = "raise",
    exact: bool | str = "auto",
    motif_sample: int | float = 0.001,
    n2_sample: int | float = 0.01,
    memory_limit: int | str | None = None,
    timings: bool = False,
    arch: str | None = None,
    num_classes: int | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    trusted: bool | str | Iterable[str] = (),
    conventions: str = "ours",
    missing_masks: str = "error",
):
    """Size, sparsity and topometrics of many networks, one row each, as a pandas DataFrame.

    Parameters
    ----------
    items : iterable
        Checkpoint paths, saved-graph (``.npz``) paths, plain state-dict paths (with
        ``arch``), :class:`~encoders.graph.MultipartiteGraph` objects, pruners
        ``Checkpoint`` objects, ``torch.nn.Module`` objects, ``(model, masks)`` pairs or
        ``(model, masks, meta)`` triples, in any mix.
    metrics, normalized, rolled, n_threads, random_state, exact, motif_sample, n2_sample, conventions
        As in :func:`topometrics.describe` (``rolled`` needs a model: an error for
        saved graphs).  How ``motif4`` and ``n2`` were obtained (``exact="auto"`` may
        estimate them on huge graphs) is in ``<metric>_method`` / ``<metric>_stderr``.
    memory_limit : int, "available" or None
        The memory guard: refuse an item whose estimated peak memory exceeds this many
        bytes (``"available"``: the memory available now) with a
        :class:`~topocore.errors.ResourceLimitError`, before encoding it; None: no check.
    input_shape : tuple of int, optional
        Input shape of items that record none (models; plain state dicts default to
        ``(3, 32, 32)``); given, it overrides the recorded ones.
    n_jobs : int or None
        Worker processes over items (1: in this process; -1: all cores).
    progress : bool
        Show a tqdm progress bar.
    errors : {"raise", "skip"}
        What a user-fixable error of one item does: raise it (default), or leave the
        item out (its row is missing from the table; use :func:`iter_describe` to see
        why).
    timings : bool
        Add ``metrics_seconds``.
    arch, num_classes, model_kwargs
        The model of plain state-dict files (a zoo name or ``"package.module:factory"``).
    trusted : bool, str or iterable of str
        Model specs checkpoints may name (see :func:`pruners.load_checkpoint`); the spec
        given as ``arch`` is trusted too.
    missing_masks : {"error", "dense"}
        A checkpoint or state dict that carries masks but none for some prunable layer:
        an error naming the layer (default), or those layers taken as dense.

    Returns
    -------
    pandas.DataFrame
        One row per item (index: the item's position), columns as in the module docstring.

    Raises
    ------
    topocore.errors.TopometricsError
        With ``errors="raise"``, the first item's user-fixable error (its message names
        the item); invalid arguments.

    Examples
    --------
    >>> row = describe_many([(model, masks)], input_shape=(3, 32, 32), progress=False)   # doctest: +SKIP
    >>> table = describe_many(glob.glob("runs/*.pt"), n_jobs=2)                           # doctest: +SKIP
    """
    import pandas as pd

    if errors not in ("raise", "skip"):
        raise InputError(f"errors must be 'raise' or 'skip', got {errors!r}")
    options = dict(
        metrics=metrics, normalized=normalized, rolled=rolled, input_shape=input_shape, n_threads=n_threads,
        random_state=random_state, exact=exact, motif_sample=motif_sample, n2_sample=n2_sample,
        memory_limit=memory_limit, timings=timings, arch=arch, num_classes=num_classes, model_kwargs=model_kwargs,
        trusted=trusted, conventions=conventions, missing_masks=missing_masks,
    )
    _check_options(options)
    rows, index = [], []
    for result in iter_describe(items, n_jobs=n_jobs, progress=progress, **options):
        if result.error is not None:
            if errors == "raise":
                raise result.error
            continue
        rows.append(result.row)
        index.append(result.index)
    table = pd.DataFrame(rows, index=index)
    return table[order_columns(rows)] if rows else table


def _check_options(options: dict) -> None:
    """Fail before any work on arguments every item would refuse."""
    from ..registry import resolve_metrics

    from .guard import resolve_limit

    from ..conventions import check_conventions

    resolve_metrics(options["metrics"])
    check_conventions(options["conventions"])
    for name in ("normalized", "timings"):
        if not isinstance(options[name], bool):
            raise InputError(f"{name} must be True or False, got {options[name]!r}")
    if not (isinstance(options["exact"], bool) or options["exact"] == "auto"):
        raise InputError(f"exact must be True, False or 'auto', got {options['exact']!r}")
    resolve_limit(options["memory_limit"])
    if not (isinstance(options["rolled"], bool) or options["rolled"] == "baselines"):
        raise InputError(f"rolled must be True or False, or 'baselines', got {options['rolled']!r}")


def order_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Column order of a table of rows (module docstring): path, metadata, measurements, timing."""
    seen = list(dict.fromkeys(k for r in rows for k in r))
    first = [c for c in ("checkpoint",) if c in seen]
    measured = [c for c in _measurement_order(rows) if c in seen]
    meta = [k for k in META_ORDER if k in seen and k not in measured]
    last = [c for c in ("error", "metrics_seconds") if c in seen]
    others = sorted(set(seen) - set(first) - set(meta) - set(measured) - set(last))
    return [*first, *meta, *others, *measured, *last]


def _measurement_order(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Measurement columns in describe's order, merged over rows (a metric new in a later row goes last)."""
    from ..computation import ESTIMABLE
    from ..describe import ROLLED_BASELINES, SIZE_FIELDS
    from ..registry import METRICS

    sizes = [RENAMED.get(f, f) for f in SIZE_FIELDS]
    sizes.append("connected_input_output")
    known = set(sizes) | set(ROLLED_BASELINES) | set(METRICS)
    known |= {f"{m}_norm" for m in METRICS} | {f"rolled_{m}" for m in METRICS}
    known |= {f"{m}_{k}" for m in ESTIMABLE for k in ("method", "stderr")}
    order = list(sizes)
    for r in rows:
        for k in r:
            if k in known and k not in order:
                order.append(k)
    return order
