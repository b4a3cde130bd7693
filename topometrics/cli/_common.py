"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``"3,32,32"`` (or ``"3x32x32"``) into ``(3, 32, 32)`` for argparse."""
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 3,32,32, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"shape entries must be positive integers, got {text!r}")
    return shape


def parse_floats(text: str) -> list[float]:
    """Parse ``"0.6,0.9"`` into ``[0.6, 0.9]``."""
    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
