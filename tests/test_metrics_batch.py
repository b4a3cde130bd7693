"""``topometrics metrics`` on the batch layer (issue 12; issue 11 items 5, 6 and 12).

* a failing input (NaN weights, a missing file) is a row with its error, the others are measured, exit 1;
  NaN/inf weights are named before any kernel runs;
* a second run on the same output is refused at once, naming the lock;
* a resumed table is identical to an uninterrupted one (floats re-read with ``round_trip``);
* local -j 1, local -j 2 and a dask LocalCluster of 2 workers write identical tables apart from timings.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import encoders
import pruners
from pruners import save_checkpoint
from pruners.models import get_model
from topocore.io import output_lock
from topometrics.cli import main

SHAPE = (3, 8, 8)
FEW = "sink,source,n1,log_paths,effective_sparsity"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("batch-ckpts")
    paths = {}
    for seed, sparsity in ((0, 0.9), (1, 0.98)):
        model = get_model("resnet20", 10, SHAPE)
        masks = pruners.prune(model, "uniform", sparsity, random_state=seed)
        meta = {"arch": "resnet20", "num_classes": 10, "input_shape": list(SHAPE), "method": "uniform",
                "sparsity": sparsity, "seed": seed, "dataset": "cifar10"}
        paths[f"ck{seed}"] = save_checkpoint(d / f"ck{seed}.pt", model, masks, meta)
        if seed == 0:
            paths["graph"] = encoders.encode(model, SHAPE, masks).save(d / "g0.npz")
            with torch.no_grad():
                model.conv1.weight[0, 0, 0, 0] = float("nan")
                model.linear.weight[1, 2] = float("inf")
            paths["nan"] = save_checkpoint(d / "nan.pt", model, masks, meta)
    return paths


def test_a_failing_input_is_a_row_and_the_rest_are_measured(inputs, tmp_path, capsys):
    out = tmp_path / "r.csv"
    missing = tmp_path / "missing.pt"
    rc = main(["metrics", str(inputs["ck0"]), str(inputs["nan"]), str(missing), str(inputs["ck1"]), "--metrics", FEW,
               "-o", str(out), "-q"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "ARPACK" not in err
    nan_lines = [line for line in err.splitlines() if "nan.pt" in line]
    assert len(nan_lines) == 1 and "conv1.weight holds 1 NaN/inf values" in nan_lines[0]
    table = pd.read_csv(out, keep_default_na=False)
    assert table["checkpoint"].tolist() == [str(inputs["ck0"]), str(inputs["nan"]), str(missing), str(inputs["ck1"])]
    assert "NaN/inf" in table.loc[1, "error"] and "does not exist" in table.loc[2, "error"]
    assert table.loc[0, "error"] == "" and table.loc[3, "error"] == ""
    assert table.loc[0, "sink"] != "" and table.loc[3, "sink"] != "" and table.loc[1, "sink"] == ""
    # a re-run measures only the failed inputs again (still failing: still one row each)
    assert main(["metrics", str(inputs["ck0"]), str(inputs["nan"]), str(inputs["ck1"]), "--metrics", FEW,
                 "-o", str(out), "-q"]) == 1
    assert len(pd.read_csv(out)) == 4


def test_describe_many_refuses_nan_weights_before_encoding(inputs, monkeypatch):
    import topometrics

    called = []
    monkeypatch.setattr(encoders, "encode", lambda *a, **k: called.append(1))
    with pytest.raises(ValueError, match="NaN/inf"):
        topometrics.describe_many([inputs["nan"]], metrics="sink", progress=False)
    assert called == []


def test_second_run_on_the_same_output_is_refused(inputs, tmp_path, capsys):
    out = tmp_path / "r.csv"
    with output_lock(out):  # as if another `metrics` were writing it
        assert main(["metrics", str(inputs["ck0"]), "--metrics", "sink", "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out}.lock" in err[0] and "another process" in err[0]
    assert not out.exists()
    assert main(["metrics", str(inputs["ck0"]), "--metrics", "sink", "-o", str(out), "-q"]) == 0  # free again


def _without_timings(path):
    return pd.read_csv(path, float_precision="round_trip").drop(columns=["metrics_seconds"]).to_csv(index=False)


def test_resumed_table_is_identical_to_a_fresh_one(inputs, tmp_path):
    fresh, resumed = tmp_path / "fresh.csv", tmp_path / "resumed.csv"
    items = [str(inputs["ck0"]), str(inputs["graph"]), str(inputs["ck1"])]
    assert main(["metrics", *items, "-o", str(fresh), "-q"]) == 0
    assert main(["metrics", items[0], "-o", str(resumed), "-q"]) == 0
    assert main(["metrics", *items, "-o", str(resumed), "-q"]) == 0
    assert _without_timings(fresh) == _without_timings(resumed)
    # the timing column too: the resumed row is written back bit for bit
    a, b = (pd.read_csv(p, float_precision="round_trip") for p in (fresh, resumed))
    assert a.columns.tolist() == b.columns.tolist() and len(b) == 3


def test_same_table_with_one_or_two_local_workers_and_a_dask_cluster(inputs, tmp_path):
    items = [str(inputs["ck0"]), str(inputs["graph"]), str(inputs["nan"]), str(inputs["ck1"])]
    runs = {"j1": ["-j", "1"], "j2": ["-j", "2"], "dask": ["--scheduler", "local", "-j", "2"]}
    tables = {}
    for name, flags in runs.items():
        out = tmp_path / f"{name}.csv"
        assert main(["metrics", *items, "--metrics", FEW, "-o", str(out), "-q", *flags]) == 1  # nan.pt fails
        tables[name] = _without_timings(out)
    assert tables["j1"] == tables["j2"] == tables["dask"]
    assert len(pd.read_csv(tmp_path / "dask.csv")) == 4
