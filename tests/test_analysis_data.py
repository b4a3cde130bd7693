"""Loaders of the published data, on slices the tests write in the official CSV schemas.

:func:`write_graph_data` (also used by the pipeline tests) writes a complete small
``graph_data`` folder with the published column layouts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.data import (
    DataMismatchError,
    add_accuracy_drop,
    load_dense_accuracy,
    load_pai_accuracy,
    load_published,
    load_ramanujan,
    load_ramanujan_layers,
    load_rolled,
    load_unrolled,
    resolve_graph_data,
    select_paper_set,
    validate_table,
)
from analysis.names import BIPARTITE_FEATURES, UNROLLED_FEATURES

# --------------------------------------------------------------------------- official schemas

UNROLLED_COLUMNS = (
    "accuracy,pruning,sparsity,model,dataset,seed,nodes,edges,sink_nodes,source_nodes,disc_nodes,r-out,r-in,"
    "2-hop_nei,cut-edges,motif,no_connected_components,mean_connected_components,avg_node_strength,1-hop_nei,"
    "cut-nodes,k-core,spectral_gap,spectral_radius"
).split(",")
ROLLED_COLUMNS = (
    "accuracy,pruning_algorithm,sparsity,model,dataset,seed,layer_id,layer_name,layer_sparsity,nodes,edges,"
    "unique_edges,weights_edges_ratio,density_directed,density_undirected,avg_degree_all,avg_degree_in,"
    "avg_degree_out,max_degree,min_degree,bridges,a_point,assortativity,motifs_count,motifs,sink_nodes,"
    "source_nodes,disconnected_nodes,lost_out_edges,lost_in_edges,nei_one_hop,nei_two_hop,strenght_all,"
    "strenght_out,coreness_all,coreness_out,strong_clusters,weak_clusters,max_strong,max_weak,min_strong,"
    "min_weak,mean_strong,mean_weak,transitivity,delta_r_directed,delta_s_directed,"
    "spectral_gap_unweighted_directed,spectral_radius_laplacian_unweighted_directed,"
    "spectral_gap_weighted_directed,spectral_radius_laplacian_weighted_directed,delta_r_undirected,"
    "delta_s_undirected,spectral_gap_unweighted_undirected,spectral_radius_laplacian_unweighted_undirected,"
    "spectral_gap_weighted_undirected,spectral_radius_laplacian_weighted_undirected"
).split(",")
ROLLED_SHORT_COLUMNS = (
    "accuracy,pruning,sparsity,model,dataset,seed,layer_id,layer_name,layer_sparsity,nodes,edges,cut-edges,motif,"
    "no_connected_components,mean_connected_components,avg_node_strength,1-hop_nei,cut-nodes,k-core,spectral_gap,"
    "spectral_radius"
).split(",")
RAMANUJAN_COLUMNS = (
    "accuracy,sparsity,seed,model,dataset,layer_id,layer_name,iterative_spectral_gap,iterative_degree_bound,"
    "degree_bound,layer_sparsity,no_weights,no_params"
).split(",")

MODELS = {"conv6": "CONV-6", "resnet20": "Resnet-20", "resnet32": "Resnet-32", "wrn28_2": "Wide-Resnet-28-2"}
DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "tinyimagenet": "tinyimagenet"}
DENSE = {"cifar10": 0.92, "cifar100": 0.68, "tinyimagenet": 0.47}
METHOD_EFFECT = {"snip": 0.00, "grasp": 0.01, "synflow": 0.02, "prospr": 0.03, "uniform": 0.06, "er": 0.05, "erk": 0.04}


def _layer_row(short: bool, net: dict, layer_id: int, name: str, density: float, nodes: int, edges: int, comps: int, f: dict):
    base = {
        "accuracy": net["accuracy"],
        "sparsity": net["sparsity"],
        "model": net["model"],
        "dataset": net["dataset"],
        "seed": net["seed"],
        "layer_id": layer_id,
        "layer_name": name,
        "layer_sparsity": density,
        "nodes": nodes,
        "edges": edges,
    }
    spectral_gap = np.nan if edges == 0 else f["gap"]
    spectral_radius = np.nan if edges == 0 else f["radius"]
    if short:
        row = dict.fromkeys(ROLLED_SHORT_COLUMNS, 0.0)
        row.update(base, pruning=net["method"])
        row.update(
            {
                "cut-edges": f["bridges"],
                "motif": f["motifs"],
                "no_connected_components": comps,
                "mean_connected_components": nodes / comps,
                "avg_node_strength": f["strength"],
                "1-hop_nei": 1 + edges / nodes,
                "cut-nodes": f["apoints"],
                "k-core": f["core"],
                "spectral_gap": spectral_gap,
                "spectral_radius": spectral_radius,
            }
        )
        return row
    row = dict.fromkeys(ROLLED_COLUMNS, 0.0)
    row.update(base, pruning_algorithm=net["method"])
    row.update(
        {
            "motifs": np.nan,
            "transitivity": np.nan,
            "coreness_out": np.nan,
            "bridges": f["bridges"],
            "a_point": f["apoints"],
            "motifs_count": f["motifs"],
            "nei_one_hop": 1 + edges / nodes,
            "nei_two_hop": 1 + edges / nodes,
            "strenght_all": f["strength"],
            "coreness_all": f["core"],
            "weak_clusters": comps,
            "mean_weak": nodes / comps,
            "spectral_gap_weighted_undirected": spectral_gap,
            "spectral_radius_laplacian_weighted_undirected": spectral_radius,
        }
    )
    return row


def write_graph_data(
    root: Path,
    *,
    archs=("conv6", "resnet20", "resnet32", "wrn28_2"),
    datasets=("cifar10", "cifar100", "tinyimagenet"),
    methods=tuple(METHOD_EFFECT),
    sparsities=(0.6, 0.8, 0.9, 0.95, 0.98),
    seeds=(0,),
    n_layers=3,
    short_schema=(("rolled", "tinyimagenet", "conv6"),),
    extra_unrolled_rows=True,
    seed=0,
) -> Path:
    """Write a small ``graph_data`` folder in the published schemas; return its path.

    The accuracy drop of a network is ``0.5 s^2 + method effect + noise``; the
    unrolled ``sink`` and ``strength`` and the layers' strength follow it, so the
    regression has something to find.
    """
    rng = np.random.default_rng(seed)
    gd = Path(root) / "graph_data"
    unrolled, rolled, channel = [], {}, {}
    for arch in archs:
        for ds in datasets:
            for method in methods:
                for s in sparsities:
                    for sd in seeds:
                        drop = 0.5 * s**2 + METHOD_EFFECT.get(method, 0.0) + rng.normal(0, 0.005)
                        acc = round(DENSE[ds] * (1 - drop), 6)
                        net = {"accuracy": acc, "method": method, "sparsity": s, "model": MODELS[arch], "dataset": DATASETS[ds], "seed": sd}
                        row = dict(zip(UNROLLED_COLUMNS, [0.0] * len(UNROLLED_COLUMNS)))
                        row.update(accuracy=acc, pruning=method, sparsity=s, model=MODELS[arch], dataset=DATASETS[ds], seed=sd)
                        row.update({"nodes": 1000, "edges": int(5000 * (1 - s))})
                        for col in UNROLLED_COLUMNS[8:]:
                            row[col] = rng.random()
                        row["sink_nodes"] = drop + rng.normal(0, 0.01)
                        row["avg_node_strength"] = 1.0 - drop + rng.normal(0, 0.01)
                        unrolled.append(row)
                        for enc, store in (("rolled", rolled), ("rolled_channel", channel)):
                            short = (enc, ds, arch) in set(short_schema)
                            rows = store.setdefault((ds, arch), [])
                            for layer in range(n_layers):
                                nodes = 20 + 10 * layer
                                empty = s == 0.98 and layer == 1 and method in ("synflow", "uniform")
                                edges = 0 if empty else int(nodes * 3 * (1 - s) + 5)
                                comps = nodes if empty else 1 + (layer % 2)
                                f = {
                                    "gap": rng.random() + 1,
                                    "radius": rng.random() * 10,
                                    "strength": 2.0 - drop + 0.1 * layer + rng.normal(0, 0.01),
                                    "bridges": int(10 * s),
                                    "apoints": int(5 * s),
                                    "motifs": 100 * edges,
                                    "core": 3.0 * (1 - s) + layer,
                                }
                                rows.append(
                                    (short, _layer_row(short, net, layer, f"layer{layer}.conv", (1 - s) * (1 + 0.1 * layer), nodes, edges, comps, f))
                                )
    udf = pd.DataFrame(unrolled, columns=UNROLLED_COLUMNS)
    if extra_unrolled_rows:
        dup = udf.iloc[[0, 1]]
        nan_row = udf.iloc[[2]].copy()
        nan_row["seed"] = 7
        nan_row[["sink_nodes", "source_nodes"]] = np.nan
        mobile = udf.iloc[[3]].copy()
        mobile["model"] = "MobileNetV2"
        dst = udf.iloc[[4]].copy()
        dst["pruning"] = "rigl"
        udf = pd.concat([udf, dup, nan_row, mobile, dst], ignore_index=True)
    (gd / "graph_metrics" / "unrolled").mkdir(parents=True, exist_ok=True)
    udf.to_csv(gd / "graph_metrics" / "unrolled" / "unrolled.csv", index=False)
    for enc, store in (("rolled", rolled), ("rolled_channel", channel)):
        folder = gd / "graph_metrics" / enc
        folder.mkdir(parents=True, exist_ok=True)
        for (ds, arch), rows in store.items():
            short = rows[0][0]
            df = pd.DataFrame([r for _, r in rows], columns=ROLLED_SHORT_COLUMNS if short else ROLLED_COLUMNS)
            df.to_csv(folder / f"{enc}-{DATASETS[ds]}-{MODELS[arch]}.csv", index=False)
            if enc == "rolled":
                ram = pd.DataFrame(
                    {
                        "accuracy": df["accuracy"],
                        "sparsity": df["sparsity"],
                        "seed": df["seed"],
                        "model": df["model"],
                        "dataset": df["dataset"],
                        "layer_id": df["layer_id"],
                        "layer_name": df["layer_name"],
                        "iterative_spectral_gap": np.where(df["layer_id"] == 0, np.nan, 2 * df["layer_sparsity"] + 0.01 * rng.random(len(df))),
                        "iterative_degree_bound": df["layer_sparsity"] - 0.3,
                        "degree_bound": np.where(df["edges"] == 0, -np.inf, 3 * df["layer_sparsity"] - 1),
                        "layer_sparsity": df["layer_sparsity"],
                        "no_weights": df["edges"],
                        "no_params": df["nodes"] * 10,
                    },
                    columns=RAMANUJAN_COLUMNS,
                )
                rfolder = gd / "ramanunjan_results" / MODELS[arch]
                rfolder.mkdir(parents=True, exist_ok=True)
                ram.to_csv(rfolder / f"rolled-{DATASETS[ds]}-{MODELS[arch]}.csv", index=False)
    return gd


@pytest.fixture
def small_graph_data(tmp_path):
    return write_graph_data(
        tmp_path, archs=("conv6", "resnet20"), datasets=("cifar10", "tinyimagenet"), methods=("snip", "uniform"), sparsities=(0.6, 0.98)
    )


# --------------------------------------------------------------------------- tests


def test_package_accuracy_tables():
    dense = load_dense_accuracy()
    assert len(dense) == 12 and dense["dense_accuracy"].between(0.4, 1).all()
    row = dense[(dense.arch == "wrn28_2") & (dense.dataset == "cifar100")].iloc[0]
    assert row.dense_accuracy == pytest.approx(0.742)
    pai = load_pai_accuracy()
    assert set(pai["method"]) == {"snip", "grasp", "synflow", "prospr", "uniform", "er", "erk"}
    below = pai[pai["note"] == "below_chance"]
    assert len(below) == 1 and below["accuracy"].isna().all()


def test_load_unrolled_maps_cleans_and_reports(small_graph_data):
    df = load_unrolled(small_graph_data)
    report = " ".join(df.attrs["report"])
    assert "dropped 2 exact duplicate rows" in report
    assert "dropped 1 rows with missing or infinite feature values" in report and "seed=7" in report
    assert "no dense accuracy for [('mobilenet_v2', 'cifar10')]" in report
    assert set(UNROLLED_FEATURES) <= set(df.columns)
    assert set(df["arch"]) == {"conv6", "resnet20", "mobilenet_v2"} and "rigl" in set(df["method"])
    assert set(df["dataset"]) == {"cifar10", "tinyimagenet"}
    raw = pd.read_csv(small_graph_data / "graph_metrics" / "unrolled" / "unrolled.csv")
    r0 = raw.iloc[0]
    got = df[(df.arch == "conv6") & (df.dataset == "cifar10") & (df.method == r0.pruning) & (df.sparsity == r0.sparsity) & (df.seed == r0.seed)].iloc[0]
    assert got["n1"] == r0["1-hop_nei"] and got["kcore"] == r0["k-core"] and got["component_size"] == r0["mean_connected_components"]
    assert got["accuracy_drop"] == pytest.approx(1 - r0.accuracy / 0.932)  # dense accuracy of conv6 / CIFAR-10 is 93.2 %
    paper = load_unrolled(small_graph_data, paper_only=True)
    assert set(paper["arch"]) == {"conv6", "resnet20"} and set(paper["method"]) == {"snip", "uniform"}
    assert len(paper) == 2 * 2 * 2 * 2


def test_load_rolled_aggregates_layers_and_maps_the_short_schema(small_graph_data):
    df = load_rolled(small_graph_data, "rolled")
    report = " ".join(df.attrs["report"])
    assert "rolled-tinyimagenet-CONV-6.csv uses the 21-column schema" in report
    assert list(df.columns[-len(BIPARTITE_FEATURES):]) == list(BIPARTITE_FEATURES)
    assert len(df) == 2 * 2 * 2 * 2
    for ds, fname in (("cifar10", "rolled-CIFAR-10-CONV-6.csv"), ("tinyimagenet", "rolled-tinyimagenet-CONV-6.csv")):
        raw = pd.read_csv(small_graph_data / "graph_metrics" / "rolled" / fname)
        alg = "pruning_algorithm" if "pruning_algorithm" in raw else "pruning"
        net = raw[(raw[alg] == "snip") & (raw.sparsity == 0.6)]
        strength = net["strenght_all" if alg == "pruning_algorithm" else "avg_node_strength"].mean()
        got = df[(df.arch == "conv6") & (df.dataset == ds) & (df.method == "snip") & (df.sparsity == 0.6)].iloc[0]
        assert got["strength"] == pytest.approx(strength)
        assert got["n1"] == pytest.approx((1 + net["edges"] / net["nodes"]).mean())


def test_edgeless_layers_get_zero_spectra(small_graph_data):
    df = load_rolled(small_graph_data, "rolled_channel")
    assert "edgeless layers: spectral_gap set to 0" in " ".join(df.attrs["report"])
    assert np.isfinite(df[list(BIPARTITE_FEATURES)].to_numpy()).all()


def test_short_schema_with_other_quantities_is_excluded(small_graph_data):
    path = small_graph_data / "graph_metrics" / "rolled" / "rolled-tinyimagenet-CONV-6.csv"
    raw = pd.read_csv(path)
    raw["1-hop_nei"] = raw["1-hop_nei"] * 2  # no longer the one-hop neighbourhood size
    raw.to_csv(path, index=False)
    df = load_rolled(small_graph_data, "rolled")
    assert "excluded rolled-tinyimagenet-CONV-6.csv: n1 != 1 + edges/nodes" in " ".join(df.attrs["report"])
    assert not ((df.arch == "conv6") & (df.dataset == "tinyimagenet")).any()


def test_ramanujan_join_takes_methods_and_verifies_rows(small_graph_data):
    layers = load_ramanujan_layers(small_graph_data)
    rolled = pd.read_csv(small_graph_data / "graph_metrics" / "rolled" / "rolled-CIFAR-10-Resnet-20.csv")
    sub = layers[(layers.arch == "resnet20") & (layers.dataset == "cifar10")]
    assert list(sub["method"]) == list(rolled["pruning_algorithm"])
    base = load_ramanujan(small_graph_data)
    report = " ".join(base.attrs["report"])
    assert "infinite delta_r_bound_ratio values" in report
    # the published degree_bound (the bound ratio) is -inf on the edgeless layers -> never infinite after loading
    assert np.isfinite(base["delta_r_bound_ratio"].dropna()).all()
    # lambda_imsg is undefined on layer 0: the network mean is over layers 1..2
    one = layers[(layers.arch == "conv6") & (layers.dataset == "cifar10") & (layers.method == "snip") & (layers.sparsity == 0.6)]
    got = base[(base.arch == "conv6") & (base.dataset == "cifar10") & (base.method == "snip") & (base.sparsity == 0.6)].iloc[0]
    assert got["lambda_imsg"] == pytest.approx(one["lambda_imsg"].iloc[1:].mean())
    assert got["layer_density"] == pytest.approx(one["layer_density"].mean())


@pytest.mark.parametrize("corruption,match", [("accuracy", "accuracy="), ("layer_name", "layer_name="), ("length", "rows but")])
def test_ramanujan_join_fails_loudly(small_graph_data, corruption, match):
    path = small_graph_data / "ramanunjan_results" / "Resnet-20" / "rolled-CIFAR-10-Resnet-20.csv"
    raw = pd.read_csv(path)
    if corruption == "accuracy":
        raw.loc[5, "accuracy"] += 0.01
    elif corruption == "layer_name":
        raw.loc[3, "layer_name"] = "other"
    else:
        raw = raw.iloc[:-1]
    raw.to_csv(path, index=False)
    with pytest.raises(DataMismatchError, match=match):
        load_ramanujan_layers(small_graph_data)


def test_missing_counterpart_fails(small_graph_data):
    (small_graph_data / "graph_metrics" / "rolled" / "rolled-CIFAR-10-Resnet-20.csv").unlink()
    with pytest.raises(DataMismatchError, match="no counterpart"):
        load_ramanujan_layers(small_graph_data)


def test_resolve_graph_data(tmp_path, small_graph_data):
    assert resolve_graph_data(small_graph_data.parent) == small_graph_data
    with pytest.raises(FileNotFoundError, match="graph_data"):
        resolve_graph_data(tmp_path / "nowhere")


def test_load_published_bundle(small_graph_data):
    data = load_published(small_graph_data)
    assert set(data.encodings) == {"unrolled", "rolled", "rolled_channel"}
    assert all(set(df["method"]) == {"snip", "uniform"} for df in data.encodings.values())
    assert {"layer_density", "delta_r_bound_ratio", "delta_r_imdb_bound_ratio", "lambda_imsg"} <= set(data.baselines.columns)
    assert not {"delta_r", "delta_r_imdb"} & set(data.baselines.columns)  # the published bounds are ratios
    assert any("networks" in r for r in data.report)


def _table(n=6):
    return pd.DataFrame(
        {
            "arch": ["Resnet-20"] * n,
            "dataset": ["CIFAR-10"] * n,
            "method": ["SynFlow", "snip", "grasp", "ER", "erk", "uniform"][:n],
            "sparsity": [0.9] * n,
            "seed": [0] * n,
            "accuracy": np.linspace(0.5, 0.8, n),
            "dense_accuracy": [0.9] * n,
            "f": np.arange(n, dtype=float),
        }
    )


def test_validate_table_canonicalises_and_rejects_bad_input():
    out = validate_table(_table(), ["f"])
    assert set(out["method"]) == {"synflow", "snip", "grasp", "er", "erk", "uniform"}
    assert set(out["arch"]) == {"resnet20"} and set(out["dataset"]) == {"cifar10"}
    with pytest.raises(ValueError, match=r"lacks required columns \['seed'\]"):
        validate_table(_table().drop(columns="seed"))
    bad = _table()
    bad.loc[0, "method"] = "mystery"
    with pytest.raises(ValueError, match="unknown pruning method 'mystery'"):
        validate_table(bad)
    assert validate_table(bad, extra_methods=["mystery"])["method"].iloc[0] == "mystery"
    bad.loc[0, "method"] = "Dense"
    with pytest.raises(ValueError, match="method 'dense'"):
        validate_table(bad)
    pct = _table()
    pct["accuracy"] *= 100
    with pytest.raises(ValueError, match="divide percent values by 100"):
        validate_table(pct)
    dup = pd.concat([_table(), _table().iloc[[0]]])
    with pytest.raises(ValueError, match="share \\(arch, dataset, method, sparsity, seed\\)"):
        validate_table(dup)
    nanf = _table()
    nanf.loc[1, "f"] = np.nan
    with pytest.raises(ValueError, match="feature 'f' has 1 missing"):
        validate_table(nanf, ["f"])
    with pytest.raises(ValueError, match="not in the table"):
        validate_table(_table(), ["g"])


def test_accuracy_drop_and_paper_selection():
    t = add_accuracy_drop(validate_table(_table()))
    assert t["accuracy_drop"].iloc[0] == pytest.approx(1 - 0.5 / 0.9)
    t.loc[0, "arch"] = "mobilenetv2"
    assert len(select_paper_set(t)) == len(t) - 1


def test_density_correlations_and_scaled_profiles_by_hand():
    from analysis.ramanujan import density_correlations, scaled_layer_profile

    layers = pd.DataFrame(
        {
            "arch": ["conv6"] * 8,
            "dataset": ["cifar10"] * 8,
            "method": ["snip"] * 4 + ["er"] * 4,
            "sparsity": [0.9] * 8,
            "seed": [0] * 8,
            "layer_id": [0, 1, 2, 3] * 2,
            "layer_name": ["a", "b", "c", "d"] * 2,
            "layer_density": [0.1, 0.2, 0.3, 0.4, 0.2, 0.2, 0.4, 0.2],
            "delta_r_bound_ratio": [1.0, 2.0, 3.0, 4.0, 2.0, 2.0, 4.0, 2.0],  # = 10 x density: r = 1
            "delta_r_imdb_bound_ratio": [np.nan, 0.3, 0.2, 0.1, np.nan, 0.3, 0.1, 0.3],  # decreasing in density
            "lambda_imsg": [np.nan] * 7 + [1.0],  # defined on one layer only: undefined r
        }
    )
    corr = density_correlations(layers).set_index("metric")
    assert corr.loc["delta_r_bound_ratio", "r"] == pytest.approx(1.0) and corr.loc["delta_r_bound_ratio", "n_layers"] == 8
    d = layers.dropna(subset=["delta_r_imdb_bound_ratio"])
    want = np.corrcoef(d["delta_r_imdb_bound_ratio"], d["layer_density"])[0, 1]
    assert corr.loc["delta_r_imdb_bound_ratio", "r"] == pytest.approx(want)
    assert np.isnan(corr.loc["lambda_imsg", "r"])
    prof = scaled_layer_profile(layers, "conv6", "cifar10", 0.9)
    dens = prof[prof.metric == "layer_density"].set_index("layer_name")["scaled"]
    # per-layer means 0.15, 0.2, 0.35, 0.3 over the two networks, divided by their sum 1.0
    np.testing.assert_allclose(dens[["a", "b", "c", "d"]].to_numpy(), [0.15, 0.2, 0.35, 0.3])
    assert prof.groupby("metric")["scaled"].sum().drop("lambda_imsg").round(12).eq(1.0).all()
    with pytest.raises(ValueError, match="no layers"):
        density_correlations(layers, dataset="cifar100")
    with pytest.raises(ValueError, match="lacks columns"):
        density_correlations(layers.drop(columns="layer_density"))


def test_feature_columns_skip_grid_bookkeeping():
    from analysis.data import feature_columns

    df = pd.DataFrame(
        {
            "arch": ["resnet20"], "dataset": ["cifar10"], "method": ["snip"], "sparsity": [0.9], "seed": [0],
            "accuracy": [0.8], "dense_accuracy": [0.9], "num_nodes": [10], "num_edges": [20],
            "dense_num_edges": [40], "achieved_sparsity": [0.9], "trained_epochs": [3], "prune_seconds": [1.0],
            "train_seconds": [2.0], "num_classes": [10], "kcore": [1.5], "n2": [3.0],
        }
    )
    assert feature_columns(df) == ["kcore", "n2"]


def test_pearson_matches_scipy_on_the_finite_pairs():
    from scipy.stats import pearsonr

    from analysis.correlation import pearson

    rng = np.random.default_rng(3)
    a = rng.random(40)
    b = 0.3 * a + rng.random(40)
    a[[2, 5]] = np.nan
    b[[7]] = np.inf
    ok = np.isfinite(a) & np.isfinite(b)
    assert pearson(a, b) == pytest.approx(pearsonr(a[ok], b[ok]).statistic, rel=1e-12)
    assert np.isnan(pearson(a[:3], b[:3]))  # 2 finite pairs < 3
    assert np.isnan(pearson(np.full(10, 2.0), rng.random(10)))  # constant side
    with pytest.raises(ValueError, match="equal length"):
        pearson(a, b[:5])


def test_aggregate_layers_fills_drops_then_averages_and_reports():
    from analysis.schema import aggregate_layers

    key = {"arch": "conv6", "dataset": "cifar10", "sparsity": 0.9, "seed": 0}
    rows = []
    for method, acc in (("snip", 0.5), ("er", 0.6)):
        for layer, (edges, gap, kcore) in enumerate([(10, 1.0, 2.0), (0, np.nan, 1.0), (5, 3.0, np.nan if method == "er" else 4.0)]):
            rows.append({**key, "method": method, "accuracy": acc, "edges": edges, "spectral_gap": gap, "kcore": kcore})
    layers = pd.DataFrame(rows)
    messages: list[str] = []
    out = aggregate_layers(layers, ["spectral_gap", "kcore"], messages=messages, what="rolled")
    assert messages[0] == "rolled: 2 edgeless layers: spectral_gap set to 0 (zero adjacency matrix)"
    assert messages[1] == "rolled: dropped 1 networks with missing layer values: conv6/cifar10/er/s=0.9/seed=0"
    assert list(out.columns) == ["arch", "dataset", "method", "sparsity", "seed", "accuracy", "spectral_gap", "kcore"]
    assert len(out) == 1 and out.iloc[0]["method"] == "snip" and out.iloc[0]["accuracy"] == 0.5
    assert out.iloc[0]["spectral_gap"] == pytest.approx((1.0 + 0.0 + 3.0) / 3)
    assert out.iloc[0]["kcore"] == pytest.approx((2.0 + 1.0 + 4.0) / 3)
    bad = layers.copy()
    bad.loc[0, "accuracy"] = 0.7
    with pytest.raises(DataMismatchError, match="disagree on its accuracy"):
        aggregate_layers(bad, ["kcore"])


def test_data_module_reexports_and_errors_are_topocores():
    import analysis.data as data
    from analysis import published, schema
    from topocore.errors import DataMismatchError as CoreMismatch
    from topocore.errors import DataNotFoundError

    assert data.DataMismatchError is CoreMismatch
    for name in data.__all__:
        assert getattr(data, name) is getattr(published, name, None) or getattr(data, name) is getattr(schema, name, None) or name == "DataMismatchError"
    with pytest.raises(DataNotFoundError):
        resolve_graph_data("/nonexistent/graph_data")
