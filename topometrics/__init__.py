"""Topological metrics of multipartite graph encodings of sparse neural networks.

Main entry points (loaded lazily, so that ``import topometrics`` and the
``topometrics`` command line stay fast)::

    import encoders, topometrics
    row = topometrics.describe(model, (3, 32, 32), masks)  # one pandas Series: sizes,
                                                           # sparsity, raw and _norm metrics
    table = topometrics.describe_many(["a.pt", "b.pt", (model, masks)])  # one row each
    graph = encoders.encode(model, (3, 32, 32))
    raw = topometrics.compute(graph)                 # the 16 topometrics + extras
    pub = topometrics.compute(encoders.encode(model, (3, 32, 32), pad_nodes=True),
                              conventions="published")  # on the published data's scale
    norm = topometrics.normalize(raw, graph.num_nodes, graph.num_edges)
    table = topometrics.per_layer(model)             # rolled / Ramanujan baselines

* :func:`describe`, :func:`describe_graph` -- everything about one network (or one
  saved graph) in one call, see :mod:`topometrics.describe`;
* :func:`describe_many` -- checkpoints, ``(model, masks)`` pairs or saved graphs to one
  table (the application layer's :func:`topometrics.workflows.measure.describe_many`,
  exported here lazily; :class:`RankJob` / :class:`RankResult` likewise);
* :func:`topology_trajectory`, :func:`trajectory_figure` -- topometrics of the recorded
  states of a dynamic-sparse-training run (:class:`pruners.dst.DynamicSparsity` with
  ``record_every=k``) and their plot against the epoch (application layer,
  :mod:`topometrics.workflows.trajectory`, exported here lazily);
* :func:`compute`, :data:`METRICS`, :func:`normalize` -- all metrics of one graph;
* one function per metric in :mod:`topometrics.local`, :mod:`~topometrics.neighbor`,
  :mod:`~topometrics.strength`, :mod:`~topometrics.global_`,
  :mod:`~topometrics.expansion`, :mod:`~topometrics.paths`, re-exported here
  (except ``strength``, whose name is its module's: use
  ``topometrics.strength.strength`` or ``METRICS["strength"].func``);
* :func:`motif4_estimate`, :func:`graphlet4_counts`; :func:`motif3` (the rolled
  encodings' motif count, computed only when named);
* :func:`per_layer`, :func:`aggregate_layers` (:func:`topocore.tables.aggregate_layers`),
  :func:`ramanujan_metrics`.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "describe": "describe",
    "describe_graph": "describe",
    # application layer (topometrics.workflows), loaded only when asked for
    "describe_many": "workflows.measure",
    "RankJob": "workflows.rank",
    "RankResult": "workflows.rank",
    "topology_trajectory": "workflows.trajectory",
    "trajectory_figure": "workflows.trajectory",
    "compute": "computation",
    "METRICS": "registry",
    "Metric": "registry",
    "PAPER_METRICS": "registry",
    "EXTRA_METRICS": "registry",
    "BIPARTITE_METRICS": "registry",
    "BIPARTITE_DEFINABLE": "registry",
    "DEFAULT_METRICS": "registry",
    "normalize": "registry",
    "PreparedGraph": "prepared",
    "prepare": "prepared",
    "sink": "local",
    "source": "local",
    "disconnected": "local",
    "r_out": "local",
    "r_in": "local",
    "n1": "neighbor",
    "n2": "neighbor",
    "motif4": "neighbor",
    "motif3": "triads",
    "motif4_estimate": "neighbor",
    "graphlet4_counts": "neighbor",
    "MotifEstimate": "neighbor",
    "kcore": "strength",
    "core_numbers": "strength",
    "components": "global_",
    "component_size": "global_",
    "cut_edges": "global_",
    "cut_nodes": "global_",
    "spectral_gap": "expansion",
    "spectral_radius": "expansion",
    "SpectralAccuracyWarning": "expansion",
    "SpectralConvergenceError": "expansion",
    "log_paths": "paths",
    "effective_sparsity": "paths",
    "effective_nodes": "paths",
    "MissingDenseCountWarning": "paths",
    "dense_num_edges": "paths",
    "ramanujan_metrics": "ramanujan",
    "per_layer": "layers",
    "aggregate_layers": "layers",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'topometrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


#: Lazily exported functions named like the submodule that defines them.
_SHADOWED = {name for name, module in _LAZY.items() if name == module}


class _Package(types.ModuleType):
    """Keeps ``topometrics.describe`` the function once the submodule of the same name is imported.

    Importing ``topometrics.describe`` (the module) makes Python set the package
    attribute ``describe`` to the module; this replaces it by the function, so
    ``topometrics.describe(...)`` works whatever was imported before.  The module stays
    reachable as ``sys.modules["topometrics.describe"]`` (``from topometrics.describe
    import describe_graph`` works as usual).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
