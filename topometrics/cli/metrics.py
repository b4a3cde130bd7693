"""``topometrics metrics``: the topometrics of many checkpoints, one CSV row each, resumable.

Inputs (positional, any mix): checkpoints written by :func:`pruners.save_checkpoint` /
``topometrics prune``, graphs saved by ``topometrics encode -o g.npz`` /
:meth:`encoders.MultipartiteGraph.save`, and plain ``torch.save``-d state dicts of the
model given by ``--arch`` / ``--model`` (see :mod:`topometrics.workflows.inputs`).

Rows come from :func:`topometrics.workflows.measure.iter_describe` (the toolkit's one
measuring path, also behind ``topometrics.describe_many``): ``checkpoint`` (the path as
given), the input's metadata (``arch, dataset, method, sparsity, seed, accuracy,
dense_accuracy, num_classes, input_shape, ...``), ``num_nodes``, ``num_edges``,
``dense_num_edges``, ``achieved_sparsity``, the layer sparsity summary, one column per
metric (raw values, see :func:`topometrics.compute`), ``<metric>_norm``
(:func:`topometrics.normalize`; ``--no-normalized`` leaves them out), ``conventions``
(``--conventions``: ours or the published data's, :mod:`topometrics.conventions`; one
table holds one of them), then ``metrics_seconds``.

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

Resumable: rows already in the output file for the same input (same resolved path)
and holding every requested metric column are skipped.  After each input the whole
table is written to a temporary file that replaces the output, so an interrupted run
never leaves a partial row.  An input that fails with an error the user can fix is
reported and left out (exit status 1 at the end); ``--stop-on-error`` stops there
(exit status 2), as the memory guard does.
"""

from __future__ import annotations

import argparse

from ._common import add_model_option, model_name, parse_bytes, parse_shape, trusted_models


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "metrics",
        help="compute the topometrics of checkpoints into a CSV table (resumable)",
        description=(
            "Encode every input as an unrolled multipartite graph and compute its topometrics "
            "(the paper's 16 plus log_paths, effective_sparsity, effective_nodes): one CSV row per "
            "input, raw and normalised values, resumable."
        ),
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
    parser.add_argument("--stop-on-error", action="store_true", help="stop at the first failing input")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


# ------------------------------------------------------------------------------- the table
def _key(path) -> str:
    import os

    return os.path.realpath(os.fspath(path))


def _read_table(out):
    import pandas as pd

    from topocore.errors import InputError

    if not out.exists() or out.stat().st_size == 0:
        return pd.DataFrame()
    try:
        table = pd.read_csv(out)
    except Exception as exc:  # pandas raises several parser errors
        raise InputError(f"{out} exists but is not a readable CSV ({exc}); move it away or pick another -o") from None
    if len(table) and "checkpoint" not in table.columns:
        raise InputError(f"{out} has no 'checkpoint' column: it was not written by `topometrics metrics`")
    return table


# --------------------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    import sys
    import warnings
    from pathlib import Path

    import pandas as pd
    from tqdm.auto import tqdm

    from topocore.errors import InputError, ResourceLimitError
    from topocore.io import atomic_write_csv
    from topometrics.computation import EstimatedMetricWarning
    from topometrics.paths import MissingDenseCountWarning
    from topometrics.registry import DEFAULT_METRICS, resolve_metrics
    from topometrics.workflows.measure import iter_describe, order_columns

    names = resolve_metrics(args.metrics) if args.metrics else list(DEFAULT_METRICS)
    for flag, value in (("--motif-sample", args.motif_sample), ("--n2-sample", args.n2_sample)):
        if value <= 0:
            raise InputError(f"{flag} must be positive, got {value}")
    sample = args.motif_sample if args.motif_sample <= 1 else int(args.motif_sample)
    n2_sample = args.n2_sample if args.n2_sample <= 1 else int(args.n2_sample)
    out = Path(args.out)
    table = _read_table(out)
    if len(table):
        held = set(table["conventions"].dropna().astype(str)) if "conventions" in table.columns else {"ours"}
        if held != {args.conventions}:
            raise InputError(
                f"{out} holds rows in conventions {sorted(held)}, not {args.conventions!r}; write to another -o "
                "(values of different conventions are on different scales)"
            )
    rows = table.to_dict("records") if len(table) else []
    done = {_key(r["checkpoint"]): i for i, r in enumerate(rows)}
    wanted = names + ([f"{m}_norm" for m in names] if args.normalized else [])
    have_all = all(m in table.columns for m in wanted) if len(table) else False
    todo = [path for path in args.checkpoints if not (_key(path) in done and have_all)]
    skipped = len(args.checkpoints) - len(todo)
    if skipped and not args.quiet:
        print(f"skipping {skipped} input(s) already in {out}", file=sys.stderr)

    failures = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDenseCountWarning)  # NaN effective_sparsity of a bare graph is documented
        warnings.simplefilter("ignore", EstimatedMetricWarning)  # reported in the *_method columns
        results = iter_describe(
            todo, n_jobs=args.n_jobs, progress=not args.quiet, desc="metrics", metrics=names, normalized=args.normalized,
            input_shape=args.input_shape, n_threads=args.n_threads, random_state=args.seed,
            exact=False if args.inexact else (True if args.exact else "auto"), motif_sample=sample,
            n2_sample=n2_sample, memory_limit=args.memory_limit or "available", timings=True, arch=model_name(args),
            num_classes=args.num_classes, model_kwargs={"shortcut": args.shortcut} if args.shortcut else None,
            trusted=trusted_models(args), conventions=args.conventions,
        )
        for result in results:
            path = todo[result.index]
            if isinstance(result.error, ResourceLimitError):  # the memory guard stops the whole command
                raise result.error
            if result.error is not None:
                failures += 1
                tqdm.write(f"topometrics metrics: {path}: {result.error}", file=sys.stderr)
                if args.stop_on_error:
                    raise result.error
                continue
            result.row["conventions"] = args.conventions
            key = _key(path)
            if key in done:
                merged = dict(rows[done[key]])
                merged.update(result.row)
                rows[done[key]] = merged
            else:
                done[key] = len(rows)
                rows.append(result.row)
            atomic_write_csv(out, pd.DataFrame(rows)[order_columns(rows)])
    if not args.quiet:
        print(f"{len(todo) - failures} input(s) measured, {failures} failed; table: {out}", file=sys.stderr)
    return 1 if failures else 0
