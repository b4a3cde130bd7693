"""Speed of the DAG-wired networks: macro metrics of a 60-node complete DAG, dagnet forward vs a chain.

Two measurements, each in a fresh Python process (so the peak RSS is its own):

* ``metrics``: every macro metric of :mod:`topometrics.dag` on the complete DAG of
  Janik & Nowak's size (60 nodes, 1,770 edges), timed ``--repeats`` times; median, min and
  max wall time per metric (target: well under a second each);
* ``forward``: the forward pass (eval mode, no grad) of ``dagnet`` with the complete
  wiring of ``--nodes`` (default 20,20,20 = 1,770 edges) against the same blocks wired as a
  plain chain (``0 -> 1 -> ... -> N-1``), whose stage-0 width is chosen so that its
  parameter count matches the complete dagnet's as closely as possible (the chain has
  only two reduce blocks, so it needs wider blocks); median over ``--repeats`` calls after
  one warm-up call, and the ratio (target: the dagnet at most 1.5x the chain).

    python benchmarks/bench_dag.py                          # both, defaults
    python benchmarks/bench_dag.py --only forward --batch 64 --input-shape 3,32,32 --repeats 7

Report ``uptime``'s load average with the numbers: the machine is shared.
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


def metrics_worker(repeats: int) -> dict:
    import networkx as nx

    from topometrics import dag

    g = nx.DiGraph([(j, i) for i in range(60) for j in range(i)])
    out = {"nodes": g.number_of_nodes(), "edges": g.number_of_edges(), "metrics": {}}
    for name, metric in dag.METRICS.items():
        times, value = [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            value = metric.func(g)
            times.append(time.perf_counter() - t0)
        out["metrics"][name] = {"times": times, "value": float(value)}
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def _chain_width(nodes, target: int, num_classes: int, shape) -> tuple[int, int]:
    from pruners.models import count_parameters, get_model

    n = sum(nodes)
    chain = [(i, i + 1) for i in range(n - 1)]
    best = None
    for c in range(1, 257):
        p = count_parameters(get_model("dagnet", num_classes, shape, nodes=nodes, channels=c, graph=chain))
        if best is None or abs(p - target) < abs(best[1] - target):
            best = (c, p)
        if p > target:
            break
    return best


def forward_worker(nodes, channels: int, batch: int, shape, repeats: int, threads: int) -> dict:
    import torch

    from pruners.models import count_parameters, get_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dag_model = get_model("dagnet", 10, shape, nodes=nodes, channels=channels).eval()
    target = count_parameters(dag_model)
    width, chain_params = _chain_width(nodes, target, 10, shape)
    chain_model = get_model("dagnet", 10, shape, nodes=nodes, channels=width,
                            graph=[(i, i + 1) for i in range(sum(nodes) - 1)]).eval()
    x = torch.randn(batch, *shape)
    out = {"nodes": list(nodes), "batch": batch, "input_shape": list(shape), "threads": threads}
    for name, model, params, c in (("dagnet", dag_model, target, channels), ("chain", chain_model, chain_params, width)):
        times = []
        with torch.no_grad():
            model(x)  # warm-up
            for _ in range(repeats):
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
        out[name] = {"times": times, "params": int(params), "channels": int(c), "edges": len(model.edges)}
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def _run(kind: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--repeats", str(args.repeats), "--nodes", args.nodes,
           "--channels", str(args.channels), "--batch", str(args.batch), "--input-shape", args.input_shape,
           "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("metrics", "forward"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nodes", default="20,20,20", help="dagnet nodes per stage (default 20,20,20)")
    parser.add_argument("--channels", type=int, default=16, help="dagnet stage-0 channels (default 16)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--input-shape", default="3,32,32")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw timings as JSON")
    parser.add_argument("--worker", choices=("metrics", "forward"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    nodes = tuple(int(v) for v in args.nodes.split(","))
    shape = tuple(int(v) for v in args.input_shape.split(","))
    if args.worker == "metrics":
        print(json.dumps(metrics_worker(args.repeats)))
        return 0
    if args.worker == "forward":
        print(json.dumps(forward_worker(nodes, args.channels, args.batch, shape, args.repeats, args.threads)))
        return 0
    results = {"load_average": os.getloadavg()}
    print(f"load average {results['load_average'][0]:.2f} {results['load_average'][1]:.2f} "
          f"{results['load_average'][2]:.2f}; {os.cpu_count()} CPUs")
    if args.only in (None, "metrics"):
        r = _run("metrics", args)
        results["metrics"] = r
        print(f"\nmacro metrics of the complete DAG ({r['nodes']} nodes, {r['edges']} edges), {args.repeats} runs; "
              f"peak RSS {r['peak_mib']:.0f} MiB")
        print(f"{'metric':<20}{'median s':>10}{'min s':>10}{'max s':>10}   value")
        for name, m in r["metrics"].items():
            t = m["times"]
            print(f"{name:<20}{statistics.median(t):>10.4f}{min(t):>10.4f}{max(t):>10.4f}   {m['value']:.6g}")
    if args.only in (None, "forward"):
        r = _run("forward", args)
        results["forward"] = r
        d, c = r["dagnet"], r["chain"]
        md, mc = statistics.median(d["times"]), statistics.median(c["times"])
        print(f"\nforward pass, batch {r['batch']} x {'x'.join(map(str, r['input_shape']))}, nodes {r['nodes']}, "
              f"{r['threads']} thread(s), {args.repeats} runs; peak RSS {r['peak_mib']:.0f} MiB")
        print(f"{'model':<28}{'params':>10}{'edges':>7}{'median s':>10}{'min s':>9}{'max s':>9}")
        for label, m, med in ((f"dagnet complete (C={d['channels']})", d, md), (f"chain (C={c['channels']})", c, mc)):
            print(f"{label:<28}{m['params']:>10}{m['edges']:>7}{med:>10.4f}{min(m['times']):>9.4f}{max(m['times']):>9.4f}")
        print(f"ratio dagnet / chain: {md / mc:.2f}x (target <= 1.5x)")
        results["forward"]["ratio"] = md / mc
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
