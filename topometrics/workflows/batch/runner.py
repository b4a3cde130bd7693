""":func:`run_batch`: run the tasks of a job that are not in its table yet, writing each row as it arrives."""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from topocore.io import output_lock

from .executors import make_executor
from .table import ERROR_COLUMN, ResultTable, remove_stale_temporaries

__all__ = ["run_batch", "BatchResult", "Failure", "finished_group"]


@dataclass
class Failure:
    """A task that raised: its spec, one-line message, traceback, and whether the user can fix it."""

    spec: Mapping[str, Any]
    message: str
    traceback: str = ""
    user_error: bool = True
    exception: BaseException | None = None


@dataclass
class BatchResult:
    """What :func:`run_batch` did.

    Attributes
    ----------
    table : DataFrame
        The rows of the job's specs, in spec order (the file holds every row, also those
        of earlier jobs with other specs).
    ran, skipped : int
        Tasks run now, and tasks skipped because their finished row was in the table.
    failures : list of Failure
        Tasks that raised (their rows hold the message in the ``error`` column).
    """

    table: pd.DataFrame
    ran: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)


def _default_failed_row(spec: Mapping[str, Any], message: str, key_columns: Sequence[str]) -> dict[str, Any]:
    return {**{k: spec[k] for k in key_columns if k in spec}, ERROR_COLUMN: message}


def run_batch(
    task: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    specs: Sequence[Mapping[str, Any]],
    out: str | os.PathLike,
    *,
    key: Sequence[str] | Callable[[Mapping[str, Any]], tuple],
    executor: Any = None,
    is_done: Callable[[Mapping[str, Any]], bool] | None = None,
    failed_row: Callable[[Mapping[str, Any], str], Mapping[str, Any]] | None = None,
    arrange: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    resources: Mapping[str, float] | None = None,
    abort_on: tuple[type[BaseException], ...] = (),
    stop_on_error: bool = False,
    lock: str | os.PathLike | tuple | None = None,
    progress: bool = True,
    desc: str = "batch",
    what: str = "results table",
    label: Callable[[Mapping[str, Any]], str] | None = None,
    many: bool = False,
) -> BatchResult:
    """Run every spec whose row is not finished in ``out``; write each row as it arrives.

    Parameters
    ----------
    task : callable
        ``task(spec) -> row`` (a dict): a pure function of its small, picklable spec (a
        module-level function: it is pickled to worker processes).  The row holds the
        key columns (they are taken from the spec when missing) and never big objects.
    specs : sequence of dict
        The job, in its canonical order (the table's row order).
    out : path
        The CSV results table (created, resumed, rewritten atomically after every row).
    key : sequence of str or callable
        Columns identifying a spec's row, or ``key(spec_or_row) -> tuple``.
    executor : executor, str, callable or None
        Where tasks run (see :func:`~.executors.make_executor`; default: this process).
        A callable without ``map`` is a factory called (under the lock, only when some
        task is left) to make one.  Executors made here are closed at the end.
    is_done : callable, optional
        ``is_done(existing_row) -> bool``: whether a row read from ``out`` is finished
        (default: its ``error`` is empty).  Unfinished rows are run again.
    failed_row : callable, optional
        ``failed_row(spec, message) -> row`` for a task that raised (default: the key
        columns and ``error``).
    arrange : callable, optional
        ``arrange(table) -> table`` before every write (column order, derived columns).
    resources : dict, optional
        Dask resources every task needs, e.g. ``{"GPU": 1}``.
    abort_on : tuple of exception classes
        Errors that stop the whole job at once (re-raised, no row written), e.g. the
        memory guard's :class:`~topocore.errors.ResourceLimitError`.
    stop_on_error : bool
        Stop at the first failure and re-raise it (its row is not recorded: the table keeps finished rows only).
    lock : path, (folder, name) or False, optional
        What :func:`topocore.io.output_lock` locks (default: ``out``, lock file
        ``<out>.lock``): a second run on the same output fails at once with
        :class:`~topocore.errors.OutputLockedError` naming the lock file.  ``False``: the
        caller already holds the lock of a folder that contains ``out`` (a job that writes
        more files than the table, such as ``topometrics robustness``).
    progress : bool
        One tqdm bar: finished tasks, with ``failed`` and ``running`` counts.
    desc, what, label
        The bar's title, the table's name in messages, and ``label(spec)`` naming a
        failed task on stderr (default: its key values).
    many : bool
        A task returns a *group* of rows, ``{"rows": [row, ...]}`` (e.g. one robustness
        curve, a row per fraction), all under the spec's key; ``is_done`` then receives the
        key's list of rows (default: a non-empty list without error), and a failed task
        is one row (``failed_row``).

    Returns
    -------
    BatchResult
        The job's rows, and what ran, was skipped or failed.

    Notes
    -----
    Determinism: rows depend only on their specs (seeds travel in the specs) and are
    written in spec order, so the table is the same whichever executor and however many
    workers ran the tasks (apart from timing columns).  A task that raises becomes a row
    with its message in ``error`` and the others go on; re-running the job runs it again.
    An interrupted driver (Ctrl-C, SIGKILL) leaves the last complete table: re-running
    keeps the finished rows and runs the rest.
    """
    key_columns = list(key) if not callable(key) else []
    key_fn = key if callable(key) else (lambda row: tuple(row[k] for k in key_columns))
    is_done = is_done or (finished_group if many else _row_done)
    failed_row = failed_row or (lambda spec, message: _default_failed_row(spec, message, key_columns))
    label = label or (lambda spec: "/".join(str(v) for v in key_fn(spec)))
    out = Path(out)
    if lock is None or lock is False:
        lock_args: tuple = (out,)
        lock_kwargs: dict = {}
    elif isinstance(lock, tuple):
        lock_args, lock_kwargs = (lock[0],), {"name": lock[1]}
    else:
        lock_args, lock_kwargs = (lock,), {}

    created = _missing_folders(Path(lock_args[0]) if lock_kwargs else out.parent)
    existed = out.exists()
    lock_path = None
    held = nullcontext() if lock is False else output_lock(*lock_args, **lock_kwargs)  # False: the caller holds one
    try:
        with held as lock_path:
            return _run_locked(task, specs, out, key_columns, key_fn, executor, is_done, failed_row, arrange, resources,
                               abort_on, stop_on_error, progress, desc, what, label, many)
    finally:
        if not existed and not out.exists():  # nothing written (e.g. refused at once): leave no trace
            _remove_trace(lock_path, created)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its missing ancestors, deepest first (those the lock will create)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_trace(lock_path: Path | None, created: list[Path]) -> None:
    """Remove the lock file and the folders this run created, when it wrote nothing."""
    if lock_path is not None:
        try:
            lock_path.unlink()
        except FileNotFoundError:  # filelock removed it already
            pass
    for folder in created:
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else wrote there) or gone: keep it
            break


def _run_locked(task, specs, out, key_columns, key_fn, executor, is_done, failed_row, arrange, resources, abort_on,
                stop_on_error, progress, desc, what, label, many=False) -> BatchResult:
    from tqdm.auto import tqdm

    remove_stale_temporaries(out)
    table = ResultTable(out, key_fn, arrange, what=what, many=many).load()
    keys = [table.key(spec) for spec in specs]
    table.set_order(dict.fromkeys(keys))
    todo: list[tuple[int, Mapping[str, Any]]] = []
    seen: set = set()
    for i, (k, spec) in enumerate(zip(keys, specs)):
        if k in seen:
            continue
        seen.add(k)
        old = table.get(k)
        if old is None or not is_done(old):
            todo.append((i, spec))
    result = BatchResult(table=pd.DataFrame(), skipped=len(seen) - len(todo))
    if not todo:
        result.table = table.frame(keys)
        return result
    owned = executor is None or isinstance(executor, str) or (callable(executor) and not hasattr(executor, "map"))
    if executor is None or isinstance(executor, str):
        ex = make_executor(executor or "local")
    elif owned:
        ex = executor()  # a factory: the cluster starts only now, under the lock, when there is work
    else:
        ex = executor
    bar = tqdm(total=len(todo), desc=desc, unit="task", disable=not progress)
    remaining = len(todo)
    try:
        for index, outcome in ex.map(task, todo, resources=resources):
            spec = specs[index]
            remaining -= 1
            if many and "row" in outcome and not outcome["row"].get("rows"):
                outcome = {"error": f"the task of {label(spec)} returned no rows", "user_error": False}
            if "row" in outcome:
                ident = {k: spec[k] for k in key_columns if k in spec}
                if many:
                    rows = [{**ident, **r} for r in outcome["row"]["rows"]]
                    for row in rows:
                        row.setdefault(ERROR_COLUMN, "")
                    table.put(rows, key=keys[index])
                else:
                    row = {**ident, **outcome["row"]}
                    row.setdefault(ERROR_COLUMN, "")
                    table.put(row, merge=True, key=keys[index])
            else:
                exc = outcome.get("exception")
                if abort_on and isinstance(exc, abort_on):
                    raise exc
                failure = Failure(spec, outcome["error"], outcome.get("traceback", ""),
                                  outcome.get("user_error", False), exc)
                result.failures.append(failure)
                if stop_on_error:  # raised at once and reported once, by the caller; the table keeps finished rows only
                    if exc is not None:
                        raise exc
                    from topocore.errors import InputError

                    raise InputError(outcome["error"])
                bad = dict(failed_row(spec, outcome["error"]))
                table.put([bad] if many else bad, merge=False, key=keys[index])
                name = label(spec)
                text = outcome["error"] if name in outcome["error"] else f"{name}: {outcome['error']}"
                tqdm.write(f"{desc}: failed: {text}", file=sys.stderr)
            table.write()
            result.ran += 1
            bar.set_postfix(failed=result.failed, running=min(remaining, ex.workers))
            bar.update(1)
    finally:
        bar.close()
        if owned:
            ex.close()
    result.table = table.frame(keys)
    return result


def _row_done(row: Mapping[str, Any]) -> bool:
    """A finished row: its error cell is empty."""
    error = row.get(ERROR_COLUMN)
    return _is_nan(error) or not str(error or "").strip()


def finished_group(rows: Sequence[Mapping[str, Any]]) -> bool:
    """A finished group of rows: at least one, none with an error."""
    return bool(rows) and all(_row_done(r) for r in rows)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value
