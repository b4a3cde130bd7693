"""The ``topometrics`` command line.

Every subcommand lives in its own module of this package and defines::

    def register(subparsers) -> argparse.ArgumentParser:
        parser = subparsers.add_parser("name", help="...", description="...")
        ...                                 # add arguments
        parser.set_defaults(func=run)       # run(args) -> int exit status
        return parser

:func:`main` discovers the modules of this package (in :data:`ORDER`, then any
other in alphabetical order) and registers them.  Subcommand modules import heavy
dependencies (torch, numba, the analysis package) inside ``run`` so that
``topometrics --help`` stays fast.  The CLI is the application layer: it may use
every package, while the packages themselves depend one way only
(``encoders`` <- ``topometrics`` <- ``analysis``; ``pruners`` stands alone).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from .. import __version__

#: Preferred order of subcommands in ``--help``.
ORDER = ("rank", "encode", "metrics", "prune", "train", "grid", "analyze", "reproduce")


class CLIError(Exception):
    """An error the user can fix; printed without a traceback, exit status 2."""


def _subcommand_modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    ordered = [n for n in ORDER if n in names]
    return ordered + sorted(n for n in names if n not in ORDER)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="topometrics",
        description=(
            "Encode pruned neural networks as unrolled multipartite graphs, measure their "
            "topology, and rank pruning algorithms before training."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _subcommand_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``topometrics`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"topometrics {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"topometrics {args.command}: interrupted; finished results are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
