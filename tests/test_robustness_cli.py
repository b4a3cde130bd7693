"""``topometrics robustness`` end to end: outputs, resuming, and bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pruners import build, prune, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
SHAPE = (1, 8, 8)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, "-m", "topometrics", "robustness", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def _checkpoint(path: Path, method: str, seed: int, *, masks_none: bool = False, shape=SHAPE) -> Path:
    model = build("resnet20", 10, shape, random_state=seed)
    masks = prune(model, method, 0.9, random_state=seed, input_shape=shape)
    meta = {"arch": "resnet20", "num_classes": 10, "input_shape": list(shape), "method": method, "sparsity": 0.9,
            "seed": seed, "dataset": "digits"}
    if masks_none:  # weights with exact zeros and no masks (all-True masks are stored)
        from pruners import apply_masks, remove_masks

        apply_masks(model, masks)
        remove_masks(model)
        masks = None
    return save_checkpoint(path, model, masks, meta)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpts")
    return [
        _checkpoint(folder / "random-s0.pt", "random", 0),
        _checkpoint(folder / "random-s1.pt", "random", 1),
        _checkpoint(folder / "magnitude-s0.pt", "magnitude", 0),
    ]


ARGS = ("--dataset", "digits", "--perturbations", "random_removal,reverse_weight_order_removal", "--fractions", "0,0.5,0.9",
        "--repeats", "2", "-q")


@pytest.fixture(scope="module")
def swept(checkpoints, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("run")
    done = _cli(*map(str, checkpoints), *ARGS, "--out", "out", cwd=cwd)
    assert done.returncode == 0, done.stderr
    (cwd / "first-robustness.csv").write_bytes((cwd / "out" / "robustness.csv").read_bytes())  # before later tests edit it
    return cwd / "out", done


def test_a_dask_cluster_gives_the_same_table(swept, checkpoints, tmp_path):
    """The curves are batch-layer tasks: two dask worker processes write the table this process wrote."""
    out, _ = swept
    done = _cli(*map(str, checkpoints), *ARGS, "--out", str(tmp_path / "dask"), "--scheduler", "local", "-j", "2",
                cwd=out.parent)
    assert done.returncode == 0, done.stderr
    first = pd.read_csv(out.parent / "first-robustness.csv", float_precision="round_trip")
    again = pd.read_csv(tmp_path / "dask" / "robustness.csv", float_precision="round_trip")
    pd.testing.assert_frame_equal(first.drop(columns=["checkpoint_key"]), again.drop(columns=["checkpoint_key"]))
    assert "12 curves computed" in done.stdout


def test_outputs(swept, checkpoints):
    out, done = swept
    table = pd.read_csv(out / "robustness.csv")
    assert len(table) == 3 * 2 * 2 * 3
    assert set(table["group"]) == {"random", "magnitude"}
    assert set(table["seed"]) == {0, 1}
    png = out / "robustness.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "BatchNorm statistics are not recomputed" in report and "AUC" in report and "f50" in report
    assert "| random | random_removal | 4 |" in report  # 2 seeds x 2 repeats in one group
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["perturbation"]) == {"random_removal", "reverse_weight_order_removal"}
    assert "random_removal" in done.stdout and "12 curves computed" in done.stdout


def test_resume_skips_finished_curves_and_keeps_rows(swept, checkpoints):
    out, _ = swept
    before = pd.read_csv(out / "robustness.csv")
    # drop one finished curve (as if the run had been interrupted) and add a repeat
    key = before["checkpoint_key"].iloc[0]
    cut = before[~((before["checkpoint_key"] == key) & (before["perturbation"] == "random_removal") & (before["repeat"] == 1))]
    cut.to_csv(out / "robustness.csv", index=False)
    args = [a if a != "2" else "3" for a in ARGS]
    done = _cli(*map(str, checkpoints), *args, "--out", str(out), cwd=out.parent)
    assert done.returncode == 0, done.stderr
    assert "7 curves computed, 11 resumed" in done.stdout  # the dropped one and 3 x 2 new repeats
    after = pd.read_csv(out / "robustness.csv")
    assert len(after) == 3 * 2 * 3 * 3
    merged = before.merge(after, on=["checkpoint_key", "perturbation", "repeat", "fraction"], suffixes=("", "_new"))
    assert len(merged) == len(before)
    np.testing.assert_array_equal(merged["accuracy"], merged["accuracy_new"])  # same seeds: same rows


def test_other_settings_are_refused_on_resume(swept, checkpoints):
    out, _ = swept
    before = (out / "robustness.csv").read_bytes()
    done = _cli(*map(str, checkpoints), "--dataset", "digits", "--fractions", "0,0.3", "--repeats", "1", "--out", str(out),
                cwd=out.parent)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "other settings" in lines[0] and "fractions" in lines[0]
    assert (out / "robustness.csv").read_bytes() == before


def test_checkpoint_without_masks_treats_zeros_as_pruned(tmp_path):
    ck = _checkpoint(tmp_path / "nomask.pt", "magnitude", 0, masks_none=True)
    done = _cli(str(ck), "--dataset", "digits", "--perturbations", "random_removal", "--fractions", "0,0.5",
                "--repeats", "1", "-q", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "out" / "robustness.csv")
    assert (table["zeros_as_pruned"] > 0).all()
    report = (tmp_path / "out" / "report.md").read_text()
    assert "treated as pruned" in report


def _fake_cifar(root: Path) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": list(range(10)) * 2}, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, fh)


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--fractions", "0,0.5,1.5"), "fraction 1.5 is outside [0, 1]"),
        (("--fractions", "0,0.5,0.3"), "strictly increasing"),
        (("--fractions", "0,a"), "comma-separated numbers"),
        (("--perturbations", "random_removal,prune_all"),
         "unknown perturbation 'prune_all'; known: random_removal, weight_order_removal, reverse_weight_order_removal, "
         "shuffle, noise"),
        (("--repeats", "0"), "repeats must be a positive integer"),
        (("--dataset", "imagenet21k"), "imagenet21k"),
        (("--metrics", "sink,nonsense"), "nonsense"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(checkpoints, tmp_path, capsys, extra, message):
    """In-process (topometrics.cli.main: parsing, the command, the error printer); the subprocess tests below
    check the same contract from a real process."""
    from topometrics.cli import main

    args = ["--dataset", "digits", *extra] if "--dataset" not in extra else list(extra)
    status = main(["robustness", str(checkpoints[0]), *args, "--out", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("topometrics robustness: error: "), err
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_data_of_the_wrong_shape_exit_2_nothing_written(checkpoints, tmp_path):
    _fake_cifar(tmp_path / "data")
    done = _cli(str(checkpoints[0]), "--dataset", "cifar10", "--data-root", str(tmp_path / "data"), "--out", "out",
                cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "(3, 32, 32)" in lines[0] and "(1, 8, 8)" in lines[0], done.stderr
    assert not (tmp_path / "out").exists()


def test_missing_and_corrupt_checkpoints_exit_2(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    for name in ("missing.pt", "bad.pt"):
        done = _cli(name, "--dataset", "digits", "--out", "out", cwd=tmp_path)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert not (tmp_path / "out").exists()


def test_a_failing_curve_is_recorded_the_others_finish_and_a_rerun_completes(checkpoints, tmp_path, monkeypatch):
    """Curves are batch tasks: one that raises becomes a row with its error, the report uses the finished ones,
    and a rerun runs only that curve, giving the table of an uninterrupted run."""
    from topometrics.workflows import robustness as rob

    options = dict(dataset="digits", perturbations="random_removal", fractions=[0.0, 0.5], repeats=2, progress=False)
    real = rob.curve_task

    def flaky(spec):
        if spec["repeat"] == 1 and spec["checkpoint"] == str(checkpoints[0]):
            raise RuntimeError("simulated failure of one curve")
        return real(spec)

    monkeypatch.setattr(rob, "curve_task", flaky)
    first = rob.run_robustness(checkpoints[:2], out=tmp_path / "out", **options)
    assert first.failed == 1 and "simulated failure" in first.failures[0].message
    table = pd.read_csv(tmp_path / "out" / "robustness.csv", keep_default_na=False)
    bad = table[table["error"] != ""]
    assert len(bad) == 1 and bad["repeat"].tolist() == [1] and bad["accuracy"].tolist() == [""]
    assert len(first.table) == 3 * 2  # the finished curves only
    assert (tmp_path / "out" / "report.md").exists()
    monkeypatch.setattr(rob, "curve_task", real)
    second = rob.run_robustness(checkpoints[:2], out=tmp_path / "out", **options)
    assert (second.computed, second.skipped, second.failed) == (1, 3, 0)
    fresh = rob.run_robustness(checkpoints[:2], out=tmp_path / "fresh", **options)
    assert (fresh.computed, fresh.failed) == (4, 0)
    # the same values (a column that held the failed row's empty cells reads back as float: compare values)
    resumed = pd.read_csv(tmp_path / "out" / "robustness.csv", float_precision="round_trip")
    uninterrupted = pd.read_csv(tmp_path / "fresh" / "robustness.csv", float_precision="round_trip")
    pd.testing.assert_frame_equal(resumed, uninterrupted, check_dtype=False)
