"""Pruning-at-initialization and layer-wise random pruning methods, and :func:`prune`.

Registry :data:`METHODS` maps a name to a :class:`PruningMethod`; every method lives in
its own module whose docstring gives the score formula and the reference:

============  =========================================================  ==============
name          criterion                                                  needs
============  =========================================================  ==============
snip          ``|g * w|`` on one batch                                    data
grasp         ``-w * (H g)``, highest removed, 10 samples/class, T=200    data
synflow       ``|w * dR/dw|`` of the linearised net, 100 iterations       input_shape
prospr        ``|dL/dc|`` after 3 differentiable SGD steps                data
iter_snip     SNIP over 100 iterations (exponential schedule)             data
ntksap        finite-difference NTK trace saliency, 100 iterations        input_shape
magnitude     ``|w|``                                                      --
random        uniform random scores (global)                              --
uniform       same density per layer, random positions                    --
er            the published ER: density ∝ sum(shape) / prod(shape),      --
              searched eps, saturated layers not re-solved
er_channel    RigL's ER: density ∝ (n_in + n_out) / (n_in n_out)          --
erk           density ∝ sum(shape) / prod(shape), random positions        --
============  =========================================================  ==============

Every method keeps exactly ``round((1 - sparsity) N)`` weights except ``er``, which keeps
the published per-layer densities (see :mod:`pruners.methods.er`).
"""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from topocore import names
from topocore.errors import InputError, MaskError
from topocore.masks import prunable_layers, raw_weight, validate_masks
from topocore.random import seed_of, seeded

from ..selection import n_to_keep
from . import er, er_channel, erk, global_random, grasp, iter_snip, magnitude, ntksap, prospr, snip, synflow, uniform
from ._common import Context, PruningMethod, scoring_copy

__all__ = ["METHODS", "PruningMethod", "prune", "method_options", "canonical_method"]

#: Registry of pruning methods by name.
METHODS: dict[str, PruningMethod] = {
    m.METHOD.name: m.METHOD
    for m in (snip, grasp, synflow, prospr, uniform, er, er_channel, erk, iter_snip, ntksap, magnitude, global_random)
}


def method_options(method: str) -> dict[str, Any]:
    """``{option: default}`` accepted by ``method`` as ``**options`` of :func:`prune`."""
    entry = _lookup(method)
    sig = inspect.signature(entry.function)
    return {n: p.default for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def canonical_method(method: str, *, dense: bool = False) -> str:
    """Registry name of a pruning method in any spelling known to :mod:`topocore.names`.

    ``"SynFlow"`` -> ``"synflow"``, ``"Erdos-Renyi-Kernel"`` -> ``"erk"``, ``"iter-snip"`` ->
    ``"iter_snip"``.  Methods registered in :data:`METHODS` at run time are accepted under
    their registry name.  With ``dense=True`` the no-pruning pseudo-method ``"dense"`` is
    accepted too.  Raises :class:`~topocore.errors.InputError` for a name that is unknown
    or known (e.g. a dynamic sparse training method of the published data) but not
    implemented here.
    """
    choices = sorted(METHODS) + ([names.DENSE] if dense else [])
    extra = tuple(m for m in METHODS if m not in names.KNOWN_METHODS)
    try:
        name = names.canonical_method(method, extra=extra)
    except InputError:
        raise InputError(f"unknown pruning method {method!r}; choose one of {', '.join(choices)}") from None
    if name == names.DENSE and not dense:
        raise InputError(
            "'dense' (no pruning) is a pseudo-method of pruners.pipeline.prune_model and the grid, not a pruner; "
            f"choose one of {', '.join(choices)}"
        )
    if name not in choices:
        from ..dst import METHODS as DST

        where = ("it is a dynamic sparse training method: prune with another method and train with dst="
                 f"{name!r} (CLI: --dst {name})") if name in DST else "it appears only in published data"
        raise InputError(f"pruning method {name!r} is not implemented by pruners ({where}); choose one of {', '.join(choices)}")
    return name


def _lookup(method: str) -> PruningMethod:
    return METHODS[canonical_method(method)]


def _input_shape_from(data: Any) -> tuple[int, ...] | None:
    shape = getattr(data, "input_shape", None)
    if shape is None:
        dataset = getattr(data, "dataset", None)
        shape = getattr(dataset, "input_shape", None)
    if shape is None and isinstance(data, (tuple, list)) and len(data) == 2 and hasattr(data[0], "shape"):
        shape = tuple(data[0].shape[1:])
    return tuple(int(s) for s in shape) if shape is not None else None


def prune(
    model: nn.Module,
    method: str,
    sparsity: float,
    *,
    data: Any = None,
    input_shape: tuple[int, ...] | None = None,
    random_state: None | int | np.random.Generator = 0,
    progress: bool | None = None,
    **options: Any,
) -> dict[str, torch.Tensor]:
    """Compute pruning masks for ``model`` without modifying it.

    Parameters
    ----------
    model : torch.nn.Module
        The network at initialization.  It is never modified: methods score a deep copy
        (weights, BatchNorm running statistics and existing masks stay exactly as they
        were).  If it already carries masks, scoring sees the masked weights.
    method : str
        A name in :data:`METHODS`, in any spelling :func:`canonical_method` accepts.
    sparsity : float
        Global fraction of prunable weights (conv and linear weights, first and last
        layers included) to remove, in ``[0, 1)``.  Exactly ``round(sparsity * N)`` are
        removed, except by ``er``, whose published rule fixes per-layer densities that
        only approximate it (a :class:`UserWarning` gives the achieved sparsity).
    data : DataLoader, Dataset or (inputs, labels), optional
        Required by data-dependent methods (``snip``, ``grasp``, ``prospr``,
        ``iter_snip``).
    input_shape : tuple, optional
        ``(C, H, W)`` of one sample; required by ``synflow`` and ``ntksap`` (taken from
        ``data`` when it carries ``input_shape`` or is a tensor pair).
    random_state : None, int or numpy.random.Generator
        Seed of every random choice (data order, random positions, re-initialisations);
        the same seed gives the same mask.  The caller's global RNG state is preserved.
        ``None`` draws a fresh seed; a Generator gives one draw
        (:func:`topocore.random.seed_of`).
    progress : bool or None
        tqdm bar for iterative methods; ``None`` shows it only on a terminal.
    **options
        Method options, e.g. ``iterations=100`` for synflow, ``batch_size=128`` for snip;
        see :func:`method_options`.

    Returns
    -------
    dict[str, torch.BoolTensor]
        ``{param_name: mask}`` for every prunable parameter, ``True`` = kept, on the
        parameter's device.
    """
    entry = _lookup(method)
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}; pass the network itself")
    try:
        sparsity = float(sparsity)
    except (TypeError, ValueError):
        raise InputError(f"sparsity must be a number in [0, 1), got {sparsity!r}") from None
    if not (0.0 <= sparsity < 1.0) or math.isnan(sparsity):
        raise InputError(f"sparsity must lie in [0, 1) (the fraction of weights removed), got {sparsity}")
    allowed = method_options(entry.name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(f"pruning method {entry.name!r} has no option(s) {unknown}; its options are {allowed}")
    layers = list(prunable_layers(model))
    if not layers:
        raise InputError(
            f"{type(model).__name__} has no prunable (Conv1d/2d/3d or Linear) layers; there is nothing to prune"
        )
    if input_shape is None:
        input_shape = _input_shape_from(data)
    random_state = seed_of(random_state)

    total = sum(_raw_numel(m) for _, m in layers)
    n_keep = n_to_keep(total, sparsity)
    probe = Context(method=entry.name, data=data, input_shape=input_shape)
    if entry.needs_data:
        probe.require_data()
    if entry.needs_input_shape:
        probe.require_input_shape()
    if n_keep == total:
        return {name: torch.ones_like(raw_weight(m), dtype=torch.bool) for name, m in layers}

    with seeded(random_state):
        generator = torch.Generator().manual_seed(random_state)
        ctx = Context(
            method=entry.name, data=data, input_shape=input_shape, generator=generator, progress=progress, sparsity=sparsity
        )
        work = scoring_copy(model)
        masks = entry.function(work, n_keep, ctx, **options)
        del work
    try:
        masks = validate_masks(model, masks, missing="ignore", device=None)
    except MaskError as exc:  # a method returned masks that do not fit: a bug of that method
        raise RuntimeError(f"internal error in pruning method {entry.name!r}: {exc}") from exc
    missing = [name for name, _ in layers if name not in masks]
    kept = sum(int(m.sum()) for m in masks.values())
    if missing or (entry.exact_count and kept != n_keep):
        raise RuntimeError(
            f"internal error in pruning method {entry.name!r}: kept {kept} weights instead of {n_keep}"
            + (f", no mask for {missing[:3]}" if missing else "")
        )
    if kept != n_keep:
        warnings.warn(
            f"pruning method {entry.name!r} keeps {kept} of {total} weights by its definition: sparsity "
            f"{1 - kept / total:.4f} instead of {sparsity:g} (see pruners.METHODS[{entry.name!r}].doc; "
            "'erk' and 'er_channel' keep the exact count)",
            UserWarning,
            stacklevel=2,
        )
    return {name: masks[name] for name, _ in layers}


def _raw_numel(module: nn.Module) -> int:
    return raw_weight(module).numel()
