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
            "dropped. The command normalises raw topometrics by node/edge counts (topometrics.normalize) when "
            "num_nodes and num_edges are present (--normalize), then runs the analysis, which uses the feature "
            "columns as given; report.md says which was done."
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

    from topocore.errors import DataNotFoundError, InputError

    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"results table {path!r} not found; give the results.csv of `topometrics grid` or a table of your own")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            try:
                import pyarrow  # noqa: F401
            except ImportError as exc:
                raise InputError(
                    f"reading Parquet needs pyarrow, the 'parquet' extra: pip install \"topometrics[parquet]\" "
                    f"(import failed: {exc}); or give a CSV"
                ) from None
            return pd.read_parquet(p)
        return pd.read_csv(p)
    except (ValueError, OSError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path} is not a readable {p.suffix.lstrip('.') or 'CSV'} table ({exc}); give a CSV or Parquet file") from None


def normalize_features(table, features, mode: str):
    """Normalise the raw topometrics of a results table as the paper does (``topometrics.normalize``).

    The analysis (:mod:`analysis`) takes feature columns as given; this application-layer
    step turns the raw values written by ``topometrics grid --metrics`` into the
    size-normalised ones first.  ``features``: the columns the analysis will use
    (None: those of the paper's 16 topometrics present).  ``mode``: ``"auto"``
    (normalise when ``num_nodes`` and ``num_edges`` exist), ``"yes"`` (require
    them) or ``"no"``.  Returns ``(table, note)``; the note says what was done and
    goes into the analysis report.
    """
    import pandas as pd

    import topometrics
    from analysis.names import UNROLLED_FEATURES

    from topocore.errors import InputError

    if mode not in ("auto", "yes", "no"):
        raise InputError(f"--normalize must be auto, yes or no, got {mode!r}")
    has_counts = {"num_nodes", "num_edges"} <= set(table.columns)
    if mode == "yes" and not has_counts:
        raise InputError("--normalize yes needs num_nodes and num_edges columns in the results table")
    feats = list(features) if features is not None else [c for c in UNROLLED_FEATURES if c in table.columns]
    feats = [f for f in feats if f in table.columns]
    if mode == "no" or not has_counts or not feats:
        why = "--normalize no" if mode == "no" else ("no num_nodes/num_edges columns" if not has_counts else "no feature columns")
        return table, f"feature columns used as given, not normalised by the command line ({why})"
    conventions = "ours"
    if "conventions" in table.columns:  # written by `metrics` / `grid --metrics --conventions published`
        held = sorted(set(table["conventions"].dropna().astype(str)))
        if len(held) > 1:
            raise InputError(
                f"the results table mixes rows in conventions {held} (values on different scales); "
                "measure every network in one convention (--conventions)"
            )
        conventions = held[0] if held else "ours"
    table = table.copy()
    values = table[feats].apply(pd.to_numeric, errors="coerce")
    nodes = pd.to_numeric(table["num_nodes"], errors="coerce")
    edges = pd.to_numeric(table["num_edges"], errors="coerce")
    table[feats] = topometrics.normalize(values, nodes, edges, conventions=conventions)
    return table, ("normalised the raw topometrics by node / edge counts (topometrics.normalize, done by the "
                   "command line before the analysis, which uses feature columns as given)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from topocore.errors import InputError

    table = _read_table(args.results)
    if args.n_jobs == 0:
        raise InputError("--n-jobs must be non-zero (-1: all cores)")
    from analysis.data import load_dense_accuracy
    from analysis.pipeline import analyze

    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    extra = [m.strip() for m in args.extra_methods.split(",") if m.strip()]
    table, note = normalize_features(table, features, args.normalize)
    dense = load_dense_accuracy(args.dense) if args.dense else None
    result = analyze(
        table,
        Path(args.out),
        features=features,
        extra_methods=extra,
        accuracy_percent=args.accuracy_percent,
        dense=dense,
        n_repeats=args.repeats,
        loto_repeats=args.loto_repeats,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        scaling=args.scaling,
        allow_small_groups=args.allow_small_groups,
        progress=not args.no_progress,
        log=print,
        notes=[note],
    )
    print(f"wrote {len(result['files'])} files to {args.out}")
    return 0
