""":func:`compute`: every topometric of one graph, sharing the CSR structures."""

from __future__ import annotations

import time
import warnings
from typing import Any, Iterable

from topocore.errors import InputError

from . import expansion, neighbor, paths
from ._numba import resolve_n_threads
from .conventions import check_conventions, published_graph, to_published
from .cost import MAX_EXACT_WORK, exact_work
from .prepared import PreparedGraph, prepare
from .registry import METRICS, resolve_metrics

__all__ = ["compute", "EstimatedMetricWarning", "ESTIMABLE"]

#: Metrics with an unbiased sampled estimator (used only when asked or when exact cannot finish).
ESTIMABLE = ("motif4", "n2")


class EstimatedMetricWarning(UserWarning):
    """``exact="auto"`` estimated a metric because its exact count cannot finish in reasonable time."""

# Metrics on G first (out/in CSR), then on U, so G's structures can be freed early.
_STAGE = {name: (0 if m.graph == "G" else 1) for name, m in METRICS.items()}
_G_STRUCTURES = ("out_csr", "in_csr")


def compute(
    graph,
    metrics: str | Iterable[str] | None = None,
    *,
    exact: bool | str = "auto",
    random_state: int | None = 0,
    n_threads: int | None = None,
    spectral_tol: float = expansion.DEFAULT_TOL,
    motif_sample: int | float = 0.001,
    n2_sample: int | float = 0.01,
    max_exact_work: float = MAX_EXACT_WORK,
    dense_num_edges: int | None = None,
    timings: dict[str, float] | None = None,
    methods: dict[str, dict] | None = None,
    progress: bool = False,
    conventions: str = "ours",
) -> dict[str, float]:
    """Compute topometrics of a graph.

    Parameters
    ----------
    graph : MultipartiteGraph, BipartiteGraph or PreparedGraph
        The graph (usually from :func:`encoders.encode`).
    metrics : None, str or iterable of str
        Metric names (see :data:`topometrics.METRICS`); a comma-separated string is
        accepted.  None computes all of them: the paper's 16 topometrics
        (:data:`topometrics.PAPER_METRICS`, the names of
        :data:`topocore.names.PAPER_METRICS` in Table 2 order) followed by the
        extras :data:`topometrics.EXTRA_METRICS` (``log_paths``,
        ``effective_sparsity``, ``effective_nodes``).
    exact : bool or "auto"
        ``"auto"`` (default): every metric exact, except that ``motif4`` and ``n2``
        (:data:`ESTIMABLE`, whose exact cost grows with the squared degrees) are
        estimated when the predicted work of their exact kernel
        (:func:`topometrics.cost.exact_work`) exceeds ``max_exact_work``: the exact
        count cannot finish in reasonable time.  Such a switch emits an
        :class:`EstimatedMetricWarning` and is recorded in ``methods``.  True: every
        metric exact, whatever the cost.  False: ``motif4`` and ``n2`` estimated
        (:func:`topometrics.motif4_estimate` with ``motif_sample``, the official
        code's 0.1% of nodes; :func:`topometrics.neighbor.n2_estimate` with
        ``n2_sample``); the other metrics are unaffected.
    random_state : int or None
        Seed of the spectral start vector and of the motif sample.
    n_threads : int or None
        numba threads for the parallel kernels (None: numba's setting; -1: all cores).
    spectral_tol : float
        ARPACK tolerance of the spectral metrics (see :mod:`topometrics.expansion`).
    motif_sample, n2_sample : int or float
        Node samples (count or fraction) of the ``motif4`` / ``n2`` estimators.
    max_exact_work : float
        The ``"auto"`` rule's limit on predicted steps (default
        :data:`topometrics.cost.MAX_EXACT_WORK`).
    dense_num_edges : int, optional
        Edge count of the dense network's MGE, for ``effective_sparsity`` (else taken
        from ``graph.meta["dense_num_edges"]``; NaN with a warning when unknown).
    timings : dict, optional
        Filled with the wall time in seconds of each metric (the time to build a
        shared structure is charged to the first metric that needs it).
    methods : dict, optional
        Filled, for each requested metric of :data:`ESTIMABLE`, with
        ``{"method": "exact" or "estimate", "stderr": float (0 when exact),
        "sample": nodes sampled or None, "work": predicted exact steps,
        "reason": why it was estimated or None}``; the command line writes
        ``<metric>_method`` and ``<metric>_stderr`` columns from it.
    progress : bool
        Show a tqdm progress bar over the metrics.
    conventions : {"ours", "published"}
        ``"ours"`` (default): the definitions of :data:`topometrics.METRICS`.
        ``"published"``: the scale of the authors' published tables
        (:mod:`topometrics.conventions`, with the measured table of differences):
        edge weights rounded to float16, ``n1`` and ``n2`` count the node itself
        (+ 1), ``strength`` sums in- and out-edges (x 2); an MGE must be encoded with
        ``encoders.encode(..., pad_nodes=True)``.  Weight-based metrics of untrained
        networks are not comparable with the published (trained) rows.

    Returns
    -------
    dict
        ``{name: float}`` raw values in the order requested (registry order when
        ``metrics`` is None).  Apply :func:`topometrics.normalize` for the paper's
        size-normalised values.

    Raises
    ------
    topocore.errors.InputError
        An unknown metric name, an invalid ``n_threads`` or ``dense_num_edges``, an
        unknown ``conventions``, or ``conventions="published"`` with an MGE encoded
        without ``pad_nodes=True``.
    topometrics.SpectralConvergenceError
        (a ``RuntimeError``, not an input error) ARPACK did not converge for a spectral
        metric even after a retry with a larger Krylov subspace; a larger
        ``spectral_tol`` usually helps.
    """
    names = resolve_metrics(metrics)
    resolve_n_threads(n_threads)
    if exact not in (True, False, "auto"):
        raise InputError(f"exact must be True, False or 'auto', got {exact!r}")
    conventions = check_conventions(conventions)
    if conventions == "published":
        graph = published_graph(graph)
    owned = not isinstance(graph, PreparedGraph)
    pg = prepare(graph, n_threads=n_threads)
    if not owned and n_threads is not None:
        pg.n_threads = n_threads
    schedule = sorted(names, key=lambda n: _STAGE[n])
    last_g = max((i for i, n in enumerate(schedule) if _STAGE[n] == 0), default=-1)
    results: dict[str, float] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(schedule), desc="topometrics", unit="metric", leave=False)
    try:
        for i, name in enumerate(schedule):
            if bar is not None:
                bar.set_postfix_str(name)
            t0 = time.perf_counter()
            if name in ESTIMABLE:
                results[name] = _estimable(pg, name, exact, random_state, motif_sample, n2_sample, max_exact_work,
                                           methods)
            else:
                results[name] = _one(pg, name, random_state, spectral_tol, dense_num_edges)
            if timings is not None:
                timings[name] = time.perf_counter() - t0
            if owned and i == last_g:
                pg.release(*_G_STRUCTURES)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if owned:
            pg.release()
    if conventions == "published":
        results = to_published(results)
    return {name: results[name] for name in names}


def _estimable(pg: PreparedGraph, name: str, exact, random_state, motif_sample, n2_sample, limit, methods) -> float:
    """``motif4`` or ``n2``: exact, or estimated when asked or when exact cannot finish (``exact="auto"``)."""
    work = exact_work(pg, name)
    reason = None
    if exact is False:
        reason = "asked (exact=False)"
    elif exact == "auto" and work > limit:
        reason = f"the exact count needs about {work:.3g} steps, above max_exact_work={limit:.3g}"
    info: dict[str, Any] = {"method": "exact", "stderr": 0.0, "sample": None, "work": work, "reason": reason}
    if reason is None:
        value = float(METRICS[name].func(pg))
    else:
        if name == "motif4":
            est = neighbor.motif4_estimate(pg, motif_sample, random_state)
        else:
            est = neighbor.n2_estimate(pg, n2_sample, random_state)
        value = float(est.estimate)
        info.update(method="estimate", stderr=float(est.stderr), sample=int(est.sample))
        if exact == "auto":
            warnings.warn(
                f"{name} estimated from {est.sample} sampled nodes ({value:.6g} +- {est.stderr:.3g}): {reason}; "
                "pass exact=True to count it exactly anyway",
                EstimatedMetricWarning,
                stacklevel=3,
            )
    if methods is not None:
        methods[name] = info
    return value


def _one(pg: PreparedGraph, name: str, random_state, tol: float, dense) -> float:
    if name == "spectral_gap":
        return float(expansion.spectral_gap(pg, tol=tol, random_state=random_state))
    if name == "spectral_radius":
        return float(expansion.spectral_radius(pg, tol=tol, random_state=random_state))
    if name == "effective_sparsity":
        return float(paths.effective_sparsity(pg, dense))
    value: Any = METRICS[name].func(pg)
    return float(value)
