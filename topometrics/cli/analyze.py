"""``topometrics analyze``: the paper's analysis on a results table of one's own."""

from __future__ import annotations

import argparse

from .reproduce import add_analysis_arguments


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "analyze",
        help="regress the accuracy drop on topometrics, estimate feature importance and rank methods",
        description=(
            "Run the paper's analysis on RESULTS (CSV or Parquet, e.g. the results.csv of 'topometrics grid "
            "--metrics'): one row per sparse network with arch, dataset, method, sparsity, seed, accuracy "
            "(fraction), dense_accuracy and topometric columns. Dense baseline rows and untrained runs are "
            "dropped; raw topometrics are normalised by node/edge counts when num_nodes and num_edges are present."
        ),
    )
    parser.add_argument("results", metavar="RESULTS", help="results table (.csv or .parquet)")
    add_analysis_arguments(parser)
    parser.add_argument("--features", metavar="A,B,...", help="feature columns (default: those of the paper's 16 topometrics present)")
    parser.add_argument("--extra-methods", metavar="NAME,...", default="",
                        help="pruning methods to accept besides the known ones")
    parser.add_argument("--accuracy-percent", action="store_true", help="accuracies are in percent (divide by 100)")
    parser.add_argument("--dense", metavar="CSV", help="dense accuracies (dataset, arch, acc_mean in percent) for missing dense_accuracy")
    parser.add_argument("--normalize", choices=("auto", "yes", "no"), default="auto",
                        help="normalise raw topometrics by num_nodes / num_edges (default: when those columns exist)")
    parser.add_argument("--allow-small-groups", action="store_true",
                        help="cross-validate groups of 5 to p+1 networks too: their adjusted R^2 is NaN, their importances "
                             "are kept and used for the rankings (for one-architecture, one-data-set experiments)")
    parser.set_defaults(func=run)
    return parser


def _read_table(path: str):
    from pathlib import Path

    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"results table {path!r} not found")
    if p.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(p)
    return pd.read_csv(p)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import CLIError

    try:
        table = _read_table(args.results)
    except (FileNotFoundError, ImportError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    if args.n_jobs == 0:
        raise CLIError("--n-jobs must be non-zero (-1: all cores)")
    from analysis.data import load_dense_accuracy
    from analysis.pipeline import analyze

    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    extra = [m.strip() for m in args.extra_methods.split(",") if m.strip()]
    try:
        dense = load_dense_accuracy(args.dense) if args.dense else None
        result = analyze(
            table,
            Path(args.out),
            features=features,
            extra_methods=extra,
            accuracy_percent=args.accuracy_percent,
            normalize=args.normalize,
            dense=dense,
            n_repeats=args.repeats,
            loto_repeats=args.loto_repeats,
            random_state=args.random_state,
            n_jobs=args.n_jobs,
            scaling=args.scaling,
            allow_small_groups=args.allow_small_groups,
            progress=not args.no_progress,
            log=print,
        )
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    print(f"wrote {len(result['files'])} files to {args.out}")
    return 0
