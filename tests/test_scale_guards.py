"""Scale: the memory guard, the exact-or-estimate rule and its report, the estimators against exact values.

* a tiny ``--memory-limit`` refuses at once with exit status 2, names the estimate, the
  limit and what would fit, and writes nothing (``metrics`` and ``encode``);
* ``exact="auto"`` estimates ``motif4`` / ``n2`` only when the predicted work says the
  exact count cannot finish, warns, and reports ``*_method`` / ``*_stderr``; the CLI
  writes those columns;
* on mid-size graphs the estimators' mean over many seeds is within a few standard
  errors of the exact value, and the reported standard error matches their spread;
* the memory estimate bounds the measured peak of a real run.
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import encoders
import pruners
import topometrics
from pruners import save_checkpoint
from pruners.models import get_model
from topometrics import cost
from topometrics.cli import main
from topometrics.computation import EstimatedMetricWarning
from test_topometrics_reference import random_layered

SHAPE = (3, 8, 8)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    d = tmp_path_factory.mktemp("guard")
    torch.manual_seed(0)
    model = get_model("resnet20", 10, SHAPE)
    masks = pruners.prune(model, "uniform", 0.9, random_state=0)
    meta = {"arch": "resnet20", "num_classes": 10, "input_shape": list(SHAPE), "method": "random", "sparsity": 0.9,
            "seed": 0}
    return save_checkpoint(d / "ck.pt", model, masks, meta), model, masks


def test_tiny_memory_limit_refuses_at_once_and_writes_nothing(checkpoint, tmp_path, capsys):
    path, model, masks = checkpoint
    out = tmp_path / "new" / "res.csv"
    rc = main(["metrics", str(path), "-o", str(out), "--memory-limit", "1M", "-q"])
    assert rc == 2
    err = capsys.readouterr().err
    nodes, edges = encoders.graph_size(model, SHAPE, masks)
    assert f"{nodes:,} nodes and {edges:,} edges" in err
    assert "above the limit of 0.0 GB (--memory-limit)" in err and "To fit:" in err and "sparsity of about" in err
    assert not out.exists() and not out.parent.exists()
    rc = main(["encode", "--arch", "resnet20", "--input-shape", "3,8,8", "--memory-limit", "1k",
               "-o", str(tmp_path / "g.npz")])
    assert rc == 2 and not (tmp_path / "g.npz").exists()
    assert "above the limit" in capsys.readouterr().err


def test_memory_limit_cli_runs_as_a_process(checkpoint, tmp_path):
    path, _, _ = checkpoint
    out = tmp_path / "res.csv"
    proc = subprocess.run([sys.executable, "-m", "topometrics", "metrics", str(path), "-o", str(out),
                           "--memory-limit", "2M", "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "To fit:" in proc.stderr
    assert not out.exists()


def test_method_columns_in_the_cli_table(checkpoint, tmp_path):
    path, _, _ = checkpoint
    out = tmp_path / "res.csv"
    assert main(["metrics", str(path), "--metrics", "n2,motif4,sink", "-o", str(out), "-q"]) == 0
    row = pd.read_csv(out).iloc[0]
    assert row["motif4_method"] == "exact" and row["motif4_stderr"] == 0.0
    assert row["n2_method"] == "exact" and row["n2_stderr"] == 0.0
    out2 = tmp_path / "res2.csv"
    assert main(["metrics", str(path), "--metrics", "n2,motif4", "--inexact", "--motif-sample", "0.5",
                 "--n2-sample", "0.5", "-o", str(out2), "-q"]) == 0
    row2 = pd.read_csv(out2).iloc[0]
    assert row2["motif4_method"] == "estimate" and row2["motif4_stderr"] > 0
    assert row2["n2_method"] == "estimate" and row2["n2_stderr"] > 0
    assert abs(row2["n2"] - row["n2"]) < 6 * row2["n2_stderr"]


def test_auto_rule_estimates_only_when_exact_cannot_finish():
    g = random_layered(np.random.default_rng(3), [20, 30, 30, 20], density=0.3, skip=0.2)
    exact = topometrics.compute(g, ["motif4", "n2"], exact=True)
    methods: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no switch, no warning, when the work is small
        auto = topometrics.compute(g, ["motif4", "n2"], methods=methods)
    assert auto == exact
    assert methods["motif4"]["method"] == methods["n2"]["method"] == "exact"
    assert methods["motif4"]["reason"] is None and methods["motif4"]["work"] > 0
    methods = {}
    with pytest.warns(EstimatedMetricWarning, match="motif4 estimated.*above max_exact_work"):
        est = topometrics.compute(g, ["motif4", "n2"], max_exact_work=10.0, motif_sample=30, n2_sample=30,
                                  methods=methods)
    assert methods["motif4"]["method"] == methods["n2"]["method"] == "estimate"
    assert methods["motif4"]["sample"] == 30 and methods["motif4"]["stderr"] > 0
    assert abs(est["motif4"] - exact["motif4"]) < 6 * methods["motif4"]["stderr"]
    forced = topometrics.compute(g, ["motif4"], exact=True, max_exact_work=10.0)
    assert forced["motif4"] == exact["motif4"]
    with pytest.raises(ValueError, match="exact must be"):
        topometrics.compute(g, ["motif4"], exact="sometimes")


def test_predicted_work_matches_the_kernels():
    g = random_layered(np.random.default_rng(5), [30, 40, 40, 30], density=0.2, skip=0.1)
    pg = topometrics.prepare(g)
    indeg, outdeg = pg.degrees()
    assert cost.exact_work(pg, "n2") == g.num_edges + float(np.dot(indeg, outdeg))
    d = (indeg + outdeg).astype(float)
    both = float((d * (d - 1) / 2).sum())
    assert 0 < cost.exact_work(pg, "motif4") <= both / 2 + 1e-9


@pytest.mark.parametrize("seed", range(2))
def test_estimators_mean_and_stderr_against_exact_on_mid_size_graphs(seed):
    """Mid-size MGE-like graphs (a few thousand nodes): 200 seeds per estimator."""
    g = random_layered(np.random.default_rng(100 + seed), [300, 400, 400, 400, 300], density=0.02, skip=0.01)
    pg = topometrics.prepare(g)
    for name, estimator, sample in (("motif4", topometrics.motif4_estimate, 150),
                                    ("n2", topometrics.neighbor.n2_estimate, 150)):
        exact = float(getattr(topometrics, name)(pg))
        ests = [estimator(pg, sample, random_state=s) for s in range(200)]
        values = np.array([e.estimate for e in ests])
        spread = values.std(ddof=1)
        assert abs(values.mean() - exact) < 4 * spread / math.sqrt(values.size), name
        reported = np.mean([e.stderr for e in ests])
        assert 0.8 < reported / spread < 1.25, (name, reported, spread)
        full = estimator(pg, 1.0, random_state=0)
        assert full.estimate == pytest.approx(exact, rel=1e-12) and full.stderr == 0.0


def test_memory_estimate_bounds_a_real_run(tmp_path):
    """ResNet-20 at sparsity 0.6 in a fresh process: the measured peak stays within the estimate.

    The kernels are run once on a small graph first and the peak is reset (``clear_refs``),
    so that a numba compilation in this process (a cold cache) is not counted: the estimate
    covers the pipeline, not the compiler.
    """
    code = (
        "import torch, encoders, pruners, topometrics\n"
        "from pruners.models import get_model\n"
        "m = get_model('resnet20'); mk = pruners.prune(m, 'uniform', 0.6, random_state=0)\n"
        "small = encoders.encode(m, (3, 8, 8), pruners.prune(m, 'uniform', 0.6, random_state=0))\n"
        "topometrics.compute(small, dense_num_edges=10 * small.num_edges)\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "g = encoders.encode(m, (3, 32, 32), mk)\n"
        "topometrics.compute(g, dense_num_edges=10 * g.num_edges)\n"
        "hwm = [int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(g.num_nodes, g.num_edges, hwm)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    nodes, edges, peak = (int(x) for x in proc.stdout.split()[-3:])
    est = cost.memory_estimate(nodes, edges, n_threads=2)
    assert peak <= 1.1 * est["peak"]
    assert est["peak"] < 2.0 * peak  # an estimate, not a wild overestimate
