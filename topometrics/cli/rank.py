"""``topometrics rank``: which pruning-at-initialization method to use, before training any of them."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ._batch import EXECUTOR_EPILOG, add_executor_arguments
from ._common import MODEL_HELP, check_output, model_name, parse_floats, parse_shape, trusted_models

DESCRIPTION = """\
Rank pruning methods for a model and sparsity by the topometric mixture of Cunegatti et al.
(TMLR 2024), without training them.

With no arguments: ResNet-20 for CIFAR-10 inputs; the paper's 7 methods (snip, grasp,
synflow, prospr, uniform, er, erk) pruned at initialization at sparsities 0.9, 0.95 and
0.98, also for the CIFAR-100 and Tiny-ImageNet class counts; every network encoded to its
multipartite graph and its 16 topometrics computed; importance vectors estimated from the
CIFAR-100 and Tiny-ImageNet networks paired with the paper's published accuracies (nothing
about CIFAR-10's accuracies is used); the CIFAR-10 networks ranked by the topometric mixture
and by four baselines (mean layer density, delta_r, delta_r_imdb, lambda_imsg) and compared
with the published CIFAR-10 ranking by Rank-Biased Overlap.  Data-dependent methods score on a
built-in batch of scikit-learn's digits upsampled to 32x32x3 unless --data-root is given.
Needs no data and no GPU.  Resumable: re-running with the same --out reuses finished networks.
"""

EPILOG = """\
examples:
  topometrics rank
  topometrics rank --arch resnet32 --sparsity 0.9 --methods snip,synflow,erk
  topometrics rank --dataset cifar10 --data-root ~/data/cifar-10-batches-py
  topometrics rank --checkpoints runs/*.pt --out my-ranking
  topometrics rank --model mynets:small_cnn --reference-arch resnet20 --sparsity 0.98
(mynets:small_cnn is the README's example of a model of your own, importable from PYTHONPATH)
"""


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "rank",
        help="rank pruning methods for a model and sparsity before training (the main job)",
        description=DESCRIPTION,
        epilog=EPILOG + "\n" + EXECUTOR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--arch", default=None, help="zoo architecture: conv6, resnet20, resnet32, wrn28_2 (default: resnet20)")
    group.add_argument("--model", metavar="MODULE:FACTORY", help=MODEL_HELP + "; needs --reference-arch")
    p.add_argument(
        "--reference-arch", default=None,
        help="architecture of the reference networks whose published accuracies give the importance vectors "
        "(default: --arch; required with --model, e.g. resnet20)",
    )
    p.add_argument(
        "--sparsity", "--sparsities", dest="sparsities", type=parse_floats, default=[0.9, 0.95, 0.98],
        help="comma-separated sparsities (default: 0.9,0.95,0.98)",
    )
    p.add_argument(
        "--methods", default="snip,grasp,synflow,prospr,uniform,er,erk",
        help="comma-separated pruning methods (default: the paper's 7)",
    )
    p.add_argument(
        "--dataset", default=None,
        help="target data set whose class count the ranked networks have, and that data-dependent methods "
        "score on when --data-root is given (cifar10, cifar100, tinyimagenet; default: cifar10); with "
        "--checkpoints: the data set of checkpoints that record none",
    )
    p.add_argument(
        "--data-root", default=None,
        help="folder holding the real --dataset files (CIFAR python batches or the Tiny-ImageNet folder); "
        "default: score data-dependent methods on the built-in digits batch",
    )
    p.add_argument(
        "--references", default=None,
        help="comma-separated data sets whose networks give the importance vectors (default: the paper's other two)",
    )
    p.add_argument(
        "--checkpoints", nargs="+", default=None, metavar="PATH",
        help="rank these pruned checkpoints (written by topometrics prune/train/grid) instead of generating the "
        "target networks; they must share one architecture and data set (with --model: checkpoints of that model)",
    )
    p.add_argument("--input-shape", type=parse_shape, default=(3, 32, 32), help="model input C,H,W (default: 3,32,32)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation and pruning (default: 0)")
    p.add_argument("--repeats", type=int, default=20, help="repeats of the 5-fold CV estimating the importances (default: 20)")
    p.add_argument(
        "-j", "--jobs", "--n-jobs", dest="jobs", type=int, default=None,
        help="worker processes over networks, one core each (default: min(4, cores); each needs about 2.5 GB)",
    )
    p.add_argument("--n-threads", type=int, default=None, metavar="N",
                   help="numba threads per worker for the graph metrics (default: cores // workers)")
    p.add_argument("--out", default=None, help="output folder (default: ./topometrics-out/rank-<arch>-<dataset>)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_executor_arguments(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from topometrics.workflows.rank import RankJob

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    refs = None if args.references is None else [d.strip() for d in args.references.split(",") if d.strip()]
    common = dict(
        references=refs,
        reference_arch=args.reference_arch,
        data_root=args.data_root,
        random_state=args.seed,
        n_repeats=args.repeats,
        n_jobs=args.jobs,
        n_threads=args.n_threads,
        progress=not args.quiet,
    )
    start = time.perf_counter()
    if args.checkpoints:
        job = RankJob.from_checkpoints(args.checkpoints, trusted=trusted_models(args), dataset=args.dataset, **common)
    else:
        job = RankJob(
            arch=model_name(args) or "resnet20",
            methods=methods,
            sparsities=args.sparsities,
            dataset=args.dataset or "cifar10",
            input_shape=tuple(args.input_shape),
            **common,
        )
    if args.scheduler or args.cluster:
        from ._batch import executor_factory

        job.executor = executor_factory(args, n_jobs=job.n_jobs, n_threads=job.n_threads)
    out = Path(args.out) if args.out else Path("topometrics-out") / f"rank-{_stem(job.arch)}-{job.dataset}"
    check_output(out, "output folder")
    from topometrics._numba import announce_compilation

    announce_compilation("rank")
    result = job.run(out, checkpoints=args.checkpoints)
    print(result.to_text())
    print()
    print(f"Finished in {time.perf_counter() - start:.0f} s. Outputs (networks.csv with every topometric, rankings.csv, "
          f"rbo.csv, importance.csv, report.md, ranking.png) in: {out.resolve()}")
    return 0


def _stem(arch: str) -> str:
    return arch.replace(":", "-").replace("/", "-")
