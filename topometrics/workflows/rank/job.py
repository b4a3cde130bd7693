""":class:`RankJob`: configuration and orchestration of the main job (see :mod:`topometrics.workflows.rank`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from analysis.names import UNROLLED_FEATURES
from analysis.ranking import RBO_P, ImportanceModel, baseline_ranking, estimate_importance, mean_rbo, mixture_coefficients
from topocore.errors import InputError
from topocore.io import atomic_write_text
from analysis.regression import min_group_rows
from topocore.names import (
    DENSE, PAPER_ARCHS, PAPER_DATASETS, PAPER_METHODS, canonical_dataset, canonical_method, num_classes_of,
)
from topocore.parallel import available_cores, resolve_n_jobs

from .config import BASELINES, DIGITS_LABEL, KEY, NUM_CLASSES
from .networks import networks_from_checkpoints, normalized_features, run_tasks, scoring_data
from .published import check_published, no_published_accuracies, pooled_methods, published_ranking, with_published_accuracy
from .result import RankResult

__all__ = ["RankJob"]


@dataclass
class RankJob:
    """Configuration of the main job (see :mod:`topometrics.workflows.rank`).

    Parameters
    ----------
    arch : str
        Zoo architecture (``conv6``, ``resnet20``, ``resnet32``, ``wrn28_2``) or a model
        of your own as ``"package.module:factory"`` (then give ``reference_arch``).
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
    reference_arch : str or None
        Architecture of the reference networks (one the paper published accuracies
        for); default ``arch``.  A model of your own has no published accuracies: its
        networks are ranked with the importance vectors of ``reference_arch``'s
        networks (the report says so).
    data_root : str or None
        Root of the real ``dataset`` files: data-dependent methods then score on its
        training split; None scores them on the built-in digits batch (3x32x32).
    input_shape : tuple
        Model input shape.
    random_state : int
        Seed of every model's initialisation and of the random/data-dependent pruning
        (the tables' ``seed`` column).
    n_repeats : int
        Repeats of the 5-fold CV that estimates the importances.
    n_jobs : int or None
        Worker processes over networks; default ``min(4, cores)``.  Measured on 2
        cores: the metric kernels gain nothing from a second numba thread (24.2 s
        with one, 24.8 s with two on a 15M-edge ResNet-20 graph) and pruning uses
        one torch thread, so one process per core is what pays (the default job
        took 11.5 min with one process, see the README for two).  Each worker
        peaks at about 2.5 GB (ProsPr scoring).
    n_threads : int or None
        Numba threads per worker for the graph metrics (torch always uses one);
        default: cores // n_jobs.
    trusted : bool, str or sequence of str
        Model specs that ranked checkpoints may name (see :func:`pruners.load_checkpoint`);
        ``arch`` is trusted when it is a spec.
    reference_methods : sequence of str or None
        Methods of the reference networks.  Default: ``methods``, pooled with the
        fewest of the paper's other methods (cheapest first: uniform, er, erk, ...)
        that give every sparsity at least 7 reference networks with a published
        accuracy -- the smallest group that the 5-fold CV with an inner 5-fold CV
        takes (:func:`analysis.regression.min_group_rows`).  So a small job (e.g. 3
        methods x 2 reference data sets = 6 networks) works; the added methods are
        reference networks only (never ranked) and the report says so.  Their
        adjusted R^2 is NaN (n <= p + 1), the importances are still defined.
    progress : bool
        Show progress bars.
    executor : executor, callable or None
        Where the networks are built (:mod:`topometrics.workflows.batch`): None runs
        ``n_jobs`` local worker processes; a dask executor (or a factory of one, e.g.
        ``lambda: make_executor("dask", scheduler="local", n_jobs=2)``) runs them on a
        cluster.  Not part of the saved configuration.
    """

    arch: str = "resnet20"
    methods: Sequence[str] = PAPER_METHODS
    sparsities: Sequence[float] = (0.9, 0.95, 0.98)
    dataset: str = "cifar10"
    references: Sequence[str] | None = None
    reference_arch: str | None = None
    data_root: str | None = None
    input_shape: tuple[int, ...] = (3, 32, 32)
    random_state: int = 0
    n_repeats: int = 20
    n_jobs: int | None = None
    n_threads: int | None = None
    trusted: bool | str | Sequence[str] = ()
    progress: bool = True
    reference_methods: Sequence[str] | None = None
    executor: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        from pruners.models import canonical_model, is_spec

        self.arch = canonical_model(self.arch)
        ref = self.arch if self.reference_arch is None else canonical_model(self.reference_arch)
        if ref not in PAPER_ARCHS:
            raise InputError(
                f"the paper published accuracies for {', '.join(PAPER_ARCHS)} only, not {ref!r}: pass "
                "reference_arch= (--reference-arch) naming one of them; its networks give the importance vectors"
            )
        self.reference_arch = ref
        if is_spec(self.arch) and self.trusted is not True:
            listed = [self.trusted] if isinstance(self.trusted, str) else list(self.trusted or ())
            self.trusted = tuple(dict.fromkeys([*listed, self.arch]))
        self.dataset = canonical_dataset(self.dataset)
        self.methods = tuple(canonical_method(m) for m in self.methods)
        if len(set(self.methods)) < 2:
            raise InputError(f"ranking needs at least two distinct methods, got {list(self.methods)}")
        self.sparsities = tuple(round(float(s), 6) for s in self.sparsities)
        bad = [s for s in self.sparsities if not 0.0 < s < 1.0]
        if bad or not self.sparsities:
            raise InputError(f"sparsities must lie strictly between 0 and 1, got {list(self.sparsities)}")
        if self.references is None:
            self.references = tuple(d for d in PAPER_DATASETS if d != self.dataset)
        self.references = tuple(canonical_dataset(d) for d in self.references)
        if self.dataset in self.references:
            raise InputError(f"the target data set {self.dataset!r} cannot also be a reference data set")
        for d in self.references:
            if d not in NUM_CLASSES:
                raise InputError(f"the paper has no networks for reference data set {d!r}; choose from {sorted(NUM_CLASSES)}")
        num_classes_of(self.dataset)  # a known data set (the target networks get its class count)
        self.input_shape = tuple(int(s) for s in self.input_shape)
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise InputError(f"input_shape must be (C, H, W) with positive entries, got {self.input_shape}; "
                             "pass three numbers such as 3,32,32 (--input-shape)")
        if not isinstance(self.random_state, (int, np.integer)) or isinstance(self.random_state, bool):
            raise InputError(f"random_state must be an int (the seed of every network), got {self.random_state!r}")
        self.random_state = int(self.random_state)
        if self.n_repeats < 1:
            raise InputError("n_repeats must be at least 1")
        if self.reference_methods is None:
            self.reference_methods = pooled_methods(
                self.reference_arch, self.references, self.methods, self.sparsities, min_group_rows()
            )
        self.reference_methods = tuple(canonical_method(m) for m in self.reference_methods)
        self.n_jobs = resolve_n_jobs(self.n_jobs, default=min(4, available_cores()))
        if self.n_threads is None:
            self.n_threads = max(1, available_cores() // self.n_jobs)
        if int(self.n_threads) < 1:
            raise InputError(f"n_threads must be at least 1, got {self.n_threads}")

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
            arch = self.arch if ds == self.dataset else self.reference_arch
            for s in self.sparsities:
                for m in self.methods if ds == self.dataset else self.reference_methods:
                    out.append(
                        {
                            "arch": arch,
                            "dataset": ds,
                            "method": m,
                            "sparsity": s,
                            "seed": self.random_state,
                            "scoring": self.scoring,
                            "num_classes": num_classes_of(ds),
                            "input_shape": list(self.input_shape),
                            "scoring_dataset": self.dataset,
                            "data_root": None if self.data_root is None else str(self.data_root),
                            "n_threads": int(self.n_threads),
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
        if self.data_root is not None:
            scoring_data(self.dataset, str(self.data_root), self.input_shape)  # fail early with the layout message
        return run_tasks(
            self.specs(include_target), path, n_jobs=self.n_jobs, progress=self.progress, desc=f"networks ({self.arch})",
            executor=self.executor, n_threads=self.n_threads,
        )

    # ---------------------------------------------------------------- importance
    def check_published(self) -> None:
        """Fail before any work when the paper published no accuracy to learn the importances from."""
        check_published(self.reference_arch, self.references, self.reference_methods, self.sparsities)

    def reference_table(self, networks: pd.DataFrame) -> pd.DataFrame:
        """Reference networks with published accuracies and normalised features (the training table)."""
        ref = networks[networks["dataset"].isin(self.references)]
        if ref.empty:
            raise InputError(f"no reference networks ({', '.join(self.references)}) in the table")
        ref = with_published_accuracy(ref)
        feats = normalized_features(ref)
        table = pd.concat([ref.drop(columns=list(UNROLLED_FEATURES)), feats], axis=1)
        known = table.dropna(subset=["accuracy", "dense_accuracy"])
        if known.empty:
            raise no_published_accuracies(self.reference_arch, self.sparsities, self.references)
        return known.reset_index(drop=True)

    def importance(self, networks: pd.DataFrame) -> ImportanceModel:
        """Architecture-Fixed and Sparsity-Fixed importance vectors from the reference networks.

        Convergence warnings of the regressors' CV fits (common with the job's small groups)
        are counted and reported once in the notes (:meth:`notes`, ``report.md``) instead of
        one terminal line per fit; other warnings pass through.
        """
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        table = self.reference_table(networks)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = estimate_importance(
                table,
                list(UNROLLED_FEATURES),
                n_repeats=self.n_repeats,
                random_state=self.random_state,
                n_jobs=1,
                progress=self.progress,
                allow_small_groups=True,
            )
        converge = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self._fit_notes = []
        if converge:
            first = " ".join(str(converge[0].message).split())
            self._fit_notes.append(
                f"{len(converge)} cross-validation fits of the importance regressors warned that they did not fully "
                f"converge (first: {first}); their predictions are used as they are."
            )
        return model

    # ------------------------------------------------------------------- ranking
    def rank(self, networks: pd.DataFrame, importance: ImportanceModel) -> RankResult:
        """Rank the target networks of every sparsity by the mixture and by the baselines."""
        target = networks[networks["dataset"] == self.dataset]
        if target.empty:
            raise InputError(f"no {self.dataset} networks in the table")
        feats = normalized_features(target)
        rankings, rbos, coefs = [], [], []
        for s in self.sparsities:
            mask = np.isclose(target["sparsity"], s)
            rows = target[mask]
            x = feats[mask].set_axis(rows["method"].to_numpy(), axis=0)
            x = x.groupby(level=0, sort=False).mean()
            w_a, w_s = importance.vectors(self.reference_arch, s)
            coef = mixture_coefficients(x, w_a, w_s, feature_min=importance.feature_min, feature_max=importance.feature_max)
            coefs += [{"sparsity": s, "dataset": self.dataset, "method": m, "coefficient": float(c)} for m, c in coef.items()]
            lists = {"mixture": importance.rank(x, self.reference_arch, s)}
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
        pub = with_published_accuracy(networks)[list(KEY) + ["accuracy", "dense_accuracy"]]
        pub = pub.rename(columns={"accuracy": "published_accuracy", "dense_accuracy": "published_dense_accuracy"})
        # a re-run reads networks.csv back with these columns: replace them, never suffix them
        networks = networks.drop(columns=[c for c in pub.columns if c not in KEY and c in networks.columns])
        nets = networks.merge(pub, on=list(KEY), how="left")
        return RankResult(pd.DataFrame(rankings), pd.DataFrame(rbos), pd.DataFrame(coefs), nets, importance, self.notes())

    def notes(self) -> list[str]:
        """What the job did, for the report (scoring data, references, the mixture rule)."""
        shape = "x".join(map(str, self.input_shape))
        refs = " and ".join(self.references)
        notes = [
            f"Ranking {len(self.methods)} pruning methods for {self.arch} on {self.dataset} "
            f"({num_classes_of(self.dataset)} classes, input {shape}), seed {self.random_state}.",
            (
                "Data-dependent methods scored on the built-in digits batch (scikit-learn's 8x8 digits "
                f"upsampled to {shape}), not on {self.dataset}: pass --data-root to use the real data."
                if self.data_root is None
                else f"Data-dependent methods scored on the {self.dataset} training split."
            ),
            f"Importance vectors estimated from the {refs} networks with the paper's "
            f"published accuracies ({self.n_repeats} x 5-fold CV, 8 regressors); nothing about {self.dataset}'s accuracies is used.",
        ]
        pooled = [m for m in self.reference_methods if m not in self.methods]
        if pooled:
            need = min_group_rows()
            notes.append(
                f"Reference networks pooled: {len(self.methods)} methods x {len(self.references)} reference data sets "
                f"give fewer than {need} networks per sparsity, the smallest group the importance CV takes (5-fold with "
                f"an inner 5-fold CV), so the reference networks also use {', '.join(pooled)} (not ranked); the "
                "adjusted R^2 of such small groups is NaN, the importances are still estimated."
            )
        notes += list(getattr(self, "_fit_notes", []))
        if self.reference_arch != self.arch:
            notes.append(
                f"The paper published no accuracies for {self.arch}: the reference networks are {self.reference_arch} "
                f"networks, and their importance vectors rank the {self.arch} networks (a transfer across "
                "architectures, not the paper's setting)."
            )
        notes.append(
            "Mixture: rank by sum_i x_i (w_arch_i + w_sparsity_i) / 2 ascending (paper Eq. 5); baselines rank higher values first; "
            f"RBO is extrapolated and averaged over p in {{{', '.join(str(p) for p in RBO_P)}}}."
        )
        return notes

    # ----------------------------------------------------------------------- run
    def run(self, out: str | os.PathLike, checkpoints: Sequence[str | os.PathLike] | None = None) -> RankResult:
        """Networks (resumable in ``out/networks.csv``), importances, rankings; writes every output into ``out``.

        With ``checkpoints`` the ranked networks are those files (see
        :meth:`from_checkpoints`) and only the reference networks are generated.
        """
        self.check_published()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        config = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "executor"}
        atomic_write_text(out / "config.json", pd.Series(config).to_json(indent=2))
        if checkpoints:
            target = networks_from_checkpoints(
                checkpoints, progress=self.progress, trusted=self.trusted, n_threads=self.n_threads,
                n_jobs=self.n_jobs, executor=self.executor, table=out / "checkpoints.csv",
            )
            target = target[target["method"].astype(str) != DENSE].reset_index(drop=True)  # unpruned baselines
            recorded = target["dataset"].notna() & (target["dataset"].astype(str) != "unknown")
            target["dataset"] = target["dataset"].where(recorded, self.dataset)  # checkpoints that record none
            self._check_target(target)
            refs = self.networks(out / "networks.csv", include_target=False)
            nets = pd.concat([target, refs], ignore_index=True)
        else:
            nets = self.networks(out / "networks.csv")
        result = self.rank(nets, self.importance(nets))
        result.save(out)
        return result

    def _check_target(self, target: pd.DataFrame) -> None:
        bad = target[(target["arch"] != self.arch) | (target["dataset"] != self.dataset)]
        if len(bad):
            raise InputError(f"checkpoints {bad['checkpoint'].tolist()} are not {self.arch} on {self.dataset} networks")

    @classmethod
    def from_checkpoints(
        cls, checkpoints: Sequence[str | os.PathLike], *, trusted: bool | str | Iterable[str] = (),
        dataset: str | None = None, **kwargs
    ) -> "RankJob":
        """A job whose architecture, data set, input shape, methods and sparsities are those of ``checkpoints``.

        All checkpoints must share one architecture, data set and input shape.  Checkpoints
        that record no data set (``topometrics prune`` without ``--dataset``) need
        ``dataset`` (CLI ``--dataset``), the data set they are for; given, it must agree
        with those that record one.  Unpruned baselines (method ``dense``, e.g. from a
        ``grid``) are left out.  A target data set outside the paper's (e.g. ``digits``)
        is ranked with the importance vectors of the paper's data sets; its true ranking
        is the checkpoints' measured accuracies when they all have one.
        ``trusted``: model specs the checkpoints may name (see :func:`pruners.load_checkpoint`).
        """
        from pruners import load_checkpoint
        from pruners.models import canonical_model

        if not checkpoints:
            raise InputError("no checkpoints given")
        trusted = trusted if isinstance(trusted, bool) else tuple([trusted] if isinstance(trusted, str) else trusted)
        metas = [load_checkpoint(p, trusted=trusted).meta for p in checkpoints]
        metas = [m for m in metas if str(m.get("method")) != DENSE]
        if not metas:
            raise InputError("every checkpoint is an unpruned baseline (method 'dense'); give pruned checkpoints")
        if dataset is not None:
            dataset = canonical_dataset(dataset)
            recorded = sorted({canonical_dataset(m["dataset"]) for m in metas if m.get("dataset") is not None})
            if recorded and recorded != [dataset]:
                raise InputError(f"the checkpoints are for {recorded}, not --dataset {dataset}; drop --dataset or "
                                 "give checkpoints of that data set")
            metas = [dict(m, dataset=m.get("dataset") or dataset) for m in metas]
        archs = {canonical_model(m["arch"]) for m in metas}
        datasets = {m.get("dataset") for m in metas}
        shapes = {tuple(m["input_shape"]) for m in metas}
        if len(archs) != 1 or len(shapes) != 1:
            raise InputError(
                f"checkpoints mix architectures {sorted(archs)} or input shapes {sorted(shapes)}: rank one model at a time"
            )
        if None in datasets:
            raise InputError(
                "some checkpoints record no data set (pruned without --dataset): pass --dataset NAME (dataset= in "
                "Python), the data set they are for, e.g. --dataset cifar10"
            )
        if len(datasets) != 1:
            raise InputError(f"checkpoints mix data sets {sorted(map(str, datasets))}: rank one data set at a time")
        kwargs.setdefault("methods", tuple(dict.fromkeys(str(m["method"]) for m in metas)))
        kwargs.setdefault("sparsities", tuple(sorted({round(float(m["sparsity"]), 6) for m in metas})))
        return cls(arch=archs.pop(), dataset=datasets.pop(), input_shape=shapes.pop(), trusted=trusted, **kwargs)
