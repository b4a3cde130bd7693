"""topometrics.describe_many / topometrics.workflows.measure: many inputs, one row each."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

import encoders
import pruners
import topometrics
from pruners.models import build
from topocore.errors import CheckpointError, DataNotFoundError, InputError
from topometrics.describe import ROLLED_BASELINES
from topometrics.workflows import describe_many, iter_describe, load_network

SHAPE = (3, 8, 8)
FEW = ["sink", "n1", "components", "effective_sparsity"]


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3)
        self.fc = nn.Linear(4 * 3 * 3, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv1(x)), 1))


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("nets")
    out = {}
    for seed, sparsity in ((0, 0.9), (1, 0.98)):
        model = build("resnet20", 10, SHAPE, random_state=seed)
        masks = pruners.prune(model, "uniform", sparsity, random_state=seed)
        meta = {"arch": "resnet20", "num_classes": 10, "input_shape": list(SHAPE), "method": "uniform",
                "sparsity": sparsity, "seed": seed, "dataset": "cifar10", "accuracy": 0.5}
        out[f"ck{seed}"] = pruners.save_checkpoint(d / f"ck{seed}.pt", model, masks, meta)
        out[f"model{seed}"], out[f"masks{seed}"] = model, masks
    graph = encoders.encode(out["model0"], SHAPE, out["masks0"])
    out["graph"] = graph
    out["npz"] = graph.save(d / "g0.npz")
    return out


def _same(a, b):
    assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=0), (a, b)


def test_pairs_match_describe_one_row_each(nets):
    table = describe_many([(nets["model0"], nets["masks0"]), (nets["model1"], nets["masks1"])], metrics=FEW,
                          input_shape=SHAPE, progress=False)
    assert list(table.index) == [0, 1]
    assert "checkpoint" not in table.columns  # no item is a path
    for i in (0, 1):
        want = topometrics.describe(nets[f"model{i}"], SHAPE, nets[f"masks{i}"], metrics=FEW)
        row = table.loc[i]
        assert row["achieved_sparsity"] == pytest.approx(want["sparsity"])
        for name in want.index.drop("sparsity"):
            _same(float(row[name]), float(want[name]))
    assert table["num_edges"].dtype.kind == "i" and table["num_nodes"].dtype.kind == "i"
    # the notebook one-liner: model + masks -> one DataFrame row
    one = topometrics.describe_many([(nets["model0"], nets["masks0"])], metrics=FEW, input_shape=SHAPE, progress=False)
    pd.testing.assert_frame_equal(one, table.iloc[:1])


def test_checkpoints_graphs_and_metadata_columns(nets):
    with pytest.warns(topometrics.MissingDenseCountWarning):  # the saved graph has no dense edge count
        table = describe_many([nets["ck0"], nets["npz"], str(nets["ck1"])], metrics=FEW, progress=False, timings=True)
    cols = list(table.columns)
    assert cols[0] == "checkpoint" and cols[-1] == "metrics_seconds"
    # metadata first, in the documented order, then the measurements
    assert cols.index("arch") < cols.index("dataset") < cols.index("method") < cols.index("sparsity") < cols.index("num_nodes")
    assert cols.index("num_nodes") < cols.index("sink") < cols.index("sink_norm")
    assert table.loc[0, "checkpoint"] == str(nets["ck0"]) and table.loc[0, "sparsity"] == 0.9  # requested sparsity
    assert table.loc[0, "input_shape"] == "3,8,8"
    want = topometrics.describe(nets["model0"], SHAPE, nets["masks0"], metrics=FEW)
    assert table.loc[0, "achieved_sparsity"] == pytest.approx(want["sparsity"])
    for name in FEW + [f"{m}_norm" for m in FEW]:
        _same(float(table.loc[0, name]), float(want[name]))
    # the saved graph: the same measurements, but no dense edge count (effective_sparsity NaN)
    g = topometrics.describe_graph(nets["graph"], metrics=FEW)
    for name in ("num_nodes", "num_edges", "sink", "n1", "components"):
        _same(float(table.loc[1, name]), float(g[name]))
    assert math.isnan(table.loc[1, "effective_sparsity"]) and math.isnan(table.loc[1, "dense_num_edges"])
    assert table.loc[2, "seed"] == 1 and table.loc[2, "sparsity"] == 0.98


def test_rolled_baselines_and_graph_refusal(nets):
    table = describe_many([nets["ck0"]], metrics=["n1"], rolled="baselines", normalized=False, progress=False)
    want = topometrics.describe(nets["model0"], SHAPE, nets["masks0"], metrics=["n1"], rolled="baselines",
                                normalized=False)
    for name in ROLLED_BASELINES:
        _same(float(table.loc[0, name]), float(want[name]))
    assert "n1_norm" not in table.columns
    with pytest.raises(InputError, match="rolled baselines need the model"):
        describe_many([nets["npz"]], rolled=True, progress=False)


def test_errors_raise_skip_and_iter(nets, tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(DataNotFoundError, match="does not exist"):
        describe_many([nets["ck0"], missing], metrics=["sink"], progress=False)
    kept = describe_many([missing, nets["ck0"]], metrics=["sink"], progress=False, errors="skip")
    assert list(kept.index) == [1]
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    results = list(iter_describe([junk, nets["ck1"]], metrics=["sink"], progress=False))
    assert isinstance(results[0].error, CheckpointError) and results[0].row is None
    assert results[1].error is None and results[1].row["seed"] == 1
    with pytest.raises(InputError, match="unknown metric"):
        describe_many([nets["ck0"]], metrics=["bogus"], progress=False)
    with pytest.raises(InputError, match="input shape"):
        describe_many([(nets["model0"], nets["masks0"])], metrics=["sink"], progress=False)
    with pytest.raises(InputError, match="rolled must be"):
        describe_many([nets["ck0"]], rolled=1, progress=False, errors="skip")
    with pytest.raises(InputError, match="errors must be"):
        describe_many([], errors="ignore")
    with pytest.raises(InputError, match="cannot measure a int"):
        describe_many([3], progress=False)


@pytest.mark.filterwarnings("ignore::topometrics.paths.MissingDenseCountWarning")
def test_worker_processes_give_the_same_rows(nets):
    items = [nets["ck0"], nets["ck1"], nets["npz"]]
    one = describe_many(items, metrics=FEW, progress=False)
    two = describe_many(items, metrics=FEW, progress=False, n_jobs=2)
    pd.testing.assert_frame_equal(one, two)


def test_state_dicts_other_models_and_triples(tmp_path):
    torch.manual_seed(0)
    model = TinyCNN()
    masks = pruners.prune(model, "uniform", 0.5, random_state=1)
    want = topometrics.describe(model, (2, 5, 5), masks, metrics=["n1", "sink"])
    table = describe_many([(model, masks, {"method": "uniform", "input_shape": [2, 5, 5]}), model],
                          metrics=["n1", "sink"], progress=False, input_shape=None, errors="skip")
    assert list(table.index) == [0]  # the bare model has no input shape: skipped
    assert table.loc[0, "method"] == "uniform" and table.loc[0, "n1"] == want["n1"]
    # a plain state dict needs the model (arch=); its masks come with it
    path = tmp_path / "sd.pt"
    r20 = build("resnet20", 10, SHAPE, random_state=2)
    r20_masks = pruners.prune(r20, "uniform", 0.9, random_state=2)
    torch.save({"state_dict": r20.state_dict(), "masks": r20_masks}, path)
    with pytest.raises(InputError, match="plain state dict"):
        load_network(path)
    row = describe_many([path], arch="resnet20", input_shape=SHAPE, metrics=["n1"], progress=False).iloc[0]
    assert row["arch"] == "resnet20" and row["n1"] == topometrics.describe(r20, SHAPE, r20_masks, metrics=["n1"])["n1"]
    assert np.isclose(row["achieved_sparsity"], 0.9, atol=2e-3)


def test_lazy_exports():
    import topometrics.workflows as wf
    from topometrics.workflows.measure import describe_many as direct

    assert topometrics.describe_many is direct and wf.describe_many is direct
    assert topometrics.RankJob is wf.RankJob
    with pytest.raises(AttributeError):
        wf.not_a_name  # noqa: B018
