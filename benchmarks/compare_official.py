"""Side-by-side run of this toolkit and the authors' code on the same masks: encode + the 16 topometrics.

The authors' implementation (github.com/eliacunegatti/mge-snn, the paper's official
code) is *not* part of this repository: give this script the path of a checkout of it
and a Python interpreter of an environment where it runs.  Nothing of it is copied or
imported here; a small driver, written to a temporary folder, runs in that interpreter.

What is compared, per configuration (model, sparsity), on the same weights and masks:

1. this script builds the zoo model (3x32x32 input, 10 classes, seed 0), draws
   layer-wise uniform random masks (seed 0) and saves the weights and the masks;
2. *ours*: a fresh process loads them, encodes (:func:`encoders.encode`) and computes the
   paper's 16 topometrics, all exact (:func:`topometrics.compute`, motif4 counted
   exactly), after loading the numba kernels (compiled once and cached) by measuring a tiny graph and
   encoding the same model at 8x8 inputs, untimed like the official code's numba warm-up;
3. *theirs*: a fresh process with the authors' interpreter imports their ``main.py``
   (``torchvision`` is replaced by a stand-in: their code imports it for data loading,
   which the driver skips, and uses one ``transforms.Pad``, zero padding of a small 2-D
   tensor, which the stand-in reproduces) and calls their ``main(args)`` with
   ``--encoding unrolled --graph_metrics topometrics``, its data loader and pruning
   replaced by the saved weights and masks; their numba warm-up (``load_numba``) is not
   timed.  Their motif count is igraph's sampled estimate (0.1% of the nodes).
4. the two alternate (ours, theirs, ours, theirs, ...) ``--repeats`` times; the script
   prints the medians of the encoding time, the metric time and their sum, the peak RSS
   of each process (``ru_maxrss``), the ratios, and the load average before and after.

Their model classes (``models/resnet.py``: ResNet-20/32 with option-B shortcuts) have
the same parameter names and module order as the zoo's, so the masks apply as they are;
the supported models are ``resnet20`` and ``resnet32``.

How to run it::

    # once: a checkout of the authors' code, and an environment for it (outside this repo)
    git clone https://github.com/eliacunegatti/mge-snn ../mge-snn
    python -m venv ../mge-venv
    ../mge-venv/bin/pip install torch numpy==1.26.2 scipy==1.11.4 igraph==0.11.3 networkx==3.2.1 \\
        numba==0.58.1 pandas==2.1.3 progressbar2 matplotlib psutil
    # the comparison (quiet machine; about 2 minutes per repeat for ResNet-20 at 0.6)
    python benchmarks/compare_official.py --official ../mge-snn --official-python ../mge-venv/bin/python \\
        --models resnet20 --sparsities 0.6 --repeats 3

Their ``deps/requirements.txt`` pins igraph 0.11.3, numba 0.58.1, numpy 1.26, scipy 1.11
(those versions are the ones above); torch only builds their model and can be any recent
CPU build.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run from a checkout: import this checkout's packages
    sys.path.insert(0, ROOT)

SHAPE = (3, 32, 32)
THEIR_NAMES = {"resnet20": "Resnet-20", "resnet32": "Resnet-32"}

OURS = textwrap.dedent(
    """
    import json, resource, sys, time
    import numpy as np, torch
    torch.set_num_threads(1)
    import encoders, topometrics
    from encoders.graph import LayerInfo, MultipartiteGraph, concat_partitions
    from pruners.models import get_model
    from topocore.names import PAPER_METRICS
    folder, arch = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)  # warm-up: load the cached numba kernels
    tiny = MultipartiteGraph(rng.integers(0, 20, 60), rng.integers(20, 40, 60), rng.normal(size=60), np.zeros(60),
                             concat_partitions([("a", (20,)), ("b", (20,))]), [LayerInfo("l", "linear", (0,), 1)])
    topometrics.compute(tiny, list(PAPER_METRICS), exact=True)
    from pruners import prune  # warm-up of the encoder's kernels: the same model at 8x8 inputs, random masks
    small = get_model(arch, 10, (3, 8, 8))
    encoders.encode(small, (3, 8, 8), prune(small, "uniform", 0.5, random_state=0))
    saved = torch.load(folder + "/model.pt")
    model = get_model(arch, 10, (3, 32, 32))
    model.load_state_dict(saved["state_dict"])
    t0 = time.perf_counter()
    graph = encoders.encode(model, (3, 32, 32), saved["masks"])
    t1 = time.perf_counter()
    values = topometrics.compute(graph, list(PAPER_METRICS), exact=True)
    t2 = time.perf_counter()
    print(json.dumps({"encode": t1 - t0, "metrics": t2 - t1, "nodes": graph.num_nodes, "edges": graph.num_edges,
                      "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                      "values": {k: float(v) for k, v in values.items()}}))
    """
)

THEIRS = textwrap.dedent(
    """
    import json, os, resource, sys, time, types
    checkout, folder, their_name, sparsity = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    sys.path.insert(0, checkout)
    os.chdir(folder)
    # torchvision: their data loading (skipped here) and one transforms.Pad (zero padding of a
    # small 2-D tensor) in their encoding; a stand-in with that behaviour replaces it
    import torch
    tv = types.ModuleType("torchvision")
    for sub in ("datasets", "transforms", "models"):
        mod = types.ModuleType("torchvision." + sub)
        setattr(tv, sub, mod)
        sys.modules["torchvision." + sub] = mod
    class Pad:
        def __init__(self, padding):
            self.p = int(padding)
        def __call__(self, t):
            return torch.nn.functional.pad(t, (self.p, self.p, self.p, self.p))
    tv.transforms.Pad = Pad
    tv.transforms.InterpolationMode = types.SimpleNamespace(BOX=None)
    sys.modules["torchvision"] = tv
    torch.set_num_threads(1)
    import main as official
    saved = torch.load(os.path.join(folder, "model.pt"))
    def no_data(dataset):
        return None, None, 32, 3, 10
    def our_masks(args, model, trainloader, device, classes):
        model.load_state_dict(saved["state_dict"])
        order = [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        return [saved["masks"][n + ".weight"].float() for n in order]
    marks = {}
    real_encoding = official.get_encoding
    def timed_encoding(*a, **k):
        marks["t0"] = time.perf_counter()
        out = real_encoding(*a, **k)
        marks["t1"] = time.perf_counter()
        return out
    official.get_dataset = no_data
    official.apply_pruning = our_masks
    official.get_encoding = timed_encoding
    args = types.SimpleNamespace(model=their_name, dataset="CIFAR-10", sparsity=sparsity, pruning="uniform", seed=0,
                                 encoding="unrolled", device="cpu", graph_metrics="topometrics", training=False)
    official.args = args
    official.main(args)
    t2 = time.perf_counter()
    print(json.dumps({"encode": marks["t1"] - marks["t0"], "metrics": t2 - marks["t1"],
                      "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
    """
)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _run(cmd: list[str], env: dict) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        raise RuntimeError(f"{cmd[1]} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def save_inputs(arch: str, sparsity: float, folder: str) -> None:
    import torch

    from pruners import prune
    from pruners.models import get_model

    torch.manual_seed(0)
    model = get_model(arch, 10, SHAPE)
    masks = prune(model, "uniform", sparsity, random_state=0)
    torch.save({"state_dict": model.state_dict(), "masks": {k: v.bool() for k, v in masks.items()}},
               os.path.join(folder, "model.pt"))


def compare(arch: str, sparsity: float, opts) -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    ours_env = dict(env, PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""))
    theirs_env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER")}
    runs: dict[str, list[dict]] = {"ours": [], "theirs": []}
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="compare_official_") as folder:
        save_inputs(arch, sparsity, folder)
        ours_py = os.path.join(folder, "ours.py")
        theirs_py = os.path.join(folder, "theirs.py")
        with open(ours_py, "w") as fh:
            fh.write(OURS)
        with open(theirs_py, "w") as fh:
            fh.write(THEIRS)
        for i in range(opts.repeats):
            print(f"[compare_official] {arch} {sparsity}: repeat {i + 1}/{opts.repeats} (load {_load()})",
                  file=sys.stderr, flush=True)
            runs["ours"].append(_run([sys.executable, ours_py, folder, arch], ours_env))
            print(f"[compare_official]   ours: {json.dumps({k: v for k, v in runs['ours'][-1].items() if k != 'values'})}"
                  f" (load {_load()})", file=sys.stderr, flush=True)
            if not opts.ours_only:
                runs["theirs"].append(_run([opts.official_python, theirs_py, os.path.abspath(opts.official), folder,
                                            THEIR_NAMES[arch], str(sparsity)], theirs_env))
                print(f"[compare_official]   theirs: {json.dumps(runs['theirs'][-1])} (load {_load()})",
                      file=sys.stderr, flush=True)
    out = {"model": arch, "sparsity": sparsity, "repeats": opts.repeats, "load_before": load_before,
           "load_after": _load(), "nodes": runs["ours"][0]["nodes"], "edges": runs["ours"][0]["edges"]}
    for who, rs in runs.items():
        if not rs:
            continue
        out[who] = {k: statistics.median(r[k] for r in rs) for k in ("encode", "metrics", "peak_rss_gb")}
        out[who]["total"] = statistics.median(r["encode"] + r["metrics"] for r in rs)
        out[who]["runs"] = [{k: r[k] for k in ("encode", "metrics", "peak_rss_gb")} for r in rs]
    out["values"] = runs["ours"][0]["values"]
    return out


def table(results: list[dict]) -> str:
    lines = ["| case | edges | ours total | theirs total | ratio | ours metrics | theirs metrics | ratio | "
             "ours encode | theirs encode | peak RSS ours / theirs | memory ratio | load avg before / after |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        o, t = r["ours"], r.get("theirs")
        if t is None:
            lines.append(f"| {r['model']} {r['sparsity']} | {r['edges']:,} | {o['total']:.2f} s | - | - | "
                         f"{o['metrics']:.2f} s | - | - | {o['encode']:.2f} s | - | {o['peak_rss_gb']:.2f} / - GB | - | "
                         f"{r['load_before']} / {r['load_after']} |")
            continue
        lines.append(
            f"| {r['model']} {r['sparsity']} | {r['edges']:,} | {o['total']:.2f} s | {t['total']:.1f} s | "
            f"{t['total'] / o['total']:.1f}x | {o['metrics']:.2f} s | {t['metrics']:.1f} s | "
            f"{t['metrics'] / o['metrics']:.1f}x | {o['encode']:.2f} s | {t['encode']:.1f} s | "
            f"{o['peak_rss_gb']:.2f} / {t['peak_rss_gb']:.2f} GB | {t['peak_rss_gb'] / o['peak_rss_gb']:.1f}x | "
            f"{r['load_before']} / {r['load_after']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", required=True, help="path of a checkout of the authors' repository (mge-snn)")
    parser.add_argument("--official-python", required=True, help="Python interpreter of an environment for their code")
    parser.add_argument("--models", default="resnet20", help="comma-separated: resnet20, resnet32")
    parser.add_argument("--sparsities", default="0.6", help="comma-separated sparsities")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each (medians reported)")
    parser.add_argument("--ours-only", action="store_true", help="skip their code (timings of ours alone)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    opts = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(opts.official, "main.py")):
        parser.error(f"{opts.official} has no main.py: give a checkout of github.com/eliacunegatti/mge-snn")
    results = []
    for arch in [m.strip() for m in opts.models.split(",") if m.strip()]:
        if arch not in THEIR_NAMES:
            parser.error(f"unsupported model {arch!r}; choose from {sorted(THEIR_NAMES)}")
        for s in [float(x) for x in opts.sparsities.split(",") if x.strip()]:
            r = compare(arch, s, opts)
            results.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    print(table(results))
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
