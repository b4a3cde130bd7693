"""benchmarks/gpu_check.py: its CPU code path runs (so it cannot rot) and it refuses clearly without CUDA."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("gpu_check", None)


def test_smoke_run_on_cpu_passes_every_check(gpu_check, capsys):
    assert gpu_check.main(["--device", "cpu", "--smoke"]) == 0
    out = capsys.readouterr().out
    for line in ("train 2 epochs", "masks exact after training", "epoch time on CPU (extrapolated)",
                 "prune erk (random)", "prune synflow (data-free, iterative)", "prune snip (data-dependent)"):
        assert line in out
    assert "FAILED" not in out and "7 of 7 checks passed" in out
    assert "0 non-zero entries among" in out and "0 mask entries changed" in out


def test_checks_fail_when_masks_are_broken(gpu_check):
    from pruners import apply_masks, build, prune
    from pruners.masks import enforce_masks

    model = build("resnet20", 10, (3, 8, 8), random_state=0)
    masks = prune(model, "erk", 0.9, random_state=0)
    apply_masks(model, masks)
    assert not gpu_check._exact_masks(model, masks).ok  # installed, not yet enforced: raw weights are not zero
    enforce_masks(model)
    assert gpu_check._exact_masks(model, masks).ok
    with torch.no_grad():
        model.conv1.weight_orig[~masks["conv1.weight"]] = 1.0  # a pruned weight came back to life
    check = gpu_check._exact_masks(model, masks)
    assert not check.ok and "non-zero entries" in check.detail
    other = prune(model, "erk", 0.9, random_state=1)
    assert not gpu_check._compare_identical("erk", "random", other, masks, "test").ok


def test_without_cuda_exits_with_status_2(gpu_check, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device is available" in err and "--device cpu --smoke" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the script's real path)")
def test_smoke_run_on_cuda(gpu_check, capsys):
    assert gpu_check.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "train 2 epochs, AMP float16" in out and "FAILED" not in out
