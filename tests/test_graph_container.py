"""MultipartiteGraph container: validation, conversions, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from encoders import GraphTooLargeError, LayerInfo, MultipartiteGraph, Partition
from encoders.graph import concat_partitions, node_dtype


def small_graph() -> MultipartiteGraph:
    parts = concat_partitions([("input", (1, 2, 2)), ("fc", (3,))])
    src = np.array([0, 1, 2, 3, 0])
    dst = np.array([4, 4, 5, 6, 6])
    w = np.array([0.5, -1.25, 2.0, -0.1, 3.0])
    layers = [LayerInfo("fc", "linear", (0,), 1, "fc.weight")]
    return MultipartiteGraph(src, dst, w, np.zeros(5), parts, layers, meta={"arch": "toy"})


def test_basic_properties():
    g = small_graph()
    assert g.num_nodes == 7 and g.num_edges == 5
    assert g.src.dtype == np.int32 and g.weight.dtype == np.float32 and g.edge_layer.dtype == np.int32
    assert g.partitions[1].offset == 4 and g.partitions[1].size == 3
    assert g.partition_of(5) == 1 and list(g.partition_of(np.array([0, 3, 4]))) == [0, 0, 1]
    indeg, outdeg = g.degrees()
    assert indeg.tolist() == [0, 0, 0, 0, 2, 1, 2] and outdeg.tolist() == [2, 1, 1, 1, 0, 0, 0]
    assert "fc" in g.summary()


def test_node_dtype_switch():
    assert node_dtype(2**31 - 1) == np.int32
    assert node_dtype(2**31) == np.int64


def test_to_scipy_uses_absolute_weights():
    m = small_graph().to_scipy()
    assert m.shape == (7, 7) and m.nnz == 5
    assert m[1, 4] == pytest.approx(1.25) and m[3, 6] == pytest.approx(0.1)
    assert small_graph().to_scipy(weighted=False).sum() == 5


def test_to_igraph_and_networkx_agree():
    g = small_graph()
    ig = g.to_igraph()
    nxg = g.to_networkx()
    assert ig.vcount() == nxg.number_of_nodes() == 7
    assert sorted(ig.get_edgelist()) == sorted(nxg.edges())
    assert nxg.edges[1, 4]["weight"] == pytest.approx(-1.25)
    assert nxg.nodes[6]["partition"] == 1


def test_to_networkx_refuses_big_graphs():
    with pytest.raises(GraphTooLargeError, match="to_scipy"):
        small_graph().to_networkx(max_edges=4)


def test_save_load_roundtrip(tmp_path):
    g = small_graph()
    path = g.save(tmp_path / "g")
    assert path.suffix == ".npz"
    h = MultipartiteGraph.load(path)
    assert h == g and h.meta == {"arch": "toy"}
    assert h.layers[0].param == "fc.weight"


def test_load_rejects_foreign_and_corrupt_files(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.arange(3))
    with pytest.raises(ValueError, match="not a graph"):
        MultipartiteGraph.load(bad)
    corrupt = tmp_path / "c.npz"
    corrupt.write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match="corrupt"):
        MultipartiteGraph.load(corrupt)
    with pytest.raises(FileNotFoundError):
        MultipartiteGraph.load(tmp_path / "missing.npz")


def test_validation_errors():
    parts = [Partition("input", (2,), 0, 2), Partition("fc", (1,), 2, 1)]
    with pytest.raises(ValueError, match="outside"):
        MultipartiteGraph([0], [3], [1.0], [0], parts)
    with pytest.raises(ValueError, match="shape"):
        MultipartiteGraph([0, 1], [2], [1.0], [0], parts)
    with pytest.raises(ValueError, match="offset"):
        MultipartiteGraph([], [], [], [], [Partition("input", (2,), 0, 2), Partition("fc", (1,), 5, 1)])
    with pytest.raises(ValueError, match="size"):
        Partition("p", (2, 2), 0, 3)


def test_empty_graph():
    g = MultipartiteGraph([], [], [], [], concat_partitions([("input", (4,)), ("fc", (2,))]))
    assert g.num_edges == 0 and g.to_scipy().nnz == 0
    assert g.degrees()[0].sum() == 0


def test_bipartite_container():
    from encoders import BipartiteGraph

    b = BipartiteGraph("fc", "linear", "rolled", 3, 2, [0, 1, 2, 2], [0, 0, 1, 0], [1.0, -2.0, 0.5, 4.0], density=4 / 6)
    m = b.biadjacency()
    assert m.shape == (3, 2) and m[1, 0] == 2.0
    assert b.degrees()[0].tolist() == [1, 1, 2] and b.degrees()[1].tolist() == [3, 1]
    g = b.to_multipartite()
    assert g.num_nodes == 5 and g.num_edges == 4 and int(g.dst.min()) == 3
    with pytest.raises(ValueError, match="outside"):
        BipartiteGraph("x", "linear", "rolled", 1, 1, [0], [1], [1.0], density=1.0)
