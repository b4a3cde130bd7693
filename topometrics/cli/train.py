"""``topometrics train``: train a pruned checkpoint (or prune and train) with masks enforced, static or
dynamic (``--dst METHOD``: masks evolve during training, see :mod:`pruners.dst`)."""

from __future__ import annotations

import argparse

from ._common import add_model_option, model_name, trusted_models
from .prune import METHOD_NAMES, _file_stem, add_model_arguments, model_kwargs, parse_option, setup_torch


def parse_ints(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 80,120, got {text!r}") from None


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Training hyper-parameters shared by ``train`` and ``grid`` (defaults: the paper's recipe)."""
    g = parser.add_argument_group("training (defaults: the paper's recipe for the data set and architecture)")
    g.add_argument("--epochs", type=int, help="epochs (CIFAR 160, Tiny-ImageNet 100); milestones scale with it")
    g.add_argument("--lr", type=float, help="initial learning rate (0.1)")
    g.add_argument("--momentum", type=float, help="SGD momentum (0.9)")
    g.add_argument("--weight-decay", type=float, help="weight decay (1e-4; 5e-4 for wrn28_2)")
    g.add_argument("--milestones", type=parse_ints, metavar="E1,E2", help="epochs where the lr is divided by 10 (80,120 of 160)")
    g.add_argument("--batch-size", type=int, help="batch size (128)")
    g.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0: load in the main process)")
    g.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="mixed precision (default: on for CUDA, off on CPU)")
    g.add_argument("--eval-every", type=int, default=1, help="evaluate on the test split every N epochs (default 1; 0: only at the end)")


DST_NAMES = ("set", "rlr", "rigl", "snfs", "dsr", "ch3l3")


def add_dst_arguments(parser: argparse.ArgumentParser) -> None:
    """Dynamic-sparse-training options shared by ``train`` and ``grid`` (see :mod:`pruners.dst`)."""
    from .prune import parse_option

    g = parser.add_argument_group("dynamic sparse training (masks evolve during training; see pruners.dst)")
    g.add_argument("--dst", metavar="METHOD", help=f"drop and regrow links during training: {', '.join(DST_NAMES)}")
    g.add_argument("--drop-fraction", type=float, default=0.3, help="fraction of each layer's links replaced at an update (default 0.3)")
    g.add_argument("--dst-schedule", choices=("cosine", "constant"), default="cosine",
                   help="drop fraction annealed to 0 at --stop-at (cosine, RigL) or constant (default cosine)")
    g.add_argument("--update-every", type=int, default=1, help="update the masks every N --update-unit (default 1)")
    g.add_argument("--update-unit", choices=("epoch", "step"), default="epoch", help="unit of --update-every (default epoch)")
    g.add_argument("--stop-at", type=float, default=0.75, help="no update after this fraction of training, in (0, 1] (default 0.75)")
    g.add_argument("--dst-option", action="append", type=parse_option, default=[], metavar="KEY=VALUE",
                   help="option of the DST method, e.g. --dst-option momentum=0.9 (snfs), --dst-option threshold=0.001 (dsr)")


def dst_spec(args: argparse.Namespace) -> dict | None:
    """The ``dst`` argument of :func:`pruners.train` from the command line (None without ``--dst``)."""
    from topocore.errors import InputError

    if not getattr(args, "dst", None):
        if args.dst_option:
            raise InputError("--dst-option needs --dst METHOD: name the method, e.g. --dst set")
        return None
    from pruners.dst import check_config

    spec = {"drop_fraction": args.drop_fraction, "schedule": args.dst_schedule, "update_every": args.update_every,
            "update_unit": args.update_unit, "stop_at": args.stop_at, **dict(args.dst_option)}
    method = check_config(args.dst, **spec)["method"].name  # InputError before any pruning or training
    return {"method": method, **spec}


def training_kwargs(args: argparse.Namespace, dataset: str | None, arch: str) -> dict:
    """Keyword arguments of :func:`pruners.train` from the recipe and the command-line overrides."""
    from pruners.training import recipe, scaled_milestones
    from topocore.errors import InputError

    rec = recipe(dataset, arch)
    epochs = args.epochs if args.epochs is not None else rec["epochs"]
    if epochs < 1:
        raise InputError(f"--epochs must be >= 1, got {epochs}")
    milestones = args.milestones if args.milestones is not None else scaled_milestones(rec["milestones"], rec["epochs"], epochs)
    return {
        "epochs": epochs,
        "lr": args.lr if args.lr is not None else rec["lr"],
        "momentum": args.momentum if args.momentum is not None else rec["momentum"],
        "weight_decay": args.weight_decay if args.weight_decay is not None else rec["weight_decay"],
        "milestones": milestones,
        "gamma": rec["gamma"],
        "batch_size": args.batch_size if args.batch_size is not None else rec["batch_size"],
        "num_workers": args.workers,
        "amp": args.amp,
        "eval_every": args.eval_every,
    }


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a pruned checkpoint (or prune and train) with masks enforced",
        description=(
            "Train a sparse network with the paper's recipe (SGD momentum 0.9, batch 128, lr 0.1 divided by 10 at "
            "epochs 80 and 120 of 160 for CIFAR, at 30/60/80 of 100 for Tiny-ImageNet; weight decay 1e-4, 5e-4 for "
            "wrn28_2). Pruned weights stay exactly zero. Uses CUDA with mixed precision when available. The output "
            "checkpoint is written after every epoch (continue with --resume) and finally holds the test accuracy."
        ),
    )
    parser.add_argument("checkpoint", nargs="?", help="pruned checkpoint to train (from `topometrics prune`); omit to prune with --arch/--model, --method, --sparsity")
    add_model_option(parser, arch_help="zoo model (when no checkpoint is given)")
    parser.add_argument("--method", help=f"pruning method when no checkpoint is given: {', '.join(METHOD_NAMES)}")
    parser.add_argument("--sparsity", type=float, help="global sparsity when no checkpoint is given")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, pruning and data order (default 0)")
    parser.add_argument("-O", "--option", action="append", type=parse_option, default=[], metavar="KEY=VALUE", help="pruning method option")
    parser.add_argument("--out", "-o", metavar="FILE", help="trained checkpoint (default: CHECKPOINT-trained.pt or ARCH-METHOD-sS-seedN-DATASET.pt)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from --out")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out instead of refusing")
    parser.add_argument("--penalty", help="connectivity penalty on the edge gates of a dagnet added to the loss: l1, "
                        "l1_adaptive or tanh_l1 (see `topometrics dag train` for the whole workflow)")
    parser.add_argument("--lambda", dest="lam", type=float, default=None, help="coefficient of --penalty (default 1e-3)")
    add_model_arguments(parser)
    add_training_arguments(parser)
    add_dst_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pruners import load_checkpoint, train
    from pruners.data import RESHAPABLE, canonical_dataset, get_dataset
    from pruners.pipeline import prune_model
    from topocore.errors import InputError

    device = setup_torch(args)
    dst = dst_spec(args)
    arch = model_name(args)
    penalty = connectivity_penalty_of(args)  # checked before any model is built or file written
    if args.checkpoint:
        if args.arch or args.method or args.sparsity is not None:
            raise InputError("give either a CHECKPOINT or --arch/--model, --method, --sparsity, not both (with a "
                             "CHECKPOINT, --model only trusts the model spec the checkpoint names)")
        ck = load_checkpoint(args.checkpoint, trusted=trusted_models(args))
        model, masks, meta = ck.model, ck.masks, dict(ck.meta)
        meta.pop("history", None)
        dataset = args.dataset or meta.get("dataset")
        if dataset is None:
            raise InputError(f"{args.checkpoint} names no data set: pass --dataset")
        dataset = canonical_dataset(dataset)
        if meta.get("dataset") not in (None, dataset):
            raise InputError(f"{args.checkpoint} was pruned for {meta['dataset']!r}, not {dataset!r}")
        meta["dataset"] = dataset
        default_out = Path(args.checkpoint).with_name(Path(args.checkpoint).stem + "-trained.pt")
    else:
        missing = [f"--{n}" for n in ("method", "sparsity") if getattr(args, n) is None]
        if arch is None:
            missing.insert(0, "--arch/--model")
        if missing or not args.dataset:
            raise InputError(f"without a CHECKPOINT, pass --arch (or --model), --method, --sparsity and --dataset (missing {missing or ['--dataset']})")
        model, masks, meta = prune_model(
            arch, args.method, args.sparsity, dataset=args.dataset, data_root=args.data_root, random_state=args.seed,
            num_classes=args.num_classes, input_shape=args.input_shape, model_kwargs=model_kwargs(args),
            options=dict(args.option), device=device,
        )
        dataset = meta["dataset"]
        default_out = Path(f"{_file_stem(meta['arch'])}-{meta['method']}-s{args.sparsity:g}-seed{args.seed}-{dataset}"
                           f"{'-' + dst['method'] if dst else ''}.pt")
    out = Path(args.out) if args.out else default_out
    if out.exists() and not (args.resume or args.overwrite):
        raise InputError(f"{out} exists: pass --resume to continue it, --overwrite to replace it, or another --out")
    shape = tuple(meta["input_shape"])
    extra = {"input_shape": shape} if dataset in RESHAPABLE else {}
    if dataset == "synthetic":
        extra["num_classes"] = int(meta["num_classes"])
    train_set = get_dataset(dataset, args.data_root, "train", **extra)
    test_set = get_dataset(dataset, args.data_root, "test", **extra)
    if train_set.input_shape != shape or train_set.num_classes != int(meta["num_classes"]):
        raise InputError(
            f"the model expects {shape} inputs and {meta['num_classes']} classes, the data set {dataset!r} has "
            f"{train_set.input_shape} and {train_set.num_classes}"
        )
    kwargs = training_kwargs(args, dataset, meta["arch"])
    if penalty is not None:
        from pruners.connectivity import gated_edges

        gated_edges(model)  # refuses, before training, a model without edge gates
        meta.update(penalty=penalty.name, **{"lambda": penalty.lam})
    kwargs["penalty"] = penalty
    result = train(model, masks, train_set, test_set, device=device, random_state=args.seed, checkpoint=out,
                   meta=meta, resume=args.resume, dst=dst, **kwargs)
    if args.resume and result.resumed_from == result.epochs:
        print(f"{out} is already trained for {result.epochs} epochs: test accuracy {result.accuracy:.4f}")
        return 0
    print(f"trained {meta['arch']} ({meta.get('method')}, sparsity {meta.get('sparsity')}) on {dataset} for "
          f"{result.epochs} epochs on {result.device}{' with AMP' if result.amp else ''}: test accuracy "
          f"{result.accuracy:.4f} -> {out}")
    if result.dst is not None:
        print(f"dynamic sparse training {result.dst.method.name}: {result.dst.update_count} mask updates, "
              f"ITOP rate {result.dst.itop_rate:.4f} (fraction of positions ever active)")
    return 0


def connectivity_penalty_of(args: argparse.Namespace):
    """The validated ``--penalty``/``--lambda`` of ``args`` (None without ``--penalty``)."""
    from topocore.errors import InputError

    if not args.penalty:
        if args.lam is not None:
            raise InputError(f"--lambda {args.lam:g} needs --penalty (l1, l1_adaptive or tanh_l1); add one or drop --lambda")
        return None
    from pruners.connectivity import connectivity_penalty

    return connectivity_penalty(args.penalty, 1e-3 if args.lam is None else args.lam)
