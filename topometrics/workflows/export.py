"""Write a :class:`~encoders.graph.MultipartiteGraph` in formats other tools read.

==========  =====================================================================================
suffix      format
==========  =====================================================================================
``.npz``    the toolkit's own file (:meth:`MultipartiteGraph.save`; read back with ``load``)
``.parquet`` edge list with columns ``src``, ``dst`` (node ids), ``weight`` (float32, signed)
            and ``layer`` (name of the layer that produced the edge, dictionary-encoded); the
            file's key-value metadata ``topometrics`` holds the partitions, layers and ``meta``
            as JSON.  Needs pyarrow (the ``parquet`` extra: ``pip install "topometrics[parquet]"``).
            Columnar, compressed, written straight from the edge arrays: any size.
``.graphml`` GraphML (XML) read by networkx, igraph, Gephi, Cytoscape: directed, node attribute
            ``partition`` (int), edge attributes ``weight`` (double, the float32 value printed
            with 9 significant digits, so it reads back exactly) and ``layer`` (string).  Text
            costs about 100 bytes per edge, so graphs above :data:`GRAPHML_MAX_EDGES` edges are
            refused with a :class:`~topocore.errors.ResourceLimitError` pointing to Parquet.
==========  =====================================================================================

Every file is written to a temporary name and renamed (:func:`topocore.io.atomic_write`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from topocore.errors import InputError, ResourceLimitError
from topocore.io import atomic_write

__all__ = ["export_graph", "FORMATS", "GRAPHML_MAX_EDGES", "write_parquet", "write_graphml"]

#: Largest graph (edges) written as GraphML.
GRAPHML_MAX_EDGES = 1_000_000
#: Output formats by file suffix.
FORMATS = {".npz": "npz", ".parquet": "parquet", ".graphml": "graphml"}
_CHUNK = 65_536


def export_graph(graph, path: str | os.PathLike, *, format: str | None = None) -> Path:
    """Write ``graph`` to ``path`` in the format its suffix names (or ``format``).

    Parameters
    ----------
    graph : MultipartiteGraph
        The graph (from :func:`encoders.encode`).
    path : path-like
        Output file; ``.npz``, ``.parquet`` or ``.graphml`` (see the module docstring).
    format : {"npz", "parquet", "graphml"}, optional
        Overrides the suffix.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    topocore.errors.InputError
        An unknown suffix or format; pyarrow missing for Parquet (names the extra).
    topocore.errors.ResourceLimitError
        GraphML for a graph above :data:`GRAPHML_MAX_EDGES` edges.
    """
    path = Path(path)
    kind = format or FORMATS.get(path.suffix.lower())
    if kind not in FORMATS.values():
        raise InputError(
            f"cannot tell the graph format of {path} (suffix {path.suffix or 'none'!r}); use "
            f"{', '.join(FORMATS)} (or format= one of {sorted(set(FORMATS.values()))})"
        )
    if kind == "npz":
        return graph.save(path)
    if kind == "parquet":
        return write_parquet(graph, path)
    return write_graphml(graph, path)


def _header(graph) -> str:
    from dataclasses import asdict

    return json.dumps(
        {
            "partitions": [asdict(p) for p in graph.partitions],
            "layers": [asdict(layer) for layer in graph.layers],
            "meta": graph.meta,
        }
    )


def _layer_names(graph) -> list[str]:
    names = [layer.name for layer in graph.layers]
    if graph.num_edges and int(graph.edge_layer.max()) >= len(names):  # a graph built without LayerInfo
        names += [f"layer{i}" for i in range(len(names), int(graph.edge_layer.max()) + 1)]
    return names


def write_parquet(graph, path: str | os.PathLike) -> Path:
    """Edge list ``src, dst, weight, layer`` as Parquet (see the module docstring)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError(
            f"writing Parquet needs pyarrow, the 'parquet' extra of topometrics: pip install \"topometrics[parquet]\" "
            f"(import failed: {exc}); or write .npz / .graphml"
        ) from None
    layer = pa.DictionaryArray.from_arrays(
        pa.array(graph.edge_layer, type=pa.int32()), pa.array(_layer_names(graph), type=pa.string())
    )
    table = pa.table(
        {"src": pa.array(graph.src), "dst": pa.array(graph.dst), "weight": pa.array(graph.weight), "layer": layer},
        metadata={"topometrics": _header(graph)},
    )
    return atomic_write(Path(path), lambda fh: pq.write_table(table, fh))


def write_graphml(graph, path: str | os.PathLike, *, max_edges: int = GRAPHML_MAX_EDGES) -> Path:
    """GraphML (see the module docstring); refuses graphs above ``max_edges`` edges."""
    if graph.num_edges > max_edges:
        raise ResourceLimitError(
            f"the graph has {graph.num_edges:,} edges, above the GraphML limit of {max_edges:,} (about 100 bytes of "
            "XML per edge); write Parquet instead (-o graph.parquet), which any size fits"
        )
    names = [escape(n) for n in _layer_names(graph)]
    offsets = graph.partition_offsets

    def write(fh) -> None:
        fh.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
            'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
            '  <key id="partition" for="node" attr.name="partition" attr.type="int"/>\n'
            '  <key id="weight" for="edge" attr.name="weight" attr.type="double"/>\n'
            '  <key id="layer" for="edge" attr.name="layer" attr.type="string"/>\n'
            '  <key id="meta" for="graph" attr.name="topometrics" attr.type="string"/>\n'
            '  <graph id="G" edgedefault="directed">\n'
            f"    <data key=\"meta\">{escape(_header(graph))}</data>\n"
        )
        for pi in range(len(graph.partitions)):
            node = f'    <node id="%d"><data key="partition">{pi}</data></node>\n'
            for start in range(int(offsets[pi]), int(offsets[pi + 1]), _CHUNK):
                stop = min(start + _CHUNK, int(offsets[pi + 1]))
                fh.write("".join(node % v for v in range(start, stop)))
        for start in range(0, graph.num_edges, _CHUNK):
            sl = slice(start, start + _CHUNK)
            fh.write(
                "".join(
                    f'    <edge source="{u}" target="{v}"><data key="weight">{w:.9g}</data>'
                    f'<data key="layer">{names[k]}</data></edge>\n'
                    for u, v, w, k in zip(
                        graph.src[sl].tolist(), graph.dst[sl].tolist(), graph.weight[sl].tolist(),
                        graph.edge_layer[sl].tolist(),
                    )
                )
            )
        fh.write("  </graph>\n</graphml>\n")

    return atomic_write(Path(path), write, mode="w")
