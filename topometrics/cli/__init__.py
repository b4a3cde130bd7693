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
``topometrics --help`` stays fast.  The CLI is the application layer with
:mod:`topometrics.workflows`: it may use every package, while the packages themselves
depend one way only (see ``docs/architecture.md``); a subcommand parses arguments,
calls a library function or workflow and prints.

Errors (the contract of every subcommand)
-----------------------------------------
* A :class:`topocore.errors.TopometricsError` (an input the user can fix: unknown
  model, bad mask, missing data, unreadable checkpoint, ...) is printed as one line
  ``topometrics <command>: error: <message>`` and the exit status is 2.  Subcommands
  raise :class:`topocore.errors.InputError` for their own argument checks.
  argparse's usage errors are one line too (``...; see topometrics <command> --help``).
  Every command checks that its outputs can be written (``_common.check_output``)
  before any work, so a bad path is reported at once and nothing is written.
* Any other exception is a bug of the toolkit: its traceback is printed and the exit
  status is 1.  Batch commands (``metrics``, ``grid``) also exit with 1 when some
  items failed (each is reported, the others are finished).
* The toolkit's own warnings are printed as one line ``topometrics <command>: warning: ...``.
* ``tests/test_cli_contract.py`` walks every subcommand with the standard bad inputs.
* ``--debug`` (anywhere on the command line) prints the traceback of every error.
* Ctrl-C exits with 130; finished results are kept.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from typing import Sequence

from topocore.errors import InputError, TopometricsError

from .. import __version__

#: Preferred order of subcommands in ``--help``.
ORDER = ("rank", "encode", "metrics", "prune", "train", "grid", "analyze", "reproduce")


#: Deprecated alias: subcommands raise :class:`topocore.errors.InputError` (exit status 2).
CLIError = InputError


def _subcommand_modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    ordered = [n for n in ORDER if n in names]
    return ordered + sorted(n for n in names if n not in ORDER)


class _Parser(argparse.ArgumentParser):
    """argparse's parser with the error contract: a usage error is one line (exit status 2) naming ``--help``."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand registered."""
    parser = _Parser(
        prog="topometrics",
        description=(
            "Encode pruned neural networks as unrolled multipartite graphs, measure their "
            "topology, and rank pruning algorithms before training."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _subcommand_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    for subparser in sub.choices.values():  # --debug also after the command name
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


DEBUG_HELP = "print the traceback of every error, also of those a user can fix"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``topometrics`` console script; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    debug = bool(getattr(args, "debug", False))
    _one_line_warnings(args.command)
    try:
        return int(args.func(args) or 0)
    except TopometricsError as exc:
        if debug:
            traceback.print_exc()
        print(f"topometrics {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print(f"topometrics {args.command}: interrupted; finished results are kept", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of the toolkit: keep the traceback
        traceback.print_exc()
        print(
            f"topometrics {args.command}: internal error ({type(exc).__name__}), a bug of topometrics: the traceback "
            "above shows where; please report it with the command line",
            file=sys.stderr,
        )
        return 1


#: Packages whose warnings the CLI prints as one line ``topometrics <command>: warning: <message>``.
OWN_PACKAGES = ("topometrics", "topocore", "encoders", "pruners", "analysis")


def _one_line_warnings(command: str) -> None:
    """Print the toolkit's own warnings as one line each (others keep Python's format)."""
    import warnings

    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.split(".")[0] in OWN_PACKAGES:
            print(f"topometrics {command}: warning: {' '.join(str(message).split())}", file=file or sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a ``KeyError``'s quotes removed)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
