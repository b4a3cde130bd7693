"""Learned scalar gates: an activation multiplied by a scalar parameter, or a function of one.

Networks that learn their connectivity (TopoNet, Janik & Nowak's DAG networks, the zoo's
``dagnet``) multiply the activation flowing along an edge by a learnable scalar gate
``g`` (``g = tanh(alpha)``, ``sigmoid(alpha)``, ``alpha``, possibly times a 0/1 buffer)
before summing it into the next block.  The Jacobian of ``g * x`` is ``g`` times the
identity, so the gate scales every MGE edge of that path:

* the value ``g * x`` carries ``scale = g`` (:attr:`~encoders.mge.ops.Sym.scale`);
  shape operations, pooling and transparent operations keep it, and products of gates
  multiply (``/ g`` divides);
* a weighted layer reading it gets weights ``g * W`` (its job's ``scale``);
* a residual addition reading it as an identity branch gets identity edges of weight
  ``g``; as a fresh weighted output merged into the sum, every job writing that
  output is scaled by ``g``;
* a gate that is exactly 0 removes the edges it scales (a zero weight is no edge).

Which constants count: a scalar tensor (one element) computed from a parameter of the
model (``get_attr`` of an ``nn.Parameter``, then any computation on constants).
Multiplying by other constants (a fixed ``0.5``, a buffer alone) stays transparent, as
before.  Concatenating values of different scales, or returning a scaled value from the
network, has no encoding and raises
:class:`~encoders.errors.UnsupportedOperationError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import torch
import torch.fx as fx
import torch.nn as nn

from .ops import Sym
from .partitions import ConvJob, IdentityJob, PartitionTable

if TYPE_CHECKING:
    from .interpret import Encoder

__all__ = ["is_parameter", "learned_scalar", "common_scale", "scale_jobs_into"]


def is_parameter(model: nn.Module, target: str) -> bool:
    """Whether the ``get_attr`` target names an ``nn.Parameter`` of ``model``."""
    obj: Any = model
    try:
        for part in target.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        return False
    return isinstance(obj, nn.Parameter)


def learned_scalar(enc: Encoder, const_node: Any, const: Any) -> float | None:
    """The value of ``const`` when it is a one-element tensor computed from a parameter, else None."""
    if not isinstance(const_node, fx.Node) or const_node not in enc.learned:
        return None
    if not isinstance(const, torch.Tensor) or const.numel() != 1:
        return None
    return float(const.detach().reshape(()).to(torch.float64))


def common_scale(enc: Encoder, node: fx.Node, values: Iterable[Any]) -> float:
    """The scale shared by every :class:`Sym` in ``values`` (1.0 without any); raises when they differ."""
    scales = {v.scale for v in values if isinstance(v, Sym)}
    if len(scales) > 1:
        raise enc.unsupported(node, f"combining activations multiplied by different learned scalars {sorted(scales)}")
    return scales.pop() if scales else 1.0


def scale_jobs_into(table: PartitionTable, part: int, scale: float) -> None:
    """Multiply the weights of every job writing partition ``part`` by ``scale``."""
    if scale == 1.0:
        return
    for job in table.jobs:
        if job.out_part == part:
            if isinstance(job, ConvJob):
                job.scale *= scale
            elif isinstance(job, IdentityJob):
                job.weight *= scale
