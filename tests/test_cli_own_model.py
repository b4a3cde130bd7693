"""A model of one's own on the command line (--model package.module:factory) and graph export formats."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import encoders
import pruners
from pruners.models import build
from topocore.errors import InputError, ResourceLimitError
from topometrics.cli import main
from topometrics.workflows.export import export_graph, write_graphml

REPO = Path(__file__).resolve().parents[1]
SPEC = "my_small_nets:small_cnn"
SHAPE = (3, 8, 8)
MODULE = '''
import torch
import torch.nn as nn


class SmallCNN(nn.Module):
    """A user's own network: not in the zoo."""

    def __init__(self, num_classes=10, input_shape=(3, 8, 8), width=6):
        super().__init__()
        c, h, w = input_shape
        self.conv1 = nn.Conv2d(c, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * width * (h // 4) * (w // 4), num_classes)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


def small_cnn(num_classes=10, input_shape=(3, 8, 8)):
    return SmallCNN(num_classes=num_classes, input_shape=input_shape)
'''


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("own_model")
    (d / "my_small_nets.py").write_text(MODULE)
    sys.path.insert(0, str(d))
    yield d
    sys.path.remove(str(d))
    sys.modules.pop("my_small_nets", None)


def _cli(*args: str, cwd: Path, module_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(module_dir), str(REPO), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, "-m", "topometrics", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def _own_graph(sparsity: float, seed: int):
    model = build(SPEC, 10, SHAPE, random_state=seed)
    return encoders.encode(model, SHAPE, pruners.prune(model, "uniform", sparsity, random_state=seed))


def _edges(src, dst, weight, layer) -> pd.DataFrame:
    return pd.DataFrame({"src": np.asarray(src, np.int64), "dst": np.asarray(dst, np.int64),
                         "weight": np.asarray(weight, np.float32), "layer": list(layer)}).sort_values(
        ["src", "dst"]).reset_index(drop=True)


def _graph_edges(graph) -> pd.DataFrame:
    names = [layer.name for layer in graph.layers]
    return _edges(graph.src, graph.dst, graph.weight, [names[k] for k in graph.edge_layer])


@pytest.fixture(scope="module")
def encoded(module_dir, tmp_path_factory):
    """``topometrics encode --model`` (in a subprocess for GraphML, in this process for the others)."""
    out = tmp_path_factory.mktemp("encoded")
    args = ["encode", "--model", SPEC, "--input-shape", "3,8,8", "--sparsity", "0.6", "--seed", "4", "-q", "-o"]
    done = _cli(*args, str(out / "g.graphml"), cwd=out, module_dir=module_dir)
    assert done.returncode == 0, done.stderr
    assert f"saved graph to {out / 'g.graphml'}" in done.stdout
    for suffix in ("parquet", "npz") if _has_pyarrow() else ("npz",):
        assert main([*args, str(out / f"g.{suffix}")]) == 0
    return out


def _has_pyarrow() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def test_encode_own_model_graphml_reads_back(encoded):
    import networkx as nx

    want = _own_graph(0.6, 4)
    assert encoders.MultipartiteGraph.load(encoded / "g.npz") == want
    g = nx.read_graphml(encoded / "g.graphml", node_type=int)
    assert g.is_directed() and g.number_of_nodes() == want.num_nodes and g.number_of_edges() == want.num_edges
    parts = np.repeat(np.arange(len(want.partitions)), [p.size for p in want.partitions])
    assert all(g.nodes[n]["partition"] == parts[n] for n in g.nodes)
    got = _edges(*zip(*[(u, v, d["weight"], d["layer"]) for u, v, d in g.edges(data=True)]))
    pd.testing.assert_frame_equal(got, _graph_edges(want))  # float32 weights read back exactly


def test_encode_own_model_parquet_reads_back(encoded):
    pq = pytest.importorskip("pyarrow.parquet")
    import json

    want = _own_graph(0.6, 4)
    table = pq.read_table(encoded / "g.parquet")
    assert table.column_names == ["src", "dst", "weight", "layer"]
    frame = table.to_pandas()
    got = _edges(frame["src"], frame["dst"], frame["weight"], frame["layer"].astype(str))
    pd.testing.assert_frame_equal(got, _graph_edges(want))
    header = json.loads(table.schema.metadata[b"topometrics"])
    assert [p["size"] for p in header["partitions"]] == [p.size for p in want.partitions]
    assert header["meta"]["arch"] == SPEC


def test_graphml_refused_above_the_limit(module_dir, tmp_path, capsys):
    graph = _own_graph(0.5, 0)
    with pytest.raises(ResourceLimitError, match="Parquet"):
        write_graphml(graph, tmp_path / "g.graphml", max_edges=graph.num_edges - 1)
    assert not (tmp_path / "g.graphml").exists()
    # the command line: ResNet-20 at 3x32x32 and sparsity 0.9 has about 3.8 million edges
    assert main(["encode", "--arch", "resnet20", "--sparsity", "0.9", "-q", "-o", str(tmp_path / "big.graphml")]) == 2
    err = capsys.readouterr().err
    assert "above the GraphML limit of 1,000,000" in err and "-o graph.parquet" in err
    assert not list(tmp_path.glob("*big*"))
    with pytest.raises(InputError, match="suffix"):
        export_graph(graph, tmp_path / "g.csv")
    assert main(["encode", "--model", SPEC, "--input-shape", "3,8,8", "-o", str(tmp_path / "g.txt")]) == 2
    assert ".parquet" in capsys.readouterr().err


def test_parquet_without_pyarrow_names_the_extra(module_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    graph = _own_graph(0.5, 0)
    with pytest.raises(InputError, match=r"topometrics\[parquet\]"):
        export_graph(graph, tmp_path / "g.parquet")
    assert main(["encode", "--model", SPEC, "--input-shape", "3,8,8", "-q", "-o", str(tmp_path / "g.parquet")]) == 2
    assert "'parquet' extra" in capsys.readouterr().err
    assert not (tmp_path / "g.parquet").exists()


@pytest.fixture(scope="module")
def own_checkpoints(module_dir, tmp_path_factory):
    """Pruned checkpoints of the user's model (``topometrics prune --model``), with pretend accuracies."""
    d = tmp_path_factory.mktemp("own_ckpts")
    paths = []
    for i, method in enumerate(("uniform", "er", "erk", "synflow")):
        out = d / f"{method}.pt"
        assert main(["prune", "--model", SPEC, "--method", method, "--sparsity", "0.98", "--dataset", "cifar10",
                     "--input-shape", "3,8,8", "--threads", "1", "-o", str(out)]) == 0
        ck = pruners.load_checkpoint(out, trusted=SPEC)
        ck.meta["accuracy"] = 0.4 + 0.1 * i  # pretend they were trained: a measured truth for the ranking
        paths.append(pruners.save_checkpoint(out, ck.model, ck.masks, ck.meta))
    return paths


def test_metrics_on_own_model_checkpoints(own_checkpoints, module_dir, tmp_path, capsys):
    out = tmp_path / "res.csv"
    args = ["metrics", *map(str, own_checkpoints[:2]), "--metrics", "sink,n1,components", "-o", str(out), "-q"]
    assert main(args) == 1  # the checkpoints name code to run: not trusted unless --model names it
    assert "trusted" in capsys.readouterr().err
    done = _cli(*args, "--model", SPEC, cwd=tmp_path, module_dir=module_dir)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert list(table["arch"]) == [SPEC, SPEC] and list(table["method"]) == ["uniform", "er"]
    ck = pruners.load_checkpoint(own_checkpoints[1], trusted=SPEC)
    graph = encoders.encode(ck.model, SHAPE, ck.masks)
    import topometrics

    want = topometrics.compute(graph, ["sink", "n1", "components"])
    row = table.iloc[1]
    assert row["num_edges"] == graph.num_edges and row["n1"] == pytest.approx(want["n1"]) and row["sink"] == want["sink"]


def test_rank_own_model_checkpoints(own_checkpoints, module_dir, tmp_path, capsys):
    out = tmp_path / "rank"
    args = ["rank", "--checkpoints", *map(str, own_checkpoints), "--model", SPEC, "--repeats", "1", "-j", "1",
            "--out", str(out), "-q"]
    assert main(args) == 2  # no published accuracies for the user's model: a reference architecture is needed
    assert "--reference-arch" in capsys.readouterr().err
    done = _cli(*args, "--reference-arch", "resnet20", cwd=tmp_path, module_dir=module_dir)
    assert done.returncode == 0, done.stderr
    assert "reference networks are resnet20 networks" in done.stdout
    rankings = pd.read_csv(out / "rankings.csv")
    measured = rankings[rankings["strategy"] == "measured"].sort_values("position")["method"].tolist()
    assert measured == ["synflow", "erk", "er", "uniform"]  # highest pretend accuracy first
    mixture = rankings[rankings["strategy"] == "mixture"]["method"]
    assert sorted(mixture) == sorted(measured)
    nets = pd.read_csv(out / "networks.csv")
    assert set(nets.loc[nets["dataset"] == "cifar10", "arch"]) == {SPEC}
    assert set(nets.loc[nets["dataset"] != "cifar10", "arch"]) == {"resnet20"}
    assert pd.read_csv(out / "rbo.csv")["rbo"].between(0, 1).all()
