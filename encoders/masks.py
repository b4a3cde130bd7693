"""Where the pruning mask of each weight comes from.

A weight's mask is resolved, per parameter, from the first source that has one:

1. the ``masks`` argument, a ``{param_name: bool tensor}`` dict whose keys are the
   model's parameter names (``"layer1.0.conv1.weight"``; never ``"weight_orig"``);
2. a ``weight_mask`` buffer left by :mod:`torch.nn.utils.prune` (the unmasked values
   are then in the parameter ``weight_orig``; the key is still ``"<module>.weight"``);
3. the exact zeros of the weight (``mask = weight != 0``).

:func:`resolve_masks` returns, for every prunable weight (the ``weight`` of each
``nn.Conv2d`` and ``nn.Linear``, in module registration order), a
:class:`MaskedWeight` with the unmasked weight values, the boolean mask and the
source it came from.  :func:`encoders.encode`, :func:`encoders.rolled` and the
per-layer metrics all use it, so the three agree on what "pruned" means.

:func:`random_uniform_masks` draws layer-wise uniform random masks (every layer at
the same sparsity), used by the ``topometrics encode`` command and the benchmarks.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np
import torch
import torch.nn as nn

from .errors import MaskError

__all__ = [
    "WEIGHTED_MODULES",
    "MaskedWeight",
    "prunable_parameters",
    "parameter_names",
    "validate_masks",
    "resolve_masks",
    "resolve_mask",
    "random_uniform_masks",
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
        raise MaskError(f"{name!r} is not a tensor attribute of the model")
    return value.detach(), None


def _as_bool_mask(name: str, mask: Any) -> torch.Tensor:
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask))
    if not isinstance(mask, torch.Tensor):
        raise MaskError(
            f"mask for {name!r} is a {type(mask).__name__}; pass a bool torch tensor or numpy array"
        )
    mask = mask.detach().cpu()
    if mask.dtype == torch.bool:
        return mask
    if mask.is_complex():
        raise MaskError(f"mask for {name!r} has complex dtype {mask.dtype}; pass a bool tensor")
    if mask.is_floating_point() and not bool(torch.isfinite(mask).all()):
        raise MaskError(f"mask for {name!r} contains NaN or infinite values; pass a bool tensor")
    return mask != 0


def validate_masks(model: nn.Module, masks: Mapping[str, Any] | None) -> dict[str, torch.Tensor]:
    """Check a ``{param_name: mask}`` dict against ``model`` and return it with bool CPU tensors.

    Raises :class:`~encoders.errors.MaskError` for a key that is not a parameter of the
    model (with a hint for ``weight_orig`` / ``weight_mask`` spellings), a mask whose
    shape differs from its parameter's, or a value that is not a tensor / array.
    """
    if masks is None:
        return {}
    if not isinstance(masks, Mapping):
        raise MaskError(
            f"masks must be a dict {{param_name: bool tensor}}, got {type(masks).__name__}"
        )
    known = parameter_names(model)
    known_set = set(known)
    out: dict[str, torch.Tensor] = {}
    for name, mask in masks.items():
        if not isinstance(name, str):
            raise MaskError(f"mask keys must be parameter names (str), got {name!r}")
        if name not in known_set:
            hint = ""
            for suffix in ("_orig", "_mask"):
                if name.endswith(suffix) and name[: -len(suffix)] in known_set:
                    hint = f"; use the parameter name {name[: -len(suffix)]!r} instead of {name!r}"
            if not hint:
                prunable = list(prunable_parameters(model))
                shown = ", ".join(repr(n) for n in prunable[:6]) + (", ..." if len(prunable) > 6 else "")
                hint = f"; prunable parameters of this model are {shown}"
            raise MaskError(
                f"mask given for {name!r}, which is not a parameter of {type(model).__name__}{hint}"
            )
        values, _ = _values_and_buffer(model, name)
        m = _as_bool_mask(name, mask)
        if tuple(m.shape) != tuple(values.shape):
            raise MaskError(
                f"mask for {name!r} has shape {tuple(m.shape)} but the parameter has shape "
                f"{tuple(values.shape)}; pass a mask of the parameter's shape"
            )
        out[name] = m
    return out


def resolve_mask(model: nn.Module, name: str, masks: Mapping[str, torch.Tensor] | None = None) -> MaskedWeight:
    """Resolve the mask of one parameter ``name``; ``masks`` must already be validated
    (see :func:`validate_masks`)."""
    values, buf = _values_and_buffer(model, name)
    if masks and name in masks:
        return MaskedWeight(values, masks[name], "dict")
    if buf is not None:
        m = _as_bool_mask(name, buf)
        if tuple(m.shape) != tuple(values.shape):
            raise MaskError(f"prune buffer of {name!r} has shape {tuple(m.shape)}, weight {tuple(values.shape)}")
        return MaskedWeight(values, m, "buffer")
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
        ``{param_name: bool tensor}``; validated with :func:`validate_masks` (every
        key must be a parameter of ``model`` with a mask of its shape).
    params : list of str, optional
        Parameter names to resolve; default: :func:`prunable_parameters`.

    Returns
    -------
    dict
        ``{param_name: MaskedWeight}`` in the order of ``params``.
    """
    checked = validate_masks(model, masks)
    names = list(prunable_parameters(model)) if params is None else list(params)
    return {name: resolve_mask(model, name, checked) for name in names}


def random_uniform_masks(
    model: nn.Module,
    sparsity: float,
    *,
    random_state: int | np.random.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Layer-wise uniform random masks: every prunable weight keeps exactly
    ``round((1 - sparsity) * numel)`` entries chosen uniformly at random.

    Parameters
    ----------
    model : nn.Module
    sparsity : float
        Fraction of pruned weights in ``[0, 1]``.
    random_state : int, numpy Generator or None
        Seed for reproducible masks.

    Returns
    -------
    dict
        ``{param_name: bool tensor}`` for :func:`prunable_parameters`.
    """
    sparsity = float(sparsity)
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    out = {}
    for name in prunable_parameters(model):
        values, _ = _values_and_buffer(model, name)
        n = values.numel()
        keep = int(round((1.0 - sparsity) * n))
        flat = np.zeros(n, dtype=bool)
        if keep:
            flat[rng.choice(n, size=keep, replace=False)] = True
        out[name] = torch.from_numpy(flat.reshape(tuple(values.shape)))
    return out
