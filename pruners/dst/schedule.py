"""Configuration of dynamic sparse training: the drop-fraction schedule and the validation of options.

:func:`check_config` validates a configuration without a model (the command line calls it
before any pruning); :class:`~pruners.dst.DynamicSparsity` calls it too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from topocore.errors import InputError

__all__ = ["SCHEDULES", "UPDATE_UNITS", "drop_fraction_at", "check_config", "positive_int"]

SCHEDULES = ("constant", "cosine")
UPDATE_UNITS = ("epoch", "step")


def drop_fraction_at(progress: float, drop_fraction: float, schedule: str, stop_at: float) -> float:
    """The scheduled drop fraction at training progress ``progress`` in [0, 1] (0 from ``stop_at`` on).

    ``"constant"``: ``drop_fraction``; ``"cosine"``: ``drop_fraction / 2 * (1 + cos(pi * progress /
    stop_at))`` (Evci et al. 2020).
    """
    if progress >= stop_at:
        return 0.0
    if schedule == "constant":
        return float(drop_fraction)
    return float(drop_fraction) / 2.0 * (1.0 + math.cos(math.pi * progress / stop_at))


def positive_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    """``value`` as an int >= 1 (or None when allowed); :class:`~topocore.errors.InputError` otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_config(
    method: Any,
    *,
    drop_fraction: Any = 0.3,
    schedule: Any = "cosine",
    update_every: Any = 1,
    update_unit: Any = "epoch",
    stop_at: Any = 0.75,
    **method_options: Any,
) -> dict[str, Any]:
    """Validate a DST configuration without a model (the command line checks it before pruning).

    Returns ``{"method": DSTMethod, "options": {...defaults and given...}, "drop_fraction", "schedule",
    "update_every", "update_unit", "stop_at"}``; raises :class:`~topocore.errors.InputError`
    with a one-line message for any bad value.
    """
    from . import lookup

    entry = lookup(method)
    allowed = dict(entry.options)
    unknown = sorted(set(method_options) - set(allowed))
    if unknown:
        raise InputError(
            f"dynamic sparse training method {entry.name!r} has no option(s) {unknown}; its options are {sorted(allowed) or 'none'}"
        )
    options = {**allowed, **method_options}
    if entry.check is not None:
        entry.check(**options)
    try:
        drop_fraction = float(drop_fraction)
    except (TypeError, ValueError):
        raise InputError(f"drop_fraction must be a number in (0, 1), got {drop_fraction!r}") from None
    if not 0.0 < drop_fraction < 1.0:
        raise InputError(f"drop_fraction must lie in (0, 1) (the fraction of links replaced at an update), got {drop_fraction}")
    if schedule not in SCHEDULES:
        raise InputError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if update_unit not in UPDATE_UNITS:
        raise InputError(f"update_unit must be one of {', '.join(UPDATE_UNITS)}, got {update_unit!r}")
    update_every = positive_int("update_every", update_every)
    try:
        stop_at = float(stop_at)
    except (TypeError, ValueError):
        raise InputError(f"stop_at must be a number in (0, 1], got {stop_at!r}") from None
    if not 0.0 < stop_at <= 1.0:
        raise InputError(f"stop_at must lie in (0, 1] (the fraction of training after which updates stop), got {stop_at}")
    return {"method": entry, "options": options, "drop_fraction": drop_fraction, "schedule": schedule,
            "update_every": update_every, "update_unit": update_unit, "stop_at": stop_at}
