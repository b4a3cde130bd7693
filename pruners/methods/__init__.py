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
er            density ∝ (n_in + n_out) / (n_in n_out), random positions   --
erk           density ∝ sum(shape) / prod(shape), random positions        --
============  =========================================================  ==============
"""

from __future__ import annotations

import inspect
import math
import secrets
from typing import Any

import torch
import torch.nn as nn

from .._rng import seeded
from ..masks import normalize_masks, prunable_layers
from ..selection import n_to_keep
from . import er, erk, global_random, grasp, iter_snip, magnitude, ntksap, prospr, snip, synflow, uniform
from ._common import Context, PruningMethod, scoring_copy

__all__ = ["METHODS", "PruningMethod", "prune", "method_options"]

#: Registry of pruning methods by name.
METHODS: dict[str, PruningMethod] = {
    m.METHOD.name: m.METHOD
    for m in (snip, grasp, synflow, prospr, uniform, er, erk, iter_snip, ntksap, magnitude, global_random)
}


def method_options(method: str) -> dict[str, Any]:
    """``{option: default}`` accepted by ``method`` as ``**options`` of :func:`prune`."""
    entry = _lookup(method)
    sig = inspect.signature(entry.function)
    return {n: p.default for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _lookup(method: str) -> PruningMethod:
    key = str(method).lower().replace("-", "_")
    aliases = {"itersnip": "iter_snip", "ntk_sap": "ntksap", "erdos_renyi": "er", "erdos_renyi_kernel": "erk"}
    key = aliases.get(key, key)
    if key not in METHODS:
        raise ValueError(f"unknown pruning method {method!r}; choose one of {sorted(METHODS)}")
    return METHODS[key]


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
    random_state: int | None = 0,
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
        A name in :data:`METHODS`.
    sparsity : float
        Global fraction of prunable weights (conv and linear weights, first and last
        layers included) to remove, in ``[0, 1)``.  Exactly ``round(sparsity * N)`` are
        removed.
    data : DataLoader, Dataset or (inputs, labels), optional
        Required by data-dependent methods (``snip``, ``grasp``, ``prospr``,
        ``iter_snip``).
    input_shape : tuple, optional
        ``(C, H, W)`` of one sample; required by ``synflow`` and ``ntksap`` (taken from
        ``data`` when it carries ``input_shape`` or is a tensor pair).
    random_state : int or None
        Seed of every random choice (data order, random positions, re-initialisations);
        the same seed gives the same mask.  The caller's global RNG state is preserved.
        ``None`` draws a fresh seed.
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
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    try:
        sparsity = float(sparsity)
    except (TypeError, ValueError):
        raise TypeError(f"sparsity must be a number in [0, 1), got {sparsity!r}") from None
    if not (0.0 <= sparsity < 1.0) or math.isnan(sparsity):
        raise ValueError(f"sparsity must lie in [0, 1) (the fraction of weights removed), got {sparsity}")
    allowed = method_options(entry.name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"pruning method {entry.name!r} has no option(s) {unknown}; its options are {allowed}")
    layers = list(prunable_layers(model))
    if not layers:
        raise ValueError(f"{type(model).__name__} has no prunable (Conv or Linear) layers")
    if input_shape is None:
        input_shape = _input_shape_from(data)
    if random_state is None:
        random_state = secrets.randbits(62)
    random_state = int(random_state)

    total = sum(_raw_numel(m) for _, m in layers)
    n_keep = n_to_keep(total, sparsity)
    probe = Context(method=entry.name, data=data, input_shape=input_shape)
    if entry.needs_data:
        probe.require_data()
    if entry.needs_input_shape:
        probe.require_input_shape()
    if n_keep == total:
        return {name: torch.ones_like(_raw_weight(m), dtype=torch.bool) for name, m in layers}

    with seeded(random_state):
        generator = torch.Generator().manual_seed(random_state)
        ctx = Context(method=entry.name, data=data, input_shape=input_shape, generator=generator, progress=progress)
        work = scoring_copy(model)
        masks = entry.function(work, n_keep, ctx, **options)
        del work
    masks = normalize_masks(model, masks, complete=False)
    missing = [name for name, _ in layers if name not in masks]
    kept = sum(int(m.sum()) for m in masks.values())
    if missing or kept != n_keep:
        raise RuntimeError(
            f"internal error in pruning method {entry.name!r}: kept {kept} weights instead of {n_keep}"
            + (f", no mask for {missing[:3]}" if missing else "")
        )
    return {name: masks[name] for name, _ in layers}


def _raw_weight(module: nn.Module) -> torch.Tensor:
    return module.weight_orig if hasattr(module, "weight_orig") else module.weight


def _raw_numel(module: nn.Module) -> int:
    return _raw_weight(module).numel()
