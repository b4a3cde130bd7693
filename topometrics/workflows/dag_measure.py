"""Measure derived ``dagnet`` networks: the block graph's macro metrics and the MGE's 16 topometrics.

:func:`measure_model` measures one model with its derived block graph;
:func:`measure_checkpoints` (``topometrics dag measure``) does it for many checkpoints
into one resumable CSV table: one row per checkpoint, a failing checkpoint becomes a row
holding its ``error`` (and the run continues), rows already measured are skipped, and
the table is rewritten atomically after every checkpoint under an output lock.

Columns: ``checkpoint``, the run's metadata (``dataset``, ``input_shape``, ``seed``,
``gate``, ``penalty``, ``lambda``, accuracies), ``rule`` / ``tau`` / ``k`` of the
derivation and ``derived_here`` (True when the checkpoint had no recorded derived
topology and this command derived it), the macro metrics of
:mod:`topometrics.dag` with the node and edge counts per stage, ``sparsity`` (and per
stage), ``params_initial`` / ``params_derived``, the 16 MGE topometrics prefixed
``mge_`` (raw values) with ``mge_num_nodes`` / ``mge_num_edges`` and how ``motif4`` /
``n2`` were obtained (see :func:`measure_model`), ``seconds`` and ``error``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterable

from topocore.errors import InputError, TopometricsError

__all__ = ["measure_model", "measure_checkpoint", "measure_checkpoints", "load_dagnet_checkpoint", "sparsity_columns"]

_META_KEYS = ("dataset", "input_shape", "seed", "gate", "penalty", "lambda", "accuracy_trained",
              "accuracy_thresholded", "accuracy_retrained", "accuracy")


def sparsity_columns(model, graph) -> dict[str, float]:
    """``sparsity`` = 1 - kept / initial edges, overall and per stage (edges counted in their target's stage)."""
    out: dict[str, float] = {"initial_edges": len(model.edges)}
    out["sparsity"] = 1.0 - graph.number_of_edges() / max(len(model.edges), 1)
    for s in range(len(model.nodes)):
        initial = sum(1 for _, i in model.edges if model.stage_of[i] == s)
        kept = sum(1 for _, i in graph.edges if model.stage_of[i] == s)
        out[f"sparsity_stage{s}"] = 1.0 - kept / initial if initial else float("nan")
    return out


def measure_model(model, graph, input_shape, *, mge: bool = True, random_state: int | None = 0) -> dict[str, Any]:
    """Macro metrics of ``graph`` and (``mge=True``) the 16 topometrics of ``model``'s MGE.

    ``model`` is a ``dagnet`` whose removed edges are gated to exactly 0 (so its forward
    pass and its encoding hold the derived topology only); ``graph`` its derived block
    graph (:func:`pruners.connectivity.derive_topology`).  The MGE is measured by the
    toolkit's one measuring path, :func:`topometrics.workflows.measure.measure_network`
    (raw values), and its columns are prefixed ``mge_``: ``mge_num_nodes``,
    ``mge_num_edges``, ``mge_dense_num_edges``, ``mge_achieved_sparsity`` (of the encoded
    weights), ``mge_layer_sparsity_*``, the 16 metrics, and ``mge_motif4_method`` /
    ``mge_n2_method`` with their ``_stderr`` (``estimate`` only when the exact count
    cannot finish in reasonable time, so an estimate is always reported as one).
    """
    import topometrics
    from topometrics import dag

    from .inputs import Network
    from .measure import measure_network

    row: dict[str, Any] = dict(dag.compute(graph, graph.graph.get("input"), graph.graph.get("output"),
                                           random_state=random_state))
    row.update(sparsity_columns(model, graph))
    row["params_derived"] = int(model.live_parameter_count())
    if mge:
        values = measure_network(Network(model=model, input_shape=tuple(input_shape)),
                                 metrics=list(topometrics.PAPER_METRICS), normalized=False, random_state=random_state)
        row.update({f"mge_{k}": v for k, v in values.items()})
    return row


def load_dagnet_checkpoint(path: str | os.PathLike):
    """Load a checkpoint and check that it holds a ``dagnet``; raises ``TopometricsError`` subclasses."""
    from pruners import load_checkpoint

    p = Path(path)
    if not p.is_file():
        raise InputError(f"checkpoint {path} does not exist" if not p.exists() else f"{path} is not a file")
    ck = load_checkpoint(p)  # an unreadable file raises topocore's CheckpointError
    arch = ck.meta.get("arch")
    if arch != "dagnet":
        raise InputError(
            f"{path} holds a {arch!r} checkpoint; the dag commands need dagnet checkpoints (from `topometrics dag train`)"
        )
    return ck


def measure_checkpoint(path, *, rule: str | None = None, tau: float | None = None, k: int | None = None,
                       mge: bool = True, random_state: int | None = 0) -> dict[str, Any]:
    """One table row for a ``dagnet`` checkpoint (see the module docstring).

    With a recorded derived topology (``meta["derived_topology"]``, as ``derived.pt``
    from ``topometrics dag train`` has) and no ``rule``/``tau``/``k`` given, the recorded
    derivation is used; otherwise the gates are derived here with ``rule`` (default
    ``"threshold"`` at Janik & Nowak's ``tau = 0.006``) and applied to the loaded model.
    """
    from pruners.connectivity import derive_topology

    t0 = time.perf_counter()
    ck = load_dagnet_checkpoint(path)
    meta = ck.meta
    recorded = meta.get("derived_topology")
    if recorded and rule is None and tau is None and k is None:
        rule = recorded.get("rule", "threshold")
        tau, k = recorded.get("tau"), recorded.get("k")
        derived_here = False
    else:
        rule = rule or "threshold"
        derived_here = True
    graph = derive_topology(ck.model, rule, tau=tau, k=k, apply=True)
    row: dict[str, Any] = {"checkpoint": str(path)}
    for key in _META_KEYS:
        if key in meta:
            value = meta[key]
            row[key] = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value
    row.update(rule=graph.graph["rule"], tau=graph.graph.get("tau"), k=graph.graph.get("k"), derived_here=derived_here)
    row["params_initial"] = meta.get("params_initial")
    shape = tuple(meta["input_shape"])
    row.update(measure_model(ck.model, graph, shape, mge=mge, random_state=random_state))
    row["seconds"] = round(time.perf_counter() - t0, 3)
    row["error"] = ""
    return row


def _key(path) -> str:
    return os.path.realpath(os.fspath(path))


def _read_table(out: Path):
    import pandas as pd

    if not out.exists() or out.stat().st_size == 0:
        return []
    try:
        table = pd.read_csv(out, keep_default_na=True)
    except Exception as exc:  # pandas raises several parser error types
        raise InputError(f"{out} exists but is not a readable CSV ({exc}); move it away or choose another --out") from None
    if len(table) and "checkpoint" not in table.columns:
        raise InputError(f"{out} has no 'checkpoint' column: it was not written by `topometrics dag measure`")
    return table.to_dict("records")


def measure_checkpoints(
    paths: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    rule: str | None = None,
    tau: float | None = None,
    k: int | None = None,
    mge: bool = True,
    random_state: int | None = 0,
    summary: str | os.PathLike | None = None,
    progress: bool = True,
    on_error=None,
) -> tuple[list[dict[str, Any]], int]:
    """Measure ``paths`` into the CSV ``out`` (resumable); return ``(rows, number of failures)``.

    Every path is checked first (it exists and is a ``dagnet`` checkpoint, the output is
    writable): a failure there raises before anything is written.  A checkpoint that
    then fails to measure becomes a row with its ``error`` message.  ``summary``, when
    given, receives the Table-2 style Markdown summary of all successful rows
    (:func:`~topometrics.workflows.dag_report.summary_table`).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from pruners.connectivity import check_rule
    from topocore.io import atomic_write_csv, atomic_write_text, check_writable, output_lock

    from .dag_report import summary_markdown, summary_table

    paths = [str(p) for p in paths]
    if not paths:
        raise InputError("no checkpoint given")
    if rule is not None or tau is not None or k is not None:
        check_rule(rule or "threshold", tau, k)
    out = Path(out)
    check_writable(out, what="output table")
    if summary is not None:
        check_writable(summary, what="summary file")
    for p in paths:  # every input is checked before anything is written
        load_dagnet_checkpoint(p)
    with output_lock(out):
        rows = _read_table(out)
        index = {_key(r["checkpoint"]): i for i, r in enumerate(rows)}
        todo = [p for p in paths if _key(p) not in index or str(rows[index[_key(p)]].get("error") or "") not in ("", "nan")]
        failures = 0
        for p in tqdm(todo, desc="dag measure", unit="ckpt", disable=not progress):
            try:
                row = measure_checkpoint(p, rule=rule, tau=tau, k=k, mge=mge, random_state=random_state)
            except TopometricsError as exc:
                failures += 1
                row = {"checkpoint": p, "error": str(exc)}
                if on_error is not None:
                    on_error(p, exc)
            key = _key(p)
            if key in index:
                rows[index[key]] = row
            else:
                index[key] = len(rows)
                rows.append(row)
            atomic_write_csv(out, pd.DataFrame(rows))
        if summary is not None:
            atomic_write_text(summary, summary_markdown(summary_table(rows)))
    return rows, failures

