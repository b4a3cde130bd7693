"""The memory guard: refuse a network whose estimated peak memory exceeds a limit, before any work.

:func:`check_memory` compares :func:`topometrics.cost.memory_estimate` (encoding plus the
selected metrics, from the node and edge counts) with a limit and raises a
:class:`~topocore.errors.ResourceLimitError` that gives the estimate, the limit and what
would fit.  The node and edge counts of a model come in closed form from
:func:`encoders.graph_size`, so nothing is encoded before the check.  ``topometrics
metrics`` and ``encode`` apply it to every input (``--memory-limit``, default: the memory
available now); :func:`topometrics.workflows.describe_many` with ``memory_limit=``.
"""

from __future__ import annotations

from typing import Iterable

from topocore.errors import ResourceLimitError

__all__ = ["check_memory", "resolve_limit"]


def resolve_limit(limit: int | str | None) -> tuple[int | None, str]:
    """``(bytes or None, label)`` of a limit: an int, ``"available"`` (the memory available now) or None (no check)."""
    if limit is None:
        return None, ""
    if limit == "available":
        from topometrics.cost import available_memory

        return int(available_memory()), "the memory available now"
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        from topocore.errors import InputError

        raise InputError(f"memory_limit must be a positive number of bytes, 'available' or None, got {limit!r}")
    return int(limit), "--memory-limit"


def check_memory(
    what: str,
    num_nodes: int,
    num_edges: int,
    metrics: Iterable[str] | None,
    limit: int | str | None,
    n_threads: int | None,
    sparsity: float | None = None,
) -> dict | None:
    """Refuse (:class:`~topocore.errors.ResourceLimitError`) a graph whose estimated peak memory exceeds ``limit``.

    ``limit``: bytes, ``"available"`` (the memory available now) or None (no check).
    The message gives the estimate, the limit and what would fit (a sparsity, fewer
    metrics, more memory).  Returns the estimate (None without a limit).
    """
    from topometrics._numba import resolve_n_threads
    from topometrics.cost import G_METRICS, memory_estimate

    limit, source = resolve_limit(limit)
    if limit is None:
        return None
    k = resolve_n_threads(n_threads)
    names = list(metrics) if metrics is not None else []
    est = memory_estimate(num_nodes, num_edges, names, n_threads=k)
    if est["peak"] <= limit:
        return est
    gb = 2**30
    per_edge = est["peak"] / max(num_edges, 1)
    worst = max((m for m in est if m not in ("peak",)), key=lambda m: est[m])
    hints = []
    fit_edges = max(0, int(num_edges * (limit / est["peak"]) * 0.9))
    if sparsity is not None and num_edges:
        density = (1 - sparsity) * fit_edges / num_edges
        hints.append(f"a sparsity of about {1 - density:.3f} keeps the edges near {fit_edges:.3g}")
    else:
        hints.append(f"a sparser network (about {fit_edges:.3g} edges fit)")
    g_only = [m for m in names if m in G_METRICS]
    if g_only and len(g_only) < len(names):
        g_est = memory_estimate(num_nodes, num_edges, g_only, n_threads=k)["peak"]
        if g_est <= limit:
            hints.append(f"fewer metrics: those on G alone (--metrics {','.join(g_only)}) need {g_est / gb:.1f} GB")
    hints.append("a machine with more memory (or a larger --memory-limit if more is free)")
    raise ResourceLimitError(
        f"{what}: {num_nodes:,} nodes and {num_edges:,} edges need about {est['peak'] / gb:.1f} GB at the peak "
        f"({worst}; {per_edge:.0f} bytes per edge), above the limit of {limit / gb:.1f} GB ({source}); "
        f"nothing was computed. To fit: {'; '.join(hints)}"
    )
