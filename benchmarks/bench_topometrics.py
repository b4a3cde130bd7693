"""Benchmark of :func:`topometrics.compute` against the naive python-igraph way.

For every (model, sparsity) configuration:

1. an *encode* subprocess builds the zoo model (3x32x32 input, 10 classes, seed 0),
   draws layer-wise uniform random masks (``pruners.prune(model, "uniform", sparsity,
   random_state=0)``), encodes it with
   :func:`encoders.encode` and saves the raw arrays to a temporary directory;
2. an *ours* subprocess (no torch imported) loads the graph, warms the numba
   kernels up on a tiny graph, and runs ``topometrics.compute(graph)`` (all 16
   metrics exact, plus the extras) ``--repeats`` times, recording the wall time
   of every metric (the time to build a shared CSR structure is charged to the first
   metric that needs it); it reports medians and the process's peak RSS
   (``ru_maxrss``: graph arrays included, listed as the baseline);
3. a *naive* subprocess computes the same metrics the way the official code does
   (python-igraph calls on a ``Graph`` built from the same edges with a weight
   attribute; per-vertex Python loops for sink/source/disconnected; igraph's
   ``motifs_randesu_estimate(size=4, sample=int(0.001 * N))``; ``eigsh`` on the
   symmetrised scipy matrix, ``k=3, which="LM"`` and ``k=2`` on the Laplacian),
   once by default (``--naive-repeats``), and reports the same figures.

The naive run needs about 100 bytes per edge, so configurations above
``--naive-max-edges`` (default 30M) skip it: on this 24 GB machine it would swap or
be killed.  Each configuration runs in its own processes, so peak RSS is per
configuration and per method.

Usage::

    python benchmarks/bench_topometrics.py                       # the full matrix (long)
    python benchmarks/bench_topometrics.py --models resnet20 --sparsities 0.6
    python benchmarks/bench_topometrics.py --models wrn28_2 --sparsities 0.6 --no-naive
    python benchmarks/bench_topometrics.py --json out.json --markdown out.md

Every table gives the median time, the peak RSS and the ns per edge of each metric
(time / edges of the graph), and the load average before and after the
configuration.  For the side-by-side comparison with the authors' own code (not the
igraph calls re-created here) see ``benchmarks/compare_official.py``; for 224x224
ImageNet models ``benchmarks/bench_scale.py``.

Targets: ResNet-20 at 0.6 (about 15M edges): all 16 metrics exact at least 10x faster
than the authors' code (their 46.9 s on a quiet machine) within 6x less memory;
Wide-ResNet-28-2 at 0.6 (about 80M edges): under 5 minutes within 12 GB.
Check ``free -g`` before the large configurations: they need several GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _measure import load_average, median_runs, peak_rss_bytes, timed_compute

#: The default matrix (model -> sparsities).
MATRIX = {
    "resnet20": (0.6, 0.9, 0.98),
    "resnet32": (0.6, 0.9, 0.98),
    "wrn28_2": (0.9, 0.6),
    "conv6": (0.9, 0.6),
    "mobilenet_v2": (0.95, 0.98),
}
SHAPE = (3, 32, 32)


def _rss_gb() -> float:
    return peak_rss_bytes() / 2**30


# ------------------------------------------------------------------------------ workers
def work_encode(model_name: str, sparsity: float, folder: str) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from encoders import encode
    from pruners import prune
    from pruners.models import get_model

    torch.manual_seed(0)
    model = get_model(model_name, 10, SHAPE)
    masks = prune(model, "uniform", sparsity, random_state=0)
    t0 = time.perf_counter()
    g = encode(model, SHAPE, masks)
    seconds = time.perf_counter() - t0
    np.save(os.path.join(folder, "src.npy"), g.src)
    np.save(os.path.join(folder, "dst.npy"), g.dst)
    np.save(os.path.join(folder, "weight.npy"), g.weight)
    np.save(os.path.join(folder, "edge_layer.npy"), g.edge_layer)
    with open(os.path.join(folder, "parts.json"), "w") as fh:
        json.dump([[p.name, list(p.shape)] for p in g.partitions], fh)
    return {"num_nodes": g.num_nodes, "num_edges": g.num_edges, "encode_seconds": seconds}


def _load(folder: str):
    import numpy as np

    from encoders.graph import LayerInfo, MultipartiteGraph, concat_partitions

    with open(os.path.join(folder, "parts.json")) as fh:
        parts = concat_partitions([(name, tuple(shape)) for name, shape in json.load(fh)])
    arrays = {k: np.load(os.path.join(folder, f"{k}.npy")) for k in ("src", "dst", "weight", "edge_layer")}
    layers = [LayerInfo(f"l{i}", "conv", (0,), 0) for i in range(int(arrays["edge_layer"].max()) + 1)]
    return MultipartiteGraph(**arrays, partitions=parts, layers=layers, validate=False)


def work_ours(folder: str, repeats: int, n_threads: int | None) -> dict:
    import numpy as np

    import topometrics
    from encoders.graph import LayerInfo, MultipartiteGraph, concat_partitions

    # warm-up: load the cached numba kernels on a tiny graph
    rng = np.random.default_rng(0)
    tiny = MultipartiteGraph(
        rng.integers(0, 20, 60), rng.integers(20, 40, 60), rng.normal(size=60), np.zeros(60),
        concat_partitions([("a", (20,)), ("b", (20,))]), [LayerInfo("l", "linear", (0,), 1)],
    )
    topometrics.compute(tiny, dense_num_edges=1000, exact=True)
    graph = _load(folder)
    baseline = _rss_gb()
    med, values = median_runs(lambda: timed_compute(graph, n_threads=n_threads, dense_num_edges=10 * graph.num_edges,
                                                    exact=True), repeats)
    return {"seconds": med, "peak_rss_gb": _rss_gb(), "baseline_rss_gb": baseline, "values": values}


def _naive_metrics(g, first_size: int, last_size: int) -> tuple[dict, dict]:
    """The official code's calls (python-igraph + scipy), timed one by one."""
    import numpy as np
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n = g.vcount()
    t: dict[str, float] = {}
    v: dict[str, float] = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        v[name] = fn()
        t[name] = time.perf_counter() - t0

    timed("cut_edges", lambda: len(g.bridges()))
    timed("cut_nodes", lambda: len(g.articulation_points()))
    timed("motif4", lambda: g.motifs_randesu_estimate(size=4, sample=max(1, int(0.001 * n))))
    timed("n1", lambda: float(np.mean(g.neighborhood_size(order=1, mode="out"))))
    timed("n2", lambda: float(np.mean(g.neighborhood_size(order=2, mode="out"))))
    timed("strength", lambda: float(np.mean(g.strength(weights="weight", mode="all"))))
    timed("sink", lambda: len([x.index for x in g.vs if x.outdegree() == 0 and x.indegree() != 0]) - last_size)
    timed("source", lambda: len([x.index for x in g.vs if x.outdegree() != 0 and x.indegree() == 0]) - first_size)
    timed("disconnected", lambda: len([x.index for x in g.vs if x.outdegree() == 0 and x.indegree() == 0]))
    timed("r_in", lambda: sum(x.indegree() for x in g.vs if x.outdegree() == 0 and x.indegree() != 0
                              and x.index < n - 1 - last_size))
    timed("r_out", lambda: sum(x.outdegree() for x in g.vs if x.outdegree() != 0 and x.indegree() == 0
                               and x.index > first_size))
    timed("kcore", lambda: float(np.mean(g.coreness(mode="all"))))

    t0 = time.perf_counter()
    u = g.as_undirected(combine_edges="first")
    u.to_directed()
    comps = u.connected_components(mode="strong")
    v["components"] = len(comps)
    v["component_size"] = float(np.mean([len(c) for c in comps]))
    t["components"] = time.perf_counter() - t0
    t["component_size"] = 0.0

    def spectral():
        # after to_directed() every undirected edge is present in both directions, so the
        # edge list already gives the symmetric matrix (as in the official code)
        edges = np.array(u.get_edgelist())
        w = np.abs(np.array(u.es["weight"], dtype=np.float32))
        mat = sp.csc_matrix((w, (edges[:, 0], edges[:, 1])), shape=(n, n))
        vals = sorted(abs(x) for x in spla.eigsh(mat, k=3, which="LM", return_eigenvectors=False))[::-1]
        gap = vals[0] - vals[-1]
        lap = sp.csc_matrix(sp.diags(np.asarray(mat.sum(axis=1)).ravel()) - mat)
        return gap, lap

    t0 = time.perf_counter()
    v["spectral_gap"], lap = spectral()
    t["spectral_gap"] = time.perf_counter() - t0
    timed("spectral_radius", lambda: max(spla.eigsh(lap, k=2, which="LM", return_eigenvectors=False)))
    return t, v


def work_naive(folder: str, repeats: int) -> dict:
    import igraph as ig
    import numpy as np

    graph = _load(folder)
    baseline = _rss_gb()

    def run():
        t0 = time.perf_counter()
        g = ig.Graph(n=graph.num_nodes, edges=np.column_stack([graph.src, graph.dst]).astype(np.int64), directed=True)
        g.es["weight"] = graph.weight.astype(np.float64).tolist()
        build = time.perf_counter() - t0
        sizes = [p.size for p in graph.partitions]
        timings, values = _naive_metrics(g, sizes[0], sizes[-1])
        timings["build_graph"] = build
        timings["total"] = time.perf_counter() - t0
        return timings, {k: float(x) for k, x in values.items()}

    med, values = median_runs(run, repeats)
    return {"seconds": med, "peak_rss_gb": _rss_gb(), "baseline_rss_gb": baseline, "values": values}


# ------------------------------------------------------------------------------- driver
def _run_worker(args: list[str]) -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_config(model: str, sparsity: float, opts) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_topometrics_") as folder:
        info = _run_worker(["encode", model, str(sparsity), folder])
        result = {"model": model, "sparsity": sparsity, "load_before": load_average(), **info}
        if "error" in info:
            return result
        if not opts.naive_only:
            result["ours"] = _run_worker(["ours", folder, str(opts.repeats), str(opts.n_threads or 0)])
        if opts.naive or opts.naive_only:
            if info["num_edges"] > opts.naive_max_edges:
                result["naive"] = {"skipped": f"{info['num_edges']:,} edges > --naive-max-edges {opts.naive_max_edges:,}"}
            else:
                result["naive"] = _run_worker(["naive", folder, str(opts.naive_repeats)])
    result["load_after"] = load_average()
    return result


def _fmt(x, unit="s"):
    return "-" if x is None else f"{x:.2f} {unit}"


def markdown(results: list[dict]) -> str:
    lines = [
        "| model | sparsity | nodes | edges | ours: all metrics | ns/edge | ours: peak RSS | bytes/edge | naive igraph | "
        "naive: peak RSS | speed-up | load avg before / after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ours, naive = r.get("ours", {}), r.get("naive", {})
        ot = ours.get("seconds", {}).get("total")
        nt = naive.get("seconds", {}).get("total")
        ratio = f"{nt / ot:.1f}x" if ot and nt else "n/a"
        edges = max(r.get("num_edges", 0), 1)
        nspe = f"{1e9 * ot / edges:.0f}" if ot else "-"
        bpe = f"{ours['peak_rss_gb'] * 2**30 / edges:.1f}" if ours.get("peak_rss_gb") else "-"
        lines.append(
            f"| {r['model']} | {r['sparsity']} | {r.get('num_nodes', 0):,} | {r.get('num_edges', 0):,} | {_fmt(ot)} | "
            f"{nspe} | {_fmt(ours.get('peak_rss_gb'), 'GB')} | {bpe} | {_fmt(nt)} | {_fmt(naive.get('peak_rss_gb'), 'GB')} | "
            f"{ratio} | {r.get('load_before', '-')} / {r.get('load_after', '-')} |"
        )
    for r in results:
        ours, naive = r.get("ours", {}), r.get("naive", {})
        if "seconds" not in ours:
            continue
        lines += ["", f"**{r['model']} at sparsity {r['sparsity']}** (median seconds per metric; naive motif4 is sampled)", "",
                  "| metric | ours (s) | ours ns/edge | naive (s) | ratio |", "|---|---:|---:|---:|---:|"]
        edges = max(r.get("num_edges", 0), 1)
        for name, sec in ours["seconds"].items():
            ns = naive.get("seconds", {}).get(name)
            ratio = f"{ns / sec:.1f}x" if ns and sec > 1e-4 else "-"
            lines.append(f"| {name} | {sec:.3f} | {1e9 * sec / edges:.1f} | {'-' if ns is None else f'{ns:.3f}'} | {ratio} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MATRIX), help="comma-separated zoo models (default: all four)")
    parser.add_argument("--sparsities", help="comma-separated sparsities (default: the matrix of the module docstring)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of compute() per configuration (median)")
    parser.add_argument("--naive-repeats", type=int, default=1, help="timed runs of the naive igraph way")
    parser.add_argument("--no-naive", dest="naive", action="store_false", help="skip the naive igraph way")
    parser.add_argument("--naive-only", action="store_true", help="only the naive igraph way")
    parser.add_argument("--naive-max-edges", type=int, default=30_000_000, help="skip the naive way above this edge count")
    parser.add_argument("--n-threads", type=int, default=None, help="numba threads for ours (default: numba's setting)")
    parser.add_argument("--json", help="write all results to this JSON file")
    parser.add_argument("--markdown", help="write the tables to this Markdown file")
    opts = parser.parse_args(argv)
    models = [m.strip() for m in opts.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MATRIX]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MATRIX)}")
    results = []
    for model in models:
        sparsities = [float(s) for s in opts.sparsities.split(",")] if opts.sparsities else MATRIX[model]
        for s in sparsities:
            print(f"[bench_topometrics] {model} sparsity {s} ...", file=sys.stderr, flush=True)
            r = run_config(model, s, opts)
            results.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    table = markdown(results)
    print(table)
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump(results, fh, indent=2)
    if opts.markdown:
        with open(opts.markdown, "w") as fh:
            fh.write(table + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "encode":
            out = work_encode(rest[0], float(rest[1]), rest[2])
        elif kind == "ours":
            out = work_ours(rest[0], int(rest[1]), int(rest[2]) or None)
        elif kind == "naive":
            out = work_naive(rest[0], int(rest[1]))
        else:
            raise SystemExit(f"unknown worker {kind}")
        print(json.dumps(out))
    else:
        sys.exit(main())
