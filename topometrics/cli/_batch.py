"""Command-line flags of the batch layer (:mod:`topometrics.workflows.batch`), shared by the batch commands."""

from __future__ import annotations

import argparse
import sys

EXECUTOR_EPILOG = """\
where the work runs (every batch command):
  default             this process; -j N: N local worker processes
  --scheduler local   a dask LocalCluster with -j N worker processes
  --scheduler tcp://host:8786
                      a running dask scheduler (dask scheduler / dask worker ...)
  --cluster slurm --cluster-options "cores=4 memory=16GB walltime=04:00:00 queue=gpu"
                      dask workers started as SLURM jobs (dask-jobqueue; -j N jobs)
  the dask executors need the cluster extra: pip install 'topometrics[cluster]'
"""


def add_executor_arguments(parser: argparse.ArgumentParser, *, gpus: bool = False) -> None:
    """``--scheduler``, ``--cluster``, ``--cluster-options`` (and ``--gpus-per-task``)."""
    group = parser.add_argument_group("where the tasks run (default: local processes, see -j)")
    group.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="run the tasks on dask: 'local' starts a LocalCluster of -j worker processes, tcp://host:8786 joins a "
        "running scheduler (needs the cluster extra)",
    )
    group.add_argument("--cluster", choices=("slurm",), help="start dask workers as SLURM jobs (dask-jobqueue), -j jobs")
    group.add_argument(
        "--cluster-options", metavar="'KEY=VALUE ...'",
        help="keyword arguments of dask_jobqueue.SLURMCluster, e.g. \"cores=4 memory=16GB walltime=04:00:00 queue=gpu\"",
    )
    group.add_argument("--connect-timeout", type=float, default=None, metavar="SECONDS",
                       help="seconds to wait for the dask scheduler (default 10)")
    if gpus:
        group.add_argument(
            "--gpus-per-task", type=int, default=0, metavar="N",
            help="with dask: training tasks need N GPUs (the dask resource 'GPU'; start workers with --resources GPU=1)",
        )


def executor_factory(args: argparse.Namespace, *, n_jobs: int | None, n_threads: int | None = None):
    """A zero-argument factory of the executor the flags name (called by the batch layer under the lock)."""
    from topocore.errors import InputError
    from topometrics.workflows.batch import CONNECT_TIMEOUT, make_executor

    scheduler, cluster = getattr(args, "scheduler", None), getattr(args, "cluster", None)
    options = getattr(args, "cluster_options", None)
    if options is not None and cluster is None:
        raise InputError("--cluster-options needs --cluster slurm")
    timeout = getattr(args, "connect_timeout", None) or CONNECT_TIMEOUT
    if timeout <= 0:
        raise InputError(f"--connect-timeout must be positive, got {timeout:g}")

    def make():
        return make_executor("dask" if scheduler or cluster else "local", n_jobs=n_jobs, n_threads=n_threads,
                             scheduler=scheduler, cluster=cluster, cluster_options=options, connect_timeout=timeout)

    return make


def report_failures(result, command: str) -> None:
    """Print the traceback of every failed task that was a bug (user errors were printed as one line)."""
    for failure in result.failures:
        if not failure.user_error and failure.traceback:
            print(f"topometrics {command}: traceback of a failed task (a bug of topometrics, please report it):\n"
                  f"{failure.traceback.rstrip()}", file=sys.stderr)
