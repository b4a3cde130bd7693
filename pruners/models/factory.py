"""Models of your own: ``"package.module:factory"`` specs, imported and called.

Wherever :mod:`pruners` accepts an architecture name it also accepts a *model spec*
``"package.module:factory"`` (the entry-point syntax of Python packaging):

* ``package.module`` is imported with :func:`importlib.import_module` (it must be
  installed or on ``sys.path``);
* ``factory`` (a dotted attribute path inside the module, e.g. ``Net`` or
  ``Net.from_config``) must be callable;
* it is called with keyword arguments: ``num_classes`` and ``input_shape`` when its
  signature names them (:func:`inspect.signature`), ``num_classes`` also when it takes
  ``**kwargs`` (the torchvision convention, e.g. ``"torchvision.models:resnet18"`` gets
  ``num_classes`` through ``**kwargs``), plus the caller's model options;
* the result must be a :class:`torch.nn.Module`.

When the factory takes no ``num_classes`` the model keeps its own output size and a
:class:`UserWarning` says so.  Every failure (missing module or attribute, non-callable,
options the factory does not take, a result that is not a module) is a
:class:`~topocore.errors.InputError` naming the spec and the fix.  torchvision is an
optional dependency: a ``torchvision.*`` spec without it installed says how to get it.

Checkpoints record the spec as their ``arch``; :func:`pruners.load_checkpoint` rebuilds
such a model only when the caller trusts the spec (importing and calling code named by a
file is code execution).
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from typing import Any, Callable, Mapping

import torch.nn as nn

from topocore.errors import InputError

__all__ = ["is_spec", "parse_spec", "resolve_factory", "call_factory", "factory_arguments"]

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def is_spec(name: object) -> bool:
    """Whether ``name`` is a ``"package.module:factory"`` spec (a string holding ``":"``)."""
    return isinstance(name, str) and ":" in name


def parse_spec(spec: str) -> tuple[str, str]:
    """``"pkg.mod:make"`` -> ``("pkg.mod", "make")``; :class:`InputError` for a malformed spec."""
    module, _, attr = str(spec).strip().partition(":")
    module, attr = module.strip(), attr.strip()
    if not _DOTTED.match(module) or not _DOTTED.match(attr):
        raise InputError(
            f"model spec {spec!r} is malformed; write it as 'package.module:factory', e.g. 'torchvision.models:resnet18'"
        )
    return module, attr


def _import(module: str, spec: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            if missing.split(".")[0] == "torchvision":
                raise InputError(
                    f"model spec {spec!r} needs torchvision, which is not installed; install it "
                    "(pip install torchvision; optional) or use a zoo model"
                ) from None
            raise InputError(
                f"cannot import the module {module!r} of model spec {spec!r} (no module named {missing!r}); install "
                "its package or put the folder holding it on PYTHONPATH"
            ) from None
        raise InputError(
            f"importing {module!r} for model spec {spec!r} failed: it needs the module {missing!r}, which is not "
            "installed; install it"
        ) from None


def resolve_factory(spec: str) -> Callable[..., Any]:
    """Import the module of ``spec`` and return its callable factory (see the module docstring)."""
    module_name, attr = parse_spec(spec)
    obj = _import(module_name, spec)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            module = importlib.import_module(module_name)
            found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))[:8]
            raise InputError(
                f"module {module_name!r} has no attribute {attr!r} (model spec {spec!r}); fix the name after ':'"
                + (f", e.g. one of {', '.join(found)}" if found else "")
            ) from None
    if not callable(obj):
        raise InputError(
            f"{attr!r} in module {module_name!r} is a {type(obj).__name__}, not callable (model spec {spec!r}); "
            "name a function or class that returns a torch.nn.Module"
        )
    return obj


def factory_arguments(factory: Callable[..., Any]) -> dict[str, bool]:
    """``{"num_classes": bool, "input_shape": bool}``: which of the two the factory is called with."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # some builtins and C extensions have no signature: nothing is passed
        return {"num_classes": False, "input_shape": False}
    named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    return {"num_classes": "num_classes" in named or var_kw, "input_shape": "input_shape" in named}


def call_factory(
    spec: str,
    num_classes: int,
    input_shape: tuple[int, ...],
    options: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Resolve ``spec`` and call it (see the module docstring); return the model."""
    factory = resolve_factory(spec)
    options = dict(options or {})
    clash = sorted({"num_classes", "input_shape"} & set(options))
    if clash:
        raise InputError(f"model options {clash} duplicate arguments of their own; pass num_classes and input_shape directly")
    passes = factory_arguments(factory)
    call: dict[str, Any] = dict(options)
    if passes["num_classes"]:
        call["num_classes"] = int(num_classes)
    if passes["input_shape"]:
        call["input_shape"] = tuple(input_shape)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to check against: the call itself decides
        signature = None
    if signature is not None:
        try:
            signature.bind(**call)
        except TypeError as exc:
            raise InputError(
                f"model factory {spec!r} cannot be called with {sorted(call) or 'no arguments'} ({exc}); pass only "
                "model options its signature accepts"
            ) from None
    model = factory(**call)
    if not isinstance(model, nn.Module):
        raise InputError(
            f"model factory {spec!r} returned a {type(model).__name__}, not a torch.nn.Module; make it return the network"
        )
    if not passes["num_classes"]:
        warnings.warn(
            f"model factory {spec!r} takes no num_classes argument: the model keeps its own output size instead of "
            f"{int(num_classes)} classes; add a num_classes parameter to the factory to set it",
            UserWarning,
            stacklevel=3,
        )
    return model
