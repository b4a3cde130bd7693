"""numba kernels that write the edges of one weighted layer into preallocated arrays.

A layer is described as a 2-D convolution (a ``Linear`` is a 1x1 convolution on a
``(F, 1, 1)`` input):

* input elements are the row-major ``(ci, y, x)`` positions of a ``(Cin, H, W)``
  activation, output nodes are ``out_off + (co * Ho + oy) * Wo + ox``;
* the unmasked taps of output channel ``co`` are ``tap_ptr[co] .. tap_ptr[co + 1]``
  in the parallel arrays ``tap_ci`` (input channel within the group), ``tap_ky``,
  ``tap_kx`` and ``tap_w`` (the weight value);
* the tap ``(ci, ky, kx)`` of output ``(co, oy, ox)`` reads input
  ``(g * cin_g + ci, oy * sh - ph + ky * dh, ox * sw - pw + kx * dw)`` with
  ``g = co // cout_g``; positions outside ``[0, H) x [0, W)`` are zero padding and
  give no edge.

Two families of kernels:

``conv_direct_*``
    every input element is exactly one node (``ids[e]``) and no node is read by two
    elements, so every (output, tap) pair gives at most one edge and no two give the
    same edge.  Counts are closed-form (:func:`direct_counts`).
``conv_lists_*``
    every input element is a list of nodes (CSR ``eptr``/``enodes``, node indices
    local to ``loc2glob``): a pooling window folded into this layer, a zero-padded
    channel (empty list) or a node read twice (``torch.cat([x, x])``, reflect
    padding).  With ``dedup`` the parallel edges of one output are merged into one
    edge whose weight is the sum (a sparse accumulator per output); without it every
    (output, tap, node) triple is an edge.

Edges of a layer are written grouped by output channel, then output position, then
tap order ``(ci, ky, kx)`` (then first appearance for merged edges), so the result
is deterministic and independent of the thread count.  Kernels run in parallel
over output channels (``prange``); each channel writes its own precomputed slice.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from topocore.parallel import configure_threading_layer

configure_threading_layer()

__all__ = [
    "valid_positions",
    "direct_counts",
    "lists_counts",
    "conv_direct_fill",
    "conv_lists_count",
    "conv_lists_fill",
]


def valid_positions(n_in: int, n_out: int, k: int, stride: int, pad: int, dil: int) -> np.ndarray:
    """For each kernel offset ``0..k-1``: how many of the ``n_out`` output positions read
    an in-bounds input position (``0 <= o * stride - pad + j * dil < n_in``)."""
    o = np.arange(n_out, dtype=np.int64)[None, :]
    j = np.arange(k, dtype=np.int64)[:, None]
    pos = o * stride - pad + j * dil
    return ((pos >= 0) & (pos < n_in)).sum(axis=1).astype(np.int64)


def direct_counts(tap_ptr: np.ndarray, tap_ky: np.ndarray, tap_kx: np.ndarray, vy: np.ndarray, vx: np.ndarray) -> np.ndarray:
    """Closed-form edge count per output channel: ``sum over taps of vy[ky] * vx[kx]``."""
    per_tap = vy[tap_ky] * vx[tap_kx]
    cum = np.concatenate([[0], np.cumsum(per_tap, dtype=np.int64)])
    return cum[tap_ptr[1:]] - cum[tap_ptr[:-1]]


def lists_counts(lens: np.ndarray, g: dict, tap_ptr: np.ndarray, tap_ci: np.ndarray, tap_ky: np.ndarray, tap_kx: np.ndarray) -> np.ndarray:
    """Edge count per output channel when no output can collect a node twice (``dedup=False``):
    ``sum over taps of S[ci, ky, kx]`` with ``S`` the total list length over the input positions
    that tap reads, O(Cin kh kw Ho Wo + nnz) instead of a pass over every edge."""
    H, W, Ho, Wo = g["H"], g["W"], g["Ho"], g["Wo"]
    lens = lens.reshape(g["Cin"], H, W)
    S = np.zeros((g["Cin"], g["kh"], g["kw"]), dtype=np.int64)
    for ky in range(g["kh"]):
        ys = np.arange(Ho) * g["sh"] - g["ph"] + ky * g["dh"]
        ys = ys[(ys >= 0) & (ys < H)]
        rows = lens[:, ys, :]
        for kx in range(g["kw"]):
            xs = np.arange(Wo) * g["sw"] - g["pw"] + kx * g["dw"]
            xs = xs[(xs >= 0) & (xs < W)]
            S[:, ky, kx] = rows[:, :, xs].sum(axis=(1, 2))
    cout = tap_ptr.size - 1
    cin_g, cout_g = g["Cin"] // g["groups"], cout // g["groups"]
    co = np.repeat(np.arange(cout, dtype=np.int64), np.diff(tap_ptr))
    per_tap = S[(co // cout_g) * cin_g + tap_ci, tap_ky, tap_kx]
    cum = np.concatenate([[0], np.cumsum(per_tap, dtype=np.int64)])
    return cum[tap_ptr[1:]] - cum[tap_ptr[:-1]]


@njit(parallel=True, cache=True, nogil=True)
def conv_direct_fill(
    ids, H, W, cin_g, cout_g, Ho, Wo, sh, sw, ph, pw, dh, dw,
    tap_ptr, tap_ci, tap_ky, tap_kx, tap_w, out_off, starts, src, dst, wt,
):  # pragma: no cover - compiled
    n_out = tap_ptr.shape[0] - 1
    for co in prange(n_out):
        k0 = tap_ptr[co]
        k1 = tap_ptr[co + 1]
        if k1 == k0:
            continue
        pos = starts[co]
        cbase = (co // cout_g) * cin_g
        for oy in range(Ho):
            y0 = oy * sh - ph
            for ox in range(Wo):
                x0 = ox * sw - pw
                t = out_off + (co * Ho + oy) * Wo + ox
                for k in range(k0, k1):
                    y = y0 + tap_ky[k] * dh
                    if y < 0 or y >= H:
                        continue
                    x = x0 + tap_kx[k] * dw
                    if x < 0 or x >= W:
                        continue
                    src[pos] = ids[((cbase + tap_ci[k]) * H + y) * W + x]
                    dst[pos] = t
                    wt[pos] = tap_w[k]
                    pos += 1


@njit(cache=True, nogil=True)
def _chunk_bounds(n, nchunk, c):  # pragma: no cover - compiled
    return (c * n) // nchunk, ((c + 1) * n) // nchunk


@njit(parallel=True, cache=True, nogil=True)
def conv_lists_count(
    eptr, enodes, nloc, H, W, cin_g, cout_g, Ho, Wo, sh, sw, ph, pw, dh, dw,
    tap_ptr, tap_ci, tap_ky, tap_kx, dedup, nchunk, counts,
):  # pragma: no cover - compiled
    n_out = tap_ptr.shape[0] - 1
    for c in prange(nchunk):
        lo, hi = _chunk_bounds(n_out, nchunk, c)
        mark = np.full(nloc if dedup else 1, -1, np.int64)
        for co in range(lo, hi):
            k0 = tap_ptr[co]
            k1 = tap_ptr[co + 1]
            total = 0
            if k1 > k0:
                cbase = (co // cout_g) * cin_g
                for oy in range(Ho):
                    y0 = oy * sh - ph
                    for ox in range(Wo):
                        x0 = ox * sw - pw
                        stamp = (co * Ho + oy) * Wo + ox
                        for k in range(k0, k1):
                            y = y0 + tap_ky[k] * dh
                            if y < 0 or y >= H:
                                continue
                            x = x0 + tap_kx[k] * dw
                            if x < 0 or x >= W:
                                continue
                            e = ((cbase + tap_ci[k]) * H + y) * W + x
                            if dedup:
                                for j in range(eptr[e], eptr[e + 1]):
                                    u = enodes[j]
                                    if mark[u] != stamp:
                                        mark[u] = stamp
                                        total += 1
                            else:
                                total += eptr[e + 1] - eptr[e]
            counts[co] = total


@njit(parallel=True, cache=True, nogil=True)
def conv_lists_fill(
    eptr, enodes, loc2glob, H, W, cin_g, cout_g, Ho, Wo, sh, sw, ph, pw, dh, dw,
    tap_ptr, tap_ci, tap_ky, tap_kx, tap_w, dedup, nchunk, out_off, starts, src, dst, wt,
):  # pragma: no cover - compiled
    n_out = tap_ptr.shape[0] - 1
    nloc = loc2glob.shape[0]
    for c in prange(nchunk):
        lo, hi = _chunk_bounds(n_out, nchunk, c)
        size = nloc if dedup else 1
        mark = np.full(size, -1, np.int64)
        slot = np.zeros(size, np.int64)
        acc = np.zeros(size, np.float64)
        touched = np.zeros(size, np.int64)
        for co in range(lo, hi):
            k0 = tap_ptr[co]
            k1 = tap_ptr[co + 1]
            if k1 == k0:
                continue
            pos = starts[co]
            cbase = (co // cout_g) * cin_g
            for oy in range(Ho):
                y0 = oy * sh - ph
                for ox in range(Wo):
                    x0 = ox * sw - pw
                    stamp = (co * Ho + oy) * Wo + ox
                    t = out_off + stamp
                    ntouched = 0
                    for k in range(k0, k1):
                        y = y0 + tap_ky[k] * dh
                        if y < 0 or y >= H:
                            continue
                        x = x0 + tap_kx[k] * dw
                        if x < 0 or x >= W:
                            continue
                        e = ((cbase + tap_ci[k]) * H + y) * W + x
                        w = tap_w[k]
                        for j in range(eptr[e], eptr[e + 1]):
                            u = enodes[j]
                            if dedup:
                                if mark[u] != stamp:
                                    mark[u] = stamp
                                    slot[u] = ntouched
                                    touched[ntouched] = u
                                    acc[ntouched] = w
                                    ntouched += 1
                                else:
                                    acc[slot[u]] += w
                            else:
                                src[pos] = loc2glob[u]
                                dst[pos] = t
                                wt[pos] = w
                                pos += 1
                    if dedup:
                        for i in range(ntouched):
                            src[pos] = loc2glob[touched[i]]
                            dst[pos] = t
                            wt[pos] = acc[i]
                            pos += 1
