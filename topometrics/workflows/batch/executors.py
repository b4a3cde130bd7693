"""Where the tasks of a batch run: this process, local worker processes, or a Dask cluster.

Every executor runs :func:`call_task` (the task function, its spec, thread limits, the
error captured as data) and yields ``(index, outcome)`` pairs as tasks finish:

* :class:`LocalExecutor` -- ``n_jobs=1``: one task after the other in this process (a
  Ctrl-C stops at once); ``n_jobs > 1``: joblib's loky worker processes (fresh
  interpreters, no fork of a process holding thread pools), as ``rank`` always did.
* :class:`DaskExecutor` -- a :class:`dask.distributed.Client`: ``scheduler="local"`` starts
  a :class:`~dask.distributed.LocalCluster` (processes, one thread each), an address such
  as ``tcp://host:8786`` connects to a running scheduler, and :func:`slurm_cluster` starts
  workers as SLURM jobs through :mod:`dask_jobqueue`.  A worker that dies mid-task loses
  only that task: the scheduler runs it again on another worker (up to
  ``distributed.scheduler.allowed-failures`` times, then the task's row records
  ``KilledWorker``).  Training tasks can ask for ``resources={"GPU": 1}``; the workers
  must then be started with ``--resources GPU=1``.

The ``cluster`` extra (``pip install topometrics[cluster]``) installs ``dask[distributed]``
and ``dask-jobqueue``.
"""

from __future__ import annotations

import ast
import contextlib
import os
import pickle
import shlex
import time
import traceback
import uuid
from typing import Any, Callable, Iterator, Mapping, Sequence

from topocore.errors import InputError, TopometricsError

__all__ = ["call_task", "LocalExecutor", "DaskExecutor", "make_executor", "slurm_cluster", "parse_cluster_options",
           "CONNECT_TIMEOUT", "WORKER_CONFIG"]

#: Seconds to wait for a Dask scheduler before giving up with a one-line error.
CONNECT_TIMEOUT = 10.0

#: Dask settings of the workers this module starts (LocalCluster; SLURM jobs get the first two as environment
#: variables).  A task holds its worker's GIL most of the time, and each wake-up of the worker's event loop
#: (its 20 ms tick, the 10 ms statistical profiler, the 500 ms system monitor, all feeding dashboards) takes
#: the GIL from it between two kernels; and dask's default ``MALLOC_TRIM_THRESHOLD_=65536`` turns off glibc's
#: adaptive mmap threshold, so every large temporary array is mapped and page-faulted afresh (the tasks' own
#: ``release_memory`` hands memory back between tasks instead).  Measured on 2 cores, one ResNet-20 graph at
#: 0.9 in a LocalCluster worker: 3.55-4.62 s with dask's defaults, 2.70-3.28 s with these, 2.68-3.10 s in a
#: plain process.  The variable is also kept out of the workers' inherited environment (``_unset_env``).
WORKER_CONFIG = {
    "distributed.admin.tick.interval": "1000ms",
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "2000ms",
    "distributed.worker.memory.monitor-interval": "1000ms",
    "distributed.scheduler.work-stealing-interval": "1000ms",
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


def call_task(index: int, fn: Callable[[Mapping[str, Any]], Mapping[str, Any]], spec: Mapping[str, Any],
              worker_threads: int | None = None) -> tuple[int, dict[str, Any]]:
    """Run one task; returns ``(index, outcome)`` and never raises an ``Exception``.

    ``outcome`` is ``{"row": dict, "seconds": float}`` or ``{"error": "Type: message",
    "user_error": bool, "traceback": str, "exception": exc or None, "seconds": float}``
    (``user_error``: a :class:`~topocore.errors.TopometricsError`, one line for the
    user; otherwise a bug whose traceback is kept).  ``KeyboardInterrupt`` and other
    ``BaseException`` propagate.  In a worker process (``worker_threads`` given) torch and
    numba are limited to that many threads and freed memory is handed back afterwards.
    """
    if worker_threads is not None:
        from topocore.parallel import limit_worker_threads

        limit_worker_threads(worker_threads)
    t0 = time.perf_counter()
    try:
        row = dict(fn(spec))
        return index, {"row": row, "seconds": time.perf_counter() - t0}
    except Exception as exc:  # recorded as the task's row by the driver; the batch goes on
        user = isinstance(exc, TopometricsError)
        message = " ".join(str(exc).split()) if user else f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        try:
            pickle.dumps(exc)
            keep: BaseException | None = exc
        except Exception:  # an exception that does not pickle travels as its message only
            keep = None
        return index, {"error": message[:2000], "user_error": user, "traceback": traceback.format_exc(),
                       "exception": keep, "seconds": time.perf_counter() - t0}
    finally:
        if worker_threads is not None:
            from .._worker import release_memory

            release_memory()


class LocalExecutor:
    """This process (``n_jobs=1``) or ``n_jobs`` loky worker processes.

    Parameters
    ----------
    n_jobs : int or None
        Worker processes (1: inline; -1 or None: all cores).
    n_threads : int or None
        Numba threads per worker process (default 1 with workers; inline: unchanged).
    """

    name = "local"

    def __init__(self, n_jobs: int | None = 1, *, n_threads: int | None = None):
        from topocore.parallel import resolve_n_jobs

        self.n_jobs = resolve_n_jobs(n_jobs, default=1)
        self.n_threads = n_threads

    @property
    def workers(self) -> int:
        return self.n_jobs

    def describe(self) -> str:
        return "this process" if self.n_jobs == 1 else f"{self.n_jobs} local worker processes"

    def map(self, fn: Callable, specs: Sequence[tuple[int, Mapping[str, Any]]], *,
            resources: Mapping[str, float] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        n = min(self.n_jobs, max(1, len(specs)))
        if n == 1:
            for index, spec in specs:
                yield call_task(index, fn, spec, None)
            return
        from joblib import Parallel, delayed

        from topocore.parallel import resolve_n_threads

        threads = 1 if self.n_threads is None else resolve_n_threads(self.n_threads)
        # loky workers are fresh interpreters that, unlike multiprocessing's spawn, do not re-run the
        # caller's script: a plain script without an ``if __name__ == "__main__":`` guard works.
        parallel = Parallel(n_jobs=n, backend="loky", return_as="generator_unordered")
        yield from parallel(delayed(call_task)(index, fn, spec, threads) for index, spec in specs)

    def close(self) -> None:
        """Nothing to release (loky keeps its worker pool for reuse)."""


class DaskExecutor:
    """Tasks on a :class:`dask.distributed.Client`.

    Parameters
    ----------
    client : dask.distributed.Client
        A connected client (see :func:`make_executor`).
    n_threads : int or None
        Numba threads per task (default 1).
    owned : list
        Objects (client, cluster) closed by :meth:`close`.
    """

    name = "dask"

    #: Submissions of a task the cluster lost or cancelled before giving up (a task whose worker
    #: died is re-run by the scheduler itself, up to ``distributed.scheduler.allowed-failures``).
    max_attempts = 3

    def __init__(self, client, *, n_threads: int | None = None, owned: Sequence[Any] = ()):
        self.client = client
        self.n_threads = n_threads
        self._owned = list(owned)

    @property
    def workers(self) -> int:
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # the scheduler went away; the next submit reports it
            return 1

    def describe(self) -> str:
        return f"dask scheduler {self.client.scheduler.address} ({self.workers} worker threads)"

    def map(self, fn: Callable, specs: Sequence[tuple[int, Mapping[str, Any]]], *,
            resources: Mapping[str, float] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        from distributed import as_completed

        from topocore.parallel import resolve_n_threads

        threads = 1 if self.n_threads is None else resolve_n_threads(self.n_threads)
        token = uuid.uuid4().hex[:8]
        futures: dict[Any, int] = {}
        attempts: dict[int, int] = {}
        specs_of = dict(specs)

        def submit(index: int):
            attempts[index] = attempts.get(index, 0) + 1
            fut = self.client.submit(call_task, index, fn, specs_of[index], threads,
                                     key=f"batch-{token}-{index}-{attempts[index]}", pure=False,
                                     resources=dict(resources) if resources else None)
            futures[fut] = index
            return fut

        pending = as_completed([submit(index) for index, _ in specs], loop=self.client.loop)
        try:
            for fut in pending:
                index = futures.pop(fut)
                if fut.status == "finished":
                    yield fut.result()
                    continue
                exc = fut.exception() if fut.status == "error" else None
                if exc is None and attempts[index] < self.max_attempts:
                    # lost or cancelled by the cluster (e.g. its worker died while the scheduler moved it): run it again
                    pending.add(submit(index))
                    continue
                # the task could not run: KilledWorker (its workers kept dying), or lost every time
                reason = exc if exc is not None else RuntimeError(
                    f"the cluster lost the task {attempts[index]} times (status {fut.status})")
                yield index, {"error": f"{type(reason).__name__}: {' '.join(str(reason).split())}"[:2000],
                              "user_error": False, "traceback": "".join(traceback.format_exception(reason)),
                              "exception": None, "seconds": float("nan")}
        finally:
            left = [f for f in futures if not f.done()]
            if left:
                self.client.cancel(left)

    def close(self) -> None:
        """Close the client and the cluster this executor started."""
        for obj in reversed(self._owned):
            try:
                obj.close()
            except Exception as exc:  # closing after a lost scheduler: say so, nothing left to release
                import warnings

                warnings.warn(f"closing {type(obj).__name__} failed: {exc}", RuntimeWarning, stacklevel=2)
        self._owned = []


@contextlib.contextmanager
def _unset_env(name: str) -> Iterator[None]:
    """Remove ``name`` from this process's environment while the block runs (spawned workers inherit it).

    A dask ``Nanny`` started earlier in this process (another cluster) leaves dask's
    ``MALLOC_TRIM_THRESHOLD_`` in ``os.environ``; without this, the new workers would inherit it.
    """
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def _require_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InputError(
            "the dask executor needs dask.distributed: pip install 'topometrics[cluster]' "
            "(or pip install 'dask[distributed]' dask-jobqueue)"
        ) from None


def parse_cluster_options(text: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """``"cores=4 memory=16GB walltime=04:00:00 queue=gpu"`` -> keyword arguments of the cluster class.

    Values are read as Python literals when they are (``4``, ``["--gres=gpu:1"]``), else
    kept as strings; shell quoting groups words (``job_extra_directives='["--gres=gpu:1"]'``).
    """
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    out: dict[str, Any] = {}
    for word in shlex.split(text):
        if "=" not in word:
            raise InputError(f"--cluster-options takes KEY=VALUE words (e.g. 'cores=4 memory=16GB'), got {word!r}")
        key, value = word.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip().replace("-", "_")] = value
    return out


def slurm_cluster(options: Mapping[str, Any] | str | None = None, *, jobs: int = 1):
    """A :class:`dask_jobqueue.SLURMCluster` (``options``: its keyword arguments) scaled to ``jobs`` jobs.

    Defaults: one core, one worker process and 8 GB per job; the job script exports the
    quieter worker settings of :data:`WORKER_CONFIG` (the event-loop tick and the profiler).  ``jobs=0`` submits
    nothing (``cluster.job_script()`` shows the batch script each job would run).
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise InputError("--cluster slurm needs dask-jobqueue: pip install 'topometrics[cluster]'") from None
    kwargs = parse_cluster_options(options)
    kwargs.setdefault("cores", 1)
    kwargs.setdefault("processes", 1)
    kwargs.setdefault("memory", "8GB")
    kwargs["job_script_prologue"] = list(kwargs.get("job_script_prologue") or []) + [
        "export DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=1000ms",
        "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False",
    ]
    try:
        cluster = SLURMCluster(**kwargs)
    except (TypeError, ValueError) as exc:  # dask-jobqueue reports an unknown option as a ValueError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"--cluster-options: {first}; see dask_jobqueue.SLURMCluster for the options") from None
    if jobs:
        cluster.scale(jobs=jobs)
    return cluster


def _connect(address, timeout: float):
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        where = address if isinstance(address, str) else type(address).__name__
        reason = " ".join(str(exc).split())[:200]
        raise InputError(
            f"cannot reach the dask scheduler at {where} within {timeout:g} s ({reason}); start it "
            "(dask scheduler) or check --scheduler, or run locally without --scheduler"
        ) from None


def make_executor(
    executor: str | Any | None = "local",
    *,
    n_jobs: int | None = 1,
    n_threads: int | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    cluster_options: str | Mapping[str, Any] | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
):
    """An executor from options (what the command-line flags give).

    * ``scheduler=None, cluster=None``: :class:`LocalExecutor` with ``n_jobs`` processes;
    * ``scheduler="local"``: a :class:`~dask.distributed.LocalCluster` of ``n_jobs``
      worker processes with one thread each (closed with the executor);
    * ``scheduler="tcp://host:8786"``: that running scheduler (error after
      ``connect_timeout`` seconds when unreachable: :class:`~topocore.errors.InputError`);
    * ``cluster="slurm"``: :func:`slurm_cluster` with ``cluster_options``, ``n_jobs`` jobs.

    An executor object (anything with ``map`` and ``close``) is returned as it is.
    """
    if executor is not None and not isinstance(executor, str):
        return executor
    if cluster is not None:
        if cluster != "slurm":
            raise InputError(f"--cluster supports 'slurm', got {cluster!r}")
        if scheduler is not None:
            raise InputError("give --scheduler or --cluster, not both")
        _require_distributed()
        from topocore.parallel import resolve_n_jobs

        slurm = slurm_cluster(cluster_options, jobs=resolve_n_jobs(n_jobs, default=1))
        try:
            client = _connect(slurm, connect_timeout)
        except BaseException:
            slurm.close()
            raise
        return DaskExecutor(client, n_threads=n_threads, owned=[client, slurm])
    if scheduler is None and executor in (None, "local"):
        return LocalExecutor(n_jobs, n_threads=n_threads)
    if executor not in (None, "local", "dask"):
        raise InputError(f"unknown executor {executor!r}; use 'local' or 'dask'")
    _require_distributed()
    if scheduler in (None, "local"):
        from distributed import LocalCluster

        from topocore.parallel import resolve_n_jobs

        import dask

        workers = resolve_n_jobs(n_jobs, default=1)
        with dask.config.set(WORKER_CONFIG), _unset_env("MALLOC_TRIM_THRESHOLD_"):  # read when the workers spawn
            local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = _connect(local, connect_timeout)
        return DaskExecutor(client, n_threads=n_threads, owned=[client, local])
    address = str(scheduler)
    if "://" not in address:
        address = f"tcp://{address}"
    client = _connect(address, connect_timeout)
    return DaskExecutor(client, n_threads=n_threads, owned=[client])

