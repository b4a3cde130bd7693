"""Experiment grids: prune (and optionally train) every combination, resumably.

:func:`run_grid` walks ``datasets x archs x seeds x (dense + methods x sparsities)``, writes one
checkpoint per run under ``OUT/checkpoints/<dataset>/<arch>/<method>/s<sparsity>-seed<seed>.pt``
and a results table ``OUT/results.csv`` with one row per run:

==================  =============================================================
column              meaning
==================  =============================================================
arch, dataset       model (canonical zoo name or ``package.module:factory`` spec) and data set
method, sparsity    pruning method (``dense`` = unpruned baseline, sparsity 0)
seed                ``random_state`` (int seed) of initialisation, pruning and data order
accuracy            final test accuracy, fraction in [0, 1] (empty when not trained)
dense_accuracy      accuracy of the matching dense run (see below)
checkpoint          checkpoint path *relative to the folder holding results.csv*
status              ``pruned``, ``trained`` or ``failed``
achieved_sparsity   exact global sparsity of the masks
trained_epochs      epochs trained (0 when not trained)
prune_seconds       wall time of the pruning step
train_seconds       wall time of the training
error               error message of a failed run
hook_status         ``ok`` / ``failed`` / empty: the per-run hook (``on_result``)
hook_error          error message of a failed hook
...                 any extra columns returned by the hook
==================  =============================================================

``dense_accuracy`` of every row is the accuracy of the ``dense`` run with the same arch,
data set and seed; when that run is missing or untrained, the mean over the seeds of the
trained dense runs of the same arch and data set; else the value of ``dense_reference``
(a table with ``dataset, arch`` and ``dense_accuracy`` as a fraction or ``acc_mean`` in
percent, like the paper's tables); else empty.  Checkpoint metadata is updated to match.

Resumability: the table is rewritten atomically (:func:`topocore.io.atomic_write_csv`) after
every run, rows of runs outside the current grid are kept, finished runs are skipped, and an
interrupted training continues from its last per-epoch checkpoint.  The output lock
(:func:`topocore.io.output_lock` on ``OUT/.grid.lock``) makes a second grid on the same folder
fail at once with :class:`~topocore.errors.OutputLockedError` naming the lock file; the lock
is released when the grid ends or its process dies.  A failing run is
recorded (``status = failed``) and the grid goes on; re-running retries it.

The per-run hook ``on_result(checkpoint_path, row) -> dict`` adds columns (for instance the
topometrics of the run, computed by the command line, since :mod:`pruners` never imports
the graph packages).  It runs once per finished run; failed hooks are retried on re-runs.
"""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pandas as pd
import torch
from tqdm.auto import tqdm

from topocore.errors import InputError, OutputLockedError
from topocore.io import atomic_write_csv, output_lock

from .checkpoint import _atomic_torch_save, _read_payload, load_checkpoint, save_checkpoint
from .data import RESHAPABLE, canonical_dataset, get_dataset
from .masks import sparsity_of
from .models import canonical_model, is_spec, resolve_factory
from .pipeline import DENSE, canonical_method, prune_model
from .training import recipe, scaled_milestones, train

__all__ = ["RunSpec", "plan_grid", "run_grid", "read_results", "fill_dense_accuracy", "RESULT_COLUMNS", "LOCK_NAME",
           "GridLockedError"]

#: Leading columns of the results table, in order.
RESULT_COLUMNS = [
    "arch", "dataset", "method", "sparsity", "seed", "accuracy", "dense_accuracy", "checkpoint",
    "status", "achieved_sparsity", "trained_epochs", "prune_seconds", "train_seconds", "error", "hook_status", "hook_error",
]
_KEY = ["arch", "dataset", "method", "sparsity", "seed"]
RESULTS_FILE = "results.csv"
#: Name of the output lock file inside the grid's folder.
LOCK_NAME = ".grid.lock"

#: Former name of :class:`topocore.errors.OutputLockedError` (kept importable).
GridLockedError = OutputLockedError


@dataclass(frozen=True)
class RunSpec:
    """One run of a grid."""

    arch: str
    dataset: str
    method: str
    sparsity: float
    seed: int

    @property
    def key(self) -> tuple[str, str, str, float, int]:
        return (self.arch, self.dataset, self.method, round(float(self.sparsity), 10), int(self.seed))

    @property
    def relpath(self) -> str:
        """Checkpoint path relative to the output folder (a model spec's ``:`` becomes
        ``--``, which no module or factory name holds)."""
        arch = re.sub(r"[^A-Za-z0-9_.-]", "_", self.arch.replace(":", "--"))
        return f"checkpoints/{self.dataset}/{arch}/{self.method}/s{self.sparsity:g}-seed{self.seed}.pt"


def _as_list(values: Iterable[Any] | Any) -> list[Any]:
    if isinstance(values, (str, int, float)):
        return [values]
    return list(values)


def plan_grid(
    archs: Iterable[str],
    methods: Iterable[str],
    sparsities: Iterable[float],
    datasets: Iterable[str],
    random_states: Iterable[int],
) -> list[RunSpec]:
    """Every run of the grid, dense baselines first within each (data set, arch, seed).

    ``archs`` are zoo names or ``"package.module:factory"`` model specs (checked for
    syntax here, imported by :func:`run_grid`); ``random_states`` are the int seeds of the
    runs (the ``seed`` column).  ``dense`` among ``methods`` adds one unpruned run per data
    set, arch and seed (sparsity 0) whatever ``sparsities`` holds; duplicates are removed.
    """
    archs_ = [canonical_model(a) for a in _as_list(archs)]
    methods_ = [canonical_method(m) for m in _as_list(methods)]
    datasets_ = [canonical_dataset(d) for d in _as_list(datasets)]
    seeds_ = [_seed(s) for s in _as_list(random_states)]
    sparsities_ = [float(s) for s in _as_list(sparsities)]
    for s in sparsities_:
        if not 0.0 <= s < 1.0:
            raise InputError(f"sparsities must lie in [0, 1), got {s}")
    if not (archs_ and methods_ and datasets_ and seeds_):
        raise InputError("a grid needs at least one arch, method, data set and seed; give each axis a value")
    if any(m != DENSE for m in methods_) and not sparsities_:
        raise InputError("pruning methods need at least one sparsity; give sparsities (or only the method 'dense')")
    runs: list[RunSpec] = []
    seen: set = set()
    for d in datasets_:
        for a in archs_:
            for seed in seeds_:
                cands = []
                if DENSE in methods_:
                    cands.append(RunSpec(a, d, DENSE, 0.0, seed))
                for m in methods_:
                    if m == DENSE:
                        continue
                    for s in sparsities_:
                        cands.append(RunSpec(a, d, m, s, seed))
                for r in cands:
                    if r.key not in seen:
                        seen.add(r.key)
                        runs.append(r)
    return runs


def _seed(value: Any) -> int:
    try:
        seed = int(value)
        exact = float(value) == seed
    except (TypeError, ValueError):
        seed, exact = -1, False
    if seed < 0 or not exact:
        raise InputError(f"grid seeds (random_states) must be non-negative ints, got {value!r}")
    return seed


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a grid's ``results.csv`` (or the folder holding it) with the column types restored."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS_FILE
    df = pd.read_csv(p, keep_default_na=True)
    for col in ("error", "hook_status", "hook_error", "checkpoint", "status"):
        if col in df:
            df[col] = df[col].fillna("").astype(str)
    return df


def _reference_lookup(dense_reference: Any) -> dict[tuple[str, str], float]:
    if dense_reference is None:
        return {}
    table = dense_reference if isinstance(dense_reference, pd.DataFrame) else pd.read_csv(dense_reference)
    if not {"dataset", "arch"} <= set(table.columns) or not ({"dense_accuracy", "acc_mean"} & set(table.columns)):
        raise InputError("dense_reference needs columns dataset, arch and dense_accuracy (fraction) or acc_mean (percent)")
    out = {}
    for _, r in table.iterrows():
        try:
            key = (canonical_dataset(r["dataset"]), canonical_model(r["arch"]))
        except InputError:
            continue  # rows for data sets or models outside the zoo do not concern this grid
        value = float(r["dense_accuracy"]) if "dense_accuracy" in table.columns else float(r["acc_mean"]) / 100.0
        out[key] = value
    return out


def fill_dense_accuracy(df: pd.DataFrame, dense_reference: Any = None) -> pd.DataFrame:
    """Set ``dense_accuracy`` of every row from the dense runs in ``df`` (see the module docstring)."""
    df = df.copy()
    ref = _reference_lookup(dense_reference)
    dense = df[(df["method"] == DENSE) & df["accuracy"].notna()]
    same_seed = {(r.arch, r.dataset, int(r.seed)): float(r.accuracy) for r in dense.itertuples()}
    mean_seed = dense.groupby(["arch", "dataset"])["accuracy"].mean().to_dict() if len(dense) else {}
    values = []
    for r in df.itertuples():
        v = same_seed.get((r.arch, r.dataset, int(r.seed)))
        if v is None:
            v = mean_seed.get((r.arch, r.dataset))
        if v is None:
            v = ref.get((r.dataset, r.arch))
        values.append(float("nan") if v is None else float(v))
    df["dense_accuracy"] = values
    return df


def _write_table(rows: dict, out: Path, dense_reference: Any) -> pd.DataFrame:
    df = pd.DataFrame(list(rows.values()))
    for col in RESULT_COLUMNS:
        if col not in df:
            df[col] = "" if col in ("error", "hook_status", "hook_error", "checkpoint", "status") else float("nan")
    df = fill_dense_accuracy(df, dense_reference)
    extra = [c for c in df.columns if c not in RESULT_COLUMNS]
    df = df[RESULT_COLUMNS + extra]
    atomic_write_csv(out / RESULTS_FILE, df)
    return df


def _update_checkpoint_meta(path: Path, updates: Mapping[str, Any]) -> None:
    payload = _read_payload(path, "cpu")
    if all(_same(payload["meta"].get(k), v) for k, v in updates.items()):
        return
    payload["meta"].update(updates)
    _atomic_torch_save(payload, path)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


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
    device: str | torch.device = "cpu",
    on_result: Callable[[Path, dict[str, Any]], Mapping[str, Any]] | None = None,
    dense_reference: Any = None,
    progress: bool | None = None,
    stop_on_error: bool = False,
) -> pd.DataFrame:
    """Run (or resume) a grid and return its results table (also written to ``OUT/results.csv``).

    Parameters
    ----------
    archs, methods, sparsities, datasets, random_states :
        The grid axes (see :func:`plan_grid`; ``dense`` in ``methods`` adds baselines;
        ``archs`` may hold ``"package.module:factory"`` model specs; ``random_states`` are
        the int seeds, the table's ``seed`` column).
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
    on_result : callable, optional
        ``on_result(checkpoint_path, row) -> dict`` of extra columns, called once per finished run.
    dense_reference : DataFrame or path, optional
        Fallback dense accuracies (see :func:`fill_dense_accuracy`).
    progress : bool, optional
        tqdm bars (``None``: on a terminal only).
    stop_on_error : bool
        Re-raise the first failing run instead of recording it.
    """
    runs = plan_grid(archs, methods, sparsities, datasets, random_states)
    for spec_arch in dict.fromkeys(r.arch for r in runs):
        if is_spec(spec_arch):
            resolve_factory(spec_arch)  # a missing module or factory fails now, not in every run
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_options = dict(train_options or {})
    allowed = {"epochs", "lr", "momentum", "weight_decay", "milestones", "batch_size", "num_workers", "amp", "eval_every", "dst"}
    unknown = set(train_options) - allowed
    if unknown:
        raise InputError(f"unknown train_options {sorted(unknown)}; the options are {sorted(allowed)}")
    wanted_dst = _dst_name(train_options.get("dst"))
    prune_options = {canonical_method(k): dict(v) for k, v in (prune_options or {}).items()}
    _reference_lookup(dense_reference)  # validate early
    disable = None if progress is None else not progress

    with output_lock(out, name=LOCK_NAME):
        rows: dict[tuple, dict[str, Any]] = {}
        if (out / RESULTS_FILE).exists():
            for rec in read_results(out).to_dict("records"):
                rec = {k: v for k, v in rec.items()}
                spec = RunSpec(str(rec["arch"]), str(rec["dataset"]), str(rec["method"]), float(rec["sparsity"]), int(rec["seed"]))
                rows[spec.key] = rec
        data_cache: dict[tuple, tuple] = {}

        def datasets_for(dataset: str):
            key = (dataset, input_shape)
            if key not in data_cache:
                extra = {"input_shape": input_shape} if dataset in RESHAPABLE and input_shape else {}
                train_set = get_dataset(dataset, data_root, "train", **extra)
                plain = copy.copy(train_set)
                plain.augment = False
                test_set = get_dataset(dataset, data_root, "test", **extra) if train else None
                data_cache[key] = (train_set, plain, test_set)
            return data_cache[key]

        bar = tqdm(runs, desc="grid", disable=disable)
        for spec in bar:
            bar.set_postfix_str(f"{spec.dataset}/{spec.arch}/{spec.method}/s{spec.sparsity:g}/seed{spec.seed}")
            row = rows.get(spec.key)
            path = out / spec.relpath
            epochs = None
            if train:
                epochs = int(train_options.get("epochs", recipe(spec.dataset, spec.arch)["epochs"]))
            finished = (
                row is not None
                and path.exists()
                and (row.get("status") == "trained" if train else row.get("status") in ("pruned", "trained"))
            )
            if finished and train and _dst_name(row.get("dst")) != wanted_dst:
                raise InputError(
                    f"{path} was trained with dst={_dst_name(row.get('dst')) or 'none'}, this grid asks for "
                    f"dst={wanted_dst or 'none'}; use another output folder"
                )
            if finished and train and _int(row.get("trained_epochs")) != epochs:
                raise InputError(
                    f"{path} was trained for {_int(row.get('trained_epochs'))} epochs, this grid asks for {epochs}; "
                    "use another output folder"
                )
            if not finished:
                row = {"arch": spec.arch, "dataset": spec.dataset, "method": spec.method, "sparsity": spec.sparsity,
                       "seed": spec.seed, "checkpoint": spec.relpath, "error": "", "hook_status": "", "hook_error": ""}
                try:
                    row.update(_do_run(spec, path, train, epochs, train_options, prune_options.get(spec.method, {}),
                                       model_kwargs, device, datasets_for, progress))
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # recorded in the table and reported; the grid goes on
                    if stop_on_error:
                        raise
                    row.update({"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]})
                rows[spec.key] = row
                _write_table(rows, out, dense_reference)
            if on_result is not None and row.get("status") in ("pruned", "trained") and row.get("hook_status") != "ok":
                try:
                    extra = dict(on_result(path, dict(row)) or {})
                    clash = set(extra) & set(RESULT_COLUMNS)
                    if clash:
                        raise InputError(f"on_result returned reserved columns {sorted(clash)}; rename them")
                    row.update(extra)
                    row["hook_status"], row["hook_error"] = "ok", ""
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # the run itself is kept; the hook is retried next time
                    if stop_on_error:
                        raise
                    row["hook_status"], row["hook_error"] = "failed", f"{type(exc).__name__}: {exc}"[:500]
                rows[spec.key] = row
                _write_table(rows, out, dense_reference)
        df = _write_table(rows, out, dense_reference)
        # keep the checkpoints' metadata in line with the table's dense accuracies
        for r in df.itertuples():
            if r.status in ("pruned", "trained") and isinstance(r.checkpoint, str) and r.checkpoint:
                p = out / r.checkpoint
                if p.exists():
                    dense = None if pd.isna(r.dense_accuracy) else float(r.dense_accuracy)
                    _update_checkpoint_meta(p, {"dense_accuracy": dense})
    return df


def _do_run(spec: RunSpec, path: Path, train_flag: bool, epochs: int | None, train_options: dict, options: dict,
            model_kwargs: Mapping[str, Any] | None, device: Any, datasets_for: Callable, progress: bool | None) -> dict[str, Any]:
    """Prune (unless a checkpoint exists) and train (when asked) one run; return its table fields."""
    result: dict[str, Any] = {}
    needs_data = train_flag or (spec.method != DENSE and _needs_data(spec.method))
    train_set = plain = test_set = None
    if needs_data:
        train_set, plain, test_set = datasets_for(spec.dataset)
    if path.exists():
        ck = load_checkpoint(path, map_location=device, trusted=spec.arch if is_spec(spec.arch) else ())
        model, masks, meta = ck.model, ck.masks, dict(ck.meta)
        meta.pop("history", None)
        result["prune_seconds"] = meta.get("prune_seconds")
    else:
        shape = None
        if spec.dataset in RESHAPABLE and plain is None:
            train_set, plain, test_set = datasets_for(spec.dataset)
        if plain is not None:
            shape = plain.input_shape
        model, masks, meta = prune_model(
            spec.arch, spec.method, spec.sparsity, dataset=spec.dataset, random_state=spec.seed, input_shape=shape,
            num_classes=plain.num_classes if plain is not None else None,
            model_kwargs=model_kwargs, options=options, device=device, progress=False, data=plain,
        )
        save_checkpoint(path, model, masks, meta)
        result["prune_seconds"] = meta["prune_seconds"]
    result["achieved_sparsity"] = sparsity_of(masks)
    result["trained_epochs"] = _int(meta.get("trained_epochs"))
    result["accuracy"] = meta.get("accuracy")
    result["train_seconds"] = meta.get("train_seconds")
    if train_flag:
        rec = recipe(spec.dataset, spec.arch)
        opts = {k: v for k, v in train_options.items() if k != "epochs"}
        if "milestones" not in opts:
            opts["milestones"] = scaled_milestones(rec["milestones"], rec["epochs"], epochs)
        kwargs = {"lr": rec["lr"], "momentum": rec["momentum"], "weight_decay": rec["weight_decay"], "gamma": rec["gamma"],
                  "batch_size": rec["batch_size"], **opts}
        res = train(model, masks, train_set, test_set, epochs=epochs, device=device, random_state=spec.seed,
                    checkpoint=path, meta=meta, resume=True, progress=progress, **kwargs)
        result.update({"accuracy": res.accuracy, "trained_epochs": epochs, "train_seconds": round(res.seconds, 3), "status": "trained"})
        if res.dst is not None:  # dynamic sparse training: the method and the final ITOP rate
            result.update({"dst": res.dst.method.name, "itop_rate": res.dst.itop_rate})
    else:
        trained = result["trained_epochs"] > 0 and result["accuracy"] is not None
        result["status"] = "trained" if trained else "pruned"
    return result


def _dst_name(spec: Any) -> str:
    """Canonical name of a ``dst`` training option (method name, dict or engine); ``""`` for none."""
    if spec is None or (isinstance(spec, float) and math.isnan(spec)) or spec == "":
        return ""
    from .dst import lookup

    method = spec.get("method") if isinstance(spec, Mapping) else getattr(spec, "method", spec)
    return lookup(method).name


def _needs_data(method: str) -> bool:
    from .methods import METHODS

    return METHODS[method].needs_data


def _int(value: Any) -> int:
    """``int`` of a table cell, 0 for empty/NaN."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return 0
    return 0 if math.isnan(f) else int(f)
