"""The shared primitives: errors, names, masks validator, atomic writes, output lock, threads."""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from topocore import errors, io, masks, names, parallel, random as trandom


def test_error_hierarchy_is_value_error():
    for cls in (errors.InputError, errors.MaskError, errors.CheckpointError, errors.DataNotFoundError,
                errors.DataMismatchError, errors.UnsupportedLayerError, errors.ResourceLimitError,
                errors.OutputLockedError):
        assert issubclass(cls, errors.TopometricsError)
        assert issubclass(cls, ValueError)
    assert issubclass(errors.DataNotFoundError, FileNotFoundError)


@pytest.mark.parametrize("spelling, canonical", [
    ("CIFAR_10", "cifar10"), ("cifar-10", "cifar10"), ("Tiny ImageNet", "tinyimagenet"),
    ("tiny-imagenet-200", "tinyimagenet"), ("CIFAR-100", "cifar100"), ("Digits", "digits"),
])
def test_dataset_aliases(spelling, canonical):
    assert names.canonical_dataset(spelling) == canonical


@pytest.mark.parametrize("spelling, canonical", [
    ("Wide-Resnet-28-2", "wrn28_2"), ("WRN_28_2", "wrn28_2"), ("CONV-6", "conv6"), ("Resnet-20", "resnet20"),
])
def test_arch_aliases(spelling, canonical):
    assert names.canonical_arch(spelling) == canonical


def test_unknown_names_list_the_known_ones():
    with pytest.raises(errors.InputError, match="cifar10"):
        names.canonical_dataset("imagenet21k")
    with pytest.raises(errors.InputError, match="synflow"):
        names.canonical_method("lottery")
    assert names.canonical_method("lottery", extra=["lottery"]) == "lottery"
    assert names.canonical_arch("mynet", strict=False) == "mynet"


def test_method_aliases_and_class_counts():
    assert names.canonical_method("Erdos-Renyi-Kernel") == "erk"
    assert names.canonical_method("SynFlow") == "synflow"
    assert names.canonical_method("DENSE") == "dense"
    assert names.num_classes_of("Tiny ImageNet") == 200
    assert names.input_shape_of("cifar100") == (3, 32, 32)
    assert len(names.PAPER_METRICS) == 16 and set(names.PAPER_METRICS) <= set(names.METRIC_CATEGORIES)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(4, 3)


def test_validator_accepts_buffer_keys_and_exact_binary_values():
    net = _Net()
    out = masks.validate_masks(net, {"conv.weight_mask": torch.ones(2, 1, 3, 3), "fc.weight": np.ones((3, 4), bool)})
    assert list(out) == ["conv.weight", "fc.weight"]
    assert all(m.dtype == torch.bool for m in out.values())


@pytest.mark.parametrize("bad, match", [
    ({"conv.weight": torch.full((2, 1, 3, 3), 0.5)}, "0.5"),
    ({"conv.weight": torch.full((2, 1, 3, 3), float("nan"))}, "nan"),
    ({"conv.weight": torch.ones(2, 1, 3)}, "shape"),
    ({"conv.weight_orig": torch.ones(2, 1, 3, 3)}, "use the parameter name 'conv.weight'"),
    ({"conv.bias": torch.ones(2)}, "not a prunable parameter"),
    ({"conv.weight": torch.ones(2, 1, 3, 3, dtype=torch.bool), "conv.weight_mask": torch.ones(2, 1, 3, 3)}, "twice"),
    ({"conv.weight": [1, 0]}, "list"),
])
def test_validator_refuses(bad, match):
    with pytest.raises(errors.MaskError, match=match):
        masks.validate_masks(_Net(), bad)


def test_validator_missing_policies():
    net = _Net()
    given = {"conv.weight": torch.ones(2, 1, 3, 3, dtype=torch.bool)}
    assert list(masks.validate_masks(net, given)) == ["conv.weight"]
    assert bool(masks.validate_masks(net, given, missing="dense")["fc.weight"].all())
    with pytest.raises(errors.MaskError, match="fc.weight.*--missing-masks dense"):
        masks.validate_masks(net, given, missing="error")


def test_atomic_write_leaves_no_temporary_and_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "t.csv"
    io.atomic_write_csv(target, pd.DataFrame({"a": [1.5, 2.0]}))
    assert pd.read_csv(target)["a"].tolist() == [1.5, 2.0]

    def boom(fh):
        fh.write("partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        io.atomic_write(target, boom, mode="w")
    assert pd.read_csv(target)["a"].tolist() == [1.5, 2.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def _try_lock(path, queue):
    try:
        with io.output_lock(path):
            queue.put("acquired")
    except errors.OutputLockedError as exc:
        queue.put(str(exc))


def test_output_lock_excludes_a_second_process(tmp_path):
    target = tmp_path / "results.csv"
    ctx = mp.get_context("spawn")
    with io.output_lock(target) as lock_file:
        q = ctx.Queue()
        p = ctx.Process(target=_try_lock, args=(target, q))
        p.start()
        p.join(60)
        message = q.get(timeout=5)
    assert "another process" in message and str(lock_file) in message
    q = ctx.Queue()
    p = ctx.Process(target=_try_lock, args=(target, q))
    p.start()
    p.join(60)
    assert q.get(timeout=5) == "acquired"


def test_check_writable(tmp_path):
    assert io.check_writable(tmp_path / "new" / "out.csv").parent.is_dir()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(errors.InputError, match="cannot write"):  # parent is a file: fails even as root
        io.check_writable(blocker / "out.csv")
    with pytest.raises(errors.InputError, match="is a directory"):
        io.check_writable(tmp_path)


def test_check_writable_without_creating(tmp_path):
    """create=False probes the nearest existing folder and leaves nothing behind."""
    target = tmp_path / "new" / "deeper" / "out.csv"
    assert io.check_writable(target, create=False) == target
    assert list(tmp_path.iterdir()) == []
    assert io.check_writable(tmp_path / "run", what="output folder", create=False) == tmp_path / "run"
    assert list(tmp_path.iterdir()) == []
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(errors.InputError, match="a-file is a file, not a folder"):
        io.check_writable(blocker / "sub" / "out.csv", create=False)
    with pytest.raises(errors.InputError, match="is a file, not a folder"):
        io.check_writable(blocker, what="output folder", create=False)
    with pytest.raises(errors.InputError, match="cannot write"):  # /proc refuses new files even for root
        io.check_writable("/proc/topometrics-out.csv", create=False)


def test_counts_and_random_state():
    assert parallel.resolve_n_jobs(None, default=3) == 3
    assert parallel.resolve_n_jobs(-1) == parallel.available_cores()
    with pytest.raises(errors.InputError, match="n_jobs"):
        parallel.resolve_n_jobs(0)
    with pytest.raises(errors.InputError, match="n_threads"):
        parallel.resolve_n_threads(-2)
    a = trandom.check_random_state(3).integers(0, 1000, 5)
    b = trandom.check_random_state(3).integers(0, 1000, 5)
    assert a.tolist() == b.tolist()
    with pytest.raises(errors.InputError):
        trandom.check_random_state(-1)
    state = torch.random.get_rng_state()
    with trandom.seeded(5):
        x = torch.rand(3)
    with trandom.seeded(5):
        y = torch.rand(3)
    assert torch.equal(x, y) and torch.equal(state, torch.random.get_rng_state())


def test_aggregate_layers_one_policy():
    from topocore.tables import aggregate_layers

    t = pd.DataFrame({"net": [1, 1, 2], "edges": [0, 3, 4], "spectral_gap": [np.nan, 2.0, np.nan], "x": [1.0, np.nan, 3.0]})
    out = aggregate_layers(t, ["spectral_gap", "x"], by=["net"])
    # net 1: the edgeless layer's gap is 0 (zero matrix), x averages the defined layer only
    assert out["spectral_gap"].tolist()[0] == 1.0 and out["x"].tolist() == [1.0, 3.0]
    assert np.isnan(out["spectral_gap"].tolist()[1]) and out["num_layers"].tolist() == [2, 1]
    one = aggregate_layers(t.drop(columns="net"), ["x"])
    assert one.shape == (1, 2) and one["x"].iloc[0] == 2.0
    with pytest.raises(errors.InputError, match="lacks"):
        aggregate_layers(t, ["nope"])
