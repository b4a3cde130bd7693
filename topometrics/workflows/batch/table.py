"""The resumable results table of a batch job: one row (or one group of rows) per task key, rewritten atomically.

The table lives in memory as ``{key: row}`` and is written as a whole after every finished
task with :func:`topocore.io.atomic_write_csv` (unique temporary file in the same folder,
flush, ``fsync``, :func:`os.replace`): a reader, or a run killed at any instant, sees the
previous table or the new one, never a half-written row.  Rows are always written in a
canonical order (rows already in the file where they were, then the job's new rows in the
order of its specs) so that the file does not depend on the order in which tasks
finished, that is, on the executor and the number of workers.

Re-reading uses ``float_precision="round_trip"``: every float written by pandas is read
back bit for bit, so a resumed table is identical to an uninterrupted one.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping

import pandas as pd

from topocore.errors import InputError
from topocore.io import atomic_write_csv

__all__ = ["ResultTable", "read_table", "normalize_key", "ERROR_COLUMN"]

#: Column holding the error message of a failed task ("" when the task succeeded).
ERROR_COLUMN = "error"


def _norm(value: Any) -> Hashable:
    """A table cell as a key part: numbers compare as floats rounded to 10 digits, the rest as strings."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Number):
        f = float(value)
        return None if math.isnan(f) else round(f, 10)
    return str(value)


def normalize_key(values: Iterable[Any]) -> tuple:
    """The hashable key of a row's key values (``0``, ``0.0`` and ``"0"`` read back from a CSV agree)."""
    return tuple(_norm(v) for v in values)


def read_table(path: str | os.PathLike, *, what: str = "results table") -> pd.DataFrame:
    """Read a results table written by the batch layer (empty DataFrame when absent or empty).

    Floats are parsed with ``float_precision="round_trip"`` (bit-exact); the error
    column's empty cells are ``""``.  An unreadable file raises
    :class:`~topocore.errors.InputError` naming it.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    if path.is_dir():
        raise InputError(f"the {what} {path} is a directory; give a file name")
    try:
        table = pd.read_csv(path, float_precision="round_trip")
    except Exception as exc:  # pandas raises several parser errors; all mean "not a readable CSV"
        msg = " ".join(str(exc).split())
        raise InputError(f"the {what} {path} is not a readable CSV ({msg}); move it away or choose another output") from None
    if ERROR_COLUMN in table.columns:
        table[ERROR_COLUMN] = table[ERROR_COLUMN].fillna("").astype(str)
    return table


class ResultTable:
    """Rows keyed by a job's key, kept in canonical order and written atomically.

    Parameters
    ----------
    path : path-like
        The CSV file.
    key : callable
        ``key(row_or_spec) -> tuple`` of the identifying values (normalised with
        :func:`normalize_key`).
    arrange : callable, optional
        ``arrange(DataFrame) -> DataFrame`` applied before every write (column order,
        derived columns such as a grid's dense accuracies).
    many : bool
        A task's result is a *group* of rows sharing its key (e.g. one robustness curve:
        a row per fraction); :meth:`get` returns the list and :meth:`put` replaces it.
    """

    def __init__(self, path: str | os.PathLike, key: Callable[[Mapping[str, Any]], tuple],
                 arrange: Callable[[pd.DataFrame], pd.DataFrame] | None = None, *, what: str = "results table",
                 many: bool = False):
        self.path = Path(path)
        self._key = key
        self.arrange = arrange
        self.what = what
        self.many = many
        self.rows: dict[tuple, Any] = {}
        self.order: dict[tuple, int] = {}

    def key(self, row: Mapping[str, Any]) -> tuple:
        try:
            return normalize_key(self._key(row))
        except KeyError as exc:
            raise InputError(
                f"the {self.what} {self.path} lacks the column {exc.args[0]!r}: it was not written by this command; "
                "choose another output"
            ) from None

    def load(self) -> "ResultTable":
        """Read the rows already on disk (later duplicates of a key replace earlier ones; grouped when ``many``)."""
        table = read_table(self.path, what=self.what)
        for rec in table.to_dict("records") if len(table) else []:
            if self.many:
                self.rows.setdefault(self.key(rec), []).append(rec)
            else:
                self.rows[self.key(rec)] = rec
        return self

    def set_order(self, keys: Iterable[tuple]) -> None:
        """The row order: rows already in the file where they are, then the job's new keys in spec order."""
        self.order = {k: i for i, k in enumerate(self.rows)}
        for k in keys:
            self.order.setdefault(k, len(self.order))

    def get(self, key: tuple) -> Any:
        """The row of ``key`` (``many``: its list of rows), or ``None``."""
        return self.rows.get(key)

    def put(self, row: Any, *, merge: bool = True, key: tuple | None = None) -> None:
        """Store ``row`` under ``key`` (default: its own); ``merge`` keeps the old row's other columns.

        With ``many``, ``row`` is the task's list of rows and replaces the key's old group.
        """
        if self.many:
            rows = [dict(r) for r in row]
            self.rows[self.key(rows[0]) if key is None else key] = rows
            return
        k = self.key(row) if key is None else key
        old = self.rows.get(k)
        self.rows[k] = {**old, **row} if (merge and old is not None) else dict(row)

    def frame(self, keys: Iterable[tuple] | None = None) -> pd.DataFrame:
        """The table (or the rows of ``keys``) in canonical order, arranged."""
        wanted = None if keys is None else set(keys)
        ordered = sorted(self.rows, key=lambda k: self.order.get(k, len(self.order)))
        ordered = [k for k in ordered if wanted is None or k in wanted]
        if self.many:
            df = pd.DataFrame([r for k in ordered for r in self.rows[k]])
        else:
            df = pd.DataFrame([self.rows[k] for k in ordered])
        if self.arrange is not None and len(df):
            df = self.arrange(df)
        return df.reset_index(drop=True)

    def write(self) -> pd.DataFrame:
        """Rewrite the file atomically with every row; returns the written table."""
        df = self.frame()
        atomic_write_csv(self.path, df)
        return df


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files that a writer of ``path`` killed mid-write left behind.

    :func:`topocore.io.atomic_write` names them ``.<name>.<random>.tmp`` next to the file;
    call this only while holding the output's lock (no other writer can be using one).
    """
    path = Path(path)
    removed = []
    if path.parent.is_dir():
        for tmp in path.parent.glob(f".{path.name}.*.tmp"):
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:  # removed meanwhile: nothing left to clean
                pass
    return removed
