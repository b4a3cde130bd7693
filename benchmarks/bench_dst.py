"""Dynamic sparse training costs: CH3-L3 scoring, the per-epoch update overhead of every method on the
sparse MLP, and RigL's extra gradient step on ResNet-20.  Each measurement runs in a fresh Python
process (so its peak RSS is its own) and prints the median over repeats and the load average.

    python benchmarks/bench_dst.py                       # everything (about 10 minutes on 2 cores)
    python benchmarks/bench_dst.py --only ch3l3 rigl     # the quick parts
    python benchmarks/bench_dst.py --samples 20000       # a smaller MLP epoch

1. ``ch3l3``: :func:`pruners.dst.ch3l3_scores` of a 1000 x 1000 mask at 1% density (every
   position scored), ``--numba-threads`` threads (default 2), after one warm-up call (JIT).
2. ``mlp``: the robustness paper's network (784 -> 1000 -> 1000 -> 1000 -> 10, dense readout,
   hidden layers at 99% sparsity, ER masks) trained on MNIST-shaped synthetic data
   (``--samples`` images of 1x28x28, batch 128: one epoch = ``ceil(samples / 128)`` steps) with
   per-epoch updates (constant drop fraction 0.3).  For every method: the median time of an update
   (the ``ds.step()`` call that updates the masks), the per-epoch cost of the other ``ds.step()``
   calls (mask re-application, SNFS's momentum folding), the median epoch time of the same
   training without DST, and overhead = (update + other step() calls) / static epoch.  The
   epoch time with the engine attached (which also holds SNFS's gradient hooks) is printed too.
3. ``rigl``: ResNet-20 at 0.9 (ERK) on 3x32x32 inputs, batch 128: the median time of RigL's extra
   dense-gradient pass next to the median time of one training step.

Timings are wall-clock on a possibly shared machine: the load average is printed with every
block; compare figures only when it is low.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def work_ch3l3(repeats: int, threads: int, size: int, density: float) -> dict:
    import numba
    import torch

    numba.set_num_threads(threads)
    from pruners.dst import ch3l3_scores

    mask = torch.rand(size, size, generator=torch.Generator().manual_seed(0)) < density
    ch3l3_scores(mask)  # JIT compile / load the cache
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        scores = ch3l3_scores(mask)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"times": times, "cpu": cpu, "edges": int(mask.sum()), "positive": int((scores > 0).sum()), "peak_mib": _peak_mib()}


def _mlp_setup(samples: int, seed: int = 0):
    import torch

    from pruners import prune
    from pruners.pipeline import build_model

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(samples, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (samples,), generator=g)
    model = build_model("mlp", 10, (1, 28, 28), seed)
    masks = prune(model, "er", 0.99, random_state=seed)
    return model, masks, x, y


def work_mlp(method: str, samples: int, epochs: int, batch: int) -> dict:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    from pruners.dst import DynamicSparsity
    from pruners.masks import apply_masks, enforce_masks

    model, masks, x, y = _mlp_setup(samples)
    steps = math.ceil(samples / batch)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    ds = None
    if method == "static":
        apply_masks(model, masks)
    else:
        ds = DynamicSparsity(model, masks, method, epochs=epochs, steps_per_epoch=steps, optimizer=opt,
                             schedule="constant", stop_at=1.0, drop_fraction=0.3)
    epoch_times, update_times, step_times = [], [], []
    g = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        order = torch.randperm(samples, generator=g)
        t_epoch = time.perf_counter()
        for s in range(steps):
            idx = order[s * batch:(s + 1) * batch]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
            enforce_masks(model)
            if ds is not None:
                t0 = time.perf_counter()
                updated = ds.step(batch=(xb, yb))
                (update_times if updated else step_times).append(time.perf_counter() - t0)
        epoch_times.append(time.perf_counter() - t_epoch)
    return {"method": method, "epoch_times": epoch_times, "update_times": update_times, "step_times": step_times,
            "steps_per_epoch": steps, "peak_mib": _peak_mib()}


def work_rigl(repeats: int, batch: int) -> dict:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    import warnings

    from pruners import prune
    from pruners.dst import DynamicSparsity
    from pruners.dst.gradients import dense_gradients
    from pruners.pipeline import build_model

    model = build_model("resnet20", 10, (3, 32, 32), 0)
    masks = prune(model, "erk", 0.9, random_state=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with warnings.catch_warnings():  # ERK keeps two small layers dense; DST leaves them alone
        warnings.simplefilter("ignore", UserWarning)
        ds = DynamicSparsity(model, masks, "rigl", epochs=1, steps_per_epoch=repeats + 2, update_unit="step",
                             schedule="constant", stop_at=1.0, optimizer=opt)
    modules = {name: module for name, module in model.named_modules() if f"{name}.weight" in masks}
    modules = {f"{name}.weight": module for name, module in modules.items()}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    train_times, grad_times, update_times = [], [], []
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        t1 = time.perf_counter()
        dense_gradients(model, modules, F.cross_entropy, x, y)
        t2 = time.perf_counter()
        assert ds.step(batch=(x, y))  # an update step: the extra pass, the selection and the writes
        t3 = time.perf_counter()
        if r:  # the first round warms up
            train_times.append(t1 - t0)
            grad_times.append(t2 - t1)
            update_times.append(t3 - t2)
    return {"train_times": train_times, "grad_times": grad_times, "update_times": update_times, "peak_mib": _peak_mib()}


def _spawn(args: list[str], threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS=str(max(threads, 1)))
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=("ch3l3", "mlp", "rigl"), default=["ch3l3", "mlp", "rigl"])
    parser.add_argument("--repeats", type=int, default=7, help="repeats of the CH3-L3 and RigL timings (default 7)")
    parser.add_argument("--numba-threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=60000, help="MLP epoch size (default 60000, MNIST's)")
    parser.add_argument("--epochs", type=int, default=3, help="MLP epochs per method (updates after all but the last)")
    parser.add_argument("--methods", nargs="+", default=["set", "rigl", "snfs", "dsr", "ch3l3"])
    parser.add_argument("--json", metavar="FILE", help="also write the raw timings as JSON")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "ch3l3":
            result = work_ch3l3(int(rest[0]), int(rest[1]), 1000, 0.01)
        elif kind == "mlp":
            result = work_mlp(rest[0], int(rest[1]), int(rest[2]), 128)
        else:
            result = work_rigl(int(rest[0]), 128)
        print(json.dumps(result))
        return 0

    raw: dict = {}
    med = statistics.median
    if "ch3l3" in args.only:
        r = _spawn(["--worker", "ch3l3", str(args.repeats), str(args.numba_threads)], args.numba_threads)
        raw["ch3l3"] = r
        print(f"CH3-L3 scoring, 1000 x 1000 mask at 1% density ({r['edges']} links, {r['positive']} positions with a "
              f"length-3 path), {args.numba_threads} numba threads, {args.repeats} repeats; {_load()}")
        print(f"  median {med(r['times']):.3f} s (min {min(r['times']):.3f}, max {max(r['times']):.3f}); CPU time of the "
              f"process, all threads: median {med(r['cpu']):.3f} s; peak RSS {r['peak_mib']:.0f} MiB")
    if "mlp" in args.only:
        steps = math.ceil(args.samples / 128)
        print(f"\nMLP 784-1000-1000-1000-10 (dense readout, hidden 99% sparse, ER), {args.samples} MNIST-shaped samples, "
              f"batch 128 ({steps} steps per epoch), 1 torch thread, {args.numba_threads} numba threads, {args.epochs} epochs, "
              f"per-epoch updates; {_load()}")
        static = _spawn(["--worker", "mlp", "static", str(args.samples), str(args.epochs)], args.numba_threads)
        raw["mlp_static"] = static
        epoch = med(static["epoch_times"])
        print(f"  static sparse training: median epoch {epoch:.2f} s, peak RSS {static['peak_mib']:.0f} MiB")
        print(f"  {'method':<7} {'update s':>9} {'step() s/epoch':>15} {'overhead':>9} {'epoch s (engine)':>17} {'peak MiB':>9}")
        for method in args.methods:
            r = _spawn(["--worker", "mlp", method, str(args.samples), str(args.epochs)], args.numba_threads)
            raw[f"mlp_{method}"] = r
            update = med(r["update_times"])
            per_epoch_steps = med(r["step_times"]) * r["steps_per_epoch"]
            overhead = (update + per_epoch_steps) / epoch
            print(f"  {method:<7} {update:>9.3f} {per_epoch_steps:>15.3f} {100 * overhead:>8.1f}% "
                  f"{med(r['epoch_times']):>17.2f} {r['peak_mib']:>9.0f}   ({_load()})")
    if "rigl" in args.only:
        r = _spawn(["--worker", "rigl", str(args.repeats)], args.numba_threads)
        raw["rigl"] = r
        train, grad, update = med(r["train_times"]), med(r["grad_times"]), med(r["update_times"])
        print(f"\nRigL on ResNet-20 (ERK 0.9, 3x32x32, batch 128, 1 torch thread), {args.repeats} repeats; {_load()}")
        print(f"  training step {train:.3f} s; extra dense-gradient pass {grad:.3f} s ({grad / train:.2f} x a step); "
              f"whole update {update:.3f} s; peak RSS {r['peak_mib']:.0f} MiB")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(raw, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
