"""`topometrics dag train` / `dag measure`: outputs, resumption, batch errors and bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
import math

import networkx as nx
import pandas as pd
import pytest
import torch

from pruners import load_checkpoint, save_checkpoint
from topometrics.cli import main
from topometrics.workflows.dag_report import read_graphml

TINY = ["--dataset", "digits", "--input-shape", "1,8,8", "--nodes", "2,2", "--channels", "2", "--epochs", "1",
        "--batch-size", "64", "--lambda", "0.01", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("dag") / "run"
    assert main(["dag", "train", *TINY, "--seed", "0,1", "--out", str(out)]) == 0
    return out


def test_train_writes_every_output(trained):
    for seed in (0, 1):
        run = trained / f"seed{seed}"
        names = {p.name for p in run.iterdir()}
        assert names == {"trained.pt", "derived.pt", "retrained.pt", "topology.graphml", "topology.png", "report.json",
                         "report.md"}
        report = json.loads((run / "report.json").read_text())
        for key in ("accuracy_trained", "accuracy_thresholded", "accuracy_retrained", "log_paths", "edge_connectivity",
                    "pca_elongation", "q1d", "mge_sink", "mge_spectral_radius", "mge_motif4_method", "params_derived", "sparsity"):
            assert key in report, key
        assert 0.0 <= report["accuracy_thresholded"] <= 1.0
        g = read_graphml(run / "topology.graphml")
        assert g.number_of_edges() == report["num_edges"] and nx.has_path(g, 0, 3)
        ck = load_checkpoint(run / "derived.pt")
        info = ck.meta["derived_topology"]
        assert sorted(tuple(e[:2]) for e in info["edges"]) == sorted(g.edges)
        assert sorted(ck.model.live_edges) == sorted(g.edges)
        assert (run / "topology.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        retrained = load_checkpoint(run / "retrained.pt")
        assert sorted(retrained.model.edges) == sorted(g.edges)  # wired by the derived graph only
    runs = pd.read_csv(trained / "runs.csv")
    assert list(runs["seed"]) == [0, 1]
    assert "± " in (trained / "table2.md").read_text()
    assert not [p for p in trained.iterdir() if p.name.startswith(".seed")]  # no staging folder left


def test_train_rerun_skips_finished_seeds(trained, capsys):
    before = (trained / "seed0" / "report.json").read_text()
    assert main(["dag", "train", *TINY, "--seed", "0", "--out", str(trained)]) == 0
    assert "already finished" in capsys.readouterr().out
    assert (trained / "seed0" / "report.json").read_text() == before


def test_measure_table_summary_and_resume(trained, tmp_path):
    table = tmp_path / "t.csv"
    summary = tmp_path / "s.md"
    paths = [str(trained / f"seed{s}" / "derived.pt") for s in (0, 1)]
    assert main(["dag", "measure", *paths, "--out", str(table), "--summary", str(summary), "-q"]) == 0
    rows = pd.read_csv(table)
    assert len(rows) == 2 and rows["error"].isna().all()
    report = json.loads((trained / "seed0" / "report.json").read_text())
    assert rows.loc[0, "log_paths"] == pytest.approx(report["log_paths"])
    assert rows.loc[0, "mge_num_edges"] == report["mge_num_edges"]
    assert not rows["derived_here"].any()
    assert "digits 1x8x8" in summary.read_text()
    stamp = table.stat().st_mtime_ns
    assert main(["dag", "measure", *paths, "--out", str(table), "-q"]) == 0  # nothing left to do
    assert table.stat().st_mtime_ns == stamp or len(pd.read_csv(table)) == 2
    # a trained (not derived) checkpoint is derived here with --tau
    t2 = tmp_path / "t2.csv"
    assert main(["dag", "measure", str(trained / "seed0" / "trained.pt"), "--tau", "0.001", "--no-mge", "--out", str(t2),
                 "-q"]) == 0
    row = pd.read_csv(t2).iloc[0]
    assert bool(row["derived_here"]) and row["tau"] == 0.001 and "mge_sink" not in row


def test_measure_records_a_failing_checkpoint_and_exits_1(trained, tmp_path, capsys):
    ck = load_checkpoint(trained / "seed0" / "derived.pt")
    with torch.no_grad():
        ck.model.alpha.fill_(1e-4)  # every gate below tau = 0.006: no path left
    bad = save_checkpoint(tmp_path / "weak.pt", ck.model, None, {k: v for k, v in ck.meta.items()
                                                                   if k not in ("derived_topology",)})
    table = tmp_path / "t.csv"
    code = main(["dag", "measure", str(trained / "seed1" / "derived.pt"), str(bad), "--out", str(table), "-q"])
    assert code == 1
    rows = pd.read_csv(table)
    assert rows["error"].isna().tolist() == [True, False]
    assert "tau" in rows.loc[1, "error"]
    assert "weak.pt" in capsys.readouterr().err


def _assert_exit_2_nothing_written(argv, out, capsys, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    assert not out.exists() or not any(out.iterdir()) if out.suffix == "" else not out.exists()


@pytest.mark.parametrize("extra, match", [
    (["--gate", "relu"], "unknown gate"),
    (["--penalty", "l2"], "unknown connectivity penalty"),
    (["--rule", "best"], "unknown topology rule"),
    (["--tau", "-1"], "tau must be finite and >= 0"),
    (["--nodes", "2,1"], "at least 2 nodes"),
    (["--nodes", ""], "nodes=() has no stage"),
    (["--graph", "torus"], "neither complete"),
    (["--dataset", "imagenet21k"], "unknown data set"),
])
def test_train_bad_input_exit_2(tmp_path, capsys, extra, match):
    out = tmp_path / "out"
    args = list(TINY)
    if extra[0] == "--dataset":
        args[1] = extra[1]
        extra = []
    _assert_exit_2_nothing_written(["dag", "train", *args, *extra, "--out", str(out)], out, capsys, match)


@pytest.mark.parametrize("edges, match", [("0 1\n1 2\n2 1\n2 3\n", "cyclic"), ("0 1\n2 3\n", "disconnected")])
def test_train_bad_user_graph_exit_2(tmp_path, capsys, edges, match):
    f = tmp_path / "g.txt"
    f.write_text(edges)
    out = tmp_path / "out"
    _assert_exit_2_nothing_written(["dag", "train", *TINY, "--graph", str(f), "--out", str(out)], out, capsys, match)


def test_train_with_no_path_left_names_tau_and_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["dag", "train", *TINY, "--tau", "0.99", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "tau=0.99" in err and "largest tau" in err and len(err.splitlines()) == 1
    assert [p.name for p in out.iterdir()] in ([], [".lock"])  # no seed folder, no staging folder


def test_train_user_graph_file(tmp_path):
    f = tmp_path / "chain.txt"
    f.write_text("0 1\n1 2\n2 3\n0 3\n")
    out = tmp_path / "out"
    assert main(["dag", "train", *TINY, "--graph", str(f), "--retrain-epochs", "0", "--no-mge", "--out", str(out)]) == 0
    report = json.loads((out / "seed0" / "report.json").read_text())
    assert report["initial_edges"] == 4 and report["accuracy_retrained"] is None
    assert not (out / "seed0" / "retrained.pt").exists()


def test_measure_bad_input_exit_2(trained, tmp_path, capsys):
    other = tmp_path / "resnet.pt"
    from pruners.models import get_model

    save_checkpoint(other, get_model("resnet20", 10, (3, 8, 8)), None,
                    {"arch": "resnet20", "num_classes": 10, "input_shape": [3, 8, 8]})
    table = tmp_path / "t.csv"
    good = str(trained / "seed0" / "derived.pt")
    _assert_exit_2_nothing_written(["dag", "measure", good, str(other), "--out", str(table)], table, capsys, "'resnet20'")
    _assert_exit_2_nothing_written(["dag", "measure", good, str(tmp_path / "nope.pt"), "--out", str(table)], table, capsys,
                                   "does not exist")
    _assert_exit_2_nothing_written(["dag", "measure", good, "--tau", "-2", "--out", str(table)], table, capsys, "tau")


def test_summary_mean_and_sd_are_the_sample_statistics(trained):
    from topometrics.workflows.dag_report import summary_table

    rows = pd.read_csv(trained / "runs.csv")
    table = summary_table(rows)
    col = table.columns[0]
    mean, sd = rows["log_paths"].mean(), rows["log_paths"].std(ddof=1)
    assert table.loc["log_paths", col] == f"{mean:.2f} ± {sd:.2f}"
    assert table.loc["runs", col] == "2"
    assert not math.isnan(sd)


def test_train_command_penalty_refuses_a_model_without_gates(tmp_path, capsys):
    out = tmp_path / "r.pt"
    code = main(["train", "--arch", "resnet20", "--method", "dense", "--sparsity", "0", "--dataset", "digits",
                 "--input-shape", "1,8,8", "--epochs", "1", "--penalty", "tanh_l1", "--out", str(out)])
    assert code == 2 and "no gated edges" in capsys.readouterr().err and not out.exists()


def _one_line_exit_2(argv, capsys, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    return err


@pytest.mark.parametrize("extra, match", [
    (["--penalty", "l2"], "unknown connectivity penalty 'l2'"),
    (["--penalty", "l1", "--lambda", "-1"], "lambda must be finite and >= 0"),
    (["--lambda", "0.1"], "--lambda 0.1 needs --penalty"),
])
def test_train_command_bad_penalty_exit_2_before_anything_is_built(tmp_path, capsys, extra, match):
    out = tmp_path / "r.pt"
    _one_line_exit_2(["train", "--arch", "dagnet", "--method", "dense", "--sparsity", "0", "--dataset", "digits",
                      "--input-shape", "1,8,8", "--epochs", "1", *extra, "--out", str(out)], capsys, match)
    assert not out.exists()


def test_train_command_trains_a_dagnet_checkpoint_with_a_penalty(tmp_path):
    from pruners.models import get_model

    torch.manual_seed(0)
    model = get_model("dagnet", 10, (1, 8, 8), nodes=(2, 2), channels=2)
    meta = {"arch": "dagnet", "num_classes": 10, "input_shape": [1, 8, 8], "dataset": "digits",
            "model_kwargs": {"nodes": [2, 2], "channels": 2}}
    ck = save_checkpoint(tmp_path / "d.pt", model, None, meta)
    out = tmp_path / "t.pt"
    assert main(["train", str(ck), "--epochs", "1", "--batch-size", "256", "--penalty", "tanh-l1", "--lambda", "0.5",
                 "--threads", "1", "--out", str(out)]) == 0
    trained = load_checkpoint(out)
    assert trained.meta["penalty"] == "tanh_l1" and trained.meta["lambda"] == 0.5
    assert trained.meta["history"][0]["penalty"] > 0
    assert float(trained.model.gate_values().detach().abs().mean()) < 0.5  # the penalty pulled the gates down from 0.5


@pytest.mark.parametrize("extra, match", [
    (["--rule", "topk", "--k", "0"], "k must be an integer >= 1"),
    (["--rule", "topk", "--tau", "0.1"], "tau applies to rule='threshold'"),
    (["--lambda", "-0.5"], "lambda must be finite and >= 0"),
    (["--gate", "tanh", "--gate-init", "1.5"], "outside tanh's range"),
    (["--graph", "er", "--graph-m", "2"], "graph='er' takes p only"),
])
def test_dag_train_more_bad_input_exit_2(tmp_path, capsys, extra, match):
    out = tmp_path / "out"
    _assert_exit_2_nothing_written(["dag", "train", *TINY, *extra, "--out", str(out)], out, capsys, match)


def test_dag_train_cyclic_graphml_exit_2(tmp_path, capsys):
    f = tmp_path / "g.graphml"
    nx.write_graphml(nx.DiGraph([(0, 1), (1, 2), (2, 1), (2, 3)]), f)
    out = tmp_path / "out"
    _assert_exit_2_nothing_written(["dag", "train", *TINY, "--graph", str(f), "--out", str(out)], out, capsys, "cyclic")


def test_dag_measure_bad_rule_exit_2(trained, tmp_path, capsys):
    table = tmp_path / "t.csv"
    _assert_exit_2_nothing_written(["dag", "measure", str(trained / "seed0" / "derived.pt"), "--rule", "magic",
                                    "--out", str(table)], table, capsys, "unknown topology rule")


def test_the_general_metrics_command_measures_dag_checkpoints_like_dag_measure(trained, tmp_path):
    """`topometrics metrics` on derived.pt / retrained.pt: the same MGE as the run's report."""
    table = tmp_path / "m.csv"
    run = trained / "seed0"
    assert main(["metrics", str(run / "derived.pt"), str(run / "retrained.pt"), "--metrics", "sink,spectral_radius",
                 "--no-normalized", "-o", str(table), "-q"]) == 0
    rows = pd.read_csv(table)
    report = json.loads((run / "report.json").read_text())
    assert rows.loc[0, "num_edges"] == report["mge_num_edges"]
    assert rows.loc[0, "sink"] == pytest.approx(report["mge_sink"])
    assert rows.loc[0, "spectral_radius"] == pytest.approx(report["mge_spectral_radius"], rel=1e-6)
    assert rows.loc[1, "num_edges"] == rows.loc[0, "num_edges"]  # the retrained network has the derived wiring
