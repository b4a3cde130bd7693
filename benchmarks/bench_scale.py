"""ImageNet-scale benchmark: encode + every topometric of ResNet-18/50 and MobileNetV2 at 224x224.

For every configuration (model, mask kind, sparsity) a fresh process:

1. builds the zoo model (``(3, 224, 224)`` input, 1000 classes, seed 0) and its masks:
   ``uniform`` (every layer at the sparsity, ``pruners.prune(model, "uniform", ...)``) or
   ``erk`` (Erdos-Renyi-Kernel layer densities, random positions, the ``erk`` pruner's
   allocation);
2. counts nodes and edges in closed form (:func:`encoders.graph_size`) and takes the
   memory estimate (:func:`topometrics.cost.memory_estimate`); above ``--memory-limit``
   it stops there, as ``topometrics metrics`` would (the refusal is reported with the
   time it took);
3. otherwise encodes and runs :func:`topometrics.compute` on all metrics (the 16 and the
   3 extras; ``exact="auto"``: exact unless the predicted work says it cannot finish,
   reported per metric), ``--repeats`` times;
4. reports the median time of the encoding and of every metric, ns per edge of each,
   the peak RSS of the process (``ru_maxrss``) and bytes per edge at that peak.

The load average is printed with every configuration.  Each configuration runs in its
own process, so the peak RSS is per configuration.

Usage::

    python benchmarks/bench_scale.py                                   # the issue's matrix
    python benchmarks/bench_scale.py --configs resnet18:uniform:0.9 --repeats 1
    python benchmarks/bench_scale.py --configs resnet50:erk:0.9,resnet50:erk:0.95 --memory-limit 24G

Targets (2 cores, 24 GB): ResNet-18 uniform 0.9 (2.57e8 edges) under 10 minutes and
12 GB; ResNet-50 uniform 0.95 (2.32e8) under 15 minutes and 12 GB; ResNet-50 uniform 0.9
(4.59e8) under 30 minutes and 20 GB; ERK 0.9 refused at once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

from _measure import load_average, median_runs, peak_rss_bytes, timed_compute

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SHAPE = (3, 224, 224)
DEFAULT_CONFIGS = (
    "resnet18:uniform:0.9", "resnet50:uniform:0.95", "resnet50:uniform:0.9", "mobilenet_v2_imagenet:uniform:0.9",
    "resnet18:erk:0.9", "resnet50:erk:0.9", "resnet50:erk:0.95", "resnet50:erk:0.98", "resnet18:erk:0.95",
)


def make_masks(model, kind: str, sparsity: float):
    import torch

    from pruners import prune

    if kind == "uniform":
        return prune(model, "uniform", sparsity, random_state=0)
    if kind == "erk":
        from pruners.layerwise import layerwise_random_masks
        from topocore.masks import prunable_layers

        shapes = {name: tuple(m.weight.shape) for name, m in prunable_layers(model)}
        total = sum(int(torch.Size(s).numel()) for s in shapes.values())
        return layerwise_random_masks(shapes, int(round((1 - sparsity) * total)), "erk", torch.Generator().manual_seed(0))
    raise ValueError(f"mask kind must be uniform or erk, got {kind!r}")


def worker(arch: str, kind: str, sparsity: float, repeats: int, limit: int | None) -> dict:
    import torch

    torch.set_num_threads(1)
    import encoders
    import topometrics
    from pruners.models import get_model
    from topometrics._numba import resolve_n_threads
    from topometrics.cost import available_memory, memory_estimate

    torch.manual_seed(0)
    model = get_model(arch, 1000, SHAPE)
    masks = make_masks(model, kind, sparsity)
    t0 = time.perf_counter()
    nodes, edges = encoders.graph_size(model, SHAPE, masks)
    count_s = time.perf_counter() - t0
    est = memory_estimate(nodes, edges, n_threads=resolve_n_threads(None))
    limit = available_memory() if limit is None else limit
    out = {"arch": arch, "masks": kind, "sparsity": sparsity, "nodes": nodes, "edges": edges, "count_s": count_s,
           "estimate_gb": est["peak"] / 2**30, "limit_gb": limit / 2**30, "load_before": load_average()}
    if est["peak"] > limit:
        out.update(refused=True, refused_after_s=count_s, peak_rss_gb=peak_rss_bytes() / 2**30, load_after=load_average())
        return out
    enc, methods = [], {}

    def run():
        t0 = time.perf_counter()
        graph = encoders.encode(model, SHAPE, masks)
        enc.append(time.perf_counter() - t0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", topometrics.MissingDenseCountWarning)  # effective_sparsity: NaN here
            return timed_compute(graph, total="all metrics", methods=methods)

    med, values = median_runs(run, repeats)
    peak = peak_rss_bytes()
    out.update(refused=False, encode_s=statistics.median(enc), seconds=med,
               ns_per_edge={k: 1e9 * v / edges for k, v in med.items()},
               total_s=statistics.median(enc) + med["all metrics"], peak_rss_gb=peak / 2**30,
               bytes_per_edge=peak / edges, methods={k: v["method"] for k, v in methods.items()},
               values=values, load_after=load_average())
    return out


def run_one(config: str, opts) -> dict:
    arch, kind, sparsity = config.split(":")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", arch, kind, sparsity, "--repeats", str(opts.repeats)]
    if opts.memory_limit:
        cmd += ["--memory-limit", str(opts.memory_limit)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        return {"config": config, "error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def markdown(results: list[dict]) -> str:
    lines = ["| model | masks | sparsity | nodes | edges | encode | all metrics | total | ns/edge | peak RSS | "
             "bytes/edge | load avg before / after |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['config']} | error: {r['error'][:120]} |")
            continue
        head = f"| {r['arch']} | {r['masks']} | {r['sparsity']} | {r['nodes']:,} | {r['edges']:,} |"
        if r["refused"]:
            lines.append(f"{head} refused after {r['refused_after_s']:.1f} s: estimate {r['estimate_gb']:.1f} GB "
                         f"> limit {r['limit_gb']:.1f} GB | | | | {r['peak_rss_gb']:.2f} GB | | "
                         f"{r['load_before']} / {r['load_after']} |")
            continue
        lines.append(f"{head} {r['encode_s']:.1f} s | {r['seconds']['all metrics']:.1f} s | {r['total_s']:.1f} s | "
                     f"{1e9 * r['total_s'] / r['edges']:.0f} | {r['peak_rss_gb']:.2f} GB | {r['bytes_per_edge']:.1f} | "
                     f"{r['load_before']} / {r['load_after']} |")
    for r in results:
        if "seconds" not in r:
            continue
        lines += ["", f"**{r['arch']} {r['masks']} {r['sparsity']}** ({r['edges']:,} edges; median s and ns per edge "
                  f"per metric; methods {r['methods']})", "", "| step | seconds | ns/edge |", "|---|---:|---:|",
                  f"| encode | {r['encode_s']:.2f} | {1e9 * r['encode_s'] / r['edges']:.1f} |"]
        for name, sec in r["seconds"].items():
            lines.append(f"| {name} | {sec:.2f} | {r['ns_per_edge'][name]:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help="comma-separated model:masks:sparsity")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per configuration (median)")
    parser.add_argument("--memory-limit", type=int, default=None, help="bytes (default: the memory available)")
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--markdown", help="write the tables to this Markdown file")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.worker:
        arch, kind, sp = opts.worker
        print(json.dumps(worker(arch, kind, float(sp), opts.repeats, opts.memory_limit)))
        return 0
    results = []
    for config in [c.strip() for c in opts.configs.split(",") if c.strip()]:
        print(f"[bench_scale] {config} (load {load_average()}) ...", file=sys.stderr, flush=True)
        r = run_one(config, opts)
        results.append(r)
        print(json.dumps(r), file=sys.stderr, flush=True)
    table = markdown(results)
    print(table)
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump(results, fh, indent=1)
    if opts.markdown:
        with open(opts.markdown, "w") as fh:
            fh.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
