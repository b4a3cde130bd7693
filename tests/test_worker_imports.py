"""Measuring saved graphs never imports torch (about 2 s per process), in the driver or in a batch worker.

Each check runs in a fresh interpreter, where ``sys.modules`` shows what was imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

from encoders.graph import LayerInfo, MultipartiteGraph, concat_partitions


def _run(code: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=300)


def _saved_graph(path) -> str:
    rng = np.random.default_rng(0)
    g = MultipartiteGraph(rng.integers(0, 20, 80), rng.integers(20, 40, 80), rng.normal(size=80), np.zeros(80),
                          concat_partitions([("a", (20,)), ("b", (20,))]), [LayerInfo("l", "linear", (0,), 1)])
    g.save(path)
    return str(path)


def test_measuring_a_saved_graph_does_not_import_torch(tmp_path):
    graph = _saved_graph(tmp_path / "g.npz")
    proc = _run(f"""
        import sys
        from topometrics.workflows.measure import measure_task
        row = measure_task({{"item": {graph!r}, "options": {{"metrics": ["n1", "kcore"], "n_threads": 1}}}})
        assert row["n1"] > 0, row
        print("torch" in sys.modules, "pruners" in sys.modules)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_metrics_command_on_saved_graphs_does_not_import_torch(tmp_path):
    graph = _saved_graph(tmp_path / "g.npz")
    out = tmp_path / "m.csv"
    proc = _run(f"""
        import sys
        from topometrics.cli import main
        code = main(["metrics", {graph!r}, "-o", {str(out)!r}, "--metrics", "n1,kcore", "-q"])
        print(code, "torch" in sys.modules)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "False"]
    assert out.is_file()


def test_worker_set_up_gives_a_later_torch_one_thread():
    """``limit_worker_threads`` leaves torch unimported; when a task imports it, it starts with one thread."""
    proc = _run("""
        import os, sys
        from topocore.parallel import limit_worker_threads
        limit_worker_threads(1)
        before = "torch" in sys.modules
        import torch
        print(before, os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads())
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "1", "1"]
