"""Layer-wise (rolled) baseline encodings: one bipartite graph per weighted layer.

These are the encodings the paper compares its MGE with (Section 2 and 4; Pal et al.
2022, Hoang et al. 2023).  Both ignore the input size: a convolution is encoded by
its kernel, not by its unrolled sliding windows.

``rolled``
    Left nodes are the kernel entries ``Cin * kh * kw`` (left index
    ``(ci * kh + ky) * kw + kx`` with the *global* input channel ``ci``), right nodes
    the ``Cout`` output channels; one edge ``(ci, ky, kx) -> co`` per unmasked weight,
    with the weight value.  For a grouped convolution (``groups = g``) output channel
    ``co`` of group ``co // (Cout / g)`` only has taps on the ``Cin / g`` input channels
    of its group, so each group is a disjoint block of ``Cin/g * kh * kw`` left nodes
    (the biadjacency matrix is block diagonal); depthwise convolutions give ``Cout``
    disjoint stars.
``rolled_channel``
    Left nodes the ``Cin`` input channels, right nodes the ``Cout`` output channels;
    an edge ``ci -> co`` iff the kernel slice ``W[co, ci_local]`` has at least one
    unmasked weight, weighted by the L2 norm of the masked slice (0.0 if every kept
    weight is exactly zero).
``Linear`` layers
    Left in-features, right out-features in both encodings: edge ``i -> j`` iff
    ``W[j, i]`` is unmasked; the weight is ``W[j, i]`` (rolled) or ``|W[j, i]|``
    (rolled-channel: the L2 norm of a one-element slice).

Layers are returned in the model's dataflow order (torch.fx tracing, see
:func:`encoders.trace.weighted_layers`); a module called several times appears once.
Masks are resolved as everywhere else (:mod:`encoders.masks`).  Cost O(nnz(W)) per
layer.
"""

from __future__ import annotations

import warnings
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from .bipartite import BipartiteGraph
from .errors import UntraceableModelError
from .masks import MaskedWeight, prunable_parameters, resolve_masks
from .trace import WeightedLayer, weighted_layers

__all__ = ["rolled", "rolled_channel"]


def _layers(model: nn.Module) -> list[WeightedLayer]:
    try:
        return weighted_layers(model)
    except UntraceableModelError as exc:
        warnings.warn(
            f"{exc} -- rolled encodings fall back to module registration order for the layer order",
            RuntimeWarning,
            stacklevel=3,
        )
        return [
            WeightedLayer(
                name.rpartition(".")[0], name, module,
                "conv" if isinstance(module, nn.Conv2d) else "linear", int(getattr(module, "groups", 1)),
            )
            for name, module in prunable_parameters(model).items()
        ]


def _resolved(model: nn.Module, masks: Mapping | None) -> tuple[list[WeightedLayer], dict[str, MaskedWeight]]:
    layers = _layers(model)
    resolved = resolve_masks(model, masks, params=[layer.param for layer in layers])
    return layers, resolved


def _arrays(mw: MaskedWeight) -> tuple[np.ndarray, np.ndarray]:
    mask = mw.mask.numpy()
    values = mw.weight.detach().to(torch.float32).cpu().numpy()
    return values, mask


def _conv_info(layer: WeightedLayer, values: np.ndarray) -> dict:
    if layer.kind == "conv":
        cout, cin_g, kh, kw = values.shape
        g = int(layer.groups)
        return dict(kind="conv", cin=int(cin_g) * g, cout=int(cout), cin_g=int(cin_g), kh=int(kh), kw=int(kw), groups=g)
    out_f, in_f = values.shape
    return dict(kind="linear", cin=int(in_f), cout=int(out_f), cin_g=int(in_f), kh=1, kw=1, groups=1)


def rolled(model: nn.Module, masks: Mapping | None = None) -> list[BipartiteGraph]:
    """Rolled encoding: per weighted layer, kernel entries ``Cin*kh*kw`` -> output channels ``Cout``.

    Parameters
    ----------
    model : nn.Module
    masks : dict, optional
        ``{param_name: bool tensor}``; else prune buffers, else exact zeros.

    Returns
    -------
    list of BipartiteGraph
        One per weighted layer in dataflow order, ``encoding="rolled"``, ``name`` the
        module path, ``param`` the weight's name, ``density`` the kept fraction.
    """
    layers, resolved = _resolved(model, masks)
    out = []
    for layer in layers:
        mw = resolved[layer.param]
        values, mask = _arrays(mw)
        info = _conv_info(layer, values)
        if info["kind"] == "conv":
            co, ci_l, ky, kx = np.nonzero(mask)
            cout_g = info["cout"] // info["groups"]
            ci = (co // cout_g) * info["cin_g"] + ci_l
            left = (ci * info["kh"] + ky) * info["kw"] + kx
            n_left = info["cin"] * info["kh"] * info["kw"]
        else:
            co, left = np.nonzero(mask)
            n_left = info["cin"]
        out.append(
            BipartiteGraph(
                name=layer.name or layer.kind,
                kind=info["kind"],
                encoding="rolled",
                n_left=int(n_left),
                n_right=info["cout"],
                left=left,
                right=co,
                weight=values[mask],
                density=float(mask.mean()) if mask.size else 0.0,
                param=layer.param,
                extra={k: info[k] for k in ("cin", "cout", "kh", "kw", "groups")},
            )
        )
    return out


def rolled_channel(model: nn.Module, masks: Mapping | None = None) -> list[BipartiteGraph]:
    """Rolled-channel encoding: per weighted layer, input channels ``Cin`` -> output channels ``Cout``.

    An edge ``ci -> co`` iff the kernel slice ``W[co, ci]`` keeps at least one weight;
    its weight is the L2 norm of the masked slice.  Linear layers: in-features ->
    out-features with weight ``|W[j, i]|``.  Same parameters and order as :func:`rolled`.
    """
    layers, resolved = _resolved(model, masks)
    out = []
    for layer in layers:
        mw = resolved[layer.param]
        values, mask = _arrays(mw)
        info = _conv_info(layer, values)
        cout = info["cout"]
        m4 = mask.reshape(cout, info["cin_g"], -1)
        w4 = np.where(m4, values.reshape(m4.shape), 0.0).astype(np.float64)
        any_kept = m4.any(axis=2)
        norms = np.sqrt((w4 * w4).sum(axis=2))
        co, ci_l = np.nonzero(any_kept)
        cout_g = cout // info["groups"]
        ci = (co // cout_g) * info["cin_g"] + ci_l
        out.append(
            BipartiteGraph(
                name=layer.name or layer.kind,
                kind=info["kind"],
                encoding="rolled_channel",
                n_left=info["cin"],
                n_right=cout,
                left=ci,
                right=co,
                weight=norms[co, ci_l].astype(np.float32),
                density=float(mask.mean()) if mask.size else 0.0,
                param=layer.param,
                extra={k: info[k] for k in ("cin", "cout", "kh", "kw", "groups")},
            )
        )
    return out
