"""The fx interpreter of the encoder: walk the traced graph, one rule per operation.

:class:`Encoder` traces the model (:func:`encoders.trace.trace`) and evaluates its
fx graph on *symbolic values* (:class:`~encoders.mge.ops.Sym`, code tensors) instead
of tensors.  :meth:`Encoder.dispatch` sends each node to its rule: the weighted layers
(:mod:`encoders.mge.layers`), pooling and reductions (:mod:`encoders.mge.pooling`),
and here the transparent operations, re-indexing (executed by torch on the code
tensors), arithmetic with constants and residual additions.  Operations that only
involve constants (shape arithmetic, constant tensors) are simply run.  An operation
without a rule raises :class:`~encoders.errors.UnsupportedOperationError` naming it and
its module path.  When the walk ends, :func:`encoders.mge.planning.build` makes the
edges.
"""

from __future__ import annotations

import operator
import re
from typing import Any, Sequence

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ..errors import EncodingError, UnsupportedOperationError
from ..masks import MaskedWeight, check_masks, resolve_mask
from ..trace import (
    INDEX_MODULES,
    LEAF_MODULES,
    POOL_MODULES,
    TRANSPARENT_MODULES,
    check_supported_module,
    describe_target,
    node_scope,
    trace,
    weighted_layers,
)
from . import gates, layers, pooling
from .ops import (
    ARITH,
    ARITH_METHODS,
    INDEX_FUNCTIONS,
    INDEX_METHODS,
    QUERY_METHODS,
    REDUCE_FUNCTIONS,
    REDUCE_METHODS,
    TRANSPARENT_FUNCTIONS,
    TRANSPARENT_METHODS,
    Sym,
    as_code,
    as_code_if_sym,
    fetch_attr,
    first_line,
    flat_args,
    join,
    pool_kind,
    shape_of,
    wrap,
)
from .partitions import IdentityJob, PartitionTable
from .planning import build

__all__ = ["Encoder"]


class _Repad(Exception):
    """A convolution reading the input needs more padding nodes than reserved: restart with ``pads``."""

    def __init__(self, pads: tuple[int, int, int, int]) -> None:
        super().__init__(pads)
        self.pads = pads


class Encoder:
    """One encoding run: ``Encoder(model, input_shape, masks, identity_shortcuts, pad_nodes).run()``.

    ``masks`` is the user's argument; it is checked (:func:`encoders.masks.check_masks`)
    once the trace has shown which parameters are weights.  The partitions and jobs
    live in :attr:`table` (a :class:`~encoders.mge.partitions.PartitionTable`).

    With ``pad_nodes`` the input partition is the input zero-padded by :attr:`input_pads`
    ``(left, right, top, bottom)``; the network input is its interior
    (:attr:`input_interior`), and a zero-padded convolution that reads exactly that
    interior reads the padded partition instead, without padding
    (:meth:`padded_input_for`).  The pads are found by running the interpretation again
    whenever a convolution needs more than reserved (:class:`_Repad`; the first
    convolution is usually the first operation, so the extra pass costs nothing).
    """

    def __init__(
        self,
        model: nn.Module,
        input_shape: Sequence[int],
        masks: dict,
        identity_shortcuts: bool,
        pad_nodes: bool = False,
    ) -> None:
        self.model = model
        self.input_shape = tuple(int(s) for s in input_shape)
        self.given_masks = masks
        self.masks: dict = {}
        self.identity_shortcuts = bool(identity_shortcuts)
        self.pad_nodes = bool(pad_nodes)
        self.input_pads = (0, 0, 0, 0)
        self.input_interior: torch.Tensor | None = None
        self.table = PartitionTable()
        self.mask_sources: dict[str, int] = {}
        self.learned: set[fx.Node] = set()  # constants computed from parameters (encoders.mge.gates)

    # ------------------------------------------------------------------ run the graph
    def run(self, count_only: bool = False) -> Any:
        """Interpret the traced graph, then build the graph (or, with ``count_only``, the edge counts)."""
        graph = trace(self.model)
        params = [layer.param for layer in weighted_layers(self.model, graph)]
        self.masks = check_masks(self.model, self.given_masks, params)
        while True:
            try:
                self._interpret(graph)
                break
            except _Repad as again:
                self.input_pads = again.pads
                self.table = PartitionTable()
                self.mask_sources = {}
                self.learned = set()
        meta = {
            "encoding": "mge",
            "input_shape": list(self.input_shape),
            "model": type(self.model).__name__,
            "identity_shortcuts": self.identity_shortcuts,
            "pad_nodes": self.pad_nodes,
            "version": _library_version(),
            "mask_sources": dict(self.mask_sources),
        }
        if self.pad_nodes:
            left, right, top, bottom = self.input_pads
            meta["input_padding"] = [top, bottom, left, right]
        return build(self.table, meta, count_only)

    def _input_value(self) -> Sym:
        """The network input: the input partition, or the interior of the padded one."""
        if not self.pad_nodes or len(self.input_shape) != 3:
            p = self.table.new_partition("input", self.input_shape)
            return Sym(self.table.identity_code(p), None, (), "")
        left, right, top, bottom = self.input_pads
        c, h, w = self.input_shape
        p = self.table.new_partition("input", (c, h + top + bottom, w + left + right))
        interior = self.table.identity_code(p)[:, :, top : top + h, left : left + w]
        self.input_interior = interior
        return Sym(interior, None, (), "")

    def padded_input_for(self, code: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor | None:
        """With ``pad_nodes``: the padded input code replacing a zero-padded convolution's input
        ``code`` (padding ``pads = (left, right, top, bottom)``), or None when ``code`` is not the
        network input.  Raises :class:`_Repad` when more padding nodes are needed."""
        if self.input_interior is None or code.shape != self.input_interior.shape or not torch.equal(code, self.input_interior):
            return None
        have = self.input_pads
        if any(p > q for p, q in zip(pads, have)):
            raise _Repad(tuple(max(p, q) for p, q in zip(pads, have)))
        left, right, top, bottom = pads
        full = self.table.identity_code(0)
        rows = slice(have[2] - top, full.shape[2] - (have[3] - bottom))
        cols = slice(have[0] - left, full.shape[3] - (have[1] - right))
        return full[:, :, rows, cols]

    def _interpret(self, graph: fx.Graph) -> None:
        env: dict[fx.Node, Any] = {}
        got_input = False
        for node in graph.nodes:
            if node.op == "placeholder":
                if not got_input:
                    env[node] = self._input_value()
                    got_input = True
                elif node.args:
                    env[node] = node.args[0]  # default value of an optional argument
                else:
                    raise EncodingError(
                        f"{type(self.model).__name__}.forward takes several inputs ({node.name!r} has no "
                        "default); the encoder feeds a single input tensor of input_shape: give the other inputs "
                        "defaults or wrap the model in a module with one input"
                    )
            elif node.op == "get_attr":
                env[node] = fetch_attr(self.model, str(node.target))
                if gates.is_parameter(self.model, str(node.target)):
                    self.learned.add(node)
            elif node.op == "output":
                outputs = flat_args(fx.node.map_arg(node.args, lambda n: env[n]), {})
                if any(isinstance(v, Sym) and v.scale != 1.0 for v in outputs):
                    raise self.unsupported(node, "the network output is multiplied by a learned scalar that no layer reads")
            else:
                args = fx.node.map_arg(node.args, lambda n: env[n])
                kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
                env[node] = self.dispatch(node, args, kwargs)
                if not isinstance(env[node], Sym) and any(n in self.learned for n in node.all_input_nodes):
                    self.learned.add(node)

    # ------------------------------------------------------------------ dispatch
    def unsupported(self, node: fx.Node, why: str = "") -> UnsupportedOperationError:
        """The error for ``node`` (to raise), naming the operation, the fx node and the module path."""
        scope = node_scope(node)
        where = f"module {scope!r}" if scope else f"{type(self.model).__name__}.forward"
        why = f": {why}" if why else ""
        return UnsupportedOperationError(
            f"unsupported operation {describe_target(node, self.model)} (fx node {node.name!r}, in {where}){why}. "
            "The encoder knows Conv2d, Linear, 2-D pooling, BatchNorm/normalisation, activations, dropout, "
            "flatten/reshape/slicing/pad, residual additions and torch.cat"
        )

    def dispatch(self, node: fx.Node, args: tuple, kwargs: dict) -> Any:
        """Evaluate one fx node on symbolic values (``args`` / ``kwargs`` already evaluated)."""
        syms = [a for a in flat_args(args, kwargs) if isinstance(a, Sym)]
        if not syms:
            # constant computation (shapes, constant tensors): run it
            return self._run_constant(node, args, kwargs)
        if node.op == "call_module":
            module = self.model.get_submodule(str(node.target))
            check_supported_module(node, module)
            if isinstance(module, nn.Conv2d):
                return layers.conv_module(self, node, module, args, kwargs)
            if isinstance(module, nn.Linear):
                return layers.linear_module(self, node, module, args, kwargs)
            if isinstance(module, POOL_MODULES):
                return pooling.pool(self, node, pooling.spec_from_module(module), args[0])
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
            if target in TRANSPARENT_FUNCTIONS:
                return self.transparent(node, args[0])
            if target in ARITH:
                return self.arith(node, ARITH[target], args, kwargs)
            kind = pool_kind(target)
            if kind is not None:
                return pooling.pool(self, node, pooling.spec_from_call(kind, args, kwargs), args[0])
            if target in REDUCE_FUNCTIONS:
                return pooling.reduce(self, node, REDUCE_FUNCTIONS[target], args, kwargs)
            if target is F.conv2d:
                return layers.conv_functional(self, node, args, kwargs)
            if target is F.linear:
                return layers.linear_functional(self, node, args, kwargs)
            if target is getattr:
                return self.query_attr(node, args[0], args[1])
            if target is F.pad or target is torch.nn.functional.pad:
                return self.pad(node, args, kwargs)
            if target in INDEX_FUNCTIONS:
                return self.index_op(node, target, args, kwargs)
            raise self.unsupported(node)
        if node.op == "call_method":
            self_arg = args[0]
            if not isinstance(self_arg, Sym):
                raise self.unsupported(node, "a method of a constant called with an activation argument")
            if target in TRANSPARENT_METHODS:
                return self.transparent(node, self_arg)
            if target in ARITH_METHODS:
                return self.arith(node, ARITH_METHODS[target], args, kwargs, method=str(target))
            if target in REDUCE_METHODS:
                return pooling.reduce(self, node, REDUCE_METHODS[target], args, kwargs)
            if target in QUERY_METHODS:
                return getattr(self_arg.code, target)(*args[1:], **kwargs)
            if target in INDEX_METHODS:
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
        return Sym(value.code, self._fresh_through(node, value), value.pools, node_scope(node), value.scale)

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
        if target in (operator.getitem, "__getitem__") and any(isinstance(a, Sym) for a in flat_args(args[1:], {})):
            raise self.unsupported(node, "indexing with an activation (data-dependent gather)")
        pools = tuple(dict.fromkeys(p for s in flat_args(args, kwargs) if isinstance(s, Sym) for p in s.pools))
        scale = gates.common_scale(self, node, flat_args(args, kwargs))
        if target in (torch.cat, torch.concat, torch.concatenate, torch.stack, torch.hstack, torch.vstack):
            seq = args[0] if args else kwargs.get("tensors")
            seq = [as_code(x) for x in seq]
            args = (seq, *args[1:]) if args else args
            if not args:
                kwargs = {**kwargs, "tensors": seq}
        cargs = fx.node.map_aggregate(args, as_code_if_sym)
        ckwargs = fx.node.map_aggregate(kwargs, as_code_if_sym)
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
                f"{shape_of(args)} (fx node {node.name!r}, module {node_scope(node)!r}): {first_line(exc)}; "
                f"check input_shape={self.input_shape}"
            ) from exc
        return wrap(out, pools, node_scope(node), scale)

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
        return Sym(out, None, value.pools, node_scope(node), value.scale)

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
                raise EncodingError(
                    f"{describe_target(node, self.model)} (fx node {node.name!r}, module {node_scope(node)!r}) "
                    f"cannot broadcast a constant to the activation: {first_line(exc)}; check input_shape={self.input_shape}"
                ) from exc
            if tuple(shape) != tuple(sym.code.shape):
                raise self.unsupported(node, "a constant that broadcasts the activation to a larger shape")
        elif not isinstance(const, (int, float, bool)):
            raise self.unsupported(node, f"arithmetic with a {type(const).__name__}")
        scale = sym.scale
        gate = gates.learned_scalar(self, nb if sa else na, const) if op in ("mul", "div") else None
        if gate is not None:  # a learned scalar gate scales the edges of this path (encoders.mge.gates)
            if op == "div" and gate == 0.0:
                raise self.unsupported(node, "dividing an activation by a learned scalar that is 0")
            scale = scale * gate if op == "mul" else scale / gate
        return Sym(sym.code, self._fresh_through(node, sym, na if sa else nb), sym.pools, node_scope(node), scale)

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
                and self.table.parts[b.fresh].alive
            )
            (fresh if ok else others).append(b)
        scope = node_scope(node)
        add_name = join(scope, re.sub(r"_\d+$", "", node.name))
        shape = tuple(branches[0][0].code.shape[1:])
        if fresh:
            target = min(b.fresh for b in fresh)
            for b in fresh:  # a gated fresh branch: its producers' weights carry the gate
                gates.scale_jobs_into(self.table, b.fresh, b.scale)
            for b in fresh:
                if b.fresh != target:
                    self.table.merge(b.fresh, target)
            self.table.parts[target].name = add_name
        else:
            target = self.table.new_partition(add_name, shape)
        for b in others:
            if not self.identity_shortcuts or b.scale == 0.0:  # a zero gate removes the branch's edges
                continue
            name = self._shortcut_name(scope, b.scope)
            self.table.jobs.append(
                IdentityJob(name, b.code.numpy().reshape(-1).copy(), target, {"residual": add_name, "folded_pooling": list(b.pools)},
                            weight=b.scale)
            )
        single_user = len(node.users) == 1
        return Sym(self.table.identity_code(target), target if single_user else None, (), scope)

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
        return join(scope, "identity")


    # ------------------------------------------------------------------ weighted layers
    def masked_weight(self, param: str) -> MaskedWeight:
        """The resolved mask of weight ``param``, counted by source for ``meta["mask_sources"]``."""
        mw = resolve_mask(self.model, param, self.masks)
        self.mask_sources[mw.source] = self.mask_sources.get(mw.source, 0) + 1
        return mw


def _library_version() -> str:
    """Installed version of the toolkit, recorded in ``meta["version"]`` (``"unknown"`` in a bare source checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("topometrics")
    except PackageNotFoundError:
        return "unknown"
