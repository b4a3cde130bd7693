"""Ranking pruning methods by a topometric mixture, scored with Rank-Biased Overlap (Section 4.3).

For an (architecture, data set, sparsity) triplet every method ``m`` gets the
coefficient (paper Eq. 5)::

    r^m = sum_i x^m_i (w^a_i + w^s_i) / 2

where ``x^m`` is its feature vector (mean over seeds), ``w^a`` the
Architecture-Fixed importance vector of the architecture and ``w^s`` the
Sparsity-Fixed one of the sparsity (:mod:`analysis.importance`).  Importances
correlate features with the predicted accuracy *drop*, so methods are sorted by
ascending ``r`` (best first).  The ground truth sorts methods by mean accuracy
(best first).  Agreement is measured with the extrapolated Rank-Biased Overlap
(Webber, Moffat & Zobel 2010, Eq. 32), averaged over ``p in {0.25, 0.5, 0.75}``.

Features are put on a common scale before the weighted sum (the regression's
inputs are min-max scaled too): by default with the per-feature minimum and
maximum of the table the importances were estimated on (``scaling="reference"``);
``"triplet"`` scales over the ranked methods only, ``"none"`` uses raw values.

Baselines rank by one per-network quantity, higher first: the mean layer density
and the Ramanujan metrics: in the published data the bound ratios
``delta_r_bound_ratio``, ``delta_r_imdb_bound_ratio`` (their ``degree_bound``,
``iterative_degree_bound``) and ``lambda_imsg``; ``delta_r`` / ``delta_r_imdb`` for
tables measured with ``topometrics.describe(..., rolled=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .importance import importance_table, importance_vectors
from .names import BASELINE_COLUMNS, FEATURE_LABELS, PAI_METHODS, PAPER_METHODS, RANDOM_METHODS
from .regression import run_scenarios

__all__ = [
    "RBO_P",
    "SUBSETS",
    "rbo_ext",
    "mean_rbo",
    "mixture_coefficients",
    "rank_methods",
    "ground_truth_ranking",
    "baseline_ranking",
    "ImportanceModel",
    "estimate_importance",
    "importance_model_from_table",
    "evaluate_rankings",
    "rbo_table",
]

#: The RBO persistence values averaged over (paper Section 4.3).
RBO_P = (0.25, 0.5, 0.75)
#: Method subsets of Tables 4, 11 and 12.
SUBSETS = {"all": PAPER_METHODS, "pai": PAI_METHODS, "random": RANDOM_METHODS}
STRATEGY_LABELS = {
    "layer_density": "Layer density",
    "delta_r": FEATURE_LABELS["delta_r"],
    "delta_r_bound_ratio": FEATURE_LABELS["delta_r_bound_ratio"],
    "delta_r_imdb": FEATURE_LABELS["delta_r_imdb"],
    "delta_r_imdb_bound_ratio": FEATURE_LABELS["delta_r_imdb_bound_ratio"],
    "lambda_imsg": FEATURE_LABELS["lambda_imsg"],
    "mixture": "Topometric mixture (in-sample)",
    "mixture_loto": "Topometric mixture (leave-one-triplet-out)",
}


# --------------------------------------------------------------------------- RBO


def rbo_ext(a: Sequence, b: Sequence, p: float) -> float:
    """Extrapolated Rank-Biased Overlap of two rankings (``rbo`` package, ``ext=True``).

    For rankings of equal length ``k`` (Webber et al. 2010, Eq. 32)::

        RBO_ext = X_k / k * p^k + (1 - p) / p * sum_{d=1..k} X_d / d * p^d

    with ``X_d`` the size of the overlap of the two top-``d`` prefixes.  Identical
    rankings score 1.

    Raises
    ------
    ValueError
        ``p`` outside ``(0, 1)`` or a ranking with repeated items.
    """
    import rbo

    if not 0.0 < p < 1.0:
        raise ValueError(f"RBO persistence p must be in (0, 1), got {p}")
    a, b = list(a), list(b)
    for name, lst in (("first", a), ("second", b)):
        if len(set(lst)) != len(lst):
            raise ValueError(f"the {name} ranking repeats items: {lst}")
    if not a and not b:
        return 1.0
    return float(rbo.RankingSimilarity(a, b).rbo(p=p, ext=True))


def mean_rbo(a: Sequence, b: Sequence, ps: Sequence[float] = RBO_P) -> float:
    """Extrapolated RBO averaged over persistence values ``ps`` (default 0.25, 0.5, 0.75)."""
    return float(np.mean([rbo_ext(a, b, p) for p in ps]))


# --------------------------------------------------------------------------- single-triplet rankings


def _as_series(w, features: Sequence[str], what: str) -> pd.Series:
    if isinstance(w, pd.Series):
        missing = [f for f in features if f not in w.index]
        if missing:
            raise ValueError(f"{what} importance vector lacks features {missing}")
        return w.reindex(features).astype(float)
    arr = np.asarray(w, dtype=float)
    if arr.shape != (len(features),):
        raise ValueError(f"{what} importance vector has shape {arr.shape}, expected ({len(features)},)")
    return pd.Series(arr, index=list(features))


def mixture_coefficients(
    features: pd.DataFrame,
    w_arch,
    w_sparsity,
    *,
    feature_min: pd.Series | None = None,
    feature_max: pd.Series | None = None,
) -> pd.Series:
    """Ranking coefficient ``r^m = sum_i x^m_i (w^a_i + w^s_i) / 2`` of each method (paper Eq. 5).

    Parameters
    ----------
    features : DataFrame
        One row per method (index: method names) and one column per feature; rows
        of several seeds are averaged when a ``method`` column is present instead.
    w_arch, w_sparsity : Series or array
        Architecture-Fixed and Sparsity-Fixed importance vectors (Series indexed
        by feature, or arrays in the column order of ``features``).  Missing
        importances (NaN) count as 0.
    feature_min, feature_max : Series, optional
        Scale each feature to ``(x - min) / (max - min)`` first (a zero range
        scales to 0).  When both are None the features are scaled over the rows
        given; pass ``feature_min=0, feature_max=1`` style Series of zeros/ones (or
        use ``scaling="none"`` in :func:`rank_methods`) to use raw values.
    """
    x = _method_means(features)
    if isinstance(w_arch, pd.Series):
        cols = list(w_arch.index)
        missing = [c for c in cols if c not in x.columns]
        if missing:
            raise ValueError(f"feature table lacks the weighted features {missing}")
        x = x[cols]
    cols = list(x.columns)
    wa = np.nan_to_num(_as_series(w_arch, cols, "Architecture-Fixed").to_numpy(float), nan=0.0)
    ws = np.nan_to_num(_as_series(w_sparsity, cols, "Sparsity-Fixed").to_numpy(float), nan=0.0)
    X = x.to_numpy(dtype=float)
    lo = X.min(axis=0) if feature_min is None else _range_values(feature_min, cols)
    hi = X.max(axis=0) if feature_max is None else _range_values(feature_max, cols)
    span = hi - lo
    span = np.where(span > 0, span, np.inf)
    return pd.Series(((X - lo) / span) @ ((wa + ws) / 2.0), index=x.index)


def _range_values(r, cols) -> np.ndarray:
    if isinstance(r, pd.Series):
        missing = [c for c in cols if c not in r.index]
        if missing:
            raise ValueError(f"feature_min / feature_max lack features {missing}")
        return r.reindex(cols).to_numpy(dtype=float)
    arr = np.asarray(r, dtype=float)
    if arr.shape != (len(cols),):
        raise ValueError(f"feature_min / feature_max have shape {arr.shape}, expected ({len(cols)},)")
    return arr


def _method_means(features: pd.DataFrame) -> pd.DataFrame:
    if "method" in features.columns:
        num = features.drop(columns=[c for c in features.columns if c == "method" or not pd.api.types.is_numeric_dtype(features[c])])
        return num.groupby(features["method"], sort=False).mean()
    if features.index.has_duplicates:
        return features.groupby(level=0, sort=False).mean()
    return features.astype(float)


def _sorted_methods(values: pd.Series, ascending: bool) -> list[str]:
    """Sort methods by value (undefined values last, ties by name)."""
    items = []
    for m, v in zip(values.index, values.to_numpy(dtype=float)):
        bad = not np.isfinite(v)
        items.append((bad, 0.0 if bad else (v if ascending else -v), str(m)))
    items.sort()
    return [m for _, _, m in items]


def rank_methods(
    features: pd.DataFrame,
    w_arch,
    w_sparsity,
    *,
    scaling: str = "auto",
    feature_min: pd.Series | None = None,
    feature_max: pd.Series | None = None,
) -> list[str]:
    """Rank the methods of ONE (architecture, data set, sparsity) triplet, best first.

    Methods are sorted by ascending :func:`mixture_coefficients` (ties by name).

    Parameters
    ----------
    features : DataFrame
        Feature vectors of the triplet's methods (index: method), or per-seed rows
        with a ``method`` column (averaged).
    w_arch, w_sparsity : Series or array
        Importance vectors, e.g. ``model.w_arch.loc[arch]`` and
        ``model.w_sparsity.loc[sparsity]`` of an :class:`ImportanceModel`.
    scaling : {"auto", "reference", "triplet", "none"}
        ``"reference"`` scales by ``feature_min`` / ``feature_max`` (e.g. those of
        the :class:`ImportanceModel`, i.e. of the table the importances were
        estimated on); ``"triplet"`` scales over the given methods, which stretches
        features that barely differ between them (such as sparsity-driven ones) to
        the full range and lets their noise decide; ``"none"`` uses raw values.
        ``"auto"``: ``"reference"`` when both ranges are given, else ``"triplet"``.
    """
    x = _method_means(features)
    if scaling == "auto":
        scaling = "reference" if feature_min is not None and feature_max is not None else "triplet"
    if scaling == "reference":
        if feature_min is None or feature_max is None:
            raise ValueError("scaling='reference' needs feature_min and feature_max (an ImportanceModel has them)")
        r = mixture_coefficients(x, w_arch, w_sparsity, feature_min=feature_min, feature_max=feature_max)
    elif scaling == "triplet":
        r = mixture_coefficients(x, w_arch, w_sparsity)
    elif scaling == "none":
        zeros = pd.Series(0.0, index=x.columns)
        r = mixture_coefficients(x, w_arch, w_sparsity, feature_min=zeros, feature_max=zeros + 1.0)
    else:
        raise ValueError(f"scaling must be 'auto', 'reference', 'triplet' or 'none', got {scaling!r}")
    return _sorted_methods(r, ascending=True)


def ground_truth_ranking(table: pd.DataFrame, methods: Iterable[str] | None = None) -> list[str]:
    """Methods sorted by mean accuracy over their rows (seeds), best first."""
    sub = table if methods is None else table[table["method"].isin(list(methods))]
    acc = sub.groupby("method")["accuracy"].mean()
    return _sorted_methods(acc, ascending=False)


def baseline_ranking(table: pd.DataFrame, column: str, methods: Iterable[str] | None = None) -> list[str]:
    """Methods sorted by the seed-mean of ``column``, higher first (undefined values last)."""
    if column not in table.columns:
        raise ValueError(f"baseline column {column!r} is missing")
    sub = table if methods is None else table[table["method"].isin(list(methods))]
    vals = sub.groupby("method")[column].mean()
    if methods is not None:
        vals = vals.reindex(list(methods))
    return _sorted_methods(vals, ascending=False)


# --------------------------------------------------------------------------- importance model


@dataclass
class ImportanceModel:
    """Importance vectors estimated from a training table.

    Attributes
    ----------
    w_arch : DataFrame
        One row per architecture (Architecture-Fixed importance), one column per feature.
    w_sparsity : DataFrame
        One row per sparsity (Sparsity-Fixed importance).
    feature_min, feature_max : Series
        Per-feature range of the training table (for ``scaling="reference"``).
    """

    w_arch: pd.DataFrame
    w_sparsity: pd.DataFrame
    feature_min: pd.Series
    feature_max: pd.Series
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def features(self) -> list[str]:
        return list(self.w_arch.columns)

    def vectors(self, arch: str, sparsity: float) -> tuple[pd.Series, pd.Series]:
        """``(w_arch, w_sparsity)`` for a triplet."""
        s = _match_sparsity(self.w_sparsity.index, sparsity)
        if arch not in self.w_arch.index:
            raise KeyError(f"no Architecture-Fixed importance for {arch!r}; have {list(self.w_arch.index)}")
        if s is None:
            raise KeyError(f"no Sparsity-Fixed importance for sparsity {sparsity}; have {list(self.w_sparsity.index)}")
        return self.w_arch.loc[arch], self.w_sparsity.loc[s]

    def rank(self, features: pd.DataFrame, arch: str, sparsity: float, scaling: str = "reference") -> list[str]:
        """Rank the methods of one triplet (see :func:`rank_methods`)."""
        wa, ws = self.vectors(arch, sparsity)
        return rank_methods(
            features[self.features] if "method" not in features.columns else features[["method"] + self.features],
            wa,
            ws,
            scaling=scaling,
            feature_min=self.feature_min,
            feature_max=self.feature_max,
        )


def _match_sparsity(index, sparsity: float):
    for s in index:
        if abs(float(s) - float(sparsity)) < 1e-9:
            return s
    return None


def importance_model_from_table(importance: pd.DataFrame, train: pd.DataFrame, features: Sequence[str], encoding=None) -> ImportanceModel:
    """Build an :class:`ImportanceModel` from an :func:`~analysis.importance.importance_table`."""
    wa = importance_vectors(importance, encoding, "architecture")[list(features)]
    ws = importance_vectors(importance, encoding, "sparsity")[list(features)]
    return ImportanceModel(wa, ws, train[list(features)].min(), train[list(features)].max(), importance)


def estimate_importance(
    table: pd.DataFrame,
    features: Sequence[str],
    *,
    n_repeats: int = 100,
    random_state: int | None = 0,
    n_jobs: int = 1,
    progress: bool = True,
    **cv_kwargs,
) -> ImportanceModel:
    """Estimate Architecture-Fixed and Sparsity-Fixed importance vectors from a training table.

    Runs :func:`~analysis.regression.run_scenarios` (both scenarios) and
    :func:`~analysis.importance.importance_table`.
    """
    res = run_scenarios(
        table,
        list(features),
        scenarios=("sparsity", "architecture"),
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=n_jobs,
        progress=progress,
        **cv_kwargs,
    )
    imp = importance_table(res)
    return importance_model_from_table(imp, table, features)


# --------------------------------------------------------------------------- evaluation over triplets


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Shallow copy without ``attrs`` (pandas deep-copies attrs on every operation)."""
    out = df.copy(deep=False)
    out.attrs = {}
    return out


def _triplets(table: pd.DataFrame) -> list[tuple[str, str, float]]:
    keys = table[["arch", "dataset", "sparsity"]].drop_duplicates().sort_values(["arch", "dataset", "sparsity"])
    return [tuple(r) for r in keys.itertuples(index=False)]


def _run_or_none(tables, features, **kwargs):
    """:func:`run_scenarios`, or None when every group is below ``min_rows``."""
    try:
        return run_scenarios(tables, features, **kwargs)
    except ValueError as exc:
        if "no group to cross-validate" in str(exc):
            return None
        raise


def _loto_models(
    table: pd.DataFrame,
    features: Sequence[str],
    triplets: list[tuple[str, str, float]],
    *,
    n_repeats: int,
    random_state,
    n_jobs: int,
    progress: bool,
    cv_kwargs: dict,
) -> dict[tuple, tuple[pd.Series, pd.Series, pd.Series, pd.Series]]:
    """Importance vectors estimated without each triplet's rows (one CV run per held-out group)."""
    tables = {}
    for t in triplets:
        arch, ds, s = t
        held = (table["arch"] == arch) & (table["dataset"] == ds) & (np.isclose(table["sparsity"], s))
        tables[t] = table.loc[~held]
    enc_tables = {}
    for i, t in enumerate(triplets):
        arch, ds, s = t
        train = tables[t]
        enc_tables[f"{i}:a"] = train[train["arch"] == arch]
        enc_tables[f"{i}:s"] = train[np.isclose(train["sparsity"], s)]
    # One parallel run over all held-out groups: scenario "architecture" on the
    # arch rows, "sparsity" on the sparsity rows.
    runs: dict = {}
    runs_a = _run_or_none(
        {k: v for k, v in enc_tables.items() if k.endswith(":a")},
        list(features),
        scenarios=("architecture",),
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=n_jobs,
        progress=progress,
        **cv_kwargs,
    )
    runs_s = _run_or_none(
        {k: v for k, v in enc_tables.items() if k.endswith(":s")},
        list(features),
        scenarios=("sparsity",),
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=n_jobs,
        progress=progress,
        **cv_kwargs,
    )
    if runs_a is None or runs_s is None:
        return {t: None for t in triplets}
    imp_a = importance_table(runs_a)
    imp_s = importance_table(runs_s)
    for i, t in enumerate(triplets):
        wa = imp_a[(imp_a["encoding"] == f"{i}:a") & (imp_a["regressor"] == "mean")].set_index("feature")["importance"]
        ws = imp_s[(imp_s["encoding"] == f"{i}:s") & (imp_s["regressor"] == "mean")].set_index("feature")["importance"]
        if wa.empty or ws.empty:  # a held-out group too small to cross-validate (min_rows)
            runs[t] = None
            continue
        train = tables[t]
        runs[t] = (wa.reindex(list(features)), ws.reindex(list(features)), train[list(features)].min(), train[list(features)].max())
    return runs


def evaluate_rankings(
    table: pd.DataFrame,
    features: Sequence[str],
    *,
    model: ImportanceModel | None = None,
    baselines: pd.DataFrame | None = None,
    truth: pd.DataFrame | None = None,
    subsets: Mapping[str, Sequence[str]] = SUBSETS,
    baseline_columns: Sequence[str] = BASELINE_COLUMNS,
    scaling: str = "reference",
    loto: bool = True,
    n_repeats: int = 100,
    loto_repeats: int | None = None,
    random_state: int | None = 0,
    n_jobs: int = 1,
    progress: bool = True,
    ps: Sequence[float] = RBO_P,
    **cv_kwargs,
) -> pd.DataFrame:
    """RBO of every strategy's ranking against the accuracy ranking, per triplet and subset.

    Parameters
    ----------
    table : DataFrame
        Results table with the mixture's features (e.g. the unrolled topometrics).
    model : ImportanceModel, optional
        In-sample importance (the paper's protocol: estimated on ``table`` itself);
        estimated here when None.
    baselines : DataFrame, optional
        Per-network baseline columns (``layer_density``, ``delta_r_bound_ratio``, ...), keyed
        like ``table``; by default taken from ``table`` where present.
    truth : DataFrame, optional
        Networks whose mean accuracy per method gives the ground truth (default:
        ``table``).
    loto : bool
        Also rank with importance estimated without the ranked triplet's rows
        (``loto_repeats`` CV repeats, default ``n_repeats``).

    Returns
    -------
    Long DataFrame: ``arch, dataset, sparsity, subset, strategy, rbo, rbo_p*,
    n_methods, predicted, truth``.
    """
    features = list(features)
    table = _plain(table)
    truth = None if truth is None else _plain(truth)
    baselines = None if baselines is None else _plain(baselines)
    if model is None:
        model = estimate_importance(table, features, n_repeats=n_repeats, random_state=random_state, n_jobs=n_jobs, progress=progress, **cv_kwargs)
    truth = table if truth is None else truth
    base = baselines
    if base is None:
        cols = [c for c in baseline_columns if c in table.columns]
        base = table[["arch", "dataset", "method", "sparsity", "seed"] + cols] if cols else None
    base_cols = [c for c in baseline_columns if base is not None and c in base.columns]
    triplets = _triplets(table)
    loto_vecs = {}
    if loto:
        loto_vecs = _loto_models(
            table,
            features,
            triplets,
            n_repeats=loto_repeats or n_repeats,
            random_state=random_state,
            n_jobs=n_jobs,
            progress=progress,
            cv_kwargs=cv_kwargs,
        )
    keys = ["arch", "dataset", "sparsity"]
    feat_means = {k: g.groupby("method")[features].mean() for k, g in table.groupby(keys, sort=True)}
    truth_means = {k: g.groupby("method")["accuracy"].mean() for k, g in truth.groupby(keys, sort=True)}
    base_means = {}
    if base is not None and base_cols:
        base_means = {k: g.groupby("method")[base_cols].mean() for k, g in base.groupby(keys, sort=True)}
    rows = []
    for arch, ds, s in triplets:
        fm = feat_means[(arch, ds, s)]
        tm = truth_means.get(_match_key(truth_means, arch, ds, s))
        if tm is None:
            continue
        bm = base_means.get(_match_key(base_means, arch, ds, s)) if base_means else None
        try:
            wa, ws = model.vectors(arch, s)
        except KeyError:
            wa = ws = None
        for subset, members in subsets.items():
            present = [m for m in members if m in fm.index and m in tm.index]
            if len(present) < 2:
                continue
            gt = _sorted_methods(tm.reindex(present), ascending=False)
            x = fm.loc[present]
            preds = {}
            if wa is not None:
                preds["mixture"] = rank_methods(x, wa, ws, scaling=scaling, feature_min=model.feature_min, feature_max=model.feature_max)
            if loto and loto_vecs.get((arch, ds, s)) is not None:
                la, ls, lmin, lmax = loto_vecs[(arch, ds, s)]
                preds["mixture_loto"] = rank_methods(x, la, ls, scaling=scaling, feature_min=lmin, feature_max=lmax)
            for col in base_cols if bm is not None else ():
                preds[col] = _sorted_methods(bm[col].reindex(present), ascending=False)
            for strategy, ranking in preds.items():
                vals = [rbo_ext(ranking, gt, p) for p in ps]
                row = {
                    "arch": arch,
                    "dataset": ds,
                    "sparsity": s,
                    "subset": subset,
                    "strategy": strategy,
                    "rbo": float(np.mean(vals)),
                    "n_methods": len(present),
                    "predicted": ">".join(ranking),
                    "truth": ">".join(gt),
                }
                for p, v in zip(ps, vals):
                    row[f"rbo_p{p:g}"] = v
                rows.append(row)
    return pd.DataFrame(rows)


def _match_key(d: dict, arch, ds, s):
    """Key of ``d`` for a triplet, matching the sparsity up to rounding."""
    if (arch, ds, s) in d:
        return (arch, ds, s)
    for k in d:
        if k[0] == arch and k[1] == ds and abs(float(k[2]) - float(s)) < 1e-9:
            return k
    return None


def rbo_table(per_triplet: pd.DataFrame, subset: str = "all") -> pd.DataFrame:
    """Tables 4 / 11 / 12 analogue: mean and std of the RBO over data sets.

    One row per ``(arch, sparsity)`` plus an ``"Avg"`` row per architecture (mean and
    std over all of its triplets); one ``<strategy>_mean`` and ``<strategy>_std``
    column per strategy.
    """
    sub = per_triplet[per_triplet["subset"] == subset]
    if sub.empty:
        raise ValueError(f"no rankings for subset {subset!r}")
    strategies = list(dict.fromkeys(sub["strategy"]))

    def agg(g):
        return pd.Series({"mean": g.mean(), "std": g.std(ddof=1) if len(g) > 1 else 0.0, "n": len(g)})

    cell = sub.groupby(["arch", "sparsity", "strategy"])["rbo"].apply(agg).unstack()
    cell = cell.reset_index()
    avg = sub.groupby(["arch", "strategy"])["rbo"].apply(agg).unstack().reset_index()
    avg["sparsity"] = "Avg"
    both = pd.concat([cell.assign(sparsity=cell["sparsity"].map(lambda v: f"{v:g}")), avg], ignore_index=True)
    wide = both.pivot_table(index=["arch", "sparsity"], columns="strategy", values=["mean", "std"], aggfunc="first")
    wide.columns = [f"{s}_{stat}" for stat, s in wide.columns]
    ordered = []
    for s in strategies:
        ordered += [f"{s}_mean", f"{s}_std"]
    wide = wide[ordered].reset_index()
    order = {a: i for i, a in enumerate(dict.fromkeys(sub["arch"]))}
    wide["_a"] = wide["arch"].map(order)
    wide["_s"] = wide["sparsity"].map(lambda v: np.inf if v == "Avg" else float(v))
    return wide.sort_values(["_a", "_s"]).drop(columns=["_a", "_s"]).reset_index(drop=True)
