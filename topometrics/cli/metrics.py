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
(:func:`topometrics.normalize`; ``--no-normalized`` leaves them out), then
``metrics_seconds``.

``effective_sparsity`` needs the edge count of the dense network's MGE: inputs with a
model get it in closed form (:func:`topometrics.dense_num_edges`); a saved graph
carries it only in ``meta["dense_num_edges"]`` (``topometrics encode`` writes it),
else the column is NaN for that row.

Resumable: rows already in the output file for the same input (same resolved path)
and holding every requested metric column are skipped.  After each input the whole
table is written to a temporary file that replaces the output, so an interrupted run
never leaves a partial row.  An input that fails with an error the user can fix is
reported and left out (exit status 1 at the end); ``--stop-on-error`` stops there
(exit status 2).
"""

from __future__ import annotations

import argparse

from ._common import add_model_option, model_name, parse_shape, trusted_models


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
    parser.add_argument(
        "--inexact", action="store_true",
        help="estimate motif4 from a node sample (--motif-sample) instead of counting it exactly",
    )
    parser.add_argument("--motif-sample", type=float, default=0.001, help="node fraction (<= 1) or count for --inexact (default 0.001)")
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

    from topocore.errors import InputError
    from topocore.io import atomic_write_csv, check_writable
    from topometrics.paths import MissingDenseCountWarning
    from topometrics.registry import METRICS, resolve_metrics
    from topometrics.workflows.measure import iter_describe, order_columns

    names = resolve_metrics(args.metrics) if args.metrics else list(METRICS)
    if args.motif_sample <= 0:
        raise InputError(f"--motif-sample must be positive, got {args.motif_sample}")
    sample = args.motif_sample if args.motif_sample <= 1 else int(args.motif_sample)
    out = Path(args.out)
    check_writable(out, what="results table")
    table = _read_table(out)
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
        results = iter_describe(
            todo, n_jobs=args.n_jobs, progress=not args.quiet, desc="metrics", metrics=names, normalized=args.normalized,
            input_shape=args.input_shape, n_threads=args.n_threads, random_state=args.seed, exact=not args.inexact,
            motif_sample=sample, timings=True, arch=model_name(args), num_classes=args.num_classes,
            model_kwargs={"shortcut": args.shortcut} if args.shortcut else None, trusted=trusted_models(args),
        )
        for result in results:
            path = todo[result.index]
            if result.error is not None:
                failures += 1
                tqdm.write(f"topometrics metrics: {path}: {result.error}", file=sys.stderr)
                if args.stop_on_error:
                    raise result.error
                continue
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
