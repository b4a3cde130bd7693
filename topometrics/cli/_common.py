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
