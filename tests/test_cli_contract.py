"""The error contract of every subcommand, end to end (subprocesses), on the standard bad inputs.

For every subcommand that ``topometrics --help`` lists and every standard bad input
(missing file, a folder where a file belongs, an unwritable output, a corrupt file, a
wrong shape) the command must exit with status 2, print exactly one line on stderr that
names the problem and the fix, print no traceback, and leave nothing at its output path.

The batch commands (``metrics``, ``grid``) report a failing *input* as a failing item
and exit with 1 (README, "Exit status"); ``metrics --stop-on-error -q`` makes the first
failing input the command's error (status 2, no progress bar), which is what the cases
below run.  Their output checks (unwritable output, a folder given as output) are
refused up front with status 2 like every other command.
A new subcommand must be added to :data:`CASES` (the first test fails until it is).

Unwritable outputs are paths below a regular file (or under ``/proc``): they fail even
for root, whom ``chmod`` does not stop.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: the standard bad inputs
KINDS = ("missing", "folder", "unwritable", "corrupt", "shape")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _cli(args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "topometrics", *map(str, args)], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small valid checkpoint, a corrupt file, a folder, a regular file blocking an output, bad tables."""
    import torch
    from _checkpoints import small_checkpoint

    root = tmp_path_factory.mktemp("contract")
    small_checkpoint(root)
    (root / "corrupt.pt").write_bytes(b"PK\x03\x04 this is not a zip archive" + os.urandom(64))
    (root / "corrupt.csv").write_bytes(b"\x00\x01garbage\xff\xfe\n\"unterminated,quote\n" + os.urandom(64))
    (root / "wrong.csv").write_text("a,b\n1,2\n")
    (root / "a-folder").mkdir()
    (root / "a-file").write_text("blocks outputs below it\n")
    data = root / "graph_data" / "graph_metrics" / "unrolled"
    data.mkdir(parents=True)
    (data / "unrolled.csv").write_bytes(b"\x00\x01garbage\xff\n" + os.urandom(64))
    torch.save({"not": "a model"}, root / "foreign.pt")
    return root


@pytest.fixture
def files(inputs, tmp_path):
    """A fresh copy of the inputs for one case (a case that writes cannot spoil the next)."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(inputs, work)
    return work


# (kind -> argv) per subcommand; None: the kind does not apply (the reason is in the comment).
CASES: dict[str, dict[str, list | None]] = {
    "encode": {
        "missing": ["encode", "missing.pt", "-o", "out-g.npz"],
        "folder": ["encode", "a-folder", "-o", "out-g.npz"],
        "unwritable": ["encode", "good.pt", "-o", "a-file/g.npz"],
        "corrupt": ["encode", "corrupt.pt", "-o", "out-g.npz"],
        "shape": ["encode", "good.pt", "--input-shape", "1,8,8", "-o", "out-g.npz"],
    },
    "metrics": {
        "missing": ["metrics", "missing.pt", "-o", "out-m.csv", "--stop-on-error", "-q"],
        "folder": ["metrics", "good.pt", "-o", "a-folder"],
        "unwritable": ["metrics", "good.pt", "-o", "a-file/m.csv"],
        "corrupt": ["metrics", "corrupt.pt", "-o", "out-m.csv", "--stop-on-error", "-q"],
        "shape": ["metrics", "good.pt", "--input-shape", "1,8,8", "-o", "out-m.csv", "--stop-on-error", "-q"],
    },
    "train": {
        "missing": ["train", "missing.pt", "--dataset", "digits", "-o", "out-t.pt"],
        "folder": ["train", "a-folder", "--dataset", "digits", "-o", "out-t.pt"],
        "unwritable": ["train", "good.pt", "--dataset", "digits", "--epochs", "1", "-o", "a-file/t.pt"],
        "corrupt": ["train", "corrupt.pt", "--dataset", "digits", "-o", "out-t.pt"],
        "shape": ["train", "good.pt", "--dataset", "digits", "--input-shape", "1,8,8", "--epochs", "1", "-o", "out-t.pt"],
    },
    "prune": {
        "missing": ["prune", "--arch", "resnet20", "--method", "snip", "--sparsity", "0.9", "--dataset", "cifar10",
                    "--data-root", "missing-data", "-o", "out-p.pt"],
        "folder": ["prune", "--arch", "resnet20", "--method", "uniform", "--sparsity", "0.9", "-o", "a-folder"],
        "unwritable": ["prune", "--arch", "resnet20", "--method", "uniform", "--sparsity", "0.9", "-o", "a-file/p.pt"],
        "corrupt": ["prune", "--model", "corrupt_module_name:factory", "--method", "uniform", "--sparsity", "0.9",
                    "-o", "out-p.pt"],  # prune reads no file: a model spec that cannot be imported
        "shape": ["prune", "--arch", "resnet20", "--method", "uniform", "--sparsity", "0.9", "--input-shape", "3,8",
                  "-o", "out-p.pt"],
    },
    "dag": {
        "missing": ["dag", "measure", "missing.pt", "-o", "out-d.csv"],
        "folder": ["dag", "measure", "good.pt", "-o", "a-folder"],
        "unwritable": ["dag", "train", "--dataset", "digits", "--input-shape", "1,8,8", "--epochs", "1",
                       "--out", "a-file/d"],
        "corrupt": ["dag", "measure", "corrupt.pt", "-o", "out-d.csv"],
        "shape": ["dag", "train", "--dataset", "digits", "--input-shape", "1,8", "--epochs", "1", "--out", "out-d"],
    },
    "grid": {
        # a failing run is an item of the batch (exit 1, recorded in results.csv): the input kinds do not apply
        "missing": None,
        "folder": ["grid", "--archs", "resnet20", "--methods", "uniform", "--sparsities", "0.9", "--datasets", "digits",
                   "--out", "a-file"],  # a file where the output folder belongs
        "unwritable": ["grid", "--archs", "resnet20", "--methods", "uniform", "--sparsities", "0.9", "--datasets",
                       "digits", "--out", "a-file/g"],
        "corrupt": None,
        "shape": ["grid", "--archs", "resnet20", "--methods", "uniform", "--sparsities", "0.9", "--datasets", "digits",
                  "--input-shape", "3,8", "--out", "out-grid"],
    },
    "analyze": {
        "missing": ["analyze", "missing.csv", "--out", "out-a"],
        "folder": ["analyze", "a-folder", "--out", "out-a"],
        "unwritable": ["analyze", "wrong.csv", "--out", "a-file/a"],
        "corrupt": ["analyze", "corrupt.csv", "--out", "out-a"],
        "shape": ["analyze", "wrong.csv", "--out", "out-a"],
    },
    "reproduce": {
        "missing": ["reproduce", "--data", "missing-data", "--out", "out-r"],
        "folder": ["reproduce", "--data", "a-file", "--out", "out-r"],  # a file where the data folder belongs
        "unwritable": ["reproduce", "--data", "graph_data", "--out", "a-file/r"],
        "corrupt": ["reproduce", "--data", "graph_data", "--out", "out-r"],
        "shape": ["reproduce", "--data", "a-folder", "--out", "out-r"],  # a folder without the expected layout
    },
    "robustness": {
        "missing": ["robustness", "missing.pt", "--dataset", "digits", "--out", "out-rb"],
        "folder": ["robustness", "a-folder", "--dataset", "digits", "--out", "out-rb"],
        "unwritable": ["robustness", "good.pt", "--dataset", "digits", "--out", "a-file/rb"],
        "corrupt": ["robustness", "corrupt.pt", "--dataset", "digits", "--out", "out-rb"],
        # the test split is loaded in the checkpoint's own input shape (digits, synthetic); other data sets
        # that do not fit are refused as missing data first: no input-shape option to get wrong
        "shape": None,
    },
    "rank": {
        "missing": ["rank", "--checkpoints", "missing.pt", "--out", "out-k"],
        "folder": ["rank", "--checkpoints", "a-folder", "--out", "out-k"],
        "unwritable": ["rank", "--methods", "uniform,er", "--sparsity", "0.9", "--out", "a-file/k"],
        "corrupt": ["rank", "--checkpoints", "corrupt.pt", "--out", "out-k"],
        "shape": ["rank", "--methods", "uniform,er", "--input-shape", "3,8", "--out", "out-k"],
    },
}

#: what each kind's message must mention (besides the command): the problem ...
PROBLEM = {
    "missing": ("missing", "not exist", "not found", "no "),
    "folder": ("folder", "directory"),
    "unwritable": ("cannot write", "a-file"),
    "corrupt": ("corrupt", "not a", "cannot", "damaged", "unreadable", "not readable", "import"),
    "shape": ("shape", "input", "layout", "column", "channels", "graph_metrics"),
}
#: ... and a fix (an imperative or a pointer).
FIX = ("give ", "pass ", "check ", "choose ", "use ", "re-create", "create ", "install", "name ", "point ", "drop ",
       "make ", "see ", "add ", "replace ")


def _subcommands() -> list[str]:
    from topometrics.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_subcommand_is_covered():
    assert sorted(CASES) == _subcommands(), "add the new subcommand's standard bad inputs to CASES"


@pytest.mark.parametrize("command,kind", [(c, k) for c in sorted(CASES) for k in KINDS if CASES[c][k] is not None])
def test_contract(files, command, kind):
    argv = CASES[command][kind]
    before = {p.name for p in files.iterdir()}
    done = _cli(argv, cwd=files)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (argv, done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"topometrics {command}: error: "), line
    message = line.lower()
    assert any(p in message for p in PROBLEM[kind]), line
    assert any(f in message for f in FIX), f"the message names no fix: {line}"
    after = {p.name for p in files.iterdir()}
    assert after == before, f"written: {sorted(after - before)}"
    assert (files / "a-file").read_text() == "blocks outputs below it\n"
    assert sorted(p.name for p in (files / "a-folder").iterdir()) == []


def test_argument_errors_are_one_line(tmp_path):
    """argparse's own errors (a bad number, a missing option) follow the contract too: one line, exit 2."""
    for argv in (["encode", "--sparsity", "lots"], ["prune", "--arch", "resnet20"], ["no-such-command"]):
        done = _cli(argv, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("topometrics") and "--help" in lines[0], lines
