""":func:`compute`: every topometric of one graph, sharing the CSR structures."""

from __future__ import annotations

import time
from typing import Any, Iterable

from . import expansion, neighbor, paths
from ._numba import resolve_n_threads
from .conventions import check_conventions, published_graph, to_published
from .prepared import PreparedGraph, prepare
from .registry import METRICS, resolve_metrics

__all__ = ["compute"]

# Metrics on G first (out/in CSR), then on U, so G's structures can be freed early.
_STAGE = {name: (0 if m.graph == "G" else 1) for name, m in METRICS.items()}
_G_STRUCTURES = ("out_csr", "in_csr")


def compute(
    graph,
    metrics: str | Iterable[str] | None = None,
    *,
    exact: bool = True,
    random_state: int | None = 0,
    n_threads: int | None = None,
    spectral_tol: float = expansion.DEFAULT_TOL,
    motif_sample: int | float = 0.001,
    dense_num_edges: int | None = None,
    timings: dict[str, float] | None = None,
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
    exact : bool
        True (default): every metric exact.  False: ``motif4`` is the sampled
        estimate of :func:`topometrics.motif4_estimate` with ``motif_sample`` (the
        official code's 0.1% of nodes); the other metrics are unaffected.
    random_state : int or None
        Seed of the spectral start vector and of the motif sample.
    n_threads : int or None
        numba threads for the parallel kernels (None: numba's setting; -1: all cores).
    spectral_tol : float
        ARPACK tolerance of the spectral metrics (see :mod:`topometrics.expansion`).
    motif_sample : int or float
        Sample for ``motif4`` when ``exact=False``.
    dense_num_edges : int, optional
        Edge count of the dense network's MGE, for ``effective_sparsity`` (else taken
        from ``graph.meta["dense_num_edges"]``; NaN with a warning when unknown).
    timings : dict, optional
        Filled with the wall time in seconds of each metric (the time to build a
        shared structure is charged to the first metric that needs it).
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
            results[name] = _one(pg, name, exact, random_state, spectral_tol, motif_sample, dense_num_edges)
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


def _one(pg: PreparedGraph, name: str, exact: bool, random_state, tol: float, sample, dense) -> float:
    if name == "motif4" and not exact:
        return float(neighbor.motif4_estimate(pg, sample, random_state).estimate)
    if name == "spectral_gap":
        return float(expansion.spectral_gap(pg, tol=tol, random_state=random_state))
    if name == "spectral_radius":
        return float(expansion.spectral_radius(pg, tol=tol, random_state=random_state))
    if name == "effective_sparsity":
        return float(paths.effective_sparsity(pg, dense))
    value: Any = METRICS[name].func(pg)
    return float(value)
