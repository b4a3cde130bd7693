"""Dynamic sparse training: masks that evolve during training (drop links, regrow as many elsewhere).

* :class:`DynamicSparsity` -- the engine a training loop calls (``ds.step()`` after
  ``optimizer.step()``); ``pruners.train(..., dst=...)`` and ``topometrics train --dst``
  drive it.  See :mod:`pruners.dst.engine` for the schedule, the targets, the history
  and the recorded states.  Their topometrics (the topology trajectory) are measured in
  the application layer: ``topometrics.topology_trajectory(ds, metrics=...)`` (this
  package imports :mod:`topocore` only).
* :data:`METHODS` -- the regrowth rules, one module each (its docstring gives the rule,
  the paper and the choices made where the paper leaves one):

  ==========  ========================================================  ============
  name        rule                                                      count kept
  ==========  ========================================================  ============
  set (rlr)   drop smallest ``|w|``, regrow uniformly at random          per layer
  rigl        drop smallest ``|w|``, regrow largest dense ``|grad|``     per layer
  snfs        drop smallest ``|w|``, layers' shares by mean momentum,    global
              regrow largest ``|momentum|``
  dsr         drop below a global adaptive ``|w|`` threshold, shares by   global
              surviving links, regrow at random
  ch3l3       drop smallest ``|w|``, regrow highest CH3-L3 score         per layer
  ==========  ========================================================  ============

* :func:`ch3l3_scores` -- the CH3-L3 link-prediction score of every position of a layer's mask.
"""

from __future__ import annotations

from typing import Any

from topocore.errors import InputError
from topocore.names import canonical_method

from . import ch3l3, dsr, rigl, set as set_, snfs
from ._common import DSTMethod
from .ch3l3 import ch3l3_scores
from .engine import HISTORY_COLUMNS, DynamicSparsity
from .schedule import SCHEDULES, UPDATE_UNITS, check_config, drop_fraction_at

__all__ = [
    "METHODS",
    "ALIASES",
    "DSTMethod",
    "DynamicSparsity",
    "check_config",
    "ch3l3_scores",
    "lookup",
    "method_options",
    "drop_fraction_at",
    "SCHEDULES",
    "UPDATE_UNITS",
    "HISTORY_COLUMNS",
]

#: Registry of dynamic-sparse-training methods by name.
METHODS: dict[str, DSTMethod] = {m.METHOD.name: m.METHOD for m in (set_, rigl, snfs, dsr, ch3l3)}
#: Other accepted spellings.
ALIASES = {"rlr": "set"}


def _known() -> str:
    return ", ".join(f"{n} (alias {', '.join(a for a, t in ALIASES.items() if t == n)})" if n in ALIASES.values() else n
                     for n in sorted(METHODS))


def lookup(method: Any) -> DSTMethod:
    """The registry entry of ``method`` (any spelling of ``topocore.names``, e.g. ``"RLR"``, ``"CH3-L3"``)."""
    if isinstance(method, DSTMethod):
        return method
    try:
        name = canonical_method(method)
    except InputError:
        name = None
    if name not in METHODS:
        raise InputError(f"unknown dynamic sparse training method {method!r}; known methods are {_known()}")
    return METHODS[name]


def method_options(method: Any) -> dict[str, Any]:
    """``{option: default}`` accepted by ``method`` as ``**method_options`` of :class:`DynamicSparsity`."""
    return dict(lookup(method).options)
