"""Dataflow discovery with :mod:`torch.fx` symbolic tracing.

The encoders never rely on module names or registration order to find layers: they
trace ``model.forward`` into an fx graph and walk it in topological order.
:func:`trace` wraps :class:`torch.fx.Tracer` so that

* every module of a supported type (``Conv2d``, ``Linear``, pooling, BatchNorm,
  activations, ... and their subclasses) stays a leaf, whatever package defines it;
* a tracing failure is reported as :class:`~encoders.errors.UntraceableModelError`
  naming the module path where it happened and the reason.

:func:`weighted_layers` lists the weighted layers in dataflow order, as used by the
rolled encodings.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from .errors import UnsupportedOperationError, UntraceableModelError
from .masks import WEIGHTED_MODULES

__all__ = ["trace", "node_scope", "describe_target", "weighted_layers", "WeightedLayer", "LEAF_MODULES"]

POOL_MODULES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)

TRANSPARENT_MODULES = (
    nn.modules.batchnorm._BatchNorm,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus, nn.Softsign,
    nn.Sigmoid, nn.Tanh, nn.Tanhshrink, nn.Threshold, nn.LogSigmoid,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
    nn.Identity,
)

INDEX_MODULES = (
    nn.Flatten, nn.Unflatten, nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d,
    nn.ReplicationPad2d, nn.CircularPad2d, nn.PixelShuffle, nn.PixelUnshuffle,
)

#: Module types kept as leaves by :func:`trace` (subclasses included).
LEAF_MODULES = WEIGHTED_MODULES + POOL_MODULES + TRANSPARENT_MODULES + INDEX_MODULES


class _Tracer(fx.Tracer):
    """fx tracer that keeps supported modules as leaves and remembers where tracing failed."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_scope: str | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, LEAF_MODULES):
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m, forward, args, kwargs):
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_scope is None:
                try:
                    self.failed_scope = self.path_of_module(m)
                except NameError:
                    self.failed_scope = type(m).__name__
            raise


def trace(model: nn.Module) -> fx.Graph:
    """Symbolically trace ``model.forward``; raise :class:`UntraceableModelError` on failure."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    tracer = _Tracer()
    try:
        return tracer.trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError, ...
        where = tracer.failed_scope
        where = f"in module {where!r}" if where else f"in {type(model).__name__}.forward"
        raise UntraceableModelError(
            f"torch.fx could not trace {type(model).__name__} ({where}): {type(exc).__name__}: {exc}. "
            "The encoder needs a forward pass without data-dependent Python control flow "
            "(no `if x.sum() > 0`, no loops over tensor values); rewrite that part of the model "
            "or wrap it in a module of a supported type."
        ) from exc


def node_scope(node: fx.Node) -> str:
    """Module path a node belongs to (the module itself for ``call_module``; ``""`` = top level)."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack")
    if stack:
        key = next(reversed(stack))
        value = stack[key]
        if isinstance(value, tuple) and value and isinstance(value[0], str):
            return value[0]
        return str(key)
    return ""


def describe_target(node: fx.Node, model: nn.Module | None = None) -> str:
    """Readable name of the operation a node performs (``torch.nn.functional.max_pool2d``,
    ``Tensor.mul``, ``nn.LSTM``, ...)."""
    if node.op == "call_module" and model is not None:
        m = model.get_submodule(str(node.target))
        return f"{type(m).__module__}.{type(m).__qualname__}"
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    if target is operator.getitem:
        return "operator.getitem"
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", None) or repr(target)
    if name == "fn" and "boolean_dispatch" in repr(target):  # F.max_pool2d & co
        for fname in ("max_pool2d", "adaptive_max_pool2d", "max_pool1d", "max_pool3d"):
            if getattr(F, fname, None) is target:
                return f"torch.nn.functional.{fname}"
    return f"{mod}.{name}" if mod else name


@dataclass(frozen=True)
class WeightedLayer:
    """A weighted layer found in the dataflow.

    ``name`` is the module path (for a functional ``F.conv2d`` / ``F.linear`` call, the path of
    the module owning the weight), ``param`` the weight's parameter name, ``module`` the
    ``Conv2d`` / ``Linear`` module (None for a functional call), ``kind`` ``"conv"`` or
    ``"linear"`` and ``groups`` the convolution groups.
    """

    name: str
    param: str
    module: nn.Module | None
    kind: str = "conv"
    groups: int = 1


def _functional_groups(node: fx.Node) -> int:
    groups = node.args[6] if len(node.args) > 6 else node.kwargs.get("groups", 1)
    return int(groups) if isinstance(groups, int) else 1


def weighted_layers(model: nn.Module, graph: fx.Graph | None = None) -> list[WeightedLayer]:
    """Weighted layers in dataflow (topological) order: ``Conv2d`` / ``Linear`` modules and
    functional ``F.conv2d`` / ``F.linear`` calls whose weight is a parameter of the model.

    A layer called several times is listed once, at its first call.  ``graph`` is the
    model's traced graph when the caller has it already (else the model is traced here).
    Raises :class:`UntraceableModelError` if the model cannot be traced.
    """
    if graph is None:
        graph = trace(model)
    out: list[WeightedLayer] = []
    seen: set[str] = set()
    for node in graph.nodes:
        layer = None
        if node.op == "call_module":
            path = str(node.target)
            module = model.get_submodule(path)
            if isinstance(module, WEIGHTED_MODULES):
                kind = "conv" if isinstance(module, nn.Conv2d) else "linear"
                layer = WeightedLayer(path, f"{path}.weight" if path else "weight", module, kind, int(getattr(module, "groups", 1)))
        elif node.op == "call_function" and node.target in (F.conv2d, F.linear):
            w = node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
            if isinstance(w, fx.Node) and w.op == "get_attr":
                param = str(w.target)
                kind = "conv" if node.target is F.conv2d else "linear"
                groups = _functional_groups(node) if kind == "conv" else 1
                layer = WeightedLayer(param.rpartition(".")[0], param, None, kind, groups)
        if layer is not None and layer.param not in seen:
            seen.add(layer.param)
            out.append(layer)
    return out


def check_supported_module(node: fx.Node, module: nn.Module) -> None:
    """Raise :class:`UnsupportedOperationError` for a leaf module without an encoding rule."""
    if not isinstance(module, LEAF_MODULES):
        raise UnsupportedOperationError(
            f"unsupported operation {type(module).__module__}.{type(module).__qualname__} "
            f"(module {str(node.target)!r}, fx node {node.name!r}): the encoder knows Conv2d, Linear, "
            "2-D pooling, BatchNorm/normalisation, activations, dropout, flatten/reshape/pad, "
            "residual additions and torch.cat"
        )

