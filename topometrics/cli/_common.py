"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``"3,32,32"`` (or ``"3x32x32"``) into ``(3, 32, 32)`` for argparse."""
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 3,32,32, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"shape entries must be positive integers, got {text!r}")
    return shape


def parse_bytes(text: str) -> int:
    """Parse a memory size for argparse: ``"12G"``, ``"12GB"``, ``"500M"``, ``"1.5T"`` or a byte count."""
    import re

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)i?[bB]?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a size like 12G, 500M or a byte count, got {text!r}")
    unit = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2).lower()]
    value = int(float(m.group(1)) * unit)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"the size must be positive, got {text!r}")
    return value


def check_memory(what: str, num_nodes: int, num_edges: int, metrics, limit: int | None, n_threads: int | None,
                 sparsity: float | None = None) -> dict:
    """Refuse (:class:`CLIError`, exit 2) a graph whose estimated peak memory exceeds the limit.

    ``limit`` is ``--memory-limit`` or, when None, the memory available now.  The message
    gives the estimate, the limit and what would fit.  Returns the estimate otherwise.
    """
    from topometrics._numba import resolve_n_threads
    from topometrics.cost import G_METRICS, available_memory, memory_estimate

    from . import CLIError

    k = resolve_n_threads(n_threads)
    names = list(metrics) if metrics is not None else []
    est = memory_estimate(num_nodes, num_edges, names, n_threads=k)
    source = "--memory-limit" if limit is not None else "the memory available now"
    limit = available_memory() if limit is None else int(limit)
    if est["peak"] <= limit:
        return est
    gb = 2**30
    per_edge = est["peak"] / max(num_edges, 1)
    worst = max((m for m in est if m not in ("peak",)), key=lambda m: est[m])
    hints = []
    fit_edges = max(0, int(num_edges * (limit / est["peak"]) * 0.9))
    if sparsity is not None and num_edges:
        density = (1 - sparsity) * fit_edges / num_edges
        hints.append(f"a sparsity of about {1 - density:.3f} keeps the edges near {fit_edges:.3g}")
    else:
        hints.append(f"a sparser network (about {fit_edges:.3g} edges fit)")
    g_only = [m for m in names if m in G_METRICS]
    if g_only and len(g_only) < len(names):
        g_est = memory_estimate(num_nodes, num_edges, g_only, n_threads=k)["peak"]
        if g_est <= limit:
            hints.append(f"fewer metrics: those on G alone (--metrics {','.join(g_only)}) need {g_est / gb:.1f} GB")
    hints.append("a machine with more memory (or a larger --memory-limit if more is free)")
    raise CLIError(
        f"{what}: {num_nodes:,} nodes and {num_edges:,} edges need about {est['peak'] / gb:.1f} GB at the peak "
        f"({worst}; {per_edge:.0f} bytes per edge), above the limit of {limit / gb:.1f} GB ({source}); "
        f"nothing was computed. To fit: {'; '.join(hints)}"
    )


def parse_floats(text: str) -> list[float]:
    """Parse ``"0.6,0.9"`` into ``[0.6, 0.9]``."""
    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def load_state_dict_model(path, args, input_shape, *, accepted: str = "not a pruners checkpoint or a torch state dict"):
    """Rebuild the zoo model ``args.arch`` from a plain state dict file: ``(model, masks, meta)``.

    Accepts a dict of tensors, ``{"state_dict": ..., "masks": ...}``, or the
    ``torch.nn.utils.prune`` layout (``x.weight_orig`` + ``x.weight_mask``; the mask
    becomes ``masks["x.weight"]``).  ``args`` supplies ``arch``, ``num_classes`` (default
    10) and ``shortcut``.  Every failure is a :class:`CLIError` naming the fix;
    ``accepted`` ends the message for an unreadable file ("<path> is <accepted>"), naming
    the input kinds of the calling subcommand.
    """
    import torch

    from pruners.models import get_model

    from . import CLIError

    with open(path, "rb") as fh:
        head = fh.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # torch.save: zip archive, or legacy pickle
        raise CLIError(f"{path} is {accepted}: it does not start like a torch.save file (zip or pickle); "
                       "is it truncated, or in another format?")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many exception types on foreign files
        first = str(exc).splitlines()[0][:200] if str(exc) else "no details"
        raise CLIError(f"{path} is {accepted} ({type(exc).__name__}: {first})") from None
    masks = {}
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        masks = dict(payload.get("masks") or {})
        state = dict(payload["state_dict"])
    elif isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        state = dict(payload)
    else:
        raise CLIError(f"{path} holds a {type(payload).__name__}, not a state dict of tensors")
    if not args.arch:
        raise CLIError(f"{path} is a plain state dict: pass --arch (and --num-classes, --shortcut) to build its model")
    for key in [k for k in state if k.endswith("_orig")]:
        base = key[: -len("_orig")]
        if f"{base}_mask" in state:  # torch.nn.utils.prune layout
            mask = state.pop(f"{base}_mask").bool()
            state[base] = state.pop(key) * mask
            masks.setdefault(base, mask)
    num_classes = 10 if args.num_classes is None else args.num_classes
    kwargs = {"shortcut": args.shortcut} if args.shortcut else {}
    try:
        model = get_model(args.arch, num_classes, input_shape, **kwargs)
    except (KeyError, ValueError) as exc:
        raise CLIError(str(exc).strip("'\"")) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CLIError(
            f"{path} does not fit --arch {args.arch} with --num-classes {num_classes}"
            f"{' --shortcut ' + args.shortcut if args.shortcut else ''}: {str(exc).splitlines()[0][:300]}"
        ) from None
    meta = {"arch": args.arch, "num_classes": num_classes, "input_shape": list(input_shape), "model_kwargs": kwargs}
    return model, masks, meta
