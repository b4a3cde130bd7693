"""Workflows of the application layer: many networks in, tables and rankings out.

The application layer (this package and :mod:`topometrics.cli`) is the only place
that joins :mod:`pruners` (models, pruning, checkpoints), :mod:`encoders` (graphs),
the metric modules of :mod:`topometrics` and :mod:`analysis` (regression,
rankings); see ``docs/architecture.md``.  The command line is a thin shell over
these functions.

* :func:`describe_many` (:mod:`~topometrics.workflows.measure`) -- checkpoints,
  ``(model, masks)`` pairs or saved graphs -> one table row each (also
  ``topometrics.describe_many``);
* :func:`load_network` (:mod:`~topometrics.workflows.inputs`) -- one input file or
  object -> a :class:`Network` (model + masks, or a graph, and its metadata);
* :func:`export_graph` (:mod:`~topometrics.workflows.export`) -- a graph as
  ``.npz``, Parquet edge list or GraphML;
* :class:`RankJob`, :class:`RankResult` (:mod:`~topometrics.workflows.rank`) -- the
  main job: rank pruning methods before training (``topometrics rank``);
* :func:`topology_trajectory`, :func:`trajectory_figure`
  (:mod:`~topometrics.workflows.trajectory`) -- topometrics of the recorded states of a
  dynamic-sparse-training run (:class:`pruners.dst.DynamicSparsity` with
  ``record_every=k``) and their plot against the epoch;
* :func:`train_dag`, :class:`DagConfig` (:mod:`~topometrics.workflows.dag_train`) --
  train a ``dagnet`` with a connectivity penalty, derive its block graph, retrain it
  from scratch, measure it (``topometrics dag train``);
* :func:`measure_checkpoints` (:mod:`~topometrics.workflows.dag_measure`) -- measure
  derived ``dagnet`` checkpoints into one table (``topometrics dag measure``);
* :mod:`~topometrics.workflows.dag_report` -- GraphML, drawing, report and the
  Table-2 style summary of those runs;
* :func:`run_grid` (:mod:`~topometrics.workflows.grid`) -- prune (and train, and
  measure) every combination (``topometrics grid``);
* :func:`run_batch`, :func:`make_executor` (:mod:`~topometrics.workflows.batch`) -- the
  batch layer every long job runs on: resumable tables, local processes or a Dask
  cluster (``--scheduler``, ``--cluster slurm``);
* :func:`sweep`, :func:`run_robustness` (:mod:`~topometrics.workflows.robustness`) --
  perturbation sweeps of trained networks (``topometrics robustness``); their summaries
  (AUC, f50) and figures are :mod:`analysis.robustness`.

Names are loaded lazily, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "describe_many": "measure",
    "iter_describe": "measure",
    "measure_item": "measure",
    "Measured": "measure",
    "load_network": "inputs",
    "Network": "inputs",
    "export_graph": "export",
    "GRAPHML_MAX_EDGES": "export",
    "RankJob": "rank",
    "RankResult": "rank",
    "BASELINES": "rank",
    "STRATEGIES": "rank",
    "NUM_CLASSES": "rank",
    "networks_from_checkpoints": "rank",
    "normalized_features": "rank",
    "published_ranking": "rank",
    "ranking_figure": "rank",
    "topology_trajectory": "trajectory",
    "trajectory_figure": "trajectory",
    "unit_weight_model": "trajectory",
    "TRAJECTORY_COLUMNS": "trajectory",
    "DagConfig": "dag_train",
    "train_dag": "dag_train",
    "measure_checkpoints": "dag_measure",
    "measure_checkpoint": "dag_measure",
    "load_dagnet_checkpoint": "dag_measure",
    "summary_table": "dag_report",
    "summary_markdown": "dag_report",
    "run_grid": "grid",
    "run_batch": "batch",
    "make_executor": "batch",
    "sweep": "robustness",
    "run_robustness": "robustness",
    "RobustnessResult": "robustness",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'topometrics.workflows' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
