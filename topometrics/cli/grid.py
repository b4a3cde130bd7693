"""``topometrics grid``: prune (and optionally train) every combination; resumable results table."""

from __future__ import annotations

import argparse

from ._common import parse_shape
from .prune import parse_option, setup_torch
from .train import add_dst_arguments, add_training_arguments, dst_spec


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [p.strip() for p in v.split(",") if p.strip()]
    return out


def parse_method_option(text: str) -> tuple[str, str, object]:
    """``"synflow:iterations=100"`` -> ``("synflow", "iterations", 100)``."""
    if ":" not in text:
        raise argparse.ArgumentTypeError(f"expected METHOD:KEY=VALUE, got {text!r}")
    method, rest = text.split(":", 1)
    key, value = parse_option(rest)
    return method.strip(), key, value


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "grid",
        help="prune (and train) every arch x method x sparsity x data set x seed; resumable",
        description=(
            "Run an experiment grid: one checkpoint per run under OUT/checkpoints/ and one row per run in "
            "OUT/results.csv (arch, dataset, method, sparsity, seed, accuracy, dense_accuracy, checkpoint, ...; "
            "accuracies are fractions, checkpoint paths are relative to OUT). Re-running skips finished runs, "
            "continues interrupted trainings from their last epoch and never loses a finished result. The method "
            "'dense' adds unpruned baselines (sparsity 0) whose accuracy fills dense_accuracy of the matching runs "
            "(same arch, data set and seed, else the mean over seeds)."
        ),
    )
    parser.add_argument("--archs", nargs="+", default=[], metavar="ARCH", help="zoo models (space- or comma-separated)")
    parser.add_argument("--models", nargs="+", default=[], metavar="MODULE:FACTORY",
                        help="models of your own as package.module:factory (space-separated; with or instead of --archs)")
    parser.add_argument("--methods", nargs="+", required=True, metavar="METHOD", help="pruning methods, plus 'dense' for baselines")
    parser.add_argument("--sparsities", nargs="+", default=[], metavar="S", help="global sparsities in [0, 1)")
    parser.add_argument("--datasets", nargs="+", required=True, metavar="DATASET", help="cifar10, cifar100, tinyimagenet, digits, synthetic")
    parser.add_argument("--seeds", nargs="+", default=["0"], metavar="SEED", help="seeds (default 0)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (results.csv and checkpoints/)")
    parser.add_argument("--train", action=argparse.BooleanOptionalAction, default=False, help="train every run after pruning (default: prune only)")
    parser.add_argument("--data-root", metavar="DIR", help="folder holding the data sets")
    parser.add_argument("--input-shape", type=parse_shape, metavar="C,H,W", help="input shape for digits/synthetic (e.g. 1,8,8)")
    parser.add_argument("--shortcut", choices=("A", "B"), help="ResNet shortcut option (default B)")
    parser.add_argument("-O", "--option", action="append", type=parse_method_option, default=[], metavar="METHOD:KEY=VALUE",
                        help="pruning option for one method, repeatable, e.g. -O synflow:iterations=100")
    parser.add_argument("--dense-reference", metavar="CSV",
                        help="fallback dense accuracies: columns dataset, arch and dense_accuracy (fraction) or acc_mean (percent)")
    parser.add_argument(
        "--metrics", action=argparse.BooleanOptionalAction, default=False,
        help="add every run's measurements as columns: its MGE's num_nodes/num_edges/dense_num_edges, the layer "
             "sparsity summary, every topometric raw and as <metric>_norm (topometrics.describe; default off)",
    )
    parser.add_argument("--metric-names", metavar="M1,M2", help="with --metrics: only these topometrics (default: all)")
    parser.add_argument(
        "--conventions", choices=("ours", "published"), default="ours",
        help="with --metrics: published puts the values on the scale of the authors' published tables (padding "
        "nodes of the first layer, n1/n2 count the node itself, strength in+out, float16 weights; see "
        "topometrics.conventions) and adds a conventions column. Default ours",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: half the cores)")
    parser.add_argument("--stop-on-error", action="store_true", help="stop at the first failing run instead of recording it")
    add_training_arguments(parser)
    add_dst_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def metrics_hook(metric_names: str | None, *, trusted: tuple[str, ...] = (), conventions: str = "ours"):
    """``on_result`` adding a run's measurements (:func:`topometrics.workflows.measure.measure_network`).

    One call of the workflows' measuring path per finished run (the checkpoint is read,
    encoded and measured: ``num_nodes``, ``num_edges``, ``dense_num_edges``, the layer
    sparsity summary, every selected topometric raw and as ``<metric>_norm``).  Columns
    the grid's table already has (its metadata, ``achieved_sparsity``) are left out.
    Unknown metric names raise :class:`topocore.errors.InputError` before any run.
    ``conventions="published"`` measures on the scale of the authors' published tables
    (:mod:`topometrics.conventions`) and adds ``conventions`` to each row.
    """
    from pruners.grid import RESULT_COLUMNS
    from topometrics.registry import resolve_metrics
    from topometrics.workflows.inputs import load_network
    from topometrics.workflows.measure import measure_network

    names = resolve_metrics(metric_names)
    reserved = set(RESULT_COLUMNS)

    def hook(path, row):
        net = load_network(path, trusted=trusted)
        values = measure_network(net, metrics=names, conventions=conventions)
        row = {k: v for k, v in values.items() if k not in reserved}
        if conventions != "ours":
            row["conventions"] = conventions
        return row

    return hook


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from pruners.grid import run_grid
    from topocore.errors import InputError

    device = setup_torch(args)
    try:
        sparsities = [float(s) for s in _split(args.sparsities)]
        seeds = [int(s) for s in _split(args.seeds)]
    except ValueError as exc:
        raise InputError(f"--sparsities must be numbers and --seeds integers: {exc}") from None
    prune_options: dict[str, dict] = {}
    for method, key, value in args.option:
        prune_options.setdefault(method, {})[key] = value
    train_options = {}
    for name, attr in (("epochs", "epochs"), ("lr", "lr"), ("momentum", "momentum"), ("weight_decay", "weight_decay"),
                       ("milestones", "milestones"), ("batch_size", "batch_size"), ("amp", "amp")):
        value = getattr(args, attr)
        if value is not None:
            train_options[name] = value
    train_options["num_workers"] = args.workers
    train_options["eval_every"] = args.eval_every
    dst = dst_spec(args)
    if dst is not None:
        if not args.train:
            raise InputError("--dst trains with dynamic sparse training: add --train")
        train_options["dst"] = dst
    archs = _split(args.archs) + _split(args.models)
    if not archs:
        raise InputError("name the models of the grid: --archs (zoo names) and/or --models (package.module:factory)")
    on_result = metrics_hook(args.metric_names, trusted=tuple(_split(args.models)), conventions=args.conventions) if args.metrics else None
    df = run_grid(
        archs, _split(args.methods), sparsities, _split(args.datasets), seeds, args.out,
        train=args.train, data_root=args.data_root, train_options=train_options, prune_options=prune_options,
        input_shape=args.input_shape, model_kwargs={"shortcut": args.shortcut} if args.shortcut else None,
        device=device, on_result=on_result, dense_reference=args.dense_reference, stop_on_error=args.stop_on_error,
    )
    counts = df["status"].value_counts().to_dict()
    failed = df[df["status"] == "failed"]
    hook_failed = df[df["hook_status"] == "failed"] if "hook_status" in df else pd.DataFrame()
    print(f"{len(df)} runs in {args.out}/results.csv: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    for r in failed.itertuples():
        print(f"  failed: {r.dataset}/{r.arch}/{r.method}/s{r.sparsity:g}/seed{r.seed}: {r.error}")
    for r in hook_failed.itertuples():
        print(f"  metrics failed: {r.dataset}/{r.arch}/{r.method}/s{r.sparsity:g}/seed{r.seed}: {r.hook_error}")
    return 1 if len(failed) or len(hook_failed) else 0
