"""Argument helpers shared by the subcommands (shapes, numbers, the model options)."""

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


def parse_floats(text: str) -> list[float]:
    """Parse ``"0.6,0.9"`` into ``[0.6, 0.9]``."""
    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


MODEL_HELP = (
    "a model of your own: 'package.module:factory', imported and called (with num_classes and input_shape when it "
    "takes them), e.g. mypackage.nets:small_cnn or torchvision.models:resnet18 (torchvision installed); the module "
    "must be importable (installed or on PYTHONPATH)"
)


def add_model_option(parser: argparse.ArgumentParser, *, default_hint: str = "", required: bool = False,
                     arch_help: str | None = None) -> None:
    """``--arch NAME`` (zoo) or ``--model package.module:factory`` (any model), mutually exclusive.

    :func:`model_name` reads them; a spec given with ``--model`` is also trusted
    when a checkpoint names it (rebuilding it imports and calls that code).
    """
    group = parser.add_mutually_exclusive_group(required=required)
    hint = f" ({default_hint})" if default_hint else ""
    group.add_argument(
        "--arch", help=arch_help or f"zoo model: conv6, resnet20, resnet32, wrn28_2{hint}",
    )
    group.add_argument("--model", metavar="MODULE:FACTORY", help=MODEL_HELP)


def model_name(args: argparse.Namespace) -> str | None:
    """The model of ``--arch`` or ``--model`` (None when neither was given).

    ``--model`` must be a ``package.module:factory`` spec (``--arch`` also takes one: the
    library reads zoo names and specs alike).
    """
    from topocore.errors import InputError

    spec = getattr(args, "model", None)
    if spec is not None:
        if ":" not in spec:
            raise InputError(
                f"--model takes 'package.module:factory' (e.g. torchvision.models:resnet18), got {spec!r}; "
                "for a zoo model use --arch"
            )
        return spec
    return getattr(args, "arch", None)


def trusted_models(args: argparse.Namespace) -> tuple[str, ...]:
    """Model specs a checkpoint may name: the one given with ``--model`` (the user named that code)."""
    spec = getattr(args, "model", None)
    return (spec,) if spec else ()


def check_output(path, what: str = "output") -> None:
    """Fail at once (one-line error, exit status 2) when the output ``path`` cannot be written.

    Called before any work: nothing is created (``topocore.io.check_writable`` with
    ``create=False`` probes the nearest existing folder).  ``what`` ending in ``folder``
    means ``path`` is a folder.
    """
    from topocore.io import check_writable

    check_writable(path, what=what, create=False)
