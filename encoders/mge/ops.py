"""Operation tables of the fx dispatcher and the symbolic value of a traced activation.

:class:`Sym` is what the interpreter (:mod:`encoders.mge.interpret`) stores for each
activation: its *code tensor* (see :mod:`encoders.mge`) and bookkeeping.  The tables
below list the torch functions and ``Tensor`` methods each rule handles; an operation
in none of them is unsupported.  The helpers at the end convert between ``Sym`` values
and the code tensors torch operates on.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# symbolic value


@dataclass
class Sym:
    """A traced activation: its code tensor and bookkeeping."""

    code: torch.Tensor  # int64, activation shape with batch 1
    fresh: int | None = None  # provisional partition whose identity this is, if not consumed elsewhere
    pools: tuple[str, ...] = ()  # pooling ops folded into this value
    scope: str = ""  # module path of the op that produced it
    scale: float = 1.0  # product of the learned scalar gates applied to it (see encoders.mge.gates)


# ---------------------------------------------------------------------------------------------
# operation tables

TRANSPARENT_FUNCTIONS: set[Any] = {
    F.relu, torch.relu, F.relu_, torch.relu_, F.relu6, F.leaky_relu, F.leaky_relu_, F.elu, F.elu_,
    F.selu, F.celu, F.gelu, F.silu, F.mish, F.hardswish, F.hardsigmoid, F.hardtanh, F.hardtanh_,
    F.softplus, F.softsign, F.tanh, F.sigmoid, torch.sigmoid, torch.tanh, F.logsigmoid, F.prelu,
    F.rrelu, F.threshold, F.tanhshrink,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout,
    F.batch_norm, F.instance_norm, F.layer_norm, F.group_norm,
    torch.clamp, torch.clip, torch.abs, operator.neg, operator.pos, torch.neg,
}
TRANSPARENT_METHODS = {
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "clip", "clip_",
    "clone", "float", "double", "half", "bfloat16", "to", "type", "detach", "cpu", "cuda",
    "requires_grad_", "abs", "neg", "abs_", "neg_",
}
ARITH = {
    operator.add: "add", operator.iadd: "add", torch.add: "add",
    operator.sub: "sub", operator.isub: "sub", torch.sub: "sub",
    operator.mul: "mul", operator.imul: "mul", torch.mul: "mul",
    operator.truediv: "div", operator.itruediv: "div", torch.div: "div",
}
ARITH_METHODS = {
    "add": "add", "add_": "add", "__add__": "add", "__radd__": "add", "__iadd__": "add",
    "sub": "sub", "sub_": "sub", "__sub__": "sub", "__rsub__": "sub",
    "mul": "mul", "mul_": "mul", "__mul__": "mul", "__rmul__": "mul",
    "div": "div", "div_": "div", "__truediv__": "div",
}
# re-indexing operations executed on the code tensors
INDEX_FUNCTIONS: set[Any] = {
    operator.getitem, torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.swapaxes,
    torch.squeeze, torch.unsqueeze, torch.cat, torch.concat, torch.concatenate, torch.stack,
    torch.chunk, torch.split, torch.narrow, torch.flip, torch.roll, torch.movedim, torch.t,
    torch.unbind, torch.select, torch.hstack, torch.vstack,
    F.pad, F.pixel_shuffle, F.pixel_unshuffle, torch.pixel_shuffle, torch.pixel_unshuffle,
}
INDEX_METHODS = {
    "view", "reshape", "flatten", "unflatten", "permute", "transpose", "t", "squeeze", "unsqueeze",
    "contiguous", "expand", "expand_as", "repeat", "narrow", "select", "chunk", "split", "unbind",
    "flip", "roll", "movedim", "swapaxes", "view_as", "reshape_as", "__getitem__",
}
QUERY_METHODS = {"size", "dim", "numel", "nelement", "ndimension"}
REDUCE_FUNCTIONS = {torch.mean: "mean", torch.sum: "sum", torch.amax: "amax"}
REDUCE_METHODS = {"mean": "mean", "sum": "sum", "amax": "amax"}


POOL_FUNCTIONS = (
    (F.max_pool2d, "max"), (torch.max_pool2d, "max"), (F.avg_pool2d, "avg"),
    (F.adaptive_avg_pool2d, "adaptive_avg"), (F.adaptive_max_pool2d, "adaptive_max"),
)


def pool_kind(target: Any) -> str | None:
    """``"max"``, ``"avg"``, ``"adaptive_avg"`` or ``"adaptive_max"`` for a functional pooling call, else None."""
    for fn, kind in POOL_FUNCTIONS:
        if target is fn:
            return kind
    return None


# ---------------------------------------------------------------------------------------------
# symbolic values and code tensors


def flat_args(args: tuple, kwargs: dict) -> list:
    """Every leaf value of a node's arguments, nested tuples/lists/dicts flattened."""
    out: list = []
    fx.node.map_aggregate((args, kwargs), lambda a: out.append(a) or a)
    return out


def as_code_if_sym(a: Any) -> Any:
    """The code tensor of a :class:`Sym`, any other value unchanged."""
    return a.code if isinstance(a, Sym) else a


def as_code(a: Any) -> torch.Tensor:
    """Code tensor of a concatenated value; a constant tensor becomes zeros (constants are not nodes)."""
    if isinstance(a, Sym):
        return a.code
    if isinstance(a, torch.Tensor):
        return torch.zeros(a.shape, dtype=torch.int64)  # constants are not nodes
    raise TypeError(f"cannot concatenate a {type(a).__name__}")


def wrap(out: Any, pools: tuple[str, ...], scope: str, scale: float = 1.0) -> Any:
    """Turn the code tensor(s) torch returned into :class:`Sym` values (tuples stay tuples)."""
    if isinstance(out, torch.Tensor):
        return Sym(out, None, pools, scope, scale)
    if isinstance(out, (tuple, list)):
        return type(out)(wrap(o, pools, scope, scale) for o in out)
    return out


def shape_of(args: tuple) -> Any:
    """Shape of the first activation among ``args`` (None without one), for error messages."""
    for a in args:
        if isinstance(a, Sym):
            return tuple(a.code.shape)
    return None


def pair(v: Any) -> tuple[int, int]:
    """``(h, w)`` from an int or a 1- or 2-sequence (torch's ``_pair`` convention)."""
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return int(v[0]), int(v[0])
        return int(v[0]), int(v[1])
    return int(v), int(v)


def first_line(exc: BaseException) -> str:
    """First line of an exception's message (torch's messages can span several lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def join(scope: str, name: str) -> str:
    """``"scope.name"``, or ``name`` at the top level."""
    return f"{scope}.{name}" if scope else name


def fetch_attr(model: nn.Module, target: str) -> Any:
    """Value of a ``get_attr`` node (a detached tensor for parameters and buffers)."""
    obj: Any = model
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj.detach() if isinstance(obj, torch.Tensor) else obj
