"""One batch-execution layer for every long job: local processes by default, a Dask cluster when asked.

A *task* is a pure, module-level function of a small picklable *spec* (a dict: arch,
method, sparsity, data set, seed, paths, options) that returns one result *row* (a dict
of numbers and short strings, never a graph: big intermediates stay in the worker).  A
*job* is a list of specs plus the output table.  :func:`run_batch`:

* skips specs whose finished row is already in the table (resume);
* submits the rest to an executor (:mod:`~.executors`): ``local`` (this process, or
  ``-j N`` loky worker processes; the default), ``dask`` (``--scheduler local`` starts a
  ``LocalCluster``, ``--scheduler tcp://host:8786`` joins a running one) or SLURM through
  ``dask-jobqueue`` (``--cluster slurm --cluster-options "..."``);
* writes each finished row as it arrives: the table is rewritten atomically
  (:func:`topocore.io.atomic_write_csv`) in the job's canonical order, and re-read with
  ``float_precision="round_trip"`` (:mod:`~.table`), so resumed and uninterrupted runs give
  identical files;
* records a task that raised as a row with its message in ``error`` and goes on (the
  command then exits with status 1);
* shows one tqdm bar (finished tasks, failed and running counts);
* holds :func:`topocore.io.output_lock` (:mod:`filelock`) on the output for the whole
  run: a second run on the same output fails at once naming the lock file.

The same specs give the same rows whichever executor and however many workers ran them
(seeds travel in the specs; rows are written in spec order).

Users: ``topometrics metrics`` (:mod:`topometrics.workflows.measure`), ``topometrics grid``
(:mod:`topometrics.workflows.grid`), ``topometrics rank`` and its ``--checkpoints``
(:mod:`topometrics.workflows.rank.networks`), ``topometrics robustness`` (one task per curve, a
group of rows: ``many=True``; :mod:`topometrics.workflows.robustness`) and ``topometrics dag
measure`` (:mod:`topometrics.workflows.dag_measure`).  Command-line flags: :mod:`topometrics.cli._batch`.
"""

from __future__ import annotations

from .executors import CONNECT_TIMEOUT, DaskExecutor, LocalExecutor, call_task, make_executor, parse_cluster_options, slurm_cluster
from .runner import BatchResult, Failure, finished_group, run_batch
from .table import ERROR_COLUMN, ResultTable, normalize_key, read_table

__all__ = [
    "run_batch",
    "finished_group",
    "BatchResult",
    "Failure",
    "make_executor",
    "LocalExecutor",
    "DaskExecutor",
    "call_task",
    "slurm_cluster",
    "parse_cluster_options",
    "CONNECT_TIMEOUT",
    "ResultTable",
    "read_table",
    "normalize_key",
    "ERROR_COLUMN",
]
