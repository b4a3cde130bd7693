"""The README's dynamic-sparse-training demonstration: SET (random link regrowth) vs CH3L3 on digits.

    python benchmarks/dst_demo.py --out docs/dst_demo
    python benchmarks/dst_demo.py --out docs/dst_demo_zoo_init --init zoo

Setting (the robustness paper's, shrunk to the offline digits data): the ``mlp`` zoo model
(64 -> 1000 -> 1000 -> 1000 -> 10, ReLU, dense readout) on scikit-learn's 8x8 digits
(1,347 training / 450 test images), the three hidden layers pruned to 99% sparsity with ER
masks (``pruners.prune(model, "er", 0.99)``: the same initial masks for both methods of a
seed); per-epoch topology updates with a constant drop fraction 0.3 until the end of
training; SGD (lr 0.05, momentum 0.9, weight decay 1e-4, lr / 10 at epochs 15 and 22),
batch 64, 30 epochs; seeds 0, 1, 2 (initialisation, masks, data order, regrowth draws).
The masked weights are re-initialised with a per-unit sparse Kaiming rule (``--init sparse``,
see :func:`sparse_kaiming_`; ``--init zoo`` keeps the zoo's dense-fan-in Kaiming weights,
with which a 99% sparse MLP sits at chance for its first epochs whatever the method).

Writes to ``--out``:

* ``accuracy.csv`` -- one row per method, seed and epoch: test accuracy, ITOP rate, updates;
* ``topology.csv`` -- the topometrics of every epoch's masks (``DynamicSparsity.topology``);
* ``dst_digits.png`` -- test accuracy and three normalised topometrics per epoch (mean over
  seeds, min-max shaded);
* ``summary.md`` -- the README table,

and prints the table.  About 5 minutes on 2 idle cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

SHAPE = (1, 8, 8)
METRICS = ("source", "sink", "spectral_gap")


def run(method: str, seed: int, args) -> tuple[list[dict], "object"]:
    import torch

    from pruners import prune, train
    from pruners.data import get_dataset
    from pruners.pipeline import build_model
    from topometrics.workflows.trajectory import topology_trajectory

    train_set = get_dataset("digits", split="train", input_shape=SHAPE)
    test_set = get_dataset("digits", split="test", input_shape=SHAPE)
    model = build_model("mlp", 10, SHAPE, seed)
    masks = prune(model, "er", args.sparsity, random_state=seed)
    if args.init == "sparse":
        sparse_kaiming_(model, masks, seed)
    spec = {"method": method, "drop_fraction": 0.3, "schedule": "constant", "stop_at": 1.0, "update_every": 1,
            "update_unit": "epoch", "record_every": 1}
    t0 = time.perf_counter()
    result = train(model, masks, train_set, test_set, epochs=args.epochs, lr=0.05, momentum=0.9, weight_decay=1e-4,
                   batch_size=64, random_state=seed, progress=False, dst=spec)
    seconds = time.perf_counter() - t0
    rows = [{"method": method, "seed": seed, "epoch": h["epoch"], "test_accuracy": h["test_accuracy"], "itop": h["itop"],
             "updates": h["dst_updates"], "seconds": seconds} for h in result.history]
    topology = topology_trajectory(result.dst, metrics=list(METRICS), input_shape=SHAPE)
    topology.insert(0, "seed", seed)
    topology.insert(0, "method", method)
    del torch
    return rows, topology


def sparse_kaiming_(model, masks, seed: int) -> None:
    """Redraw every masked weight from N(0, 2 / k_j), k_j = the active inputs of its output unit j.

    Kaiming's fan-in rule applied to the sparse layer (Evci et al. 2022, "Gradient flow in
    sparse neural networks and how lottery tickets win"; the sparse weight initialisation of
    CHT, Zhang et al. 2024, follows the same idea): with the dense fan-in, a 99% sparse ReLU
    layer shrinks its input's variance about 100-fold and the network starts at chance.
    """
    import torch

    from topocore.masks import prunable_layers

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in prunable_layers(model):
            mask = masks[name].reshape(masks[name].shape[0], -1)
            fan_in = mask.sum(1).clamp_min(1).double()
            std = (2.0 / fan_in).sqrt().float().reshape(-1, *([1] * (module.weight.dim() - 1)))
            module.weight.copy_(torch.randn(module.weight.shape, generator=g) * std)


def figure(acc, topo, methods, init):
    from matplotlib.figure import Figure

    from topocore.names import metric_label

    fig = Figure(figsize=(16, 3.6), constrained_layout=True)
    axes = fig.subplots(1, 1 + len(METRICS))
    panels = [("test_accuracy", acc, "epoch", "test accuracy")] + [
        (f"{m}_norm", topo[topo["metric"] == f"{m}_norm"].rename(columns={"value": f"{m}_norm"}), "epoch",
         f"{metric_label(m)} (normalised)") for m in METRICS
    ]
    for ax, (column, table, x, label) in zip(axes, panels):
        for method in methods:
            sub = table[table["method"] == method]
            stats = sub.groupby(x)[column].agg(["mean", "min", "max"]).reset_index()
            line = ax.plot(stats[x], stats["mean"], marker="o", markersize=2.5, label=method)[0]
            ax.fill_between(stats[x], stats["min"], stats["max"], color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label.replace(" (normalised)", ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"digits, mlp 3x1000 at 99% hidden sparsity (dense readout, {init} initialisation): "
                 f"{' vs '.join(methods)}, mean over seeds, min-max shaded; topometrics of the MGE with unit edge weights")
    return fig


def summary(acc, topo, methods, seeds, threshold) -> str:
    """The README tables: accuracy per epoch, final accuracy, ITOP rate, topometrics at both ends."""
    lines = []
    epochs = sorted(acc["epoch"].unique())
    show = [e for e in (1, 2, 3, 5, 10, 15, 20) if e in epochs and e < max(epochs)]
    head = ("| method | " + " | ".join(f"acc. ep {e}" for e in show)
            + f" | final acc. | ITOP rate | first epoch >= {threshold:g} (per seed) |")
    lines += [head, "|" + "---|" * (len(show) + 4)]
    for method in methods:
        sub = acc[acc["method"] == method]
        per_epoch = sub.groupby("epoch")["test_accuracy"]
        cells = [f"{per_epoch.mean()[e]:.3f} ± {per_epoch.std()[e]:.3f}" for e in show]
        final = sub[sub["epoch"] == max(epochs)]
        reach = []
        for seed in seeds:
            s = sub[(sub["seed"] == seed) & (sub["test_accuracy"] >= threshold)]
            reach.append(str(int(s["epoch"].min())) if len(s) else "never")
        lines.append(f"| {method} | " + " | ".join(cells)
                     + f" | {final['test_accuracy'].mean():.3f} ± {final['test_accuracy'].std():.3f}"
                     + f" | {final['itop'].mean():.3f} ± {final['itop'].std():.3f}"
                     + f" | {', '.join(reach)} |")
    lines.append("")
    last = int(topo["epoch"].max())  # the last update follows epoch epochs - 1
    head = "| method | " + " | ".join(f"{m}_norm, epoch 0 -> {last}" for m in METRICS) + " |"
    lines += [head, "|" + "---|" * (len(METRICS) + 1)]
    for method in methods:
        cells = []
        for m in METRICS:
            t = topo[(topo["method"] == method) & (topo["metric"] == f"{m}_norm")].groupby("epoch")["value"].mean()
            cells.append(f"{t.iloc[0]:.4g} -> {t.iloc[-1]:.4g}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/dst_demo", help="output folder (default docs/dst_demo)")
    parser.add_argument("--methods", nargs="+", default=["set", "ch3l3"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--sparsity", type=float, default=0.99, help="sparsity of the hidden layers (default 0.99)")
    parser.add_argument("--init", choices=("sparse", "zoo"), default="sparse",
                        help="sparse: per-unit sparse Kaiming initialisation of the masked weights (default); "
                             "zoo: the zoo's dense-fan-in Kaiming initialisation")
    parser.add_argument("--threshold", type=float, default=0.95, help="accuracy whose first epoch is reported (default 0.95)")
    args = parser.parse_args()

    import os

    import pandas as pd
    import torch

    from topocore.io import atomic_write, atomic_write_csv, atomic_write_text

    torch.set_num_threads(1)
    out = Path(args.out)
    load = os.getloadavg()
    acc_rows, topos = [], []
    for method in args.methods:
        for seed in args.seeds:
            rows, topo = run(method, seed, args)
            acc_rows += rows
            topos.append(topo)
            print(f"{method} seed {seed}: final accuracy {rows[-1]['test_accuracy']:.4f}, ITOP {rows[-1]['itop']:.4f}, "
                  f"{rows[-1]['seconds']:.0f} s", flush=True)
    acc = pd.DataFrame(acc_rows)
    topo = pd.concat(topos, ignore_index=True)
    atomic_write_csv(out / "accuracy.csv", acc)
    atomic_write_csv(out / "topology.csv", topo)
    fig = figure(acc, topo, args.methods, args.init)
    atomic_write(out / "dst_digits.png", lambda fh: fig.savefig(fh, format="png", dpi=110), mode="wb")
    text = summary(acc, topo, args.methods, args.seeds, args.threshold)
    seconds = acc.groupby(["method", "seed"])["seconds"].first().groupby("method").median()
    note = (f"\n\n{args.init} initialisation; median training time per run ({args.epochs} epochs incl. updates): "
            + ", ".join(f"{m} {seconds[m]:.0f} s" for m in args.methods)
            + f"; load average at start {load[0]:.2f}; {os.cpu_count()} CPUs; torch {torch.__version__}.\n")
    atomic_write_text(out / "summary.md", text + note)
    print(text + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
