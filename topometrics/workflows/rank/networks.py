"""The rank job's networks: prune, measure, and keep them in a resumable table.

One network = one zoo model (or model spec) pruned at initialization
(:func:`pruners.pipeline.prune_model`) and measured by the workflows' one measuring
path (:func:`topometrics.workflows.measure.measure_network`: the 16 raw topometrics
and the four rolled baselines, ``rolled="baselines"``).  :func:`run_tasks` runs the
tasks inline or in joblib's loky worker processes and rewrites the table after every
finished network (:func:`topocore.io.atomic_write_csv`), so an interruption loses
nothing finished.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from analysis.names import UNROLLED_FEATURES
from topocore.errors import InputError
from topocore.io import atomic_write_csv
from topocore.names import canonical_dataset

from ..inputs import Network, load_network
from ..measure import measure_network
from .config import KEY

__all__ = ["measure", "network_task", "networks_from_checkpoints", "normalized_features", "read_done", "run_tasks"]

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


def networks_from_checkpoints(
    paths: Iterable[str | os.PathLike],
    *,
    progress: bool = True,
    trusted: bool | str | Iterable[str] = (),
    n_threads: int | None = None,
) -> pd.DataFrame:
    """Describe the user's own pruned checkpoints (written by ``pruners.save_checkpoint``).

    One row per checkpoint: its metadata (``arch, dataset, method, sparsity, seed``,
    ``scoring``, ``num_classes``, ``accuracy`` when trained), ``checkpoint`` (the path)
    and the measurement columns of :func:`measure`.  ``trusted``: model specs the
    checkpoints may name (see :func:`pruners.load_checkpoint`).
    """
    from tqdm.auto import tqdm

    from pruners.models import canonical_model

    rows = []
    for path in tqdm(list(paths), desc="checkpoints", unit="net", disable=not progress):
        net = load_network(path, trusted=trusted)
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
            "checkpoint": str(path),
        }
        row.update(measure(net.model, net.masks, net.input_shape, random_state=row["seed"], n_threads=n_threads))
        rows.append(row)
    return pd.DataFrame(rows)


def normalized_features(networks: pd.DataFrame, features: Sequence[str] = UNROLLED_FEATURES) -> pd.DataFrame:
    """The paper's size-normalised topometrics of a networks table (raw columns + num_nodes/num_edges)."""
    import topometrics

    missing = [c for c in (*features, "num_nodes", "num_edges") if c not in networks.columns]
    if missing:
        raise InputError(f"the networks table lacks columns {missing}; measure the networks with the rank job")
    return topometrics.normalize(networks[list(features)], networks["num_nodes"], networks["num_edges"])


def read_done(path: str | os.PathLike | None) -> pd.DataFrame:
    """Finished networks of an earlier run (an empty table when ``path`` is None or absent)."""
    if path is None or not Path(path).exists():
        return pd.DataFrame()
    done = pd.read_csv(path, float_precision="round_trip")  # re-read exactly as written
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
) -> pd.DataFrame:
    """Rows of every spec: those already in ``path`` are kept, the others computed (resumable).

    After every finished network the whole table is rewritten atomically.  Returns the
    rows of ``specs`` sorted by :data:`~.config.KEY`.
    """
    from tqdm.auto import tqdm

    task = task or network_task
    done = read_done(path)
    have = {tuple(r) for r in done[list(KEY)].itertuples(index=False)} if len(done) else set()
    todo = [sp for sp in specs if tuple(sp[k] for k in KEY) not in have]
    rows = done.to_dict("records") if len(done) else []
    bar = tqdm(total=len(todo), desc=desc, unit="net", disable=not progress or not todo)

    def finish(row: dict) -> None:
        rows.append(row)
        if path is not None:
            atomic_write_csv(Path(path), pd.DataFrame(rows))
        bar.set_postfix_str(f"{row['dataset']} {row['method']} {row['sparsity']:g}")
        bar.update(1)

    try:
        if n_jobs == 1:
            for sp in todo:
                finish(task(sp))
        else:
            # joblib's loky workers are fresh interpreters (no fork of a process holding
            # numba/torch thread pools) that, unlike multiprocessing's spawn, do not
            # re-run the caller's script: a plain script without an
            # ``if __name__ == "__main__":`` guard works.
            from joblib import Parallel, delayed

            parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
            for row in parallel(delayed(task)(sp) for sp in todo):
                finish(row)
    finally:
        bar.close()
    table = pd.DataFrame(rows)
    wanted = {tuple(sp[k] for k in KEY) for sp in specs}
    table = table[[tuple(r) in wanted for r in table[list(KEY)].itertuples(index=False)]]
    return table.sort_values(list(KEY)).reset_index(drop=True)
