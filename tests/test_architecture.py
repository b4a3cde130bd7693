"""The package layers of docs/architecture.md, enforced by import-linter (pyproject.toml [tool.importlinter])."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("topocore", "encoders", "topometrics", "pruners", "analysis")
APPLICATION = {"cli", "workflows", "__main__"}


def _config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]


def _contract(cid: str) -> dict:
    found = [c for c in _config()["contracts"] if c.get("id") == cid]
    assert len(found) == 1, f"no import-linter contract with id {cid!r}"
    return found[0]


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    assert exe, "lint-imports not found: install the dev extra (import-linter)"
    env = dict(os.environ, PYTHONPATH=str(cwd))
    return subprocess.run([exe, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_contracts_are_kept():
    done = _lint_imports(REPO)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_metric_module_is_covered():
    """A module added to topometrics/ must be placed: in the metric-module contract (or the application layer)."""
    import topometrics

    modules = {m.name for m in pkgutil.iter_modules(topometrics.__path__)} - APPLICATION
    listed = {m.removeprefix("topometrics.") for m in _contract("metric-modules")["source_modules"]}
    assert listed == modules, f"add {sorted(modules - listed)} to / remove {sorted(listed - modules)} from the contract"
    layers = _contract("application-layer")["layers"]
    assert [layer.strip() for layer in layers[:3]] == ["__main__", "cli", "workflows"]
    assert {m.strip() for m in layers[3].split(":")} == modules
    assert _contract("application-layer")["exhaustive"] is True


def test_a_violation_fails(tmp_path):
    """The contracts do catch violations: a copy of the packages with two bad modules breaks two contracts."""
    for name in PACKAGES:
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "analysis" / "_bad_import.py").write_text("import topometrics.workflows.measure\n")
    (tmp_path / "topometrics" / "new_metric.py").write_text("from .registry import METRICS\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert "analysis imports topocore only BROKEN" in " ".join(done.stdout.split())
    assert "new_metric" in done.stdout  # the exhaustive layers contract names the unplaced module


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_named_in_the_config(package):
    assert package in _config()["root_packages"]
