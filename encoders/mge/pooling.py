"""Pooling: window geometry, and the rules that fold pooling and spatial reductions.

Pooling creates no partition (paper, Appendix C).  A pooled activation's code tensor
holds, for each output element, a reference ``-(k + 1)`` to entry ``k`` of the
pooled-window table (:class:`~encoders.mge.partitions.PartitionTable`): the list of
nodes in its window, padding positions excluded.  The next weighted layer reads these
lists, so each of its edges ``s -> t`` becomes ``u -> t`` for every ``u`` in the window
of ``s``.  Pooling of pooling composes the windows.

Window geometry follows torch exactly: output sizes come from running the pooling on
a one-channel dummy (so ``ceil_mode`` and friends agree with torch), windows from the
kernel, stride, padding and dilation, or from the adaptive bins
``[floor(o * n / m), ceil((o + 1) * n / m))``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ..errors import EncodingError
from ..trace import describe_target, node_scope
from .ops import Sym, first_line, pair

if TYPE_CHECKING:
    from .interpret import Encoder

__all__ = ["pool", "reduce", "spec_from_module", "spec_from_call", "pool_output_size", "windows"]


# ---------------------------------------------------------------------------------------------
# rules


def pool(enc: Encoder, node: fx.Node, spec: dict, value: Any) -> Sym:
    """Fold a 2-D pooling (``spec`` from :func:`spec_from_module` / :func:`spec_from_call`)."""
    if not isinstance(value, Sym):
        raise enc.unsupported(node, "pooling input is not the traced activation")
    if spec.get("return_indices"):
        raise enc.unsupported(node, "max pooling with return_indices=True")
    code = value.code
    if code.dim() not in (3, 4):
        raise EncodingError(
            f"{describe_target(node, enc.model)} (fx node {node.name!r}) expects a (N, C, H, W) activation, "
            f"got shape {tuple(code.shape)}; check input_shape={enc.input_shape}"
        )
    H, W = int(code.shape[-2]), int(code.shape[-1])
    try:
        Ho, Wo = pool_output_size(spec, H, W)
    except RuntimeError as exc:
        raise EncodingError(
            f"{describe_target(node, enc.model)} in module {node_scope(node)!r} cannot pool a {H}x{W} "
            f"activation: {first_line(exc)}; check input_shape={enc.input_shape}"
        ) from exc
    rows = windows(spec, 0, H, Ho)
    cols = windows(spec, 1, W, Wo)
    # window positions (Ho, Wo, KR*KC), -1 where absent
    R = _pad_lists(rows)
    C = _pad_lists(cols)
    pos = R[:, None, :, None] * W + C[None, :, None, :]
    valid = (R[:, None, :, None] >= 0) & (C[None, :, None, :] >= 0)
    pos = np.where(valid, pos, -1).reshape(Ho * Wo, -1)
    kmax = pos.shape[1]
    lead = code.shape[:-2]
    flat = code.reshape(-1, H * W).numpy()
    gathered = np.where(pos[None] >= 0, flat[:, np.maximum(pos, 0)], 0)  # (L, Ho*Wo, kmax)
    slot_ptr, nodes = enc.table.expand(gathered.reshape(-1))
    eptr = slot_ptr[::kmax].copy()
    new = enc.table.add_pooled(eptr, nodes)
    out = torch.from_numpy(new.reshape(*lead, Ho, Wo))
    desc = f"{node_scope(node) or node.name}:{spec['kind']}_pool"
    return Sym(out, None, (*value.pools, desc), node_scope(node), value.scale)



def reduce(enc: Encoder, node: fx.Node, kind: str, args: tuple, kwargs: dict) -> Sym:
    """Fold ``mean`` / ``sum`` / ``amax`` over non-batch dims: one window per kept element."""
    value = args[0]
    if not isinstance(value, Sym):
        raise enc.unsupported(node)
    dim = args[1] if len(args) > 1 else kwargs.get("dim", None)
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    code = value.code
    nd = code.dim()
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        dims = list(range(nd))
    else:
        dims = [int(d) % nd for d in (dim if isinstance(dim, (tuple, list)) else [dim])]
    if 0 in dims:
        raise enc.unsupported(node, f"{kind} over the batch dimension")
    keep = [d for d in range(nd) if d not in dims]
    perm = code.permute(*keep, *dims)
    nred = int(np.prod([code.shape[d] for d in dims], dtype=np.int64))
    kept_shape = [int(code.shape[d]) for d in keep]
    flat = perm.reshape(-1, nred).numpy()
    slot_ptr, nodes = enc.table.expand(flat.reshape(-1))
    eptr = slot_ptr[::nred].copy()
    new = torch.from_numpy(enc.table.add_pooled(eptr, nodes))
    if keepdim:
        out_shape = [1 if d in dims else int(code.shape[d]) for d in range(nd)]
    else:
        out_shape = kept_shape
    desc = f"{node_scope(node) or node.name}:{kind}"
    return Sym(new.reshape(out_shape), None, (*value.pools, desc), node_scope(node), value.scale)


# ---------------------------------------------------------------------------------------------
# geometry


def _pad_lists(lists: list[np.ndarray]) -> np.ndarray:
    """Lists of positions as a ``(len(lists), max length)`` array padded with -1."""
    kmax = max((len(l) for l in lists), default=0)
    out = np.full((len(lists), max(kmax, 1)), -1, dtype=np.int64)
    for i, l in enumerate(lists):
        out[i, : len(l)] = l
    return out


def spec_from_module(m: nn.Module) -> dict:
    """Pooling parameters of a pooling module."""
    if isinstance(m, nn.MaxPool2d):
        return dict(kind="max", kernel=m.kernel_size, stride=m.stride, padding=m.padding, dilation=m.dilation,
                    ceil_mode=m.ceil_mode, return_indices=m.return_indices)
    if isinstance(m, nn.AvgPool2d):
        return dict(kind="avg", kernel=m.kernel_size, stride=m.stride, padding=m.padding, dilation=1,
                    ceil_mode=m.ceil_mode, count_include_pad=m.count_include_pad, divisor_override=m.divisor_override)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return dict(kind="adaptive_avg", output_size=m.output_size)
    if isinstance(m, nn.AdaptiveMaxPool2d):
        return dict(kind="adaptive_max", output_size=m.output_size, return_indices=m.return_indices)
    raise TypeError(type(m).__name__)  # pragma: no cover


def spec_from_call(kind: str, args: tuple, kwargs: dict) -> dict:
    """Pooling parameters of a functional pooling call (torch's defaults filled in)."""
    if kind == "max":
        names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
        a = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False}
        a.update(dict(zip(names, args)))
        a.update(kwargs)
        return dict(kind="max", kernel=a["kernel_size"], stride=a["stride"], padding=a["padding"],
                    dilation=a["dilation"], ceil_mode=a["ceil_mode"], return_indices=a["return_indices"])
    if kind == "avg":
        names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
        a = {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True, "divisor_override": None}
        a.update(dict(zip(names, args)))
        a.update(kwargs)
        return dict(kind="avg", kernel=a["kernel_size"], stride=a["stride"], padding=a["padding"], dilation=1,
                    ceil_mode=a["ceil_mode"], count_include_pad=a["count_include_pad"],
                    divisor_override=a["divisor_override"])
    names = ("input", "output_size", "return_indices")
    a = {"return_indices": False}
    a.update(dict(zip(names, args)))
    a.update(kwargs)
    return dict(kind=kind, output_size=a["output_size"], return_indices=a.get("return_indices", False))


def pool_output_size(spec: dict, H: int, W: int) -> tuple[int, int]:
    """Output size as torch computes it (by running the pooling on a 1-channel dummy)."""
    x = torch.zeros(1, 1, H, W)
    kind = spec["kind"]
    if kind == "max":
        y = F.max_pool2d(x, spec["kernel"], spec["stride"], spec["padding"], spec["dilation"], spec["ceil_mode"])
    elif kind == "avg":
        y = F.avg_pool2d(x, spec["kernel"], spec["stride"], spec["padding"], spec["ceil_mode"])
    elif kind == "adaptive_avg":
        y = F.adaptive_avg_pool2d(x, spec["output_size"])
    else:
        y = F.adaptive_max_pool2d(x, spec["output_size"])
    return int(y.shape[-2]), int(y.shape[-1])


def windows(spec: dict, axis: int, n_in: int, n_out: int) -> list[np.ndarray]:
    """Input positions of each output position's pooling window along one axis."""
    if spec["kind"].startswith("adaptive"):
        return [
            np.arange((o * n_in) // n_out, -((-(o + 1) * n_in) // n_out), dtype=np.int64) for o in range(n_out)
        ]
    k = pair(spec["kernel"])[axis]
    stride = spec["stride"]
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else pair(stride)[axis]
    p = pair(spec["padding"])[axis]
    d = pair(spec["dilation"])[axis]
    out = []
    for o in range(n_out):
        pos = o * s - p + np.arange(k, dtype=np.int64) * d
        out.append(pos[(pos >= 0) & (pos < n_in)])
    return out

