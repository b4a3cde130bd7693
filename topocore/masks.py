"""Masks: the one validator of ``{param_name: mask}`` dicts and prune buffers.

A *mask* is a boolean tensor with the shape of a prunable weight, ``True`` where the
weight is kept.  Masks are passed as a ``{param_name: mask}`` dict keyed by the model's
parameter names (``"layer1.0.conv1.weight"``) -- the :mod:`torch.nn.utils.prune` buffer
spelling ``"layer1.0.conv1.weight_mask"`` is accepted too -- or carried by the model as
``weight_mask`` buffers.  *Prunable parameters* are the ``weight`` of every ``Conv1d``,
``Conv2d``, ``Conv3d`` and ``Linear`` module, first and last layers included, except a
module that its model keeps dense by design: one whose attribute ``prunable`` is
``False`` (e.g. the dense readout of the ``mlp`` zoo model, see :func:`is_prunable`).
Such a layer never has a mask, so every pruner and dynamic-sparse-training method leaves
it dense; the graph encoders still encode it (as a dense layer).

:func:`validate_masks` is used by the encoder, the pruners, ``apply_masks`` and the
checkpoint loader, so all of them accept and refuse the same inputs:

* keys must name prunable parameters (a ``"..._orig"`` key is refused with the name to
  use instead; a key given twice, as parameter and as buffer name, is refused);
* values are bool tensors or numpy arrays, or numeric ones holding exactly 0 and 1 --
  any other value (0.5, NaN, 2) is refused rather than rounded;
* shapes must equal the parameter's.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from .errors import InputError, MaskError

__all__ = [
    "prunable_types",
    "is_prunable",
    "prunable_layers",
    "prunable_names",
    "raw_weight",
    "validate_masks",
    "MISSING_POLICIES",
]

#: What :func:`validate_masks` does with prunable parameters that have no mask.
MISSING_POLICIES = ("ignore", "dense", "error")


def prunable_types() -> tuple[type, ...]:
    """Module types whose ``weight`` is prunable."""
    import torch.nn as nn

    return (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def is_prunable(module: Any) -> bool:
    """Whether ``module``'s weight is prunable: a conv or linear layer not marked ``prunable = False``."""
    return isinstance(module, prunable_types()) and getattr(module, "prunable", True) is not False


def prunable_layers(model: Any) -> Iterator[tuple[str, Any]]:
    """Yield ``(param_name, module)`` for every prunable weight, in module registration order.

    ``param_name`` is ``"<module path>.weight"`` whether or not the module currently carries
    a pruning re-parametrisation.  A module reachable under several paths is reported once.
    Modules marked ``prunable = False`` (kept dense by their model) are skipped.
    """
    seen: set[int] = set()
    for path, module in model.named_modules():
        if is_prunable(module) and id(module) not in seen:
            seen.add(id(module))
            yield (f"{path}.weight" if path else "weight"), module


def prunable_names(model: Any) -> list[str]:
    """Names of the prunable parameters of ``model`` in module order."""
    return [name for name, _ in prunable_layers(model)]


def raw_weight(module: Any) -> Any:
    """The unmasked weight tensor of a prunable module (``weight_orig`` under a prune re-parametrisation)."""
    orig = getattr(module, "weight_orig", None)
    return orig if orig is not None else module.weight


def _canonical_key(key: object, layers: Mapping[str, Any], model: Any) -> str:
    # ``layers``: every accepted parameter name (prunable weights and extra weights)
    if not isinstance(key, str):
        raise MaskError(f"mask keys must be parameter names (str), got {key!r}")
    name = key
    if name == "weight_mask" or name.endswith(".weight_mask"):
        name = name[: -len("_mask")]
    elif name == "weight_orig" or name.endswith(".weight_orig"):
        raise MaskError(f"mask key {key!r} names the raw parameter; use the parameter name {key[: -len('_orig')]!r}")
    if name not in layers:
        close = [n for n in layers if n.split(".")[-2:] == name.split(".")[-2:]][:3]
        shown = ", ".join(repr(n) for n in list(layers)[:6]) + (", ..." if len(layers) > 6 else "")
        hint = f" (did you mean {close}?)" if close else f"; its prunable parameters are {shown}"
        raise MaskError(f"mask given for {key!r}, which is not a prunable parameter of {type(model).__name__}{hint}")
    return name


def _as_bool(name: str, value: Any, shape: tuple[int, ...]) -> Any:
    import torch

    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise MaskError(f"mask for {name!r} is a {type(value).__name__}; pass a bool torch tensor or numpy array")
    value = value.detach()
    if tuple(value.shape) != tuple(shape):
        raise MaskError(
            f"mask for {name!r} has shape {tuple(value.shape)} but the parameter has shape {tuple(shape)}; "
            "pass a mask of the parameter's shape"
        )
    if value.dtype == torch.bool:
        return value
    if value.is_complex():
        raise MaskError(f"mask for {name!r} has complex dtype {value.dtype}; pass a bool tensor")
    if value.numel() and not bool(((value == 0) | (value == 1)).all()):
        bad = value[~((value == 0) | (value == 1))].flatten()[0].item()
        raise MaskError(
            f"mask for {name!r} holds the value {bad!r}; a mask must be boolean or contain only 0 and 1 "
            "(threshold scores yourself, e.g. scores > t)"
        )
    return value != 0


def validate_masks(
    model: Any,
    masks: Mapping[str, Any] | None,
    *,
    missing: str = "ignore",
    device: Any = "cpu",
    extra_weights: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check masks against ``model``; return ``{param_name: bool tensor}`` in module order.

    Parameters
    ----------
    model : torch.nn.Module
    masks : dict or None
        ``{param_name or buffer name: bool tensor / array}``; ``None`` means no masks.
    missing : {"ignore", "dense", "error"}
        Prunable parameters absent from ``masks``: left out of the result, given an
        all-``True`` mask, or refused with :class:`~topocore.errors.MaskError` naming them.
    device : torch device, str or None
        Device of the returned masks; ``None`` puts each on its parameter's device.
    extra_weights : dict, optional
        ``{param_name: weight tensor}`` of further prunable parameters that are not the
        ``weight`` of a prunable module (e.g. a parameter that the model passes to
        ``F.conv2d`` / ``F.linear``, which the encoder treats as a weighted layer); they
        follow the prunable modules in the result and in the ``missing`` policies.

    Raises
    ------
    topocore.errors.MaskError
        For an unknown key, a key given twice, a wrong shape, or a non-binary value.
    """
    import torch

    if missing not in MISSING_POLICIES:
        raise InputError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
    if masks is None:
        masks = {}
    if not isinstance(masks, Mapping):
        raise MaskError(f"masks must be a dict {{param_name: bool tensor}}, got {type(masks).__name__}")
    weights = {name: raw_weight(module) for name, module in prunable_layers(model)}
    for name, weight in (extra_weights or {}).items():
        weights.setdefault(name, weight)
    given: dict[str, Any] = {}
    for key, value in masks.items():
        name = _canonical_key(key, weights, model)
        if name in given:
            raise MaskError(f"mask for {name!r} given twice (as parameter name and as buffer name)")
        weight = weights[name]
        mask = _as_bool(name, value, tuple(weight.shape))
        given[name] = mask.to(device=weight.device if device is None else device)
    absent = [n for n in weights if n not in given]
    if absent and missing == "error":
        shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        raise MaskError(
            f"no mask for the prunable layer(s) {shown}; supply them, or treat them as dense "
            "explicitly (Python: missing='dense'; CLI: --missing-masks dense)"
        )
    out: dict[str, Any] = {}
    for name, weight in weights.items():
        if name in given:
            out[name] = given[name]
        elif missing == "dense":
            out[name] = torch.ones(weight.shape, dtype=torch.bool, device=weight.device if device is None else device)
    return out
