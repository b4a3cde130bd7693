"""Train a ``dagnet`` with a connectivity penalty, derive its block graph, retrain it, measure it.

One run per seed (``topometrics dag train``), in ``OUT/seed{N}/``:

1. build ``dagnet`` (weights seeded by the seed) and train it with the penalty
   (:mod:`pruners.connectivity`) using :func:`pruners.train` -> ``trained.pt``;
2. derive the block graph (threshold ``tau`` or top-``k``; dead nodes and edges removed)
   and apply it to a copy of the model (removed edges gated to exactly 0), evaluate it
   without any further training -> ``derived.pt`` (``meta["derived_topology"]`` records
   the graph), ``topology.graphml``, ``topology.png``;
3. retrain the derived topology from scratch (a new ``dagnet`` wired by the derived
   graph, initialised from seed + 10000, no penalty) -> ``retrained.pt``;
4. measure: the macro metrics of the block graph (:mod:`topometrics.dag`) and the 16
   topometrics of the derived network's MGE -> ``report.json``, ``report.md``.

A run is built in a hidden staging folder and moved to ``seed{N}`` only when complete,
so an interrupted or failing run leaves nothing half-written; finished seeds are kept
and skipped when the command is repeated.  ``OUT/runs.csv`` collects one row per
finished seed and ``OUT/table2.md`` their Table-2 style summary.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from topocore.errors import InputError

__all__ = ["DagConfig", "prepare", "run_seed", "train_dag", "RETRAIN_SEED_OFFSET"]

#: The retrained network's initialisation seed is the run's seed plus this offset.
RETRAIN_SEED_OFFSET = 10_000


@dataclass
class DagConfig:
    """Options of one ``dag train`` job (every seed uses the same)."""

    dataset: str
    input_shape: tuple[int, ...] | None = None
    data_root: str | None = None
    nodes: tuple[int, ...] = (8, 8, 8)
    channels: int = 8
    graph: Any = "complete"
    graph_p: float | None = None
    graph_k: int | None = None
    graph_m: int | None = None
    gate: str = "tanh"
    gate_init: float | None = None
    penalty: str = "tanh_l1"
    lam: float = 1e-3
    rule: str = "threshold"
    tau: float | None = None
    k: int | None = None
    epochs: int = 30
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: list[int] | None = None
    gamma: float = 0.1
    batch_size: int = 128
    retrain_epochs: int | None = None
    mge: bool = True
    device: str | None = None
    amp: bool | None = None
    num_workers: int = 0
    eval_every: int = 1
    extra: dict = field(default_factory=dict)

    def model_kwargs(self, graph: Any = None, random_state: int = 0) -> dict[str, Any]:
        """``get_model("dagnet", ...)`` options (plain data, for checkpoint metadata)."""
        g = self.graph if graph is None else graph
        if not isinstance(g, str):
            g = [[int(u), int(v)] for u, v in g]
        kw: dict[str, Any] = {"nodes": [int(n) for n in self.nodes], "channels": int(self.channels), "graph": g,
                              "gate": self.gate}
        if isinstance(g, str) and g != "complete":
            kw["graph_random_state"] = int(random_state)
        for name, value in (("p", self.graph_p), ("k", self.graph_k), ("m", self.graph_m), ("gate_init", self.gate_init)):
            if value is not None and (name == "gate_init" or isinstance(g, str)):
                kw[name] = value
        return kw


def prepare(config: DagConfig) -> tuple[DagConfig, Any, Any]:
    """Validate the options and load the data: ``(config with canonical names, train set, test set)``.

    Everything a user can get wrong is checked here, before any training or writing:
    the data set and its shape, the model options (by building the model), the penalty
    and the derivation rule.
    """
    from pruners.connectivity import check_rule, connectivity_penalty
    from pruners.data import RESHAPABLE, get_dataset
    from pruners.models import get_model
    from topocore.names import canonical_dataset

    cfg = copy.deepcopy(config)
    cfg.dataset = canonical_dataset(cfg.dataset)
    check_rule(cfg.rule, cfg.tau, cfg.k)
    connectivity_penalty(cfg.penalty, cfg.lam)
    if int(cfg.epochs) < 1:
        raise InputError(f"--epochs must be >= 1, got {cfg.epochs}")
    if cfg.retrain_epochs is not None and int(cfg.retrain_epochs) < 0:
        raise InputError(f"--retrain-epochs must be >= 0, got {cfg.retrain_epochs}")
    if cfg.input_shape is not None and cfg.dataset not in RESHAPABLE and tuple(cfg.input_shape) != (3, 32, 32):
        raise InputError(f"{cfg.dataset} images are 3x32x32; --input-shape {cfg.input_shape} is for "
                         f"{', '.join(sorted(RESHAPABLE))}")
    extra = {"input_shape": tuple(cfg.input_shape)} if cfg.input_shape is not None and cfg.dataset in RESHAPABLE else {}
    train_set = get_dataset(cfg.dataset, cfg.data_root, "train", **extra)
    test_set = get_dataset(cfg.dataset, cfg.data_root, "test", **extra)
    cfg.input_shape = tuple(int(s) for s in train_set.input_shape)
    cfg.extra = {**cfg.extra, "num_classes": int(train_set.num_classes)}
    get_model("dagnet", train_set.num_classes, cfg.input_shape, **cfg.model_kwargs())  # refuses bad options
    return cfg, train_set, test_set


def _check_finite(result, what: str, lr: float) -> None:
    for record in result.history:
        if not math.isfinite(float(record["train_loss"])):
            raise InputError(f"{what} diverged (training loss {record['train_loss']} at epoch {record['epoch']}); "
                             f"lower --lr (now {lr}) or --lambda")


def run_seed(cfg: DagConfig, train_set, test_set, seed: int, run_dir: str | os.PathLike, *,
             progress: bool | None = None) -> dict[str, Any]:
    """One complete run (see the module docstring) into ``run_dir``, which must not exist; returns the report."""
    from pruners import evaluate, save_checkpoint, train
    from pruners.connectivity import apply_topology, connectivity_penalty, derive_topology, topology_to_meta
    from pruners.models import build
    from topocore.io import atomic_write_text

    from .dag_measure import measure_model
    from .dag_report import draw_topology, report_markdown, write_graphml

    final = Path(run_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp creates 0700; the published run folder gets the usual mode
    try:
        t0 = time.perf_counter()
        num_classes = int(train_set.num_classes)
        shape = tuple(cfg.input_shape)
        kwargs = cfg.model_kwargs(random_state=seed)
        model = build("dagnet", num_classes, shape, random_state=seed, **kwargs)
        params_initial = int(model.live_parameter_count())
        penalty = connectivity_penalty(cfg.penalty, cfg.lam)
        base_meta = {"arch": "dagnet", "num_classes": num_classes, "input_shape": list(shape), "model_kwargs": kwargs,
                     "dataset": cfg.dataset, "seed": int(seed), "gate": cfg.gate, "penalty": penalty.name,
                     "lambda": penalty.lam, "params_initial": params_initial}
        recipe = dict(epochs=int(cfg.epochs), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                      milestones=cfg.milestones, gamma=cfg.gamma, batch_size=cfg.batch_size, device=cfg.device,
                      amp=cfg.amp, num_workers=cfg.num_workers, eval_every=cfg.eval_every, progress=progress)
        trained = train(model, None, train_set, test_set, random_state=seed, checkpoint=stage / "trained.pt",
                        meta=base_meta, penalty=penalty, **recipe)
        _check_finite(trained, "training with the penalty", cfg.lr)

        graph = derive_topology(model, cfg.rule, tau=cfg.tau, k=cfg.k)
        derived = copy.deepcopy(model)
        apply_topology(derived, graph)
        acc_thresholded = evaluate(derived, test_set)

        retrain_epochs = int(cfg.epochs if cfg.retrain_epochs is None else cfg.retrain_epochs)
        acc_retrained = None
        if retrain_epochs > 0:
            edges = sorted(graph.edges)
            rkw = cfg.model_kwargs(graph=edges, random_state=seed)
            fresh = build("dagnet", num_classes, shape, random_state=seed + RETRAIN_SEED_OFFSET, **rkw)
            rmeta = {**base_meta, "model_kwargs": rkw, "penalty": None, "lambda": None,
                     "retrained_from": f"seed {seed}, derived topology", "init_seed": seed + RETRAIN_SEED_OFFSET}
            rrecipe = {**recipe, "epochs": retrain_epochs}
            if retrain_epochs != int(cfg.epochs):
                rrecipe["milestones"] = None  # pruners.train's default: half and three quarters of the epochs
            retrained = train(fresh, None, train_set, test_set, random_state=seed + RETRAIN_SEED_OFFSET,
                              checkpoint=stage / "retrained.pt", meta=rmeta, **rrecipe)
            _check_finite(retrained, "retraining the derived topology", cfg.lr)
            acc_retrained = float(retrained.accuracy)

        info = topology_to_meta(graph)
        dmeta = {**base_meta, "derived_topology": info, "accuracy": float(acc_thresholded),
                 "accuracy_trained": float(trained.accuracy), "accuracy_thresholded": float(acc_thresholded),
                 "accuracy_retrained": acc_retrained, "history": trained.history}
        save_checkpoint(stage / "derived.pt", derived, None, dmeta)
        write_graphml(graph, stage / "topology.graphml")
        title = (f"dagnet, {cfg.dataset} {'x'.join(map(str, shape))}, seed {seed}: {graph.number_of_nodes()} nodes, "
                 f"{graph.number_of_edges()} of {len(model.edges)} edges ({graph.graph['rule']}"
                 + (f", tau={graph.graph['tau']:g})" if "tau" in graph.graph else f", k={graph.graph['k']})"))
        draw_topology(graph, stage / "topology.png", title=title)

        report: dict[str, Any] = {
            "dataset": cfg.dataset, "input_shape": ",".join(map(str, shape)), "seed": int(seed), "gate": cfg.gate,
            "penalty": penalty.name, "lambda": penalty.lam, "rule": graph.graph["rule"], "tau": graph.graph.get("tau"),
            "k": graph.graph.get("k"), "accuracy_trained": float(trained.accuracy),
            "accuracy_thresholded": float(acc_thresholded), "accuracy_retrained": acc_retrained,
            "params_initial": params_initial,
        }
        report.update(measure_model(derived, graph, shape, mge=cfg.mge, random_state=seed))
        report["seconds"] = round(time.perf_counter() - t0, 1)
        report["config"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()
                            if k not in ("extra",)}
        report["config"]["retrain_epochs"] = retrain_epochs
        if not isinstance(report["config"]["graph"], str):
            report["config"]["graph"] = "user-given"
        atomic_write_text(stage / "report.json", json.dumps(report, indent=2, default=_json_default) + "\n")
        atomic_write_text(stage / "report.md", report_markdown(report))
        if final.exists():
            shutil.rmtree(final)
        os.replace(stage, final)
        return report
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def train_dag(config: DagConfig, out: str | os.PathLike, seeds: Sequence[int], *, overwrite: bool = False,
              progress: bool | None = None, log=print) -> list[dict[str, Any]]:
    """Run every seed into ``out/seed{N}`` (finished seeds are kept unless ``overwrite``); return the reports.

    Writes ``out/runs.csv`` (one row per finished seed in ``out``, including seeds of
    earlier invocations; the report without its config) and ``out/table2.md`` (their
    Table-2 style summary) at the end.
    """
    import pandas as pd

    from topocore.io import atomic_write_csv, atomic_write_text, check_writable, output_lock

    from .dag_report import summary_markdown, summary_table

    seeds = [int(s) for s in seeds]
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds must be distinct non-negative integers, got {seeds}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder")
    cfg, train_set, test_set = prepare(config)
    check_writable(out, what="output folder")
    reports = []
    with output_lock(out):
        for stale in out.glob(".seed*.partial-*"):  # left by a killed run; the lock says no one else writes here
            shutil.rmtree(stale, ignore_errors=True)
        for seed in seeds:
            run_dir = out / f"seed{seed}"
            done = run_dir / "report.json"
            if done.exists() and not overwrite:
                log(f"seed {seed}: already finished in {run_dir} (pass --overwrite to redo it)")
                reports.append(json.loads(done.read_text()))
                continue
            report = run_seed(cfg, train_set, test_set, seed, run_dir, progress=progress)
            log(f"seed {seed}: accuracy trained {report['accuracy_trained']:.4f}, thresholded "
                f"{report['accuracy_thresholded']:.4f}, retrained "
                + ("-" if report["accuracy_retrained"] is None else f"{report['accuracy_retrained']:.4f}")
                + f"; block graph {report['num_nodes']} nodes, {report['num_edges']} edges -> {run_dir}")
            reports.append(report)
        finished = sorted(out.glob("seed*/report.json"), key=lambda f: int(f.parent.name[4:]) if f.parent.name[4:].isdigit() else -1)
        rows = [{k: v for k, v in json.loads(f.read_text()).items() if k != "config"} for f in finished]
        atomic_write_csv(out / "runs.csv", pd.DataFrame(rows))
        atomic_write_text(out / "table2.md", summary_markdown(summary_table(rows)))
    return reports
