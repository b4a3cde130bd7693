"""``topometrics dag``: DAG-wired networks whose connectivity between blocks is learned.

``dag train`` trains a ``dagnet`` with a sparsity penalty on its edge gates, derives the
block graph, retrains it from scratch and measures it (see
:mod:`topometrics.workflows.dag_train`); ``dag measure`` measures derived checkpoints
into one table (:mod:`topometrics.workflows.dag_measure`).
"""

from __future__ import annotations

import argparse
import sys

from ._common import parse_shape


def parse_ints(text: str) -> tuple[int, ...]:
    """``"8,8,8"`` -> ``(8, 8, 8)``."""
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 8,8,8, got {text!r}") from None


def parse_seeds(text: str) -> list[int]:
    """``"0"``, ``"0,1,2"`` or ``"0-4"`` -> list of seeds."""
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                out += list(range(int(lo), int(hi) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a seed, a list like 0,1,2 or a range like 0-4, got {text!r}") from None
    if not out:
        raise argparse.ArgumentTypeError(f"no seed in {text!r}")
    return out


def register(subparsers) -> argparse.ArgumentParser:
    from .train import add_training_arguments

    parser = subparsers.add_parser(
        "dag",
        help="DAG-wired networks: learn the connectivity between blocks, derive and measure the block graph",
        description=(
            "Networks whose blocks are wired by a directed acyclic graph with learnable scalar gates on the edges "
            "(TopoNet; Janik & Nowak). `dag train` trains one with a sparsity penalty on the gates, thresholds them, "
            "removes dead paths, retrains the derived topology from scratch and measures its block graph and its MGE; "
            "`dag measure` measures existing checkpoints into one table."
        ),
    )
    sub = parser.add_subparsers(dest="dag_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    tr = sub.add_parser(
        "train",
        help="train a dagnet with a connectivity penalty, derive, retrain and measure its block graph",
        description=(
            "For every --seed: train a dagnet with the penalty (pruners.train), derive the block graph (threshold "
            "or top-k, dead nodes and edges removed), evaluate it without retraining, retrain the derived topology "
            "from scratch, and write OUT/seed{N}/: trained.pt, derived.pt, retrained.pt, topology.graphml, "
            "topology.png, report.json, report.md; then OUT/runs.csv and OUT/table2.md (mean ± sd over the seeds). "
            "Finished seeds are kept and skipped on a rerun; a failing run leaves nothing behind."
        ),
    )
    tr.add_argument("--dataset", required=True, help="digits, digits_t2, synthetic, cifar10, cifar100 or tinyimagenet")
    tr.add_argument("--data-root", metavar="DIR", help="folder holding the data set (not needed for digits)")
    tr.add_argument("--input-shape", type=parse_shape, metavar="C,H,W", help="input shape for digits/digits_t2/synthetic, e.g. 1,8,8")
    tr.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    g = tr.add_argument_group("model (pruners.models.dagnet)")
    g.add_argument("--nodes", type=parse_ints, default=(8, 8, 8), metavar="N0,N1,...", help="nodes per stage (default 8,8,8)")
    g.add_argument("--channels", type=int, default=8, help="channels of stage 0, doubled per stage (default 8)")
    g.add_argument("--graph", default="complete",
                   help="initial wiring: complete (default), er, ws, ba, or a file: GraphML or an edge list ('j i' per line)")
    g.add_argument("--graph-p", type=float, help="edge probability (er, default 0.2) or rewiring probability (ws, default 0.75)")
    g.add_argument("--graph-k", type=int, help="ring neighbours of ws (default 4)")
    g.add_argument("--graph-m", type=int, help="edges per new node of ba (default 5)")
    g.add_argument("--gate", default="tanh", help="gate function: identity, tanh (default) or sigmoid")
    g.add_argument("--gate-init", type=float, help="initial gate value (default 1 for identity, 0.5 for tanh and sigmoid)")
    p = tr.add_argument_group("connectivity (pruners.connectivity)")
    p.add_argument("--penalty", default="tanh_l1", help="l1, l1_adaptive or tanh_l1 (default)")
    p.add_argument("--lambda", dest="lam", type=float, default=1e-3, help="penalty coefficient (default 1e-3, Janik & Nowak)")
    p.add_argument("--rule", default="threshold", help="threshold (default) or topk")
    p.add_argument("--tau", type=float, help="threshold on |gate| (default 0.006, Janik & Nowak)")
    p.add_argument("--k", type=int, help="in-edges kept per node with --rule topk (default 2)")
    tr.add_argument("--seed", type=parse_seeds, default=[0], metavar="S", help="seed(s): 0, 0,1,2 or 0-4 (default 0)")
    tr.add_argument("--retrain-epochs", type=int, help="epochs of the retraining from scratch (default --epochs; 0 skips it)")
    tr.add_argument("--no-mge", dest="mge", action="store_false", help="skip the 16 topometrics of the derived network's MGE")
    tr.add_argument("--overwrite", action="store_true", help="redo seeds that are already finished in OUT")
    tr.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    tr.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: half the cores)")
    tr.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_training_arguments(tr)
    tr.set_defaults(func=run_train)

    ms = sub.add_parser(
        "measure",
        help="measure dagnet checkpoints (block graph and MGE) into one table (resumable)",
        description=(
            "One CSV row per dagnet checkpoint: the macro metrics of its block graph (topometrics.dag), node and "
            "edge counts per stage, sparsity, and the 16 topometrics of its MGE (columns mge_*). A checkpoint with "
            "a recorded derived topology (derived.pt) is measured as derived; others are derived here with "
            "--rule/--tau/--k. Every input is checked first (exit status 2, nothing written); a checkpoint that "
            "fails while being measured becomes a row with its error and the command exits with status 1. Rows "
            "already measured are skipped."
        ),
    )
    ms.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="dagnet checkpoints (e.g. OUT/seed*/derived.pt)")
    ms.add_argument("--out", "-o", required=True, metavar="TABLE.csv", help="output table (resumed when it exists)")
    ms.add_argument("--summary", metavar="FILE.md", help="also write the mean ± sd summary per data set (Markdown)")
    ms.add_argument("--rule", help="derive with this rule instead of the recorded one: threshold or topk")
    ms.add_argument("--tau", type=float, help="threshold on |gate| (default 0.006)")
    ms.add_argument("--k", type=int, help="in-edges kept per node with --rule topk (default 2)")
    ms.add_argument("--no-mge", dest="mge", action="store_false", help="skip the 16 topometrics of the MGE")
    ms.add_argument("--seed", type=int, default=0, help="random_state of the spectral metrics of the MGE (default 0)")
    ms.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ms.set_defaults(func=run_measure)
    return parser


def _graph_option(text: str):
    """A generator name, or the edge list of a user-given graph file."""
    import os

    from topocore.errors import InputError

    if text.lower() in ("complete", "er", "ws", "ba"):
        return text.lower()
    if not os.path.isfile(text):
        raise InputError(f"--graph {text!r} is neither complete, er, ws, ba nor an existing graph file")
    import networkx as nx

    try:
        if text.endswith((".graphml", ".xml")):
            g = nx.read_graphml(text, node_type=int)
        else:
            g = nx.read_edgelist(text, nodetype=int, create_using=nx.DiGraph, data=False)
    except Exception as exc:  # networkx raises many parser errors on foreign files
        raise InputError(f"--graph {text}: not a GraphML file or an edge list of integer node pairs ({exc})") from None
    if not g.is_directed():
        raise InputError(f"--graph {text}: the graph is undirected; a dagnet needs a directed acyclic graph")
    return g


def run_train(args: argparse.Namespace) -> int:
    from topocore.errors import InputError, TopometricsError

    from .prune import setup_torch
    from .train import training_kwargs

    device = setup_torch(args)
    from topometrics.workflows.dag_train import DagConfig, train_dag

    graph = _graph_option(args.graph)
    kw = training_kwargs(args, args.dataset, "dagnet")
    config = DagConfig(
        dataset=args.dataset, input_shape=args.input_shape, data_root=args.data_root, nodes=args.nodes,
        channels=args.channels, graph=graph if isinstance(graph, str) else sorted(graph.edges()),
        graph_p=args.graph_p, graph_k=args.graph_k, graph_m=args.graph_m, gate=args.gate, gate_init=args.gate_init,
        penalty=args.penalty, lam=args.lam, rule=args.rule, tau=args.tau, k=args.k, epochs=kw["epochs"],
        lr=kw["lr"], momentum=kw["momentum"], weight_decay=kw["weight_decay"], milestones=kw["milestones"],
        gamma=kw["gamma"], batch_size=kw["batch_size"], retrain_epochs=args.retrain_epochs, mge=args.mge,
        device=str(device), amp=kw["amp"], num_workers=kw["num_workers"], eval_every=kw["eval_every"],
    )
    if not isinstance(graph, str):
        # check the graph itself (cycles, dead edges) before anything else, with the file named
        from pruners.models.dagnet import build_edges

        try:
            build_edges(sum(args.nodes), graph)
        except TopometricsError as exc:
            raise InputError(f"--graph {args.graph}: {exc}") from None
    reports = train_dag(config, args.out, args.seed, overwrite=args.overwrite, progress=not args.quiet)
    print(f"{len(reports)} run(s) in {args.out}: runs.csv, table2.md, seed*/")
    return 0


def run_measure(args: argparse.Namespace) -> int:
    from topometrics.workflows.dag_measure import measure_checkpoints

    def report(path, exc):
        print(f"topometrics dag measure: {path}: {exc}", file=sys.stderr)

    rows, failures = measure_checkpoints(
        args.checkpoints, args.out, rule=args.rule, tau=args.tau, k=args.k, mge=args.mge, random_state=args.seed,
        summary=args.summary, progress=not args.quiet, on_error=report,
    )
    print(f"{len(rows)} row(s) in {args.out} ({failures} failed)" + (f"; summary: {args.summary}" if args.summary else ""))
    return 1 if failures else 0
