"""The notebooks in notebooks/ run top to bottom (small configuration) and are stored without outputs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbclient  # dev dependencies (pip install -e .[dev]), with ipykernel: the notebooks must run in CI
import nbformat
import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ("quickstart.ipynb", "rank_pruners.ipynb", "reproduce_paper.ipynb")
#: Where the notebook looks for the published data by default (as tests/conftest.py's REFERENCE).
GRAPH_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "mge-snn" / "graph_data"
#: Seconds one cell may take in the small configuration (the slowest takes well under a minute).
CELL_TIMEOUT = 300


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    """A kernelspec folder whose ``python3`` kernel is this interpreter.

    The ``python3`` kernelspec found on the machine may belong to another Python (a
    system or user installation without this project); the notebooks must run with
    the interpreter running the tests, whatever is installed elsewhere.
    """
    root = tmp_path_factory.mktemp("kernels")
    spec = root / "python3"
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (tests)", "language": "python"}))
    return root


def _execute(name: str, kernel_dir: Path, monkeypatch, extra_env: dict[str, str] | None = None):
    """Run a notebook in a fresh kernel with the small configuration; return it with its outputs."""
    monkeypatch.setenv("TOPOMETRICS_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    monkeypatch.setenv("NUMBA_NUM_THREADS", os.environ.get("NUMBA_NUM_THREADS", "2"))
    for key, value in (extra_env or {}).items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    client = nbclient.NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()
    return nb


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out["text"])
            elif "data" in out:
                parts += [out["data"].get(kind, "") for kind in ("text/plain", "text/markdown")]
    return "\n".join(parts)


def _errors(nb) -> list[str]:
    return [
        f"cell {i}: {out['ename']}: {out['evalue']}"
        for i, cell in enumerate(nb.cells)
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def _images(nb) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"{name}: code cell {i} has stored outputs; clear them before committing"
        assert cell.execution_count is None, f"{name}: code cell {i} has an execution count; clear outputs before committing"
    first = code[0].source
    assert first.startswith("# Parameters") and "TOPOMETRICS_NOTEBOOK_QUICK" in first, "the first code cell holds the parameters"


def test_notebooks_use_no_machine_paths():
    for name in NOTEBOOKS:
        text = (NOTEBOOKS_DIR / name).read_text(encoding="utf-8")
        assert "/work/" not in text and "/home/" not in text and "/tmp/" not in text, name


def test_quickstart_runs(kernel_dir, monkeypatch):
    nb = _execute("quickstart.ipynb", kernel_dir, monkeypatch)
    assert not _errors(nb)
    text = _text(nb)
    assert "QUICK=True" in text and "MultipartiteGraph:" in text and "partitions:" in text
    assert _images(nb) >= 3  # edges per layer, topometrics across sparsities, per-layer baselines


def test_rank_pruners_runs(kernel_dir, monkeypatch, tmp_path):
    nb = _execute("rank_pruners.ipynb", kernel_dir, monkeypatch, {"TMPDIR": str(tmp_path)})
    assert not _errors(nb)
    text = _text(nb)
    assert "digits" in text and "published" in text
    # the job's outputs went to a temporary folder, not into the repository
    assert not (NOTEBOOKS_DIR / "topometrics-out").exists()
    outs = list(tmp_path.glob("topometrics-rank-notebook-*"))
    assert len(outs) == 1
    for f in ("networks.csv", "rankings.csv", "rbo.csv", "importance.csv", "report.md", "ranking.png"):
        assert (outs[0] / f).is_file(), f
    assert _images(nb) >= 5  # features, importance heatmap and bars, coefficients, ranking figure, check


def test_reproduce_paper_runs(kernel_dir, monkeypatch):
    """Runs on the published data when ../shared is there, else prints why and does nothing more."""
    nb = _execute("reproduce_paper.ipynb", kernel_dir, monkeypatch)
    assert not _errors(nb)
    text = _text(nb)
    if (GRAPH_DATA / "graph_metrics").is_dir():
        assert "published data:" in text and "Table 4 analogue" in text
        assert _images(nb) >= 6
    else:
        assert "were not found" in text and _images(nb) == 0


def test_reproduce_paper_without_data(kernel_dir, monkeypatch, tmp_path):
    """The data-absent path, exercised whether or not ../shared exists on this machine."""
    missing = tmp_path / "no-graph-data"
    nb = _execute("reproduce_paper.ipynb", kernel_dir, monkeypatch, {"TOPOMETRICS_GRAPH_DATA": str(missing)})
    assert not _errors(nb)
    text = _text(nb)
    assert "were not found" in text and str(missing) in text
    assert _images(nb) == 0
