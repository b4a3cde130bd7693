"""Tiny task functions of the batch-layer tests (importable by worker processes: tests/ is put on PYTHONPATH).

Synchronisation is by files polled with a generous deadline, never by sleeping for a guessed time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

DEADLINE = 240.0


def wait_for(path: Path, deadline: float = DEADLINE) -> bool:
    """Poll until ``path`` exists (True) or the deadline passes (False)."""
    end = time.monotonic() + deadline
    while not path.exists():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def value(spec):
    """A row that depends on the spec's seed only (awkward floats, to exercise exact re-reading)."""
    rng = np.random.default_rng(spec["seed"])
    return {"i": spec["i"], "seed": spec["seed"], "x": float(rng.random()) / 3.0, "y": float(rng.normal()) * 1e-7,
            "pid": os.getpid()}


def boom(spec):
    """``value``, except that task 2 raises."""
    if spec["i"] == 2:
        raise ValueError("task 2 always fails")
    return value(spec)


def gated(spec):
    """Marks its start; tasks from ``gate_from`` on wait for ``flags/release``; task ``victim`` waits to be killed once."""
    flags = Path(spec["flags"])
    i = spec["i"]
    (flags / f"started-{i}").touch()
    attempt = flags / f"attempt-{i}"
    if i == spec.get("victim"):
        if not attempt.exists():
            attempt.write_text(str(os.getpid()))
            # killed here by the test; if it never comes, the row says attempt 1 and the test fails
            wait_for(flags / "never", deadline=spec.get("victim_wait", DEADLINE))
            return {**value(spec), "attempt": 1, "run": spec.get("run", 0)}
        return {**value(spec), "attempt": 2, "run": spec.get("run", 0)}
    if i >= spec.get("gate_from", 10**9):
        wait_for(flags / "release")
    return {**value(spec), "attempt": 1, "run": spec.get("run", 0)}


def curve(spec):
    """A group of three rows per spec (a "curve"); spec ``fail`` raises unless ``flags/heal`` exists."""
    if spec["i"] == spec.get("fail") and not (Path(spec["flags"]) / "heal").exists():
        raise ValueError(f"curve {spec['i']} fails until healed")
    rng = np.random.default_rng(spec["seed"])
    return {"rows": [{"step": k, "x": float(rng.random()) / 7.0} for k in range(3)]}


def worker_settings(_spec):
    """The dask settings and the glibc trim variable the worker runs with."""
    import dask

    return {"tick": dask.config.get("distributed.admin.tick.interval"),
            "profile": dask.config.get("distributed.worker.profile.enabled"),
            "trim": os.environ.get("MALLOC_TRIM_THRESHOLD_")}
