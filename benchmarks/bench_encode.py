"""Benchmark of :func:`encoders.encode`: wall time and peak RSS for the zoo models.

For every (model, sparsity) pair a fresh Python subprocess builds the model
(3x32x32 input, 10 classes, seed 0), draws layer-wise uniform random masks
(``pruners.prune(model, "uniform", sparsity, random_state=0)``), encodes
it once cold (numba loads its compiled kernels from the cache on the first call of
a process) and then ``--repeats`` more times; it reports the median of the repeated
runs, the cold time, the peak resident set size of the process (``ru_maxrss``: it
includes the Python interpreter, torch and the model, listed separately as the
baseline before the first encoding) and the graph size.  Running each configuration
in its own process makes the peak RSS per configuration.

Usage::

    python benchmarks/bench_encode.py                      # 4 models x 3 sparsities
    python benchmarks/bench_encode.py --archs resnet20 --sparsities 0.6 --repeats 7
    python benchmarks/bench_encode.py --markdown results.md

The paper's official implementation needs about 62 s and 8.3 GB for ResNet-20 at
sparsity 0.6 on a 2-core machine; targets here: ResNet-20 at 0.6 under 1.5 s,
Wide-ResNet-28-2 at 0.6 under 10 s with peak RSS under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ARCHS = ("conv6", "resnet20", "resnet32", "wrn28_2")
SPARSITIES = (0.6, 0.9, 0.98)


def _rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def worker(arch: str, sparsity: float, repeats: int, shape: tuple[int, ...], threads: int | None) -> dict:
    """Run in the subprocess: time ``repeats`` encodings of one configuration."""
    import numba
    import torch

    torch.set_num_threads(1)
    if threads:
        numba.set_num_threads(threads)
    from encoders import encode
    from pruners import prune
    from pruners.models import get_model

    torch.manual_seed(0)
    model = get_model(arch, 10, shape)
    masks = prune(model, "uniform", sparsity, random_state=0)
    baseline = _rss_gb()
    t0 = time.perf_counter()
    g = encode(model, shape, masks)
    cold = time.perf_counter() - t0
    edges, nodes = g.num_edges, g.num_nodes
    times = []
    for _ in range(repeats):
        del g  # never hold two graphs at once
        t0 = time.perf_counter()
        g = encode(model, shape, masks)
        times.append(time.perf_counter() - t0)
    return {
        "arch": arch,
        "sparsity": sparsity,
        "edges": edges,
        "nodes": nodes,
        "cold_s": cold,
        "median_s": statistics.median(times) if times else cold,
        "times_s": times,
        "baseline_rss_gb": baseline,
        "peak_rss_gb": _rss_gb(),
        "numba_threads": numba.get_num_threads(),
    }


def run_one(arch: str, sparsity: float, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable, os.path.abspath(__file__), "--worker", arch, str(sparsity),
        "--repeats", str(args.repeats), "--input-shape", ",".join(str(s) for s in args.input_shape),
    ]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark of {arch} at {sparsity} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| model | sparsity | edges | nodes | median time (s) | cold first call (s) | peak RSS (GB) | RSS before encoding (GB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['arch']} | {r['sparsity']} | {r['edges']:,} | {r['nodes']:,} | {r['median_s']:.3f} | "
            f"{r['cold_s']:.3f} | {r['peak_rss_gb']:.2f} | {r['baseline_rss_gb']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", default=",".join(ARCHS), help="comma-separated zoo models")
    parser.add_argument("--sparsities", default=",".join(str(s) for s in SPARSITIES), help="comma-separated sparsities")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after the cold one (median reported)")
    parser.add_argument("--input-shape", default="3,32,32", type=lambda s: tuple(int(x) for x in s.split(",")))
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: numba's)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown to FILE")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results as JSON to FILE")
    parser.add_argument("--worker", nargs=2, metavar=("ARCH", "SPARSITY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        arch, sp = args.worker
        print(json.dumps(worker(arch, float(sp), args.repeats, args.input_shape, args.threads)))
        return 0

    rows = []
    archs = [a for a in args.archs.split(",") if a]
    sparsities = [float(s) for s in args.sparsities.split(",") if s]
    print(f"encoders.encode benchmark: input {args.input_shape}, {args.repeats} timed runs per configuration, "
          f"{os.cpu_count()} CPUs", flush=True)
    print(f"{'model':<10s} {'sparsity':>8s} {'edges':>12s} {'median s':>9s} {'cold s':>8s} {'peak RSS GB':>12s}", flush=True)
    for arch in archs:
        for sp in sparsities:
            r = run_one(arch, sp, args)
            rows.append(r)
            print(f"{arch:<10s} {sp:>8} {r['edges']:>12,} {r['median_s']:>9.3f} {r['cold_s']:>8.3f} "
                  f"{r['peak_rss_gb']:>12.2f}", flush=True)
    table = markdown_table(rows)
    print()
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table + "\n")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
