"""Time every pruning method on every zoo model on CPU (default sparsity 0.9, 3x32x32 inputs).

Each (model, method) pair runs in a fresh Python process (so its peak RSS is its own): the
model (a zoo name or a ``package.module:factory`` spec, see :func:`pruners.build`) is built
once from ``random_state=0``, then ``pruners.prune`` is timed ``--repeats`` times with the method's
default options on synthetic class-prototype images (512 samples, 10 classes) and the
median wall time is reported with the process's peak resident memory.

    python benchmarks/bench_pruners.py                       # everything (takes a while)
    python benchmarks/bench_pruners.py --archs resnet20 --methods snip synflow --repeats 5
    python benchmarks/bench_pruners.py --archs "mypackage.nets:small_cnn"   # a model of your own

Columns: median seconds per prune call, min and max over the repeats, peak RSS in MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ARCHS = ["conv6", "resnet20", "resnet32", "wrn28_2"]
METHODS = ["snip", "grasp", "synflow", "prospr", "uniform", "er", "er_channel", "erk", "iter_snip", "ntksap", "magnitude", "random"]


def worker(arch: str, method: str, sparsity: float, repeats: int, shape: tuple[int, ...], n_threads: int, options: dict) -> dict:
    import torch

    torch.set_num_threads(n_threads)
    from pruners import build, prune
    from pruners.data import get_dataset

    data = get_dataset("synthetic", split="train", input_shape=shape, n_samples=512)
    model = build(arch, 10, shape, random_state=0)
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        masks = prune(model, method, sparsity, data=data, input_shape=shape, random_state=r, progress=False, **options)
        times.append(time.perf_counter() - t0)
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"arch": arch, "method": method, "times": times, "sparsity": 1 - kept / total, "peak_mib": peak_mib}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=ARCHS)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--input-shape", default="3,32,32")
    parser.add_argument("--n-threads", "--threads", dest="n_threads", type=int, default=1,
                        help="torch kernel threads per worker process (default 1)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw timings as JSON")
    parser.add_argument("-O", "--option", action="append", default=[], metavar="METHOD:KEY=VALUE",
                        help="non-default method option (reported in the output), e.g. -O prospr:batch_size=32")
    parser.add_argument("--worker", nargs=2, metavar=("ARCH", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(int(s) for s in args.input_shape.split(","))
    options: dict[str, dict] = {}
    for text in args.option:
        method, rest = text.split(":", 1)
        key, value = rest.split("=", 1)
        options.setdefault(method, {})[key] = json.loads(value)
    if args.worker:
        arch, method = args.worker
        print(json.dumps(worker(arch, method, args.sparsity, args.repeats, shape, args.n_threads, options.get(method, {}))))
        return 0
    if options:
        print(f"non-default options: {options}")
    print(f"pruners benchmark: sparsity {args.sparsity}, input {shape}, {args.repeats} repeats, {args.n_threads} thread(s), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"{'model':<10} {'method':<10} {'median s':>9} {'min s':>8} {'max s':>8} {'peak MiB':>9}")
    results = []
    for arch in args.archs:
        for method in args.methods:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", arch, method, "--sparsity", str(args.sparsity),
                   "--repeats", str(args.repeats), "--input-shape", args.input_shape, "--n-threads", str(args.n_threads)]
            cmd += [a for text in args.option for a in ("-O", text)]
            env = dict(os.environ, OMP_NUM_THREADS=str(args.n_threads))
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(f"{arch:<10} {method:<10} FAILED: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(res)
            t = res["times"]
            print(f"{arch:<10} {method:<10} {statistics.median(t):9.3f} {min(t):8.3f} {max(t):8.3f} {res['peak_mib']:9.0f}", flush=True)
    if args.json:
        from topocore.io import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
