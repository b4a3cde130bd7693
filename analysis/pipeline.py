"""End-to-end analyses behind ``topometrics reproduce`` and ``topometrics analyze``.

:func:`reproduce` runs the paper's analysis on its published data; :func:`analyze`
runs the same analysis on a results table of one's own (as written by
``topometrics grid --metrics``).  Both write CSV and Markdown tables and PNG
figures into an output folder and return a dict of the tables.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from topocore.errors import InputError

from .published import (
    attach_dense_accuracy,
    load_dense_accuracy,
    load_published,
    load_pai_accuracy,
)
from .estimators import REGRESSORS
from .importance import importance_table
from .names import (
    ANY_BASELINE_COLUMNS,
    ENCODINGS,
    KEY_COLUMNS,
    PAI_METHODS,
    RANDOM_METHODS,
    UNROLLED_FEATURES,
    canonical_arch,
    canonical_dataset,
)
from .ramanujan import density_correlations, scaled_layer_profile
from .ranking import SUBSETS, evaluate_rankings, importance_model_from_table, rbo_table
from .regression import RegressionResults, min_group_rows, regression_summary, run_scenarios
from .report import markdown_table, rbo_markdown, table3, table3_markdown, write_table
from .schema import validate_table

__all__ = ["reproduce", "analyze", "prepare_results_table", "FIGURE2_PANELS"]

logger = logging.getLogger("analysis.pipeline")

#: The two panels of the paper's Figure 2.
FIGURE2_PANELS = (("conv6", "cifar10", 0.9), ("resnet32", "cifar10", 0.8))
TABLE_TITLES = {
    "all": ("table4", "Table 4 analogue: mean RBO of method rankings, all 7 methods"),
    "pai": ("table11", "Table 11 analogue: mean RBO, the 4 PaI methods only"),
    "random": ("table12", "Table 12 analogue: mean RBO, the 3 layer-wise random methods only"),
}


def _log(log: Callable[[str], None] | None, text: str) -> None:
    logger.info(text)
    if log is not None:
        log(text)


def _write_rankings(out: Path, per_triplet: pd.DataFrame, subsets, written: list, protocol_note: str) -> dict:
    tables = {}
    for subset in subsets:
        if subset not in set(per_triplet["subset"]):
            continue
        name, title = TABLE_TITLES.get(subset, (f"rbo_{subset}", f"Mean RBO, subset {subset}"))
        tab = rbo_table(per_triplet, subset)
        md = (
            "Mean ± std of the extrapolated RBO (averaged over p = 0.25, 0.5, 0.75) over the data sets of each "
            "(architecture, sparsity); `Avg`: over all triplets of the architecture.\n\n"
            + protocol_note
            + "\n\n"
            + rbo_markdown(tab)
        )
        written += write_table(tab, out / name, md, title)
        tables[name] = tab
    return tables


def _importance_figures(out: Path, imp: pd.DataFrame, encodings: Sequence[str], written: list) -> None:
    from .figures import importance_heatmap, save_figure

    for enc in encodings:
        for scen, tag in (("sparsity", "fig3"), ("architecture", "fig4")):
            if imp[(imp["encoding"] == enc) & (imp["scenario"] == scen)].empty:
                continue
            fig = importance_heatmap(imp, encoding=enc, scenario=scen)
            name = f"{tag}_importance_{scen}_fixed" + ("" if enc in ("unrolled", "table") else f"_{enc}")
            written.append(save_figure(fig, out / f"{name}.png"))


def _regression_outputs(out: Path, res: RegressionResults, written: list, title_prefix: str = "") -> dict:
    from .figures import regression_figure, save_figure

    scores = res.scores()
    summary = regression_summary(scores, per_regressor=True)
    written += write_table(scores, out / "regression_scores")
    t3 = table3(summary)
    md = (
        f"Adjusted R² and MAE of the accuracy drop on pooled out-of-fold predictions, {res.n_repeats} repeats of "
        "5-fold CV; mean ± std over repeats of the average over the 8 regressors.\n\n" + table3_markdown(summary)
    )
    written += write_table(t3, out / "table3", md, f"{title_prefix}Table 3 analogue: accuracy-drop regression")
    per = summary[summary["regressor"] != "mean"].reset_index(drop=True)
    md_per = "\n".join(table3_markdown(summary, r) for r in REGRESSORS if r in set(per["regressor"]))
    written += write_table(per, out / "table3_per_regressor", md_per, "Table 3 analogue per regressor")
    written.append(save_figure(regression_figure(summary), out / "regression_adj_r2.png"))
    imp = importance_table(res, per_regressor=True)
    written += write_table(imp, out / "importance")
    return {"scores": scores, "summary": summary, "table3": t3, "importance": imp}


def reproduce(
    graph_data: str | Path,
    out: str | Path,
    *,
    n_repeats: int = 100,
    loto_repeats: int = 20,
    random_state: int = 0,
    n_jobs: int = 1,
    truth: str = "data",
    scaling: str = "reference",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Reproduce the paper's analysis from its published ``graph_data`` folder.

    Writes into ``out``: ``data_report.md``; ``table3`` (regression, all three
    encodings), ``table3_per_regressor``, ``regression_scores``; ``importance`` and
    the Figure 3 / 4 heatmaps; ``table4``, ``table11``, ``table12`` (RBO of the
    rankings, in-sample as in the paper and leave-one-triplet-out) and
    ``rankings_per_triplet``; ``ramanujan_density_correlations`` with Figures 2
    and 5; ``README.md`` indexing everything.

    Parameters
    ----------
    n_repeats : int
        CV repeats of the regression (the paper: 100).
    loto_repeats : int
        CV repeats for each leave-one-triplet-out importance estimate (0: skip).
    truth : {"data", "paper"}
        Ground-truth accuracies: the networks' accuracies in the published data
        (mean over seeds), or the paper's Tables 8-10 (``pai_accuracy.csv``).
    scaling : {"reference", "triplet", "none"}
        Feature scaling of the ranking mixture (see :mod:`analysis.ranking`).
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    _log(log, f"loading published data from {graph_data}")
    data = load_published(graph_data, paper_only=True)
    report_md = "# Data report\n\n" + "\n".join(f"- {line}" for line in data.report) + "\n"
    (out / "data_report.md").write_text(report_md, encoding="utf-8")
    written.append(out / "data_report.md")

    _log(log, f"regression: 3 encodings x 9 groups x {len(REGRESSORS)} regressors x {n_repeats} repeats x 5 folds")
    features = {enc: list(cols) for enc, cols in ENCODINGS.items()}
    res = run_scenarios(data.encodings, features, n_repeats=n_repeats, random_state=random_state, n_jobs=n_jobs, progress=progress)
    reg = _regression_outputs(out, res, written)
    imp = reg["importance"]
    _importance_figures(out, imp, list(ENCODINGS), written)

    _log(log, "ranking PaI methods (in-sample importance as in the paper" + (", plus leave-one-triplet-out)" if loto_repeats else ")"))
    unrolled = data.encodings["unrolled"]
    model = importance_model_from_table(imp, unrolled, UNROLLED_FEATURES, encoding="unrolled")
    truth_table = _truth_table(truth, data)
    per_triplet = evaluate_rankings(
        unrolled,
        UNROLLED_FEATURES,
        model=model,
        baselines=data.baselines,
        truth=truth_table,
        subsets=SUBSETS,
        scaling=scaling,
        loto=loto_repeats > 0,
        loto_repeats=loto_repeats or None,
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=n_jobs,
        progress=progress,
    )
    written += write_table(per_triplet, out / "rankings_per_triplet")
    note = (
        "`Mixture (paper, in-sample)`: importance estimated on all networks, including the ranked triplet "
        f"({n_repeats} CV repeats), as in the paper. "
        + (
            f"`Mixture (leave-one-triplet-out)`: importance estimated without the ranked triplet's networks "
            f"({loto_repeats} CV repeats). "
            if loto_repeats
            else "The leave-one-triplet-out variant was skipped (--loto-repeats 0). "
        )
        + "Ground truth: "
        + ("the networks' mean accuracy in the published data." if truth == "data" else "the paper's Tables 8-10.")
    )
    rank_tables = _write_rankings(out, per_triplet, SUBSETS, written, note)

    _log(log, "Ramanujan metrics vs layer density")
    ram = _ramanujan_outputs(out, data.ramanujan_layers, written)

    elapsed = time.perf_counter() - t0
    _write_index(out, written, reg["table3"], rank_tables, data.report, elapsed, n_repeats, loto_repeats)
    _log(log, f"done in {elapsed:.0f} s; {len(written)} files in {out}")
    return {
        "data": data,
        "regression": res,
        **reg,
        "model": model,
        "rankings": per_triplet,
        **rank_tables,
        **ram,
        "files": written,
        "seconds": elapsed,
    }


def _truth_table(truth: str, data) -> pd.DataFrame:
    if truth == "paper":
        pai = load_pai_accuracy()
        pai = pai[pai["accuracy"].notna()]
        return pai.assign(seed=0)[["arch", "dataset", "method", "sparsity", "seed", "accuracy"]]
    if truth != "data":
        raise InputError(f"truth must be 'data' or 'paper', got {truth!r}")
    frames = [df[list(KEY_COLUMNS) + ["accuracy"]] for df in list(data.encodings.values()) + [data.baselines]]
    return pd.concat(frames, ignore_index=True).drop_duplicates(list(KEY_COLUMNS))


def _ramanujan_outputs(out: Path, layers: pd.DataFrame, written: list) -> dict:
    from .figures import density_correlation_figure, ramanujan_profile_figure, save_figure

    corr = density_correlations(layers, dataset="cifar10")
    written += write_table(
        corr,
        out / "ramanujan_density_correlations",
        "Pearson r between each Ramanujan metric and the layer density over all layers (7 methods, 3 seeds) "
        "of each (architecture, sparsity) on CIFAR-10 (paper Appendix D); empty: undefined.\n\n"
        + markdown_table(corr.pivot_table(index=["metric", "arch"], columns="sparsity", values="r", dropna=False).round(3).reset_index()),
        "Ramanujan metrics vs layer density",
    )
    written.append(save_figure(density_correlation_figure(corr, title="Pearson r with Layer-Density (CIFAR-10)"), out / "fig5_ramanujan_density_correlation.png"))
    profiles = []
    for tag, (arch, ds, s) in zip("ab", FIGURE2_PANELS):
        try:
            prof = scaled_layer_profile(layers, arch, ds, s)
        except ValueError:
            continue
        profiles.append(prof.assign(arch=arch, dataset=ds, sparsity=s))
        fig = ramanujan_profile_figure(prof, title=f"{arch} on {ds} at s={s:g}: values / sum over layers")
        written.append(save_figure(fig, out / f"fig2{tag}_{arch}_{ds}_s{s:g}.png"))
    prof_df = pd.concat(profiles, ignore_index=True) if profiles else pd.DataFrame()
    if not prof_df.empty:
        written += write_table(prof_df, out / "ramanujan_layer_profiles")
    return {"ramanujan_correlations": corr, "ramanujan_profiles": prof_df}


def _write_index(out: Path, written, t3, rank_tables, report, elapsed, n_repeats, loto_repeats) -> None:
    lines = [
        "# Reproduction of the analysis of Cunegatti et al. (TMLR 2024)",
        "",
        f"Regression: {n_repeats} repeats of 5-fold CV; leave-one-triplet-out importance: {loto_repeats} repeats. "
        f"Run time {elapsed:.0f} s.",
        "",
        "## Files",
        "",
    ]
    for p in written:
        rel = Path(p).relative_to(out)
        lines.append(f"- [{rel}]({rel})")
    lines += ["", "## Data", ""] + [f"- {r}" for r in report]
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- user tables


def prepare_results_table(
    df: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    extra_methods: Sequence[str] = (),
    accuracy_percent: bool = False,
    dense: pd.DataFrame | None = None,
    report: list[str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Clean a results table of one's own for the analysis.

    Feature columns are taken as given: raw topometrics (``topometrics.compute``
    values, as ``topometrics grid --metrics`` writes them) must be normalised first,
    as the paper's analysis uses them::

        import topometrics
        from analysis.names import UNROLLED_FEATURES

        feats = [c for c in UNROLLED_FEATURES if c in table.columns]
        table[feats] = topometrics.normalize(table[feats], table["num_nodes"], table["num_edges"])

    (``topometrics analyze`` does that before calling :func:`analyze`; see its
    ``--normalize`` option.)  This function

    * drops ``method == "dense"`` rows (unpruned baselines of ``topometrics grid``)
      and rows without an accuracy (runs not trained or failed);
    * divides accuracies by 100 with ``accuracy_percent``;
    * fills missing ``dense_accuracy`` from ``dense`` (default: the paper's dense
      accuracies) by (arch, dataset);
    * picks the feature columns: ``features``, else those of the paper's 16
      topometrics present in the table (name the extras such as ``log_paths``
      explicitly to use them);
    * drops rows with missing feature values;
    * validates the result (:func:`analysis.schema.validate_table`).

    Returns the table and the feature list; what was dropped is appended to ``report``.
    """
    report = [] if report is None else report
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in list(KEY_COLUMNS) + ["accuracy"] if c not in df.columns]
    if missing:
        raise InputError(
            f"results table lacks required columns {missing}; it needs one row per sparse network with "
            "arch, dataset, method, sparsity, seed, accuracy (and dense_accuracy, or known arch/dataset pairs)"
        )
    table = df.copy()
    dense_rows = table["method"].astype(str).str.lower() == "dense"
    if dense_rows.any():
        table = table.loc[~dense_rows]
        report.append(f"dropped {int(dense_rows.sum())} dense baseline rows (method 'dense')")
    acc = pd.to_numeric(table["accuracy"], errors="coerce")
    if acc.isna().any():
        report.append(f"dropped {int(acc.isna().sum())} rows without an accuracy (not trained or failed)")
        table = table.loc[acc.notna()]
    if table.empty:
        raise InputError("no sparse network with an accuracy left in the results table")
    if accuracy_percent:
        table["accuracy"] = pd.to_numeric(table["accuracy"]) / 100.0
        if "dense_accuracy" in table.columns:
            table["dense_accuracy"] = pd.to_numeric(table["dense_accuracy"], errors="coerce") / 100.0
    table["arch"] = [canonical_arch(a, strict=False) for a in table["arch"]]
    table["dataset"] = [canonical_dataset(d, strict=False) for d in table["dataset"]]
    if "dense_accuracy" not in table.columns or pd.to_numeric(table["dense_accuracy"], errors="coerce").isna().any():
        before = pd.to_numeric(table.get("dense_accuracy", pd.Series(np.nan, index=table.index)), errors="coerce").isna().sum()
        if "dense_accuracy" in table.columns:
            table["dense_accuracy"] = pd.to_numeric(table["dense_accuracy"], errors="coerce")
        table = attach_dense_accuracy(table, load_dense_accuracy() if dense is None else dense)
        after = table["dense_accuracy"].isna().sum()
        report.append(f"filled dense_accuracy of {int(before - after)} rows from the reference dense accuracies")
        if after:
            pairs = sorted({(a, d) for a, d in table.loc[table["dense_accuracy"].isna(), ["arch", "dataset"]].itertuples(index=False)})
            raise InputError(
                f"no dense accuracy for {pairs}: add a dense_accuracy column, run the grid with the 'dense' method, "
                "or pass a dense table (CLI: --dense CSV with dataset, arch, acc_mean in percent)"
            )
    if features is None:
        features = [c for c in UNROLLED_FEATURES if c in table.columns]
        if not features:
            raise InputError(
                "no topometric columns found (expected names such as " + ", ".join(UNROLLED_FEATURES[:5]) + ", ...); "
                "run the grid with --metrics or name the feature columns (CLI: --features a,b,c)"
            )
    features = list(features)
    lacking = [f for f in features if f not in table.columns]
    if lacking:
        raise InputError(f"feature columns {lacking} are not in the results table")
    for f in features:
        table[f] = pd.to_numeric(table[f], errors="coerce")
    bad = ~np.isfinite(table[features].to_numpy(dtype=float)).all(axis=1)
    if bad.any():
        report.append(f"dropped {int(bad.sum())} rows with missing or non-finite feature values")
        table = table.loc[~bad]
    table = validate_table(table, features, extra_methods=extra_methods)
    return table.reset_index(drop=True), features


def analyze(
    table: pd.DataFrame,
    out: str | Path,
    *,
    features: Sequence[str] | None = None,
    extra_methods: Sequence[str] = (),
    accuracy_percent: bool = False,
    dense: pd.DataFrame | None = None,
    n_repeats: int = 100,
    loto_repeats: int = 20,
    random_state: int = 0,
    n_jobs: int = 1,
    scaling: str = "reference",
    allow_small_groups: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    notes: Sequence[str] = (),
) -> dict:
    """The paper's analysis on a results table of one's own.

    The table's feature columns are used as given; normalise raw topometrics first
    (``topometrics.normalize``, see :func:`prepare_results_table`).  ``notes`` are
    written first in ``report.md`` (e.g. what the caller did to the table before).

    Groups (per sparsity, per architecture) with too few networks for 5-fold CV
    and the adjusted R^2 (at least ``max(7, p + 2)`` rows) are skipped and listed in
    ``report.md``.  With ``allow_small_groups=True`` a group needs only 7 rows (every
    outer training fold must hold 5 for the inner CV, :func:`min_group_rows`): its adjusted R^2 is NaN when it has at most ``p + 1`` rows, but its
    importances (correlations with out-of-fold predictions) are defined and feed
    the rankings.  That is what a one-architecture, one-data-set experiment needs
    (e.g. the digits pipeline of the README), and what ``topometrics rank`` does.
    Rankings are evaluated when both scenarios give importance vectors; baseline
    strategies are added for the baseline columns present
    (:data:`analysis.names.ANY_BASELINE_COLUMNS`: ``layer_density``, ``delta_r`` or
    its bound ratio ``delta_r_bound_ratio``, ``delta_r_imdb`` or
    ``delta_r_imdb_bound_ratio``, ``lambda_imsg``).
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    report: list[str] = list(notes)
    table, feats = prepare_results_table(
        table, features=features, extra_methods=extra_methods, accuracy_percent=accuracy_percent, dense=dense, report=report
    )
    report.append(f"{len(table)} networks, {len(feats)} features: {', '.join(feats)}")
    cv_rows = min_group_rows()
    adjusted_rows = max(cv_rows, len(feats) + 2)
    min_rows = cv_rows if allow_small_groups else adjusted_rows
    skipped, small = [], []
    for scen, col in (("sparsity", "sparsity"), ("architecture", "arch")):
        for grp, rows in table.groupby(col):
            if len(rows) < min_rows:
                skipped.append(f"{scen} group {grp!r}: {len(rows)} networks < {min_rows}")
            elif len(rows) < adjusted_rows:
                small.append(f"{scen} group {grp!r}: {len(rows)} networks < {adjusted_rows}")
    report += [f"skipped {s}" for s in skipped]
    report += [f"adjusted R^2 undefined (NaN), importances kept: {s}" for s in small]
    _log(log, f"regression on {len(table)} networks ({len(feats)} features)")
    try:
        res = run_scenarios(
            {"table": table}, feats, n_repeats=n_repeats, random_state=random_state, n_jobs=n_jobs, progress=progress,
            min_rows=min_rows, allow_small_groups=allow_small_groups,
        )
    except ValueError as exc:
        if "no group" in str(exc):
            need = "5-fold CV with an inner 5-fold CV needs that many" if allow_small_groups else (
                f"5-fold CV and the adjusted R^2 with {len(feats)} features need that many; add networks, use fewer "
                "features, or pass --allow-small-groups to estimate importances without the adjusted R^2")
            raise InputError(f"no sparsity or architecture group has at least {min_rows} networks ({need})") from None
        raise
    reg = _regression_outputs(out, res, written)
    imp = reg["importance"]
    _importance_figures(out, imp, ["table"], written)
    result = {"table": table, "features": feats, "regression": res, **reg, "report": report}

    scen_present = set(imp["scenario"])
    if {"sparsity", "architecture"} <= scen_present:
        model = importance_model_from_table(imp, table, feats, encoding="table")
        methods = list(dict.fromkeys(table["method"]))
        subsets = {"all": methods}
        for name, members in (("pai", PAI_METHODS), ("random", RANDOM_METHODS)):
            present = [m for m in members if m in methods]
            if len(present) >= 2 and len(present) < len(methods):
                subsets[name] = present
        base_cols = [c for c in ANY_BASELINE_COLUMNS if c in table.columns]
        _log(log, "ranking methods per (arch, dataset, sparsity)")
        per_triplet = evaluate_rankings(
            table,
            feats,
            model=model,
            baselines=table if base_cols else None,
            baseline_columns=base_cols,
            subsets=subsets,
            scaling=scaling,
            loto=loto_repeats > 0,
            loto_repeats=loto_repeats or None,
            n_repeats=n_repeats,
            random_state=random_state,
            n_jobs=n_jobs,
            progress=progress,
            min_rows=min_rows,
            allow_small_groups=allow_small_groups,
        )
        if per_triplet.empty:
            report.append("no (arch, dataset, sparsity) triplet has two methods to rank")
        else:
            written += write_table(per_triplet, out / "rankings_per_triplet")
            if "mixture_loto" in set(per_triplet["strategy"]):
                note = "Importance estimated in-sample (as in the paper) and leave-one-triplet-out."
            elif loto_repeats > 0:
                note = ("Importance estimated in-sample (as in the paper). No leave-one-triplet-out column: without a "
                        "triplet's networks its sparsity group or architecture group is too small to cross-validate "
                        "(one data set per architecture and sparsity).")
                report.append("leave-one-triplet-out rankings skipped: holding out a triplet empties its group")
            else:
                note = "Importance estimated in-sample (as in the paper)."
            result.update(_write_rankings(out, per_triplet, subsets, written, note))
            result["rankings"] = per_triplet
    else:
        report.append("rankings skipped: they need importance vectors of both scenarios")
    (out / "report.md").write_text("# Analysis report\n\n" + "\n".join(f"- {r}" for r in report) + "\n", encoding="utf-8")
    written.append(out / "report.md")
    result["files"] = written
    result["seconds"] = time.perf_counter() - t0
    _log(log, f"done in {result['seconds']:.0f} s; {len(written)} files in {out}")
    return result
