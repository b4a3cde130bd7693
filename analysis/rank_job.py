"""The main job: rank pruning-at-initialization methods for a model and sparsity before training them.

"Which pruning method should I use for this model at this sparsity, before I spend GPU
days training them all?"  :class:`RankJob` answers it with the paper's topometric
mixture (Cunegatti et al., TMLR 2024, Section 4.3):

1. **Networks.**  For the target data set (its class count) and for every reference
   data set, every method and every sparsity: build the zoo model (seeded), prune it
   at initialization (data-dependent methods score on the *scoring data*: the real
   target data set when a data root is given, else a built-in batch of
   scikit-learn's digits upsampled to the model's input shape), encode its MGE
   (:func:`encoders.encode`), compute the 16 topometrics
   (:func:`topometrics.compute`, raw; size-normalised later with
   :func:`topometrics.normalize`) and the baselines of the rolled encoding (mean
   layer density, ``delta_r``, ``delta_r_imdb``, ``lambda_imsg``, means over
   layers, :func:`topometrics.per_layer`).
2. **Importance.**  The reference networks are paired with the paper's published
   accuracies (``pai_accuracy.csv``, ``dense_accuracy.csv``, shipped as package
   data) and the Architecture-Fixed and Sparsity-Fixed importance vectors are
   estimated from them (:func:`analysis.ranking.estimate_importance`).  Nothing
   about the target data set's accuracies is used.
3. **Ranking.**  Each sparsity's target networks are ranked by the mixture
   coefficient (ascending) and by the four baselines (higher first).
4. **Check.**  When the paper published accuracies for the target triplet, each
   ranking is compared with the published one by Rank-Biased Overlap (extrapolated,
   averaged over p in {0.25, 0.5, 0.75}).

The reference groups hold one architecture only, so a Sparsity-Fixed group has
``len(methods) * len(references)`` networks, fewer than the 16 features plus 2 that
the adjusted R^2 needs; the importances (correlations with out-of-fold predictions)
are still defined and are what the ranking uses (``allow_small_groups``).

Everything is resumable: finished networks are kept in ``networks.csv`` in the
output folder (rewritten atomically after each network) and skipped on the next run.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .data import attach_dense_accuracy, load_pai_accuracy
from .names import PAPER_DATASETS, PAPER_METHODS, UNROLLED_FEATURES, canonical_arch, canonical_dataset, canonical_method
from .ranking import ImportanceModel, RBO_P, baseline_ranking, estimate_importance, mean_rbo, mixture_coefficients

__all__ = [
    "RankJob",
    "RankResult",
    "NUM_CLASSES",
    "BASELINES",
    "STRATEGIES",
    "describe_network",
    "networks_from_checkpoints",
    "published_ranking",
]

#: Class count of each data set the paper uses (the target networks are built with it).
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "tinyimagenet": 200}
#: Baseline ranking strategies: per-network means over layers of the rolled encoding, higher ranks higher.
BASELINES = ("layer_density", "delta_r", "delta_r_imdb", "lambda_imsg")
#: All strategies, the topometric mixture first.
STRATEGIES = ("mixture",) + BASELINES
STRATEGY_LABELS = {
    "published": "published",
    "measured": "measured",
    "mixture": "topometric mixture",
    "layer_density": "layer density",
    "delta_r": "delta_r",
    "delta_r_imdb": "delta_r_imdb",
    "lambda_imsg": "lambda_imsg",
}
#: Columns identifying one network of the job.
KEY = ("arch", "dataset", "method", "sparsity", "seed", "scoring")
DIGITS_LABEL = "digits"


# --------------------------------------------------------------------------------- one network


def describe_network(
    model,
    masks,
    input_shape: Sequence[int],
    *,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> dict[str, float]:
    """Raw topometrics and rolled-encoding baselines of one pruned network.

    Returns ``num_nodes``, ``num_edges``, the 16 paper topometrics (raw values, as
    :func:`topometrics.compute` gives them) and the means over layers of
    ``layer_density``, ``delta_r``, ``delta_r_imdb`` and ``lambda_imsg`` (NaN where
    no layer defines them).
    """
    import encoders
    import topometrics

    graph = encoders.encode(model, tuple(int(s) for s in input_shape), masks)
    raw = topometrics.compute(graph, metrics=list(UNROLLED_FEATURES), random_state=random_state, n_threads=n_jobs)
    layers = topometrics.per_layer(model, masks, metrics=None, encodings=("rolled",), random_state=random_state)
    agg = topometrics.aggregate_layers(layers).iloc[0]
    row: dict[str, float] = {"num_nodes": int(graph.num_nodes), "num_edges": int(graph.num_edges)}
    row.update({k: float(v) for k, v in raw.items()})
    row.update({b: float(agg.get(b, np.nan)) for b in BASELINES})
    return row


_SCORING_CACHE: dict[tuple, Any] = {}


def _scoring_data(dataset: str | None, data_root: str | None, input_shape: tuple[int, ...]):
    """Scoring data for data-dependent methods (cached per process)."""
    from pruners.data import get_dataset

    key = (dataset, data_root, input_shape)
    if key not in _SCORING_CACHE:
        if data_root is None:
            _SCORING_CACHE[key] = get_dataset("digits", None, "train", augment=False, input_shape=input_shape)
        else:
            _SCORING_CACHE[key] = get_dataset(dataset, data_root, "train", augment=False)
    return _SCORING_CACHE[key]


def _limit_threads(threads: int) -> None:
    """One torch thread (pruning works on small batches: measured on 2 busy cores, SynFlow on
    ResNet-20 took 2.4 s with one torch thread and 67 s with two), ``threads`` numba threads."""
    import torch

    torch.set_num_threads(1)
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except (ImportError, ValueError) as exc:  # numba absent or a thread count it refuses: keep its default
        import warnings

        warnings.warn(f"could not limit numba threads: {exc}", RuntimeWarning, stacklevel=2)


def _find_malloc_trim():
    """glibc's ``malloc_trim`` (None on other C libraries and platforms: nothing to call there)."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl): freed heap memory stays with the process
        return None


_MALLOC_TRIM = _find_malloc_trim()


def _release_memory() -> None:
    """Hand the freed heap of the last network back to the operating system.

    Pruning and graph metrics free gigabytes of small and medium allocations that glibc
    keeps in its arenas: measured, a worker's RSS stays 0.3-1.9 GB above its 0.54 GB
    baseline after each network without this, and returns to the baseline with it.
    That keeps a long job's footprint at its per-network peak and stops joblib's loky
    workers from being restarted by their memory-leak guard (300 MB growth).
    """
    import gc

    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _network_task(spec: dict) -> dict:
    """Prune, encode and describe one network (runs in a worker process or inline)."""
    from pruners.pipeline import prune_model

    _limit_threads(spec["threads"])
    shape = tuple(spec["input_shape"])
    data = _scoring_data(spec["scoring_dataset"], spec["data_root"], shape)
    t0 = time.perf_counter()
    model, masks, _ = prune_model(
        spec["arch"],
        spec["method"],
        spec["sparsity"],
        num_classes=spec["num_classes"],
        input_shape=shape,
        random_state=spec["seed"],
        data=data,
        progress=False,
    )
    t1 = time.perf_counter()
    row = {k: spec[k] for k in KEY}
    row["num_classes"] = spec["num_classes"]
    row.update(describe_network(model, masks, shape, random_state=spec["seed"], n_jobs=spec["threads"]))
    row["prune_seconds"] = round(t1 - t0, 3)
    row["metrics_seconds"] = round(time.perf_counter() - t1, 3)
    del model, masks
    _release_memory()
    return row


def networks_from_checkpoints(paths: Iterable[str | os.PathLike], *, progress: bool = True) -> pd.DataFrame:
    """Describe the user's own pruned checkpoints (written by ``pruners.save_checkpoint``).

    One row per checkpoint: its metadata (``arch, dataset, method, sparsity, seed``,
    ``accuracy`` when trained), ``checkpoint`` (the path) and
    :func:`describe_network`'s columns.
    """
    from tqdm.auto import tqdm

    from pruners import load_checkpoint

    rows = []
    for path in tqdm(list(paths), desc="checkpoints", unit="net", disable=not progress):
        ckpt = load_checkpoint(path)
        meta = ckpt.meta
        shape = tuple(int(s) for s in meta["input_shape"])
        row = {
            "arch": canonical_arch(meta["arch"]),
            "dataset": canonical_dataset(meta["dataset"]) if meta.get("dataset") else "unknown",
            "method": str(meta.get("method") or "unknown"),
            "sparsity": round(float(meta.get("sparsity") or 0.0), 6),
            "seed": int(meta.get("seed") or 0),
            "scoring": str(meta.get("dataset") or "unknown"),
            "num_classes": int(meta["num_classes"]),
            "accuracy": meta.get("accuracy"),
            "checkpoint": str(path),
        }
        row.update(describe_network(ckpt.model, ckpt.masks, shape, random_state=row["seed"]))
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------- published data


def published_ranking(arch: str, dataset: str, sparsity: float, methods: Sequence[str]) -> list[str] | None:
    """Methods sorted by the paper's published mean accuracy (best first), or None when not published.

    Methods without a published accuracy (or marked below chance) are left out.
    """
    pai = load_pai_accuracy()
    sub = pai[(pai["arch"] == arch) & (pai["dataset"] == dataset) & (np.isclose(pai["sparsity"], sparsity)) & (pai["method"].isin(methods))]
    sub = sub.dropna(subset=["accuracy"])
    if sub.empty:
        return None
    sub = sub.sort_values(["accuracy", "method"], ascending=[False, True], kind="mergesort")
    return sub["method"].tolist()


def _with_published_accuracy(networks: pd.DataFrame) -> pd.DataFrame:
    pai = load_pai_accuracy()[["arch", "dataset", "method", "sparsity", "accuracy"]]
    net = networks.drop(columns=[c for c in ("accuracy", "dense_accuracy") if c in networks.columns])
    net = net.assign(sparsity=net["sparsity"].astype(float).round(6))
    merged = net.merge(pai, on=["arch", "dataset", "method", "sparsity"], how="left")
    return attach_dense_accuracy(merged)


def normalized_features(networks: pd.DataFrame, features: Sequence[str] = UNROLLED_FEATURES) -> pd.DataFrame:
    """The paper's size-normalised topometrics of a networks table (raw columns + num_nodes/num_edges)."""
    import topometrics

    missing = [c for c in (*features, "num_nodes", "num_edges") if c not in networks.columns]
    if missing:
        raise ValueError(f"networks table lacks columns {missing}")
    return topometrics.normalize(networks[list(features)], networks["num_nodes"], networks["num_edges"])


# --------------------------------------------------------------------------------- the job


@dataclass
class RankResult:
    """Rankings of one job.

    Attributes
    ----------
    rankings : DataFrame
        Long table ``sparsity, dataset, strategy, position, method`` (position 1 = best;
        strategy ``published`` is the paper's ranking when it exists).
    rbo : DataFrame
        ``sparsity, dataset, strategy, rbo``: mean extrapolated RBO against the true
        ranking: the measured accuracies of the ranked checkpoints when they all have
        one (strategy ``measured``), else the paper's published ranking; NaN when
        neither exists.
    coefficients : DataFrame
        ``sparsity, dataset, method, coefficient``: the mixture coefficients (lower ranks higher).
    networks : DataFrame
        Every network of the job (raw topometrics and baselines, published accuracies
        where known).
    importance : ImportanceModel
        The importance vectors used.
    notes : list of str
        What the scoring data and the reference networks were.
    """

    rankings: pd.DataFrame
    rbo: pd.DataFrame
    coefficients: pd.DataFrame
    networks: pd.DataFrame
    importance: ImportanceModel
    notes: list[str] = field(default_factory=list)

    def wide(self, sparsity: float, dataset: str | None = None) -> pd.DataFrame:
        """One sparsity's rankings as columns (position x strategy) with an ``RBO`` row."""
        r = self.rankings[np.isclose(self.rankings["sparsity"], sparsity)]
        if dataset is not None:
            r = r[r["dataset"] == dataset]
        order = [s for s in ("measured", "published") + STRATEGIES if s in set(r["strategy"])]
        table = r.pivot_table(index="position", columns="strategy", values="method", aggfunc="first").reindex(columns=order)
        table.columns = [STRATEGY_LABELS.get(c, c) for c in table.columns]
        table = table.fillna("")
        rbo = self.rbo[np.isclose(self.rbo["sparsity"], sparsity)]
        if dataset is not None:
            rbo = rbo[rbo["dataset"] == dataset]
        if rbo["rbo"].notna().any():
            vals = rbo.groupby("strategy")["rbo"].mean()
            row = {STRATEGY_LABELS.get(s, s): (f"{vals[s]:.3f}" if s in vals and np.isfinite(vals[s]) else "") for s in order}
            for truth in ("measured", "published"):
                if truth in order:
                    row[STRATEGY_LABELS[truth]] = "1.000"
            table.loc["RBO"] = pd.Series(row)
        table.index = [str(i) for i in table.index]
        table.index.name = "rank"
        return table

    def summary(self) -> pd.DataFrame:
        """Mean and std of the RBO of each strategy over the ranked triplets."""
        rbo = self.rbo.dropna(subset=["rbo"])
        if rbo.empty:
            return pd.DataFrame(columns=["strategy", "mean_rbo", "std_rbo", "triplets"])
        out = rbo.groupby("strategy")["rbo"].agg(mean_rbo="mean", std_rbo="std", triplets="size").reindex(
            [s for s in STRATEGIES if s in set(rbo["strategy"])]
        )
        return out.reset_index()

    def to_text(self) -> str:
        """Tables of every ranked (data set, sparsity) and the RBO summary, for the terminal."""
        lines = []
        for note in self.notes:
            lines.append(note)
        keys = self.rankings[["dataset", "sparsity"]].drop_duplicates().sort_values(["dataset", "sparsity"])
        for ds, s in keys.itertuples(index=False):
            lines.append("")
            lines.append(f"{ds}, sparsity {s:g} (best first):")
            lines.append(self.wide(s, ds).to_string())
        summ = self.summary()
        if not summ.empty:
            lines.append("")
            lines.append("Agreement with the true ranking (mean RBO over the sparsities above, p in {0.25, 0.5, 0.75}):")
            for r in summ.itertuples(index=False):
                std = 0.0 if not np.isfinite(r.std_rbo) else r.std_rbo
                lines.append(f"  {STRATEGY_LABELS.get(r.strategy, r.strategy):<20s} {r.mean_rbo:.3f} +- {std:.3f}")
        return "\n".join(lines)

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write ``networks.csv``, ``rankings.csv``, ``rbo.csv``, ``coefficients.csv``,
        ``importance.csv``, ``report.md`` and ``ranking.png`` into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, df in (
            ("networks", self.networks),
            ("rankings", self.rankings),
            ("rbo", self.rbo),
            ("coefficients", self.coefficients),
            ("importance", _importance_long(self.importance)),
        ):
            paths[name] = _atomic_csv(df, out / f"{name}.csv")
        report = out / "report.md"
        report.write_text(self.to_markdown())
        paths["report"] = report
        from .figures import save_figure

        fig = ranking_figure(self)
        paths["figure"] = save_figure(fig, out / "ranking.png")
        return paths

    def to_markdown(self) -> str:
        """The rankings as a Markdown report."""
        from .report import markdown_table

        parts = ["# Ranking of pruning methods by topometric mixture", ""]
        parts += [f"- {n}" for n in self.notes]
        keys = self.rankings[["dataset", "sparsity"]].drop_duplicates().sort_values(["dataset", "sparsity"])
        for ds, s in keys.itertuples(index=False):
            parts += ["", f"## {ds}, sparsity {s:g}", "", markdown_table(self.wide(s, ds).reset_index())]
        summ = self.summary()
        if not summ.empty:
            parts += ["", "## Mean RBO against the true ranking", "", markdown_table(summ)]
        return "\n".join(parts) + "\n"


def _importance_long(model: ImportanceModel) -> pd.DataFrame:
    a = model.w_arch.copy()
    a.insert(0, "scenario", "architecture")
    s = model.w_sparsity.copy()
    s.insert(0, "scenario", "sparsity")
    a.index = a.index.map(str)
    s.index = s.index.map(str)
    both = pd.concat([a, s])
    both.index.name = "group"
    return both.reset_index()


def _atomic_csv(df: pd.DataFrame, path: Path) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def ranking_figure(result: RankResult):
    """Two panels: RBO of every strategy per sparsity, and the mixture's ranks next to the published ones."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.1, 1])
    rbo = result.rbo.dropna(subset=["rbo"])
    if not rbo.empty:
        piv = rbo.groupby(["sparsity", "strategy"])["rbo"].mean().unstack("strategy")
        piv = piv.reindex(columns=[s for s in STRATEGIES if s in piv.columns])
        width = 0.8 / max(1, piv.shape[1])
        x = np.arange(len(piv.index))
        for j, strat in enumerate(piv.columns):
            ax1.bar(x + (j - (piv.shape[1] - 1) / 2) * width, piv[strat].to_numpy(), width, label=STRATEGY_LABELS.get(strat, strat))
        ax1.set_xticks(x, [f"{s:g}" for s in piv.index])
        ax1.set_ylim(0, 1.25)
        ax1.set_yticks(np.linspace(0, 1, 6))
        ax1.set_xlabel("sparsity")
        ax1.set_ylabel("RBO vs true ranking")
        ax1.legend(fontsize=8, loc="upper center", ncol=3, frameon=False)
        ax1.set_title("Agreement with the true ranking")
    else:
        ax1.text(0.5, 0.5, "no published ranking for these networks", ha="center", va="center")
        ax1.set_axis_off()
    mix = result.rankings[result.rankings["strategy"] == "mixture"]
    truth_name = "measured" if (result.rankings["strategy"] == "measured").any() else "published"
    pub = result.rankings[result.rankings["strategy"] == truth_name]
    sparsities = sorted(mix["sparsity"].unique())
    methods = sorted(mix["method"].unique())
    grid = np.full((len(methods), len(sparsities)), np.nan)
    for j, s in enumerate(sparsities):
        sub = mix[np.isclose(mix["sparsity"], s)]
        for m, pos in zip(sub["method"], sub["position"]):
            grid[methods.index(m), j] = pos
    im = ax2.imshow(grid, cmap="viridis_r", aspect="auto")
    for i, m in enumerate(methods):
        for j, s in enumerate(sparsities):
            p = pub[np.isclose(pub["sparsity"], s) & (pub["method"] == m)]["position"]
            label = f"{int(grid[i, j])}" if np.isfinite(grid[i, j]) else ""
            if len(p):
                label += f" ({int(p.iloc[0])})"
            light = np.isfinite(grid[i, j]) and grid[i, j] <= (np.nanmax(grid) + 1) / 2
            ax2.text(j, i, label, ha="center", va="center", color="black" if light else "white", fontsize=9)
    ax2.set_xticks(range(len(sparsities)), [f"{s:g}" for s in sparsities])
    ax2.set_yticks(range(len(methods)), methods)
    ax2.set_xlabel("sparsity")
    ax2.set_title(f"Mixture rank ({truth_name} rank)")
    fig.colorbar(im, ax=ax2, label="predicted rank")
    return fig


@dataclass
class RankJob:
    """Configuration of the main job (see the module docstring).

    Parameters
    ----------
    arch : str
        Zoo architecture (``conv6``, ``resnet20``, ``resnet32``, ``wrn28_2``).
    methods : sequence of str
        Pruning methods to rank (default: the paper's 7).
    sparsities : sequence of float
        Sparsities to rank at.
    dataset : str
        Target data set whose class count the ranked networks have (``cifar10``,
        ``cifar100``, ``tinyimagenet``).
    references : sequence of str or None
        Data sets whose networks, paired with published accuracies, give the
        importance vectors; default: the paper's data sets other than ``dataset``.
    data_root : str or None
        Root of the real ``dataset`` files: data-dependent methods then score on its
        training split; None scores them on the built-in digits batch (3x32x32).
    input_shape : tuple
        Model input shape.
    seed : int
        Seed of every model's initialisation and of the random/data-dependent pruning.
    n_repeats : int
        Repeats of the 5-fold CV that estimates the importances.
    n_jobs : int or None
        Worker processes over networks; default ``min(4, cores)``.  Measured on 2
        cores: the metric kernels gain nothing from a second numba thread (24.2 s
        with one, 24.8 s with two on a 15M-edge ResNet-20 graph) and pruning uses
        one torch thread, so one process per core is what pays (the default job
        took 11.5 min with one process, see the README for two).  Each worker
        peaks at about 2.5 GB (ProsPr scoring).
    threads : int or None
        Numba threads per worker for the graph metrics (torch always uses one);
        default: cores // n_jobs.
    progress : bool
        Show progress bars.
    """

    arch: str = "resnet20"
    methods: Sequence[str] = PAPER_METHODS
    sparsities: Sequence[float] = (0.9, 0.95, 0.98)
    dataset: str = "cifar10"
    references: Sequence[str] | None = None
    data_root: str | None = None
    input_shape: tuple[int, ...] = (3, 32, 32)
    seed: int = 0
    n_repeats: int = 20
    n_jobs: int | None = None
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        from pruners.models import canonical_name  # KeyError naming the zoo for unknown models

        self.arch = canonical_name(self.arch)
        self.dataset = canonical_dataset(self.dataset)
        self.methods = tuple(canonical_method(m) for m in self.methods)
        if len(set(self.methods)) < 2:
            raise ValueError(f"ranking needs at least two distinct methods, got {list(self.methods)}")
        self.sparsities = tuple(round(float(s), 6) for s in self.sparsities)
        bad = [s for s in self.sparsities if not 0.0 < s < 1.0]
        if bad or not self.sparsities:
            raise ValueError(f"sparsities must lie strictly between 0 and 1, got {list(self.sparsities)}")
        if self.references is None:
            self.references = tuple(d for d in PAPER_DATASETS if d != self.dataset)
        self.references = tuple(canonical_dataset(d) for d in self.references)
        if self.dataset in self.references:
            raise ValueError(f"the target data set {self.dataset!r} cannot also be a reference data set")
        for d in (self.dataset, *self.references):
            if d not in NUM_CLASSES:
                raise ValueError(f"unknown class count for data set {d!r}; choose from {sorted(NUM_CLASSES)}")
        self.input_shape = tuple(int(s) for s in self.input_shape)
        if self.n_repeats < 1:
            raise ValueError("n_repeats must be at least 1")
        if self.n_jobs is None:
            self.n_jobs = max(1, min(4, os.cpu_count() or 1))
        if self.n_jobs < 1:
            raise ValueError("n_jobs must be at least 1")
        if self.threads is None:
            self.threads = max(1, (os.cpu_count() or 1) // self.n_jobs)

    # ------------------------------------------------------------------ networks
    @property
    def scoring(self) -> str:
        """Label of the scoring data (``digits`` or the target data set)."""
        return DIGITS_LABEL if self.data_root is None else self.dataset

    def specs(self, include_target: bool = True) -> list[dict]:
        """One task description per network (target data set first, then the references)."""
        out = []
        datasets = (self.dataset, *self.references) if include_target else tuple(self.references)
        for ds in datasets:
            for s in self.sparsities:
                for m in self.methods:
                    out.append(
                        {
                            "arch": self.arch,
                            "dataset": ds,
                            "method": m,
                            "sparsity": s,
                            "seed": int(self.seed),
                            "scoring": self.scoring,
                            "num_classes": NUM_CLASSES[ds],
                            "input_shape": list(self.input_shape),
                            "scoring_dataset": self.dataset,
                            "data_root": None if self.data_root is None else str(self.data_root),
                            "threads": int(self.threads),
                        }
                    )
        return out

    def networks(self, path: str | os.PathLike | None = None, *, include_target: bool = True) -> pd.DataFrame:
        """Prune, encode and describe every network; resumable through ``path`` (a CSV).

        ``include_target=False`` builds the reference networks only (when the target
        networks are the user's checkpoints).

        Rows already in ``path`` (same ``arch, dataset, method, sparsity, seed,
        scoring``) are kept and not recomputed; after every finished network the
        whole table is rewritten atomically, so an interruption loses nothing finished.
        """
        from tqdm.auto import tqdm

        if self.data_root is not None:
            _scoring_data(self.dataset, str(self.data_root), self.input_shape)  # fail early with the layout message
        done = pd.DataFrame()
        if path is not None and Path(path).exists():
            done = pd.read_csv(path)
            missing = [c for c in KEY if c not in done.columns]
            if missing:
                raise ValueError(f"{path} is not a networks table of this job (lacks {missing}); choose another --out")
            done["sparsity"] = done["sparsity"].astype(float).round(6)
        have = {tuple(r) for r in done[list(KEY)].itertuples(index=False)} if len(done) else set()
        specs = self.specs(include_target)
        todo = [sp for sp in specs if tuple(sp[k] for k in KEY) not in have]
        rows = done.to_dict("records") if len(done) else []
        bar = tqdm(total=len(todo), desc=f"networks ({self.arch})", unit="net", disable=not self.progress or not todo)

        def finish(row: dict) -> None:
            rows.append(row)
            if path is not None:
                _atomic_csv(pd.DataFrame(rows), Path(path))
            bar.set_postfix_str(f"{row['dataset']} {row['method']} {row['sparsity']:g}")
            bar.update(1)

        try:
            if self.n_jobs == 1:
                for sp in todo:
                    finish(_network_task(sp))
            else:
                # joblib's loky workers are fresh interpreters (no fork of a process holding
                # numba/torch thread pools) that, unlike multiprocessing's spawn, do not
                # re-run the caller's script: a plain script without an
                # ``if __name__ == "__main__":`` guard works.
                from joblib import Parallel, delayed

                parallel = Parallel(n_jobs=self.n_jobs, backend="loky", return_as="generator_unordered")
                for row in parallel(delayed(_network_task)(sp) for sp in todo):
                    finish(row)
        finally:
            bar.close()
        table = pd.DataFrame(rows)
        wanted = {tuple(sp[k] for k in KEY) for sp in specs}
        table = table[[tuple(r) in wanted for r in table[list(KEY)].itertuples(index=False)]]
        return table.sort_values(list(KEY)).reset_index(drop=True)

    # ---------------------------------------------------------------- importance
    def check_published(self) -> None:
        """Fail before any work when the paper published no accuracy to learn the importances from.

        Every sparsity needs at least 5 reference networks with a published accuracy (one
        5-fold CV); raises ``ValueError`` naming what is missing.
        """
        pai = load_pai_accuracy().dropna(subset=["accuracy"])
        pai = pai[(pai["arch"] == self.arch) & pai["dataset"].isin(self.references) & pai["method"].isin(self.methods)]
        short = [s for s in self.sparsities if int(np.isclose(pai["sparsity"], s).sum()) < 5]
        if short:
            raise ValueError(
                f"the paper published no accuracies (fewer than 5 networks) for {self.arch} at sparsities {short} on "
                f"{', '.join(self.references)} with methods {', '.join(self.methods)}: the importances cannot be "
                "estimated; use the paper's architectures (conv6, resnet20, resnet32, wrn28_2), sparsities "
                "(0.6, 0.8, 0.9, 0.95, 0.98) and methods (snip, grasp, synflow, prospr, uniform, er, erk)"
            )

    def reference_table(self, networks: pd.DataFrame) -> pd.DataFrame:
        """Reference networks with published accuracies and normalised features (the training table)."""
        ref = networks[networks["dataset"].isin(self.references)]
        if ref.empty:
            raise ValueError(f"no reference networks ({', '.join(self.references)}) in the table")
        ref = _with_published_accuracy(ref)
        feats = normalized_features(ref)
        table = pd.concat([ref.drop(columns=list(UNROLLED_FEATURES)), feats], axis=1)
        known = table.dropna(subset=["accuracy", "dense_accuracy"])
        if known.empty:
            raise ValueError(
                f"the paper published no accuracies for {self.arch} at sparsities {list(self.sparsities)} on "
                f"{', '.join(self.references)}: the importances cannot be estimated; use the paper's architectures "
                "(conv6, resnet20, resnet32, wrn28_2), sparsities (0.6, 0.8, 0.9, 0.95, 0.98) and methods"
            )
        return known.reset_index(drop=True)

    def importance(self, networks: pd.DataFrame) -> ImportanceModel:
        """Architecture-Fixed and Sparsity-Fixed importance vectors from the reference networks."""
        table = self.reference_table(networks)
        return estimate_importance(
            table,
            list(UNROLLED_FEATURES),
            n_repeats=self.n_repeats,
            random_state=self.seed,
            n_jobs=1,
            progress=self.progress,
            allow_small_groups=True,
        )

    # ------------------------------------------------------------------- ranking
    def rank(self, networks: pd.DataFrame, importance: ImportanceModel) -> RankResult:
        """Rank the target networks of every sparsity by the mixture and by the baselines."""
        target = networks[networks["dataset"] == self.dataset]
        if target.empty:
            raise ValueError(f"no {self.dataset} networks in the table")
        feats = normalized_features(target)
        rankings, rbos, coefs = [], [], []
        for s in self.sparsities:
            mask = np.isclose(target["sparsity"], s)
            rows = target[mask]
            x = feats[mask].set_axis(rows["method"].to_numpy(), axis=0)
            x = x.groupby(level=0, sort=False).mean()
            w_a, w_s = importance.vectors(self.arch, s)
            coef = mixture_coefficients(x, w_a, w_s, feature_min=importance.feature_min, feature_max=importance.feature_max)
            coefs += [{"sparsity": s, "dataset": self.dataset, "method": m, "coefficient": float(c)} for m, c in coef.items()]
            lists = {"mixture": importance.rank(x, self.arch, s)}
            for b in BASELINES:
                lists[b] = baseline_ranking(rows, b, methods=list(x.index))
            truth, truth_label = published_ranking(self.arch, self.dataset, s, self.methods), "published"
            measured = rows["accuracy"] if "accuracy" in rows.columns else pd.Series(dtype=float)
            if len(measured) and pd.to_numeric(measured, errors="coerce").notna().all():
                acc = pd.to_numeric(measured).groupby(rows["method"].to_numpy()).mean()
                truth = sorted(acc.index, key=lambda m: (-acc[m], m))
                truth_label = "measured"
            if truth is not None:
                lists = {truth_label: truth, **lists}
            for strat, order in lists.items():
                rankings += [
                    {"sparsity": s, "dataset": self.dataset, "strategy": strat, "position": i + 1, "method": m}
                    for i, m in enumerate(order)
                ]
                if strat not in ("published", "measured"):
                    rbos.append(
                        {"sparsity": s, "dataset": self.dataset, "strategy": strat, "rbo": mean_rbo(order, truth) if truth else np.nan}
                    )
        notes = [
            f"Ranking {len(self.methods)} pruning methods for {self.arch} on {self.dataset} "
            f"({NUM_CLASSES[self.dataset]} classes, input {'x'.join(map(str, self.input_shape))}), seed {self.seed}.",
            (
                "Data-dependent methods scored on the built-in digits batch (scikit-learn's 8x8 digits "
                f"upsampled to {'x'.join(map(str, self.input_shape))}), not on {self.dataset}: pass --data-root to use the real data."
                if self.data_root is None
                else f"Data-dependent methods scored on the {self.dataset} training split."
            ),
            f"Importance vectors estimated from the {' and '.join(self.references)} networks with the paper's "
            f"published accuracies ({self.n_repeats} x 5-fold CV, 8 regressors); nothing about {self.dataset}'s accuracies is used.",
            "Mixture: rank by sum_i x_i (w_arch_i + w_sparsity_i) / 2 ascending (paper Eq. 5); baselines rank higher values first; "
            f"RBO is extrapolated and averaged over p in {{{', '.join(str(p) for p in RBO_P)}}}.",
        ]
        pub = _with_published_accuracy(networks)[list(KEY) + ["accuracy", "dense_accuracy"]]
        pub = pub.rename(columns={"accuracy": "published_accuracy", "dense_accuracy": "published_dense_accuracy"})
        nets = networks.merge(pub, on=list(KEY), how="left")
        return RankResult(pd.DataFrame(rankings), pd.DataFrame(rbos), pd.DataFrame(coefs), nets, importance, notes)

    # ----------------------------------------------------------------------- run
    def run(self, out: str | os.PathLike, checkpoints: Sequence[str | os.PathLike] | None = None) -> RankResult:
        """Networks (resumable in ``out/networks.csv``), importances, rankings; writes every output into ``out``.

        With ``checkpoints`` the ranked networks are those files (see
        :meth:`from_checkpoints`) and only the reference networks are generated.
        """
        self.check_published()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(pd.Series(asdict(self)).to_json(indent=2))
        if checkpoints:
            target = networks_from_checkpoints(checkpoints, progress=self.progress)
            _check_target(target, self)
            refs = self.networks(out / "networks.csv", include_target=False)
            nets = pd.concat([target, refs], ignore_index=True)
        else:
            nets = self.networks(out / "networks.csv")
        result = self.rank(nets, self.importance(nets))
        result.save(out)
        return result

    @classmethod
    def from_checkpoints(cls, checkpoints: Sequence[str | os.PathLike], **kwargs) -> "RankJob":
        """A job whose architecture, data set, input shape, methods and sparsities are those of ``checkpoints``.

        All checkpoints must share one architecture, data set and input shape.
        """
        from pruners import load_checkpoint

        metas = [load_checkpoint(p).meta for p in checkpoints]
        if not metas:
            raise ValueError("no checkpoints given")
        archs = {canonical_arch(m["arch"]) for m in metas}
        datasets = {m.get("dataset") for m in metas}
        shapes = {tuple(m["input_shape"]) for m in metas}
        if len(archs) != 1 or len(shapes) != 1:
            raise ValueError(f"checkpoints mix architectures {sorted(archs)} or input shapes {sorted(shapes)}: rank one model at a time")
        if len(datasets) != 1 or None in datasets:
            raise ValueError(
                f"checkpoints must share one data set in their metadata (found {sorted(map(str, datasets))}); "
                "prune them with --dataset"
            )
        kwargs.setdefault("methods", tuple(dict.fromkeys(str(m["method"]) for m in metas)))
        kwargs.setdefault("sparsities", tuple(sorted({round(float(m["sparsity"]), 6) for m in metas})))
        return cls(arch=archs.pop(), dataset=datasets.pop(), input_shape=shapes.pop(), **kwargs)


def _check_target(target: pd.DataFrame, job: RankJob) -> None:
    bad = target[(target["arch"] != job.arch) | (target["dataset"] != job.dataset)]
    if len(bad):
        raise ValueError(f"checkpoints {bad['checkpoint'].tolist()} are not {job.arch} on {job.dataset} networks")
