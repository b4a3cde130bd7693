"""``topometrics metrics``: the topometrics of many checkpoints, one CSV row each, resumable.

Inputs (positional, any mix): checkpoints written by :func:`pruners.save_checkpoint` /
``topometrics prune``, graphs saved by ``topometrics encode -o g.npz`` /
:meth:`encoders.MultipartiteGraph.save`, and plain ``torch.save``-d state dicts of the
model given by ``--arch`` / ``--model`` (see :mod:`topometrics.workflows.inputs`).

Rows come from :func:`topometrics.workflows.measure.measure_item` (the toolkit's one
measuring path, also behind ``topometrics.describe_many``): ``checkpoint`` (the path as
given), the input's metadata (``arch, dataset, method, sparsity, seed, accuracy,
dense_accuracy, num_classes, input_shape, ...``), ``num_nodes``, ``num_edges``,
``dense_num_edges``, ``achieved_sparsity``, the layer sparsity summary, one column per
metric (raw values, see :func:`topometrics.compute`), ``<metric>_norm``
(:func:`topometrics.normalize`; ``--no-normalized`` leaves them out), ``conventions``
(``--conventions``: ours or the published data's, :mod:`topometrics.conventions`; one
table holds one of them), then ``error`` (empty, or the message of a failed input) and
``metrics_seconds``.

``motif4_method`` / ``motif4_stderr`` and ``n2_method`` / ``n2_stderr`` say how those
were obtained (``exact`` and 0, or ``estimate`` and the standard error of the sampled
estimate).  Exact or estimated: by default every metric is exact unless the exact count
of ``motif4`` or ``n2`` cannot finish in reasonable time (predicted work above
:data:`topometrics.cost.MAX_EXACT_WORK`); then it is estimated from a node sample and
the ``*_method`` column says so.  ``--inexact`` estimates both, ``--exact`` never
estimates.

Memory guard: before encoding, the node and edge counts (:func:`encoders.graph_size`,
closed form) give the peak memory of the encoding and of the selected metrics
(:func:`topometrics.cost.memory_estimate`).  When it exceeds ``--memory-limit``
(default: the memory available now) the command stops at once with exit status 2,
writes nothing for that input, and says what would fit.

``effective_sparsity`` needs the edge count of the dense network's MGE: inputs with a
model get it in closed form (:func:`topometrics.dense_num_edges`); a saved graph
carries it only in ``meta["dense_num_edges"]`` (``topometrics encode`` writes it),
else the column is NaN for that row.

Batch execution (:mod:`topometrics.workflows.batch`): one task per input, run in this
process, in ``-j N`` local worker processes, or on dask (``--scheduler local`` /
``--scheduler tcp://host:8786`` / ``--cluster slurm``).  Resumable: rows already in the
output file for the same input (same resolved path), without an error and holding every
requested metric column are skipped; each finished row is written as it arrives (the
whole table rewritten atomically, in the order of the inputs), so an interrupted run
never leaves a partial row, and re-read bit for bit (``float_precision="round_trip"``).
The output is locked (``<out>.lock``): a second run on the same output stops at once
(exit status 2).  An input that fails is recorded as a row with its message in
``error`` (NaN/inf weights are refused before any kernel runs), the others are
measured, and the exit status is 1; a re-run tries it again.  ``--stop-on-error``
stops there (exit status 2 for errors the user can fix), as the memory guard does.
"""

from __future__ import annotations

import argparse

from ._batch import EXECUTOR_EPILOG, add_executor_arguments
from ._common import add_model_option, check_output, model_name, parse_bytes, parse_shape, trusted_models


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "metrics",
        help="compute the topometrics of checkpoints into a CSV table (resumable)",
        description=(
            "Encode every input as an unrolled multipartite graph and compute its topometrics "
            "(the paper's 16 plus log_paths, effective_sparsity, effective_nodes): one CSV row per "
            "input, raw and normalised values, resumable."
        ),
        epilog=EXECUTOR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "checkpoints", nargs="+", metavar="INPUT",
        help="pruners checkpoints, saved MultipartiteGraph .npz files, or state dicts of --arch/--model",
    )
    parser.add_argument("-o", "--out", required=True, metavar="RESULTS.csv", help="output table (appended to / resumed)")
    add_model_option(parser, arch_help="zoo model of plain state dicts (checkpoints carry their own)")
    parser.add_argument(
        "--input-shape", type=parse_shape, metavar="C,H,W",
        help="input shape without batch (default: the checkpoint's metadata, else 3,32,32)",
    )
    parser.add_argument("--num-classes", type=int, help="classifier outputs of --arch/--model for state dicts (default 10)")
    parser.add_argument("--shortcut", choices=("A", "B"), help="ResNet shortcut option of --arch for state dicts")
    parser.add_argument(
        "--metrics", metavar="M1,M2",
        help="comma-separated metric names such as sink,n2,motif4 (default: the 16 and the 3 extras; "
        "an unknown name prints the list)",
    )
    parser.add_argument(
        "--normalized", action=argparse.BooleanOptionalAction, default=True,
        help="also write <metric>_norm columns (topometrics.normalize; default on)",
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
    parser.add_argument(
        "--conventions", choices=("ours", "published"), default="ours",
        help="published: values on the scale of the authors' published tables (padding nodes of the first layer, "
        "n1/n2 count the node itself, strength in+out, float16 weights; see topometrics.conventions); "
        "saved graphs must then be encoded with --conventions published. Default ours",
    )
    parser.add_argument("-j", "--n-jobs", type=int, default=1, metavar="N",
                        help="worker processes over inputs (default 1; -1: all cores)")
    parser.add_argument("--n-threads", type=int, default=None, metavar="N",
                        help="numba threads for the encoder and metric kernels (default: numba's setting; 1 per worker with -j)")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the spectral start vector and motif sample")
    parser.add_argument(
        "--missing-masks", choices=("error", "dense"), default="error",
        help="a checkpoint without a mask for some prunable layer: refuse it naming the layer (default), or treat "
        "those layers as dense (all weights kept)",
    )
    parser.add_argument("--stop-on-error", action="store_true", help="stop at the first failing input")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_executor_arguments(parser)
    parser.set_defaults(func=run)
    return parser


# --------------------------------------------------------------------------------------- run
def _key(row) -> tuple:
    """Rows are identified by the resolved path of their input."""
    import os

    return (os.path.realpath(os.fspath(row["checkpoint"])),)


def run(args: argparse.Namespace) -> int:
    import sys
    import warnings
    from pathlib import Path

    from topocore.errors import InputError, ResourceLimitError
    from topometrics.computation import EstimatedMetricWarning
    from topometrics.paths import MissingDenseCountWarning
    from topometrics.registry import DEFAULT_METRICS, resolve_metrics
    from topometrics.workflows.batch import read_table, run_batch
    from topometrics.workflows.measure import measure_task, order_columns

    from ._batch import executor_factory, report_failures

    names = resolve_metrics(args.metrics) if args.metrics else list(DEFAULT_METRICS)
    for flag, value in (("--motif-sample", args.motif_sample), ("--n2-sample", args.n2_sample)):
        if value <= 0:
            raise InputError(f"{flag} must be positive, got {value}")
    sample = args.motif_sample if args.motif_sample <= 1 else int(args.motif_sample)
    n2_sample = args.n2_sample if args.n2_sample <= 1 else int(args.n2_sample)
    out = Path(args.out)
    check_output(out, "results table")
    existing = read_table(out, what="output table")
    if len(existing):
        held = set(existing["conventions"].dropna().astype(str)) if "conventions" in existing.columns else {"ours"}
        if held != {args.conventions}:
            raise InputError(
                f"{out} holds rows in conventions {sorted(held)}, not {args.conventions!r}; write to another -o "
                "(values of different conventions are on different scales)"
            )
    options = dict(
        metrics=names, normalized=args.normalized, input_shape=args.input_shape, n_threads=args.n_threads,
        random_state=args.seed, exact=False if args.inexact else (True if args.exact else "auto"), motif_sample=sample,
        n2_sample=n2_sample, memory_limit=args.memory_limit or "available", timings=True, arch=model_name(args),
        num_classes=args.num_classes, model_kwargs={"shortcut": args.shortcut} if args.shortcut else None,
        trusted=trusted_models(args), conventions=args.conventions, missing_masks=args.missing_masks,
    )
    specs = [{"checkpoint": str(path), "item": str(path), "options": options, "extra": {"conventions": args.conventions}}
             for path in args.checkpoints]
    wanted = names + ([f"{m}_norm" for m in names] if args.normalized else [])

    def is_done(row) -> bool:
        return not str(row.get("error") or "").strip() and all(m in row for m in wanted)

    def arrange(table):
        return table[order_columns([{c: None for c in table.columns}])]

    from topometrics._numba import announce_compilation

    announce_compilation("metrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDenseCountWarning)  # NaN effective_sparsity of a bare graph is documented
        warnings.simplefilter("ignore", EstimatedMetricWarning)  # reported in the *_method columns
        result = run_batch(
            measure_task, specs, out, key=_key, executor=executor_factory(args, n_jobs=args.n_jobs, n_threads=args.n_threads),
            is_done=is_done, failed_row=lambda spec, message: {"checkpoint": spec["checkpoint"], "error": message},
            arrange=arrange, abort_on=(ResourceLimitError,), stop_on_error=args.stop_on_error,
            progress=not args.quiet, desc="metrics", what="output table", label=lambda spec: spec["checkpoint"],
        )
    report_failures(result, "metrics")
    if not args.quiet:
        if result.skipped:
            print(f"skipped {result.skipped} input(s) already in {out}", file=sys.stderr)
        print(f"{result.ran - result.failed} input(s) measured, {result.failed} failed; table: {out}", file=sys.stderr)
    return 1 if result.failed else 0
