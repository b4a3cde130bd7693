"""``topometrics reproduce``: the paper's analysis from its published graph data."""

from __future__ import annotations

import argparse

from ._common import check_output


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def add_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``reproduce`` and ``analyze``."""
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder for the tables (CSV, Markdown) and figures (PNG)")
    parser.add_argument("--repeats", type=_int_at_least(1), default=100, metavar="N",
                        help="repeats of 5-fold cross-validation for the regression (default 100, as in the paper)")
    parser.add_argument("--loto-repeats", type=_int_at_least(0), default=20, metavar="N",
                        help="CV repeats of each leave-one-triplet-out importance estimate (default 20; 0 skips that variant)")
    parser.add_argument("--scaling", choices=("reference", "triplet", "none"), default="reference",
                        help="feature scaling in the ranking mixture (default: min-max over the estimation table)")
    parser.add_argument("--random-state", type=int, default=0, metavar="SEED", help="seed of the CV folds (default 0)")
    parser.add_argument("-j", "--n-jobs", type=int, default=1, metavar="N", help="worker processes (default 1; -1: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce the paper's analysis (regression, importance, rankings) from its published data",
        description=(
            "Load the graph data published with Cunegatti et al. (TMLR 2024) and write analogues of its "
            "Table 3 (accuracy-drop regression with 8 regressors, 3 encodings), Figures 3-4 (feature "
            "importance), Tables 4, 11 and 12 (RBO of PaI method rankings: topometric mixture in-sample as "
            "in the paper and leave-one-triplet-out, against layer density and Ramanujan baselines) and "
            "Figures 2 and 5 (Ramanujan metrics vs layer density) as CSV, Markdown and PNG."
        ),
    )
    parser.add_argument("--data", required=True, metavar="PATH",
                        help="the published 'graph_data' folder (holding graph_metrics/ and ramanunjan_results/)")
    add_analysis_arguments(parser)
    parser.add_argument("--truth", choices=("data", "paper"), default="data",
                        help="ground-truth accuracies: the published networks (default) or the paper's Tables 8-10")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from analysis.data import resolve_graph_data
    from topocore.errors import InputError

    root = resolve_graph_data(args.data)
    if args.n_jobs == 0:
        raise InputError("--n-jobs must be non-zero (-1: all cores)")
    check_output(args.out, "output folder")
    from analysis.pipeline import reproduce

    result = reproduce(
        root,
        Path(args.out),
        n_repeats=args.repeats,
        loto_repeats=args.loto_repeats,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        truth=args.truth,
        scaling=args.scaling,
        progress=not args.no_progress,
        log=print,
    )
    print(f"wrote {len(result['files'])} files to {args.out} (index: {Path(args.out) / 'README.md'})")
    return 0
