"""Seeded, side-effect-free use of torch's global random number generators."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["seeded"]


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Inside the block the global CPU (and every CUDA) generator is seeded with ``seed``;
    the caller's generator states are restored afterwards."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield
