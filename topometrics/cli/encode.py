"""``topometrics encode``: the unrolled multipartite graph encoding of a pruned model.

Sources of a pruned model:

* a zoo model (``--arch``) or a model of your own (``--model package.module:factory``)
  with layer-wise uniform random masks at ``--sparsity`` (seeded by ``--seed``):
  ``topometrics encode --arch resnet20 --sparsity 0.9``;
* an input file (positional): a checkpoint written by :func:`pruners.save_checkpoint` /
  ``topometrics prune``, a plain ``torch.save``-d state dict (optionally
  ``{"state_dict": ..., "masks": ...}``, or with ``*_orig``/``*_mask`` entries from
  :mod:`torch.nn.utils.prune`) of the model given by ``--arch`` / ``--model``, or a
  saved graph (``.npz``, to convert it).

Before encoding, the memory guard (:mod:`topometrics.workflows.guard`, ``--memory-limit``,
default: the memory available now) refuses a graph that would not fit, with exit status 2.
It prints the graph summary (partitions, layers, edge counts), the node and edge
counts and the encoding time, and with ``-o`` writes the graph (its ``meta`` records the
architecture, input shape and the dense network's edge count, which
``effective_sparsity`` needs): ``.npz``
(:meth:`encoders.MultipartiteGraph.save`, read back by ``topometrics metrics``),
``.parquet`` (edge list ``src, dst, weight, layer``; the ``parquet`` extra) or
``.graphml`` (up to 10^6 edges); see :mod:`topometrics.workflows.export`.
"""

from __future__ import annotations

import argparse

from ._common import add_model_option, model_name, parse_bytes, parse_shape

DEFAULT_ARCH = "resnet20"
DEFAULT_SPARSITY = 0.9
DEFAULT_SHAPE = (3, 32, 32)
DEFAULT_CLASSES = 10


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "encode",
        help="encode a pruned model as an unrolled multipartite graph (.npz, Parquet or GraphML)",
        description=(
            "Encode a pruned network as the unrolled, input-aware multipartite graph (MGE) of "
            "Cunegatti et al. (TMLR 2024): a zoo model or a model of your own with uniform random masks "
            f"(default --arch {DEFAULT_ARCH} --sparsity {DEFAULT_SPARSITY}), or an input file."
        ),
    )
    parser.add_argument(
        "checkpoint", nargs="?", metavar="INPUT",
        help="checkpoint written by `topometrics prune` / pruners.save_checkpoint, a state dict of --arch/--model, "
        "or a saved graph (.npz) to convert",
    )
    add_model_option(
        parser,
        arch_help="zoo model, e.g. conv6, resnet20, resnet32, wrn28_2, mobilenet_v2, resnet18, resnet50, "
        f"mobilenet_v2_imagenet (default {DEFAULT_ARCH})",
    )
    parser.add_argument(
        "--sparsity", type=float,
        help=f"fraction of each layer's weights removed by the random masks, in [0, 1) (default {DEFAULT_SPARSITY})",
    )
    parser.add_argument(
        "--input-shape", type=parse_shape, metavar="C,H,W",
        help="input shape without batch (default: the checkpoint's, else the model's: 3,32,32 or 3,224,224)",
    )
    parser.add_argument("--num-classes", type=int, help=f"classifier outputs of --arch/--model (default {DEFAULT_CLASSES})")
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
    parser.add_argument(
        "-o", "--out", metavar="GRAPH",
        help="write the graph: GRAPH.npz (this toolkit), GRAPH.parquet (edge list src, dst, weight, layer; needs "
        "pyarrow, the 'parquet' extra) or GRAPH.graphml (networkx, igraph, Gephi; at most 10^6 edges)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the counts, not the per-layer summary")
    parser.set_defaults(func=run)
    return parser


def _check_out(path: str) -> None:
    """Fail before encoding on an output whose format is unknown or whose folder is not writable."""
    from pathlib import Path

    from topocore.errors import InputError
    from topocore.io import check_writable
    from topometrics.workflows.export import FORMATS

    if Path(path).suffix.lower() not in FORMATS:
        raise InputError(f"-o {path}: the suffix names the format; use {', '.join(FORMATS)}")
    check_writable(path, what="graph file")


def run(args: argparse.Namespace) -> int:
    import time

    from topocore.errors import InputError

    if args.out:
        _check_out(args.out)
    arch = model_name(args)
    kwargs = {"shortcut": args.shortcut} if args.shortcut else {}
    elapsed = None
    pad_nodes = args.conventions == "published"
    if args.checkpoint:
        from topometrics.workflows.inputs import load_network

        if args.sparsity is not None:
            raise InputError("--sparsity sets random masks for --arch/--model; an input file brings its own masks (drop --sparsity)")
        net = load_network(
            args.checkpoint, input_shape=args.input_shape, arch=arch, num_classes=args.num_classes, model_kwargs=kwargs,
        )
        model, masks, meta, shape, graph = net.model, net.masks, dict(net.meta), net.input_shape, net.graph
        source = ("saved graph " if graph is not None else "checkpoint ") + args.checkpoint
        if graph is not None and pad_nodes and not graph.meta.get("pad_nodes"):
            raise InputError(
                f"{args.checkpoint} was encoded without the padding nodes of --conventions published; "
                "encode its checkpoint with --conventions published instead"
            )
    else:
        from pruners import prune
        from pruners.models import build

        arch = arch or DEFAULT_ARCH
        sparsity = DEFAULT_SPARSITY if args.sparsity is None else args.sparsity
        if not 0.0 <= sparsity < 1.0:
            raise InputError(f"--sparsity must be in [0, 1), got {sparsity}")
        from topocore.names import IMAGENET_ARCHS, canonical_arch

        imagenet = canonical_arch(arch, strict=False) in IMAGENET_ARCHS
        shape = tuple(args.input_shape or ((3, 224, 224) if imagenet else DEFAULT_SHAPE))
        num_classes = args.num_classes if args.num_classes is not None else (1000 if imagenet else DEFAULT_CLASSES)
        model = build(arch, num_classes, shape, random_state=args.seed, **kwargs)
        masks = prune(model, "uniform", sparsity, random_state=args.seed)
        meta = {"arch": arch, "sparsity": sparsity, "seed": args.seed, "masks": "uniform random"}
        source = f"{arch} with uniform random masks at sparsity {sparsity} (seed {args.seed})"
        graph = None

    if graph is None:
        from encoders import encode, graph_size
        from topometrics.workflows.guard import check_memory

        nodes, edges = graph_size(model, shape, masks, identity_shortcuts=args.identity_shortcuts, pad_nodes=pad_nodes)
        sparsity = meta.get("sparsity")
        check_memory(source, nodes, edges, [], args.memory_limit or "available", None,
                     float(sparsity) if isinstance(sparsity, (int, float)) and not isinstance(sparsity, bool) else None)
        t0 = time.perf_counter()
        graph = encode(model, shape, masks, identity_shortcuts=args.identity_shortcuts, pad_nodes=pad_nodes)
        elapsed = time.perf_counter() - t0
        for key in ("arch", "method", "sparsity", "seed", "dataset"):
            if meta.get(key) is not None:
                graph.meta.setdefault(key, meta[key])
        graph.meta.setdefault("input_shape", list(shape))
        if args.out:  # a saved graph keeps what effective_sparsity needs (closed form, no dense encoding)
            from topometrics.paths import dense_num_edges

            graph.meta["dense_num_edges"] = int(dense_num_edges(model, shape, pad_nodes=pad_nodes))

    print(f"encoded {source}" + (f", input shape {','.join(str(s) for s in shape)}" if shape else ""))
    if not args.quiet:
        print(graph.summary())
    print(f"nodes: {graph.num_nodes:,}  edges: {graph.num_edges:,}  partitions: {len(graph.partitions)}  "
          f"layers: {len(graph.layers)}")
    if elapsed is not None:
        print(f"encoding time: {elapsed:.3f} s")
    if args.out:
        from topometrics.workflows.export import export_graph

        path = export_graph(graph, args.out)
        print(f"saved graph to {path}")
    return 0
