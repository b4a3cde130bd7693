"""Experiment grid: planning, results table, dense baselines, resumability, hooks, CLI."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from pruners import load_checkpoint
from pruners.grid import LOCK_NAME, RESULT_COLUMNS, GridLockedError, fill_dense_accuracy, plan_grid, read_results, run_grid
from topocore.errors import OutputLockedError
from topometrics.cli import main

SHAPE = (1, 8, 8)


def test_plan_grid_order_dense_and_duplicates():
    runs = plan_grid(["resnet20", "Conv-6"], ["dense", "snip", "er"], [0.9, 0.6], ["digits"], [0, 1])
    assert len(runs) == 2 * 2 * (1 + 2 * 2)
    assert runs[0].method == "dense" and runs[0].sparsity == 0.0 and runs[0].arch == "resnet20" and runs[0].seed == 0
    assert [r.method for r in runs[:5]] == ["dense", "snip", "snip", "er", "er"]
    assert runs[-1].arch == "conv6"
    assert len(plan_grid(["resnet20"], ["er", "er"], [0.9, 0.9], ["digits"], [0])) == 1
    assert runs[1].relpath == "checkpoints/digits/resnet20/snip/s0.9-seed0.pt"
    with pytest.raises(ValueError, match="unknown pruning method"):
        plan_grid(["resnet20"], ["obd"], [0.9], ["digits"], [0])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        plan_grid(["resnet20"], ["er"], [1.2], ["digits"], [0])
    with pytest.raises(ValueError, match="unknown data set"):
        plan_grid(["resnet20"], ["er"], [0.5], ["imagenet21k"], [0])


def test_prune_only_grid_resumes_and_calls_hook(tmp_path):
    calls = []

    def hook(path, row):
        calls.append((path, row["method"]))
        ck = load_checkpoint(path)
        return {"kept": int(sum(int(m.sum()) for m in ck.masks.values())), "layers": len(ck.masks)}

    kw = dict(input_shape=SHAPE, prune_options={"synflow": {"iterations": 3}})
    df = run_grid(["resnet20"], ["dense", "er", "synflow"], [0.9], ["digits"], [0], tmp_path, on_result=hook, **kw)
    assert list(df.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS and {"kept", "layers"} <= set(df.columns)
    assert len(df) == 3 and set(df["status"]) == {"pruned"} and df["accuracy"].isna().all()
    assert df.loc[df.method == "dense", "achieved_sparsity"].item() == 0.0
    # the authors' ER keeps its published per-layer densities, close to but not exactly the target
    assert df.loc[df.method == "er", "achieved_sparsity"].item() == pytest.approx(0.9, abs=5e-3)
    for r in df.itertuples():
        assert (tmp_path / r.checkpoint).is_file() and r.hook_status == "ok"
        ck = load_checkpoint(tmp_path / r.checkpoint)
        assert ck.meta["input_shape"] == list(SHAPE) and ck.meta["dataset"] == "digits" and ck.meta["method"] == r.method
    assert len(calls) == 3
    on_disk = read_results(tmp_path)
    assert on_disk[["arch", "method", "status"]].equals(df[["arch", "method", "status"]])
    stamp = {r.checkpoint: (tmp_path / r.checkpoint).stat().st_mtime_ns for r in df.itertuples()}
    # re-running: nothing is redone, the hook is not called again; a new sparsity adds rows only
    df2 = run_grid(["resnet20"], ["dense", "er", "synflow"], [0.9, 0.6], ["digits"], [0], tmp_path, on_result=hook, **kw)
    assert len(df2) == 5 and len(calls) == 5
    for path, t in stamp.items():
        assert (tmp_path / path).stat().st_mtime_ns == t
    # rows outside the current grid are kept
    df3 = run_grid(["resnet20"], ["er"], [0.6], ["digits"], [0], tmp_path, **kw)
    assert len(df3) == 5


def test_failed_hook_is_recorded_and_retried(tmp_path):
    def bad(path, row):
        raise RuntimeError("boom")

    df = run_grid(["resnet20"], ["er"], [0.9], ["digits"], [0], tmp_path, input_shape=SHAPE, on_result=bad)
    assert df["status"].item() == "pruned" and df["hook_status"].item() == "failed" and "boom" in df["hook_error"].item()
    df = run_grid(["resnet20"], ["er"], [0.9], ["digits"], [0], tmp_path, input_shape=SHAPE, on_result=lambda p, r: {"x": 1.5})
    assert df["hook_status"].item() == "ok" and df["x"].item() == 1.5 and df["hook_error"].item() == ""


def test_failed_run_is_recorded_then_retried(tmp_path):
    df = run_grid(["resnet20"], ["er"], [0.9], ["cifar10"], [0], tmp_path / "g", data_root=tmp_path, train=True,
                  train_options={"epochs": 1})
    assert df["status"].item() == "failed" and "cifar-10-batches-py" in df["error"].item()
    with pytest.raises(Exception, match="cifar-10-batches-py"):
        run_grid(["resnet20"], ["er"], [0.9], ["cifar10"], [0], tmp_path / "g", data_root=tmp_path, train=True,
                 train_options={"epochs": 1}, stop_on_error=True)


def test_training_grid_dense_accuracy_and_interrupted_training(tmp_path, monkeypatch):
    import pruners.grid as grid_mod

    opts = dict(input_shape=SHAPE, train=True, train_options={"epochs": 3, "batch_size": 64, "lr": 0.05})
    real_train = grid_mod.train
    calls = {"n": 0, "results": []}

    class Stop(KeyboardInterrupt):  # as if the user pressed Ctrl-C
        pass

    def interrupted_second(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the erk run: interrupted during epoch 2 (epoch 1 is checkpointed)
            def stop(record):
                if record["epoch"] == 2:
                    raise Stop
            k = {**k, "on_epoch": stop}
        result = real_train(*a, **k)
        calls["results"].append(result)
        return result

    monkeypatch.setattr(grid_mod, "train", interrupted_second)
    with pytest.raises(Stop):
        run_grid(["resnet20"], ["dense", "erk"], [0.9], ["synthetic"], [0], tmp_path, **opts)
    table = read_results(tmp_path)
    assert len(table) == 1 and table["method"].item() == "dense" and table["status"].item() == "trained"
    erk_path = tmp_path / "checkpoints/synthetic/resnet20/erk/s0.9-seed0.pt"
    assert load_checkpoint(erk_path).training_state["epoch"] == 1
    df = run_grid(["resnet20"], ["dense", "erk"], [0.9], ["synthetic"], [0], tmp_path, **opts)
    assert calls["results"][-1].resumed_from == 1 and calls["n"] == 3  # only erk ran again, from epoch 1
    assert list(df["status"]) == ["trained", "trained"]
    dense_acc = df.loc[df.method == "dense", "accuracy"].item()
    assert 0.3 < dense_acc <= 1.0  # chance is 0.1
    assert (df["dense_accuracy"] == dense_acc).all()
    ck = load_checkpoint(erk_path)
    assert ck.meta["accuracy"] == df.loc[df.method == "erk", "accuracy"].item() and ck.meta["dense_accuracy"] == dense_acc
    assert ck.meta["trained_epochs"] == 3 and ck.training_state is None
    assert abs(ck.sparsity - 0.9) < 1e-4
    with pytest.raises(ValueError, match="trained for 3 epochs"):
        run_grid(["resnet20"], ["erk"], [0.9], ["synthetic"], [0], tmp_path, input_shape=SHAPE, train=True, train_options={"epochs": 4})


def test_fill_dense_accuracy_rules(tmp_path):
    df = pd.DataFrame([
        {"arch": "resnet20", "dataset": "cifar10", "method": "dense", "sparsity": 0.0, "seed": 0, "accuracy": 0.9},
        {"arch": "resnet20", "dataset": "cifar10", "method": "dense", "sparsity": 0.0, "seed": 1, "accuracy": 0.8},
        {"arch": "resnet20", "dataset": "cifar10", "method": "snip", "sparsity": 0.9, "seed": 1, "accuracy": 0.7},
        {"arch": "resnet20", "dataset": "cifar10", "method": "snip", "sparsity": 0.9, "seed": 2, "accuracy": 0.7},
        {"arch": "conv6", "dataset": "cifar10", "method": "snip", "sparsity": 0.9, "seed": 0, "accuracy": 0.7},
        {"arch": "conv6", "dataset": "cifar100", "method": "snip", "sparsity": 0.9, "seed": 0, "accuracy": 0.5},
    ])
    ref = pd.DataFrame({"dataset": ["cifar10"], "arch": ["conv6"], "acc_mean": [93.2], "acc_std": [0.0]})
    out = fill_dense_accuracy(df, ref)
    assert out["dense_accuracy"].tolist()[:5] == [0.9, 0.8, 0.8, pytest.approx(0.85), pytest.approx(0.932)]
    assert math.isnan(out["dense_accuracy"].iloc[5])
    ref.to_csv(tmp_path / "ref.csv", index=False)
    assert fill_dense_accuracy(df, tmp_path / "ref.csv")["dense_accuracy"].iloc[4] == pytest.approx(0.932)
    with pytest.raises(ValueError, match="dense_reference"):
        fill_dense_accuracy(df, pd.DataFrame({"dataset": ["cifar10"]}))


def test_paper_dense_table_as_reference(reference_dir):
    ref = pd.read_csv(reference_dir / "dense_accuracy.csv")
    df = pd.DataFrame([{"arch": "wrn28_2", "dataset": "cifar10", "method": "er", "sparsity": 0.9, "seed": 0, "accuracy": 0.9}])
    expected = ref[(ref.dataset == "cifar10") & (ref.arch == "wrn28_2")]["acc_mean"].item() / 100
    assert fill_dense_accuracy(df, ref)["dense_accuracy"].item() == pytest.approx(expected)


def test_second_grid_on_the_same_folder_fails_at_once(tmp_path):
    """Two processes: while one grid runs (held inside its hook), another on the same folder
    raises OutputLockedError naming the lock file before doing any work."""
    out = tmp_path / "g"
    code = textwrap.dedent(f"""
        import pathlib, time
        from pruners.grid import run_grid
        flags = pathlib.Path({str(tmp_path)!r})
        def hook(path, row):
            (flags / "started").touch()
            deadline = time.time() + 300
            while not (flags / "release").exists() and time.time() < deadline:
                time.sleep(0.05)
            return {{"held": 1}}
        run_grid(["resnet20"], ["er"], [0.9], ["digits"], [0], {str(out)!r}, input_shape=(1, 8, 8), on_result=hook,
                 progress=False)
    """)
    first = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not (tmp_path / "started").exists():
            assert first.poll() is None, first.communicate()[1][-3000:]
            assert time.time() < deadline, "the first grid never reached its hook"
            time.sleep(0.05)
        calls = []
        with pytest.raises(OutputLockedError, match=re.escape(str(out / LOCK_NAME))):
            run_grid(["resnet20"], ["er", "magnitude"], [0.9], ["digits"], [0], out, input_shape=SHAPE,
                     on_result=lambda p, r: calls.append(p) or {})
        assert calls == [] and not (out / "checkpoints/digits/resnet20/magnitude").exists()
        assert GridLockedError is OutputLockedError  # the former name stays importable
    finally:
        (tmp_path / "release").touch()
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    # the lock went with its process: the folder is free again (a left-over lock file does not block)
    df = run_grid(["resnet20"], ["er"], [0.9], ["digits"], [0], out, input_shape=SHAPE)
    assert len(df) == 1 and df["held"].item() == 1 and df["status"].item() == "pruned"


def test_grid_cli(tmp_path, capsys):
    out = tmp_path / "g"
    args = ["grid", "--archs", "resnet20,conv6", "--methods", "er", "magnitude", "--sparsities", "0.6,0.98",
            "--datasets", "synthetic", "--seeds", "0", "--input-shape", "1,8,8", "--out", str(out), "--threads", "1"]
    assert main(args) == 0
    assert "8 runs" in capsys.readouterr().out
    df = read_results(out)
    assert len(df) == 8 and set(df["status"]) == {"pruned"}
    assert main(args) == 0  # resumed: nothing to do
    assert main(["grid", "--archs", "resnet20", "--methods", "synflow", "--sparsities", "0.5", "--datasets", "digits",
                 "--input-shape", "1,8,8", "--out", str(out), "-O", "synflow:iterations=2", "--train", "--epochs", "1",
                 "--threads", "1"]) == 0
    row = read_results(out).query("method == 'synflow'")
    assert row["status"].item() == "trained" and 0 <= row["accuracy"].item() <= 1
    assert main(["grid", "--archs", "resnet20", "--methods", "er", "--sparsities", "0.5", "--datasets", "cifar10",
                 "--data-root", str(tmp_path), "--out", str(out), "--train", "--epochs", "1", "--threads", "1"]) == 1
    assert "failed" in capsys.readouterr().out
    assert main(["grid", "--archs", "resnet20", "--methods", "er", "--sparsities", "x", "--datasets", "digits",
                 "--out", str(out), "--threads", "1"]) == 2


def _metrics_available() -> bool:
    try:
        import topometrics
        from encoders import encode  # noqa: F401

        return callable(topometrics.compute) and callable(topometrics.dense_num_edges)
    except (ImportError, AttributeError):
        return False


@pytest.mark.skipif(not _metrics_available(), reason="encoders.encode / topometrics.compute not available")
def test_grid_cli_metrics(tmp_path):
    out = tmp_path / "m"
    assert main(["grid", "--archs", "resnet20", "--methods", "er", "--sparsities", "0.9", "--datasets", "synthetic",
                 "--input-shape", "1,8,8", "--out", str(out), "--metrics", "--metric-names", "sink,components,effective_sparsity",
                 "--threads", "1"]) == 0
    df = read_results(out)
    assert df["hook_status"].item() == "ok", df["hook_error"].item()
    assert {"sink", "components", "effective_sparsity", "num_nodes", "num_edges", "dense_num_edges"} <= set(df.columns)
    assert df["dense_num_edges"].item() > df["num_edges"].item()
    assert df["components"].item() >= 1 and df["num_edges"].item() > 0
    assert 0.0 <= df["effective_sparsity"].item() <= 1.0
    assert main(["grid", "--archs", "resnet20", "--methods", "er", "--sparsities", "0.9", "--datasets", "synthetic",
                 "--out", str(out), "--metrics", "--metric-names", "bogus", "--threads", "1"]) == 2


@pytest.mark.skipif(not _metrics_available(), reason="encoders.encode / topometrics.compute not available")
def test_grid_cli_metrics_published_conventions(tmp_path):
    """--conventions published: the first layer's padding positions are nodes, n1 counts the node itself."""
    ours, pub = tmp_path / "ours", tmp_path / "pub"
    args = ["grid", "--archs", "resnet20", "--methods", "uniform", "--sparsities", "0.9", "--datasets", "synthetic",
            "--input-shape", "1,8,8", "--metrics", "--metric-names", "n1,sink", "--threads", "1"]
    assert main([*args, "--out", str(ours)]) == 0
    assert main([*args, "--out", str(pub), "--conventions", "published"]) == 0
    a, b = read_results(ours), read_results(pub)
    assert b["hook_status"].item() == "ok", b["hook_error"].item()
    assert "conventions" not in a.columns and b["conventions"].item() == "published"
    assert b["num_nodes"].item() == a["num_nodes"].item() + 1 * 10 * 10 - 1 * 8 * 8  # 1x8x8 input padded by 1
    assert b["n1"].item() >= 1.0  # every node counts itself
    assert b["n1_norm"].item() == pytest.approx(b["n1"].item() / b["num_edges"].item())
