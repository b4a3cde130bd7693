"""GPU check: sparse training with AMP keeps masks exact, GPU vs CPU epoch time, pruning on the GPU.

Run on a machine with an NVIDIA GPU and a CUDA build of torch, from the repository root::

    python benchmarks/gpu_check.py                 # ~1-2 minutes on one GPU
    python benchmarks/gpu_check.py --samples 50000 # a full CIFAR-sized epoch

Without a CUDA device it prints why and exits with status 2.  ``--device cpu --smoke``
runs every step on the CPU with tiny sizes (the test suite does, so the script cannot rot;
its timings mean nothing).

What it does, on synthetic CIFAR-shaped data (class prototypes plus noise, 3x32x32, 10
classes, ``--samples`` training images, :func:`pruners.data.get_dataset`):

1. **Training.**  ResNet-20 pruned with ERK to ``--sparsity`` is trained for ``--epochs``
   (2) epochs with :func:`pruners.train` on the device, with automatic mixed precision
   (float16 autocast and gradient scaling) on CUDA.  Afterwards every pruned weight must
   be exactly 0 -- the raw ``weight_orig`` and the effective ``weight`` -- and the masks
   read back from the model must equal the masks it was given.
2. **Epoch time.**  The GPU time is that of the last training epoch (the first includes
   cuDNN's algorithm search and memory-pool warm-up).  The CPU time is measured with the
   same model, masks, data and batch size on ``--cpu-batches`` batches only (a full CPU
   epoch takes minutes) and extrapolated linearly to the full epoch; both include data
   loading in the main process, as :func:`pruners.train` runs it.
3. **Pruning on the GPU**, one method of each kind, compared with the same call on the
   CPU (same seed, same data):

   * ``erk`` (random): the positions come from a CPU generator seeded by ``random_state``
     whatever the device, so the masks must be identical;
   * ``synflow`` (data-free, iterative): computed in float64, where CPU and GPU kernels
     differ by about 1e-15 relative; the masks must be identical;
   * ``snip`` (data-dependent): float32 scores from one forward/backward pass; cuDNN and
     the CPU sum in different orders (TF32 is switched off for this comparison), so
     weights whose scores lie within float32 rounding of the keep threshold may swap.
     The check requires every differing weight to have a CPU score within a relative
     ``--snip-rtol`` (1e-3) of the threshold, and at most 0.1% of the weights to differ.

Exit status: 0 when every check passes, 1 when one fails, 2 without a CUDA device.
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import sys
import time
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _no_cuda_message() -> str:
    return (
        "gpu_check: no CUDA device is available (torch.cuda.is_available() is False); run it on a machine with an "
        "NVIDIA GPU and a CUDA build of torch, or pass --device cpu --smoke to exercise the script on the CPU"
    )


def _device_name(device) -> str:
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return (f"{props.name} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__}, CUDA "
                f"{torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    return f"CPU {platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def _exact_masks(model, masks) -> Check:
    """Every pruned weight exactly 0 (raw and effective) and the model's masks equal to ``masks``."""
    import torch

    from pruners import masks_from_model
    from topocore.masks import prunable_layers

    nonzero = pruned = 0
    for name, module in prunable_layers(model):
        mask = masks[name].to(module.weight_orig.device)
        pruned += int((~mask).sum())
        nonzero += int((module.weight_orig.detach()[~mask] != 0).sum()) + int((module.weight.detach()[~mask] != 0).sum())
    back = masks_from_model(model)
    changed = sum(int((back[n].cpu() != masks[n].cpu()).sum()) for n in masks)
    ok = nonzero == 0 and changed == 0 and all(back[n].dtype == torch.bool for n in back)
    return Check("masks exact after training", ok,
                 f"{nonzero} non-zero entries among {pruned} pruned weights; {changed} mask entries changed")


def _compare_identical(name: str, kind: str, gpu: dict, cpu: dict, why: str) -> Check:
    differ = sum(int((gpu[n].cpu() != cpu[n]).sum()) for n in cpu)
    total = sum(m.numel() for m in cpu.values())
    return Check(f"prune {name} ({kind})", differ == 0,
                 f"{differ} of {total} mask entries differ from the CPU ({why})")


def _compare_snip(gpu: dict, cpu: dict, model, batch, n_keep: int, rtol: float) -> Check:
    """SNIP on two devices: the masks may differ only at weights whose CPU score is near the threshold."""
    import torch

    from pruners.methods._common import scoring_copy
    from pruners.methods.snip import snip_scores

    work = scoring_copy(model).train()
    scores = snip_scores(work, *batch)
    flat = torch.cat([s.flatten() for s in scores.values()]).double()
    threshold = float(flat.sort(descending=True).values[n_keep - 1])
    differ = torch.cat([(gpu[n].cpu() != cpu[n]).flatten() for n in cpu])
    n_differ = int(differ.sum())
    scale = max(abs(threshold), float(flat.abs().max()) * 1e-12, 1e-300)
    worst = float(((flat[differ] - threshold).abs() / scale).max()) if n_differ else 0.0
    ok = n_differ <= 1e-3 * flat.numel() and worst <= rtol
    return Check("prune snip (data-dependent)", ok,
                 f"{n_differ} of {flat.numel()} mask entries differ from the CPU; the farthest from the keep threshold "
                 f"is {worst:.1e} relative (allowed {rtol:g}: float32 kernels sum in another order)")


def _seconds(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(args: argparse.Namespace) -> int:
    import torch

    import pruners
    from pruners.data import get_dataset

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(_no_cuda_message(), file=sys.stderr)
        return 2
    shape, sparsity, seed = (3, 32, 32), args.sparsity, args.seed
    if args.smoke:
        args.samples, args.test_samples, args.batch_size, args.cpu_batches, args.synflow_iterations = 64, 32, 16, 2, 2
    train_set = get_dataset("synthetic", split="train", input_shape=shape, n_samples=args.samples, random_state=seed)
    test_set = get_dataset("synthetic", split="test", input_shape=shape, n_samples=args.test_samples, random_state=seed)
    n_batches = math.ceil(len(train_set) / args.batch_size)
    print(f"gpu_check on {_device_name(device)}")
    print(f"ResNet-20, ERK sparsity {sparsity}, {len(train_set)} synthetic 3x32x32 images ({n_batches} batches of "
          f"{args.batch_size}), {args.epochs} epochs, seed {seed}{' [smoke: tiny sizes, timings meaningless]' if args.smoke else ''}")
    checks: list[Check] = []

    # 1. training with AMP on the device; masks must stay exact
    model = pruners.build("resnet20", 10, shape, random_state=seed)
    cpu_start = copy.deepcopy(model)
    masks = pruners.prune(model, "erk", sparsity, random_state=seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result = pruners.train(model, masks, train_set, test_set, epochs=args.epochs, lr=0.05, batch_size=args.batch_size,
                           device=device, amp=device.type == "cuda", random_state=seed, progress=False)
    amp_note = "AMP float16" if result.amp else "float32 (no AMP off CUDA)"
    checks.append(Check(f"train {args.epochs} epochs, {amp_note}", result.amp == (device.type == "cuda") and
                        all(math.isfinite(h["train_loss"]) for h in result.history),
                        f"test accuracy {result.accuracy:.3f} (chance 0.1), final train loss "
                        f"{result.history[-1]['train_loss']:.3f}"))
    checks.append(_exact_masks(model, masks))
    gpu_epoch = result.history[-1]["seconds"]
    peak = f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB" if device.type == "cuda" else ""
    checks.append(Check(f"epoch time on {device.type} (epoch {args.epochs})", True,
                        f"{gpu_epoch:.2f} s (first epoch {result.history[0]['seconds']:.2f} s){peak}"))

    # 2. the same training step on the CPU, on the first --cpu-batches batches, extrapolated
    k = min(args.cpu_batches, n_batches)
    subset = torch.utils.data.Subset(train_set, range(min(len(train_set), k * args.batch_size)))
    cpu_result = pruners.train(cpu_start, masks, subset, None, epochs=1, lr=0.05, batch_size=args.batch_size,
                               device="cpu", random_state=seed, progress=False)
    cpu_epoch = cpu_result.history[0]["seconds"] / k * n_batches
    checks.append(Check("epoch time on CPU (extrapolated)", True,
                        f"{cpu_epoch:.2f} s from {k} of {n_batches} batches, {torch.get_num_threads()} torch threads; "
                        f"{device.type} is {cpu_epoch / gpu_epoch:.1f}x faster"))

    # 3. one pruning method of each kind on the device, compared with the CPU
    fresh = pruners.build("resnet20", 10, shape, random_state=seed + 1)
    batch = train_set.tensors(args.batch_size)
    total = sum(m.numel() for m in masks.values())
    n_keep = total - int(math.floor(sparsity * total + 0.5))
    tf32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # full float32 for the comparison
    try:
        runs = {
            "erk": ({}, None),
            "synflow": ({"iterations": args.synflow_iterations}, None),
            "snip": ({"batch_size": args.batch_size}, batch),
        }
        got = {}
        for method, (options, data) in runs.items():
            on_device, t_dev = _seconds(lambda: pruners.prune(copy.deepcopy(fresh).to(device), method, sparsity, data=data,
                                                              input_shape=shape, random_state=seed, **options))
            on_cpu, t_cpu = _seconds(lambda: pruners.prune(copy.deepcopy(fresh), method, sparsity, data=data,
                                                           input_shape=shape, random_state=seed, **options))
            got[method] = (on_device, on_cpu, f"{device.type} {t_dev:.2f} s, CPU {t_cpu:.2f} s")
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    for method, kind, why in (("erk", "random", "positions from a seeded CPU generator: must match"),
                              ("synflow", "data-free, iterative", "float64 scores: must match")):
        dev, cpu, times = got[method]
        check = _compare_identical(method, kind, dev, cpu, why)
        check.detail += f"; {times}"
        checks.append(check)
    dev, cpu, times = got["snip"]
    check = _compare_snip(dev, cpu, fresh, batch, n_keep, args.snip_rtol)
    check.detail += f"; {times}"
    checks.append(check)

    width = max(len(c.name) for c in checks)
    print(f"\n{'check':<{width}}  result  detail")
    for c in checks:
        print(f"{c.name:<{width}}  {'ok' if c.ok else 'FAILED':<6}  {c.detail}")
    failed = [c.name for c in checks if not c.ok]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} checks passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="torch device to check (default cuda)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: exercise every step quickly (timings meaningless)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (default 2)")
    parser.add_argument("--samples", type=int, default=10_000, help="synthetic training images (default 10000)")
    parser.add_argument("--test-samples", type=int, default=2_000, help="synthetic test images (default 2000)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--cpu-batches", type=int, default=10, help="batches timed on the CPU (default 10)")
    parser.add_argument("--sparsity", type=float, default=0.9, help="global sparsity (default 0.9)")
    parser.add_argument("--synflow-iterations", type=int, default=100, help="SynFlow iterations (default 100)")
    parser.add_argument("--snip-rtol", type=float, default=1e-3, help="SNIP: allowed relative distance to the threshold")
    parser.add_argument("--seed", type=int, default=0, help="random_state of data, model, masks and data order")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
