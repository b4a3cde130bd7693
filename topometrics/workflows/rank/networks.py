"""The rank job's networks: prune, measure, and keep them in a resumable table.

One network = one zoo model (or model spec) pruned at initialization
(:func:`pruners.pipeline.prune_model`) and measured by the workflows' one measuring
path (:func:`topometrics.workflows.measure.measure_network`: the 16 raw topometrics
and the four rolled baselines, ``rolled="baselines"``).  :func:`run_tasks` runs the
tasks inline, in joblib's loky worker processes or on dask, and rewrites the table after every
finished network (:func:`topocore.io.atomic_write_csv`), so an interruption loses
nothing finished; through the batch layer (:mod:`topometrics.workflows.batch`) the
tasks also run on a dask cluster.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from analysis.names import UNROLLED_FEATURES
from topocore.errors import InputError
from topocore.names import canonical_dataset

from ..inputs import Network, load_network
from ..measure import measure_network
from .config import KEY

__all__ = ["measure", "network_task", "checkpoint_task", "networks_from_checkpoints", "normalized_features", "read_done", "run_tasks"]

_SCORING_CACHE: dict[tuple, Any] = {}


def measure(model, masks, input_shape: Sequence[int], *, random_state: int = 0, n_threads: int | None = None) -> dict:
    """The measurement columns of one pruned network: sizes, the 16 raw topometrics, the rolled baselines."""
    net = Network(model=model, masks=masks, input_shape=tuple(int(s) for s in input_shape))
    return measure_network(
        net, metrics=list(UNROLLED_FEATURES), normalized=False, rolled="baselines", random_state=random_state,
        n_threads=n_threads,
    )


def scoring_data(dataset: str | None, data_root: str | None, input_shape: tuple[int, ...]):
    """Scoring data for data-dependent methods (cached per process)."""
    from pruners.data import get_dataset

    key = (dataset, data_root, input_shape)
    if key not in _SCORING_CACHE:
        if data_root is None:
            _SCORING_CACHE[key] = get_dataset("digits", None, "train", augment=False, input_shape=input_shape)
        else:
            _SCORING_CACHE[key] = get_dataset(dataset, data_root, "train", augment=False)
    return _SCORING_CACHE[key]


def network_task(spec: dict) -> dict:
    """Prune, encode and describe one network (runs in a worker process or inline)."""
    from pruners.pipeline import prune_model
    from topocore.parallel import limit_worker_threads

    from .._worker import release_memory

    limit_worker_threads(spec["n_threads"])
    shape = tuple(spec["input_shape"])
    data = scoring_data(spec["scoring_dataset"], spec["data_root"], shape)
    t0 = time.perf_counter()
    model, masks, _ = prune_model(
        spec["arch"],
        spec["method"],
        spec["sparsity"],
        num_classes=spec["num_classes"],
        input_shape=shape,
        random_state=spec["seed"],
        data=data,
        progress=False,
    )
    t1 = time.perf_counter()
    row = {k: spec[k] for k in KEY}
    row["num_classes"] = spec["num_classes"]
    row.update(measure(model, masks, shape, random_state=spec["seed"], n_threads=spec["n_threads"]))
    row["prune_seconds"] = round(t1 - t0, 3)
    row["metrics_seconds"] = round(time.perf_counter() - t1, 3)
    del model, masks
    release_memory()
    return row


def _file_digest(path: str | os.PathLike) -> str:
    """BLAKE2b digest (16 hex digits) of a file's bytes: a changed checkpoint is measured again."""
    import hashlib

    digest = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "blake2b:" + digest.hexdigest()  # never all digits: the CSV reads it back as text


def checkpoint_task(spec: dict) -> dict:
    """Batch task: load and describe one of the user's checkpoints (its metadata and :func:`measure` columns)."""
    from pruners.models import canonical_model

    net = load_network(spec["checkpoint"], trusted=spec["trusted"])
    meta = net.meta
    row = {
        "arch": canonical_model(meta["arch"]),
        "dataset": canonical_dataset(meta["dataset"]) if meta.get("dataset") else "unknown",
        "method": str(meta.get("method") or "unknown"),
        "sparsity": round(float(meta.get("sparsity") or 0.0), 6),
        "seed": int(meta.get("seed") or 0),
        "scoring": str(meta.get("dataset") or "unknown"),
        "num_classes": int(meta["num_classes"]),
        "accuracy": meta.get("accuracy"),
        "checkpoint": spec["checkpoint"],
        "checkpoint_digest": spec["checkpoint_digest"],
    }
    row.update(measure(net.model, net.masks, net.input_shape, random_state=row["seed"], n_threads=spec.get("n_threads")))
    return row


def networks_from_checkpoints(
    paths: Iterable[str | os.PathLike],
    *,
    progress: bool = True,
    trusted: bool | str | Iterable[str] = (),
    n_threads: int | None = None,
    n_jobs: int | None = 1,
    executor: Any = None,
    table: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Describe the user's own pruned checkpoints (written by ``pruners.save_checkpoint``).

    One row per checkpoint, in the order given: its metadata (``arch, dataset, method,
    sparsity, seed``, ``scoring``, ``num_classes``, ``accuracy`` when trained),
    ``checkpoint`` (the path), ``checkpoint_digest`` (of its bytes) and the measurement
    columns of :func:`measure`.  The checkpoints are tasks of the batch layer (this
    process, ``n_jobs`` local worker processes, or ``executor``); with ``table`` (a CSV
    path) the rows are kept there and a rerun measures only new or changed files.
    ``trusted``: model specs the checkpoints may name (see :func:`pruners.load_checkpoint`).
    """
    from topocore.parallel import resolve_n_jobs

    specs = [{"checkpoint": str(p), "checkpoint_digest": _file_digest(p), "trusted": trusted, "n_threads": n_threads}
             for p in paths]
    return run_tasks(specs, table, n_jobs=resolve_n_jobs(n_jobs, default=1), progress=progress, desc="checkpoints",
                     task=checkpoint_task, executor=executor, n_threads=n_threads,
                     key=("checkpoint", "checkpoint_digest"), label=lambda sp: sp["checkpoint"], sort=False)


def normalized_features(networks: pd.DataFrame, features: Sequence[str] = UNROLLED_FEATURES) -> pd.DataFrame:
    """The paper's size-normalised topometrics of a networks table (raw columns + num_nodes/num_edges)."""
    import topometrics

    missing = [c for c in (*features, "num_nodes", "num_edges") if c not in networks.columns]
    if missing:
        raise InputError(f"the networks table lacks columns {missing}; measure the networks with the rank job")
    return topometrics.normalize(networks[list(features)], networks["num_nodes"], networks["num_edges"])


def read_done(path: str | os.PathLike | None) -> pd.DataFrame:
    """Finished networks of an earlier run (an empty table when ``path`` is None or absent)."""
    from ..batch import read_table

    if path is None or not Path(path).exists():
        return pd.DataFrame()
    done = read_table(path, what="networks table")
    missing = [c for c in KEY if c not in done.columns]
    if missing:
        raise InputError(f"{path} is not a networks table of this job (lacks {missing}); choose another --out")
    done["sparsity"] = done["sparsity"].astype(float).round(6)
    return done


def run_tasks(
    specs: Sequence[dict],
    path: str | os.PathLike | None,
    *,
    n_jobs: int,
    progress: bool,
    desc: str,
    task: Callable[[dict], dict] | None = None,
    executor: Any = None,
    n_threads: int | None = None,
    key: Sequence[str] = KEY,
    label: Callable[[dict], str] | None = None,
    sort: bool = True,
) -> pd.DataFrame:
    """Rows of every spec: those already in ``path`` are kept, the others computed (resumable).

    The batch layer (:func:`topometrics.workflows.batch.run_batch`) runs the tasks (in
    this process, ``n_jobs`` local worker processes, or ``executor``: a dask executor or
    a factory of one) and rewrites the table atomically after every finished network.  A
    network that fails is recorded with its error and the job stops after the others
    finished, raising the first failure (a re-run retries it).  Returns the rows of
    ``specs`` sorted by ``key`` (default :data:`~.config.KEY`; ``sort=False``: in spec order).
    """
    import tempfile

    from ..batch import LocalExecutor, run_batch

    task = task or network_task
    if executor is None:
        executor = LocalExecutor(n_jobs, n_threads=n_threads)
    with tempfile.TemporaryDirectory(prefix="topometrics-rank-") as tmp:
        table_path = Path(path) if path is not None else Path(tmp) / "networks.csv"
        if table_path.exists() and tuple(key) == tuple(KEY):
            read_done(table_path)  # a foreign table fails here, naming the missing key columns
        result = run_batch(
            task, specs, table_path, key=list(key), executor=executor, progress=progress, desc=desc,
            what="networks table",
            label=label or (lambda sp: f"{sp['dataset']} {sp['arch']} {sp['method']} {sp['sparsity']:g}"),
        )
    if result.failures:
        first = result.failures[0]
        if first.exception is not None:
            raise first.exception
        raise RuntimeError(f"{len(result.failures)} network(s) failed; the first: {first.message}\n{first.traceback}")
    table = result.table
    if "error" in table.columns and not table["error"].astype(str).str.strip().astype(bool).any():
        table = table.drop(columns="error")
    table["sparsity"] = table["sparsity"].astype(float).round(6)
    if sort:
        return table.sort_values(list(key)).reset_index(drop=True)
    from ..batch import normalize_key

    position = {normalize_key(spec[k] for k in key): i for i, spec in enumerate(specs)}
    rank = [position[normalize_key(values)] for values in table[list(key)].itertuples(index=False, name=None)]
    return table.iloc[sorted(range(len(table)), key=rank.__getitem__)].reset_index(drop=True)
