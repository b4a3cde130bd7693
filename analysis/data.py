"""Results tables and the paper's published data (compatibility module).

The code lives in two modules:

* :mod:`analysis.schema` - the generic results-table schema: validation, feature
  columns, the accuracy drop, per-layer -> per-network aggregation;
* :mod:`analysis.published` - loaders of the authors' published ``graph_data``
  folder and of the paper's accuracy tables shipped with the package.

Every public name is re-exported here, so ``from analysis.data import ...`` keeps working.
"""

from __future__ import annotations

from topocore.errors import DataMismatchError

from .published import (
    PublishedData,
    attach_dense_accuracy,
    baselines_from_layers,
    load_dense_accuracy,
    load_pai_accuracy,
    load_published,
    load_ramanujan,
    load_ramanujan_layers,
    load_rolled,
    load_rolled_layers,
    load_unrolled,
    resolve_graph_data,
    select_paper_set,
)
from .schema import (
    BOOKKEEPING_COLUMNS,
    add_accuracy_drop,
    aggregate_layers,
    drop_incomplete_networks,
    feature_columns,
    fill_edgeless_spectra,
    validate_table,
)

__all__ = [
    "DataMismatchError",
    "PublishedData",
    "resolve_graph_data",
    "load_dense_accuracy",
    "load_pai_accuracy",
    "load_unrolled",
    "load_rolled_layers",
    "load_rolled",
    "load_ramanujan_layers",
    "load_ramanujan",
    "baselines_from_layers",
    "load_published",
    "aggregate_layers",
    "fill_edgeless_spectra",
    "drop_incomplete_networks",
    "validate_table",
    "add_accuracy_drop",
    "attach_dense_accuracy",
    "select_paper_set",
    "feature_columns",
    "BOOKKEEPING_COLUMNS",
]
