"""Per-layer metrics on the layer-wise (rolled) encodings, and their network-level means.

:func:`per_layer` builds, for every weighted layer of a model, the rolled
(kernel-entry) and rolled-channel bipartite graphs (:func:`encoders.rolled`,
:func:`encoders.rolled_channel`) and reports in one row:

* ``layer``, ``param``, ``kind``, ``n_left``, ``n_right``, ``num_edges``;
* ``layer_density``: the unmasked fraction of the layer's weights;
* the Ramanujan baselines of the rolled graph (:mod:`topometrics.ramanujan`):
  ``delta_r``, ``delta_r_bound``, ``delta_r_bound_ratio``, ``delta_r_imdb``,
  ``delta_r_imdb_bound_ratio``, ``lambda_imsg``, ``imdb_subgraphs``;
* the topometrics of the paper's rolled tables (:data:`topometrics.BIPARTITE_METRICS`:
  ``n1, motif3, kcore, strength, components, component_size, cut_edges, cut_nodes,
  spectral_gap, spectral_radius``; the local metrics and ``n2`` need consecutive
  layers, Cunegatti et al. 2024, section 4.1; the motif count of a layer graph is the
  size-3 one, as published; ``motif4`` is computed when named) for each encoding,
  prefixed ``rolled_`` and ``rolled_channel_``, plus
  ``rolled_num_nodes`` / ``rolled_num_edges`` (and the ``rolled_channel_`` ones)
  for :func:`topometrics.normalize` (``normalize(table, "rolled_num_nodes",
  "rolled_num_edges", prefix="rolled_")``).

:func:`aggregate_layers` (:func:`topocore.tables.aggregate_layers`, re-exported
here) averages the numeric columns over layers, ignoring NaN (the mean over the
layers where a value is defined), which is how the paper builds network-level values
for the layer-wise baselines; it returns a one-row DataFrame per network.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from topocore.errors import InputError
from topocore.tables import aggregate_layers

from .conventions import check_conventions, published_graph
from .registry import BIPARTITE_DEFINABLE, BIPARTITE_METRICS, resolve_metrics

__all__ = ["per_layer", "aggregate_layers", "ENCODINGS"]

#: Layer-wise encodings reported by :func:`per_layer` (column prefixes).
ENCODINGS = ("rolled", "rolled_channel")


def per_layer(
    model,
    masks: Mapping | None = None,
    *,
    metrics: Iterable[str] | None = BIPARTITE_METRICS,
    encodings: Iterable[str] = ENCODINGS,
    random_state: int | None = 0,
    n_threads: int | None = None,
    progress: bool = False,
    conventions: str = "ours",
):
    """One row per weighted layer: density, Ramanujan baselines, bipartite topometrics.

    Parameters
    ----------
    model : torch.nn.Module
        A (pruned) model; masks are resolved like :func:`encoders.encode` does.
    masks : dict, optional
        ``{param_name: bool tensor}`` (``"layer1.0.conv1.weight"``); else the
        ``weight_mask`` buffers of ``torch.nn.utils.prune``; else exact zeros.
    metrics : iterable of str or None
        Bipartite topometrics to compute per encoding (default
        :data:`topometrics.BIPARTITE_METRICS`; any of
        :data:`topometrics.BIPARTITE_DEFINABLE`, e.g. ``motif4``; None or ``()`` skips them).
    encodings : iterable of str
        Subset of ``("rolled", "rolled_channel")``.
    random_state, n_threads
        As in :func:`topometrics.compute`.
    progress : bool
        Show a tqdm progress bar over layers.
    conventions : {"ours", "published"}
        As in :func:`topometrics.compute` (:mod:`topometrics.conventions`): with
        ``"published"`` every layer graph's weights are rounded to float16 (which
        ``lambda_imsg`` sees too) and the bipartite topometrics are on the published
        scale (``n1`` + 1, ``strength`` x 2).

    Returns
    -------
    pandas.DataFrame
        Columns described in the module docstring, one row per layer in dataflow order.
    """
    import pandas as pd

    import encoders

    from .computation import compute
    from .ramanujan import ramanujan_metrics

    encodings = tuple(encodings)
    bad = [e for e in encodings if e not in ENCODINGS]
    if bad:
        raise InputError(f"unknown encoding(s) {bad}; choose from {ENCODINGS}")
    conventions = check_conventions(conventions)
    names = [] if not metrics else resolve_metrics(metrics)
    not_bip = [m for m in names if m not in BIPARTITE_DEFINABLE]
    if not_bip:
        raise InputError(
            f"{not_bip} are not definable on a single layer's bipartite graph; choose from {BIPARTITE_DEFINABLE}"
        )
    rolled = encoders.rolled(model, masks)
    graphs = {"rolled": rolled}
    if "rolled_channel" in encodings:
        graphs["rolled_channel"] = encoders.rolled_channel(model, masks)
    if conventions == "published":
        graphs = {enc: [published_graph(g) for g in gs] for enc, gs in graphs.items()}
        rolled = graphs["rolled"]
    by_param = {enc: {g.param or g.name: g for g in gs} for enc, gs in graphs.items()}
    rows = []
    iterator = rolled
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(rolled, desc="layers", unit="layer", leave=False)
    for bg in iterator:
        key = bg.param or bg.name
        row = {
            "layer": bg.name,
            "param": bg.param,
            "kind": bg.kind,
            "n_left": bg.n_left,
            "n_right": bg.n_right,
            "num_edges": bg.num_edges,
            "layer_density": float(bg.density),
        }
        row.update(ramanujan_metrics(bg))
        for enc in encodings:
            g = by_param[enc].get(key)
            if g is None:
                raise RuntimeError(f"internal error: layer {key!r} is missing from the {enc} encoding")
            row[f"{enc}_num_nodes"] = g.num_nodes
            row[f"{enc}_num_edges"] = g.num_edges
            if names:
                values = compute(g, names, random_state=random_state, n_threads=n_threads, conventions=conventions)
                row.update({f"{enc}_{m}": v for m, v in values.items()})
        rows.append(row)
    return pd.DataFrame(rows)
