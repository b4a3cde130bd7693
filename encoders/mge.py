"""The unrolled, input-aware multipartite graph encoding (MGE) of a pruned CNN.

Cunegatti et al., "Understanding Sparse Neural Networks from their Topology via
Multipartite Graph Representations", TMLR 2024, Sections 3.1-3.2 and Appendix C.

Definition (what :func:`encode` builds)
---------------------------------------
Nodes are the elements of activation tensors: partition 0 is the network input and
every other partition is the output of a weighted layer (``Conv2d`` or ``Linear``) in
topological order.  A node id is ``partition.offset + flat_index`` with the row-major
index of the ``(C, H, W)`` (or ``(F,)``) tensor.

* **Conv2d** (any kernel, stride, padding, dilation, groups): an edge
  ``(ci, y, x) -> (co, oy, ox)`` for every unmasked weight tap that multiplies input
  ``(ci, y, x)`` into output ``(co, oy, ox)``; zero-padding positions are not nodes
  and give no edge.  Weight = the tap's (unmasked) value, as float32.  With
  ``padding_mode`` ``reflect``/``replicate``/``circular`` a padding position is a copy
  of an input node, so two taps can reach the same node: those parallel edges are
  merged (summed), which is exactly the layer's Jacobian.
* **Linear**: edge ``i -> j`` iff ``W[j, i]`` is unmasked.
* **Pooling** (``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``,
  ``AdaptiveMaxPool2d`` as modules or functional calls, and ``mean``/``sum``/``amax``
  over spatial dims) creates no partition; it is folded into the next weighted layer
  (Appendix C): each edge ``s -> t`` of that layer becomes ``u -> t`` for every ``u``
  in the pooling window of ``s`` (padding positions excluded), with the weight of
  ``s -> t``; parallel edges created by overlapping windows are merged into one edge
  whose weight is the sum.  The weights are therefore those of the Jacobian of
  (next layer o sum-pool), i.e. the Jacobian of (next layer o average pool) times the
  window size; max pooling uses the same windows.  Pooling of pooling composes the
  windows (a node reached through several windows is counted once per window).
* **Residual additions**: the branches of ``a + b`` write into one partition.  The
  output partition of a weighted layer whose only consumer is the addition (through
  BatchNorm, activations, ...) becomes the addition's partition, and a weighted
  shortcut (1x1 conv) adds its own edges into it.  Every other branch is an identity
  shortcut: edges ``(c, y, x) -> (c, y, x)`` of weight 1.0 from the node each
  element comes from (for the option-A shortcut ``x[:, :, ::2, ::2]`` zero-padded with
  channels, the subsampled, channel-shifted mapping; zero-padded channels give no
  edge), produced by a layer of kind ``"identity"``; none if
  ``identity_shortcuts=False``.  An addition none of whose branches is a fresh
  weighted output gets its own partition fed by identity edges (so it keeps its
  place in the dataflow).  Edges of different layers are never merged.
* **torch.cat** (any dim), flatten, view/reshape, permute, slicing, constant padding
  re-index elements; channel ranges map back to their source partitions.
  Constants (padding values, constant tensors) are not nodes.
* **BatchNorm** and other normalisation layers, activations, dropout, identity and
  arithmetic with constants are transparent (treated as the identity map).  Biases
  are ignored.  Normalisation layers that mix features (LayerNorm, GroupNorm) are
  treated as transparent too, like BatchNorm.

Anything else (multiplying two activations, attention, recurrent layers, 1-D or 3-D
convolutions, ...) raises :class:`~encoders.errors.UnsupportedOperationError` naming
the operation and module path.

Implementation
--------------
The model is traced with :mod:`torch.fx`.  Every activation is represented by a
*code tensor*: an ``int64`` tensor of the activation's shape (batch of 1) holding, for
each element, ``node + 1``, ``0`` for a constant, or ``-(k + 1)`` for entry ``k`` of a
table of pooling windows.  Shape operations (view, flatten, cat, slicing, pad, ...)
are executed by torch on the code tensor itself, so any re-indexing torch can do is
supported without a rule per case.  Weighted layers record a job; when the
partitions are final, the edge count of every job is computed (closed form for
plain convolutions), one array of each kind is allocated for the whole graph, and
numba kernels fill each layer's slice in place (see :mod:`encoders._kernels`).

Complexity: O(E) time and 16 bytes per edge (int32 ids) plus O(N + nnz(W)) for the
layer descriptions; no Python object per edge.
"""

from __future__ import annotations

import heapq
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numba
import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from . import _kernels as K
from .errors import EncodingError, UnsupportedOperationError
from .graph import LayerInfo, MultipartiteGraph, Partition, node_dtype
from .masks import MaskedWeight, resolve_mask, validate_masks
from .trace import (
    INDEX_MODULES,
    LEAF_MODULES,
    POOL_MODULES,
    TRANSPARENT_MODULES,
    check_supported_module,
    describe_target,
    node_scope,
    trace,
)

__all__ = ["encode", "count_edges"]


# ---------------------------------------------------------------------------------------------
# symbolic values


@dataclass
class Sym:
    """A traced activation: its code tensor and bookkeeping."""

    code: torch.Tensor  # int64, activation shape with batch 1
    fresh: int | None = None  # provisional partition whose identity this is, if not consumed elsewhere
    pools: tuple[str, ...] = ()  # pooling ops folded into this value
    scope: str = ""  # module path of the op that produced it


@dataclass
class _Part:
    name: str
    shape: tuple[int, ...]
    prov_off: int
    alive: bool = True

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class _ConvJob:
    name: str
    kind: str  # "conv" | "linear"
    param: str
    weight: MaskedWeight
    codes: np.ndarray  # flat int64 codes of the (Cin, H, W) input, after pre-padding
    geom: dict
    out_part: int
    extra: dict = field(default_factory=dict)


@dataclass
class _IdentityJob:
    name: str
    codes: np.ndarray  # flat int64 codes, one per output element
    out_part: int
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# operation tables

_TRANSPARENT_FUNCTIONS: set[Any] = {
    F.relu, torch.relu, F.relu_, torch.relu_, F.relu6, F.leaky_relu, F.leaky_relu_, F.elu, F.elu_,
    F.selu, F.celu, F.gelu, F.silu, F.mish, F.hardswish, F.hardsigmoid, F.hardtanh, F.hardtanh_,
    F.softplus, F.softsign, F.tanh, F.sigmoid, torch.sigmoid, torch.tanh, F.logsigmoid, F.prelu,
    F.rrelu, F.threshold, F.tanhshrink,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout,
    F.batch_norm, F.instance_norm, F.layer_norm, F.group_norm,
    torch.clamp, torch.clip, torch.abs, operator.neg, operator.pos, torch.neg,
}
_TRANSPARENT_METHODS = {
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "clip", "clip_",
    "clone", "float", "double", "half", "bfloat16", "to", "type", "detach", "cpu", "cuda",
    "requires_grad_", "abs", "neg", "abs_", "neg_",
}
_ARITH = {
    operator.add: "add", operator.iadd: "add", torch.add: "add",
    operator.sub: "sub", operator.isub: "sub", torch.sub: "sub",
    operator.mul: "mul", operator.imul: "mul", torch.mul: "mul",
    operator.truediv: "div", operator.itruediv: "div", torch.div: "div",
}
_ARITH_METHODS = {
    "add": "add", "add_": "add", "__add__": "add", "__radd__": "add", "__iadd__": "add",
    "sub": "sub", "sub_": "sub", "__sub__": "sub", "__rsub__": "sub",
    "mul": "mul", "mul_": "mul", "__mul__": "mul", "__rmul__": "mul",
    "div": "div", "div_": "div", "__truediv__": "div",
}
# re-indexing operations executed on the code tensors
_INDEX_FUNCTIONS: set[Any] = {
    operator.getitem, torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.swapaxes,
    torch.squeeze, torch.unsqueeze, torch.cat, torch.concat, torch.concatenate, torch.stack,
    torch.chunk, torch.split, torch.narrow, torch.flip, torch.roll, torch.movedim, torch.t,
    torch.unbind, torch.select, torch.hstack, torch.vstack,
    F.pad, F.pixel_shuffle, F.pixel_unshuffle, torch.pixel_shuffle, torch.pixel_unshuffle,
}
_INDEX_METHODS = {
    "view", "reshape", "flatten", "unflatten", "permute", "transpose", "t", "squeeze", "unsqueeze",
    "contiguous", "expand", "expand_as", "repeat", "narrow", "select", "chunk", "split", "unbind",
    "flip", "roll", "movedim", "swapaxes", "view_as", "reshape_as", "__getitem__",
}
_QUERY_METHODS = {"size", "dim", "numel", "nelement", "ndimension"}
_REDUCE_FUNCTIONS = {torch.mean: "mean", torch.sum: "sum", torch.amax: "amax"}
_REDUCE_METHODS = {"mean": "mean", "sum": "sum", "amax": "amax"}


_POOL_FUNCTIONS = (
    (F.max_pool2d, "max"), (torch.max_pool2d, "max"), (F.avg_pool2d, "avg"),
    (F.adaptive_avg_pool2d, "adaptive_avg"), (F.adaptive_max_pool2d, "adaptive_max"),
)


def _pool_kind(target: Any) -> str | None:
    for fn, kind in _POOL_FUNCTIONS:
        if target is fn:
            return kind
    return None


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return int(v[0]), int(v[0])
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _library_version() -> str:
    try:
        from importlib.metadata import version

        return version("topometrics")
    except Exception:  # not installed as a distribution (source checkout)
        return "unknown"


# ---------------------------------------------------------------------------------------------
# the encoder


class _Encoder:
    def __init__(self, model: nn.Module, input_shape: Sequence[int], masks: dict, identity_shortcuts: bool) -> None:
        self.model = model
        self.input_shape = tuple(int(s) for s in input_shape)
        self.masks = masks
        self.identity_shortcuts = bool(identity_shortcuts)
        self.parts: list[_Part] = []
        self.prov_total = 0
        self.jobs: list[_ConvJob | _IdentityJob] = []
        self._pool_ptr_chunks: list[np.ndarray] = [np.zeros(1, np.int64)]
        self._pool_node_chunks: list[np.ndarray] = []
        self._pool_count = 0
        self._pool_cache: tuple[np.ndarray, np.ndarray] | None = None
        self.mask_sources: dict[str, int] = {}

    # ------------------------------------------------------------------ partitions and codes
    def new_partition(self, name: str, shape: tuple[int, ...]) -> int:
        part = _Part(name, tuple(int(s) for s in shape), self.prov_total)
        self.parts.append(part)
        self.prov_total += part.size
        return len(self.parts) - 1

    def identity_code(self, pidx: int) -> torch.Tensor:
        p = self.parts[pidx]
        return torch.arange(p.prov_off + 1, p.prov_off + p.size + 1, dtype=torch.int64).view(1, *p.shape)

    def _pool_table(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pool_cache is None:
            ptr = np.concatenate(self._pool_ptr_chunks)
            nodes = np.concatenate(self._pool_node_chunks) if self._pool_node_chunks else np.zeros(0, np.int64)
            self._pool_cache = (ptr, nodes)
        return self._pool_cache

    def expand(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR lists of provisional node ids, one list per code."""
        codes = np.asarray(codes, dtype=np.int64).ravel()
        n = codes.size
        lens = np.zeros(n, dtype=np.int64)
        pos = codes > 0
        neg = codes < 0
        lens[pos] = 1
        if neg.any():
            ptr, nodes = self._pool_table()
            k = -codes[neg] - 1
            lens[neg] = ptr[k + 1] - ptr[k]
        eptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=eptr[1:])
        enodes = np.empty(int(eptr[-1]), dtype=np.int64)
        enodes[eptr[:-1][pos]] = codes[pos] - 1
        if neg.any():
            lneg = lens[neg]
            enodes[_ranges(eptr[:-1][neg], lneg)] = nodes[_ranges(ptr[k], lneg)]
        return eptr, enodes

    def add_pooled(self, eptr: np.ndarray, enodes: np.ndarray) -> np.ndarray:
        """Append node lists to the pooling table; return their (negative) codes."""
        m = eptr.size - 1
        base = self._pool_count
        last = self._pool_ptr_chunks[-1][-1]
        self._pool_ptr_chunks.append(last + eptr[1:])
        self._pool_node_chunks.append(enodes)
        self._pool_count += m
        self._pool_cache = None
        return -(base + np.arange(m, dtype=np.int64)) - 1

    # ------------------------------------------------------------------ run the graph
    def run(self, count_only: bool = False) -> Any:
        graph = trace(self.model)
        self.graph = graph
        env: dict[fx.Node, Any] = {}
        got_input = False
        for node in graph.nodes:
            if node.op == "placeholder":
                if not got_input:
                    p = self.new_partition("input", self.input_shape)
                    env[node] = Sym(self.identity_code(p), None, (), "")
                    got_input = True
                elif node.args:
                    env[node] = node.args[0]  # default value of an optional argument
                else:
                    raise EncodingError(
                        f"{type(self.model).__name__}.forward takes several inputs ({node.name!r} has no "
                        "default); the encoder feeds a single input tensor of input_shape"
                    )
            elif node.op == "get_attr":
                env[node] = _fetch_attr(self.model, str(node.target))
            elif node.op == "output":
                pass
            else:
                args = fx.node.map_arg(node.args, lambda n: env[n])
                kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
                env[node] = self.dispatch(node, args, kwargs)
        return self.finalize(count_only)

    # ------------------------------------------------------------------ dispatch
    def unsupported(self, node: fx.Node, why: str = "") -> UnsupportedOperationError:
        scope = node_scope(node)
        where = f"module {scope!r}" if scope else f"{type(self.model).__name__}.forward"
        why = f": {why}" if why else ""
        return UnsupportedOperationError(
            f"unsupported operation {describe_target(node, self.model)} (fx node {node.name!r}, in {where}){why}. "
            "The encoder knows Conv2d, Linear, 2-D pooling, BatchNorm/normalisation, activations, dropout, "
            "flatten/reshape/slicing/pad, residual additions and torch.cat"
        )

    def dispatch(self, node: fx.Node, args: tuple, kwargs: dict) -> Any:
        syms = [a for a in _flat(args, kwargs) if isinstance(a, Sym)]
        if not syms:
            # constant computation (shapes, constant tensors): run it
            return self._run_constant(node, args, kwargs)
        if node.op == "call_module":
            module = self.model.get_submodule(str(node.target))
            check_supported_module(node, module)
            if isinstance(module, nn.Conv2d):
                return self.conv_module(node, module, args, kwargs)
            if isinstance(module, nn.Linear):
                return self.linear_module(node, module, args, kwargs)
            if isinstance(module, POOL_MODULES):
                return self.pool(node, _pool_spec_from_module(module), args[0])
            if isinstance(module, TRANSPARENT_MODULES):
                return self.transparent(node, args[0])
            if isinstance(module, nn.modules.padding._ConstantPadNd):  # padding values are constants, not nodes
                return self.pad(node, (args[0], tuple(module.padding)), {})
            if isinstance(module, nn.modules.padding._ReflectionPadNd):
                return self.pad(node, (args[0], tuple(module.padding), "reflect"), {})
            if isinstance(module, nn.modules.padding._ReplicationPadNd):
                return self.pad(node, (args[0], tuple(module.padding), "replicate"), {})
            if isinstance(module, nn.modules.padding._CircularPadNd):
                return self.pad(node, (args[0], tuple(module.padding), "circular"), {})
            if isinstance(module, INDEX_MODULES):
                return self.index_op(node, module, args, kwargs)
            raise self.unsupported(node)
        target = node.target
        if node.op == "call_function":
            if target in _TRANSPARENT_FUNCTIONS:
                return self.transparent(node, args[0])
            if target in _ARITH:
                return self.arith(node, _ARITH[target], args, kwargs)
            kind = _pool_kind(target)
            if kind is not None:
                return self.pool(node, _pool_spec_from_call(kind, args, kwargs), args[0])
            if target in _REDUCE_FUNCTIONS:
                return self.reduce(node, _REDUCE_FUNCTIONS[target], args, kwargs)
            if target is F.conv2d:
                return self.conv_functional(node, args, kwargs)
            if target is F.linear:
                return self.linear_functional(node, args, kwargs)
            if target is getattr:
                return self.query_attr(node, args[0], args[1])
            if target is F.pad or target is torch.nn.functional.pad:
                return self.pad(node, args, kwargs)
            if target in _INDEX_FUNCTIONS:
                return self.index_op(node, target, args, kwargs)
            raise self.unsupported(node)
        if node.op == "call_method":
            self_arg = args[0]
            if not isinstance(self_arg, Sym):
                raise self.unsupported(node, "a method of a constant called with an activation argument")
            if target in _TRANSPARENT_METHODS:
                return self.transparent(node, self_arg)
            if target in _ARITH_METHODS:
                return self.arith(node, _ARITH_METHODS[target], args, kwargs, method=str(target))
            if target in _REDUCE_METHODS:
                return self.reduce(node, _REDUCE_METHODS[target], args, kwargs)
            if target in _QUERY_METHODS:
                return getattr(self_arg.code, target)(*args[1:], **kwargs)
            if target in _INDEX_METHODS:
                return self.index_op(node, target, args, kwargs)
            raise self.unsupported(node)
        raise self.unsupported(node)

    def _run_constant(self, node: fx.Node, args: tuple, kwargs: dict) -> Any:
        if node.op == "call_module":
            return self.model.get_submodule(str(node.target))(*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        raise self.unsupported(node)

    # ------------------------------------------------------------------ simple rules
    def _fresh_through(self, node: fx.Node, value: Sym, arg: Any = None) -> int | None:
        """Freshness survives an elementwise op whose input (``arg``, default the first
        argument) has no other consumer."""
        if value.fresh is None:
            return None
        if arg is None:
            arg = node.args[0] if node.args else None
        if isinstance(arg, fx.Node) and len(arg.users) == 1:
            return value.fresh
        return None

    def transparent(self, node: fx.Node, value: Any) -> Sym:
        if not isinstance(value, Sym):
            raise self.unsupported(node, "expected the activation as first argument")
        return Sym(value.code, self._fresh_through(node, value), value.pools, node_scope(node))

    def query_attr(self, node: fx.Node, value: Any, name: str) -> Any:
        if not isinstance(value, Sym):
            return getattr(value, name)
        if name == "shape":
            return value.code.shape
        if name == "ndim":
            return value.code.dim()
        if name == "dtype":
            return torch.get_default_dtype()
        if name == "device":
            return torch.device("cpu")
        raise self.unsupported(node, f"attribute {name!r} of an activation")

    def index_op(self, node: fx.Node, target: Any, args: tuple, kwargs: dict) -> Any:
        if target is operator.getitem and isinstance(args[0], (tuple, list)):
            return args[0][args[1]]  # element of a chunk/split result
        if target in (operator.getitem, "__getitem__") and any(isinstance(a, Sym) for a in _flat(args[1:], {})):
            raise self.unsupported(node, "indexing with an activation (data-dependent gather)")
        pools = tuple(dict.fromkeys(p for s in _flat(args, kwargs) if isinstance(s, Sym) for p in s.pools))
        if target in (torch.cat, torch.concat, torch.concatenate, torch.stack, torch.hstack, torch.vstack):
            seq = args[0] if args else kwargs.get("tensors")
            seq = [_as_code(x) for x in seq]
            args = (seq, *args[1:]) if args else args
            if not args:
                kwargs = {**kwargs, "tensors": seq}
        cargs = fx.node.map_aggregate(args, _as_code_if_sym)
        ckwargs = fx.node.map_aggregate(kwargs, _as_code_if_sym)
        try:
            if isinstance(target, nn.Module):
                out = target(*cargs, **ckwargs)
            elif isinstance(target, str):
                out = getattr(cargs[0], target)(*cargs[1:], **ckwargs)
            else:
                out = target(*cargs, **ckwargs)
        except (RuntimeError, IndexError, TypeError, ValueError) as exc:
            raise EncodingError(
                f"{describe_target(node, self.model)} failed on the traced activation of shape "
                f"{_shape_of(args)} (fx node {node.name!r}, module {node_scope(node)!r}): {exc}"
            ) from exc
        return _wrap(out, pools, node_scope(node))

    def pad(self, node: fx.Node, args: tuple, kwargs: dict) -> Sym:
        value = args[0]
        pad = args[1] if len(args) > 1 else kwargs["pad"]
        mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
        if not isinstance(value, Sym):
            raise self.unsupported(node, "padding an activation into a constant")
        if mode == "constant":
            out = F.pad(value.code, pad, mode="constant", value=0)  # constants are not nodes
        else:
            out = F.pad(value.code, pad, mode=mode)
        return Sym(out, None, value.pools, node_scope(node))

    def arith(self, node: fx.Node, op: str, args: tuple, kwargs: dict, method: str | None = None) -> Sym:
        a = args[0]
        b = args[1] if len(args) > 1 else kwargs.get("other")
        na = node.args[0]
        nb = node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
        if method is not None and method.startswith("__r"):
            a, b, na, nb = b, a, nb, na
        alpha = kwargs.get("alpha", 1)
        sa, sb = isinstance(a, Sym), isinstance(b, Sym)
        if sa and sb:
            if op != "add" or alpha != 1:
                raise self.unsupported(
                    node,
                    f"{op} of two activations" + (f" with alpha={alpha}" if alpha != 1 else "")
                    + " (only a + b residual additions are encoded)",
                )
            return self.residual_add(node, [(a, na), (b, nb)])
        sym = a if sa else b
        const = b if sa else a
        if op == "div" and not sa:
            raise self.unsupported(node, "dividing a constant by an activation")
        if isinstance(const, torch.Tensor):
            try:
                shape = torch.broadcast_shapes(tuple(sym.code.shape), tuple(const.shape))
            except RuntimeError as exc:
                raise EncodingError(f"fx node {node.name!r}: {exc}") from exc
            if tuple(shape) != tuple(sym.code.shape):
                raise self.unsupported(node, "a constant that broadcasts the activation to a larger shape")
        elif not isinstance(const, (int, float, bool)):
            raise self.unsupported(node, f"arithmetic with a {type(const).__name__}")
        return Sym(sym.code, self._fresh_through(node, sym, na if sa else nb), sym.pools, node_scope(node))

    # ------------------------------------------------------------------ residual additions
    def residual_add(self, node: fx.Node, branches: list[tuple[Sym, Any]]) -> Sym:
        shapes = {tuple(b.code.shape) for b, _ in branches}
        if len(shapes) != 1:
            raise self.unsupported(node, f"adding activations of different shapes {sorted(shapes)} (broadcasting)")
        fresh_counts: dict[int, int] = {}
        for b, _ in branches:
            if b.fresh is not None:
                fresh_counts[b.fresh] = fresh_counts.get(b.fresh, 0) + 1
        fresh, others = [], []
        for b, arg in branches:
            ok = (
                b.fresh is not None
                and fresh_counts[b.fresh] == 1
                and isinstance(arg, fx.Node)
                and len(arg.users) == 1
                and self.parts[b.fresh].alive
            )
            (fresh if ok else others).append(b)
        scope = node_scope(node)
        add_name = _join(scope, re.sub(r"_\d+$", "", node.name))
        shape = tuple(branches[0][0].code.shape[1:])
        if fresh:
            target = min(b.fresh for b in fresh)
            for b in fresh:
                if b.fresh != target:
                    self.merge(b.fresh, target)
            self.parts[target].name = add_name
        else:
            target = self.new_partition(add_name, shape)
        for b in others:
            if not self.identity_shortcuts:
                continue
            name = self._shortcut_name(scope, b.scope)
            self.jobs.append(
                _IdentityJob(name, b.code.numpy().reshape(-1).copy(), target, {"residual": add_name, "folded_pooling": list(b.pools)})
            )
        single_user = len(node.users) == 1
        return Sym(self.identity_code(target), target if single_user else None, (), scope)

    def _shortcut_name(self, scope: str, branch_scope: str) -> str:
        """Name of an identity layer: the shortcut module inside the addition's module that
        produced the branch (``layer2.0.shortcut``: ``nn.Identity`` or a parameter-free
        module such as option A's ``PadShortcut``), else ``<scope>.identity``."""
        if branch_scope and branch_scope != scope and (not scope or branch_scope.startswith(scope + ".")):
            try:
                m = self.model.get_submodule(branch_scope)
            except AttributeError:
                m = None
            if isinstance(m, nn.Identity) or (m is not None and not isinstance(m, LEAF_MODULES)):
                return branch_scope
        return _join(scope, "identity")

    def merge(self, src: int, dst: int) -> None:
        """Partition ``src`` (fresh, unconsumed) is the same tensor as ``dst``: retarget its producers."""
        if self.parts[src].shape != self.parts[dst].shape:  # pragma: no cover - guarded by the shape check
            raise EncodingError("internal error: merging partitions of different shapes")
        for job in self.jobs:
            if job.out_part == src:
                job.out_part = dst
        self.parts[src].alive = False

    # ------------------------------------------------------------------ pooling
    def pool(self, node: fx.Node, spec: dict, value: Any) -> Sym:
        if not isinstance(value, Sym):
            raise self.unsupported(node, "pooling input is not the traced activation")
        if spec.get("return_indices"):
            raise self.unsupported(node, "max pooling with return_indices=True")
        code = value.code
        if code.dim() not in (3, 4):
            raise EncodingError(
                f"{describe_target(node, self.model)} (fx node {node.name!r}) expects a (N, C, H, W) activation, "
                f"got shape {tuple(code.shape)}"
            )
        H, W = int(code.shape[-2]), int(code.shape[-1])
        try:
            Ho, Wo = _pool_output_size(spec, H, W)
        except RuntimeError as exc:
            raise EncodingError(
                f"{describe_target(node, self.model)} in module {node_scope(node)!r} cannot pool a {H}x{W} "
                f"activation: {exc}; check input_shape"
            ) from exc
        rows = _windows(spec, 0, H, Ho)
        cols = _windows(spec, 1, W, Wo)
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
        slot_ptr, nodes = self.expand(gathered.reshape(-1))
        eptr = slot_ptr[::kmax].copy()
        new = self.add_pooled(eptr, nodes)
        out = torch.from_numpy(new.reshape(*lead, Ho, Wo))
        desc = f"{node_scope(node) or node.name}:{spec['kind']}_pool"
        return Sym(out, None, (*value.pools, desc), node_scope(node))

    def reduce(self, node: fx.Node, kind: str, args: tuple, kwargs: dict) -> Sym:
        value = args[0]
        if not isinstance(value, Sym):
            raise self.unsupported(node)
        dim = args[1] if len(args) > 1 else kwargs.get("dim", None)
        keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
        code = value.code
        nd = code.dim()
        if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
            dims = list(range(nd))
        else:
            dims = [int(d) % nd for d in (dim if isinstance(dim, (tuple, list)) else [dim])]
        if 0 in dims:
            raise self.unsupported(node, f"{kind} over the batch dimension")
        keep = [d for d in range(nd) if d not in dims]
        perm = code.permute(*keep, *dims)
        nred = int(np.prod([code.shape[d] for d in dims], dtype=np.int64))
        kept_shape = [int(code.shape[d]) for d in keep]
        flat = perm.reshape(-1, nred).numpy()
        slot_ptr, nodes = self.expand(flat.reshape(-1))
        eptr = slot_ptr[::nred].copy()
        new = torch.from_numpy(self.add_pooled(eptr, nodes))
        if keepdim:
            out_shape = [1 if d in dims else int(code.shape[d]) for d in range(nd)]
        else:
            out_shape = kept_shape
        desc = f"{node_scope(node) or node.name}:{kind}"
        return Sym(new.reshape(out_shape), None, (*value.pools, desc), node_scope(node))

    # ------------------------------------------------------------------ weighted layers
    def _masked_weight(self, param: str) -> MaskedWeight:
        mw = resolve_mask(self.model, param, self.masks)
        self.mask_sources[mw.source] = self.mask_sources.get(mw.source, 0) + 1
        return mw

    def conv_module(self, node: fx.Node, m: nn.Conv2d, args: tuple, kwargs: dict) -> Sym:
        x = args[0] if args else kwargs.get("input")
        path = str(node.target)
        param = _join(path, "weight")
        if m.padding_mode != "zeros":
            pads = tuple(int(p) for p in m._reversed_padding_repeated_twice)
            pre = (pads, m.padding_mode)
            pads = (0, 0, 0, 0)
        else:
            pre = None
            pads = tuple(int(p) for p in m._reversed_padding_repeated_twice)
        geom = dict(
            kernel=_pair(m.kernel_size), stride=_pair(m.stride), dilation=_pair(m.dilation),
            pads=pads, groups=int(m.groups), in_channels=int(m.in_channels), out_channels=int(m.out_channels),
        )
        return self.conv(node, path, param, x, geom, pre, type(m).__name__)

    def conv_functional(self, node: fx.Node, args: tuple, kwargs: dict) -> Sym:
        names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
        defaults = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}
        a = {**defaults, **dict(zip(names, args)), **kwargs}
        wnode = node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
        if not (isinstance(wnode, fx.Node) and wnode.op == "get_attr"):
            raise self.unsupported(node, "F.conv2d whose weight is not a parameter of the model")
        param = str(wnode.target)
        weight = a["weight"]
        cout, cin_g, kh, kw = (int(s) for s in weight.shape)
        dil = _pair(a["dilation"])
        padding = a["padding"]
        if isinstance(padding, str):
            if padding == "valid":
                pads = (0, 0, 0, 0)
            else:
                th, tw = dil[0] * (kh - 1), dil[1] * (kw - 1)
                pads = (tw // 2, tw - tw // 2, th // 2, th - th // 2)
        else:
            ph, pw = _pair(padding)
            pads = (pw, pw, ph, ph)
        groups = int(a["groups"])
        geom = dict(
            kernel=(kh, kw), stride=_pair(a["stride"]), dilation=dil, pads=pads, groups=groups,
            in_channels=cin_g * groups, out_channels=cout,
        )
        path = param.rpartition(".")[0]
        return self.conv(node, path, param, a["input"], geom, None, "conv2d")

    def conv(self, node: fx.Node, path: str, param: str, x: Any, geom: dict, pre: Any, typename: str) -> Sym:
        if not isinstance(x, Sym):
            raise self.unsupported(node, "convolution input is not the traced activation")
        code = x.code
        if code.dim() != 4:
            raise EncodingError(
                f"layer {path!r} ({typename}) expects a (N, C, H, W) input but receives shape "
                f"{tuple(code.shape[1:])} per sample; check input_shape={self.input_shape}"
            )
        cin = int(code.shape[1])
        if cin != geom["in_channels"]:
            raise EncodingError(
                f"layer {path!r} ({typename}) expects {geom['in_channels']} input channels but receives {cin} "
                f"(input_shape={self.input_shape}); pass an input_shape the model was built for"
            )
        if pre is not None:
            code = F.pad(code, pre[0], mode=pre[1])
        H, W = int(code.shape[2]), int(code.shape[3])
        (kh, kw), (sh, sw), (dh, dw) = geom["kernel"], geom["stride"], geom["dilation"]
        pl, pr, pt, pb = geom["pads"]
        Ho = (H + pt + pb - dh * (kh - 1) - 1) // sh + 1
        Wo = (W + pl + pr - dw * (kw - 1) - 1) // sw + 1
        if Ho < 1 or Wo < 1:
            raise EncodingError(
                f"layer {path!r} ({typename}) receives a {H}x{W} activation, smaller than its "
                f"{kh}x{kw} kernel (dilation {dh}x{dw}); pass a larger input_shape (got {self.input_shape})"
            )
        cout = geom["out_channels"]
        mw = self._masked_weight(param)
        g = dict(
            Cin=cin, H=H, W=W, Cout=cout, Ho=Ho, Wo=Wo, kh=kh, kw=kw, sh=sh, sw=sw, ph=pt, pw=pl,
            dh=dh, dw=dw, groups=geom["groups"],
        )
        extra = {
            "type": typename,
            "kernel_size": [kh, kw], "stride": [sh, sw], "padding": [pt, pb, pl, pr],
            "dilation": [dh, dw], "groups": geom["groups"],
            "in_shape": [int(s) for s in x.code.shape[1:]], "out_shape": [cout, Ho, Wo],
            "folded_pooling": list(x.pools),
        }
        if pre is not None:
            extra["padding_mode"] = pre[1]
            extra["padding"] = [pre[0][2], pre[0][3], pre[0][0], pre[0][1]]
        return self._weighted(path, "conv", param, mw, code, g, (cout, Ho, Wo), extra)

    def linear_module(self, node: fx.Node, m: nn.Linear, args: tuple, kwargs: dict) -> Sym:
        x = args[0] if args else kwargs.get("input")
        path = str(node.target)
        return self.linear(node, path, _join(path, "weight"), x, int(m.in_features), int(m.out_features), type(m).__name__)

    def linear_functional(self, node: fx.Node, args: tuple, kwargs: dict) -> Sym:
        wnode = node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
        if not (isinstance(wnode, fx.Node) and wnode.op == "get_attr"):
            raise self.unsupported(node, "F.linear whose weight is not a parameter of the model")
        weight = args[1] if len(args) > 1 else kwargs["weight"]
        x = args[0] if args else kwargs.get("input")
        param = str(wnode.target)
        return self.linear(node, param.rpartition(".")[0], param, x, int(weight.shape[1]), int(weight.shape[0]), "linear")

    def linear(self, node: fx.Node, path: str, param: str, x: Any, fin: int, fout: int, typename: str) -> Sym:
        if not isinstance(x, Sym):
            raise self.unsupported(node, "linear input is not the traced activation")
        code = x.code
        if code.dim() != 2:
            raise EncodingError(
                f"layer {path!r} ({typename}) receives an activation of shape {tuple(code.shape[1:])} per sample; "
                "only (batch, features) inputs to Linear are supported (flatten first)"
            )
        if int(code.shape[1]) != fin:
            raise EncodingError(
                f"layer {path!r} ({typename}) expects {fin} input features but receives {int(code.shape[1])} "
                f"(input_shape={self.input_shape}); pass the input_shape the model was built for"
            )
        mw = self._masked_weight(param)
        g = dict(Cin=fin, H=1, W=1, Cout=fout, Ho=1, Wo=1, kh=1, kw=1, sh=1, sw=1, ph=0, pw=0, dh=1, dw=1, groups=1)
        extra = {"type": typename, "in_shape": [fin], "out_shape": [fout], "folded_pooling": list(x.pools)}
        return self._weighted(path, "linear", param, mw, code, g, (fout,), extra)

    def _weighted(self, path, kind, param, mw, code, geom, out_shape, extra) -> Sym:
        pidx = self.new_partition(path or kind, out_shape)
        self.jobs.append(_ConvJob(path or kind, kind, param, mw, code.numpy().reshape(-1).copy(), geom, pidx, extra))
        return Sym(self.identity_code(pidx), pidx, (), path)

    # ------------------------------------------------------------------ edges
    def _job_inputs(self, job: _ConvJob | _IdentityJob) -> tuple[np.ndarray | None, np.ndarray]:
        """``(eptr, provisional nodes)`` read by a job; ``eptr`` is None when every code is one node."""
        cached = getattr(job, "_inputs", None)
        if cached is None:
            codes = job.codes
            if isinstance(job, _ConvJob) and codes.size and bool((codes > 0).all()):
                cached = (None, codes - 1)
            else:
                cached = self.expand(codes)
            job._inputs = cached  # type: ignore[union-attr]
        return cached

    def _partition_order(self) -> list[int]:
        """Alive provisional partitions in a topological order of the layer DAG (ties: creation order)."""
        prov_bounds = np.array([p.prov_off for p in self.parts] + [self.prov_total], dtype=np.int64)
        alive = [i for i, p in enumerate(self.parts) if p.alive]
        deps: dict[int, set[int]] = {i: set() for i in alive}
        for job in self.jobs:
            _, nodes = self._job_inputs(job)
            for q in _partitions_of(nodes, prov_bounds):
                if q != job.out_part:
                    deps[job.out_part].add(q)
        users: dict[int, list[int]] = {i: [] for i in alive}
        for i, ds in deps.items():
            for q in ds:
                users[q].append(i)
        indeg = {i: len(ds) for i, ds in deps.items()}
        heap = [i for i in alive if indeg[i] == 0]
        heapq.heapify(heap)
        order = []
        while heap:
            i = heapq.heappop(heap)
            order.append(i)
            for u in users[i]:
                indeg[u] -= 1
                if indeg[u] == 0:
                    heapq.heappush(heap, u)
        if len(order) != len(alive):  # pragma: no cover - cannot happen for a traced DAG
            raise EncodingError("internal error: the partition graph has a cycle")
        return order

    def finalize(self, count_only: bool = False) -> Any:
        order = self._partition_order()
        final_index = {pi: k for k, pi in enumerate(order)}
        remap = np.full(self.prov_total, -1, dtype=np.int64)
        names_seen: dict[str, int] = {}
        partitions: list[Partition] = []
        off = 0
        for pi in order:
            p = self.parts[pi]
            remap[p.prov_off : p.prov_off + p.size] = np.arange(off, off + p.size, dtype=np.int64)
            name = p.name
            if name in names_seen:
                names_seen[name] += 1
                name = f"{name}_{names_seen[name]}"
            else:
                names_seen[name] = 0
            partitions.append(Partition(name, p.shape, off, p.size))
            off += p.size
        n_nodes = off
        bounds = np.array([q.offset for q in partitions] + [n_nodes], dtype=np.int64)
        idt = node_dtype(n_nodes)

        plans = []
        for job in self.jobs:
            if isinstance(job, _ConvJob):
                plans.append(self._plan_conv(job, remap, bounds, final_index))
            else:
                plans.append(self._plan_identity(job, remap, bounds, final_index))
        total = int(sum(p["count"] for p in plans))
        if count_only:
            return partitions, [(plan["layer"], int(plan["count"])) for plan in plans]
        src = np.empty(total, dtype=idt)
        dst = np.empty(total, dtype=idt)
        wt = np.empty(total, dtype=np.float32)
        edge_layer = np.empty(total, dtype=np.int32)
        layers = []
        start = 0
        for li, plan in enumerate(plans):
            stop = start + plan["count"]
            plan["fill"](src[start:stop], dst[start:stop], wt[start:stop])
            edge_layer[start:stop] = li
            layers.append(plan["layer"])
            start = stop
        meta = {
            "encoding": "mge",
            "input_shape": list(self.input_shape),
            "model": type(self.model).__name__,
            "identity_shortcuts": self.identity_shortcuts,
            "version": _library_version(),
            "mask_sources": dict(self.mask_sources),
        }
        return MultipartiteGraph(src, dst, wt, edge_layer, partitions, layers, meta, validate=False)

    def _plan_conv(self, job: _ConvJob, remap, bounds, final_index) -> dict:
        g = job.geom
        cout, groups = g["Cout"], g["groups"]
        cin_g, cout_g = g["Cin"] // groups, cout // groups
        mask = job.weight.mask.numpy().reshape(cout, cin_g, g["kh"], g["kw"])
        values = job.weight.weight.detach().to(torch.float32).cpu().numpy().reshape(mask.shape)
        co, ci, ky, kx = np.nonzero(mask)
        tap_w = np.ascontiguousarray(values[mask], dtype=np.float32)
        tap_ptr = np.zeros(cout + 1, dtype=np.int64)
        np.cumsum(np.bincount(co, minlength=cout), out=tap_ptr[1:])
        ci = ci.astype(np.int64)
        ky = ky.astype(np.int64)
        kx = kx.astype(np.int64)
        del co
        out_part = final_index[job.out_part]
        eptr, prov_nodes = self._job_inputs(job)
        geo = (g["H"], g["W"], cin_g, cout_g, g["Ho"], g["Wo"], g["sh"], g["sw"], g["ph"], g["pw"], g["dh"], g["dw"])
        out_off = int(bounds[out_part])
        direct = eptr is None
        if direct:
            ids = remap[prov_nodes]
            direct = np.unique(ids).size == ids.size
            if not direct:
                eptr, prov_nodes = self.expand(job.codes)
        if direct:
            vy = K.valid_positions(g["H"], g["Ho"], g["kh"], g["sh"], g["ph"], g["dh"])
            vx = K.valid_positions(g["W"], g["Wo"], g["kw"], g["sw"], g["pw"], g["dw"])
            counts = K.direct_counts(tap_ptr, ky, kx, vy, vx)
            in_nodes = ids
            merged = False

            def fill(src, dst, wt):
                starts = _exclusive_cumsum(counts)
                K.conv_direct_fill(ids, *geo, tap_ptr, ci, ky, kx, tap_w, out_off, starts, src, dst, wt)

        else:
            fin = remap[prov_nodes]
            loc2glob, local = np.unique(fin, return_inverse=True)
            local = local.astype(np.int64).reshape(-1)
            dedup = loc2glob.size < fin.size
            nchunk = max(1, min(cout, 4 * numba.get_num_threads()))
            if dedup:
                counts = np.zeros(cout, dtype=np.int64)
                K.conv_lists_count(eptr, local, max(loc2glob.size, 1), *geo, tap_ptr, ci, ky, kx, dedup, nchunk, counts)
            else:
                counts = K.lists_counts(np.diff(eptr), g, tap_ptr, ci, ky, kx)
            in_nodes = loc2glob
            merged = dedup

            def fill(src, dst, wt):
                starts = _exclusive_cumsum(counts)
                K.conv_lists_fill(
                    eptr, local, loc2glob.astype(np.int64), *geo, tap_ptr, ci, ky, kx, tap_w, dedup, nchunk,
                    out_off, starts, src, dst, wt,
                )

        in_parts = _partitions_of(in_nodes, bounds)
        extra = dict(job.extra)
        extra["density"] = float(mask.mean()) if mask.size else 0.0
        extra["merged_parallel_edges"] = merged
        layer = LayerInfo(job.name, job.kind, in_parts, out_part, job.param, extra)
        return {"count": int(counts.sum()), "fill": fill, "layer": layer}

    def _plan_identity(self, job: _IdentityJob, remap, bounds, final_index) -> dict:
        out_part = final_index[job.out_part]
        out_off = int(bounds[out_part])
        eptr, prov_nodes = self._job_inputs(job)
        lens = np.diff(eptr)
        s = remap[prov_nodes]
        d = np.repeat(np.arange(job.codes.size, dtype=np.int64), lens) + out_off
        w = np.ones(s.size, dtype=np.float32)
        if lens.size and lens.max(initial=0) > 1:  # pooled sources: merge repeated (src, dst)
            n = max(int(bounds[-1]), 1)
            keys, counts = np.unique(d * n + s, return_counts=True)
            d, s, w = keys // n, keys % n, counts.astype(np.float32)
        extra = dict(job.extra)
        layer = LayerInfo(job.name, "identity", _partitions_of(s, bounds), out_part, None, extra)

        def fill(src, dst, wt):
            src[:] = s
            dst[:] = d
            wt[:] = w

        return {"count": int(s.size), "fill": fill, "layer": layer}


# ---------------------------------------------------------------------------------------------
# helpers


def _flat(args: tuple, kwargs: dict) -> list:
    out: list = []
    fx.node.map_aggregate((args, kwargs), lambda a: out.append(a) or a)
    return out


def _as_code_if_sym(a: Any) -> Any:
    return a.code if isinstance(a, Sym) else a


def _as_code(a: Any) -> torch.Tensor:
    if isinstance(a, Sym):
        return a.code
    if isinstance(a, torch.Tensor):
        return torch.zeros(a.shape, dtype=torch.int64)  # constants are not nodes
    raise TypeError(f"cannot concatenate a {type(a).__name__}")


def _wrap(out: Any, pools: tuple[str, ...], scope: str) -> Any:
    if isinstance(out, torch.Tensor):
        return Sym(out, None, pools, scope)
    if isinstance(out, (tuple, list)):
        return type(out)(_wrap(o, pools, scope) for o in out)
    return out


def _shape_of(args: tuple) -> Any:
    for a in args:
        if isinstance(a, Sym):
            return tuple(a.code.shape)
    return None


def _join(scope: str, name: str) -> str:
    return f"{scope}.{name}" if scope else name


def _fetch_attr(model: nn.Module, target: str) -> Any:
    obj: Any = model
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj.detach() if isinstance(obj, torch.Tensor) else obj


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for each pair."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.zeros(lengths.size, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offs[1:])
    return np.repeat(np.asarray(starts, dtype=np.int64) - offs, lengths) + np.arange(total, dtype=np.int64)


def _exclusive_cumsum(counts: np.ndarray) -> np.ndarray:
    starts = np.zeros(counts.size, dtype=np.int64)
    if counts.size > 1:
        np.cumsum(counts[:-1], out=starts[1:])
    return starts


def _partitions_of(nodes: np.ndarray, bounds: np.ndarray) -> tuple[int, ...]:
    if nodes.size == 0:
        return ()
    parts = np.unique(np.searchsorted(bounds, np.unique(nodes), side="right") - 1)
    return tuple(int(p) for p in parts)


def _pad_lists(lists: list[np.ndarray]) -> np.ndarray:
    kmax = max((len(l) for l in lists), default=0)
    out = np.full((len(lists), max(kmax, 1)), -1, dtype=np.int64)
    for i, l in enumerate(lists):
        out[i, : len(l)] = l
    return out


def _pool_spec_from_module(m: nn.Module) -> dict:
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


def _pool_spec_from_call(kind: str, args: tuple, kwargs: dict) -> dict:
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


def _pool_output_size(spec: dict, H: int, W: int) -> tuple[int, int]:
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


def _windows(spec: dict, axis: int, n_in: int, n_out: int) -> list[np.ndarray]:
    """Input positions of each output position's pooling window along one axis."""
    if spec["kind"].startswith("adaptive"):
        return [
            np.arange((o * n_in) // n_out, -((-(o + 1) * n_in) // n_out), dtype=np.int64) for o in range(n_out)
        ]
    k = _pair(spec["kernel"])[axis]
    stride = spec["stride"]
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _pair(stride)[axis]
    p = _pair(spec["padding"])[axis]
    d = _pair(spec["dilation"])[axis]
    out = []
    for o in range(n_out):
        pos = o * s - p + np.arange(k, dtype=np.int64) * d
        out.append(pos[(pos >= 0) & (pos < n_in)])
    return out


# ---------------------------------------------------------------------------------------------
# public API


def encode(
    model: nn.Module,
    input_shape: Sequence[int],
    masks: dict | None = None,
    *,
    identity_shortcuts: bool = True,
) -> MultipartiteGraph:
    """Unrolled, input-aware multipartite graph encoding (MGE) of a pruned network.

    Parameters
    ----------
    model : torch.nn.Module
        A CNN or MLP traceable by :mod:`torch.fx` (see the module docstring for the
        supported operations).  It is not modified; the encoding does not depend on
        train/eval mode.
    input_shape : tuple of int
        Shape of one input sample without the batch dimension: ``(C, H, W)`` or
        ``(F,)``.
    masks : dict, optional
        ``{param_name: bool tensor}`` (e.g. ``"layer1.0.conv1.weight"``).  Weights
        without an entry use their ``weight_mask`` buffer (:mod:`torch.nn.utils.prune`),
        else their exact zeros (see :mod:`encoders.masks`).
    identity_shortcuts : bool
        Add weight-1 edges for parameter-free residual shortcuts (default True).

    Returns
    -------
    MultipartiteGraph
        Partition 0 is the input, then one partition per weighted layer output in
        topological order (residual branches share one).  Edges are grouped by layer
        in the same order; inside a layer by output node, then by tap.  ``meta``
        records ``input_shape``, ``model`` (class name), ``identity_shortcuts``,
        ``version`` and the number of weights per mask source.

    Raises
    ------
    EncodingError
        Wrong ``input_shape`` (channel / feature mismatch, input too small).
    UnsupportedOperationError
        An operation without an encoding rule (names the op and the module path).
    UntraceableModelError
        The model cannot be traced by torch.fx.
    MaskError
        A mask for an unknown parameter or of the wrong shape.

    Notes
    -----
    Time O(E + N + nnz(W)), memory 16 bytes per edge (int32 node ids) plus
    O(N + nnz(W)); no Python object per edge.  Reference: Cunegatti et al., TMLR 2024,
    Sections 3.1-3.2 and Appendix C.
    """
    shape, checked = _check_arguments(model, input_shape, masks)
    with torch.no_grad():
        return _Encoder(model, shape, checked, identity_shortcuts).run()


def count_edges(
    model: nn.Module,
    input_shape: Sequence[int],
    masks: dict | None = None,
    *,
    identity_shortcuts: bool = True,
    per_layer: bool = False,
) -> int | list[tuple[LayerInfo, int]]:
    """Number of edges :func:`encode` would produce, without building the edge arrays.

    Same arguments and errors as :func:`encode`.  Plain convolutions and linear layers
    are counted in closed form (``sum over unmasked taps of valid output rows x valid
    output columns``), folded pooling from the window sizes; only layers whose
    parallel edges are merged (overlapping pooling windows, reflect padding, a node
    read twice) need a counting pass.  Memory O(N + nnz(W)) instead of 16 bytes per
    edge, so the dense edge count of a large model (the denominator of an effective
    sparsity) is cheap.

    Returns the total, or with ``per_layer=True`` a list of ``(LayerInfo, count)`` in
    the order of :attr:`MultipartiteGraph.layers`.
    """
    shape, checked = _check_arguments(model, input_shape, masks)
    with torch.no_grad():
        _, layers = _Encoder(model, shape, checked, identity_shortcuts).run(count_only=True)
    return layers if per_layer else int(sum(c for _, c in layers))


def _check_arguments(model: Any, input_shape: Any, masks: Any) -> tuple[tuple[int, ...], dict]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise EncodingError(f"input_shape must be a tuple of positive ints like (3, 32, 32), got {input_shape!r}") from None
    if not shape or min(shape) < 1 or any(isinstance(s, bool) for s in input_shape):
        raise EncodingError(f"input_shape must be a tuple of positive ints like (3, 32, 32), got {input_shape!r}")
    return shape, validate_masks(model, masks)

