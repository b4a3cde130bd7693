"""``topometrics metrics``: inputs, columns, resumability and atomic writes."""

from __future__ import annotations

import importlib
import math

import pandas as pd
import pytest
import torch

import encoders
import pruners
import topometrics
from pruners import save_checkpoint
from pruners.models import get_model
from topometrics.cli import main

SHAPE = (3, 8, 8)
FEW = "sink,source,n1,components,log_paths,effective_sparsity"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpts")
    torch.manual_seed(0)
    paths = {}
    for seed, sparsity in ((0, 0.9), (1, 0.98)):
        model = get_model("resnet20", 10, SHAPE)
        masks = pruners.prune(model, "uniform", sparsity, random_state=seed)
        meta = {"arch": "resnet20", "num_classes": 10, "input_shape": list(SHAPE), "method": "random",
                "sparsity": sparsity, "seed": seed, "dataset": "cifar10", "accuracy": 0.5, "dense_accuracy": 0.9}
        paths[f"ck{seed}"] = save_checkpoint(d / f"ck{seed}.pt", model, masks, meta)
        if seed == 0:
            graph = encoders.encode(model, SHAPE, masks)
            paths["graph"] = graph.save(d / "g0.npz")
            torch.save({"state_dict": model.state_dict(), "masks": masks}, d / "sd0.pt")
            paths["sd"] = d / "sd0.pt"
            paths["model"], paths["masks"], paths["graph_obj"] = model, masks, graph
    return paths


def test_rows_columns_and_values(inputs, tmp_path):
    out = tmp_path / "res.csv"
    rc = main(["metrics", str(inputs["ck0"]), str(inputs["graph"]), str(inputs["sd"]), "--arch", "resnet20",
               "--input-shape", "3,8,8", "--metrics", FEW, "-o", str(out), "-q"])
    assert rc == 0
    table = pd.read_csv(out)
    assert len(table) == 3
    assert table.columns[0] == "checkpoint"
    cols = list(table.columns)
    assert cols.index("arch") < cols.index("num_nodes") < cols.index("num_edges") < cols.index("sink")
    assert cols[-1] == "metrics_seconds"
    assert FEW.split(",") == cols[cols.index("sink"): cols.index("sink") + 6]
    ck = table.iloc[0]
    assert ck["arch"] == "resnet20" and ck["dataset"] == "cifar10" and ck["method"] == "random"
    assert ck["sparsity"] == 0.9 and ck["accuracy"] == 0.5 and ck["dense_accuracy"] == 0.9
    graph = inputs["graph_obj"]
    want = topometrics.compute(graph, FEW, dense_num_edges=topometrics.dense_num_edges(inputs["model"], SHAPE))
    for row in table.itertuples(index=False):
        row = row._asdict()
        assert row["num_nodes"] == graph.num_nodes and row["num_edges"] == graph.num_edges
        for name in ("sink", "source", "n1", "components", "log_paths"):
            assert row[name] == pytest.approx(want[name]), name
    # the saved graph has no model, so no dense count: effective_sparsity is NaN there only
    assert math.isnan(table.loc[1, "effective_sparsity"])
    assert table.loc[0, "effective_sparsity"] == pytest.approx(want["effective_sparsity"])
    assert table.loc[2, "effective_sparsity"] == pytest.approx(want["effective_sparsity"])


def test_resume_skips_finished_rows(inputs, tmp_path, monkeypatch):
    out = tmp_path / "res.csv"
    assert main(["metrics", str(inputs["ck0"]), "--metrics", "sink,n1", "-o", str(out), "-q"]) == 0
    before = pd.read_csv(out)
    calls = []
    compute_module = importlib.import_module("topometrics.describe")  # the module (the package attribute is the function)

    real = compute_module.compute

    def spy(graph, *a, **k):
        calls.append(graph.num_edges)
        return real(graph, *a, **k)

    monkeypatch.setattr(compute_module, "compute", spy)
    assert main(["metrics", str(inputs["ck0"]), str(inputs["ck1"]), "--metrics", "sink,n1", "-o", str(out), "-q"]) == 0
    after = pd.read_csv(out)
    assert len(calls) == 1  # only ck1 was measured
    assert len(after) == 2
    pd.testing.assert_frame_equal(after.iloc[:1][before.columns], before, check_dtype=False)
    # asking for a metric the table lacks recomputes and merges, keeping one row per checkpoint
    assert main(["metrics", str(inputs["ck0"]), "--metrics", "n2", "-o", str(out), "-q"]) == 0
    merged = pd.read_csv(out)
    assert len(merged) == 2 and merged.loc[0, "n2"] > 0 and merged.loc[0, "sink"] == before.loc[0, "sink"]


def test_interrupted_run_keeps_finished_rows(inputs, tmp_path, monkeypatch):
    out = tmp_path / "res.csv"
    compute_module = importlib.import_module("topometrics.describe")

    real = compute_module.compute
    seen = []

    def crash_on_second(graph, *a, **k):
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(graph, *a, **k)

    monkeypatch.setattr(compute_module, "compute", crash_on_second)
    rc = main(["metrics", str(inputs["ck0"]), str(inputs["ck1"]), "--metrics", "sink", "-o", str(out), "-q"])
    assert rc == 130
    table = pd.read_csv(out)
    assert len(table) == 1 and table.loc[0, "checkpoint"] == str(inputs["ck0"])
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_bad_inputs(inputs, tmp_path, capsys):
    out = tmp_path / "res.csv"
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    rc = main(["metrics", str(tmp_path / "missing.pt"), str(junk), str(inputs["ck0"]), "--metrics", "sink",
               "-o", str(out), "-q"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "junk.pt" in err
    assert len(pd.read_csv(out)) == 1  # the good checkpoint was still measured
    assert main(["metrics", str(inputs["ck0"]), "--metrics", "sink,bogus", "-o", str(out)]) == 2
    assert "unknown metric" in capsys.readouterr().err
    assert main(["metrics", str(inputs["sd"]), "--metrics", "sink", "-o", str(tmp_path / "x.csv"), "-q"]) == 1
    assert "--arch" in capsys.readouterr().err
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    assert main(["metrics", str(inputs["ck0"]), "--metrics", "sink", "-o", str(foreign)]) == 2
    assert "checkpoint" in capsys.readouterr().err


def test_published_conventions(inputs, tmp_path, capsys):
    out = tmp_path / "pub.csv"
    rc = main(["metrics", str(inputs["ck0"]), "--metrics", "n1,sink,strength", "--conventions", "published",
               "-o", str(out), "-q"])
    assert rc == 0
    row = pd.read_csv(out).iloc[0]
    graph = encoders.encode(inputs["model"], SHAPE, inputs["masks"], pad_nodes=True)
    want = topometrics.compute(graph, "n1,sink,strength", conventions="published")
    assert row["conventions"] == "published" and row["num_nodes"] == graph.num_nodes
    for name in ("n1", "sink", "strength"):
        assert row[name] == pytest.approx(want[name]), name
    # a table holds one convention; a saved graph without padding nodes cannot be measured in published
    assert main(["metrics", str(inputs["ck1"]), "--metrics", "n1", "-o", str(out), "-q"]) == 2
    assert "conventions ['published']" in capsys.readouterr().err
    assert main(["metrics", str(inputs["graph"]), "--metrics", "n1", "--conventions", "published", "-o", str(out), "-q"]) == 1
    assert "pad_nodes=True" in capsys.readouterr().err
def test_encoded_graph_keeps_the_dense_count_and_workers_agree(inputs, tmp_path):
    """A graph written by `topometrics encode -o` records dense_num_edges: effective_sparsity is defined for it."""
    g = tmp_path / "g.npz"
    assert main(["encode", str(inputs["ck0"]), "-q", "-o", str(g)]) == 0
    assert encoders.MultipartiteGraph.load(g).meta["dense_num_edges"] == topometrics.dense_num_edges(inputs["model"], SHAPE)
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    args = [str(inputs["ck0"]), str(g), "--metrics", "sink,effective_sparsity", "-q"]
    assert main(["metrics", *args, "-o", str(one)]) == 0
    assert main(["metrics", *args, "-o", str(two), "-j", "2"]) == 0
    a, b = pd.read_csv(one), pd.read_csv(two)
    assert a.loc[1, "effective_sparsity"] == pytest.approx(a.loc[0, "effective_sparsity"])
    assert {"sink_norm", "effective_sparsity_norm", "achieved_sparsity"} <= set(a.columns)
    cols = [c for c in a.columns if c != "metrics_seconds"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    three = tmp_path / "three.csv"
    assert main(["metrics", *args, "-o", str(three), "--no-normalized"]) == 0
    assert not any(c.endswith("_norm") for c in pd.read_csv(three).columns)
