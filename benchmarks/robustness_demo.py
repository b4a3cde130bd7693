"""The README's robustness demonstration: perturbation sweeps of trained sparse networks on digits.

    python benchmarks/robustness_demo.py pai --out docs/robustness_demo/pai
    python benchmarks/robustness_demo.py dst --out docs/robustness_demo/dst

``pai`` -- the 7 pruning-at-initialisation methods of the paper (snip, grasp, synflow,
prospr, uniform, er, erk) on ResNet-20 at sparsity 0.9, seeds 0 and 1, trained on
scikit-learn's 8x8 digits at their native 1x8x8 shape (1,347 training / 450 test images)
for ``--epochs`` epochs (SGD lr 0.05, momentum 0.9, weight decay 1e-4, batch 64, lr / 10
at half and three quarters); every network swept with ``reverse_weight_order_removal`` and
``random_removal`` (fractions 0, 0.1, ..., 0.9, 5 repeats, through
:func:`topometrics.workflows.robustness.run_robustness`, the code of ``topometrics
robustness``); the paper's 16 topometrics of every unperturbed network
(:func:`topometrics.describe_many`, normalised) and, across the networks, the Pearson and
Spearman correlation of each normalised topometric with the network's mean AUC.

``dst`` -- the digits networks of the dynamic-sparse-training demonstration
(``benchmarks/dst_demo.py``'s recipe: the ``mlp`` zoo model 64 -> 1000 -> 1000 -> 1000 ->
10 with a dense readout, hidden layers at 99% sparsity from ER masks, per-unit sparse
Kaiming initialisation, SET (random link regrowth, RLR) or CH3L3 regrowth with drop
fraction 0.3 after every epoch, SGD lr 0.05, 30 epochs, seeds 0, 1, 2), saved as
checkpoints and swept with all five perturbations (5 repeats); one figure per method
(a line per perturbation) and the AUC / f50 table.

Everything is resumable: trained checkpoints are reused, finished curves are skipped.
Writes under ``--out``: ``checkpoints/*.pt``, ``sweep/`` (robustness.csv, robustness.png,
summary.csv, report.md), ``topometrics.csv`` and ``correlation.csv`` (pai),
``<method>.png`` (dst) and ``summary.md`` (the README's tables, with the times and the load
average).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

SHAPE = (1, 8, 8)
PAI_METHODS = ("snip", "grasp", "synflow", "prospr", "uniform", "er", "erk")
PAI_PERTURBATIONS = ("reverse_weight_order_removal", "random_removal")
LABELS = {"set": "RLR (set)", "ch3l3": "CH3L3"}


def _data():
    from pruners.data import get_dataset

    return get_dataset("digits", split="train", input_shape=SHAPE), get_dataset("digits", split="test", input_shape=SHAPE)


def _finished(path: Path) -> bool:
    if not path.exists():
        return False
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=True)
    return payload.get("training_state") is None and payload["meta"].get("accuracy") is not None


def train_pai(out: Path, seeds, epochs: int) -> tuple[list[Path], int]:
    from pruners import prune, train
    from pruners.pipeline import build_model

    train_set, test_set = _data()
    paths, trained = [], 0
    for method in PAI_METHODS:
        for seed in seeds:
            path = out / "checkpoints" / f"resnet20-{method}-s0.9-seed{seed}.pt"
            paths.append(path)
            if _finished(path):
                continue
            t0 = time.perf_counter()
            model = build_model("resnet20", 10, SHAPE, seed)
            masks = prune(model, method, 0.9, data=train_set, input_shape=SHAPE, random_state=seed, progress=False)
            meta = {"arch": "resnet20", "num_classes": 10, "input_shape": list(SHAPE), "method": method, "sparsity": 0.9,
                    "seed": seed, "dataset": "digits", "trained_epochs": epochs}
            result = train(model, masks, train_set, test_set, epochs=epochs, lr=0.05, momentum=0.9, weight_decay=1e-4,
                           batch_size=64, random_state=seed, checkpoint=path, meta=meta, resume=True, progress=False)
            trained += 1
            print(f"{method} seed {seed}: test accuracy {result.accuracy:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return paths, trained


def sparse_kaiming_(model, masks, seed: int) -> None:
    """benchmarks/dst_demo.py's initialisation: masked weights from N(0, 2 / k_j), k_j = unit j's active inputs."""
    import torch

    from topocore.masks import prunable_layers

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in prunable_layers(model):
            mask = masks[name].reshape(masks[name].shape[0], -1)
            std = (2.0 / mask.sum(1).clamp_min(1).double()).sqrt().float().reshape(-1, *([1] * (module.weight.dim() - 1)))
            module.weight.copy_(torch.randn(module.weight.shape, generator=g) * std)


def train_dst(out: Path, seeds, epochs: int, methods) -> tuple[list[Path], int]:
    from pruners import prune, train
    from pruners.pipeline import build_model

    try:
        import pruners.dst  # noqa: F401
    except ImportError:
        raise SystemExit("the dst demonstration needs pruners.dst (dynamic sparse training); merge it first") from None
    train_set, test_set = _data()
    paths, trained = [], 0
    for method in methods:
        for seed in seeds:
            path = out / "checkpoints" / f"mlp-er-s0.99-{method}-seed{seed}.pt"
            paths.append(path)
            if _finished(path):
                continue
            t0 = time.perf_counter()
            model = build_model("mlp", 10, SHAPE, seed)
            masks = prune(model, "er", 0.99, random_state=seed)
            sparse_kaiming_(model, masks, seed)
            spec = {"method": method, "drop_fraction": 0.3, "schedule": "constant", "stop_at": 1.0, "update_every": 1,
                    "update_unit": "epoch", "record_every": 1}
            meta = {"arch": "mlp", "num_classes": 10, "input_shape": list(SHAPE), "method": "er", "sparsity": 0.99,
                    "seed": seed, "dataset": "digits"}
            result = train(model, masks, train_set, test_set, epochs=epochs, lr=0.05, momentum=0.9, weight_decay=1e-4,
                           milestones=[15, 22] if epochs == 30 else None, batch_size=64, random_state=seed,
                           checkpoint=path, meta=meta, resume=True, progress=False, dst=spec)
            trained += 1
            print(f"{method} seed {seed}: test accuracy {result.accuracy:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return paths, trained


def _times(out: Path, measured: dict[str, tuple[float, bool]]) -> dict[str, float]:
    """Seconds per stage: this run's where it did work, else those of the run that did (``times.json``)."""
    import json

    from topocore.io import atomic_write_text

    path = out / "times.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    for stage, (seconds, worked) in measured.items():
        if worked or stage not in stored:
            stored[stage] = round(seconds, 1)
            stored[f"{stage}_load"] = round(os.getloadavg()[0], 2)  # at the end of the run that did the work
    atomic_write_text(path, json.dumps(stored, indent=2) + "\n")
    return stored


def pai(args) -> str:
    import pandas as pd

    from analysis.robustness import curve_summary, summary_markdown, topometric_auc_correlation
    from topocore.io import atomic_write_csv
    from topocore.names import PAPER_METRICS
    from topometrics.workflows import describe_many
    from topometrics.workflows.robustness import run_robustness

    out = Path(args.out)
    t0 = time.perf_counter()
    paths, trained = train_pai(out, args.seeds, args.epochs)
    t_train = time.perf_counter() - t0
    result = run_robustness([str(p) for p in paths], dataset="digits", out=out / "sweep", perturbations=PAI_PERTURBATIONS,
                            repeats=args.repeats, random_state=0, n_jobs=args.n_jobs, group_by="method", progress=False,
                            log=print)
    t_sweep = time.perf_counter() - t0 - t_train
    topo_csv = out / "topometrics.csv"
    measured_topo = not topo_csv.exists()
    if topo_csv.exists():
        topo = pd.read_csv(topo_csv)
    else:
        topo = describe_many([str(p) for p in paths], metrics=list(PAPER_METRICS), normalized=True, n_jobs=args.n_jobs,
                             progress=False)
        atomic_write_csv(topo_csv, topo, index=False)
    t_topo = time.perf_counter() - t0 - t_train - t_sweep

    curves = curve_summary(result.table, by=["group", "checkpoint", "seed"])
    per_net = curves.groupby(["checkpoint", "group", "seed", "perturbation"], as_index=False)[["auc", "base_accuracy"]].mean()
    columns = [f"{m}_norm" for m in PAPER_METRICS if f"{m}_norm" in topo.columns]
    joined = per_net.merge(topo[["checkpoint", *columns]], on="checkpoint", how="left")
    corr = topometric_auc_correlation(joined, [*columns, "base_accuracy"])
    atomic_write_csv(out / "correlation.csv", corr, index=False)

    lines = ["### AUC and f50 per PaI method (ResNet-20, sparsity 0.9, digits 1x8x8)", "", summary_markdown(result.summary), ""]
    wide = corr.pivot(index="metric", columns="perturbation", values=["pearson", "spearman"])
    order = wide[("spearman", "reverse_weight_order_removal")].abs().sort_values(ascending=False).index
    lines += ["### Correlation of each normalised topometric with the network's mean AUC "
              f"({len(paths)} networks: {len(PAI_METHODS)} methods x {len(args.seeds)} seeds)", "",
              "| topometric | Pearson r, reverse order | Spearman, reverse order | Pearson r, random | Spearman, random |",
              "|---|---|---|---|---|"]
    for metric in order:
        cells = [wide.loc[metric, (k, p)] for p in PAI_PERTURBATIONS for k in ("pearson", "spearman")]
        lines.append(f"| {metric} | " + " | ".join("n/a" if pd.isna(c) else f"{c:+.2f}" for c in cells) + " |")
    clusters = {"data-driven (snip, grasp, synflow, prospr)": ("snip", "grasp", "synflow", "prospr"),
                "layer-wise random (uniform, er, erk)": ("uniform", "er", "erk")}
    lines += ["", "Within each cluster of methods (reverse-order AUC; largest |r| over the topometrics):"]
    reverse = joined[joined["perturbation"] == "reverse_weight_order_removal"]
    for name, methods in clusters.items():
        sub = topometric_auc_correlation(reverse[reverse["group"].isin(methods)], columns)
        top = sub.loc[sub["pearson"].abs().idxmax()]
        lines.append(f"- {name}: {int(top['n'])} networks, largest |Pearson r| {abs(top['pearson']):.2f} "
                     f"({top['metric']}), largest |Spearman| {sub['spearman'].abs().max():.2f}")
    times = _times(out, {"train": (t_train, trained > 0), "sweep": (t_sweep, result.computed > 0),
                         "topometrics": (t_topo, measured_topo)})
    lines += ["", f"Training {times['train']:.0f} s ({args.epochs} epochs per network), sweep {times['sweep']:.0f} s, "
              f"topometrics {times['topometrics']:.0f} s on {os.cpu_count()} CPUs; load averages "
              f"{times['train_load']:.1f}, {times['sweep_load']:.1f}, {times['topometrics_load']:.1f} (times and loads of "
              "the run that did the work, kept in times.json).", ""]
    return "\n".join(lines)


def dst(args) -> str:
    import pandas as pd

    from analysis.robustness import mean_curves, perturbation_figure, summary_markdown
    from topocore.io import atomic_write
    from topometrics.workflows.robustness import run_robustness

    out = Path(args.out)
    t0 = time.perf_counter()
    paths, trained = train_dst(out, args.seeds, args.epochs, args.methods)
    t_train = time.perf_counter() - t0
    result = run_robustness([str(p) for p in paths], dataset="digits", out=out / "sweep", repeats=args.repeats,
                            random_state=0, n_jobs=args.n_jobs, progress=False, log=print)
    t_sweep = time.perf_counter() - t0 - t_train
    table = result.table
    for method in args.methods:
        fig = perturbation_figure(table, group=method,
                                  title=f"{LABELS.get(method, method)}: mlp 3x1000, 99% sparse hidden layers, digits\n"
                                        f"{len(args.seeds)} seeds x {args.repeats} repeats: mean, min-max band")
        atomic_write(out / f"{method}.png", lambda fh: fig.savefig(fh, format="png", dpi=110), mode="wb")
    curves = mean_curves(table, by=["group"])
    at = curves[curves["fraction"].isin([0.5, 0.8, 0.9])]
    wide = at.pivot_table(index=["group", "perturbation"], columns="fraction", values="accuracy_mean", sort=False)
    lines = ["### AUC and f50 per DST method (mlp 3x1000 at 99% hidden sparsity, digits)", "",
             summary_markdown(result.summary), "",
             "### Mean accuracy at 50%, 80% and 90% perturbed", "",
             "| method | perturbation | f = 0 | f = 0.5 | f = 0.8 | f = 0.9 |", "|---|---|---|---|---|---|"]
    base = table.groupby("group")["base_accuracy"].mean()
    for (group, perturbation), row in wide.iterrows():
        lines.append(f"| {group} | {perturbation} | {base[group]:.3f} | " + " | ".join(f"{row[f]:.3f}" for f in (0.5, 0.8, 0.9)) + " |")
    times = _times(out, {"train": (t_train, trained > 0), "sweep": (t_sweep, result.computed > 0)})
    lines += ["", f"Training {times['train']:.0f} s, sweep {times['sweep']:.0f} s on {os.cpu_count()} CPUs; load averages "
              f"{times['train_load']:.1f}, {times['sweep_load']:.1f} at the end of the run that did the work (kept in "
              "times.json).", ""]
    del pd
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("pai", "dst"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: 0 1 (pai), 0 1 2 (dst)")
    parser.add_argument("--epochs", type=int, default=None, help="default: 10 (pai), 30 (dst)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["set", "ch3l3"], help="dst methods (default set ch3l3)")
    parser.add_argument("-j", "--n-jobs", type=int, default=2)
    args = parser.parse_args()
    args.seeds = args.seeds or ([0, 1] if args.part == "pai" else [0, 1, 2])
    args.epochs = args.epochs or (10 if args.part == "pai" else 30)

    import torch

    from topocore.io import atomic_write_text

    torch.set_num_threads(1)
    text = pai(args) if args.part == "pai" else dst(args)
    atomic_write_text(Path(args.out) / "summary.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
