"""Time the full robustness sweep of the 3 x 1000 MLP on digits (the issue's target: under 2 minutes on 2 cores).

    python benchmarks/bench_robustness.py                 # n_jobs 1 and 2, 3 runs each
    python benchmarks/bench_robustness.py --n-jobs 2 --runs 5

Setting: the ``mlp`` zoo model (64 -> 1000 -> 1000 -> 1000 -> 10, dense readout) with its
hidden layers at 99% sparsity (ER masks), trained statically for ``--epochs`` epochs on
scikit-learn's 8x8 digits (the timing of a sweep does not depend on how the network was
trained), then :func:`topometrics.workflows.robustness.sweep` with all 5 perturbations x
10 fractions (0, 0.1, ..., 0.9) x 5 repeats = 250 evaluations of the 450 test images.
Every run is timed end to end (copying and checking the model, the unperturbed evaluation,
the loky workers with ``n_jobs > 1``); the median and range over ``--runs`` runs are
printed with the peak resident memory of this process and of its largest worker (``/proc``) and
the load average (``os.getloadavg``) before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

SHAPE = (1, 8, 8)


def trained_mlp(epochs: int):
    import torch

    from pruners import build, prune, train
    from pruners.data import get_dataset

    train_set = get_dataset("digits", split="train", input_shape=SHAPE)
    test_set = get_dataset("digits", split="test", input_shape=SHAPE)
    model = build("mlp", 10, SHAPE, random_state=0)
    masks = prune(model, "er", 0.99, random_state=0)
    with torch.no_grad():  # per-unit sparse Kaiming scale (as benchmarks/dst_demo.py), else 99% sparse starts at chance
        for name, module in model.named_modules():
            key = f"{name}.weight"
            if key in masks:
                fan_in = masks[key].sum(1).clamp_min(1).double()
                module.weight.copy_(torch.randn(module.weight.shape) * (2.0 / fan_in).sqrt().float()[:, None])
    result = train(model, masks, train_set, test_set, epochs=epochs, lr=0.05, batch_size=64, progress=False, random_state=0)
    return model, masks, test_set, result.accuracy


def worker_peak_mib() -> float:
    """Largest peak RSS (VmHWM) among the live child processes (the loky workers), from /proc; 0 elsewhere."""
    peak = 0.0
    me = str(os.getpid())
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
            peak = max(peak, int(fields["VmHWM"].split()[0]) / 1024.0)
    return peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2], help="n_jobs values to time (default 1 2)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per n_jobs (default 3)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from topometrics.workflows.robustness import sweep

    model, masks, test_set, accuracy = trained_mlp(args.epochs)
    active = sum(int(m.sum()) for m in masks.values())
    print(f"mlp 3x1000 on digits, 99% sparse hidden layers ({active} active links), test accuracy {accuracy:.4f}")
    fractions = [round(0.1 * i, 1) for i in range(10)]
    for n_jobs in args.n_jobs:
        times = []
        load_before = os.getloadavg()
        for _ in range(args.runs):
            t0 = time.perf_counter()
            table = sweep((model, masks, {"input_shape": list(SHAPE)}), test_set, None, fractions, args.repeats,
                          n_jobs=n_jobs)
            times.append(time.perf_counter() - t0)
        load_after = os.getloadavg()
        assert len(table) == 5 * len(fractions) * args.repeats
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        children = worker_peak_mib()
        print(f"n_jobs={n_jobs}: {len(table)} rows; median {statistics.median(times):.1f} s "
              f"(min {min(times):.1f}, max {max(times):.1f}, {args.runs} runs); peak RSS {own:.0f} MiB (this process), "
              f"{children:.0f} MiB (largest live worker); load average {load_before[0]:.2f} before, "
              f"{load_after[0]:.2f} after; {os.cpu_count()} CPUs", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
