"""``topometrics grid`` on the batch layer: the same table with one or two local workers and a dask LocalCluster."""

from __future__ import annotations

import pandas as pd

from pruners import load_checkpoint
from pruners.grid import read_results
from topometrics.cli import main

TIMING = ["prune_seconds", "train_seconds"]


def test_same_results_whatever_the_executor(tmp_path):
    base = ["grid", "--archs", "resnet20", "--methods", "dense", "er", "synflow", "--sparsities", "0.9", "0.6",
            "--datasets", "digits", "--seeds", "0", "1", "--input-shape", "1,8,8", "-O", "synflow:iterations=2",
            "--threads", "1"]
    tables = {}
    for name, flags in {"j1": [], "j2": ["-j", "2"], "dask": ["--scheduler", "local", "-j", "2"]}.items():
        out = tmp_path / name
        assert main([*base, "--out", str(out), *flags]) == 0
        df = read_results(out)
        assert len(df) == 2 * (1 + 2 * 2) and set(df["status"]) == {"pruned"}
        tables[name] = df.drop(columns=TIMING)
        if name != "j1":  # same masks, bit for bit
            for rel in df["checkpoint"]:
                a, b = load_checkpoint(tmp_path / "j1" / rel), load_checkpoint(out / rel)
                assert all(bool((a.masks[k] == b.masks[k]).all()) for k in a.masks)
    pd.testing.assert_frame_equal(tables["j1"], tables["j2"])
    pd.testing.assert_frame_equal(tables["j1"], tables["dask"])
