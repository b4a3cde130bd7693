"""The command line's error contract: user errors are one line and exit 2, bugs keep their traceback and exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from topocore.errors import InputError, TopometricsError
from topometrics.cli import CLIError, main

REPO = Path(__file__).resolve().parents[1]


def _env(*extra: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in extra), str(REPO), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _cli(*args: str, cwd: Path, extra_path: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "topometrics", *args], cwd=cwd, env=_env(*extra_path),
                          capture_output=True, text=True, timeout=600)


def test_user_error_is_one_line_exit_2(tmp_path):
    done = _cli("encode", "missing.pt", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == ["topometrics encode: error: missing.pt does not exist; check the path"]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_of_user_errors(tmp_path, where):
    args = ["--debug", "encode", "missing.pt"] if where == "before" else ["encode", "missing.pt", "--debug"]
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr and "DataNotFoundError" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "topometrics encode: error: missing.pt does not exist; check the path"


def test_bug_keeps_traceback_exit_1_end_to_end(tmp_path):
    """An exception that is not a TopometricsError (here raised inside a model factory) is a bug: traceback, 1."""
    (tmp_path / "buggy_models.py").write_text(
        "def broken(num_classes=10, input_shape=(3, 8, 8)):\n"
        "    return {}['no such key']\n"
    )
    done = _cli("encode", "--model", "buggy_models:broken", "--input-shape", "3,8,8", cwd=tmp_path,
                extra_path=(tmp_path,))
    assert done.returncode == 1, done.stderr
    assert "Traceback (most recent call last)" in done.stderr
    assert "KeyError: 'no such key'" in done.stderr and "buggy_models.py" in done.stderr
    assert "internal error (KeyError)" in done.stderr.strip().splitlines()[-1]


def test_bug_in_the_toolkit_in_process(monkeypatch, capsys):
    """A plain ValueError from inside the toolkit is no longer turned into a one-line user error."""
    import topometrics.workflows.inputs as inputs

    def broken(*args, **kwargs):
        raise ValueError("simulated bug")

    monkeypatch.setattr(inputs, "load_network", broken)
    assert main(["encode", "some.pt"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ValueError: simulated bug" in err
    assert "internal error (ValueError)" in err


def test_user_error_in_process_and_one_line_messages(monkeypatch, capsys):
    import topometrics.workflows.inputs as inputs

    def multi_line(*args, **kwargs):
        raise InputError("first line\n   second line")

    monkeypatch.setattr(inputs, "load_network", multi_line)
    assert main(["encode", "some.pt"]) == 2
    assert capsys.readouterr().err == "topometrics encode: error: first line second line\n"
    assert main(["--debug", "encode", "some.pt"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_cli_error_is_the_input_error():
    assert CLIError is InputError and issubclass(CLIError, TopometricsError) and issubclass(CLIError, ValueError)


def test_argument_errors_exit_2(capsys):
    assert main(["encode", "--sparsity", "1.5"]) == 2
    assert capsys.readouterr().err.strip() == "topometrics encode: error: --sparsity must be in [0, 1), got 1.5"
    assert main(["encode", "--model", "no_colon_here"]) == 2
    assert "package.module:factory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # argparse's own usage errors: exit 2 as well
        main(["encode", "--arch", "resnet20", "--model", "a.b:c"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
