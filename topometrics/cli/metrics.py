"""``topometrics metrics``: the topometrics of many checkpoints, one CSV row each, resumable.

Inputs (positional, any mix):

* checkpoints written by :func:`pruners.save_checkpoint` / ``topometrics prune``
  (their metadata give the architecture, input shape and the row's columns);
* graphs saved by :meth:`encoders.MultipartiteGraph.save` (``.npz``);
* plain ``torch.save``-d state dicts of a zoo model (``--arch`` needed), optionally
  ``{"state_dict": ..., "masks": ...}`` or with ``*_orig`` / ``*_mask`` entries of
  :mod:`torch.nn.utils.prune`.

Each row holds ``checkpoint`` (the path as given), the checkpoint's metadata
(``arch, dataset, method, sparsity, seed, accuracy, dense_accuracy, num_classes, ...``
when present), ``num_nodes``, ``num_edges``, ``dense_num_edges`` and one column per
metric (raw values, see :func:`topometrics.compute`; normalise them with
:func:`topometrics.normalize`), ``motif4_method`` / ``motif4_stderr`` and
``n2_method`` / ``n2_stderr`` (``exact`` and 0, or ``estimate`` and the standard error
of the sampled estimate), then ``conventions`` (``--conventions``: ours or the
published data's, :mod:`topometrics.conventions`; one table holds one of them) and
``metrics_seconds``.

Exact or estimated: by default every metric is exact unless the exact count of
``motif4`` or ``n2`` cannot finish in reasonable time (predicted work above
:data:`topometrics.cost.MAX_EXACT_WORK`); then it is estimated from a node sample
and the ``*_method`` column says so.  ``--inexact`` estimates both, ``--exact`` never
estimates.

Memory guard: before encoding, the node and edge counts (:func:`encoders.graph_size`,
closed form) give the peak memory of the encoding and of the selected metrics
(:func:`topometrics.cost.memory_estimate`).  When it exceeds ``--memory-limit``
(default: the memory available now) the command stops at once with exit status 2,
writes nothing for that input, and says what would fit.

``effective_sparsity`` needs the edge count of the dense network's MGE: for inputs
with a model it is computed once per architecture by encoding the dense model
(:func:`topometrics.dense_num_edges`; skip it with ``--no-dense-count``); a saved
graph carries it only if its ``meta["dense_num_edges"]`` is set, else the column is
NaN for that row.

Resumable: rows already in the output file for the same checkpoint (same resolved
path) and holding every requested metric column are skipped.  After each
checkpoint the whole table is written to a temporary file that replaces the output
(``os.replace``), so an interrupted run never leaves a partial row.
"""

from __future__ import annotations

import argparse

from ._common import check_memory, load_state_dict_model, parse_bytes, parse_shape

#: Metadata keys written first, in this order, when present.
META_ORDER = (
    "arch", "dataset", "method", "sparsity", "achieved_sparsity", "seed", "accuracy", "dense_accuracy",
    "num_classes", "input_shape", "model_kwargs",
)
_SKIP_META = {"training_state", "format", "format_version"}


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "metrics",
        help="compute the topometrics of checkpoints into a CSV table (resumable)",
        description=(
            "Encode every checkpoint as an unrolled multipartite graph and compute its topometrics "
            "(the paper's 16 plus log_paths, effective_sparsity, effective_nodes): one CSV row per "
            "checkpoint, raw values, resumable."
        ),
    )
    parser.add_argument(
        "checkpoints", nargs="+", metavar="CHECKPOINT",
        help="pruners checkpoints, saved MultipartiteGraph .npz files, or state dicts of --arch",
    )
    parser.add_argument("-o", "--out", required=True, metavar="RESULTS.csv", help="output table (appended to / resumed)")
    parser.add_argument("--arch", help="zoo model of plain state dicts (checkpoints carry their own)")
    parser.add_argument(
        "--input-shape", type=parse_shape, metavar="C,H,W",
        help="input shape without batch (default: the checkpoint's metadata, else 3,32,32)",
    )
    parser.add_argument("--num-classes", type=int, help="classifier outputs of --arch for state dicts (default 10)")
    parser.add_argument("--shortcut", choices=("A", "B"), help="ResNet shortcut option of --arch for state dicts")
    parser.add_argument(
        "--metrics", metavar="M1,M2",
        help="comma-separated metric names such as sink,n2,motif4 (default: the 16 and the 3 extras; "
        "an unknown name prints the list)",
    )
    exactness = parser.add_mutually_exclusive_group()
    exactness.add_argument(
        "--inexact", action="store_true",
        help="estimate motif4 and n2 from node samples (--motif-sample, --n2-sample) instead of counting them exactly",
    )
    exactness.add_argument(
        "--exact", action="store_true",
        help="count motif4 and n2 exactly even when the predicted work says it cannot finish in reasonable time "
        "(default: estimate them then, reported in the *_method columns)",
    )
    parser.add_argument("--motif-sample", type=float, default=0.001, help="node fraction (<= 1) or count of the motif4 estimate (default 0.001)")
    parser.add_argument("--n2-sample", type=float, default=0.01, help="node fraction (<= 1) or count of the n2 estimate (default 0.01)")
    parser.add_argument(
        "--memory-limit", type=parse_bytes, metavar="SIZE",
        help="refuse inputs whose estimated peak memory exceeds SIZE, e.g. 12G (default: the memory available now)",
    )
    parser.add_argument("--no-dense-count", dest="dense_count", action="store_false",
                        help="skip the dense encoding that effective_sparsity needs (it is then NaN)")
    parser.add_argument(
        "--conventions", choices=("ours", "published"), default="ours",
        help="published: values on the scale of the authors' published tables (padding nodes of the first layer, "
        "n1/n2 count the node itself, strength in+out, float16 weights; see topometrics.conventions); "
        "saved graphs must then be encoded with --conventions published. Default ours",
    )
    parser.add_argument("--n-jobs", type=int, default=None, help="threads for the metric kernels (default: numba's setting)")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the spectral start vector and motif sample")
    parser.add_argument("--stop-on-error", action="store_true", help="stop at the first failing checkpoint")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


# ---------------------------------------------------------------------------------- loading
def _plain(value):
    """A CSV-friendly value (lists/tuples as comma-joined strings, dicts as JSON)."""
    import json

    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _load(path, args):
    """(graph or None, model or None, masks, meta, input_shape) for one input file."""
    from pathlib import Path

    from . import CLIError

    p = Path(path)
    if not p.is_file():
        raise CLIError(f"{path} does not exist")
    if p.suffix == ".npz":
        from encoders import MultipartiteGraph

        try:
            graph = MultipartiteGraph.load(p)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        shape = graph.meta.get("input_shape")
        return graph, None, None, dict(graph.meta), tuple(shape) if shape else None
    from pruners import CheckpointError, load_checkpoint

    try:
        ck = load_checkpoint(p)
    except CheckpointError as exc:
        if "not a pruners checkpoint" not in str(exc):
            raise CLIError(str(exc)) from None
    else:
        meta = dict(ck.meta)
        shape = tuple(args.input_shape or meta.get("input_shape") or (3, 32, 32))
        return None, ck.model, ck.masks, meta, shape
    shape = tuple(args.input_shape or (3, 32, 32))
    model, masks, meta = load_state_dict_model(p, args, shape, accepted="not a pruners checkpoint, a saved graph or a torch state dict")
    return None, model, masks, meta, shape


# ------------------------------------------------------------------------------- the table
def _key(path) -> str:
    import os

    return os.path.realpath(os.fspath(path))


def _read_table(out):
    import pandas as pd

    from . import CLIError

    if not out.exists() or out.stat().st_size == 0:
        return pd.DataFrame()
    try:
        table = pd.read_csv(out)
    except Exception as exc:  # pandas raises several parser errors
        raise CLIError(f"{out} exists but is not a readable CSV ({exc}); move it away or pick another -o") from None
    if len(table) and "checkpoint" not in table.columns:
        raise CLIError(f"{out} has no 'checkpoint' column: it was not written by `topometrics metrics`")
    return table


def _write_table(table, out) -> None:
    import os

    out.parent.mkdir(parents=True, exist_ok=True)  # first write only: a refused run leaves no trace
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        table.to_csv(tmp, index=False)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def _columns(rows, metric_names) -> list[str]:
    fixed = ["checkpoint"]
    meta = [k for k in META_ORDER if any(k in r for r in rows)]
    methods = [f"{m}_{k}" for m in ("motif4", "n2") if m in metric_names for k in ("method", "stderr")]
    tail = ["num_nodes", "num_edges", "dense_num_edges", *metric_names, *methods, "conventions", "metrics_seconds"]
    others = sorted({k for r in rows for k in r} - set(fixed) - set(meta) - set(tail) - set(metric_names))
    known = [*fixed, *meta, *others, *tail]
    extra = [k for r in rows for k in r if k not in known]  # metric columns of earlier runs
    return known + list(dict.fromkeys(extra))


# --------------------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    import sys
    import warnings
    from pathlib import Path

    import pandas as pd

    from topometrics.paths import MissingDenseCountWarning
    from topometrics.registry import DEFAULT_METRICS, resolve_metrics

    from . import CLIError

    try:
        names = resolve_metrics(args.metrics) if args.metrics else list(DEFAULT_METRICS)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    for flag, value in (("--motif-sample", args.motif_sample), ("--n2-sample", args.n2_sample)):
        if value <= 0:
            raise CLIError(f"{flag} must be positive, got {value}")
    sample = args.motif_sample if args.motif_sample <= 1 else int(args.motif_sample)
    out = Path(args.out)
    table = _read_table(out)
    if len(table):
        held = set(table["conventions"].dropna().astype(str)) if "conventions" in table.columns else {"ours"}
        if held != {args.conventions}:
            raise CLIError(
                f"{out} holds rows in conventions {sorted(held)}, not {args.conventions!r}; write to another -o "
                "(values of different conventions are on different scales)"
            )
    rows = table.to_dict("records") if len(table) else []
    done = {}
    for i, r in enumerate(rows):
        done[_key(r["checkpoint"])] = i
    have_all = all(m in table.columns for m in names) if len(table) else False

    todo = []
    for path in args.checkpoints:
        if _key(path) in done and have_all:
            continue
        todo.append(path)
    skipped = len(args.checkpoints) - len(todo)
    if skipped and not args.quiet:
        print(f"skipping {skipped} checkpoint(s) already in {out}", file=sys.stderr)

    from tqdm.auto import tqdm

    dense_cache: dict = {}
    failures = 0
    bar = tqdm(todo, desc="metrics", unit="ckpt", disable=args.quiet)
    for path in bar:
        bar.set_postfix_str(Path(path).name[-40:])
        try:
            row = _measure(path, args, names, sample, dense_cache, MissingDenseCountWarning, warnings)
        except _MemoryRefusal as exc:
            bar.close()
            raise CLIError(str(exc)) from None
        except CLIError as exc:
            failures += 1
            tqdm.write(f"topometrics metrics: {path}: {exc}", file=sys.stderr)
            if args.stop_on_error:
                raise
            continue
        key = _key(path)
        if key in done:
            merged = dict(rows[done[key]])
            merged.update(row)
            rows[done[key]] = merged
        else:
            done[key] = len(rows)
            rows.append(row)
        frame = pd.DataFrame(rows)
        frame = frame[_columns(rows, names)]
        _write_table(frame, out)
    bar.close()
    if not args.quiet:
        print(f"{len(todo) - failures} checkpoint(s) measured, {failures} failed; table: {out}", file=sys.stderr)
    return 1 if failures else 0


class _MemoryRefusal(Exception):
    """An input whose estimated peak memory exceeds the limit: stop the whole command (exit 2)."""


def _measure(path, args, names, sample, dense_cache, warning_cls, warnings) -> dict:
    """Encode one input and compute its metrics; returns the CSV row."""
    import time

    from topocore.errors import InputError
    from topometrics.computation import compute
    from topometrics.paths import dense_num_edges

    from . import CLIError

    graph, model, masks, meta, shape = _load(path, args)
    pad_nodes = args.conventions == "published"
    if graph is None:
        from encoders import EncodingError, MaskError, encode, graph_size

        try:
            nodes, edges = graph_size(model, shape, masks, pad_nodes=pad_nodes)
        except (EncodingError, MaskError) as exc:
            raise CLIError(str(exc)) from None
    else:
        nodes, edges = graph.num_nodes, graph.num_edges
    try:
        sp = meta.get("sparsity")
        check_memory(str(path), nodes, edges, names, args.memory_limit, args.n_jobs,
                     float(sp) if isinstance(sp, (int, float)) else None)
    except CLIError as exc:
        raise _MemoryRefusal(str(exc)) from None
    if graph is None:
        try:
            graph = encode(model, shape, masks, pad_nodes=pad_nodes)
        except (EncodingError, MaskError) as exc:
            raise CLIError(str(exc)) from None
    dense = graph.meta.get("dense_num_edges")
    if dense is None and model is not None and args.dense_count and "effective_sparsity" in names:
        key = (meta.get("arch"), tuple(shape), str(meta.get("model_kwargs")), meta.get("num_classes"))
        if key not in dense_cache:
            dense_cache[key] = dense_num_edges(model, shape, pad_nodes=pad_nodes)
        dense = dense_cache[key]
    t0 = time.perf_counter()
    methods: dict = {}
    exact = False if args.inexact else (True if args.exact else "auto")
    n2_sample = args.n2_sample if args.n2_sample <= 1 else int(args.n2_sample)
    from topometrics.computation import EstimatedMetricWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", warning_cls)  # NaN effective_sparsity is documented
        warnings.simplefilter("ignore", EstimatedMetricWarning)  # reported in the *_method columns
        try:
            values = compute(
                graph, names, exact=exact, random_state=args.seed, n_threads=args.n_jobs,
                motif_sample=sample, n2_sample=n2_sample, dense_num_edges=dense, methods=methods,
                conventions=args.conventions,
            )
        except InputError as exc:  # e.g. a saved graph without the padding nodes published conventions need
            raise CLIError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    row = {"checkpoint": str(path)}
    for k, v in meta.items():
        if k not in _SKIP_META and k not in values:
            row[k] = _plain(v)
    if shape is not None:
        row["input_shape"] = _plain(list(shape))
    row.update(num_nodes=graph.num_nodes, num_edges=graph.num_edges, dense_num_edges=dense)
    row.update(values)
    for name, info in methods.items():
        row[f"{name}_method"] = info["method"]
        row[f"{name}_stderr"] = info["stderr"]
    row["conventions"] = args.conventions
    row["metrics_seconds"] = round(elapsed, 3)
    return row
