"""``topometrics robustness``: perturbation sweeps of trained checkpoints -> table, figure and report (resumable).

Every checkpoint is evaluated on the test split of ``--dataset`` while its active links are
removed (randomly, largest or smallest ``|w|`` first), shuffled or noised in steps
(:mod:`pruners.perturb`, :func:`topometrics.workflows.robustness.run_robustness`).
``--out DIR`` receives:

* ``robustness.csv`` -- one row per checkpoint, perturbation, fraction and repeat (accuracy,
  active links, and with ``--metrics`` the topometrics of the perturbed network's MGE);
* ``robustness.png`` -- accuracy vs fraction, one panel per perturbation, one line per
  checkpoint group (``--group-by``: by default the DST method, else the pruning method);
* ``summary.csv`` and ``report.md`` -- normalised AUC and f50 per group and perturbation
  (mean ± sd over repeats and seeds) and the conventions used;
* ``robustness.json`` -- the settings, checked when a run is resumed.

Resumable: a rerun with the same settings skips every finished (checkpoint, perturbation,
repeat) curve; the table is rewritten atomically after each curve.  The curves are tasks of
the batch layer (``-j N`` local processes, ``--scheduler``/``--cluster`` for Dask, see
:mod:`topometrics.cli._batch`); a curve that raises is recorded with its ``error`` and the
others go on (exit status 1).  Checkpoints without
masks are swept with their exact zeros as pruned links (said in the report).  BatchNorm
statistics are not recomputed.  Bad input (fractions outside [0, 1] or not increasing, an
unknown perturbation, data that do not fit a model, an unreadable checkpoint) stops the
command before anything is written: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse

from ._batch import EXECUTOR_EPILOG, add_executor_arguments


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "robustness",
        help="perturbation sweeps of trained checkpoints: robustness.csv, robustness.png, report.md (resumable)",
        description=(
            "Remove, shuffle or noise the active links of trained sparse networks step by step and evaluate them\n"
            "on the test split: one table, one figure (a line per checkpoint group, a panel per perturbation) and\n"
            "a report with the normalised AUC and f50 of every curve.  Every (checkpoint, perturbation, repeat)\n"
            "curve is a task of the batch layer: resumable, -j local processes or a dask cluster."
        ),
        epilog=EXECUTOR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="trained checkpoints (pruners.save_checkpoint / topometrics train)")
    parser.add_argument("--dataset", required=True, help="data set of the test split, e.g. digits, cifar10, mnist")
    parser.add_argument("--data-root", metavar="DIR", help="folder holding the data set (unused by digits)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created; resumed when it holds a sweep)")
    parser.add_argument(
        "--perturbations", default="all", metavar="P1,P2",
        help="comma-separated: random_removal, weight_order_removal, reverse_weight_order_removal, shuffle, noise "
        "(default all)",
    )
    parser.add_argument("--fractions", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", metavar="F1,F2",
                        help="increasing fractions in [0, 1] of the active links (noise: of the layer's weight sd); "
                        "default 0,0.1,...,0.9")
    parser.add_argument("--repeats", type=int, default=5, help="runs per perturbation, each with its own seed (default 5)")
    parser.add_argument("--scope", choices=("global", "layer"), default="global",
                        help="fractions of all layers pooled (default) or of every layer")
    parser.add_argument("--include-readout", action="store_true", help="also perturb a readout kept dense")
    parser.add_argument("--metrics", metavar="M1,M2", help="topometrics of every perturbed network's MGE, e.g. sink,spectral_gap")
    parser.add_argument("--group-by", default="auto", metavar="KEY",
                        help="line of a checkpoint in the figure: auto (DST method, else pruning method, else file name), "
                        "file, or a metadata key such as method or sparsity")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the perturbations (default 0)")
    parser.add_argument("-j", "--n-jobs", type=int, default=1, metavar="N",
                        help="worker processes over the curves (default 1; -1: all cores; with --scheduler local: "
                        "its workers)")
    parser.add_argument("--batch-size", type=int, default=2048, help="evaluation batch size (default 2048)")
    parser.add_argument("--device", default="cpu", help="evaluation device (default cpu)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_executor_arguments(parser, gpus=True)
    parser.set_defaults(func=run)
    return parser


def _floats(text: str, what: str) -> list[float]:
    from topocore.errors import InputError

    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise InputError(f"{what} takes comma-separated numbers like 0,0.1,0.2, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    import sys

    from topometrics.workflows.robustness import run_robustness

    from ._batch import executor_factory, report_failures

    gpus = getattr(args, "gpus_per_task", 0) or 0
    if gpus < 0:
        from topocore.errors import InputError

        raise InputError(f"--gpus-per-task must be 0 or more, got {gpus}")

    result = run_robustness(
        args.checkpoints, dataset=args.dataset, out=args.out, data_root=args.data_root,
        perturbations=args.perturbations, fractions=_floats(args.fractions, "--fractions"), repeats=args.repeats,
        scope=args.scope, include_readout=args.include_readout, metrics=args.metrics, random_state=args.seed,
        n_jobs=args.n_jobs, batch_size=args.batch_size, device=args.device, group_by=args.group_by,
        progress=not args.quiet, log=(lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr)),
        executor=executor_factory(args, n_jobs=args.n_jobs, n_threads=1), resources={"GPU": gpus} if gpus else None,
    )
    from analysis.robustness import summary_markdown

    print(summary_markdown(result.summary))
    failed = f", {result.failed} failed (their rows hold the error; a rerun retries them)" if result.failed else ""
    print(f"{result.computed} curves computed, {result.skipped} resumed{failed}; wrote {result.paths['csv']}, "
          f"{result.paths['figure']}, {result.paths['report']}")
    report_failures(result, "robustness")
    return 1 if result.failed else 0
