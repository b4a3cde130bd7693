"""``topometrics analyze`` / ``topometrics reproduce`` end to end, and a short run on the published data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.names import UNROLLED_FEATURES
from analysis.pipeline import analyze, prepare_results_table, reproduce
from topocore.errors import InputError
from topometrics.cli import main
from test_analysis_data import write_graph_data

METHODS = ("snip", "grasp", "synflow", "prospr", "uniform", "er", "erk")


def grid_like_table(seed=0) -> pd.DataFrame:
    """A results table shaped like ``topometrics grid --metrics`` output (raw metrics + counts)."""
    rng = np.random.default_rng(seed)
    rows = []
    for arch in ("conv6", "resnet20"):
        for ds in ("cifar10", "cifar100"):
            rows.append({"arch": arch, "dataset": ds, "method": "dense", "sparsity": 0.0, "seed": 0, "accuracy": 0.9, "dense_accuracy": 0.9, "status": "trained"})
            for k, m in enumerate(METHODS):
                for s in (0.6, 0.9, 0.98):
                    drop = 0.4 * s + 0.01 * k + rng.normal(0, 0.003)
                    edges = 1e5 * (1 - s)
                    row = {
                        "arch": arch,
                        "dataset": ds,
                        "method": m,
                        "sparsity": s,
                        "seed": 0,
                        "accuracy": 0.9 * (1 - drop),
                        "dense_accuracy": 0.9,
                        "checkpoint": f"checkpoints/{ds}/{arch}/{m}/s{s}-seed0.pt",
                        "status": "trained",
                        "achieved_sparsity": s,
                        "trained_epochs": 2,
                        "prune_seconds": rng.random(),
                        "num_nodes": 5000.0,
                        "num_edges": edges,
                    }
                    for f in UNROLLED_FEATURES:
                        row[f] = rng.random() * edges
                    row["sink"] = (0.1 * k + drop + rng.normal(0, 0.01)) * edges
                    rows.append(row)
    rows.append(dict(rows[1], method="snip", sparsity=0.8, accuracy=np.nan, status="failed"))
    return pd.DataFrame(rows)


def test_prepare_results_table_cleans_grid_output():
    raw_table = grid_like_table()
    report: list[str] = []
    table, feats = prepare_results_table(raw_table, report=report)
    assert feats == list(UNROLLED_FEATURES)
    assert "dense" not in set(table["method"]) and table["accuracy"].notna().all()
    text = " ".join(report)
    assert "dropped 4 dense baseline rows" in text and "1 rows without an accuracy" in text
    # the analysis takes feature columns as given: no normalisation here
    assert "normalised" not in text
    src = raw_table[(raw_table.method == "grasp") & (raw_table.sparsity == 0.9)].iloc[0]
    got = table[(table.arch == src.arch) & (table.dataset == src.dataset) & (table.method == "grasp") & (table.sparsity == 0.9)].iloc[0]
    assert got["sink"] == pytest.approx(src["sink"])


def test_analyze_cli_normalises_raw_topometrics_first(tmp_path, capsys):
    """The command line applies the paper's size normalisation (topometrics.normalize) and reports it."""
    from topometrics.cli.analyze import normalize_features

    raw_table = grid_like_table()
    table, note = normalize_features(raw_table, None, "auto")
    assert "topometrics.normalize" in note
    src = raw_table[(raw_table.method == "grasp") & (raw_table.sparsity == 0.9)].iloc[0]
    got = table.loc[src.name]
    # node counts by N, degree-like means by E, counts and spectra unchanged
    assert got["sink"] == pytest.approx(src["sink"] / src["num_nodes"])
    assert got["n1"] == pytest.approx(src["n1"] / src["num_edges"])
    assert got["components"] == pytest.approx(src["components"])
    assert got["spectral_gap"] == pytest.approx(src["spectral_gap"])
    same, note = normalize_features(raw_table, None, "no")
    assert same["sink"].equals(raw_table["sink"]) and "not normalised" in note
    csv = tmp_path / "results.csv"
    raw_table.drop(columns="num_edges").to_csv(csv, index=False)
    assert main(["analyze", str(csv), "--out", str(tmp_path / "o"), "--normalize", "yes", "--no-progress"]) == 2
    assert "num_nodes and num_edges" in capsys.readouterr().err
    # a table measured in published conventions is normalised as such; mixed conventions are refused
    published = raw_table.assign(conventions="published", n1=raw_table["n1"] + 1.0, n2=raw_table["n2"] + 1.0)
    table, _ = normalize_features(published, None, "auto")
    assert table.loc[src.name, "n1"] == pytest.approx((src["n1"] + 1.0) / src["num_edges"])
    with pytest.raises(InputError, match="published"):
        normalize_features(published.assign(n1=0.5), None, "auto")  # n1 < 1 cannot be published: the node counts
    mixed = published.assign(conventions=["ours"] + ["published"] * (len(published) - 1))
    with pytest.raises(InputError, match="mixes rows in conventions"):
        normalize_features(mixed, None, "auto")


def test_analyze_cli_writes_tables_and_figures(tmp_path, capsys):
    csv = tmp_path / "results.csv"
    grid_like_table().to_csv(csv, index=False)
    out = tmp_path / "out"
    status = main(["analyze", str(csv), "--out", str(out), "--repeats", "1", "--loto-repeats", "1", "--no-progress"])
    assert status == 0, capsys.readouterr().err
    for name in ("table3.md", "table3.csv", "table3_per_regressor.md", "importance.csv", "table4.md", "table11.md", "table12.md",
                 "rankings_per_triplet.csv", "fig3_importance_sparsity_fixed.png", "fig4_importance_architecture_fixed.png", "report.md"):
        assert (out / name).is_file(), name
    t3 = pd.read_csv(out / "table3.csv")
    assert set(t3["scenario"]) == {"sparsity", "architecture"} and len(t3) == 3 + 2
    per = pd.read_csv(out / "rankings_per_triplet.csv")
    assert set(per["strategy"]) == {"mixture", "mixture_loto"} and len(per[per.subset == "all"]) == 2 * 12
    report = (out / "report.md").read_text()
    assert "dense baseline" in report and "normalised the raw topometrics" in report and "topometrics.normalize" in report


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda t: t.drop(columns="seed"), "lacks required columns ['seed']"),
        (lambda t: t.assign(method=t["method"].replace("erk", "lottery")), "unknown pruning method 'lottery'"),
        (lambda t: t.assign(accuracy=t["accuracy"] * 100), "--accuracy-percent"),
        (lambda t: t.head(12), "no sparsity or architecture group has at least 18 networks"),
        (lambda t: t.drop(columns=list(UNROLLED_FEATURES)), "no topometric columns found"),
    ],
)
def test_analyze_cli_bad_input(tmp_path, capsys, mutate, message):
    csv = tmp_path / "results.csv"
    mutate(grid_like_table()).to_csv(csv, index=False)
    status = main(["analyze", str(csv), "--out", str(tmp_path / "o"), "--repeats", "1", "--normalize", "no", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and message in err


def test_analyze_cli_missing_file(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err


def test_extra_methods_option(tmp_path):
    t = grid_like_table()
    t["method"] = t["method"].replace("erk", "lottery")
    res = analyze(t, tmp_path / "o", extra_methods=["lottery"], n_repeats=1, loto_repeats=0, progress=False)
    assert "lottery" in set(res["table"]["method"]) and "mixture_loto" not in set(res["rankings"]["strategy"])


def test_reproduce_cli_on_synthetic_published_data(tmp_path, capsys):
    gd = write_graph_data(tmp_path)
    out = tmp_path / "repro"
    status = main(["reproduce", "--data", str(gd), "--out", str(out), "--repeats", "1", "--loto-repeats", "0", "--no-progress"])
    assert status == 0, capsys.readouterr().err
    for name in ("README.md", "data_report.md", "table3.md", "table4.md", "table11.md", "table12.md", "importance.csv",
                 "fig2a_conv6_cifar10_s0.9.png", "fig2b_resnet32_cifar10_s0.8.png", "fig3_importance_sparsity_fixed.png",
                 "fig4_importance_architecture_fixed.png", "fig5_ramanujan_density_correlation.png", "ramanujan_density_correlations.csv"):
        assert (out / name).is_file(), name
    t3 = pd.read_csv(out / "table3.csv")
    assert set(t3["encoding"]) == {"unrolled", "rolled", "rolled_channel"} and len(t3) == 27
    t4 = pd.read_csv(out / "table4.csv")
    assert len(t4) == 4 * 6
    strategies = ("mixture", "layer_density", "delta_r_bound_ratio", "delta_r_imdb_bound_ratio", "lambda_imsg")
    assert {f"{s}_mean" for s in strategies} <= set(t4.columns)
    assert "mixture_loto_mean" not in t4.columns  # --loto-repeats 0 skips the honest variant (tested in test_analysis_ranking)
    assert "21-column schema" in (out / "data_report.md").read_text()
    assert main(["reproduce", "--data", str(tmp_path / "nowhere"), "--out", str(out)]) == 2


def test_reproduce_published_data(reference_dir, tmp_path):
    """A short run (1 CV repeat) over the authors' published graph data."""
    graph_data = reference_dir / "mge-snn" / "graph_data"
    if not graph_data.is_dir():
        pytest.skip(f"published graph data not found at {graph_data}")
    res = reproduce(graph_data, tmp_path / "repro", n_repeats=1, loto_repeats=0, progress=False)
    sizes = {k: len(v) for k, v in res["data"].encodings.items()}
    assert sizes == {"unrolled": 1247, "rolled": 1258, "rolled_channel": 1258}
    t3 = res["table3"]
    assert np.isfinite(t3["adj_r2_mean"]).all() and (t3["adj_r2_mean"] < 1).all()
    sf = t3[t3.scenario == "sparsity"].groupby("encoding")["adj_r2_mean"].mean()
    assert sf["unrolled"] > sf["rolled"] and sf["unrolled"] > sf["rolled_channel"]
    per = res["rankings"]
    assert len(per[(per.subset == "all") & (per.strategy == "mixture")]) == 60
    assert per["rbo"].between(0, 1).all()
    corr = res["ramanujan_correlations"]
    imdb = corr[(corr.metric == "delta_r_imdb_bound_ratio") & (corr.sparsity == 0.6)]["r"]
    assert (imdb > 0.9).all()  # Appendix D: strongly tied to layer density
    assert (tmp_path / "repro" / "table4.md").is_file()


def test_allow_small_groups_gives_importances_and_rankings(tmp_path, capsys):
    """One architecture and one data set: 7 networks per sparsity, fewer than p + 2 = 18."""
    t = grid_like_table()
    t = t[(t.arch == "resnet20") & (t.dataset == "cifar10")]
    csv = tmp_path / "results.csv"
    t.to_csv(csv, index=False)
    args = ["analyze", str(csv), "--repeats", "2", "--loto-repeats", "0", "--no-progress"]
    # without the flag only the Architecture-Fixed group (21 networks) is cross-validated: no rankings
    assert main(args + ["--out", str(tmp_path / "strict")]) == 0, capsys.readouterr().err
    report = (tmp_path / "strict" / "report.md").read_text()
    assert "skipped sparsity group 0.6: 7 networks < 18" in report and "rankings skipped" in report
    assert not (tmp_path / "strict" / "rankings_per_triplet.csv").exists()
    # with it the Sparsity-Fixed groups give importances (adjusted R^2 NaN) and every sparsity is ranked
    out = tmp_path / "small"
    assert main(args + ["--out", str(out), "--allow-small-groups"]) == 0, capsys.readouterr().err
    report = (out / "report.md").read_text()
    assert "adjusted R^2 undefined (NaN), importances kept: sparsity group 0.6: 7 networks < 18" in report
    t3 = pd.read_csv(out / "table3.csv")
    sparsity_rows = t3[t3.scenario == "sparsity"]
    assert len(sparsity_rows) == 3 and sparsity_rows.filter(like="adj").isna().all().all()
    assert t3[t3.scenario == "architecture"].filter(like="adj").notna().all().all()
    imp = pd.read_csv(out / "importance.csv")
    assert set(imp["scenario"]) == {"sparsity", "architecture"}
    per = pd.read_csv(out / "rankings_per_triplet.csv")
    mixture = per[(per.strategy == "mixture") & (per.subset == "all")]
    assert sorted(mixture["sparsity"]) == [0.6, 0.9, 0.98] and mixture["rbo"].between(0, 1).all()
    # holding out a triplet empties its sparsity group: no leave-one-triplet-out column, and the tables say why
    loto = main(["analyze", str(csv), "--repeats", "2", "--loto-repeats", "1", "--no-progress", "--out", str(tmp_path / "loto"),
                 "--allow-small-groups"])
    assert loto == 0, capsys.readouterr().err
    assert "No leave-one-triplet-out column" in (tmp_path / "loto" / "table4.md").read_text()
    assert "leave-one-triplet-out rankings skipped" in (tmp_path / "loto" / "report.md").read_text()
    # fewer than 5 networks per group cannot be cross-validated even with the flag
    tiny = tmp_path / "tiny.csv"
    t[t.method.isin(["dense", "snip", "grasp"])].to_csv(tiny, index=False)
    assert main(["analyze", str(tiny), "--out", str(tmp_path / "t"), "--repeats", "1", "--allow-small-groups", "--no-progress"]) == 2
    assert "no sparsity or architecture group has at least 7 networks" in capsys.readouterr().err
