"""Shared test configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Keep the 2-core CI machine from oversubscribing.
torch.set_num_threads(1)
os.environ.setdefault("NUMBA_NUM_THREADS", "2")

#: Reference data published by the paper's authors, read at test time (never copied into the repo).
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference`` next to the checkout; tests needing it skip with the reason when absent."""
    if not REFERENCE.is_dir():
        pytest.skip(f"published reference data not found at ../shared/reference (looked in {REFERENCE})")
    return REFERENCE
