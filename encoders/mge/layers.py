"""Rules of the weighted layers: ``Conv2d`` and ``Linear``, as modules or functional calls.

Each rule checks the traced input against the layer (4-D input with the layer's channel
count for a convolution, ``(batch, features)`` for a linear layer), resolves the
weight's mask (:func:`encoders.masks.resolve_mask`), creates the layer's output
partition and records a :class:`~encoders.mge.partitions.ConvJob`; the edges are made
later by :mod:`encoders.mge.planning`.  A linear layer is a 1x1 convolution on a 1x1
image with ``Cin = in_features``.  Non-zero ``padding_mode`` (reflect, replicate,
circular) is applied to the code tensor before the job is recorded, so a padding
position refers to the input node it copies.  With ``encode(..., pad_nodes=True)`` a
zero-padded convolution that reads the network input reads the padded input partition
instead (its padding positions are nodes; :meth:`Encoder.padded_input_for`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ..errors import EncodingError
from .ops import Sym, join, pair
from .partitions import ConvJob

if TYPE_CHECKING:
    from .interpret import Encoder

__all__ = ["conv_module", "conv_functional", "linear_module", "linear_functional"]


def conv_module(enc: Encoder, node: fx.Node, m: nn.Conv2d, args: tuple, kwargs: dict) -> Sym:
    """An ``nn.Conv2d`` module call (any subclass; non-zero padding modes as pre-padding)."""
    x = args[0] if args else kwargs.get("input")
    path = str(node.target)
    param = join(path, "weight")
    if m.padding_mode != "zeros":
        pads = tuple(int(p) for p in m._reversed_padding_repeated_twice)
        pre = (pads, m.padding_mode)
        pads = (0, 0, 0, 0)
    else:
        pre = None
        pads = tuple(int(p) for p in m._reversed_padding_repeated_twice)
    geom = dict(
        kernel=pair(m.kernel_size), stride=pair(m.stride), dilation=pair(m.dilation),
        pads=pads, groups=int(m.groups), in_channels=int(m.in_channels), out_channels=int(m.out_channels),
    )
    return _conv(enc, node, path, param, x, geom, pre, type(m).__name__)


def conv_functional(enc: Encoder, node: fx.Node, args: tuple, kwargs: dict) -> Sym:
    """An ``F.conv2d`` call whose weight is a parameter of the model (``padding="same"/"valid"`` too)."""
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    defaults = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}
    a = {**defaults, **dict(zip(names, args)), **kwargs}
    wnode = node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
    if not (isinstance(wnode, fx.Node) and wnode.op == "get_attr"):
        raise enc.unsupported(node, "F.conv2d whose weight is not a parameter of the model")
    param = str(wnode.target)
    weight = a["weight"]
    cout, cin_g, kh, kw = (int(s) for s in weight.shape)
    dil = pair(a["dilation"])
    padding = a["padding"]
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        else:
            th, tw = dil[0] * (kh - 1), dil[1] * (kw - 1)
            pads = (tw // 2, tw - tw // 2, th // 2, th - th // 2)
    else:
        ph, pw = pair(padding)
        pads = (pw, pw, ph, ph)
    groups = int(a["groups"])
    geom = dict(
        kernel=(kh, kw), stride=pair(a["stride"]), dilation=dil, pads=pads, groups=groups,
        in_channels=cin_g * groups, out_channels=cout,
    )
    path = param.rpartition(".")[0]
    return _conv(enc, node, path, param, a["input"], geom, None, "conv2d")


def _conv(enc: Encoder, node: fx.Node, path: str, param: str, x: Any, geom: dict, pre: Any, typename: str) -> Sym:
    """Check the input against the convolution, compute the output size and record the job."""
    if not isinstance(x, Sym):
        raise enc.unsupported(node, "convolution input is not the traced activation")
    code = x.code
    if code.dim() != 4:
        raise EncodingError(
            f"layer {path!r} ({typename}) expects a (N, C, H, W) input but receives shape "
            f"{tuple(code.shape[1:])} per sample; check input_shape={enc.input_shape}"
        )
    cin = int(code.shape[1])
    if cin != geom["in_channels"]:
        raise EncodingError(
            f"layer {path!r} ({typename}) expects {geom['in_channels']} input channels but receives {cin} "
            f"(input_shape={enc.input_shape}); pass an input_shape the model was built for"
        )
    if pre is not None:
        code = F.pad(code, pre[0], mode=pre[1])
    pad_nodes = None
    if enc.pad_nodes and any(geom["pads"]):
        padded = enc.padded_input_for(code, geom["pads"])
        if padded is not None:  # the input's zero-padding positions are input nodes
            pad_nodes, code = geom["pads"], padded
            geom = {**geom, "pads": (0, 0, 0, 0)}
    H, W = int(code.shape[2]), int(code.shape[3])
    (kh, kw), (sh, sw), (dh, dw) = geom["kernel"], geom["stride"], geom["dilation"]
    pl, pr, pt, pb = geom["pads"]
    Ho = (H + pt + pb - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + pl + pr - dw * (kw - 1) - 1) // sw + 1
    if Ho < 1 or Wo < 1:
        raise EncodingError(
            f"layer {path!r} ({typename}) receives a {H}x{W} activation, smaller than its "
            f"{kh}x{kw} kernel (dilation {dh}x{dw}); pass a larger input_shape (got {enc.input_shape})"
        )
    cout = geom["out_channels"]
    mw = enc.masked_weight(param)
    g = dict(
        Cin=cin, H=H, W=W, Cout=cout, Ho=Ho, Wo=Wo, kh=kh, kw=kw, sh=sh, sw=sw, ph=pt, pw=pl,
        dh=dh, dw=dw, groups=geom["groups"],
    )
    extra = {
        "type": typename,
        "kernel_size": [kh, kw], "stride": [sh, sw], "padding": [pt, pb, pl, pr],
        "dilation": [dh, dw], "groups": geom["groups"],
        "in_shape": [int(s) for s in x.code.shape[1:]], "out_shape": [cout, Ho, Wo],
        "folded_pooling": list(x.pools),
    }
    if pre is not None:
        extra["padding_mode"] = pre[1]
        extra["padding"] = [pre[0][2], pre[0][3], pre[0][0], pre[0][1]]
    if pad_nodes is not None:  # padding read from padding nodes of the input partition
        extra["padding"] = [pad_nodes[2], pad_nodes[3], pad_nodes[0], pad_nodes[1]]
        extra["pad_nodes"] = True
    out = _weighted(enc, path, "conv", param, mw, code, g, (cout, Ho, Wo), extra)
    enc.table.jobs[-1].scale = input_scale(x)
    return out


def linear_module(enc: Encoder, node: fx.Node, m: nn.Linear, args: tuple, kwargs: dict) -> Sym:
    """An ``nn.Linear`` module call."""
    x = args[0] if args else kwargs.get("input")
    path = str(node.target)
    return _linear(enc, node, path, join(path, "weight"), x, int(m.in_features), int(m.out_features), type(m).__name__)


def linear_functional(enc: Encoder, node: fx.Node, args: tuple, kwargs: dict) -> Sym:
    """An ``F.linear`` call whose weight is a parameter of the model."""
    wnode = node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
    if not (isinstance(wnode, fx.Node) and wnode.op == "get_attr"):
        raise enc.unsupported(node, "F.linear whose weight is not a parameter of the model")
    weight = args[1] if len(args) > 1 else kwargs["weight"]
    x = args[0] if args else kwargs.get("input")
    param = str(wnode.target)
    return _linear(enc, node, param.rpartition(".")[0], param, x, int(weight.shape[1]), int(weight.shape[0]), "linear")


def _linear(enc: Encoder, node: fx.Node, path: str, param: str, x: Any, fin: int, fout: int, typename: str) -> Sym:
    """Check the input against the linear layer and record the job (a 1x1 convolution)."""
    if not isinstance(x, Sym):
        raise enc.unsupported(node, "linear input is not the traced activation")
    code = x.code
    if code.dim() != 2:
        raise EncodingError(
            f"layer {path!r} ({typename}) receives an activation of shape {tuple(code.shape[1:])} per sample; "
            "only (batch, features) inputs to Linear are supported (flatten first)"
        )
    if int(code.shape[1]) != fin:
        raise EncodingError(
            f"layer {path!r} ({typename}) expects {fin} input features but receives {int(code.shape[1])} "
            f"(input_shape={enc.input_shape}); pass the input_shape the model was built for"
        )
    mw = enc.masked_weight(param)
    g = dict(Cin=fin, H=1, W=1, Cout=fout, Ho=1, Wo=1, kh=1, kw=1, sh=1, sw=1, ph=0, pw=0, dh=1, dw=1, groups=1)
    extra = {"type": typename, "in_shape": [fin], "out_shape": [fout], "folded_pooling": list(x.pools)}
    out = _weighted(enc, path, "linear", param, mw, code, g, (fout,), extra)
    enc.table.jobs[-1].scale = input_scale(x)
    return out


def _weighted(enc: Encoder, path, kind, param, mw, code, geom, out_shape, extra) -> Sym:
    """New output partition fed by a job; the result is that partition's fresh identity code."""
    pidx = enc.table.new_partition(path or kind, out_shape)
    enc.table.jobs.append(ConvJob(path or kind, kind, param, mw, code.numpy().reshape(-1).copy(), geom, pidx, extra))
    return Sym(enc.table.identity_code(pidx), pidx, (), path)


def input_scale(x: Any) -> float:
    """The learned scalar gate(s) applied to a layer's input (:mod:`encoders.mge.gates`)."""
    return float(x.scale) if isinstance(x, Sym) else 1.0

