"""``topometrics prune``: prune a zoo model at initialization and save a checkpoint."""

from __future__ import annotations

import argparse
import ast
import os

from ._common import add_model_option, model_name, parse_shape

METHOD_NAMES = ("snip", "grasp", "synflow", "prospr", "uniform", "er", "er_channel", "erk", "iter_snip", "ntksap", "magnitude", "random", "dense")


def parse_option(text: str) -> tuple[str, object]:
    """``"iterations=10"`` -> ``("iterations", 10)`` (values read as Python literals, else strings)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed: object = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return key.strip(), parsed


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``prune``, ``train`` and ``grid`` to describe the model and data."""
    parser.add_argument("--dataset", help="cifar10, cifar100, tinyimagenet, digits or synthetic (sets classes and input shape; data for data-dependent methods)")
    parser.add_argument("--data-root", metavar="DIR", help="folder holding the data set (see `pruners.data`); not needed for digits/synthetic")
    parser.add_argument("--num-classes", type=int, help="classifier outputs (default: the data set's, else 10)")
    parser.add_argument("--input-shape", type=parse_shape, metavar="C,H,W", help="input shape (default: the data set's, else 3,32,32)")
    parser.add_argument("--shortcut", choices=("A", "B"), help="ResNet shortcut option (default B)")
    parser.add_argument("--device", default=None, help="torch device: cpu, cuda, cuda:1 (default: cuda when available, else cpu)")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch CPU threads (default: half the CPU cores, at least 1; on a shared machine more threads than free cores slow torch down badly)",
    )


def setup_torch(args: argparse.Namespace):
    """Apply ``--threads`` and resolve ``--device``; returns the torch device."""
    import torch

    from topocore.errors import InputError

    threads = args.threads
    if threads is None:
        threads = max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) // 2))
    if threads < 1:
        raise InputError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    name = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise InputError(f"--device {name!r} is not a torch device: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda requested but no CUDA GPU is available; use --device cpu")
    return device


def model_kwargs(args: argparse.Namespace) -> dict:
    return {"shortcut": args.shortcut} if getattr(args, "shortcut", None) else {}


def _file_stem(arch: str) -> str:
    """A file-name-safe form of a zoo name or model spec (``pkg.mod:make`` -> ``pkg.mod-make``)."""
    return arch.replace(":", "-").replace("/", "-")


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "prune",
        help="prune a zoo model at initialization and save a checkpoint",
        description=(
            "Build a zoo model (--arch) or a model of your own (--model) initialised from --seed, prune it with a pruning-at-initialization or "
            "layer-wise random method to the given global sparsity, and save a checkpoint "
            "(weights, masks, metadata) that `topometrics train`, `encode` and `metrics` read."
        ),
    )
    add_model_option(parser, required=True)
    parser.add_argument("--method", required=True, help=f"one of {', '.join(METHOD_NAMES)}")
    parser.add_argument("--sparsity", type=float, required=True, help="global fraction of conv/linear weights removed, in [0, 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the pruning (default 0)")
    parser.add_argument("--out", "-o", metavar="FILE", help="checkpoint to write (default ARCH-METHOD-sSPARSITY-seedSEED.pt)")
    parser.add_argument(
        "--option", "-O", action="append", type=parse_option, default=[], metavar="KEY=VALUE",
        help="method option, repeatable, e.g. -O iterations=100 -O batch_size=128",
    )
    add_model_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pruners import save_checkpoint
    from pruners.masks import mask_stats
    from pruners.pipeline import prune_model

    device = setup_torch(args)
    options = dict(args.option)
    model, masks, meta = prune_model(
        model_name(args),
        args.method,
        args.sparsity,
        dataset=args.dataset,
        data_root=args.data_root,
        random_state=args.seed,
        num_classes=args.num_classes,
        input_shape=args.input_shape,
        model_kwargs=model_kwargs(args),
        options=options,
        device=device,
    )
    out = Path(args.out or f"{_file_stem(meta['arch'])}-{meta['method']}-s{args.sparsity:g}-seed{args.seed}.pt")
    save_checkpoint(out, model, masks, meta)
    stats = mask_stats(masks)
    kept = sum(k for k, _ in stats.values())
    total = sum(t for _, t in stats.values())
    print(
        f"{meta['arch']} pruned with {meta['method']}: kept {kept} of {total} weights "
        f"(sparsity {1 - kept / total:.4f}) in {meta['prune_seconds']:.2f} s -> {out}"
    )
    return 0
