"""Experiment grids on the batch layer: prune (and train) every combination, resumably, locally or on a cluster.

:func:`run_grid` plans the runs (:func:`pruners.grid.plan_grid`), runs the unfinished ones
as batch tasks (:func:`topometrics.workflows.batch.run_batch`: this process, ``n_jobs``
local worker processes, or a Dask executor; a task = :func:`grid_task`, which calls the
pure per-run function :func:`pruners.grid.run_one` and the per-run hook) and keeps
``OUT/results.csv`` (columns: :mod:`pruners.grid`).  The table is rewritten atomically
as each run finishes, in the grid's order; ``dense_accuracy`` is filled from the dense
runs on every write and copied into the checkpoints' metadata at the end.  The output
lock ``OUT/.grid.lock`` keeps a second grid off the same folder.

Hooks: ``on_result(checkpoint_path, row) -> dict`` adds columns to a finished run (it
runs in the task's process: with workers it must pickle, e.g. a module-level function or
:class:`MeasureHook`, which adds the run's topometrics through the workflows' one
measuring path).  A failed hook is recorded in ``hook_status`` / ``hook_error`` and
retried on re-runs; the run itself is kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pandas as pd

from topocore.errors import InputError

__all__ = ["run_grid", "grid_task", "MeasureHook"]


@dataclass(frozen=True)
class MeasureHook:
    """``on_result`` adding a run's measurements (:func:`topometrics.workflows.measure.measure_network`).

    One call of the workflows' measuring path per finished run (the checkpoint is read,
    encoded and measured: ``num_nodes``, ``num_edges``, ``dense_num_edges``, the layer
    sparsity summary, every selected topometric raw and as ``<metric>_norm``).  Columns
    the grid's table already has (its metadata, ``achieved_sparsity``) are left out.
    """

    metrics: tuple[str, ...] | None = None
    trusted: tuple[str, ...] = ()
    conventions: str = "ours"

    def __call__(self, path, row) -> dict[str, Any]:
        from pruners.grid import RESULT_COLUMNS

        from .inputs import load_network
        from .measure import measure_network

        net = load_network(path, trusted=self.trusted)
        values = measure_network(net, metrics=list(self.metrics) if self.metrics else None, conventions=self.conventions)
        row = {k: v for k, v in values.items() if k not in set(RESULT_COLUMNS)}
        if self.conventions != "ours":  # the scale of the authors' published tables (topometrics.conventions)
            row["conventions"] = self.conventions
        return row


def grid_task(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Batch task of one run: :func:`pruners.grid.run_one`, then the hook (its failure is recorded, not raised)."""
    from pruners.grid import RESULT_COLUMNS, RunSpec, run_one

    run = RunSpec(spec["arch"], spec["dataset"], spec["method"], spec["sparsity"], spec["seed"])
    row = run_one(run, spec["out"], train=spec["train"], epochs=spec["epochs"], train_options=spec["train_options"],
                  options=spec["prune_options"], model_kwargs=spec["model_kwargs"], device=spec["device"],
                  data_root=spec["data_root"], input_shape=spec["input_shape"], progress=spec["progress"])
    row["hook_status"], row["hook_error"] = "", ""
    hook = spec.get("hook")
    if hook is not None:
        try:
            extra = dict(hook(Path(spec["out"]) / run.relpath, dict(row)) or {})
            clash = set(extra) & set(RESULT_COLUMNS)
            if clash:
                raise InputError(f"on_result returned reserved columns {sorted(clash)}; rename them")
            row.update(extra)
            row["hook_status"] = "ok"
        except Exception as exc:  # the run itself is kept; the hook is retried next time
            if spec.get("stop_on_error"):
                raise
            row["hook_status"], row["hook_error"] = "failed", f"{type(exc).__name__}: {exc}"[:500]
    return row


def run_grid(
    archs: Iterable[str],
    methods: Iterable[str],
    sparsities: Iterable[float],
    datasets: Iterable[str],
    random_states: Iterable[int],
    out: str | os.PathLike,
    *,
    train: bool = False,
    data_root: str | os.PathLike | None = None,
    train_options: Mapping[str, Any] | None = None,
    prune_options: Mapping[str, Mapping[str, Any]] | None = None,
    input_shape: tuple[int, ...] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    device: Any = "cpu",
    on_result: Callable[[Path, dict[str, Any]], Mapping[str, Any]] | None = None,
    dense_reference: Any = None,
    progress: bool | None = None,
    stop_on_error: bool = False,
    n_jobs: int | None = 1,
    executor: Any = None,
    gpus_per_task: int = 0,
) -> pd.DataFrame:
    """Run (or resume) a grid and return its results table (also written to ``OUT/results.csv``).

    Parameters
    ----------
    archs, methods, sparsities, datasets, random_states :
        The grid axes (see :func:`pruners.grid.plan_grid`; ``dense`` in ``methods`` adds
        baselines; ``archs`` may hold ``"package.module:factory"`` model specs;
        ``random_states`` are the int seeds, the table's ``seed`` column).
    out : path
        Output folder (created).
    train : bool
        Train every run after pruning (the paper's recipe, see :func:`pruners.training.recipe`).
    data_root : path, optional
        Folder of the data sets (see :func:`pruners.data.get_dataset`).
    train_options : dict, optional
        Overrides of the recipe: ``epochs`` (milestones scale with it), ``lr``, ``momentum``,
        ``weight_decay``, ``milestones``, ``batch_size``, ``num_workers``, ``amp``, ``eval_every``;
        ``dst`` trains every run with dynamic sparse training (a method name or a dict, see
        :func:`pruners.train`), starting from the pruned masks; the table then gains the columns
        ``dst`` and ``itop_rate``, and one output folder holds one ``dst`` setting.
    prune_options : dict, optional
        ``{method: {option: value}}`` passed to :func:`pruners.prune`.
    input_shape : tuple, optional
        Input shape for ``digits`` / ``synthetic`` (e.g. ``(1, 8, 8)``).
    model_kwargs : dict, optional
        Zoo options, e.g. ``{"shortcut": "A"}``.
    device : str or torch.device
        Device of every run (a string travels to worker processes).
    on_result : callable, optional
        ``on_result(checkpoint_path, row) -> dict`` of extra columns, called once per finished run.
    dense_reference : DataFrame or path, optional
        Fallback dense accuracies (see :func:`pruners.grid.fill_dense_accuracy`).
    progress : bool, optional
        tqdm bars (``None``: on a terminal only).
    stop_on_error : bool
        Stop at the first failing run (its row is recorded) and re-raise its error.
    n_jobs : int or None
        Local worker processes (when ``executor`` is None).
    executor : executor, callable or None
        A batch executor or a factory of one (:func:`topometrics.workflows.batch.make_executor`).
    gpus_per_task : int
        With a Dask executor and ``train``: the Dask resource ``GPU`` each run needs.
    """
    import sys

    from pruners.grid import (
        LOCK_NAME, RESULTS_FILE, RunSpec, arrange_results, check_options, check_resumable, epochs_of, is_finished,
        plan_grid, read_results, sync_dense_accuracy,
    )

    from .batch import LocalExecutor, run_batch
    from .batch.table import normalize_key

    runs = plan_grid(archs, methods, sparsities, datasets, random_states)
    train_options, prune_options = check_options(runs, train_options, prune_options, dense_reference)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if progress is None:
        progress = sys.stderr.isatty()
    existing = {}
    if (out / RESULTS_FILE).exists():
        for rec in read_results(out).to_dict("records"):
            existing[normalize_key(RunSpec(str(rec["arch"]), str(rec["dataset"]), str(rec["method"]),
                                           float(rec["sparsity"]), int(rec["seed"])).key)] = rec
    specs = []
    for run in runs:
        epochs = epochs_of(run, train, train_options)
        check_resumable(existing.get(normalize_key(run.key)), out / run.relpath, train, epochs, train_options.get("dst"))
        specs.append({
            "arch": run.arch, "dataset": run.dataset, "method": run.method, "sparsity": run.sparsity, "seed": run.seed,
            "out": str(out), "train": bool(train), "epochs": epochs, "train_options": train_options,
            "prune_options": prune_options.get(run.method, {}), "model_kwargs": dict(model_kwargs or {}) or None,
            "device": str(device), "data_root": None if data_root is None else str(data_root),
            "input_shape": None if input_shape is None else tuple(input_shape), "progress": bool(progress) and n_jobs == 1,
            "hook": on_result, "stop_on_error": stop_on_error,
        })

    def is_done(row) -> bool:
        spec = RunSpec(str(row["arch"]), str(row["dataset"]), str(row["method"]), float(row["sparsity"]), int(row["seed"]))
        if not is_finished(row, out / spec.relpath, train):
            return False
        return on_result is None or row.get("hook_status") == "ok"

    def failed_row(spec, message) -> dict:
        run = RunSpec(spec["arch"], spec["dataset"], spec["method"], spec["sparsity"], spec["seed"])
        return {k: spec[k] for k in ("arch", "dataset", "method", "sparsity", "seed")} | {
            "checkpoint": run.relpath, "status": "failed", "error": message[:500], "hook_status": "", "hook_error": ""}

    resources = {"GPU": gpus_per_task} if (train and gpus_per_task) else None
    run_batch(
        grid_task, specs, out / RESULTS_FILE, key=lambda r: RunSpec(str(r["arch"]), str(r["dataset"]), str(r["method"]),
                                                                    float(r["sparsity"]), int(r["seed"])).key,
        executor=executor if executor is not None else LocalExecutor(n_jobs), is_done=is_done, failed_row=failed_row,
        arrange=lambda df: arrange_results(df, dense_reference), resources=resources, stop_on_error=stop_on_error,
        lock=(out, LOCK_NAME), progress=progress, desc="grid", what="grid results table",
        label=lambda sp: f"{sp['dataset']}/{sp['arch']}/{sp['method']}/s{sp['sparsity']:g}/seed{sp['seed']}",
    )
    from topocore.io import output_lock

    with output_lock(out, name=LOCK_NAME):  # the checkpoints' metadata follow the table's dense accuracies
        df = read_results(out)
        sync_dense_accuracy(out, df)
    return df
