"""``topometrics encode``: the unrolled multipartite graph encoding of a pruned model.

Two sources of a pruned model:

* a zoo model (``--arch``) with layer-wise uniform random masks at ``--sparsity``
  (seeded by ``--seed``): ``topometrics encode --arch resnet20 --sparsity 0.9``;
* a checkpoint file (positional): one written by :func:`pruners.save_checkpoint` /
  ``topometrics prune``, or a plain ``torch.save``-d state dict (optionally
  ``{"state_dict": ..., "masks": ...}``, or with ``*_orig``/``*_mask`` entries from
  :mod:`torch.nn.utils.prune`) of the zoo model given by ``--arch``.

It prints the graph summary (partitions, layers, edge counts), the node and edge
counts and the encoding time, and with ``-o graph.npz`` saves the graph
(:meth:`encoders.MultipartiteGraph.save`).
"""

from __future__ import annotations

import argparse

from ._common import check_memory, load_state_dict_model, parse_bytes, parse_shape

DEFAULT_ARCH = "resnet20"
DEFAULT_SPARSITY = 0.9
DEFAULT_SHAPE = (3, 32, 32)
DEFAULT_CLASSES = 10


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "encode",
        help="encode a pruned model as an unrolled multipartite graph",
        description=(
            "Encode a pruned network as the unrolled, input-aware multipartite graph (MGE) of "
            "Cunegatti et al. (TMLR 2024): a zoo model with uniform random masks "
            f"(default --arch {DEFAULT_ARCH} --sparsity {DEFAULT_SPARSITY}) or a checkpoint file."
        ),
    )
    parser.add_argument(
        "checkpoint", nargs="?", metavar="CHECKPOINT",
        help="checkpoint written by `topometrics prune` / pruners.save_checkpoint, or a state dict of --arch",
    )
    parser.add_argument("--arch", help=f"zoo model, e.g. conv6, resnet20, resnet32, wrn28_2, mobilenet_v2, resnet18, "
                        f"resnet50, mobilenet_v2_imagenet (default {DEFAULT_ARCH})")
    parser.add_argument(
        "--sparsity", type=float,
        help=f"fraction of each layer's weights removed by the random masks, in [0, 1] (default {DEFAULT_SPARSITY})",
    )
    parser.add_argument(
        "--input-shape", type=parse_shape, metavar="C,H,W",
        help="input shape without batch (default: the checkpoint's, else the model's: 3,32,32 or 3,224,224)",
    )
    parser.add_argument("--num-classes", type=int, help=f"classifier outputs of --arch (default {DEFAULT_CLASSES})")
    parser.add_argument("--shortcut", choices=("A", "B"), help="ResNet shortcut option of --arch (default B)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the random masks (default 0)")
    parser.add_argument(
        "--no-identity-shortcuts", dest="identity_shortcuts", action="store_false",
        help="leave out the weight-1 edges of parameter-free residual shortcuts",
    )
    parser.add_argument(
        "--memory-limit", type=parse_bytes, metavar="SIZE",
        help="refuse at once when the graph's estimated memory exceeds SIZE, e.g. 12G (default: the memory available now)",
    )
    parser.add_argument(
        "--conventions", choices=("ours", "published"), default="ours",
        help="published: the first layer's zero-padding positions are input nodes with their edges, as in the "
        "authors' published graphs (encoders.encode(..., pad_nodes=True)); default ours",
    )
    parser.add_argument("-o", "--out", metavar="GRAPH.npz", help="save the graph to this file")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the counts, not the per-layer summary")
    parser.set_defaults(func=run)
    return parser


def _load_checkpoint(path, args):
    """(model, masks, meta, input_shape) from a checkpoint file."""
    from pathlib import Path

    from . import CLIError

    p = Path(path)
    if not p.exists():
        raise CLIError(f"checkpoint {path} does not exist")
    if args.sparsity is not None:
        raise CLIError("--sparsity sets random masks for --arch; a checkpoint brings its own masks (drop --sparsity)")
    try:
        from pruners import CheckpointError, load_checkpoint
    except ImportError:  # an older pruners without checkpoints: read a plain state dict
        CheckpointError, load_checkpoint = None, None
    if load_checkpoint is not None:
        try:
            ckpt = load_checkpoint(p)
        except CheckpointError as exc:
            if "not a pruners checkpoint" not in str(exc):
                raise CLIError(str(exc)) from None
        else:
            shape = tuple(args.input_shape or ckpt.meta.get("input_shape") or DEFAULT_SHAPE)
            return ckpt.model, ckpt.masks, dict(ckpt.meta), shape
    shape = tuple(args.input_shape or DEFAULT_SHAPE)
    model, masks, meta = load_state_dict_model(p, args, shape, accepted="neither a pruners checkpoint nor a torch state dict")
    return model, masks, meta, shape


def run(args: argparse.Namespace) -> int:
    import time

    import torch

    from encoders import EncodingError, MaskError, encode
    from pruners import prune
    from pruners.models import get_model

    from . import CLIError

    if args.checkpoint:
        model, masks, meta, shape = _load_checkpoint(args.checkpoint, args)
        source = f"checkpoint {args.checkpoint}"
    else:
        arch = args.arch or DEFAULT_ARCH
        sparsity = DEFAULT_SPARSITY if args.sparsity is None else args.sparsity
        if not 0.0 <= sparsity < 1.0:
            raise CLIError(f"--sparsity must be in [0, 1), got {sparsity}")
        from topocore.names import IMAGENET_ARCHS, canonical_arch

        imagenet = canonical_arch(arch, strict=False) in IMAGENET_ARCHS
        shape = tuple(args.input_shape or ((3, 224, 224) if imagenet else DEFAULT_SHAPE))
        num_classes = args.num_classes if args.num_classes is not None else (1000 if imagenet else DEFAULT_CLASSES)
        kwargs = {"shortcut": args.shortcut} if args.shortcut else {}
        torch.manual_seed(args.seed)
        try:
            model = get_model(arch, num_classes, shape, **kwargs)
        except (KeyError, ValueError) as exc:
            raise CLIError(str(exc).strip("'\"")) from None
        masks = prune(model, "uniform", sparsity, random_state=args.seed)
        meta = {"arch": arch, "sparsity": sparsity, "seed": args.seed, "masks": "uniform random"}
        source = f"{arch} with uniform random masks at sparsity {sparsity} (seed {args.seed})"

    from encoders import graph_size

    try:
        nodes, edges = graph_size(
            model, shape, masks, identity_shortcuts=args.identity_shortcuts, pad_nodes=args.conventions == "published"
        )
    except (EncodingError, MaskError) as exc:
        raise CLIError(str(exc)) from None
    sparsity = meta.get("sparsity")
    check_memory(source, nodes, edges, [], args.memory_limit, None,
                 float(sparsity) if isinstance(sparsity, (int, float)) else None)
    t0 = time.perf_counter()
    try:
        graph = encode(
            model, shape, masks, identity_shortcuts=args.identity_shortcuts, pad_nodes=args.conventions == "published"
        )
    except (EncodingError, MaskError) as exc:
        raise CLIError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    for key in ("arch", "method", "sparsity", "seed", "dataset"):
        if meta.get(key) is not None:
            graph.meta.setdefault(key, meta[key])

    print(f"encoded {source}, input shape {','.join(str(s) for s in shape)}")
    if not args.quiet:
        print(graph.summary())
    print(f"nodes: {graph.num_nodes:,}  edges: {graph.num_edges:,}  partitions: {len(graph.partitions)}  "
          f"layers: {len(graph.layers)}")
    print(f"encoding time: {elapsed:.3f} s")
    if args.out:
        path = graph.save(args.out)
        print(f"saved graph to {path}")
    return 0
