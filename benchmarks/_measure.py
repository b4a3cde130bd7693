"""Measuring helpers shared by the benchmark scripts: load average, peak RSS, timed ``topometrics.compute`` runs.

Imported by sibling scripts (``python benchmarks/<script>.py`` puts this folder first on
``sys.path``); not part of the installed package.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, e.g. ``"0.52 0.91 1.10"``."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (``ru_maxrss``, KiB on Linux) in bytes."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed_compute(graph: Any, *, total: str = "total", **options) -> tuple[dict[str, float], dict[str, float]]:
    """One :func:`topometrics.compute` call: ``(seconds per metric plus ``total``, values)``."""
    import topometrics

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    values = topometrics.compute(graph, timings=timings, **options)
    timings[total] = time.perf_counter() - t0
    return timings, {k: float(v) for k, v in values.items()}


def median_runs(run: Callable[[], tuple[dict[str, float], Any]], repeats: int) -> tuple[dict[str, float], Any]:
    """Call ``run() -> (timings, values)`` ``repeats`` times; the median of every timing and the last values."""
    runs, values = [], None
    for _ in range(repeats):
        timings, values = run()
        runs.append(timings)
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}, values
