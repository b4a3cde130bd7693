"""``topometrics grid``: prune (and optionally train) every combination; resumable results table."""

from __future__ import annotations

import argparse

from ._common import parse_shape
from .prune import parse_option, setup_torch
from .train import add_training_arguments


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
    parser.add_argument("--archs", nargs="+", required=True, metavar="ARCH", help="zoo models (space- or comma-separated)")
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
        help="add every run's topometrics (raw values) and its MGE's num_nodes/num_edges/dense_num_edges as columns "
             "(encoders.encode + topometrics.compute; default off)",
    )
    parser.add_argument("--metric-names", metavar="M1,M2", help="with --metrics: only these topometrics (default: all)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: half the cores)")
    parser.add_argument("--stop-on-error", action="store_true", help="stop at the first failing run instead of recording it")
    add_training_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def metrics_hook(metric_names: str | None):
    """``on_result`` adding a run's MGE size (``num_nodes``, ``num_edges``, ``dense_num_edges``) and raw topometrics.

    Lazy imports of the public ``encoders.encode``, ``topometrics.compute`` and
    ``topometrics.dense_num_edges``: the CLI is the only layer joining pruners, encoders and
    topometrics.  The dense edge count (for ``effective_sparsity``) is computed once per
    model configuration.
    """
    import topometrics
    from encoders import encode

    from pruners import load_checkpoint
    from pruners.pipeline import build_model

    compute = topometrics.compute
    if metric_names is None:
        names = list(topometrics.DEFAULT_METRICS)
    else:
        names = [m.strip() for m in metric_names.split(",") if m.strip()]
        unknown = [m for m in names if m not in topometrics.METRICS]
        if unknown:
            raise ValueError(f"unknown topometric(s) {unknown}; choose from {list(topometrics.METRICS)}")
    dense_edges: dict[tuple, int] = {}

    def hook(path, row):
        ck = load_checkpoint(path)
        shape = tuple(ck.meta["input_shape"])
        graph = encode(ck.model, shape, ck.masks)
        dense = None
        if "effective_sparsity" in names:
            kwargs = ck.meta.get("model_kwargs") or {}
            key = (ck.meta["arch"], shape, int(ck.meta["num_classes"]), tuple(sorted(kwargs.items())))
            if key not in dense_edges:
                model = build_model(ck.meta["arch"], int(ck.meta["num_classes"]), shape, 0, kwargs)
                dense_edges[key] = int(topometrics.dense_num_edges(model, shape))
            dense = dense_edges[key]
        values = compute(graph, names, dense_num_edges=dense)
        out = {"num_nodes": int(graph.num_nodes), "num_edges": int(graph.num_edges), "dense_num_edges": dense}
        out.update({k: float(v) for k, v in values.items()})
        return out

    return hook


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from pruners.data import DataNotFoundError
    from pruners.grid import GridLockedError, run_grid

    from . import CLIError

    device = setup_torch(args)
    try:
        sparsities = [float(s) for s in _split(args.sparsities)]
        seeds = [int(s) for s in _split(args.seeds)]
    except ValueError as exc:
        raise CLIError(f"--sparsities must be numbers and --seeds integers: {exc}") from None
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
    on_result = None
    if args.metrics:
        try:
            on_result = metrics_hook(args.metric_names)
        except (ImportError, AttributeError) as exc:
            raise CLIError(f"--metrics needs encoders.encode and topometrics.compute: {exc}") from None
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    try:
        df = run_grid(
            _split(args.archs), _split(args.methods), sparsities, _split(args.datasets), seeds, args.out,
            train=args.train, data_root=args.data_root, train_options=train_options, prune_options=prune_options,
            input_shape=args.input_shape, model_kwargs={"shortcut": args.shortcut} if args.shortcut else None,
            device=device, on_result=on_result, dense_reference=args.dense_reference, stop_on_error=args.stop_on_error,
        )
    except (GridLockedError, DataNotFoundError, ValueError, KeyError, TypeError) as exc:
        raise CLIError(str(exc).strip("'\"")) from None
    counts = df["status"].value_counts().to_dict()
    failed = df[df["status"] == "failed"]
    hook_failed = df[df["hook_status"] == "failed"] if "hook_status" in df else pd.DataFrame()
    print(f"{len(df)} runs in {args.out}/results.csv: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    for r in failed.itertuples():
        print(f"  failed: {r.dataset}/{r.arch}/{r.method}/s{r.sparsity:g}/seed{r.seed}: {r.error}")
    for r in hook_failed.itertuples():
        print(f"  metrics failed: {r.dataset}/{r.arch}/{r.method}/s{r.sparsity:g}/seed{r.seed}: {r.hook_error}")
    return 1 if len(failed) or len(hook_failed) else 0
