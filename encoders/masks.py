"""Where the pruning mask of each weight comes from.

A weight's mask is resolved, per parameter, from the first source that has one:

1. the ``masks`` argument, a ``{param_name: bool tensor}`` dict whose keys are the
   model's parameter names (``"layer1.0.conv1.weight"``, or the prune-buffer spelling
   ``"layer1.0.conv1.weight_mask"``; never ``"weight_orig"``);
2. a ``weight_mask`` buffer left by :mod:`torch.nn.utils.prune` (the unmasked values
   are then in the parameter ``weight_orig``; the key is still ``"<module>.weight"``);
3. the exact zeros of the weight (``mask = weight != 0``).

Masks from the dict and from prune buffers are checked by the toolkit's one mask
validator, :func:`topocore.masks.validate_masks` (re-exported here as
:func:`validate_masks`; :func:`check_masks` adds the weights of functional
``F.conv2d`` / ``F.linear`` calls): a key must name a prunable weight, a mask must
have its shape, and its values must be boolean or exactly 0/1 -- ``0.5`` or ``NaN``
raise :class:`~topocore.errors.MaskError` instead of being rounded.

:func:`resolve_masks` returns, for every prunable weight (the ``weight`` of each
``nn.Conv2d`` and ``nn.Linear``, in module registration order), a
:class:`MaskedWeight` with the unmasked weight values, the boolean mask and the
source it came from.  :func:`encoders.encode`, :func:`encoders.rolled` and the
per-layer metrics all use it, so the three agree on what "pruned" means.

Random masks are drawn by the pruners: ``pruners.prune(model, "uniform", sparsity,
random_state=...)`` gives layer-wise uniform random masks.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple

import torch
import torch.nn as nn

from topocore.masks import prunable_names, validate_masks

from .errors import MaskError

__all__ = [
    "WEIGHTED_MODULES",
    "MaskedWeight",
    "prunable_parameters",
    "parameter_names",
    "validate_masks",
    "check_masks",
    "resolve_masks",
    "resolve_mask",
]

#: Module types whose ``weight`` is a prunable weight (an encoded layer).
WEIGHTED_MODULES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)


class MaskedWeight(NamedTuple):
    """A weight with its resolved mask.

    Attributes
    ----------
    weight : torch.Tensor
        Detached weight values before masking (``weight_orig`` under
        :mod:`torch.nn.utils.prune`); masked entries keep whatever value they hold.
    mask : torch.Tensor
        Boolean tensor of ``weight``'s shape, True where the weight is kept.
    source : str
        ``"dict"``, ``"buffer"`` or ``"zeros"`` (see the module docstring).
    """

    weight: torch.Tensor
    mask: torch.Tensor
    source: str

    @property
    def density(self) -> float:
        """Fraction of kept (unmasked) entries."""
        n = self.mask.numel()
        return float(self.mask.sum().item()) / n if n else 0.0

    @property
    def masked(self) -> torch.Tensor:
        """``weight * mask`` (the effective weight)."""
        return self.weight * self.mask


def prunable_parameters(model: nn.Module) -> dict[str, nn.Module]:
    """``{param_name: module}`` for the weight of every ``Conv2d`` / ``Linear``, in registration order."""
    out: dict[str, nn.Module] = {}
    for path, module in model.named_modules():
        if isinstance(module, WEIGHTED_MODULES):
            name = f"{path}.weight" if path else "weight"
            out.setdefault(name, module)
    return out


def _split(name: str) -> tuple[str, str]:
    path, _, attr = name.rpartition(".")
    return path, attr


def parameter_names(model: nn.Module) -> list[str]:
    """Canonical parameter names: ``named_parameters()`` with ``"x_orig"`` reported as ``"x"``
    where a :mod:`torch.nn.utils.prune` ``"x_mask"`` buffer exists."""
    names = []
    buffers = {n for n, _ in model.named_buffers()}
    for name, _ in model.named_parameters():
        if name.endswith("_orig") and f"{name[:-5]}_mask" in buffers:
            name = name[:-5]
        names.append(name)
    return names


def _values_and_buffer(model: nn.Module, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Unmasked values of parameter ``name`` and its prune buffer mask (or None)."""
    path, attr = _split(name)
    module = model.get_submodule(path) if path else model
    orig = getattr(module, f"{attr}_orig", None)
    buf = getattr(module, f"{attr}_mask", None)
    if isinstance(orig, torch.Tensor) and isinstance(buf, torch.Tensor):
        return orig.detach(), buf.detach()
    value = getattr(module, attr, None)
    if not isinstance(value, torch.Tensor):
        raise MaskError(f"{name!r} is not a tensor attribute of {type(model).__name__}; name a weight parameter")
    return value.detach(), None


def _extra_weights(model: nn.Module, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """Unmasked values of the parameters among ``names`` that are not a prunable module's weight
    (functional weights, and the weights of layers a model keeps dense, ``prunable = False``)."""
    prunable = set(prunable_names(model))
    return {name: _values_and_buffer(model, name)[0] for name in names if name not in prunable}


def check_masks(
    model: nn.Module, masks: Mapping[str, Any] | None, params: Iterable[str] = ()
) -> dict[str, torch.Tensor]:
    """Validate a ``masks`` argument with :func:`topocore.masks.validate_masks`.

    Returns ``{param_name: bool CPU tensor}`` for the given masks (keys canonicalised:
    ``"conv1.weight_mask"`` becomes ``"conv1.weight"``).  ``params`` names weights
    the encoder reads besides the prunable modules' (parameters passed to
    ``F.conv2d`` / ``F.linear``); masks for them are accepted too.  Raises
    :class:`~topocore.errors.MaskError` for an unknown key, a key given twice, a
    wrong shape or a value other than 0/1 (``0.5`` and ``NaN`` are refused).
    """
    return validate_masks(model, masks, extra_weights=_extra_weights(model, params))


def resolve_mask(model: nn.Module, name: str, masks: Mapping[str, torch.Tensor] | None = None) -> MaskedWeight:
    """Resolve the mask of one parameter ``name``: ``masks`` (already checked by
    :func:`check_masks`) > prune buffer (checked here the same way) > exact zeros."""
    values, buf = _values_and_buffer(model, name)
    if masks and name in masks:
        return MaskedWeight(values, masks[name], "dict")
    if buf is not None:
        checked = validate_masks(model, {name: buf}, extra_weights=_extra_weights(model, [name]))
        return MaskedWeight(values, checked[name], "buffer")
    return MaskedWeight(values, values != 0, "zeros")


def resolve_masks(
    model: nn.Module,
    masks: Mapping[str, Any] | None = None,
    *,
    params: list[str] | None = None,
) -> dict[str, MaskedWeight]:
    """Resolve the mask of every prunable weight of ``model``.

    Parameters
    ----------
    model : nn.Module
    masks : dict, optional
        ``{param_name: bool tensor}`` (or ``"<module>.weight_mask"`` keys); checked by
        :func:`check_masks` (every key must name a prunable weight of ``model``, of
        its shape, with values 0/1).
    params : list of str, optional
        Parameter names to resolve; default: :func:`prunable_parameters`.

    Returns
    -------
    dict
        ``{param_name: MaskedWeight}`` in the order of ``params``.
    """
    names = list(prunable_parameters(model)) if params is None else list(params)
    checked = check_masks(model, masks, names)
    return {name: resolve_mask(model, name, checked) for name in names}
