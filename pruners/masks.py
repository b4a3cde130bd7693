"""Masks: ``{param_name: torch.BoolTensor}`` dictionaries and ``torch.nn.utils.prune`` buffers.

A *mask* is a boolean tensor with the shape of a prunable weight, ``True`` where the
weight is kept.  Masks are keyed by the model's parameter name, e.g.
``"layer1.0.conv1.weight"`` (never ``"weight_orig"``); the buffer spelling
``"layer1.0.conv1.weight_mask"`` is accepted wherever masks are read.

*Prunable parameters* are the weights of every ``Conv1d/2d/3d`` and ``Linear`` layer,
first and last layers included; biases and BatchNorm parameters are never pruned.

Functions here are cheap (one pass over the layers) and never change a weight value
except :func:`apply_masks`, which installs ``torch.nn.utils.prune`` re-parametrisations
(``weight = weight_orig * weight_mask``) so that forward passes and training respect
the masks.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn as nn
from torch.nn.utils import prune as torch_prune

from topocore.masks import prunable_layers, prunable_names, prunable_types, raw_weight, validate_masks

__all__ = [
    "PRUNABLE_TYPES",
    "prunable_layers",
    "prunable_names",
    "normalize_masks",
    "apply_masks",
    "masks_from_model",
    "remove_masks",
    "enforce_masks",
    "effective_state_dict",
    "mask_stats",
    "sparsity_of",
    "copy_model",
]

#: Layer types whose ``weight`` is prunable (``topocore.masks.prunable_types()``).
PRUNABLE_TYPES = prunable_types()


def normalize_masks(model: nn.Module, masks: Mapping[str, torch.Tensor], *, complete: bool = False) -> dict[str, torch.Tensor]:
    """Validate ``masks`` against ``model`` and return them as ``{param_name: bool tensor}`` in module order.

    A thin wrapper of :func:`topocore.masks.validate_masks`, the project's one mask
    validator (``complete=True`` is ``missing="dense"``, else ``missing="ignore"``); the
    result lives on the device of each parameter.  Keys may be parameter names
    (``"conv1.weight"``) or buffer names (``"conv1.weight_mask"``); values must have the
    parameter's shape and be boolean or hold only 0 and 1.

    Raises
    ------
    topocore.errors.MaskError
        For a key that is not a prunable parameter of the model, a key given twice, a
        wrong shape or a non-binary value.
    """
    return validate_masks(model, masks, missing="dense" if complete else "ignore", device=None)


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """Install ``masks`` as ``torch.nn.utils.prune`` buffers on ``model`` (in place) and return it.

    Each masked module gets ``weight_orig`` (parameter), ``weight_mask`` (buffer) and a
    forward pre-hook computing ``weight = weight_orig * weight_mask``.  A module that
    already carries a mask has it *replaced* (not combined).  Parameters absent from
    ``masks`` are left as they are.
    """
    masks = normalize_masks(model, masks)
    layers = dict(prunable_layers(model))
    for name, mask in masks.items():
        module = layers[name]
        if hasattr(module, "weight_mask"):
            module.weight_mask.copy_(mask.to(module.weight_mask.dtype))
            with torch.no_grad():
                module.weight = module.weight_orig * module.weight_mask
        else:
            torch_prune.custom_from_mask(module, "weight", mask.to(raw_weight(module).dtype))
    return model


def masks_from_model(model: nn.Module) -> dict[str, torch.Tensor]:
    """Read the masks of ``model``: ``{param_name: bool tensor}`` for every prunable parameter.

    Modules carrying a ``weight_mask`` buffer report it; the others are dense and report
    an all-``True`` mask.  The tensors are copies on the parameter's device.
    """
    out = {}
    for name, module in prunable_layers(model):
        if hasattr(module, "weight_mask"):
            out[name] = module.weight_mask.detach() != 0
        else:
            out[name] = torch.ones_like(module.weight, dtype=torch.bool)
    return out


def copy_model(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)`` that also works on models carrying pruning masks.

    After a forward pass with gradients, ``torch.nn.utils.prune`` leaves a non-leaf
    ``weight`` attribute that ``copy.deepcopy`` refuses; it is swapped for a detached
    tensor during the copy (same values) and restored afterwards.
    """
    import copy

    swapped = []
    for _, module in prunable_layers(model):
        if hasattr(module, "weight_mask") and isinstance(getattr(module, "weight", None), torch.Tensor):
            swapped.append((module, module.weight))
            module.weight = module.weight.detach()
    try:
        return copy.deepcopy(model)
    finally:
        for module, weight in swapped:
            module.weight = weight


def remove_masks(model: nn.Module) -> nn.Module:
    """Make the masks permanent: ``weight = weight_orig * weight_mask``, buffers and hooks removed."""
    for _, module in prunable_layers(model):
        if hasattr(module, "weight_mask"):
            torch_prune.remove(module, "weight")
    return model


@torch.no_grad()
def enforce_masks(model: nn.Module, masks: Mapping[str, torch.Tensor] | None = None) -> None:
    """Set pruned entries of the raw weights (``weight_orig`` or plain ``weight``) to exactly zero.

    With ``masks=None`` the model's own ``weight_mask`` buffers are used.  Called after
    every optimiser step during training.
    """
    layers = dict(prunable_layers(model))
    if masks is None:
        for module in layers.values():
            if hasattr(module, "weight_mask"):
                module.weight_orig.mul_(module.weight_mask)
                module.weight = module.weight_orig * module.weight_mask
        return
    for name, mask in normalize_masks(model, masks).items():
        module = layers[name]
        raw_weight(module).mul_(mask.to(raw_weight(module).dtype))
        if hasattr(module, "weight_mask"):
            module.weight = module.weight_orig * module.weight_mask


def effective_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` with pruning re-parametrisations folded in.

    ``"<m>.weight_orig"`` and ``"<m>.weight_mask"`` become one ``"<m>.weight"`` entry holding
    ``weight_orig * weight_mask``, so the result loads into an un-pruned copy of the model.
    Tensors are detached copies.
    """
    state = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith("weight_mask"):
            continue
        if key.endswith("weight_orig"):
            base = key[: -len("_orig")]
            mask = state[base + "_mask"]
            out[base] = (value * mask).detach().clone()
        else:
            out[key] = value.detach().clone()
    return out


def mask_stats(masks: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, int]]:
    """``{param_name: (kept, total)}`` for every mask."""
    return {name: (int(m.sum()), int(m.numel())) for name, m in masks.items()}


def sparsity_of(masks: Mapping[str, torch.Tensor]) -> float:
    """Global fraction of pruned entries over all masks (0 for an empty dict)."""
    kept = total = 0
    for m in masks.values():
        kept += int(m.sum())
        total += int(m.numel())
    return 0.0 if total == 0 else 1.0 - kept / total
