"""``random_state`` handling: numpy generators and seeded, side-effect-free torch RNG use.

Every public function of the toolkit that draws random numbers takes ``random_state``
(``None``, an ``int`` seed or a :class:`numpy.random.Generator`); the command line's
``--seed`` maps to it.
"""

from __future__ import annotations

import contextlib
import numbers
from typing import Iterator

import numpy as np

from .errors import InputError

__all__ = ["check_random_state", "seed_of", "seeded"]


def check_random_state(random_state: None | int | np.random.Generator) -> np.random.Generator:
    """A :class:`numpy.random.Generator` for ``random_state`` (None: fresh entropy; int: seeded)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool) and int(random_state) >= 0:
        return np.random.default_rng(int(random_state))
    raise InputError(f"random_state must be None, a non-negative int or a numpy Generator, got {random_state!r}")


def seed_of(random_state: None | int | np.random.Generator) -> int:
    """An int seed for APIs that need one (torch): the int itself, or one drawn from the generator."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool) and int(random_state) >= 0:
        return int(random_state)
    return int(check_random_state(random_state).integers(0, 2**31 - 1))


@contextlib.contextmanager
def seeded(random_state: None | int | np.random.Generator) -> Iterator[None]:
    """Inside the block torch's global CPU (and every CUDA) generator is seeded from
    ``random_state``; the caller's generator states are restored afterwards."""
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed_of(random_state))
        yield
